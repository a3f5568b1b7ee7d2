"""Request budgets as providers state them: at most N requests in any window of W seconds.

A leaky/token bucket with burst N lets up to 2N-1 requests into one W-second window, which a provider that
counts "2 per minute" over a sliding window answers with 429. A log of recent request times holds exactly.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from callmon.providers.base import Budget


class SlidingWindow:
    def __init__(
        self,
        budget: Budget,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.budget = budget
        self.clock = clock
        self.sleep = sleep  # with `clock`, lets a test run an hour of waiting in no time
        self._times: deque[float] = deque()
        self._lock = asyncio.Lock()
        # Providers measure from when they receive a request; a little slack covers clock and network skew.
        self._slack = min(1.0, budget.per * 0.02)

    def _trim(self, now: float) -> None:
        horizon = now - self.budget.per - self._slack
        while self._times and self._times[0] <= horizon:
            self._times.popleft()

    def used(self) -> int:
        self._trim(self.clock())
        return len(self._times)

    def left(self) -> int:
        return max(0, self.budget.requests - self.used())

    def wait_time(self) -> float:
        """Seconds until one more request fits (0 if it fits now)."""
        now = self.clock()
        self._trim(now)
        if len(self._times) < self.budget.requests:
            return 0.0
        return self._times[0] + self.budget.per + self._slack - now

    async def acquire(self) -> None:
        """Wait until a request fits in the window, then count it. FIFO among waiters."""
        async with self._lock:
            # The wait is a known duration (the oldest request leaving the window), not an event to await.
            delay = self.wait_time()
            while delay > 0:
                await self.sleep(delay)
                delay = self.wait_time()
            self._times.append(self.clock())


class Limiter(Protocol):
    """Where a source's requests wait for their budget: its own windows here, or a team engine's shared
    windows (callmon.team), which every collector and viewer request of an account counts against."""

    async def acquire(self, kind: str) -> None:
        """Wait until one more request of this kind fits, then count it."""
        ...

    def usage(self) -> dict[str, tuple[int, int, float]]:
        """kind -> (used, of, per seconds), as of now."""
        ...


class LocalLimiter:
    """A process's own sliding windows, one per kind of request ("default" for kinds not listed)."""

    def __init__(self, budgets: Mapping[str, Budget], clock: Callable[[], float] = time.monotonic) -> None:
        self.windows = {kind: SlidingWindow(b, clock) for kind, b in budgets.items()}

    async def acquire(self, kind: str) -> None:
        window = self.windows.get(kind) or self.windows.get("default")
        if window is not None:
            await window.acquire()

    def usage(self) -> dict[str, tuple[int, int, float]]:
        return {kind: (w.used(), w.budget.requests, w.budget.per) for kind, w in self.windows.items()}
