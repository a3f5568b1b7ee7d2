"""Putting the pieces together for a live session: HTTP client, store, history, engine."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from callmon import __version__
from callmon.alerts import AlertEvaluator, Rule
from callmon.config import Metrics as MetricsConfig
from callmon.config import Webhooks
from callmon.engine import Engine
from callmon.feed import Feed
from callmon.files import FileError
from callmon.heap import bulk
from callmon.history import Found, History, HistoryError
from callmon.providers import ADAPTERS, Budget, Source
from callmon.query import Query
from callmon.serve import bind, serving, url_of
from callmon.store import Call, CallStore
from callmon.team.settings import TeamSettings
from callmon.webhooks import Receiver, load_key, pushing_sources
from callmon.window import Window

SEARCH_LIMIT = 10_000  # calls a filter brings in from history at most (the newest of those that match)
FIRST_SCREENS = 500  # calls read back before the monitor's first frame: the newest, a few screens of them


@dataclass
class Loading:
    """History being read back while the session runs."""

    total: int
    done: int = 0

    @property
    def finished(self) -> bool:
        return self.done >= self.total

    def text(self) -> str | None:
        if self.finished:
            return None
        return f"loading history {min(99, 100 * self.done // max(1, self.total))} %"


@dataclass
class Session:
    store: CallStore
    engine: Feed  # the local Engine, or a team viewer's feed: the monitor and watch see only this
    sources: list[Source]
    problems: list[str] = field(default_factory=list)  # one line each, for the user
    receiver: Receiver | None = None
    loading: Loading = field(default_factory=lambda: Loading(0))
    history: History | None = None
    window: Window | None = None
    alerts: AlertEvaluator | None = None  # None: no [[alerts]] configured
    metrics: Any = None  # callmon.metrics.Metrics (imported when asked for); None: no --metrics
    metrics_url: str | None = None

    async def search_history(self, query: Query, limit: int = SEARCH_LIMIT) -> Found | None:
        """Calls past the window in memory (older than every call held) that the filter matches, from
        history; None when there is no history to search."""
        if self.history is None or not self.history.usable:
            return None
        found = await self.history.search(
            query, [s.name for s in self.sources], before=self.store.oldest(), limit=limit
        )
        found.calls = [c for c in found.calls if c.key not in self.store.calls]
        return found


@contextlib.asynccontextmanager
async def live_session(
    pairs: Sequence[tuple[Source, Mapping[str, str]]],
    *,
    problems: Sequence[str] = (),
    transport: httpx.AsyncBaseTransport | None = None,
    history_path: Path | None = None,
    retention_days: float = 7.0,
    tick_hz: float = 4.0,
    on_notice: Callable[[str], None] | None = None,
    clock: Callable[[], float] | None = None,
    webhooks: Webhooks | None = None,
    webhook_key: bytes | None = None,
    budgets: Mapping[str, Mapping[str, Budget]] | None = None,
    window: Window | None = None,
    alerts: Sequence[Rule] = (),
    metrics: MetricsConfig | None = None,
) -> AsyncIterator[Session]:
    """Open everything, start polling, and close it all (history flushed) on the way out."""
    store = CallStore(clock) if clock else CallStore()
    notes = list(problems)
    history: History | None = None
    names = [s.name for s, _ in pairs]
    loading = Loading(0)
    read_to: Call | None = None  # the oldest call read before the first frame
    since = -math.inf
    if window is not None:
        start = window.start(time.time(), [ADAPTERS[s.provider].zone(s) for s, _ in pairs])
        since = -math.inf if start is None else start
    limit = window.last if window is not None and window.last is not None else None
    if history_path is not None:
        history = History(history_path, retention_days=retention_days)
        try:
            await history.open_async()
            # The newest first, before the first frame; the rest of the window once the session runs.
            count = await asyncio.wrap_future(history.count_future(names, since=since))
            loading = Loading(count if limit is None else min(count, limit))
            newest = await history.read(min(FIRST_SCREENS, loading.total), names, since=since)
            for call in reversed(newest):
                store.load(call)
            loading.done = len(newest)
            read_to = newest[-1] if newest else None
            if history.read_only:
                notes.append(
                    f"history {history_path} is written by another callmon (pid {history.shared_with}): "
                    "this one shows it but records nothing"
                )
            if history.migrated:
                notes.append(
                    f"history {history_path}: {history.migrated:,} calls moved over to this version's format"
                )
        except HistoryError as exc:
            notes.append(str(exc))
            history = None
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, headers={"User-Agent": f"callmon/{__version__}"})
        )
        receiver = await _start_receiver(stack, pairs, store, webhooks, webhook_key, notes)
        engine = Engine(store, client, history=history, tick_hz=tick_hz, on_notice=on_notice, window=window)
        for source, secrets in pairs:
            engine.add(
                source,
                secrets,
                callback_url=receiver.url_for(source.name) if receiver else None,
                budgets=(budgets or {}).get(source.name),
            )
        await engine.start()
        session = Session(store, engine, [s for s, _ in pairs], notes, receiver, loading, history, window)
        tasks = []
        if alerts:
            session.alerts = AlertEvaluator(alerts, engine.health, clock or time.time)
            session.alerts.attach(store)
            tasks.append(asyncio.create_task(_evaluate_alerts(session.alerts), name="alerts"))
        if metrics is not None and metrics.listen:
            await _start_metrics(stack, session, metrics)
        if history is not None:
            if not loading.finished:
                tasks.append(asyncio.create_task(_stream_history(history, session, names, read_to, since, limit)))
            tasks.append(asyncio.create_task(_prune_history(history)))
        try:
            yield session
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await engine.stop()


PRUNE_EVERY = 3600.0  # seconds between retention prunes while a session runs
ALERTS_EVERY = 1.0  # seconds between evaluations of the alert rules


async def _evaluate_alerts(alerts: AlertEvaluator) -> None:
    """The alert rules, once a second, for as long as the session runs: in the engine's process, whatever
    shows them (the monitor's banner, `watch --alerts`, metrics)."""
    while True:
        await asyncio.sleep(ALERTS_EVERY)
        try:
            alerts.evaluate()
        except Exception:  # a bug in one evaluation must not end alerting for the session
            logging.getLogger("callmon.alerts").exception("alert evaluation failed")


async def _prune_history(history: History) -> None:
    """Calls past retention_days leave the file soon after start, then hourly, a bounded batch at a time on
    the history's thread (the event loop never waits on it)."""
    await asyncio.sleep(5.0)  # after the start-up reads, which matter more
    while True:
        try:
            await history.prune()
        except HistoryError:
            return
        await asyncio.sleep(PRUNE_EVERY)


async def _stream_history(
    history: History, session: Session, names: list[str], after: Call | None, since: float, limit: int | None
) -> None:
    """The rest of the history, newest first, a batch at a time, into the running session's store and to its
    subscribers (as "loaded" changes: shown, not announced)."""
    try:
        # Built once for the session, held for long: frozen once read (see callmon.heap).
        with bulk(keep=True):
            left = None if limit is None else limit - session.loading.done
            async for batch in history.stream(names, after=after, since=since, limit=left):
                changes = session.store.load_batch(batch)
                session.loading.done += len(batch)
                if changes:
                    session.store.deliver(changes)
    except HistoryError as exc:
        session.problems.append(str(exc))
    finally:
        session.loading.done = session.loading.total


async def _start_metrics(stack: contextlib.AsyncExitStack, session: Session, config: MetricsConfig) -> None:
    """Serve /metrics and /healthz in this event loop (the numbers are read where they are kept)."""
    address = config.address
    assert address is not None
    try:
        sock = bind(*address)
    except OSError as exc:
        session.problems.append(f"metrics: cannot listen on {config.listen}: {exc.strerror or exc}")
        return
    from callmon.metrics import Metrics
    from callmon.metrics import app as metrics_app

    engine = session.engine
    metrics = Metrics(session.store, engine.health, session.alerts, config.campaigns)
    session.metrics = metrics
    session.metrics_url = url_of(sock)
    await stack.enter_async_context(serving(metrics_app(metrics), sock))


async def _start_receiver(
    stack: contextlib.AsyncExitStack,
    pairs: Sequence[tuple[Source, Mapping[str, str]]],
    store: CallStore,
    webhooks: Webhooks | None,
    key: bytes | None,
    notes: list[str],
) -> Receiver | None:
    """Serve the webhook receiver in this event loop when [webhooks] listen is configured."""
    if webhooks is None or not webhooks.listen:
        return None
    sources = pushing_sources({s.name: s for s, _ in pairs})
    if not sources:
        return None
    host, _, port = webhooks.listen.rpartition(":")
    try:
        sock = bind(host.strip("[]"), int(port))
    except OSError as exc:
        notes.append(f"webhooks: cannot listen on {webhooks.listen}: {exc.strerror or exc}; polling only")
        return None
    try:
        key = key or load_key()
    except FileError as exc:
        sock.close()
        notes.append(f"webhooks: {exc}; polling only")
        return None
    receiver = Receiver(sources, key, lambda call: store.apply(call, "push", owned=True), webhooks.public_url)
    receiver.address = url_of(sock)
    await stack.enter_async_context(serving(receiver.app(), sock))
    consumer = asyncio.create_task(receiver.run(), name="webhook-receiver")

    async def stop() -> None:
        # Before the server stops (this runs first): deliveries still arriving are answered 503, what is
        # queued is stored for a bounded time, and what is left is counted in one line, never waited for.
        await receiver.stop(consumer)

    stack.push_async_callback(stop)
    return receiver


def team_history_path(settings: TeamSettings) -> Path:
    """A viewer's offline cache of one team's calls: a history file of its own beside the local one."""
    from callmon.history import default_path

    digest = hashlib.sha256(f"{settings.shown}\0{settings.prefix}".encode()).hexdigest()[:10]
    return default_path().with_name(f"team-{digest}.sqlite3")


@contextlib.asynccontextmanager
async def team_session(
    settings: TeamSettings,
    password: str | None,
    *,
    history_path: Path | None = None,
    retention_days: float = 7.0,
    tick_hz: float = 4.0,
    on_notice: Callable[[str], None] | None = None,
    alerts: Sequence[Rule] = (),
    metrics: MetricsConfig | None = None,
) -> AsyncIterator[Session]:
    """A team viewer's session: the store fed from the engine (no provider secrets, no polling). With the
    engine unreachable, the local cache's last state is shown and the engine tried again. Alerts are evaluated
    and metrics served here, in the viewer, on the calls the engine shares."""
    from callmon.team.viewer import TeamFeed

    store = CallStore()
    notes: list[str] = []
    history: History | None = None
    if history_path is not None:
        history = History(history_path, retention_days=retention_days)
        try:
            history.open()
            if history.read_only:
                notes.append(
                    f"history {history_path} is written by another callmon (pid {history.shared_with})"
                )
                history.close()
                history = None
        except HistoryError as exc:
            notes.append(str(exc))
            history = None
    feed = TeamFeed(settings, password, store, history=history, tick_hz=tick_hz, on_notice=on_notice)
    await feed.start()
    if not feed.reachable:
        if feed.problem:
            notes.append(f"{feed.problem}: showing the last state kept here")
        if history is not None:
            await history.load(store)
    session = Session(store, feed, [], notes, None, Loading(0))
    tasks: list[asyncio.Task[None]] = []
    try:
        async with contextlib.AsyncExitStack() as stack:
            if alerts:
                session.alerts = AlertEvaluator(alerts, feed.health)
                session.alerts.attach(store)
                tasks.append(asyncio.create_task(_evaluate_alerts(session.alerts), name="alerts"))
            if metrics is not None and metrics.listen:
                await _start_metrics(stack, session, metrics)
            yield session
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await feed.stop()
