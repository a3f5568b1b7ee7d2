"""The live table's columns: fixed widths, how each cell reads, and how each column sorts. No Textual here.

Widths are part of the schema, never measured from the rows, so adding or changing a row can never shift
the layout or force a re-measure of 100k rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from callmon import display
from callmon.model import FAILURES, Call, Status

__all__ = ["BY_NAME", "COLUMNS", "DEFAULT_ORDER", "FAILURES", "SEPARATOR", "STATUS_GLYPH", "Column", "fit"]

# Vocabulary order: live states first, then outcomes, so a sort by status groups what needs attention.
STATUS_ORDER = {status: i for i, status in enumerate(Status)}
STATUS_GLYPH = {
    Status.QUEUED: "◌",
    Status.RINGING: "◔",
    Status.IN_PROGRESS: "●",
    Status.COMPLETED: "✔",
    Status.NO_ANSWER: "∅",
    Status.BUSY: "⊘",
    Status.FAILED: "✖",
    Status.CANCELED: "⊗",
    Status.UNKNOWN: "?",
}


def live_seconds(call: Call, now: float) -> int | None:
    """What DUR shows, sorts and filters on: once ended, the call's duration; while live, the time since it
    was answered (or, not answered yet, since it was dialled), ticking."""
    if call.status.active:
        anchor = call.answered_at or call.started_at
        return None if anchor is None else max(0, int(now - anchor.timestamp()))
    return call.duration_s


def clock_text(seconds: int | None) -> str:
    if seconds is None:
        return ""
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"


def age_text(call: Call, now: float) -> str:
    anchor = call.started_at or call.updated_at
    if anchor is None:
        return ""
    seconds = max(0, int(now - anchor.timestamp()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _newest_first(call: Call) -> float | None:
    """Age grows as the start time recedes: sorting by age ascending is newest first."""
    anchor = call.started_at or call.updated_at
    return None if anchor is None else -anchor.timestamp()


Entry = tuple[Any, ...]
EntryOf = Callable[[Call, tuple[str, str]], Entry]
# Unknown values become a sentinel of the column's own type, so every row starts with a value of one type:
# CPython then compares them on its fast homogeneous path, several times quicker than mixed tuples. The
# sentinel sorts last on screen whichever way the order is read. Each kind has its sentinels in order of
# preference. The first is of the kind ordinary values are (a one-byte string, an int of one 30-bit digit),
# since one key of another kind takes a whole sort off the faster path for that kind: "\U0010ffff" among
# 95k ASCII phone numbers made a sort by TO a third slower. It lies past ordinary values only (Latin-1 text,
# ints under 2**30); the last lies past every value, for when one lies past the first (CallView picks).
_NULLS: dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]] = {
    "text": (("\xff" * 16, "\U0010ffff"), ("",)),
    "int": ((2**30 - 1, math.inf), (-(2**30 - 1), -math.inf)),
    "float": ((math.inf,), (-math.inf,)),
    "time": ((datetime.max.replace(tzinfo=UTC),), (datetime.min.replace(tzinfo=UTC),)),
}


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    title: str
    width: int
    text: Callable[[Call, float], str]
    value: Callable[[Call], Any]  # what it sorts by: a value the call already holds where possible
    kind: str  # "text", "int", "float" or "time": the type of `value`
    right: bool = False
    live: bool = False  # its text changes with the clock (durations while live, ages)
    # Sorts by a value that changes with the clock (a live call's duration): the view sorts it as of one
    # moment (`value_at`), and sorts again now and then.
    timed: bool = False
    stretch: int = 0  # may grow up to this width when it is the last column shown and there is room

    def value_at(self, now: float) -> Callable[[Call], Any]:
        """The sort value as of `now` (the same as `value` for a column that is not timed)."""
        if self.name == "dur":
            return lambda call: live_seconds(call, now)
        return self.value

    def nulls(self, reverse: bool) -> tuple[Any, ...]:
        """The sentinels unknown values can sort as, preferred first; the last lies past every value."""
        return _NULLS[self.kind][1 if reverse else 0]

    def null(self, reverse: bool) -> Any:
        return self.nulls(reverse)[-1]

    def entry(self, reverse: bool, null: Any = None, now: float = 0.0) -> EntryOf:
        """A call's row in the sorted lists: (value, first seen, key), an unknown value as `null` (by default
        the sentinel past every value). Ties go in the order callmon first saw the calls (the key settles the
        rare equal times): that is the order the view already holds them in, so a stable sort on the value
        alone puts every row in place."""
        value = self.value_at(now)
        if null is None:
            null = self.null(reverse)

        def entry(call: Call, key: tuple[str, str]) -> Entry:
            v = value(call)
            return (null if v is None else v, call.first_seen, key)

        return entry


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


COLUMNS: tuple[Column, ...] = (
    Column("status", "STATUS", 13, lambda c, now: f"{STATUS_GLYPH[c.status]} {c.status.value}",
           lambda c: STATUS_ORDER[c.status], "int"),
    Column("age", "AGE", 4, age_text, _newest_first, "float", right=True, live=True),
    Column("campaign", "CAMPAIGN", 16, lambda c, now: c.campaign or "", attrgetter("campaign"), "text"),
    Column("to", "TO", 14, lambda c, now: display.number(c.to) or "", attrgetter("to"), "text"),
    Column("reason", "REASON", 22, lambda c, now: c.why or "",
           attrgetter("why"), "text", stretch=48),
    Column("dur", "DUR", 6, lambda c, now: clock_text(live_seconds(c, now)), attrgetter("duration_s"),
           "int", right=True, live=True, timed=True),
    Column("source", "SOURCE", 14, lambda c, now: c.source, attrgetter("source"), "text"),
    Column("id", "CALL ID", 22, lambda c, now: c.call_id, attrgetter("call_id"), "text"),
    Column("started", "STARTED", 12, lambda c, now: display.clock(c.started_at, now), attrgetter("started_at"),
           "time"),
    Column("cost", "COST", 9,
           lambda c, now: "" if c.cost is None else f"{c.cost:.2f} {c.currency or ''}".rstrip(),
           lambda c: _float(c.cost), "float", right=True),
)  # fmt: skip
BY_NAME = {c.name: c for c in COLUMNS}
DEFAULT_ORDER = tuple(c.name for c in COLUMNS)
SEPARATOR = 1


def fit(text: str, width: int, *, right: bool = False) -> str:
    """Exactly `width` cells: truncated with an ellipsis, padded."""
    if len(text) > width:
        return text[: width - 1] + "…"
    return text.rjust(width) if right else text.ljust(width)
