"""The poll engine: one worker per source, the store's change ticker, and history writes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping

import httpx

from callmon.engine.worker import SourceHealth, SourceWorker, State
from callmon.history import History, HistoryError
from callmon.model import Call
from callmon.providers import Budget, Source
from callmon.providers.errors import ProviderError
from callmon.store import CallStore, Change, Key

__all__ = ["Engine", "SourceHealth", "SourceWorker", "State"]

log = logging.getLogger("callmon.engine")


class Engine:
    def __init__(
        self,
        store: CallStore,
        client: httpx.AsyncClient,
        *,
        history: History | None = None,
        tick_hz: float = 4.0,
        on_notice: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.history = history
        self.tick_hz = tick_hz
        self.workers: dict[str, SourceWorker] = {}
        self.notices: list[str] = []
        self._on_notice = on_notice
        self._tasks: list[asyncio.Task[None]] = []

    def add(
        self,
        source: Source,
        secrets: Mapping[str, str],
        *,
        callback_url: str | None = None,
        budgets: Mapping[str, Budget] | None = None,
    ) -> SourceWorker:
        worker = SourceWorker(
            source, secrets, self.client, self.store, callback_url=callback_url, budgets=budgets
        )
        self.workers[source.name] = worker
        if self._tasks:
            self._tasks.append(asyncio.create_task(worker.run(), name=f"poll:{source.name}"))
        return worker

    def notice(self, message: str) -> None:
        self.notices.append(message)
        if self._on_notice is not None:
            self._on_notice(message)

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._ticker(), name="ticker"))
        for name, worker in self.workers.items():
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

    def health(self) -> list[SourceHealth]:
        for worker in self.workers.values():
            worker._refresh_budget()
        return [w.health for w in self.workers.values()]

    def resume(self, name: str, secrets: Mapping[str, str] | None = None) -> None:
        self.workers[name].resume(secrets)

    async def detail(self, key: Key) -> Call | None:
        """Fetch the detail pane's data (transcript...) for one call; errors become notices."""
        worker = self.workers.get(key[0])
        if worker is None:
            return self.store.get(key)
        try:
            return await worker.detail(key)
        except ProviderError as exc:
            self.notice(f"{key[0]}: detail for {key[1]}: {exc}")
            return self.store.get(key)

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
        self.store.deliver(batch)
        return batch

    async def _ticker(self) -> None:
        period = 1.0 / self.tick_hz
        while True:
            await asyncio.sleep(period)
            await self.tick()
