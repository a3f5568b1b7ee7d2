"""One source's poller: adaptive scheduling inside the provider's budget, backoff, and an auth circuit breaker.

Each source's cycle is isolated: whatever it raises (a provider error, a bug on hostile input) is caught,
reported in its health in one scrubbed line, and backed off; other sources never notice. Every sleep and
window runs on the event loop's clock, so tests can run a worker on virtual time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping

import httpx

from callmon.crash import one_line
from callmon.engine.budget import Limiter, LocalLimiter
from callmon.health import SourceHealth, State
from callmon.model import Call, Status
from callmon.providers import ADAPTERS, Source
from callmon.providers.base import Adapter, Budget, Exchange
from callmon.providers.errors import AuthError, NotFoundYet, ProviderError, RateLimited
from callmon.store import CallStore, Key

BACKOFF_BASE = 2.0
BACKOFF_CAP = 300.0
# A call that vanished from the live list while its final record is not written yet is looked up this many
# times (each after `interval`) before we stop waiting for it.
CDR_PATIENCE = 12
log = logging.getLogger("callmon.engine")


class Preempted(Exception):
    """The source may not poll now (in team mode another collector leads its account, or this one lost the
    lease mid-cycle): the cycle stops where it is, without counting as an error, and the worker waits until
    it may poll again."""


async def _always() -> None:
    return None


def loop_time() -> float:
    """The running event loop's clock: monotonic, and virtual where a test runs the loop on virtual time."""
    return asyncio.get_running_loop().time()


def backoff(errors: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform(0.5, 1) x base x 2^(n-1), capped."""
    delay: float = min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** min(30, max(0, errors - 1)))
    jitter: float = (rng or random.Random()).uniform(0.5, 1.0)
    return delay * jitter


class SourceWorker:
    def __init__(
        self,
        source: Source,
        secrets: Mapping[str, str],
        client: httpx.AsyncClient,
        store: CallStore,
        *,
        clock: Callable[[], float] = loop_time,
        callback_url: str | None = None,
        budgets: Mapping[str, Budget] | None = None,
        limiter: Limiter | None = None,
        may_poll: Callable[[], Awaitable[None]] = _always,
    ) -> None:
        self.source = source
        self.store = store
        self.clock = clock
        self.callback_url = callback_url
        adapter_cls = ADAPTERS[source.provider]
        # `budgets` overrides the provider's documented ones (an account with a negotiated limit; tests);
        # `limiter` replaces the windows altogether (a team's shared ones).
        self.limiter: Limiter = limiter or LocalLimiter(budgets or adapter_cls.budgets, clock)
        # Waited on before each cycle: a team collector polls an account only while it holds its lease.
        self.may_poll = may_poll
        self.adapter: Adapter = adapter_cls(
            source,
            secrets,
            client,
            gate=self._gate,
            observe=self._observe,
            callback_url=callback_url,
            now=store.clock,  # the day to watch is the session's, as the times it records are
        )
        self.adapter.known = store.source_calls(source.name)
        self.health = SourceHealth(source.name, source.provider)
        self.interval = source.interval
        # With no active calls, lists are only for discovering new ones: a slower pace spends less budget.
        self.discovery_interval = source.interval * 6
        self._next_list = 0.0
        self._next_full = 0.0
        self._next_push_request = 0.0
        # Per-call state, for calls looked up one by one only; dropped when the call ends.
        self._next_poll: dict[str, float] = {}
        self._cdr_tries: dict[str, int] = {}
        self._blocked_until = 0.0
        self._wake = asyncio.Event()
        self._stopped_for_auth = False
        self._answered = 0  # requests that got an HTTP answer under 400 in the current cycle
        self._failed = 0  # and those that did not
        missing = self.missing_secrets()
        if missing:
            # Waits, without a single request, until resume() brings the secret.
            self._stopped_for_auth = True
            self.health.state = State.NO_CREDENTIALS
            self.health.message = f"no {missing[0]}"
        self._rng = random.Random()

    # -- control ----------------------------------------------------------------------------------------------

    def missing_secrets(self) -> list[str]:
        return [f for f in self.adapter.secret_fields if f not in self.adapter.secrets]

    def wake(self) -> None:
        self._wake.set()

    def resume(self, secrets: Mapping[str, str] | None = None) -> None:
        """Run again after an auth failure or with a secret it lacked (the user fixed the credential)."""
        if secrets is not None:
            self.adapter.secrets = secrets
        self._stopped_for_auth = bool(self.missing_secrets())
        if self._stopped_for_auth:
            return
        self.health.state = State.STARTING
        self.health.message = ""
        self.health.consecutive_errors = 0
        self._blocked_until = 0.0
        self._next_list = 0.0
        self._next_full = 0.0
        self.wake()

    # -- budget -----------------------------------------------------------------------------------------------

    async def _gate(self, kind: str) -> None:
        wait = self._blocked_until - self.clock()
        if wait > 0:
            await asyncio.sleep(wait)
        await self.limiter.acquire(kind)

    def _observe(self, exchange: Exchange) -> None:
        self.health.requests += 1
        self.health.latency_ms = round(exchange.seconds * 1000, 1)
        if exchange.status_code is not None and exchange.status_code < 400:
            self._answered += 1
            if self.health.state is State.STARTING:
                self.health.state = State.OK  # a long first cycle is still a working source
        else:
            self._failed += 1

    def health_now(self) -> SourceHealth:
        """A copy of the health, with the budget windows as they are this moment."""
        self.health.budget = self.limiter.usage()
        self.health.tracked = self.store.count(self.source.name)
        return self.health.snapshot()

    # -- the loop ---------------------------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            if self._stopped_for_auth:
                self._wake.clear()
                await self._wake.wait()
                continue
            await self.may_poll()
            delay = await self._cycle_once()
            self.health.next_poll = time.time() + delay
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def _cycle_once(self) -> float:
        """One cycle with its error handling; returns how long to sleep. Never raises (but cancellation)."""
        self._answered = self._failed = 0
        try:
            await self.cycle()
        except Preempted:
            return 0.0  # may_poll says when to go on
        except AuthError as exc:
            # Never retried automatically: Velip blocks the IP after repeated auth failures.
            self._stopped_for_auth = True
            self._failure(State.AUTH_FAILED, exc.message)
            return 0.0
        except RateLimited as exc:
            self.health.rate_limited += 1
            errors = self._failure(State.RATE_LIMITED, exc.message)
            wait = self._retry_wait(exc.retry_after, errors)
            self._blocked_until = self.clock() + wait
            self.health.until = time.time() + wait
            return wait
        except ProviderError as exc:
            return backoff(self._failure(State.RETRYING, str(exc)), self._rng)
        except Exception as exc:  # isolation: nothing a provider sends may stop this source or another
            log.warning("source %s: cycle failed: %s", self.source.name, one_line(exc), exc_info=True)
            return backoff(self._failure(State.RETRYING, one_line(exc)), self._rng)
        finally:
            self._take_notes()
        if self._answered == 0 and self.health.state is not State.STARTING:
            # Nothing was asked this cycle (every call is ended or not due yet): that proves nothing about the
            # provider, so the state stands, errors and all.
            return self.next_delay()
        self.health.consecutive_errors = 0
        self.health.state = State.OK
        self.health.message = ""
        self.health.until = None
        self.health.last_poll = time.time()
        return self.next_delay()

    def _failure(self, state: State, message: str) -> int:
        health = self.health
        health.consecutive_errors += 1
        health.state = state
        health.message = message
        health.last_error = time.time()
        return health.consecutive_errors

    def _retry_wait(self, retry_after: float | None, errors: int) -> float:
        """Retry-After, clamped to [1 s, the source's retry_after_max]; none usable: the backoff, which grows."""
        if retry_after is None:
            return backoff(errors, self._rng)
        return min(max(retry_after, 1.0), self.source.limits.retry_after_max)

    def _take_notes(self) -> None:
        adapter, health = self.adapter, self.health
        notes = []
        if adapter.cut_short:
            notes.append(adapter.cut_short)
        if adapter.skipped:
            health.skipped += adapter.skipped
            notes.append(f"{adapter.skipped:,} unreadable record(s) skipped: {adapter.skip_reason}")
            adapter.skipped = 0
        health.note = "; ".join(notes)

    def _mine(self) -> Mapping[str, Call]:
        return self.store.source_calls(self.source.name)

    def _active(self) -> set[str]:
        return self.store.active.get(self.source.name, set())

    async def cycle(self) -> None:
        now = self.clock()
        mine = self._mine()
        active = set(self._active())
        self.health.active = len(active)
        listed: set[str] = set()
        if self.adapter.has_list and now >= self._next_list:
            full = now >= self._next_full
            async for page in self.adapter.list_calls(full=full):
                listed.update(call.call_id for call in page)
                self.store.apply_all(page, "poll", owned=True)
            if full:
                self._next_full = self.clock() + self.discovery_interval
            self._next_list = self.clock() + (
                self.interval if self._any_active() else self.discovery_interval
            )
            # A live call that a full scan no longer shows has ended; its final record may be late.
            for cid in active - listed:
                self._cdr_tries.setdefault(cid, CDR_PATIENCE)
            soon = self.clock() + self.interval
            for cid in listed & self._cdr_tries.keys():
                self._next_poll[cid] = soon
        # Ended with no outcome yet (a pushed Disconnect, a live call gone quiet): look it up until it has one.
        for cid in self.store.unknown.get(self.source.name, ()):
            self._cdr_tries.setdefault(cid, CDR_PATIENCE)
        for cid in self._due(mine, listed):
            await self._lookup(cid)
        await self._ask_for_push(now)

    async def _ask_for_push(self, now: float) -> None:
        """Providers that deliver only when asked (CloudAgent's Campaign Dial Status): ask at their pace."""
        if self.callback_url is None or not self.adapter.requests_push or now < self._next_push_request:
            return
        self._next_push_request = now + max(self.interval, 6.0)  # its budget is 10/min
        await self.adapter.request_push(self.callback_url)

    def _any_active(self) -> bool:
        return bool(self._active())

    def _due(self, mine: Mapping[str, Call], listed: set[str]) -> list[str]:
        """Call ids to look up one by one now: configured targets not ended, and calls awaiting a late CDR."""
        now = self.clock()
        due: list[str] = []
        unseen: list[str] = []
        for cid in self.adapter.targets():
            call = mine.get(cid)
            if call is not None and call.ended:
                self._next_poll.pop(cid, None)
            elif self._next_poll.get(cid, 0.0) <= now:
                (unseen if call is None else due).append(cid)
        due += unseen  # live calls first: when the budget is short, calls not placed yet can wait
        for cid in list(self._cdr_tries):
            call = mine.get(cid)
            if call is not None and call.status.ended:
                del self._cdr_tries[cid]
                self._next_poll.pop(cid, None)
            elif cid not in listed and self._next_poll.get(cid, 0.0) <= now and cid not in due:
                due.append(cid)
        return due

    async def _lookup(self, call_id: str) -> None:
        seen = (self.source.name, call_id) in self.store.calls
        # A configured call not placed yet is asked about less often than one that is live.
        self._next_poll[call_id] = self.clock() + (self.interval if seen else self.interval * 3)
        try:
            call = await self.adapter.get_call(call_id)
        except NotFoundYet:
            tries = self._cdr_tries.get(call_id)
            if tries is not None:
                if tries <= 1:
                    del self._cdr_tries[call_id]
                    self._next_poll.pop(call_id, None)
                    self._give_up(call_id)
                else:
                    self._cdr_tries[call_id] = tries - 1
            return
        self.store.apply(call, "poll", owned=True)

    def _give_up(self, call_id: str) -> None:
        """The provider never wrote a final record: say so rather than show the call live forever."""
        key = (self.source.name, call_id)
        self.store.stop_waiting(key)
        call = self.store.get(key)
        if call is not None and call.status.active:
            self.store.apply(
                call.with_changes(status=Status.UNKNOWN, reason="ended; the provider wrote no final record"),
                "poll",
            )

    def next_delay(self) -> float:
        now = self.clock()
        candidates = [self._next_list - now] if self.adapter.has_list else []
        mine = self._mine()
        for cid in self.adapter.targets():
            call = mine.get(cid)
            if call is None or not call.ended:
                candidates.append(self._next_poll.get(cid, 0.0) - now)
        candidates += [self._next_poll.get(cid, 0.0) - now for cid in self._cdr_tries]
        if not candidates:
            return self.discovery_interval
        return max(0.05, min(candidates))

    async def detail(self, key: Key) -> Call | None:
        """Fetch everything the detail pane shows for one call, now (within the budget)."""
        call = self.store.get(key)
        if call is None:
            return None
        fresh = await self.adapter.get_detail(call)
        self.store.apply(fresh, "poll", owned=fresh is not call)
        return self.store.get(key)
