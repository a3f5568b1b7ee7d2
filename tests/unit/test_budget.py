"""The sliding-window budget, on a fake clock: never over the budget, and never waiting longer than it must.

Every time here is a float the arithmetic holds exactly (0.5, 25, 100, ...), so boundaries are tested at the
boundary itself, not near it.
"""

from __future__ import annotations

import asyncio

import pytest

from callmon.engine.budget import LocalLimiter, SlidingWindow
from callmon.providers.base import Budget


class FakeTime:
    """A clock that only moves when the window sleeps (or a test moves it), and the sleeps asked for."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        # A window that sleeps for nothing would spin: every wait it asks for must be a real one.
        assert delay > 0, f"asked to sleep {delay}"
        assert len(self.sleeps) < 100, "sleeping in a loop"
        self.sleeps.append(delay)
        self.now += delay
        await asyncio.sleep(0)  # let other waiters run, as a real sleep would


def window(requests: int, per: float, at: FakeTime) -> SlidingWindow:
    return SlidingWindow(Budget(requests, per), clock=at.clock, sleep=at.sleep)


async def fill(w: SlidingWindow, at: FakeTime, *times: float) -> None:
    """Requests at these times, each one fitting: none waits."""
    for t in times:
        at.now = t
        await w.acquire()
    assert at.sleeps == []


@pytest.mark.parametrize(
    ("per", "slack"),
    [
        (25.0, 0.5),  # 2 % of the window
        (50.0, 1.0),  # where 2 % reaches the cap
        (100.0, 1.0),  # capped at one second
        (3600.0, 1.0),
    ],
)
async def test_a_full_window_waits_until_its_oldest_request_leaves_plus_slack(
    per: float, slack: float
) -> None:
    at = FakeTime()
    w = window(2, per, at)
    await fill(w, at, 0.0, 0.5)
    at.now = 1.0
    # Exactly when the request at 0 leaves the window (and the slack has passed): not sooner, not later.
    assert w.wait_time() == per + slack - 1.0
    at.now = per + slack - 0.5
    assert w.wait_time() == 0.5
    at.now = per + slack
    assert w.wait_time() == 0.0
    assert w.used() == 1 and w.left() == 1


async def test_a_window_with_room_does_not_wait() -> None:
    at = FakeTime(7.0)
    w = window(3, 60.0, at)
    assert w.wait_time() == 0.0
    await fill(w, at, 7.0, 7.5)
    assert w.wait_time() == 0.0  # two of three used
    await fill(w, at, 8.0)
    assert w.wait_time() == 60.0  # 7 + 60 + 1 s of slack - 8


async def test_used_and_left_at_the_edges_of_the_window() -> None:
    at = FakeTime()
    w = window(3, 25.0, at)  # slack 0.5: a request at t counts until t + 25.5, exclusive
    assert (w.used(), w.left()) == (0, 3)
    await fill(w, at, 0.0)
    assert (w.used(), w.left()) == (1, 2)
    await fill(w, at, 5.0, 10.0)
    assert (w.used(), w.left()) == (3, 0)
    at.now = 25.0
    assert (w.used(), w.left()) == (3, 0)  # within the window
    at.now = 25.5 - 0.25
    assert (w.used(), w.left()) == (3, 0)  # within the slack
    at.now = 25.5
    assert (w.used(), w.left()) == (2, 1)  # the request at 0 has just left
    at.now = 30.5
    assert (w.used(), w.left()) == (1, 2)  # and the one at 5, on the dot
    at.now = 35.5 - 0.5
    assert (w.used(), w.left()) == (1, 2)
    at.now = 1000.0
    assert (w.used(), w.left()) == (0, 3)


async def test_old_requests_leave_in_order_whatever_is_behind_them() -> None:
    at = FakeTime()
    w = window(5, 25.0, at)
    await fill(w, at, 0.0, 20.0, 20.0)
    at.now = 26.0  # the first has left, the next two have not
    assert w.used() == 2
    at.now = 45.5
    assert w.used() == 0


async def test_wait_time_counts_from_the_oldest_request_not_the_next() -> None:
    at = FakeTime()
    w = window(2, 25.0, at)
    await fill(w, at, 0.0, 10.0)
    at.now = 20.0
    assert w.wait_time() == 5.5


async def test_acquire_sleeps_exactly_as_long_as_it_must() -> None:
    at = FakeTime()
    w = window(2, 25.0, at)
    await w.acquire()
    await w.acquire()
    assert at.sleeps == [] and at.now == 0.0
    await w.acquire()
    assert at.sleeps == [25.5]
    assert at.now == 25.5
    assert w.used() == 1  # both at 0 have left, this one came in


async def test_a_short_wait_is_still_waited() -> None:
    at = FakeTime()
    w = window(1, 25.0, at)
    await w.acquire()
    at.now = 25.0
    await w.acquire()
    assert at.sleeps == [0.5]
    assert at.now == 25.5


async def test_waiters_are_served_first_come_first_served_and_spaced_by_the_window() -> None:
    at = FakeTime()
    w = window(1, 25.0, at)
    served: list[tuple[str, float]] = []

    async def request(name: str) -> None:
        await w.acquire()
        served.append((name, at.now))

    await asyncio.gather(*(request(name) for name in "abcd"))
    assert served == [("a", 0.0), ("b", 25.5), ("c", 51.0), ("d", 76.5)]
    assert at.sleeps == [25.5, 25.5, 25.5]


async def test_never_more_than_the_budget_in_any_window() -> None:
    at = FakeTime()
    w = window(3, 25.0, at)
    stamps: list[float] = []
    for _ in range(12):
        await w.acquire()
        stamps.append(at.now)
        at.now += 1.0  # the caller's own work between requests
    for i, t in enumerate(stamps):
        assert sum(1 for s in stamps[i:] if s < t + 25.5) <= 3
    # Groups of three, each starting as soon as the first of the previous group left, plus the slack.
    assert stamps[:6] == [0.0, 1.0, 2.0, 25.5, 26.5, 27.5]


def test_the_default_clock_and_sleep_are_the_real_ones() -> None:
    w = SlidingWindow(Budget(1, 60.0))
    assert w.sleep is asyncio.sleep
    assert w.wait_time() == 0.0 and w.left() == 1


async def test_a_sources_own_limiter_counts_each_request_in_its_kinds_window_else_the_default() -> None:
    at = FakeTime(1000.0)
    limiter = LocalLimiter({"list": Budget(5, 60), "default": Budget(7, 60)}, clock=at.clock)
    await limiter.acquire("list")
    await limiter.acquire("call")  # no window of its own: the default's
    await limiter.acquire("call")
    assert limiter.usage() == {"list": (1, 5, 60), "default": (2, 7, 60)}
    only = LocalLimiter({"cdr": Budget(2, 60)}, clock=at.clock)
    await only.acquire("token")  # neither its own window nor a default: not limited, and nothing counted
    assert only.usage() == {"cdr": (0, 2, 60)}
    assert at.sleeps == []
