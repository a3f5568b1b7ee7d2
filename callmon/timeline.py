"""A call's status timeline: every status change callmon saw, when, and how it arrived.

Kept on the call as one flat tuple, (at, status, raw status, via) after another, oldest first: one tuple per
call costs less than a tuple per event plus one to hold them, at 100k calls. Only this module knows that
layout; everything else reads events.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, NamedTuple

from callmon.status import Status

Via = Literal["poll", "push", "history"]
Timeline = tuple[Any, ...]
EMPTY: Timeline = ()
_STRIDE = 4


class StatusEvent(NamedTuple):
    """One step of a call's status timeline."""

    at: float  # epoch seconds
    status: Status
    raw_status: str | None
    via: Via


# The times a status change can have: those of a call (callmon.model's EARLIEST to LATEST, 1970 to 2200). A time
# read back (history, a team's engine) outside them is not one: NaN held the window's edge for good, and one past
# what the platform's time functions hold raised OSError where it is shown.
EARLIEST_AT = 0.0
LATEST_AT = 7258118400.0


def plausible(times: Iterable[Any]) -> bool:
    """Whether every one of `times` is a number a status change can have happened at."""
    return all(type(at) in (int, float) and EARLIEST_AT <= at < LATEST_AT for at in times)


def events(timeline: Timeline) -> tuple[StatusEvent, ...]:
    """The timeline's events, oldest first."""
    return tuple(StatusEvent(*timeline[i : i + _STRIDE]) for i in range(0, len(timeline), _STRIDE))


def newest(timeline: Timeline, count: int) -> tuple[StatusEvent, ...]:
    """The last `count` events."""
    if count <= 0:
        return ()
    return events(timeline[-count * _STRIDE :])


def append(timeline: Timeline, at: float, status: Status, raw_status: str | None, via: Via) -> Timeline:
    return (*timeline, at, status, raw_status, via)


def of(items: Iterable[tuple[float, Status, str | None, Via]]) -> Timeline:
    """A timeline from events, oldest first."""
    return tuple(value for item in items for value in item)


def first_seen(timeline: Timeline) -> float | None:
    return timeline[0] if timeline else None


def last_via(timeline: Timeline) -> Via | None:
    return timeline[-1] if timeline else None


def last_change_at(timeline: Timeline) -> float | None:
    """When the last status change happened."""
    return timeline[-_STRIDE] if timeline else None


def last_changes(timelines: Iterable[Timeline], empty: float) -> list[float]:
    """When each timeline's last status change happened (`empty` for an empty one), in one pass."""
    return [t[-_STRIDE] if t else empty for t in timelines]


def length(timeline: Timeline) -> int:
    return len(timeline) // _STRIDE
