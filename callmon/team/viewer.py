"""A team viewer's feed (`callmon --team URL`, `watch --team URL`): the `Feed` the monitor and `watch` use,
filled from the engine instead of from providers. It holds no provider secrets and polls nothing; a detail
(a transcript) is asked of the account's leader through the request stream, within the shared budget.

When the engine cannot be reached the store keeps what it had (and, at start, what the local history cache
had), the header says since when, and the reader tries again with backoff; it resumes from where it was, or
loads everything again when it cannot (see `callmon.team.follow`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping

from callmon.crash import one_line
from callmon.feed import CredentialNeed
from callmon.health import SourceHealth, State
from callmon.history import History, HistoryError
from callmon.model import Call
from callmon.store import CallStore, Change, Key
from callmon.team import health as team_health
from callmon.team.connect import ENGINE_ERRORS, EngineError, Refused, check, connect, explain, still_running
from callmon.team.follow import Follower, codec_text
from callmon.team.keys import Keys
from callmon.team.settings import TeamSettings

log = logging.getLogger("callmon.team")
BLOCK_MS = 2000
BACKOFF_CAP = 10.0
DETAIL_WAIT = 15.0
# After a read that found changes, let more gather this long: a viewer shows them on its next tick (4 a
# second) anyway, and each read is two round trips.
PACE = 0.025
CACHE_BATCH = 5000


class TeamFeed:
    def __init__(
        self,
        settings: TeamSettings,
        password: str | None,
        store: CallStore,
        *,
        history: History | None = None,
        tick_hz: float = 4.0,
        on_notice: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.history = history
        self.tick_hz = tick_hz
        self.on_notice = on_notice
        self.keys = Keys(settings.prefix)
        self.engine = connect(settings, password)
        self.blocking = connect(settings, password, blocking=BLOCK_MS / 1000)
        self.follower = Follower(self.blocking, self.keys, store, self._arrived)
        self.version: str | None = None
        self.reachable = False
        self.unreachable_since: float | None = time.time()
        self.problem: str | None = None
        self.attempts = 0
        self._pending: dict[Key, Change] = {}
        self._healths: dict[str, SourceHealth] = {}
        self._leaders: dict[str, str | None] = {}
        self._providers: dict[str, str] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._waiting: dict[Key, asyncio.Event] = {}
        self._rng = random.Random()
        # Loops also stop on this: a cancel that races the client's own read timeout can be swallowed.
        self._closing = False

    # -- starting and stopping --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Load what the engine has (Refused, one line, when it refuses us: a wrong password, TLS, ACL); an
        engine that does not answer is not an error here: the last state is shown and it is tried again."""
        try:
            self.follower.announce_loads = False  # the first load is what the monitor opens with, not news
            await self._connect()
            self._pending.clear()
        except Refused:
            raise
        except EngineError as exc:
            self._down(exc)
        self.follower.announce_loads = True
        self._tasks = [
            asyncio.create_task(self._cache(), name="team-cache"),
            asyncio.create_task(self._read(), name="team-read"),
            asyncio.create_task(self._watch_health(), name="team-health"),
            asyncio.create_task(self._ticker(), name="team-tick"),
        ]

    async def _connect(self) -> None:
        try:
            self.version = await check(self.engine, self.settings)
            await self.follower.check_epoch()
            await self._discover()
            for name in list(self.follower.accounts):
                await self.follower.load(name)
            await self._read_health()
        except ENGINE_ERRORS as exc:
            raise explain(exc, self.settings) from None
        self._up()

    async def _cache(self) -> None:
        """What the first load brought, into the local history (the offline cache), off the event loop's
        way: a few thousand calls at a time."""
        if self.history is None or not self.reachable:
            return
        calls = list(self.store.calls.items())
        for start in range(0, len(calls), CACHE_BATCH):
            batch = [Change(key, call, None, "loaded", "history") for key, call in calls[start : start + CACHE_BATCH]]
            try:
                await self.history.write(batch)
            except HistoryError as exc:
                self.history = None
                self._notice(f"{exc}; carrying on in memory")
                return

    async def _discover(self) -> None:
        providers = await self.engine.hgetall(self.keys.accounts)
        self._providers = {codec_text(k): codec_text(v) for k, v in providers.items()}
        self.follower.follow(sorted(self._providers))

    async def stop(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=BLOCK_MS / 1000 + self.settings.timeout + 1)
        self._tasks.clear()
        await self.tick()
        if self.history is not None:
            with contextlib.suppress(Exception):
                self.history.close()
        for engine in (self.engine, self.blocking):
            with contextlib.suppress(*ENGINE_ERRORS):
                await engine.aclose()

    # -- reading ----------------------------------------------------------------------------------------------

    async def _read(self) -> None:
        while not self._closing:
            if not self.reachable:
                await asyncio.sleep(min(BACKOFF_CAP, 0.5 * 2 ** min(self.attempts, 5)) * self._rng.uniform(0.7, 1))
                self.attempts += 1
                try:
                    await self.follower.resume()
                    await self._connect()
                except Refused as exc:
                    still_running()
                    self._down(exc)
                except (EngineError, *ENGINE_ERRORS) as exc:  # type: ignore[misc]
                    still_running()
                    self._down(exc)
                continue
            try:
                await self.follower.read(BLOCK_MS, PACE)
            except ENGINE_ERRORS as exc:
                still_running()
                self._down(explain(exc, self.settings))
            except Exception as exc:  # a bug on one entry must not stop every update: load again
                still_running()
                log.warning("team: reading the engine failed: %s", one_line(exc), exc_info=True)
                self._down(exc)

    def _up(self) -> None:
        if not self.reachable and self.problem is not None:
            self._notice(f"team engine {self.settings.shown} reachable again")
        self.reachable, self.unreachable_since, self.problem, self.attempts = True, None, None, 0

    def _down(self, exc: BaseException) -> None:
        error = explain(exc, self.settings)
        if self.reachable or self.problem is None:
            self.unreachable_since = time.time()
            self._notice(f"{error}: showing the last state")
        self.reachable = False
        self.problem = str(error)

    def _notice(self, message: str) -> None:
        if self.on_notice is not None:
            self.on_notice(message)
        else:
            log.warning("%s", message)

    def _arrived(self, batch: list[Change]) -> None:
        for change in batch:
            earlier = self._pending.get(change.key)
            self._pending[change.key] = change if earlier is None else earlier.then(change)
            waiting = self._waiting.pop(change.key, None)
            if waiting is not None:
                waiting.set()

    async def _ticker(self) -> None:
        while not self._closing:
            await asyncio.sleep(1.0 / self.tick_hz)
            await self.tick()

    async def tick(self) -> list[Change]:
        """Hand what arrived to subscribers, once per tick (history first, as the local engine does)."""
        if not self._pending:
            return []
        batch = list(self._pending.values())
        self._pending = {}
        if self.history is not None:
            try:
                await self.history.write(batch)
            except HistoryError as exc:
                self.history = None
                self._notice(f"{exc}; carrying on in memory")
        try:
            self.store.deliver(batch)
        except Exception:  # a subscriber's bug must not stop every update
            log.exception("a subscriber failed on a batch of %d changes", len(batch))
        return batch

    # -- health -----------------------------------------------------------------------------------------------

    async def _watch_health(self) -> None:
        while not self._closing:
            await asyncio.sleep(1.0)
            if not self.reachable:
                continue
            try:
                if len(self._providers) != len(self.follower.accounts) or self.attempts == 0:
                    await self._discover()
                await self._read_health()
            except ENGINE_ERRORS:
                still_running()

    async def _read_health(self) -> None:
        names = list(self.follower.accounts)
        async with self.engine.pipeline(transaction=False) as pipe:
            for name in names:
                keys = self.keys.account(name)
                pipe.get(keys.health)
                pipe.get(keys.lease)
                pipe.get(keys.auth)
            replies = await pipe.execute()
        for i, name in enumerate(names):
            raw, holder, breaker = replies[3 * i : 3 * i + 3]
            provider = self._providers.get(name, "?")
            health = SourceHealth(name, provider)
            if raw:
                health = team_health.load(raw)[0]
                health.name, health.provider = name, provider
            leader = codec_text(holder) if holder else None
            if breaker:
                _fp, _when, host = team_health.read_breaker(codec_text(breaker))
                health.state = State.AUTH_FAILED
                health.message = f"secret rejected by the provider (on {host}); set a new one on the collectors"
            elif leader is None:
                health.state = State.ERROR
                health.message = "no collector leads this account (is `callmon serve` running?)"
            self._healths[name] = health
            self._leaders[name] = leader

    # -- the Feed ---------------------------------------------------------------------------------------------

    def health(self) -> list[SourceHealth]:
        out = []
        for name in self.follower.accounts:
            health = self._healths.get(name) or SourceHealth(name, self._providers.get(name, "?"))
            health = health.snapshot()
            health.tracked = self.store.count(name)
            if not self.reachable:
                health.state = State.ERROR
                health.message = self.problem or "team engine unreachable"
            out.append(health)
        return out

    def credentials_needed(self) -> list[CredentialNeed]:
        return []  # a viewer holds no provider secrets: the collectors do

    def set_secret(self, source: str, field: str, secret: str) -> None:
        self._notice(f"a team viewer keeps no secrets: run `callmon auth set {source}` on the collectors")

    def retry(self, source: str, secrets: Mapping[str, str] | None = None) -> bool:
        return False

    async def detail(self, key: Key) -> Call | None:
        """Ask the account's leader for the call's detail; wait (a while) for it to be published."""
        if not self.reachable or key[0] not in self.follower.accounts:
            return self.store.get(key)
        event = self._waiting.setdefault(key, asyncio.Event())
        try:
            await self.engine.xadd(
                self.keys.account(key[0]).requests, {"k": key[1]}, maxlen=1000, approximate=True
            )
        except ENGINE_ERRORS as exc:
            self._notice(f"{key[0]}: detail not asked: {explain(exc, self.settings)}")
            return self.store.get(key)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), DETAIL_WAIT)
        return self.store.get(key)

    def status(self) -> str | None:
        if not self.reachable:
            since = time.strftime("%H:%M:%S", time.localtime(self.unreachable_since or time.time()))
            retrying = f", retrying ({self.attempts})" if self.attempts else ""
            return f"team: engine unreachable since {since}{retrying}: last state shown"
        hosts: dict[str, int] = {}
        leaderless = []
        for name in self.follower.accounts:
            leader = self._leaders.get(name)
            if leader is None:
                leaderless.append(name)
            else:
                host = leader.split(":", 1)[0]
                hosts[host] = hosts.get(host, 0) + 1
        parts = [f"team {self.settings.shown}"]
        if hosts:
            parts.append("led by " + ", ".join(f"{h} ({n})" for h, n in sorted(hosts.items())))
        if leaderless:
            parts.append("no leader: " + ", ".join(leaderless))
        return " · ".join(parts)

    def leaders(self) -> dict[str, str | None]:
        return dict(self._leaders)
