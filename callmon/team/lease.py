"""Leases: one leader per account among the collectors, fenced, timed by the leader's own clock.

A leader counts its lease as valid until the moment its last successful renewal was *sent* plus the TTL, less
a margin: the engine started the TTL when it ran that renewal, later, so the leader has stopped before the
engine can hand the lease to anyone else, whether the engine froze, the network did, or the leader did. A
standby asks every 20 % of the TTL, and at once when a leader releases (the handover stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from callmon.team.connect import ENGINE_ERRORS, Engine, Refused, explain, still_running
from callmon.team.keys import AccountKeys, Keys
from callmon.team.scripts import Scripts, text
from callmon.team.settings import TeamSettings

log = logging.getLogger("callmon.team")


def stamp(wall: float) -> str:
    """A moment as logs give it: UTC to the millisecond (tests compare leaders' intervals by it)."""
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def wall_of(mono: float) -> float:
    return time.time() - (time.monotonic() - mono)


@dataclass
class Lease:
    name: str
    keys: AccountKeys
    fence: int = 0
    valid_until: float = 0.0  # monotonic; 0: not ours
    ready: bool = False  # caught up after taking it: workers may poll
    holder: str | None = None  # who holds it, as last seen
    blocked: str | None = None  # why we do not ask for it (the shared auth breaker)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def held(self, now: float | None = None) -> bool:
        return self.valid_until > (time.monotonic() if now is None else now)

    def usable(self) -> bool:
        return self.ready and self.held()

    def poke(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


class Leases:
    """Every account's lease for one collector. `on_gain(name)` runs (awaited) after a lease is taken and
    before workers may use it; `on_loss(name)` when it is given up or runs out."""

    def __init__(
        self,
        engine: Engine,
        blocking: Engine,
        scripts: Scripts,
        keys: Keys,
        settings: TeamSettings,
        owner: str,
        names: list[str],
        *,
        on_gain: Callable[[str], Awaitable[None]],
        on_loss: Callable[[str], None],
        on_round: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.engine = engine
        self.blocking = blocking
        self.scripts = scripts
        self.keys = keys
        self.settings = settings
        self.owner = owner
        self.leases = {name: Lease(name, keys.account(name)) for name in names}
        self.on_gain = on_gain
        self.on_loss = on_loss
        self.on_round = on_round
        self.last_contact = time.monotonic()
        self.reachable = True
        self.unreachable_since: float | None = None  # wall clock
        self.problem: str | None = None
        self._wake = asyncio.Event()
        self._rng = random.Random()
        self._stopping = False
        self._preparing: dict[str, asyncio.Task[None]] = {}
        # (account, fence, from, until) in wall-clock seconds, until None while it lasts: what the log says.
        self.intervals: list[list[Any]] = []

    def __getitem__(self, name: str) -> Lease:
        return self.leases[name]

    # -- the loop ---------------------------------------------------------------------------------------------

    async def run(self) -> None:
        handover = asyncio.create_task(self._handovers(), name="team-handover")
        try:
            while not self._stopping:
                await self.round()
                leading = any(lease.held() for lease in self.leases.values())
                delay = (
                    self.settings.renew_every
                    if leading
                    else self.settings.retry_every * self._rng.uniform(0.8, 1.0)
                )
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
        finally:
            handover.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await handover

    async def round(self) -> None:
        """Renew what we hold, ask for what we want, notice what ran out."""
        sent = time.monotonic()
        wanted = [lease for lease in self.leases.values() if not lease.blocked]
        try:
            if self.on_round is not None:
                await self.on_round()
            async with self.engine.pipeline(transaction=False) as pipe:
                for lease in wanted:
                    await self.scripts.acquire(
                        keys=[lease.keys.lease, lease.keys.fence],
                        args=[self.owner, int(self.settings.lease_ttl * 1000)],
                        client=pipe,
                    )
                replies = await pipe.execute(raise_on_error=True) if wanted else []
        except ENGINE_ERRORS as exc:
            still_running()
            self._unreachable(exc)
            self._expire()
            return
        if not self.reachable:
            log.warning("team engine %s reachable again", self.settings.shown)
        self.reachable, self.unreachable_since, self.problem = True, None, None
        self.last_contact = sent
        for lease, reply in zip(wanted, replies, strict=True):
            state = int(reply[0])
            if state in (1, 2):
                was = lease.held()
                lease.valid_until = sent + self.settings.lease_ttl - self.settings.margin
                lease.fence = int(reply[1])
                lease.holder = self.owner
                if not was:
                    now = time.time()
                    log.info("leads %s (fence %d) from %s", lease.name, lease.fence, stamp(now))
                    self.intervals.append([lease.name, lease.fence, now, None])
                    lease.ready = False
                if not lease.ready and lease.name not in self._preparing:
                    self._prepare_soon(lease)
            else:
                lease.holder = text(reply[1])
                if lease.held():
                    self._lost(lease, f"{lease.holder} holds it now")
        self._expire()

    def _unreachable(self, exc: BaseException) -> None:
        error = explain(exc, self.settings)
        if self.reachable or self.problem != str(error):
            log.warning("%s", error)
        if self.reachable:
            self.unreachable_since = time.time()
        self.reachable = False
        self.problem = str(error)
        if isinstance(error, Refused):
            self.problem = str(error)

    def _expire(self) -> None:
        now = time.monotonic()
        for lease in self.leases.values():
            if lease.valid_until and not lease.held(now):
                self._lost(lease, "not renewed in time (engine unreachable)")

    def _prepare_soon(self, lease: Lease) -> None:
        # Catching up can take a while (a big account's snapshot): the other leases are renewed meanwhile.
        task = asyncio.create_task(self._prepare(lease, lease.fence), name=f"team-gain:{lease.name}")
        self._preparing[lease.name] = task
        task.add_done_callback(lambda _: self._preparing.pop(lease.name, None))

    async def _prepare(self, lease: Lease, fence: int) -> None:
        try:
            await self.on_gain(lease.name)
        except ENGINE_ERRORS as exc:
            log.warning("%s: not ready to lead: %s", lease.name, explain(exc, self.settings))
            return
        if lease.held() and lease.fence == fence:
            lease.ready = True
            lease.poke()

    def _lost(self, lease: Lease, why: str) -> None:
        until = min(lease.valid_until, time.monotonic())
        for interval in self.intervals:
            if interval[0] == lease.name and interval[3] is None:
                interval[3] = wall_of(until)
        log.info("stopped leading %s (fence %d) at %s: %s", lease.name, lease.fence, stamp(wall_of(until)), why)
        lease.valid_until = 0.0
        lease.ready = False
        lease.poke()
        self.on_loss(lease.name)

    async def _handovers(self) -> None:
        """Wake the loop when any collector releases a lease (a clean stop): take it within one round trip."""
        last = "$"
        while True:
            try:
                reply = await self.blocking.xread({self.keys.handover: last}, count=10, block=1000)
            except ENGINE_ERRORS:
                still_running()
                await asyncio.sleep(self.settings.retry_every)
                continue
            for _, entries in reply or ():
                if entries:
                    last = text(entries[-1][0])
                    self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    # -- giving them up ---------------------------------------------------------------------------------------

    async def release(self, name: str, why: str) -> None:
        lease = self.leases[name]
        held = lease.held()
        if held:
            self._lost(lease, why)
        with contextlib.suppress(*ENGINE_ERRORS):
            await self.scripts.release(keys=[lease.keys.lease, self.keys.handover], args=[self.owner, name])

    async def release_all(self) -> None:
        """A clean stop: every lease we hold goes back at once, so standbys take over within a round trip."""
        self._stopping = True
        held = [lease for lease in self.leases.values() if lease.held()]
        for lease in held:
            self._lost(lease, "stopping")
        if not held:
            return
        try:
            async with self.engine.pipeline(transaction=False) as pipe:
                for lease in held:
                    await self.scripts.release(
                        keys=[lease.keys.lease, self.keys.handover], args=[self.owner, lease.name], client=pipe
                    )
                await pipe.execute()
        except ENGINE_ERRORS as exc:
            log.warning("leases not released (they run out within %gs): %s", self.settings.lease_ttl,
                        explain(exc, self.settings))  # fmt: skip
