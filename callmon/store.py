"""All calls keyed by (source, call id): merging updates, per-call timelines, coalesced change batches.

Updates arrive from pollers and webhooks at any rate; subscribers (the monitor, `watch`) receive them as one
batch per tick, with all changes to the same call since the last tick folded into one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any, Literal

from callmon import timeline as timelines
from callmon.heap import bulk
from callmon.model import Call, Status, finished, revised
from callmon.packing import pack
from callmon.pools import shared
from callmon.timeline import StatusEvent, Timeline, Via

_FIRST_SEEN = attrgetter("first_seen")

__all__ = ["Call", "CallStore", "Change", "ChangeKind", "Key", "StatusEvent", "Via", "arrival", "arrival_ordered"]

Key = tuple[str, str]
# "loaded": read back from history while the session runs (shown, not announced as news).
# "evicted": left memory with the window (callmon.window); history still has it.
ChangeKind = Literal["new", "changed", "ended", "loaded", "evicted"]
_COMPARED = tuple(f.name for f in fields(Call) if f.compare)  # what Call's == compares
_MERGED = tuple(
    f.name
    for f in fields(Call)
    if f.name not in ("source", "provider", "call_id", "status", "raw", "timeline")
)


def arrival(item: tuple[Key, Call]) -> tuple[float, Key]:
    """The order calls are held in, and ties shown in: first seen, then key (for a (key, call) item)."""
    return item[1].first_seen, item[0]


def arrival_ordered(calls: Mapping[Key, Call]) -> dict[Key, Call]:
    """The calls, held in arrival order."""
    return dict(sorted(calls.items(), key=arrival))


@dataclass(frozen=True, slots=True, init=False)
class Change:
    key: Key
    call: Call
    previous: Status | None  # None: the call is new
    kind: ChangeKind
    via: Via
    # How many status events this change added to the end of call.timeline (several when changes to one call
    # were folded into this one): what history writes, at the times the store saw them.
    new_events: int = 0
    # The call as it was before this change (None: new to whoever applies it), for whoever keeps running
    # totals (callmon.measures): they take the old version's share out before adding the new one's.
    old: Call | None = None

    def __init__(
        self,
        key: Key,
        call: Call,
        previous: Status | None,
        kind: ChangeKind,
        via: Via,
        new_events: int = 0,
        old: Call | None = None,
    ) -> None:
        # A frozen dataclass's own __init__ sets each field through object.__setattr__, which looks the slot up
        # by name first; each slot's setter called directly costs little more than half, and the store makes
        # a Change for every call it takes in. Still frozen: nothing can set a field afterwards.
        _set_key(self, key)
        _set_call(self, call)
        _set_previous(self, previous)
        _set_kind(self, kind)
        _set_via(self, via)
        _set_new_events(self, new_events)
        _set_old(self, old)

    def then(self, later: Change) -> Change:
        """This change and a later one to the same call, as one: the later call, the oldest "previous", and the
        strongest kind (new, then ended, then changed). The store folds a tick's changes this way, and the
        monitor the batches it holds while its display is paused."""
        kind = (
            "new" if self.kind == "new" else ("ended" if "ended" in (self.kind, later.kind) else later.kind)
        )
        return Change(
            later.key, later.call, self.previous, kind, later.via, self.new_events + later.new_events, self.old
        )


_set_key, _set_call, _set_previous, _set_kind, _set_via, _set_new_events, _set_old = (
    getattr(Change, name).__set__ for name in Change.__slots__
)


@dataclass
class StoreStats:
    applied: int = 0
    dropped_noop: int = 0
    dropped_stale: int = 0
    status_changes: int = 0


class CallStore:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock  # when a status change was observed (the timeline's times)
        # Each call holds its own status timeline (Call.timeline): flattened, one tuple per call instead of one
        # per event plus one to hold them. Read it with timeline().
        self.calls: dict[Key, Call] = {}
        # Per source, the ids of calls still queued, ringing or in progress: what pollers care about;
        # and of calls in "unknown" (ended, outcome not known yet: a pushed Disconnect), to look up.
        self.active: dict[str, set[str]] = {}
        self.unknown: dict[str, set[str]] = {}
        self.stats = StoreStats()
        self._counts: dict[str, int] = {}  # calls per source
        self._oldest: float | None = None  # the earliest first-seen time held; None: to be found again
        self._pending: dict[Key, Change] = {}
        self._subscribers: list[Callable[[list[Change]], None]] = []

    def __len__(self) -> int:
        return len(self.calls)

    def get(self, key: Key) -> Call | None:
        return self.calls.get(key)

    def count(self, source: str) -> int:
        """How many calls of `source` the store holds."""
        return self._counts.get(source, 0)

    def oldest(self) -> float:
        """When the earliest call held was first seen (inf when none is): where history's older calls begin.
        Kept as calls come, found again only after an eviction took the earliest: a walk of a million calls
        held the event loop 0.1 s at every search of history."""
        if self._oldest is None:
            self._oldest = min(map(_FIRST_SEEN, self.calls.values()), default=math.inf)
        return self._oldest

    def _held(self, call: Call, old: Call | None = None) -> None:
        """Keep oldest() true as `call` comes in (in place of `old`, when it replaces one)."""
        if old is not None and old.first_seen == self._oldest and call.first_seen != old.first_seen:
            self._oldest = None  # it may have been the earliest (a call without a timeline gets its first event)
        elif self._oldest is not None and call.first_seen < self._oldest:
            self._oldest = call.first_seen

    # -- applying updates -------------------------------------------------------------------------------------

    def apply(self, call: Call, via: Via = "poll", *, owned: bool = False) -> Change | None:
        """Merge one update; returns the change, or None when it changed nothing or was older than what we have.

        `owned`: the caller hands the call over (fresh from a provider's payload, held by nothing else), so the
        store may finish it in place (pack its payload, share its values, put its timeline on it) rather than
        copy it, which was a third of ingest. Otherwise the call given is left as it is."""
        key = (call.source, call.call_id)  # call.key, without the property's call
        old = self.calls.get(key)
        keep: dict[str, Any] = {}
        if old is not None:
            if _stale(old, call):
                self.stats.dropped_stale += 1
                return None
            keep = _carried(old, call)
            # The merged call is built once, below, with its packed payload and timeline: building a Call costs
            # ~30 us (its strings are checked and shared), and a no-op (most polls) needs none at all.
            if all(keep.get(name, getattr(call, name)) == getattr(old, name) for name in _COMPARED):
                self.stats.dropped_noop += 1
                return None
        status: Status = keep.get("status", call.status)
        previous = old.status if old is not None else None
        timeline = old.timeline if old is not None else ()
        new_events = 0
        if previous is not status:
            self.stats.status_changes += 1
            timeline = timelines.append(timeline, self.clock(), status, keep.get("raw_status", call.raw_status), via)
            new_events = 1
        call = _kept(call, keep, timeline, owned)
        self.stats.applied += 1
        if old is None:
            self._counts[key[0]] = self._counts.get(key[0], 0) + 1
        self._held(call, old)
        self.calls[key] = call
        self._track_active(call)
        kind: ChangeKind = "new" if old is None else ("ended" if call.ended and not old.ended else "changed")
        change = Change(key, call, previous, kind, via, new_events, old)
        earlier = self._pending.get(key)
        if earlier is not None:
            change = earlier.then(change)
        self._pending[key] = change
        return change

    def apply_all(self, calls: Iterable[Call], via: Via = "poll", *, owned: bool = False) -> int:
        """apply() each call (a page of a provider's list, many calls at once) with the cycle collector
        paused (see callmon.heap); returns how many changed something."""
        apply = self.apply
        with bulk():
            return sum(apply(call, via, owned=owned) is not None for call in calls)

    def load(self, call: Call) -> None:
        """Put back a call from history as it is (history reads back calls as the store keeps them),
        without announcing it as a change."""
        key = (call.source, call.call_id)
        self._put_back(key, call, self.calls.get(key))

    def _put_back(self, key: Key, call: Call, old: Call | None) -> None:
        if old is None:
            self._counts[key[0]] = self._counts.get(key[0], 0) + 1
        self._held(call, old)
        self.calls[key] = call
        self._track_active(call)

    def load_batch(self, calls: list[Call]) -> list[Change]:
        """Calls read back from history while the session already runs: each that is not held yet is put
        back; one polled again meanwhile keeps what it has now, with its history's earlier status changes
        before its own. The changes say which calls the view must show (kind "loaded")."""
        changes = []
        held = self.calls
        for call in calls:
            key = (call.source, call.call_id)
            live = held.get(key)
            if live is None:
                self._put_back(key, call, None)
                changes.append(Change(key, call, None, "loaded", "history"))
                continue
            earlier = tuple(
                value
                for event in timelines.events(call.timeline)
                if event.at < live.first_seen
                for value in event
            )
            if earlier:
                merged = revised(live, timeline=earlier + live.timeline)
                self._held(merged, live)
                self.calls[key] = merged
                changes.append(Change(key, merged, live.status, "loaded", "history", 0, live))
        return changes

    def evict(self, keys: Iterable[Key]) -> list[Change]:
        """Let these calls go from memory (history keeps them): those still live never go."""
        changes = []
        for key in keys:
            call = self.calls.get(key)
            if call is None or call.status.active or key in self._pending:
                continue
            del self.calls[key]
            if call.first_seen == self._oldest:
                self._oldest = None
            self._counts[key[0]] -= 1
            self.unknown.get(key[0], set()).discard(key[1])
            changes.append(Change(key, call, call.status, "evicted", "history", 0, call))
        return changes

    def hold_in_arrival_order(self) -> None:
        """Hold the calls in the order they were first seen (Call.first_seen, then key), as calls that arrive
        live are: after a load, which puts them back in another order. The monitor's table shows calls with
        equal values in this order, and sorts fastest when the calls come in it."""
        ordered = arrival_ordered(self.calls)
        self.calls.clear()
        self.calls.update(ordered)

    def _track_active(self, call: Call) -> None:
        source, call_id, status = call.source, call.call_id, call.status
        active = self.active.get(source)
        if active is None:
            active = self.active[source] = set()
            self.unknown[source] = set()
        if status.active:
            active.add(call_id)
        else:
            active.discard(call_id)
            if status is Status.UNKNOWN:
                self.unknown[source].add(call_id)
                return
        self.unknown[source].discard(call_id)

    def stop_waiting(self, key: Key) -> None:
        """Stop listing a call whose outcome is unknown as one to look up (its provider never wrote one)."""
        self.unknown.get(key[0], set()).discard(key[1])

    def timeline(self, key: Key) -> tuple[StatusEvent, ...]:
        """The call's status changes, oldest first."""
        call = self.calls.get(key)
        return timelines.events(call.timeline) if call is not None else ()

    def via(self, key: Key) -> Via | None:
        """How the call's last status change arrived."""
        call = self.calls.get(key)
        return timelines.last_via(call.timeline) if call is not None else None

    def source_calls(self, source: str) -> Mapping[str, Call]:
        return _SourceCalls(self.calls, source)

    # -- delivering batches -----------------------------------------------------------------------------------

    def subscribe(self, callback: Callable[[list[Change]], None]) -> Callable[[], None]:
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def pending(self) -> Mapping[Key, Change]:
        """The changes taken in since the last batch was taken (not yet delivered), by key."""
        return self._pending

    def take(self) -> list[Change]:
        """The pending batch, emptied; deliver it with `deliver` (after persisting it, if you persist)."""
        if not self._pending:
            return []
        batch = list(self._pending.values())
        self._pending = {}
        return batch

    def deliver(self, batch: list[Change]) -> None:
        for callback in list(self._subscribers):
            callback(batch)

    def flush(self) -> list[Change]:
        """Take the pending batch and hand it to every subscriber."""
        batch = self.take()
        if batch:
            self.deliver(batch)
        return batch


def _kept(call: Call, keep: dict[str, Any], timeline: Timeline, owned: bool = False) -> Call:
    """The call as the store keeps it: merged with what it carried over, its payload packed, its timeline on
    it, and its repeated values shared with the other calls kept."""
    changes = shared(call)
    changes.update(keep)
    if call.raw and not isinstance(call.raw, bytes):
        changes["raw"] = pack(call.raw)
    if timeline != call.timeline:
        changes["timeline"] = timeline
    if not changes:
        return call
    # What changes is the store's own (packed, shared, merged from a kept call): no need to check it again.
    return finished(call if owned else revised(call), changes)


def _stale(old: Call, new: Call) -> bool:
    """An update older than what we hold: by provider timestamp, or a live state arriving after the end."""
    if old.updated_at and new.updated_at and new.updated_at < old.updated_at:
        return True
    return old.ended and new.status.active


def _carried(old: Call, new: Call) -> dict[str, Any]:
    """The fields the new update does not carry, kept from the old (a live lookup has no cost, a CDR has no
    transcript...). Status comes from the new update, unless it only says "unknown" after a known outcome."""
    keep = {
        name: getattr(old, name)
        for name in _MERGED
        if getattr(new, name) in (None, ()) and getattr(old, name) not in (None, ())
    }
    if new.status is Status.UNKNOWN and old.status is not Status.UNKNOWN and not old.status.active:
        keep["status"] = old.status
    return keep


class _SourceCalls(Mapping[str, Call]):
    """One source's calls by call id, read through the store (no second index to keep in step)."""

    def __init__(self, calls: dict[Key, Call], source: str) -> None:
        self._calls = calls
        self._source = source

    def __getitem__(self, call_id: str) -> Call:
        return self._calls[(self._source, call_id)]

    def __contains__(self, call_id: object) -> bool:
        return (self._source, call_id) in self._calls

    def __iter__(self) -> Iterator[str]:
        return (cid for src, cid in self._calls if src == self._source)

    def __len__(self) -> int:
        return sum(1 for src, _ in self._calls if src == self._source)
