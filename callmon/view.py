"""The filtered, sorted view of the store that the live table shows. No Textual here.

It is updated incrementally from change batches: a change that keeps a row's sort position costs a dict
lookup; one that moves it costs two O(log n) operations on a SortedList. A new filter or sort rebuilds it
in one pass over the store.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sortedcontainers import SortedList

from callmon.columns import BY_NAME, FAILURES
from callmon.model import Call, Status
from callmon.query import Query, compile_query
from callmon.store import Change, Key


@dataclass(frozen=True, slots=True)
class ViewDelta:
    """What a batch did to the view: rows whose content changed, and whether rows moved or came and went."""

    changed: frozenset[Key]
    moved: bool


class CallView:
    def __init__(
        self,
        calls: Mapping[Key, Call],
        *,
        sort: str = "started",
        reverse: bool = True,
        query: Query | None = None,
        failures_only: bool = False,
    ) -> None:
        self.calls = calls
        self.sort_column = sort
        self.reverse = reverse
        self.query = query or compile_query("")
        self.failures_only = failures_only
        self._rows: SortedList = SortedList()
        self._pos: dict[Key, Any] = {}  # shown key -> its sort value
        self._status: dict[Key, Status] = {}  # shown key -> status counted in `counts`
        self.counts: Counter[Status] = Counter()
        self.rebuild()

    # -- reading ----------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: Key) -> bool:
        return key in self._pos

    def key_at(self, index: int) -> Key:
        i = len(self._rows) - 1 - index if self.reverse else index
        return self._rows[i][1]  # type: ignore[no-any-return]

    def keys(self, start: int, stop: int) -> list[Key]:
        """Keys of rows [start, stop) in display order."""
        n = len(self._rows)
        start, stop = max(0, start), min(n, stop)
        if start >= stop:
            return []
        if self.reverse:
            return [row[1] for row in reversed(self._rows[n - stop : n - start])]
        return [row[1] for row in self._rows[start:stop]]

    def index(self, key: Key) -> int | None:
        value = self._pos.get(key)
        if value is None:
            return None
        i = self._rows.index((value, key))
        return len(self._rows) - 1 - i if self.reverse else int(i)

    def all_keys(self) -> list[Key]:
        return self.keys(0, len(self))

    # -- changing what is shown -------------------------------------------------------------------------------

    def _matches(self, call: Call) -> bool:
        if self.failures_only and call.status not in FAILURES:
            return False
        return self.query(call)

    def _sort_value(self, call: Call) -> Any:
        return _last(BY_NAME[self.sort_column].sort(call), self.reverse)

    def rebuild(self) -> None:
        sort = BY_NAME[self.sort_column].sort
        reverse = self.reverse
        query = self.query
        failures = self.failures_only
        rows = []
        pos: dict[Key, Any] = {}
        status: dict[Key, Status] = {}
        for key, call in self.calls.items():
            if failures and call.status not in FAILURES:
                continue
            if not query(call):
                continue
            value = _last(sort(call), reverse)
            rows.append((value, key))
            pos[key] = value
            status[key] = call.status
        self._rows = SortedList(rows)
        self._pos = pos
        self._status = status
        self.counts = Counter(status.values())

    def set_query(self, query: Query) -> None:
        self.query = query
        self.rebuild()

    def set_failures_only(self, on: bool) -> None:
        self.failures_only = on
        self.rebuild()

    def set_sort(self, column: str, reverse: bool) -> None:
        if column not in BY_NAME:
            raise KeyError(column)
        self.sort_column, self.reverse = column, reverse
        self.rebuild()

    def apply(self, changes: Iterable[Change]) -> ViewDelta:
        changed: set[Key] = set()
        moved = False
        for change in changes:
            key, call = change.key, self.calls.get(change.key, change.call)
            old = self._pos.get(key)
            if self._matches(call):
                value = self._sort_value(call)
                if old is None:
                    self._rows.add((value, key))
                    moved = True
                elif value != old:
                    self._rows.remove((old, key))
                    self._rows.add((value, key))
                    moved = True
                self._pos[key] = value
                previous = self._status.get(key)
                if previous is not call.status:
                    if previous is not None:
                        self.counts[previous] -= 1
                    self.counts[call.status] += 1
                    self._status[key] = call.status
                changed.add(key)
            elif old is not None:
                self._rows.remove((old, key))
                del self._pos[key]
                self.counts[self._status.pop(key)] -= 1
                moved = True
        return ViewDelta(frozenset(changed), moved)

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


def _last(value: Any, reverse: bool) -> Any:
    """Unknown values (sorted as (1, 0)) stay at the bottom when the display reads the order backwards."""
    if reverse and isinstance(value, tuple) and value[:1] == (1,):
        return (-1, 0)
    return value
