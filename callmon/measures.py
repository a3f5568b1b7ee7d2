"""Is the campaign healthy? Running totals per group of calls (a campaign, a provider, a source, a reason),
kept up to date change by change: each tick touches only the groups its calls are in.

Every measure is defined once, here, and in docs/measures.md; the monitor's group view, `watch --group-by`,
alerts and /metrics all read them from here:

- calls: calls in the group; active: queued, ringing or in progress; completed: status completed.
- ended: calls with a final status (completed, no-answer, busy, failed, canceled).
- answer rate: completed ÷ ended (an attempt that connected, of the attempts that are over).
- failure rate: (failed + busy + no-answer + canceled) ÷ ended.
- ACD: mean billable seconds of completed calls (those with billable seconds known).
- calls/min: calls placed in each minute (when the provider says a call started, else when callmon first
  saw it); failures/min: calls that ended a failure in each minute (when the provider says it ended, else
  when callmon saw its final status).
- top reason: the most frequent reason (or the provider's status word) among the group's failures.
Over a recent span (alerts' `over = "5m"`), the rates count only the calls that ended in it.
"""

from __future__ import annotations

import math
import shlex
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import compress
from operator import attrgetter

from callmon.model import ACTIVE, ENDED, FAILURES, Call, Status
from callmon.store import CallStore, Change
from callmon.timeline import last_change_at, last_changes

DIMENSIONS = ("campaign", "provider", "source", "reason")
MINUTES = 120  # minutes of per-minute counts kept: sparklines show 15, alerts look back up to an hour
SPARK = 15
NONE = "(none)"  # the group of calls without a value for the dimension
ALL = ""  # the one group of Groups("") (every call the filter picks, as one)


_ACTIVE = frozenset(ACTIVE)
_ENDED = frozenset(ENDED)
_FAILURES = frozenset(FAILURES)
_STATUS = attrgetter("status")
_TIMELINE = attrgetter("timeline")
_COMPLETED = Status.COMPLETED


# The per-minute counts of a tally: minute -> [placed, ended, failed, completed, billed, billable seconds].
PLACED, ENDED_, FAILED, COMPLETED, BILLED, BILLABLE = range(6)


@dataclass(slots=True)
class Tally:
    """Running totals of one group of calls. Plain dicts, not Counters: a dialer with 20,000 campaigns has
    20,000 tallies, and a Counter costs a Python call to make."""

    calls: int = 0
    active: int = 0
    completed: int = 0
    ended: int = 0
    failures: int = 0
    billable_sum: int = 0
    billable_n: int = 0
    statuses: dict[Status, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)  # of failures
    minutes: dict[int, list[int]] = field(default_factory=dict)  # the last MINUTES minutes only

    # -- the measures -----------------------------------------------------------------------------------------

    @property
    def answer_rate(self) -> float | None:
        return self.completed / self.ended if self.ended else None

    @property
    def failure_rate(self) -> float | None:
        return self.failures / self.ended if self.ended else None

    @property
    def acd(self) -> float | None:
        return self.billable_sum / self.billable_n if self.billable_n else None

    @property
    def top_reason(self) -> str | None:
        if not self.reasons:
            return None
        # The most frequent; of equally frequent ones, the first in alphabetical order (stable across runs).
        return min(self.reasons.items(), key=lambda item: (-item[1], item[0]))[0]

    def per_minute(self, now: float, minutes: int = SPARK) -> tuple[list[int], list[int]]:
        """Calls placed and calls that ended a failure in each of the last `minutes` (oldest first; the
        current minute, still filling, last)."""
        span = [self.minutes.get(m, _ZERO) for m in _minutes(now, minutes)]
        return [m[PLACED] for m in span], [m[FAILED] for m in span]

    def over(self, now: float, seconds: float) -> Recent:
        """What happened in the last `seconds` (whole minutes, the current one included)."""
        last = int(now // 60)
        count = max(1, math.ceil(seconds / 60))
        first = last - count + 1
        placed = ended = failed = completed = billed = billable = 0
        minutes = self.minutes
        # Whichever is shorter: the span's minutes, or the minutes this group has counts for (most groups of
        # a dialer with a campaign per call have one or two).
        if len(minutes) < count:
            spans = [c for m, c in minutes.items() if first <= m <= last]
        else:
            spans = [c for m in range(first, last + 1) if (c := minutes.get(m)) is not None]
        for c in spans:
            placed += c[0]
            ended += c[1]
            failed += c[2]
            completed += c[3]
            billed += c[4]
            billable += c[5]
        return Recent(count, placed, ended, failed, completed, billed, billable)

    def last_placed(self, now: float) -> int | None:
        """The last minute (of the kept ones, up to now) in which a call was placed, or None."""
        last = int(now // 60)
        placed = [m for m, counts in self.minutes.items() if counts[PLACED] > 0 and m <= last]
        return max(placed) if placed else None

    # -- keeping it --------------------------------------------------------------------------------------------

    def merge(self, other: Tally, sign: int) -> None:
        """Add (sign 1) or take out (sign -1) another tally's calls."""
        self.calls += sign * other.calls
        self.active += sign * other.active
        self.completed += sign * other.completed
        self.ended += sign * other.ended
        self.failures += sign * other.failures
        self.billable_sum += sign * other.billable_sum
        self.billable_n += sign * other.billable_n
        _merge_counts(self.statuses, other.statuses, sign)  # type: ignore[arg-type]
        _merge_counts(self.reasons, other.reasons, sign)  # type: ignore[arg-type]
        mine = self.minutes
        for minute, theirs in other.minutes.items():
            counts = mine.get(minute)
            if counts is None:
                counts = mine[minute] = [0] * 6
            for i, n in enumerate(theirs):
                counts[i] += sign * n
            if not any(counts):
                del mine[minute]

    def forget_before(self, minute: int) -> None:
        for m in [m for m in self.minutes if m < minute]:
            del self.minutes[m]


_ZERO = (0,) * 6


def _merge_counts(mine: dict[object, int], theirs: dict[object, int], sign: int) -> None:
    for key, n in theirs.items():
        left = mine.get(key, 0) + sign * n
        if left:
            mine[key] = left
        else:
            del mine[key]


def _minutes(now: float, count: int) -> range:
    last = int(now // 60)
    return range(last - count + 1, last + 1)


@dataclass(frozen=True, slots=True)
class Recent:
    """What happened in a recent span of whole minutes (see Tally.over)."""

    minutes: int
    placed: int
    ended: int
    failures: int
    completed: int
    billed: int
    billable: int

    @property
    def failure_rate(self) -> float | None:
        return self.failures / self.ended if self.ended else None

    @property
    def answer_rate(self) -> float | None:
        return self.completed / self.ended if self.ended else None

    @property
    def acd(self) -> float | None:
        return self.billable / self.billed if self.billed else None

    @property
    def calls_per_min(self) -> float:
        return self.placed / self.minutes

    @property
    def failures_per_min(self) -> float:
        return self.failures / self.minutes


def group_of(call: Call, dimension: str) -> str:
    """The call's group in a dimension: its campaign, provider, source; for "reason", why it ended (its
    reason, else its provider's own status word). NONE when it has no value."""
    value = call.why if dimension == "reason" else getattr(call, dimension)
    return value or NONE


def _keys(calls: list[Call], dimension: str) -> list[str]:
    if not dimension:
        return [ALL] * len(calls)
    if dimension == "reason":
        return [c.why or NONE for c in calls]
    return [value or NONE for value in map(attrgetter(dimension), calls)]


def placed_at(call: Call) -> float | None:
    """When a call was placed: when its provider says it started, else when callmon first saw it (whichever
    is earlier: a call polled late was still placed when its provider says). None when neither is known."""
    started = call.started_at
    seen = call.first_seen if call.timeline else None
    if started is None:
        return seen
    return started.timestamp() if seen is None else min(started.timestamp(), seen)


def ended_at(call: Call) -> float | None:
    """When an ended call ended: its provider's end time, else when callmon saw its final status (whichever
    is earlier); None for a call that has not ended."""
    if call.status not in _ENDED:
        return None
    seen = last_change_at(call.timeline)
    end = call.ended_at
    if end is None:
        return seen
    return end.timestamp() if seen is None else min(end.timestamp(), seen)


def _counts(calls: list[Call], keys: list[str], since: int) -> dict[str, Tally]:
    """The totals of these calls per group (`keys[i]` is calls[i]'s group), per-minute counts only from
    minute `since` on. In passes that each read only what they need, most of them in C (Counter over zip):
    a Python function call per call per measure would cost more than the whole build may."""
    out: dict[str, Tally] = {}
    statuses = list(map(_STATUS, calls))
    for (key, status), n in Counter(zip(keys, statuses, strict=True)).items():
        tally = out.get(key)
        if tally is None:
            tally = out[key] = Tally()
        tally.calls += n
        tally.statuses[status] = n
        if status in _ACTIVE:
            tally.active += n
        elif status in _ENDED:
            tally.ended += n
            if status is _COMPLETED:
                tally.completed += n
            else:
                tally.failures += n
    # compress() with a membership map picks the calls of a kind in C, without a Python step per call.
    for key, call in compress(zip(keys, calls, strict=True), map(_COMPLETED.__eq__, statuses)):
        if (billable := call.billable_s) is not None:
            tally = out[key]
            tally.billable_sum += billable
            tally.billable_n += 1
    for (key, reason), n in Counter(
        (key, call.reason or call.raw_status or call.status.value)  # Call.why, inline: a property is a call
        for key, call in compress(zip(keys, calls, strict=True), map(_FAILURES.__contains__, statuses))
    ).items():
        out[key].reasons[reason] = n
    _count_minutes(out, calls, keys, statuses, since * 60.0)
    return out


def _count_minutes(
    out: dict[str, Tally], calls: list[Call], keys: list[str], statuses: list[Status], low: float
) -> None:
    """Per-minute counts from `low` on. A call placed or ended since then was seen since then (callmon sees a
    call after it is placed, and its final status after it ends), so only calls seen changing that recently
    are read further: after a restart, the last hours of a day's calls, not the day. A call with no
    timeline (polled once, never stored) is read whatever its times."""
    changed = last_changes(map(_TIMELINE, calls), empty=math.inf)
    # placed_at() and ended_at(), inline: two function calls a call were a third of this loop.
    for i in compress(range(len(calls)), map(low.__le__, changed)):
        call = calls[i]
        minutes = out[keys[i]].minutes
        timeline = call.timeline
        seen = call.first_seen if timeline else None
        started = call.started_at
        if started is not None:
            placed: float | None = started.timestamp()
            if seen is not None and seen < placed:  # type: ignore[operator]
                placed = seen
        else:
            placed = seen
        if placed is not None and placed >= low:
            counts = minutes.get(minute := int(placed // 60))
            if counts is None:
                counts = minutes[minute] = [0, 0, 0, 0, 0, 0]
            counts[PLACED] += 1
        status = statuses[i]
        if status not in _ENDED:
            continue
        end = changed[i] if timeline else None
        if call.ended_at is not None:
            provider_end = call.ended_at.timestamp()
            if end is None or provider_end < end:
                end = provider_end
        if end is None or end < low:
            continue
        counts = minutes.get(minute := int(end // 60))
        if counts is None:
            counts = minutes[minute] = [0, 0, 0, 0, 0, 0]
        counts[ENDED_] += 1
        if status is _COMPLETED:
            counts[COMPLETED] += 1
            if call.billable_s is not None:
                counts[BILLED] += 1
                counts[BILLABLE] += call.billable_s
        else:
            counts[FAILED] += 1


class Groups:
    """Running totals per group of one dimension, over the calls a filter picks (all, by default). The
    dimension "" keeps one group (ALL) of every call picked.

    Kept current from changes: each change takes the call's old version out of its group and puts the new
    one in, so a tick costs what its changes cost, whatever the number of calls."""

    def __init__(self, dimension: str, match: Callable[[Call], bool] | None = None) -> None:
        if dimension and dimension not in DIMENSIONS:
            raise ValueError(f"cannot group by {dimension!r}: use one of {', '.join(DIMENSIONS)}")
        self.dimension = dimension
        self.match = match
        self.tallies: dict[str, Tally] = {}
        self.touched: set[str] = set()  # groups changed since whoever reads this last emptied it (alerts)
        self._since = 0  # the oldest minute kept

    def _picked(self, calls: Iterable[Call]) -> list[Call]:
        match = self.match
        return list(calls) if match is None else [c for c in calls if match(c)]

    def build(self, calls: Iterable[Call], now: float) -> None:
        """Start over from these calls."""
        self._since = int(now // 60) - MINUTES + 1
        picked = self._picked(calls)
        self.tallies = _counts(picked, _keys(picked, self.dimension), self._since)

    def update(self, gone: list[Call], came: list[Call], now: float) -> None:
        """These versions of calls left the groups (an older version, an evicted call) and these came in."""
        self.expire(now)
        for calls, sign in ((gone, -1), (came, 1)):
            if not calls:
                continue
            for key, tally in _counts(calls, _keys(calls, self.dimension), self._since).items():
                self.touched.add(key)
                mine = self.tallies.get(key)
                if mine is None:
                    mine = self.tallies[key] = Tally()
                mine.merge(tally, sign)
                if mine.calls <= 0:
                    del self.tallies[key]

    def apply(self, changes: Iterable[Change], now: float) -> None:
        """A batch of the store's changes (the old version of each call out, the new one in)."""
        match = self.match
        gone: list[Call] = []
        came: list[Call] = []
        for change in changes:
            old = change.old
            if old is not None and (match is None or match(old)):
                gone.append(old)
            if change.kind != "evicted" and (match is None or match(change.call)):
                came.append(change.call)
        self.update(gone, came, now)

    def expire(self, now: float) -> None:
        """Forget per-minute counts older than MINUTES, once a minute."""
        since = int(now // 60) - MINUTES + 1
        if since > self._since:
            self._since = since
            for tally in self.tallies.values():
                tally.forget_before(since)

    def total(self) -> Tally:
        """Every group's calls as one tally."""
        out = Tally()
        for tally in self.tallies.values():
            out.merge(tally, 1)
        return out


def delivered(store: CallStore) -> list[Call]:
    """The calls as the store's subscribers have seen them: whoever builds totals now and applies the
    batches to come must not count a pending change twice (its new version now, its old one taken out
    later)."""
    pending = store.pending()
    if not pending:
        return list(store.calls.values())
    out = [call for key, call in store.calls.items() if key not in pending]
    out.extend(change.old for change in pending.values() if change.old is not None)
    return out


# -- how the measures read (the monitor's group view, `watch --group-by --format table`) -----------------------

_BARS = "▁▂▃▄▅▆▇█"


def spark(values: list[int]) -> str:
    """A sparkline: one cell per value, blank for none, bars scaled to the largest value."""
    top = max(values, default=0)
    if top <= 0:
        return " " * len(values)
    return "".join(" " if v <= 0 else _BARS[min(7, (v * 8 - 1) // top)] for v in values)


def percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.0f}%"


def seconds(value: float | None) -> str:
    if value is None:
        return ""
    s = round(value)
    return f"{s}s" if s < 60 else f"{s // 60}m{s % 60:02d}"


@dataclass(frozen=True, slots=True)
class GroupColumn:
    """A column of the group view: its title, width, how its cell reads and what it sorts on."""

    name: str
    title: str
    width: int
    text: Callable[[Tally, float], str]
    value: Callable[[Tally, float], float | int | str | None]
    right: bool = True
    descending_first: bool = True  # most calls, highest rate... first when first sorted on


def _spark_of(which: int) -> Callable[[Tally, float], str]:
    return lambda tally, now: spark(tally.per_minute(now)[which])


def _recent(which: int) -> Callable[[Tally, float], float | int | str | None]:
    return lambda tally, now: sum(tally.per_minute(now)[which])


GROUP_COLUMNS = (
    GroupColumn("calls", "CALLS", 7, lambda t, now: f"{t.calls:,}", lambda t, now: t.calls),
    GroupColumn("active", "ACTIVE", 6, lambda t, now: f"{t.active:,}", lambda t, now: t.active),
    GroupColumn("answer_rate", "ANS%", 4, lambda t, now: percent(t.answer_rate), lambda t, now: t.answer_rate,
                descending_first=False),
    GroupColumn("failure_rate", "FAIL%", 5, lambda t, now: percent(t.failure_rate),
                lambda t, now: t.failure_rate),
    GroupColumn("acd", "ACD", 5, lambda t, now: seconds(t.acd), lambda t, now: t.acd),
    GroupColumn("calls_per_min", "CALLS/MIN", SPARK, _spark_of(0), _recent(0), right=False),
    GroupColumn("failures_per_min", "FAILS/MIN", SPARK, _spark_of(1), _recent(1), right=False),
    GroupColumn("completed", "COMPLETED", 9, lambda t, now: f"{t.completed:,}", lambda t, now: t.completed),
    GroupColumn("top_reason", "TOP REASON", 24, lambda t, now: t.top_reason or "",
                lambda t, now: t.top_reason, right=False, descending_first=False),
)  # fmt: skip
GROUP_COLUMN = {c.name: c for c in GROUP_COLUMNS}
GROUP_TITLE = {"campaign": "CAMPAIGN", "provider": "PROVIDER", "source": "SOURCE", "reason": "REASON"}


FAIR = 20  # ended calls a group needs for its rates to rank it: one call's 0 % is not a campaign's


def ordered(groups: Groups, column: str, reverse: bool, now: float) -> list[str]:
    """The groups' names in the order of a column (reverse: biggest first); unknown values last either way,
    ties by name. By a rate, groups with fewer than FAIR ended calls come after the rest (in the same order),
    so a dialer's one-call campaigns do not bury the campaign in trouble."""
    if column == "name":
        return sorted(groups.tallies, reverse=reverse)
    value = GROUP_COLUMN[column].value
    rated = column in ("answer_rate", "failure_rate", "acd")
    tiers: tuple[list[tuple[float | int | str, str]], list[tuple[float | int | str, str]]] = ([], [])
    unknown: list[str] = []
    for name, tally in groups.tallies.items():
        v = value(tally, now)
        if v is None:
            unknown.append(name)
        else:
            tiers[rated and tally.ended < FAIR].append((v, name))
    out: list[str] = []
    for tier in tiers:
        tier.sort(key=lambda item: item[1])
        tier.sort(key=lambda item: item[0], reverse=reverse)
        out += [name for _, name in tier]
    unknown.sort()
    return out + unknown


def worst_answer_rate(groups: Groups, min_ended: int = FAIR) -> tuple[str, Tally] | None:
    """The group with the lowest answer rate among those with at least `min_ended` ended calls."""
    fair = [(t.answer_rate, name, t) for name, t in groups.tallies.items() if t.ended >= min_ended]
    if not fair:
        return None
    _, name, tally = min(fair, key=lambda item: (item[0] or 0.0, item[1]))
    return name, tally


def rows(groups: Groups, now: float) -> list[dict[str, object]]:
    """Each group's measures as one record (what `watch --group-by` prints), biggest group first."""
    out = []
    for name in ordered(groups, "calls", True, now):
        tally = groups.tallies[name]
        calls_per_min, failures_per_min = tally.per_minute(now)
        out.append(
            {
                groups.dimension: name,
                "calls": tally.calls,
                "active": tally.active,
                "completed": tally.completed,
                "ended": tally.ended,
                "failures": tally.failures,
                "answer_rate": _round(tally.answer_rate),
                "failure_rate": _round(tally.failure_rate),
                "acd_s": _round(tally.acd, 1),
                "calls_per_min": calls_per_min,
                "failures_per_min": failures_per_min,
                "top_reason": tally.top_reason,
            }
        )
    return out


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def group_filter(dimension: str, name: str) -> str:
    """The filter that picks a group's calls (what Enter on a group puts in the filter bar)."""
    if name == NONE:
        return f"-{dimension}:*"
    # The whole value, not a part of it; a comma would split it into alternatives, so it becomes a wildcard.
    return shlex.quote(f"{dimension}:={name.replace(',', '*')}")
