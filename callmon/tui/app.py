"""The monitor app: runs the session (engine, store, history) in one worker, installs the main screen, and
owns every file the monitor writes (recent filters, exports, the chosen columns) and every error path.

The store's change batches reach the app as messages, once per tick. Widgets only render. Nothing that goes
wrong may print a traceback (which can hold a request's Authorization header in its local variables): an
unexpected error ends the app with one line naming a private log file that holds the scrubbed traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import RenderableType
from rich.text import Text
from textual._compositor import ChopsUpdate
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen

from callmon import crash, output
from callmon.alerts import AlertEvent
from callmon.files import FileError, write_private
from callmon.model import Call
from callmon.runtime import Session
from callmon.store import Change, Key
from callmon.tui.chops import SpanUpdate
from callmon.tui.detail import DetailScreen
from callmon.tui.monitor import MonitorScreen, Settings
from callmon.tui.panels import HealthScreen
from callmon.webhooks import Receiver

Opener = Callable[[Callable[[str], None]], AbstractAsyncContextManager[Session]]
RECENT_MAX = 20


@dataclass
class ChangesArrived(Message):
    batch: list[Change]


@dataclass
class SessionReady(Message):
    session: Session


@dataclass
class SessionFailed(Message):
    line: str


@dataclass
class Notice(Message):
    text: str


@dataclass
class AlertsArrived(Message):
    events: list[AlertEvent]


class CallmonApp(App[int]):
    TITLE = "callmon"
    # ctrl+c quits at once, as q does: over SSH it is what a person presses, and Textual's own answer to it
    # ("press ctrl+q") reads as if nothing happened.
    BINDINGS = [Binding("ctrl+c", "quit", "Quit", show=False, priority=True)]

    def __init__(
        self,
        opener: Opener,
        *,
        initial_filter: str = "",
        title: str = "callmon",
        clock: Callable[[], float] = time.time,
        recent_path: Path | None = None,
        export_dir: Path | None = None,
        settings: Settings | None = None,
        config_path: Path | None = None,
        resolve_secrets: Callable[[str], dict[str, str]] | None = None,
    ) -> None:
        super().__init__()
        self.opener = opener
        self.clock = clock
        self.title = title
        self.recent_path = recent_path
        self.export_dir = export_dir or Path.cwd()
        self.config_path = config_path
        self.resolve_secrets = resolve_secrets
        self.recent = self._load_recent()
        self.session: Session | None = None
        self.failure: str | None = None
        self.settings = settings or Settings(initial_filter=initial_filter)
        if initial_filter and not self.settings.initial_filter:
            self.settings.initial_filter = initial_filter
        self.monitor = MonitorScreen(self.settings, clock)

    def get_default_screen(self) -> Screen[Any]:
        return self.monitor

    def _display(self, screen: Screen[Any], renderable: RenderableType | None) -> None:
        # A partial frame writes each changed span from its own start, not from its widget's left edge (see
        # callmon/tui/chops.py): a changed cell costs its own bytes wherever its column is.
        if type(renderable) is ChopsUpdate:
            renderable = SpanUpdate.of(renderable)
        super()._display(screen, renderable)

    @property
    def view(self) -> Any:
        return self.monitor.view

    @property
    def table(self) -> Any:
        return self.monitor.table

    def on_mount(self) -> None:
        self.run_worker(self._run_session(), name="session", exit_on_error=False)
        self.set_interval(1.0, self._each_second)

    async def _run_session(self) -> None:
        def notice(text: str) -> None:
            self.post_message(Notice(text))

        try:
            async with self.opener(notice) as session:

                def deliver(batch: list[Change]) -> None:
                    self.post_message(ChangesArrived(batch))

                session.store.subscribe(deliver)

                def alerted(events: list[AlertEvent]) -> None:
                    self.post_message(AlertsArrived(events))

                if session.alerts is not None:
                    session.alerts.subscribe(alerted)
                self.post_message(SessionReady(session))
                await asyncio.Event().wait()  # until the app exits and cancels this worker
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the monitor stays up to say so, rather than show nothing and say nothing
            self.post_message(SessionFailed(crash.report(exc, "the session")))

    # -- messages from the session ----------------------------------------------------------------------------

    def on_session_ready(self, message: SessionReady) -> None:
        self.session = message.session
        self.monitor.session_ready()
        problems = message.session.problems
        if message.session.metrics_url:
            self.notify(
                f"serving /metrics and /healthz on {message.session.metrics_url}", timeout=8, markup=False
            )
        if problems:
            # One notice, however many sources lack a secret; the health panel (h) has each one's reason.
            first = problems[0] if len(problems) == 1 else f"{problems[0]} (and {len(problems) - 1} more: h)"
            self.notify(first, severity="warning", timeout=12, markup=False)

    def on_session_failed(self, message: SessionFailed) -> None:
        self.failure = message.line
        self.notify(message.line, severity="error", timeout=30, markup=False)
        self.monitor.show_health()

    def on_notice(self, message: Notice) -> None:
        self.notify(message.text, severity="warning", timeout=8, markup=False)

    def on_alerts_arrived(self, message: AlertsArrived) -> None:
        self.monitor.alerts_arrived(message.events)

    def desktop_notify(self, events: list[AlertEvent], mode: str) -> None:
        """A desktop notification for alerts that fired (one, naming how many more), where the terminal
        shows them."""
        import os

        from callmon.tui import notify

        kind = notify.kind_for(mode, os.environ)
        if kind is None or not events:
            return
        first = events[0]
        more = f" (+{len(events) - 1} more)" if len(events) > 1 else ""
        self.send_to_terminal(
            notify.sequence(kind, f"callmon: {first.title()}", first.message + more, os.environ)
        )

    def send_to_terminal(self, text: str) -> None:
        """Write a control sequence straight to the terminal (as App.bell does): Textual has no public way."""
        driver = self._driver
        if driver is not None and not self.is_headless:
            driver.write(text)

    def on_changes_arrived(self, message: ChangesArrived) -> None:
        self.monitor.changes(message.batch)
        screen = self.screen
        if isinstance(screen, DetailScreen) and any(c.key == screen.key for c in message.batch):
            self._update_detail(screen)

    def _each_second(self) -> None:
        screen = self.screen
        if isinstance(screen, DetailScreen) and self.session is not None:
            call = self.session.store.get(screen.key)
            if call is not None and call.status.active and int(self.clock()) % 5 == 0:
                self._fetch_detail(screen.key)

    def receiver_text(self) -> str | None:
        session = self.session
        if session is None or session.receiver is None:
            return None
        return _receiver_text(session.receiver)

    # -- detail -----------------------------------------------------------------------------------------------

    def open_detail(self, key: Key) -> None:
        if self.session is None:
            return
        call = self.session.store.get(key)
        if call is None:
            return
        store = self.session.store
        self.push_screen(DetailScreen(key, call, store.timeline(key), store.via(key), clock=self.clock))
        self._fetch_detail(key)

    def on_detail_screen_refresh_requested(self, message: DetailScreen.RefreshRequested) -> None:
        self._fetch_detail(message.key)

    def _fetch_detail(self, key: Key) -> None:
        if self.session is not None:
            self.run_worker(
                self.session.engine.detail(key), group="detail", exclusive=True, exit_on_error=False
            )

    def _update_detail(self, screen: DetailScreen) -> None:
        if self.session is None:
            return
        store = self.session.store
        call = store.get(screen.key)
        if call is not None:
            screen.update_call(call, store.timeline(screen.key), store.via(screen.key))

    # -- history ----------------------------------------------------------------------------------------------

    def search_history(self, text: str, query: Any) -> None:
        """Look for the filter's calls in history, past the window in memory (the table shows them too)."""
        session = self.session
        if session is None:
            return

        async def search() -> None:
            found = await session.search_history(query)
            self.monitor.history_found(text, found)

        self.run_worker(search(), group="history-search", exclusive=True, exit_on_error=False)

    # -- credentials ------------------------------------------------------------------------------------------

    def use_credential(self, source: str, field: str, secret: str) -> None:
        self.run_worker(self._use_credential(source, field, secret), group="credential")

    async def _use_credential(self, source: str, field: str, secret: str) -> None:
        from callmon import credentials

        try:
            await credentials.store_async(source, field, secret)
            self.notify(f"stored {field} for {source} in the OS keyring", markup=False)
        except credentials.CredentialError as exc:
            self.notify(f"not stored: {exc}. Using it for this session only.", severity="warning",
                        timeout=15, markup=False)  # fmt: skip
        if self.session is not None:
            self.session.engine.set_secret(source, field, secret)

    def retry_source(self, name: str) -> None:
        """One more attempt for a source stopped by an auth failure, with its secret read again (the user may
        have fixed it in the environment or the keyring)."""
        self.run_worker(self._retry(name), group="credential")

    async def _retry(self, name: str) -> None:
        session = self.session
        if session is None:
            return
        secrets: dict[str, str] = {}
        if self.resolve_secrets is not None:
            secrets = await asyncio.to_thread(self.resolve_secrets, name)
        if session.engine.retry(name, secrets):
            self.notify(f"{name}: trying once more", markup=False)
        else:
            self.notify(f"{name}: still no secret: press K to set it", severity="warning", markup=False)

    def on_health_screen_retry_requested(self, message: HealthScreen.RetryRequested) -> None:
        self.retry_source(message.source)

    def on_health_screen_credential_requested(self, message: HealthScreen.CredentialRequested) -> None:
        self.monitor.action_credential()

    # -- files the monitor writes -----------------------------------------------------------------------------

    def _load_recent(self) -> list[str]:
        if self.recent_path is None:
            return []
        try:
            data = json.loads(self.recent_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        return [q for q in data if isinstance(q, str)][-RECENT_MAX:] if isinstance(data, list) else []

    def remember_filter(self, text: str) -> None:
        if not text:
            return
        if text in self.recent:
            self.recent.remove(text)
        self.recent.append(text)
        del self.recent[:-RECENT_MAX]
        path = self.recent_path
        if path is None:
            return
        data = json.dumps(self.recent)

        def write() -> None:
            with contextlib.suppress(FileError):
                write_private(path, data)

        self.run_worker(write, thread=True, group="recent")

    def export(self, path: Path, calls: list[Call]) -> None:
        fmt = {".csv": "csv", ".json": "json", ".ndjson": "ndjson"}[path.suffix.lower()]

        def write() -> None:
            try:
                # Exports hold phone numbers: readable by the user only.
                write_private(path, output.render_chunks(calls, fmt))
            except FileError as exc:
                self.post_message(Notice(f"export failed: {exc}"))
                return
            self.call_from_thread(self.notify, f"exported {len(calls):,} calls to {path}", markup=False)

        self.run_worker(write, thread=True, group="export")

    def save_columns(self, order: list[str]) -> None:
        """Keep the chosen columns in the config file (`columns = [...]`), when there is one."""
        path = self.config_path
        if path is None:
            return
        from callmon.config import with_columns

        def write() -> None:
            try:
                text = path.read_text(encoding="utf-8")
                write_private(path, with_columns(text, order))
            except (OSError, FileError) as exc:
                self.post_message(
                    Notice(f"columns not saved to {path}: {getattr(exc, 'strerror', None) or exc}")
                )

        self.run_worker(write, thread=True, group="columns")

    # -- the command palette ----------------------------------------------------------------------------------

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if screen is self.monitor:
            yield from self.monitor.commands()

    # -- errors -----------------------------------------------------------------------------------------------

    def _handle_exception(self, error: Exception) -> None:
        # Textual's own handler prints a traceback with local variables: a line and a private log instead.
        self._return_code = 1
        if self._exception is None:
            self._exception = error
            self._exception_event.set()
        self._exit_renderables.append(Text(crash.report(error, "callmon")))
        self._close_messages_no_wait()

    def on_unmount(self) -> None:
        with contextlib.suppress(Exception):
            self.workers.cancel_all()


def _receiver_text(receiver: Receiver) -> str:
    stats = receiver.stats
    last = "no delivery yet"
    if stats.last_delivery is not None:
        last = f"last {max(0, int(time.time() - stats.last_delivery))}s ago ({stats.deliveries:,} in)"
    return f"{receiver.address} {last}"
