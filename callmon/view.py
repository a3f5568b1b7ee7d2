"""The filtered, sorted view of the store that the live table shows. No Textual here.

A master SortedList holds every call in the current sort order and is kept up to date change by change
(a change that keeps its position costs one key computation; one that moves costs two O(log n) steps).
A filter is a second, smaller SortedList picked out of the master in order, so filtering never sorts and
clearing a filter costs nothing. A new sort rebuilds the master with one stable sort on the value alone: the
view holds its calls in arrival order, the order ties go (see Column.entry), so ties need no second look.
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import compress, count, islice
from operator import attrgetter, eq, itemgetter, le
from typing import Any

from sortedcontainers import SortedList

from callmon.columns import BY_NAME, FAILURES, Column, Entry
from callmon.heap import bulk
from callmon.measures import Groups
from callmon.model import Call, Status
from callmon.query import Query, compile_query
from callmon.store import Change, Key, arrival, arrival_ordered


class _Rows(SortedList):  # type: ignore[misc]
    """A SortedList that can be handed rows already in order, without sorting them again."""

    @classmethod
    def of_sorted(cls, rows: list[Entry]) -> _Rows:
        # SortedList(rows) would sort them once more: 100k tuple comparisons, a third of a sort.
        # This is its own update() minus that sort, on its documented layout (sublists of `_load` rows).
        built = cls()
        load = built._load
        built._lists = [rows[i : i + load] for i in range(0, len(rows), load)]
        built._maxes = [sub[-1] for sub in built._lists]
        built._len = len(rows)
        return built


_VALUE = itemgetter(0)
_STATUS = attrgetter("status")  # mapped in C: a generator costs a Python frame step per call
_RELEASE_PER_APPLY = 4  # sublists of old rows freed per batch: ~4,000 tuples, well under a millisecond


def _rows(column: Column, null: Any, calls: Iterable[tuple[Key, Call]], now: float) -> list[Entry]:
    """Column.entry's rows for many calls at once, without a function call per call."""
    get = column.value_at(now)
    return [(null if (v := get(call)) is None else v, call.first_seen, key) for key, call in calls]


def _unknown_last(rows: list[Entry], null: Any, past_all: Any) -> tuple[list[Entry], Any]:
    """Rows sorted with unknown values as `null`, and the sentinel they keep: `null` if it still lies past
    every value, else `past_all`, with the unknown rows re-keyed to it.

    `null` lies past ordinary values only (see columns._NULLS). When some value lies past it too (Hindi text, a
    duration of 2**30 s), its rows are picked out by identity (a real value may equal it) and moved. The rows
    are then two sorted runs, which one sort of whole rows merges in linear time, exactly. Calls that arrive
    later go where the sentinel picked here puts them (a first Hindi name after the unknown ones) until the
    next sort picks again."""
    if null is past_all:
        return rows, null
    lo = bisect_left(rows, null, key=_VALUE)
    hi = bisect_right(rows, null, key=_VALUE)
    if (hi == len(rows)) if past_all > null else (lo == 0):
        return rows, null
    tied = rows[lo:hi]
    unknown = [(past_all, *row[1:]) for row in tied if row[0] is null]
    if unknown:
        rows = rows[:lo] + [row for row in tied if row[0] is not null] + rows[hi:] + unknown
        rows.sort()
    return rows, past_all


def _held_in_arrival_order(calls: Mapping[Key, Call]) -> bool:
    """Whether the calls are held in arrival order (first seen, then key): the order ties sort in."""
    firsts = [call.first_seen for call in calls.values()]
    if not all(map(le, firsts, islice(firsts, 1, None))):
        return False
    same = list(compress(count(), map(eq, firsts, islice(firsts, 1, None))))
    if not same:
        return True
    keys = list(calls)
    return all(keys[i] < keys[i + 1] for i in same)


@dataclass(frozen=True, slots=True)
class ViewDelta:
    """What a batch did to the view: rows whose content changed, and whether rows moved or came and went."""

    changed: frozenset[Key]
    moved: bool
    before: Mapping[Key, Call] = field(default_factory=dict)  # each changed call as it was shown until now


class CallView:
    def __init__(
        self,
        calls: Mapping[Key, Call] | None = None,
        *,
        sort: str = "started",
        reverse: bool = True,
        query: Query | None = None,
        failures_only: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # The view's own copy: each call as of the last batch applied, so the sorted lists always agree with
        # it, whatever the store has taken in since (and a paused display simply stops applying batches).
        self.calls: dict[Key, Call] = dict(calls or {})
        self.sort_column = sort
        self.reverse = reverse
        self.query = query or compile_query("")
        self.failures_only = failures_only
        self.clock = clock
        # The moment a timed column (a live call's duration) was sorted as of: entries must be reproducible to
        # be found again, so they are computed as of this moment until the next sort (`resort_timed`).
        self._epoch = clock()
        self._null = BY_NAME[sort].null(reverse)  # what the rows hold for an unknown value (set by a sort)
        self._entry = BY_NAME[sort].entry(reverse, self._null, self._epoch)
        self._master: SortedList = SortedList()
        self._retired: list[list[Entry]] = []
        # Whether self.calls is held in arrival order (first seen, then key). New calls arrive last and were seen
        # last, so this stays true unless the clock steps back.
        self._in_order = False
        self._shown: SortedList | None = None  # None: no filter, the master is what is shown
        self._shown_keys: set[Key] = set()
        self._all_counts: Counter[Status] = Counter()
        self._shown_counts: Counter[Status] = Counter()
        # Running totals per group of the calls shown (the group view), when on: kept with the rows, so they
        # agree with them (filter, failures only, a paused display).
        self.groups: Groups | None = None
        self.rebuild()

    # -- reading ----------------------------------------------------------------------------------------------

    @property
    def filtered(self) -> bool:
        return self._shown is not None

    @property
    def _rows(self) -> SortedList:
        return self._master if self._shown is None else self._shown

    @property
    def counts(self) -> Counter[Status]:
        """Calls shown, by status."""
        return self._all_counts if self._shown is None else self._shown_counts

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: Key) -> bool:
        if self._shown is None:
            return key in self.calls
        return key in self._shown_keys

    def key_at(self, index: int) -> Key:
        rows = self._rows
        i = len(rows) - 1 - index if self.reverse else index
        return rows[i][-1]  # type: ignore[no-any-return]

    def keys(self, start: int, stop: int) -> list[Key]:
        """Keys of rows [start, stop) in display order."""
        rows = self._rows
        n = len(rows)
        start, stop = max(0, start), min(n, stop)
        if start >= stop:
            return []
        if self.reverse:
            return [row[-1] for row in reversed(rows[n - stop : n - start])]
        return [row[-1] for row in rows[start:stop]]

    def index(self, key: Key) -> int | None:
        call = self.calls.get(key)
        if call is None or key not in self:
            return None
        rows = self._rows
        try:
            i = rows.index(self._entry(call, key))
        except ValueError:
            return None
        return len(rows) - 1 - i if self.reverse else int(i)

    def all_keys(self) -> list[Key]:
        return self.keys(0, len(self))

    # -- what is shown ----------------------------------------------------------------------------------------

    def _matcher(self) -> Any:
        """The filter as one predicate over a call, or None when nothing is filtered out."""
        query, failures = self.query, self.failures_only
        if query.empty and not failures:
            return None
        now = self.clock()
        predicate = query.predicate
        if predicate is None:
            return lambda call: call.status in FAILURES
        if not failures:
            return lambda call: predicate(call, now)
        return lambda call: call.status in FAILURES and predicate(call, now)

    def load(self, calls: Mapping[Key, Call]) -> None:
        """Start over from a snapshot of the store."""
        # The copy is made inside bulk(), after its young collection: made before, that collection walked
        # all 100k of its entries (4-20 ms of a 200 ms load).
        with bulk():
            self.calls = dict(calls)
            self._rebuild()

    def rebuild(self) -> None:
        """Re-sort everything (a new sort, or a new set of calls) and re-apply the filter."""
        with bulk():
            self._rebuild()

    def _rebuild(self) -> None:
        self._in_order = False  # a new set of calls: check, and re-order them only if they need it
        self._sort_master()
        self._all_counts = Counter(map(_STATUS, self.calls.values()))
        self._refilter()

    def _refilter(self) -> None:
        with bulk():
            self._pick()

    def set_grouping(self, dimension: str | None) -> None:
        """Keep running totals per group of this dimension of the calls shown (None: stop)."""
        self.groups = None if dimension is None else Groups(dimension)
        self._build_groups()

    def _build_groups(self) -> None:
        if self.groups is not None:
            calls = self.calls
            shown = calls.values() if self._shown is None else [calls[k] for k in self._shown_keys]
            self.groups.build(shown, self.clock())

    def _pick(self) -> None:
        self._pick_rows()
        self._build_groups()

    def _pick_rows(self) -> None:
        if self.query.empty and not self.failures_only:
            self._shown = None
            self._shown_keys = set()
            self._shown_counts = Counter()
            return
        calls = self.query.select(
            self.calls.values(), self.clock(), statuses=FAILURES if self.failures_only else None
        )
        keys = [call.key for call in calls]
        self._shown_keys = set(keys)
        self._shown = self._shown_rows(zip(keys, calls, strict=True))
        self._shown_counts = Counter(map(_STATUS, calls))

    def _shown_rows(self, shown: Iterable[tuple[Key, Call]]) -> SortedList:
        """The rows of the calls in _shown_keys (`shown`: those keys with their calls, in the order held), in
        sort order."""
        if len(self._shown_keys) * 4 < len(self.calls):
            # A selective filter: sorting the few rows it keeps beats walking the whole master.
            rows = _rows(BY_NAME[self.sort_column], self._null, shown, self._epoch)
            if self._in_order:
                rows.sort(key=_VALUE)
            else:
                rows.sort()
            return _Rows.of_sorted(rows)
        # The master is in order already: picking rows out of it keeps them in order, nothing to sort.
        wanted = self._shown_keys
        return _Rows.of_sorted([row for row in self._master if row[-1] in wanted])

    @property
    def epoch(self) -> float:
        """The moment a timed sort (DUR) was computed as of."""
        return self._epoch

    @property
    def timed(self) -> bool:
        """Whether what is shown changes with the clock alone (a filter on age or duration, a sort by
        duration): `rebuild()` now and then keeps it true."""
        return BY_NAME[self.sort_column].timed or getattr(self.query, "timed", False)

    def set_query(self, query: Query) -> None:
        self.query = query
        self._refilter()

    def set_failures_only(self, on: bool) -> None:
        self.failures_only = on
        self._refilter()

    def set_sort(self, column: str, reverse: bool) -> None:
        if column not in BY_NAME:
            raise KeyError(column)
        self.sort_column, self.reverse = column, reverse
        with bulk():
            self._sort_master()
            if self._shown is not None:
                wanted = self._shown_keys
                self._shown = self._shown_rows(item for item in self.calls.items() if item[0] in wanted)

    def _sort_master(self) -> None:
        if not self._in_order:
            self._hold_in_arrival_order()
        column = BY_NAME[self.sort_column]
        self._retire(self._master)
        self._master = self._sorted(column)
        self._entry = column.entry(self.reverse, self._null, self._epoch)

    def _sorted(self, column: Column) -> _Rows:
        """Every call's row, in order. Rows compare as (value, first seen, key), but comparing 100k tuples
        whose strings lie all over the heap is slow. The calls are held in arrival order, so a stable sort on the
        value alone gives the same order, comparing values only (on CPython's fast path for one kind, which
        the preferred sentinel for unknown values keeps)."""
        nulls = column.nulls(self.reverse)
        null, past_all = nulls[0], nulls[-1]
        self._epoch = self.clock()
        rows = _rows(column, null, self.calls.items(), self._epoch)
        rows.sort(key=_VALUE)
        rows, self._null = _unknown_last(rows, null, past_all)
        return _Rows.of_sorted(rows)

    def _hold_in_arrival_order(self) -> None:
        """Re-order self.calls into arrival order if it is not (a snapshot from elsewhere; the clock stepped
        back): once, then new calls keep it."""
        if not _held_in_arrival_order(self.calls):
            self.calls = arrival_ordered(self.calls)
        self._in_order = True

    def _retire(self, rows: SortedList) -> None:
        """Free replaced rows a little at a time, after the frame: freeing 100k tuples whose contents lie all
        over the heap takes as long as sorting them, and it need not delay what the user asked for."""
        if len(self._retired) > 100:  # sort after sort with no batch between: don't let them pile up
            self._retired.clear()
        self._retired.extend(rows._lists)
        rows._lists = []

    def _release(self) -> None:
        del self._retired[-_RELEASE_PER_APPLY:]

    # -- changes ----------------------------------------------------------------------------------------------

    def apply(self, changes: Iterable[Change]) -> ViewDelta:
        self._release()
        changed: set[Key] = set()
        previous: dict[Key, Call] = {}
        moved = False
        entry = self._entry
        match = self._matcher()
        master, shown, shown_keys = self._master, self._shown, self._shown_keys
        calls = self.calls
        grouping = self.groups is not None
        gone: list[Call] = []  # versions of calls that left the groups, and those that came in
        came: list[Call] = []
        for change in changes:
            key, call = change.key, change.call
            before = calls.get(key)
            if change.kind == "evicted":
                if before is not None:
                    if grouping and key in self:
                        gone.append(before)
                    self._forget(key, before)
                    moved = True
                continue
            if before is not None and key not in previous:
                previous[key] = before
            # A new call goes last: the calls stay in arrival order only if it ties after the call held last (it
            # ties before when the clock stepped back).
            if (
                before is None
                and self._in_order
                and calls
                and (call.first_seen, key) <= arrival(next(reversed(calls.items())))
            ):
                self._in_order = False
            calls[key] = call
            new_row = entry(call, key)
            if before is None:
                master.add(new_row)
                moved = True
            else:
                old_row = entry(before, key)
                if old_row != new_row:
                    master.remove(old_row)
                    master.add(new_row)
                    moved = True
                    if old_row[1] != new_row[1]:
                        self._in_order = False  # its first-seen time changed: its place among ties moved
                self._all_counts[before.status] -= 1
            self._all_counts[call.status] += 1
            if shown is None:
                changed.add(key)
                if grouping:
                    if before is not None:
                        gone.append(before)
                    came.append(call)
                continue
            was = key in shown_keys
            now = match(call)
            if grouping:
                if was and before is not None:
                    gone.append(before)
                if now:
                    came.append(call)
            if was:
                old_row = entry(before, key) if before is not None else new_row
                self._shown_counts[before.status if before is not None else call.status] -= 1
                if not now:
                    shown.remove(old_row)
                    shown_keys.discard(key)
                    moved = True
                    continue
                if old_row != new_row:
                    shown.remove(old_row)
                    shown.add(new_row)
                    moved = True
            elif now:
                shown.add(new_row)
                shown_keys.add(key)
                moved = True
            else:
                continue
            self._shown_counts[call.status] += 1
            changed.add(key)
        if self.groups is not None:
            self.groups.update(gone, came, self.clock())
        return ViewDelta(frozenset(changed), moved, previous)

    def _forget(self, key: Key, call: Call) -> None:
        """A call gone from memory with the window: out of the rows, the counts and the view's copy."""
        row = self._entry(call, key)
        self._master.remove(row)
        self._all_counts[call.status] -= 1
        if self._shown is not None and key in self._shown_keys:
            self._shown.remove(row)
            self._shown_keys.discard(key)
            self._shown_counts[call.status] -= 1
        del self.calls[key]

    def next_matching(self, start: int, step: int, statuses: frozenset[Status]) -> int | None:
        """Index of the next row (after `start`, in direction `step`) whose status is in `statuses`."""
        i = start + step
        n = len(self)
        while 0 <= i < n:
            call = self.calls.get(self.key_at(i))
            if call is not None and call.status in statuses:
                return i
            i += step
        return None
