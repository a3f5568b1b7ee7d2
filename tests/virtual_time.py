"""An asyncio event loop on virtual time: when nothing is ready to run and no I/O is waiting, the clock jumps
to the next timer instead of sleeping until it. Every `asyncio.sleep`, `wait_for`, `asyncio.timeout` and
`loop.time()` reading in the code under test follows it, so a test of backoffs, budgets and Retry-After that
spans simulated hours takes milliseconds, and measures exact durations.

Only for code whose I/O completes within the loop (the simulator behind httpx's ASGI transport): work on
another thread would see the clock race ahead while it runs.
"""

from __future__ import annotations

import asyncio
import selectors
from typing import Any


class _Selector(selectors.BaseSelector):
    """The real selector, asked without waiting; when it has nothing, the loop's clock moves on instead."""

    def __init__(self) -> None:
        self._inner = selectors.DefaultSelector()
        self.loop: VirtualTimeLoop | None = None

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._inner.select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            return self._inner.select(None)  # nothing scheduled: only I/O can wake us
        assert self.loop is not None
        self.loop.advance(timeout)
        return []

    def get_map(self) -> Any:
        return self._inner.get_map()

    def close(self) -> None:
        self._inner.close()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        selector = _Selector()
        super().__init__(selector)
        selector.loop = self
        self._now = 1000.0

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += max(0.0, seconds)
