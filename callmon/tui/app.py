"""The monitor: a live table of calls with a filter bar, health header and call detail.

The session (engine, store, history) runs in one worker; the store's change batches reach the app as
messages, once per tick. Widgets only render; the app owns every decision and every file it writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer

from callmon import output
from callmon.columns import BY_NAME, COLUMNS, FAILURES
from callmon.query import Query, QueryError, compile_query
from callmon.runtime import Session
from callmon.store import Change, Key
from callmon.tui.screens import CredentialScreen, DetailScreen, ExportScreen, HelpScreen
from callmon.tui.table import CallTable, TableHeader
from callmon.tui.widgets import ErrorLine, FilterBar, HealthBar
from callmon.view import CallView
from callmon.webhooks import Receiver

Opener = Callable[[Callable[[str], None]], AbstractAsyncContextManager[Session]]
RECENT_MAX = 20
FILTER_DEBOUNCE = 0.12
# Columns whose natural reading is "biggest / newest first".
_DESCENDING_FIRST = {"started", "dur", "cost"}


@dataclass
class ChangesArrived(Message):
    batch: list[Change]


@dataclass
class SessionReady(Message):
    session: Session


@dataclass
class Notice(Message):
    text: str


class CallmonApp(App[int]):
    TITLE = "callmon"
    CSS = """
    Screen { layout: vertical; }
    #header-row { height: 1; }
    """
    BINDINGS = [
        Binding("slash", "focus_filter", "Filter"),
        Binding("p", "pause", "Pause"),
        Binding("f", "failures", "Failures"),
        Binding("n", "next_failure(1)", "Next fail"),
        Binding("N", "next_failure(-1)", "Prev fail", show=False),
        Binding("s", "sort_next", "Sort"),
        Binding("S", "sort_reverse", "Reverse", show=False),
        Binding("e", "export", "Export"),
        Binding("c", "credential", "Credential", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
        *[Binding(str((i + 1) % 10), f"sort_by('{c.name}')", f"Sort by {c.title}", show=False)
          for i, c in enumerate(COLUMNS)],
    ]  # fmt: skip

    def __init__(
        self,
        opener: Opener,
        *,
        initial_filter: str = "",
        title: str = "callmon",
        clock: Callable[[], float] = time.time,
        recent_path: Path | None = None,
        export_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.opener = opener
        self.clock = clock
        self.title = title
        self.recent_path = recent_path
        self.export_dir = export_dir or Path.cwd()
        self.recent = self._load_recent()
        self.session: Session | None = None
        self.query_text = initial_filter
        self.view = CallView({}, query=compile_query(initial_filter))
        self.paused = False
        self.held: dict[Key, Change] = {}
        self._last_age_refilter = 0.0
        self._filter_timer: Timer | None = None

    # -- layout -----------------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # Kept as attributes: App.query_one searches the active screen, which is not this one while the
        # detail or help screen is open, and the clock keeps updating these widgets meanwhile.
        self.health = HealthBar(id="health")
        self.header = TableHeader(id="table-header")
        self.table = CallTable(self.view, clock=self.clock, id="table")
        self.filter_error = ErrorLine(id="filter-error")
        self.filter_bar = FilterBar(self.recent, value=self.query_text, id="filter")
        yield self.health
        yield self.header
        yield self.table
        yield self.filter_error
        yield self.filter_bar
        yield Footer()

    def on_mount(self) -> None:
        self.table.focus()
        self.run_worker(self._run_session(), name="session", exit_on_error=False)
        self.set_interval(1.0, self._each_second)
        self._show_health()

    async def _run_session(self) -> None:
        def notice(text: str) -> None:
            self.post_message(Notice(text))

        async with self.opener(notice) as session:

            def deliver(batch: list[Change]) -> None:
                self.post_message(ChangesArrived(batch))

            session.store.subscribe(deliver)
            self.post_message(SessionReady(session))
            await asyncio.Event().wait()  # until the app exits and cancels this worker

    # -- messages from the session ----------------------------------------------------------------------------

    def on_session_ready(self, message: SessionReady) -> None:
        self.session = message.session
        self.view.load(message.session.store.calls)
        self.table.reset()
        for problem in message.session.problems:
            self.notify(problem, severity="warning", timeout=10, markup=False)
        self._show_health()

    def on_notice(self, message: Notice) -> None:
        self.notify(message.text, severity="warning", timeout=8, markup=False)

    def on_changes_arrived(self, message: ChangesArrived) -> None:
        if self.paused:
            for change in message.batch:
                earlier = self.held.get(change.key)
                self.held[change.key] = change if earlier is None else earlier.then(change)
            self._show_health()
            return
        self._apply(message.batch)

    def _apply(self, batch: list[Change]) -> None:
        delta = self.view.apply(batch)
        self.table.rows_changed(delta, ((c.key, c.kind) for c in batch))
        # The counts in the header follow once a second (_each_second), not at every tick: on a slow link a
        # burst of changes to rows off screen should cost next to nothing.
        screen = self.screen
        if isinstance(screen, DetailScreen) and any(c.key == screen.key for c in batch):
            self._update_detail(screen)

    # -- the header -------------------------------------------------------------------------------------------

    def _show_health(self) -> None:
        session = self.session
        self.health.show(
            session.engine.health() if session else [],
            self.view.counts,
            len(self.view),
            len(session.store) if session else 0,
            paused=len(self.held) if self.paused else None,
            failures_only=self.view.failures_only,
            receiver=_receiver_text(session.receiver) if session and session.receiver else None,
        )
        table = self.table
        self.header.set_state(round(table.scroll_x), self.view.sort_column, self.view.reverse)

    def _each_second(self) -> None:
        self.table.tick()
        now = self.clock()
        if "age" in self.query_text and now - self._last_age_refilter >= 5 and not self.paused:
            # An age filter's answer changes with the clock: re-apply it now and then.
            self._last_age_refilter = now
            self.view.rebuild()
            self.table.reset()
        screen = self.screen
        if isinstance(screen, DetailScreen) and self.session is not None:
            call = self.session.store.get(screen.key)
            if call is not None and call.status.active and int(now) % 5 == 0:
                self._fetch_detail(screen.key)
        self._show_health()

    def on_call_table_cursor_moved(self, message: CallTable.CursorMoved) -> None:
        self._show_health()

    # -- filter -----------------------------------------------------------------------------------------------

    def action_focus_filter(self) -> None:
        self.filter_bar.focus()

    def on_filter_bar_query_changed(self, message: FilterBar.QueryChanged) -> None:
        self.filter_error.say(None)
        # Applied once typing pauses: on the way to "status:failed" the bar passes through "stat", a valid
        # search for a word that matches nothing, and the table should not flash empty at each keystroke.
        if self._filter_timer is not None:
            self._filter_timer.stop()
        text = message.text
        self._filter_timer = self.set_timer(FILTER_DEBOUNCE, lambda: self._set_query(text))

    def on_filter_bar_query_invalid(self, message: FilterBar.QueryInvalid) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()  # still typing: the filter last applied stays
        self.filter_error.say(f"invalid filter: {message.reason}")

    def on_filter_bar_query_submitted(self, message: FilterBar.QuerySubmitted) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._set_query(message.text)
        text = message.text.strip()
        if text:
            if text in self.recent:
                self.recent.remove(text)
            self.recent.append(text)
            del self.recent[:-RECENT_MAX]
            self._save_recent()

    def on_filter_bar_done(self, message: FilterBar.Done) -> None:
        self.table.focus()

    def _set_query(self, text: str) -> None:
        if text == self.query_text:
            return
        try:
            query: Query = compile_query(text)
        except QueryError:
            return
        self.query_text = text
        self.view.set_query(query)
        self.table.reset()
        self._show_health()

    def _load_recent(self) -> list[str]:
        if self.recent_path is None:
            return []
        try:
            data = json.loads(self.recent_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        return [q for q in data if isinstance(q, str)][-RECENT_MAX:] if isinstance(data, list) else []

    def _save_recent(self) -> None:
        path = self.recent_path
        if path is None:
            return
        text = json.dumps(self.recent)

        def write() -> None:
            with contextlib.suppress(OSError):
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                path.write_text(text, encoding="utf-8")
                path.chmod(0o600)

        self.run_worker(write, thread=True, group="recent")

    # -- sort -------------------------------------------------------------------------------------------------

    def action_sort_by(self, column: str) -> None:
        same = column == self.view.sort_column
        reverse = not self.view.reverse if same else column in _DESCENDING_FIRST
        self.view.set_sort(column, reverse)
        self.table.reset()
        self._show_health()

    def action_sort_next(self) -> None:
        names = [c.name for c in COLUMNS]
        self.action_sort_by(names[(names.index(self.view.sort_column) + 1) % len(names)])

    def action_sort_reverse(self) -> None:
        self.action_sort_by(self.view.sort_column)

    def on_table_header_sort_requested(self, message: TableHeader.SortRequested) -> None:
        self.action_sort_by(message.column)

    # -- pause, failures, jumps -------------------------------------------------------------------------------

    def action_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused:
            # The view holds its own copy of every call, so while batches are held the rows stand still.
            batch = list(self.held.values())
            self.held = {}
            self._apply(batch)
        self._show_health()

    def action_failures(self) -> None:
        self.view.set_failures_only(not self.view.failures_only)
        self.table.reset()
        self._show_health()

    def action_next_failure(self, step: int) -> None:
        index = self.view.next_matching(self.table.cursor_row, step, FAILURES)
        if index is None:
            self.notify("no more failed calls that way", timeout=3)
            return
        self.table.move_to(index)

    # -- detail -----------------------------------------------------------------------------------------------

    def on_call_table_selected(self, message: CallTable.Selected) -> None:
        if self.session is None:
            return
        call = self.session.store.get(message.key)
        if call is None:
            return
        store = self.session.store
        self.push_screen(DetailScreen(message.key, call, store.timeline(message.key), store.via(message.key)))
        self._fetch_detail(message.key)

    def on_detail_screen_refresh_requested(self, message: DetailScreen.RefreshRequested) -> None:
        self._fetch_detail(message.key)

    def _fetch_detail(self, key: Key) -> None:
        if self.session is not None:
            self.run_worker(self.session.engine.detail(key), group="detail", exclusive=True)

    def _update_detail(self, screen: DetailScreen) -> None:
        if self.session is None:
            return
        store = self.session.store
        call = store.get(screen.key)
        if call is not None:
            screen.update_call(call, store.timeline(screen.key), store.via(screen.key))

    # -- export -----------------------------------------------------------------------------------------------

    def action_export(self) -> None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        suggestion = str(self.export_dir / f"callmon-export-{stamp}.csv")

        def done(path: str | None) -> None:
            if path:
                self._export(Path(path).expanduser())

        self.push_screen(ExportScreen(suggestion, len(self.view)), done)

    def _export(self, path: Path) -> None:
        calls = [c for c in (self.view.calls.get(k) for k in self.view.all_keys()) if c is not None]
        fmt = {".csv": "csv", ".json": "json", ".ndjson": "ndjson"}[path.suffix.lower()]
        text = output.render(calls, fmt)

        def write() -> None:
            try:
                # Exports hold phone numbers: readable by the user only.
                fd = _open_private(path)
                with open(fd, "w", encoding="utf-8") as handle:
                    handle.write(text)
            except OSError as exc:
                self.post_message(Notice(f"export to {path} failed: {exc.strerror or exc}"))
                return
            self.call_from_thread(self.notify, f"exported {len(calls):,} calls to {path}", markup=False)

        self.run_worker(write, thread=True, group="export")

    # -- credentials ------------------------------------------------------------------------------------------

    def action_credential(self) -> None:
        """Ask for the secret of the first source that has none (or had it rejected)."""
        session = self.session
        if session is None:
            return
        needs = session.engine.credentials_needed()
        if not needs:
            self.notify("every source has its credentials", timeout=3)
            return
        need = needs[0]

        def done(secret: str | None) -> None:
            if secret:
                self.run_worker(self._use_credential(need.source, need.field, secret), group="credential")

        self.push_screen(CredentialScreen(need.source, need.field, need.reason), done)

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

    # -- help and the command palette -------------------------------------------------------------------------

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Filter", "Focus the filter bar (/)", self.action_focus_filter)
        yield SystemCommand(
            "Pause / resume display", "Freeze the table; polling goes on (p)", self.action_pause
        )
        yield SystemCommand(
            "Failures only", "Show only failed, busy, no-answer, canceled (f)", self.action_failures
        )
        yield SystemCommand(
            "Next failure", "Jump to the next failed call (n)", lambda: self.action_next_failure(1)
        )
        yield SystemCommand("Previous failure", "Jump to the previous failed call (N)",
                            lambda: self.action_next_failure(-1))  # fmt: skip
        yield SystemCommand("Export", "Export the calls shown to CSV/JSON (e)", self.action_export)
        yield SystemCommand(
            "Set a credential", "For a source with none, or one rejected (c)", self.action_credential
        )
        yield SystemCommand(
            "Call details", "Open the call under the cursor (enter)", self.table.action_select
        )
        yield SystemCommand("Keys and filter language", "Show help (?)", self.action_help)
        for column in COLUMNS:
            yield SystemCommand(f"Sort by {column.title.lower()}", "Again to reverse",
                                lambda name=column.name: self.action_sort_by(name))  # fmt: skip

    # Actions of the call table's screen; on the detail, help or export screens they do nothing and are hidden.
    _TABLE_ACTIONS = frozenset({"focus_filter", "pause", "failures", "next_failure", "sort_next", "sort_reverse",
                                "sort_by", "export", "credential"})  # fmt: skip

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action in self._TABLE_ACTIONS and len(self.screen_stack) > 1)

    def on_unmount(self) -> None:
        with contextlib.suppress(Exception):
            self.workers.cancel_all()


def _receiver_text(receiver: Receiver) -> str:
    stats = receiver.stats
    last = "no delivery yet"
    if stats.last_delivery is not None:
        last = f"last {max(0, int(time.time() - stats.last_delivery))}s ago ({stats.deliveries:,} in)"
    return f"{receiver.address} {last}"


def _open_private(path: Path) -> int:
    import os

    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)


assert set(_DESCENDING_FIRST) <= set(BY_NAME)
