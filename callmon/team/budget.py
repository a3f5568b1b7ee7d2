"""Provider budgets shared by every collector of a team: a sliding-window log per (account, kind of request)
in the engine, timed by the engine's clock, granted only to the account's leader (the same script checks the
lease). Exact, as `callmon.engine.budget` is for one process: a provider counting "2 per minute" over a
sliding window never sees a third, whichever collector asks, across failovers.

While the engine cannot be reached (`offline = "split"`), each collector polls alone within a share of each
budget: floor(requests / N) for N collectors (as counted at the last contact), or, for a budget smaller than
N, one request per window for the first `requests` collectors by id and none for the rest. Each share starts
from the log as last read from the engine, so the sum stays within the budget; what was spent offline is
written to the engine's log before this collector asks for a lease again.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from callmon.engine.worker import Preempted
from callmon.providers import Budget
from callmon.team.connect import ENGINE_ERRORS, Engine
from callmon.team.keys import AccountKeys
from callmon.team.lease import Lease
from callmon.team.scripts import NOT_LEADER, Scripts


def slack(budget: Budget) -> float:
    """As the local windows: providers count from when a request arrives; this covers skew and the wire."""
    return min(1.0, budget.per * 0.02)


@dataclass
class Split:
    """Whether this collector polls alone now (engine unreachable), and its place among the collectors."""

    active: bool = False
    collectors: int = 1
    rank: int = 0
    over: asyncio.Event = field(default_factory=asyncio.Event)

    def share(self, requests: int) -> int:
        if requests >= self.collectors:
            return requests // self.collectors
        return 1 if self.rank < requests else 0

    def start(self) -> None:
        self.active = True
        self.over = asyncio.Event()

    def end(self) -> None:
        self.active = False
        self.over.set()


class _Window:
    """A local sliding window (monotonic seconds), seeded with requests already made."""

    def __init__(self, requests: int, per: float, seed: list[float]) -> None:
        self.requests = requests
        self.span = per
        self.times: deque[float] = deque(sorted(seed))

    def wait(self, now: float) -> float:
        while self.times and self.times[0] <= now - self.span:
            self.times.popleft()
        if len(self.times) < self.requests:
            return 0.0
        return self.times[0] + self.span - now


class TeamLimiter:
    """One account's budgets, for its workers on one collector (`callmon.engine.budget.Limiter`)."""

    _ids = itertools.count()

    def __init__(
        self,
        lease: Lease,
        keys: AccountKeys,
        budgets: Mapping[str, Budget],
        engine: Engine,
        scripts: Scripts,
        owner: str,
        split: Split,
    ) -> None:
        self.lease = lease
        self.keys = keys
        self.budgets = dict(budgets)
        self.engine = engine
        self.scripts = scripts
        self.owner = owner
        self.split = split
        self._locks = {kind: asyncio.Lock() for kind in self.budgets}
        self._open = asyncio.Lock()  # kinds with no budget still wait for the lease
        # Requests in each window as last known (monotonic): the engine's log as last read, and ours since.
        self.seen: dict[str, list[float]] = {kind: [] for kind in self.budgets}
        self._offline: dict[str, _Window] = {}
        self.offline_log: dict[str, list[tuple[str, int]]] = {kind: [] for kind in self.budgets}  # (id, wall ms)
        self.granted = 0
        self.refused = 0  # grants the engine refused because we no longer led

    def kind_of(self, kind: str) -> str | None:
        return kind if kind in self.budgets else ("default" if "default" in self.budgets else None)

    async def acquire(self, kind: str) -> None:
        name = self.kind_of(kind)
        async with self._locks[name] if name else self._open:
            while True:
                if self.split.active:
                    await self._alone(name)
                    return
                if not self.lease.usable():
                    raise Preempted(self.keys.name)
                if name is None:
                    return
                budget = self.budgets[name]
                request = f"{self.owner}:{next(self._ids)}"
                try:
                    granted, wait_ms = await self.scripts.budget(
                        keys=[self.keys.lease, self.keys.budget(name)],
                        args=[self.owner, budget.requests, round(budget.per * 1000), round(slack(budget) * 1000), request],
                    )
                except ENGINE_ERRORS:
                    raise Preempted(self.keys.name) from None  # the lease loop notices and says so
                if int(granted) == 1:
                    self.granted += 1
                    self.seen[name].append(time.monotonic())
                    return
                if int(granted) == NOT_LEADER:
                    self.refused += 1
                    raise Preempted(self.keys.name)
                await asyncio.sleep(max(0.01, min(int(wait_ms) / 1000, budget.per)))

    async def _alone(self, name: str | None) -> None:
        if name is None:
            return
        budget = self.budgets[name]
        share = self.split.share(budget.requests)
        if share == 0:
            await self.split.over.wait()  # another collector has this kind's share
            raise Preempted(self.keys.name)
        window = self._offline.get(name)
        if window is None:
            window = self._offline[name] = _Window(share, budget.per + slack(budget), self.seen[name])
        while True:
            if not self.split.active:
                raise Preempted(self.keys.name)
            delay = window.wait(time.monotonic())
            if delay <= 0:
                break
            over = asyncio.ensure_future(self.split.over.wait())
            await asyncio.wait([over], timeout=delay)
            over.cancel()
        now = time.monotonic()
        window.times.append(now)
        self.seen[name].append(now)
        self.offline_log[name].append((f"{self.owner}:{next(self._ids)}", round(time.time() * 1000)))

    def usage(self) -> dict[str, tuple[int, int, float]]:
        now = time.monotonic()
        out = {}
        for kind, budget in self.budgets.items():
            horizon = now - budget.per - slack(budget)
            times = [t for t in self.seen[kind] if t > horizon]
            self.seen[kind] = times
            out[kind] = (len(times), budget.requests, budget.per)
        return out

    # -- kept in step with the engine by the collector ---------------------------------------------------------

    def observe(self, kind: str, scores_ms: list[float], server_ms: float) -> None:
        """The engine's log for `kind` as just read (scores on the engine's clock at `server_ms`)."""
        if kind not in self.seen or self.split.active:
            return
        now = time.monotonic()
        self.seen[kind] = [now - (server_ms - score) / 1000 for score in scores_ms]

    async def write_offline(self) -> None:
        """What was spent offline, into the engine's log (before asking for the lease again)."""
        for kind, entries in self.offline_log.items():
            if not entries:
                continue
            budget = self.budgets[kind]
            span = math.ceil((budget.per + slack(budget)) * 1000)
            args: list[object] = [round(time.time() * 1000), span]
            for request, at in entries:
                args += [request, at]
            await self.scripts.note(keys=[self.keys.budget(kind)], args=args)
            entries.clear()
        self._offline.clear()
