"""Sharing equal values among the calls the store keeps: a memory trick, applied to kept calls only.

Parsed payloads give each call its own copy of values that repeat across thousands of calls (a source's name,
a campaign, a hangup cause, a detail pair, an agent's scripted line). The store keeps one object for each.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from operator import attrgetter, itemgetter
from typing import Any, TypeVar

from callmon.model import Call, TranscriptLine

_T = TypeVar("_T")


class _Vocabulary:
    """One shared object for equal values of a kind drawn from a small vocabulary.

    Detail pairs like ("codec", "PCMU") or ("hangup by", "UserHangup"), and a voice agent's scripted lines,
    repeat across a campaign, and each would otherwise cost a copy per call. A kind whose values keep
    changing from call to call (a conversation id) is not a vocabulary: past `limit` distinct values it is
    dropped and no longer pooled, so the pools stay small whatever the payloads hold.
    """

    def __init__(self, limit: int, kinds: int = 256) -> None:
        self._limit = limit
        self._kinds = kinds
        self._pools: dict[str, dict[Any, Any] | None] = {}

    def share(self, kind: str, value: _T) -> _T:
        if kind not in self._pools:
            if len(self._pools) >= self._kinds:
                return value
            self._pools[kind] = {}
        pool = self._pools[kind]
        if pool is None:
            return value
        shared = pool.get(value)
        if shared is not None:
            return shared  # type: ignore[no-any-return]
        if len(pool) >= self._limit:
            self._pools[kind] = None
        else:
            pool[value] = value
        return value

    def share_all(self, items: tuple[_T, ...], kind_of: Callable[[_T], str]) -> tuple[_T, ...]:
        """Each item shared (`kind_of(item)` its kind): the same tuple when every item was already the one
        shared. share() a call at a time, inline: this runs for every detail pair and line of every call."""
        pools = self._pools
        out: list[_T] = []
        same = True
        for item in items:
            pool = pools.get(kind_of(item), _UNSEEN)
            if pool is None:
                out.append(item)
                continue
            if pool is _UNSEEN:
                found = self.share(kind_of(item), item)
            else:
                found = pool.get(item)
                if found is None:
                    found = self.share(kind_of(item), item)
            if found is not item:
                same = False
            out.append(found)
        return items if same else tuple(out)


_UNSEEN: Any = object()

_DETAILS = _Vocabulary(limit=256)
_DETAIL_SETS = _Vocabulary(limit=4096)
_LINES = _Vocabulary(limit=4096)
_INTERNED = ("source", "campaign", "raw_status", "reason", "direction", "currency")
_INTERNED_OF = attrgetter(*_INTERNED)
# A call's times, and those of the calls around it: a call is updated when it is answered or ends (one object
# for both), and a busy dialer starts and ends calls in the same seconds. Calls come in time order, so the
# last few thousand distinct times catch nearly every repeat (docs/performance.md has what it saves).
_TIMES = ("started_at", "answered_at", "ended_at", "updated_at")
_TIMES_OF = attrgetter(*_TIMES)
_MOMENTS: dict[datetime, datetime] = {}
_MOMENT_LIMIT = 4096


def shared(call: Call) -> dict[str, Any]:
    """The fields of `call` to replace with shared objects (empty when there is nothing to share)."""
    changes: dict[str, Any] = {}
    intern = sys.intern
    for name, value in zip(_INTERNED, _INTERNED_OF(call), strict=True):
        if type(value) is str and intern(value) is not value:
            changes[name] = intern(value)
    moments = _MOMENTS
    for name, value in zip(_TIMES, _TIMES_OF(call), strict=True):
        if value is None:
            continue
        kept = moments.get(value)
        if kept is value:
            continue
        if kept is None:
            if len(moments) >= _MOMENT_LIMIT:
                moments.clear()
            moments[value] = value
        elif kept.tzinfo is value.tzinfo and kept.fold == value.fold:
            # Equal in two zones: the same instant, shown differently. Equal in one zone with daylight saving but
            # another fold: the hour that repeats, two instants.
            changes[name] = kept
    if call.details:
        pairs = shared_details(call.provider, call.details)
        if pairs is not call.details:
            changes["details"] = pairs
    if call.transcript:
        lines = shared_lines(call.transcript)
        if lines is not call.transcript:
            changes["transcript"] = lines
    return changes


def shared_details(provider: str, pairs: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """A call's detail pairs, each shared, and the whole set where it repeats (the same tuple when it was)."""
    # Where every pair is a vocabulary word (a hangup cause, a codec, a region), whole sets repeat too.
    return _DETAIL_SETS.share(provider, _DETAILS.share_all(pairs, _FIRST))


def shared_lines(lines: tuple[TranscriptLine, ...]) -> tuple[TranscriptLine, ...]:
    """A transcript's lines, each shared where it repeats (the same tuple when they were)."""
    return _LINES.share_all(lines, _ROLE)


_FIRST = itemgetter(0)
_ROLE = attrgetter("role")
