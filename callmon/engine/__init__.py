"""The poll engine: one worker per source, the store's change ticker, and history writes.

`Engine` is the local implementation of `callmon.feed.Feed`: the monitor, `watch` and metrics see only that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from operator import attrgetter

import httpx

from callmon.crash import one_line
from callmon.engine.worker import SourceWorker
from callmon.feed import CredentialNeed
from callmon.health import SourceHealth, State
from callmon.history import History, HistoryError
from callmon.model import Call
from callmon.providers import ADAPTERS, Budget, Source
from callmon.store import CallStore, Change, Key
from callmon.window import Window

__all__ = ["CredentialNeed", "Engine", "SourceHealth", "State"]

log = logging.getLogger("callmon.engine")
EVICT_EVERY = 60.0  # seconds between passes over the store for calls that left the window
EVICT_SLICE = 20_000  # calls looked at per tick during a pass: a pass never holds the loop up for long


class Engine:
    def __init__(
        self,
        store: CallStore,
        client: httpx.AsyncClient,
        *,
        history: History | None = None,
        tick_hz: float = 4.0,
        on_notice: Callable[[str], None] | None = None,
        window: Window | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.history = history
        self.tick_hz = tick_hz
        # Calls past the window leave memory (history keeps them); None keeps every call.
        self.window = window
        self._pass: list[Key] = []
        self._pass_cutoff = 0.0
        self._next_pass = 0.0
        self._workers: dict[str, SourceWorker] = {}
        self._on_notice = on_notice
        self._tasks: list[asyncio.Task[None]] = []

    def add(
        self,
        source: Source,
        secrets: Mapping[str, str],
        *,
        callback_url: str | None = None,
        budgets: Mapping[str, Budget] | None = None,
    ) -> None:
        worker = SourceWorker(
            source, secrets, self.client, self.store, callback_url=callback_url, budgets=budgets
        )
        self._workers[source.name] = worker
        if self._tasks:
            self._tasks.append(asyncio.create_task(worker.run(), name=f"poll:{source.name}"))

    def notice(self, message: str) -> None:
        if self._on_notice is not None:
            self._on_notice(message)

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._ticker(), name="ticker"))
        for name, worker in self._workers.items():
            self._tasks.append(asyncio.create_task(worker.run(), name=f"poll:{name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.tick()  # what arrived since the last tick is saved and shown too
        if self.history is not None:
            with contextlib.suppress(Exception):
                self.history.close()

    # -- the Feed -----------------------------------------------------------------------------------------------

    def sources(self) -> list[Source]:
        return [w.source for w in self._workers.values()]

    def health(self) -> list[SourceHealth]:
        return [w.health_now() for w in self._workers.values()]

    def credentials_needed(self) -> list[CredentialNeed]:
        needs = []
        for worker in self._workers.values():
            state = worker.health.state
            if state not in (State.NO_CREDENTIALS, State.AUTH_FAILED):
                continue
            fields = worker.missing_secrets() or list(worker.adapter.secret_fields)
            needs.append(CredentialNeed(worker.source.name, fields[0], worker.health.message or state.value))
        return needs

    def set_secret(self, source: str, field: str, secret: str) -> None:
        worker = self._workers.get(source)
        if worker is not None:
            worker.resume({**worker.adapter.secrets, field: secret})

    def retry(self, source: str, secrets: Mapping[str, str] | None = None) -> bool:
        worker = self._workers.get(source)
        if worker is None:
            return False
        worker.resume({**worker.adapter.secrets, **(secrets or {})})
        return not worker.missing_secrets()

    async def detail(self, key: Key) -> Call | None:
        worker = self._workers.get(key[0])
        if worker is None:
            return self.store.get(key)
        try:
            return await worker.detail(key)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a hostile detail payload costs the detail, never the app
            self.notice(f"{key[0]}: detail for {key[1]}: {one_line(exc)}")
            return self.store.get(key)

    def status(self) -> str | None:
        return None  # polling here: each source's health says everything

    # -- ticks ------------------------------------------------------------------------------------------------

    async def tick(self) -> list[Change]:
        """Apply one tick: commit the pending batch to history first, then hand it to subscribers, so that
        nothing a user has seen (or `watch` has printed) can be missing from history after a crash."""
        batch = self.store.take()
        if not batch:
            return batch
        if self.history is not None:
            try:
                await self.history.write(batch)
            except HistoryError as exc:
                self.history = None
                self.notice(f"{exc}; carrying on in memory")
        try:
            self.store.deliver(batch)
        except Exception:  # a subscriber's bug must not stop the ticker (and with it every update)
            log.exception("a subscriber failed on a batch of %d changes", len(batch))
        return batch

    async def _ticker(self) -> None:
        period = 1.0 / self.tick_hz
        while True:
            await asyncio.sleep(period)
            await self.tick()
            if self.window is not None:
                await self.evict_some()

    async def evict_some(self, now: float | None = None) -> list[Change]:
        """One slice of a pass over the store for calls that left the window; a pass starts every
        EVICT_EVERY seconds. The changes (kind "evicted") go to subscribers; history already has the calls."""
        window = self.window
        if window is None:
            return []
        now = time.time() if now is None else now
        if not self._pass:
            if now < self._next_pass:
                return []
            self._next_pass = now + EVICT_EVERY
            calls = self.store.calls
            if window.last is not None:
                if len(calls) <= window.last:
                    return []
                firsts = list(map(attrgetter("first_seen"), calls.values()))
                # The newest `last` stay: the cutoff is the first-seen time of the one just past them.
                self._pass_cutoff = await asyncio.to_thread(_nth_newest, firsts, window.last)
            else:
                zones = [ADAPTERS[w.source.provider].zone(w.source) for w in self._workers.values()]
                self._pass_cutoff = window.start(now, zones) or now
            self._pass = list(calls)
        cutoff = self._pass_cutoff
        chunk, self._pass = self._pass[:EVICT_SLICE], self._pass[EVICT_SLICE:]
        calls = self.store.calls
        gone = [k for k in chunk if (c := calls.get(k)) is not None and c.first_seen < cutoff]
        changes = self.store.evict(gone)
        if changes:
            self.store.deliver(changes)
        return changes


def _nth_newest(firsts: list[float], n: int) -> float:
    firsts.sort(reverse=True)
    return firsts[n - 1] if n <= len(firsts) else float("-inf")
