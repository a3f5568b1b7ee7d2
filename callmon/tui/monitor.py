"""The main screen: the live table of calls with its filter bar and health header. Its BINDINGS are the one key
table: the footer, the help screen, the command palette and the README's table are all read off it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Container
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Static

from callmon import display
from callmon.alerts import AlertEvent, Firing
from callmon.columns import BY_NAME, COLUMNS, DEFAULT_ORDER, FAILURES
from callmon.history import Found
from callmon.measures import DIMENSIONS
from callmon.query import Query, QueryError, compile_query
from callmon.store import Change, Key
from callmon.tui.detail import DetailScreen, raw_text
from callmon.tui.groups import GroupHeader, GroupTable, sort_columns, title_text
from callmon.tui.panels import (
    AlertsScreen,
    ColumnsScreen,
    CredentialScreen,
    ExportScreen,
    HealthScreen,
    HelpScreen,
)
from callmon.tui.table import CallTable, TableHeader
from callmon.tui.widgets import AlertBanner, BannerAlert, ErrorLine, FilterBar, HealthBar, ViewState
from callmon.view import CallView

if TYPE_CHECKING:
    from callmon.tui.app import CallmonApp

FILTER_DEBOUNCE = 0.12
GROUPS_EACH_BATCH = (
    500  # up to this many groups, their order is worked out after each batch; past it, each second
)
RETIME_EVERY = 5.0  # seconds between re-applying a filter or sort whose answer changes with the clock
# Columns whose natural reading is "biggest / newest first".
_DESCENDING_FIRST = {"started", "dur", "cost"}
_SORT_KEYS = "1234567890"


@dataclass
class Settings:
    """How the monitor starts: from flags and the config."""

    initial_filter: str = ""
    columns: tuple[str, ...] = DEFAULT_ORDER
    bell: bool = True  # ring the terminal bell once when alerts fire
    desktop: str = "auto"  # desktop notifications: auto, osc9, osc777, off


class MonitorScreen(Screen[None]):
    DEFAULT_CSS = """
    MonitorScreen { layout: vertical; }
    MonitorScreen #table-area, MonitorScreen #group-area { height: 1fr; }
    MonitorScreen #group-area { display: none; }
    MonitorScreen.-grouped #group-area { display: block; }
    MonitorScreen.-grouped #table-area { display: none; }
    MonitorScreen #group-title { height: 1; background: $boost; color: $text-muted; }
    """
    BINDINGS = [
        Binding("slash", "focus_filter", "Filter", tooltip="Filter as you type (enter keeps it, esc goes back to the table)"),
        Binding("escape", "clear_filter", "Clear the filter", show=False),
        Binding("p", "pause", "Pause", tooltip="Pause the display (polling goes on; the header counts what is held)"),
        Binding("f", "failures", "Failures", tooltip="Failures only: failed, busy, no-answer, canceled (again: all)"),
        Binding("g", "group_next", "Groups", tooltip="Group the calls by campaign, provider, source, reason; again: back to the calls"),
        Binding("n", "next_failure(1)", "Next failure", show=False),
        Binding("N", "next_failure(-1)", "Previous failure", show=False),
        Binding("s", "sort_next", "Sort", show=False, tooltip="Sort by the next column"),
        Binding("S", "sort_reverse", "Reverse the sort", show=False),
        *[Binding(k, f"sort_by_position({i})", "Sort by the Nth column (again to reverse)", show=False)
          for i, k in enumerate(_SORT_KEYS)],
        Binding("h", "health", "Health", tooltip="Each source's health: state, last error, budget; retry, set a credential"),
        Binding("a", "acknowledge", "Acknowledge alerts", show=False),
        Binding("A", "alerts", "Alerts", show=False, tooltip="Alerts: firing now, and this session's"),
        Binding("e", "export", "Export", tooltip="Export what is shown to .csv, .json or .ndjson"),
        Binding("C", "choose_columns", "Columns", show=False, tooltip="Choose and order the columns (saved in the config)"),
        Binding("c", "copy_id", "Copy the call id", show=False),
        Binding("y", "copy_raw", "Copy the raw JSON", show=False),
        Binding("K", "credential", "Set a missing or rejected credential", show=False),
        Binding("question_mark", "help", "Help", tooltip="Help: every key, and the filter language"),
        Binding("q", "app.quit", "Quit"),
    ]  # fmt: skip

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.settings = settings
        self.clock = clock
        self.query_text = settings.initial_filter
        self.view = CallView({}, query=compile_query(settings.initial_filter), clock=clock)
        self.paused = False
        self.held: dict[Key, Change] = {}
        self.starting: str | None = "starting"
        # Calls a filter brought in from history (past the window in memory): shown, not kept by the store.
        self.from_history: dict[Key, Change] = {}
        self.history_note: str | None = None
        self._last_retime = 0.0
        self._filter_timer: Timer | None = None
        # Alerts shown in the banner until acknowledged, by (rule, group): firing, or cleared since.
        self.banner_alerts: dict[tuple[str, str | None], BannerAlert] = {}
        self.firing: dict[tuple[str, str | None], AlertEvent] = {}  # firing now, acknowledged or not

    @property
    def callmon(self) -> CallmonApp:
        from callmon.tui.app import CallmonApp

        assert isinstance(self.app, CallmonApp)
        return self.app

    # -- layout -----------------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        self.health = HealthBar(id="health")
        self.banner = AlertBanner(id="alert-banner")
        self.header = TableHeader(id="table-header")
        self.table = CallTable(self.view, clock=self.clock, order=self.settings.columns, id="table")
        self.filter_error = ErrorLine(id="filter-error")
        self.filter_bar = FilterBar(self.callmon.recent, value=self.query_text, id="filter")
        self.group_title = Static("", id="group-title", markup=False)
        self.group_header = GroupHeader(id="group-header")
        self.group_table = GroupTable(clock=self.clock, id="group-table")
        yield self.health
        yield self.banner
        with Container(id="table-area"):
            yield self.header
            yield self.table
        with Container(id="group-area"):
            yield self.group_title
            yield self.group_header
            yield self.group_table
        yield self.filter_error
        yield self.filter_bar
        yield Footer()

    def on_mount(self) -> None:
        self.filter_bar.back_to = self.table
        self.set_focus(self.table)
        self.set_interval(1.0, self.each_second)
        self.show_health()

    # -- data from the app ------------------------------------------------------------------------------------

    def session_ready(self) -> None:
        session = self.callmon.session
        assert session is not None
        self.view.load(session.store.calls)
        self.table.reset()
        self.starting = None
        self.show_health()

    def changes(self, batch: list[Change]) -> None:
        if self.paused:
            for change in batch:
                earlier = self.held.get(change.key)
                self.held[change.key] = change if earlier is None else earlier.then(change)
            self.show_health()
            return
        self._apply(batch)

    def _apply(self, batch: list[Change]) -> None:
        delta = self.view.apply(batch)
        self.table.rows_changed(delta, ((c.key, c.kind) for c in batch))
        if self.view.groups is not None and len(self.view.groups.tallies) <= GROUPS_EACH_BATCH:
            self.show_groups()
        if self.table.new_above:
            self.show_health()  # "▲ N new" must not wait for the next second
        # Otherwise the counts in the header follow once a second: on a slow link a burst of changes to
        # rows off screen should cost next to nothing.

    # -- the header -------------------------------------------------------------------------------------------

    def show_health(self) -> None:
        app = self.callmon
        session = app.session
        health = session.engine.health() if session else []
        self.health.show(
            ViewState(
                shown=len(self.view),
                total=len(session.store) if session else 0,
                counts=self.view.counts,
                paused=len(self.held) if self.paused else None,
                new_above=self.table.new_above,
                failures_only=self.view.failures_only,
                loading=app.failure or self.starting or (session.loading.text() if session else None),
                history=self.history_note,
            ),
            health,
            receiver=app.receiver_text(),
            extra=session.engine.status() if session else None,
            zone=display.zone_name(self.clock()),
        )
        self.table.set_stale(frozenset(h.name for h in health if h.state.down))
        self.header.set_state(self.table.placed, self.view.sort_column, self.view.reverse)

    def show_groups(self) -> None:
        groups = self.view.groups
        if groups is not None:
            self.group_table.set_alerting(
                frozenset(e.group for e in self.firing.values() if e.by == groups.dimension and e.group)
            )
        self.group_table.refresh_rows()
        self.group_title.update(title_text(groups, self.group_table.sort_column, self.group_table.reverse))
        self.group_header.set_state(
            self.group_table.cells,
            groups.dimension if groups is not None else "campaign",
            self.group_table.sort_column,
            self.group_table.reverse,
        )

    # -- alerts -----------------------------------------------------------------------------------------------

    def alerts_arrived(self, events: list[AlertEvent]) -> None:
        """Alerts fired or cleared (evaluated by the session, never here): the banner, the bell once, and a
        desktop notification where the terminal shows one."""
        fired = []
        for event in events:
            key = event.key
            if event.event == "firing":
                self.banner_alerts[key] = BannerAlert(event.title(), event.message, event.fired_at)
                self.firing[key] = event
                fired.append(event)
            else:
                self.firing.pop(key, None)
                if key in self.banner_alerts:
                    self.banner_alerts[key] = replace(self.banner_alerts[key], cleared_at=event.at)
        self.show_banner()
        if self.view.groups is not None:
            self.show_groups()
        if fired:
            if self.settings.bell:
                self.app.bell()
            self.callmon.desktop_notify(fired, self.settings.desktop)

    def show_banner(self) -> None:
        self.banner.show(list(self.banner_alerts.values()), self._time_of)

    def _time_of(self, at: float) -> str:
        return display.clock(datetime.fromtimestamp(at, UTC), self.clock())

    def action_acknowledge(self) -> None:
        if self.banner_alerts:
            self.banner_alerts.clear()
            self.show_banner()

    def action_alerts(self) -> None:
        session = self.callmon.session
        alerts = session.alerts if session is not None else None

        def firing() -> list[Firing]:
            return alerts.firing() if alerts is not None else []

        def events() -> list[AlertEvent]:
            return list(alerts.events) if alerts is not None else []

        rules = len(alerts.rules) if alerts is not None else 0
        self.app.push_screen(AlertsScreen(firing, events, rules, self._time_of, self.action_acknowledge))

    def each_second(self) -> None:
        self.table.tick()
        now = self.clock()
        if self.view.timed and not self.paused and now - self._last_retime >= RETIME_EVERY:
            # A filter on age or duration, or a sort by duration: its answer changes with the clock alone.
            self._last_retime = now
            self.view.rebuild()
            self.table.reset()
        if self.view.groups is not None:
            self.show_groups()
        self.show_health()

    def on_call_table_cursor_moved(self, message: CallTable.CursorMoved) -> None:
        self.show_health()

    def on_call_table_layout_changed(self, message: CallTable.LayoutChanged) -> None:
        self.header.set_state(message.placed, self.view.sort_column, self.view.reverse)

    # -- filter -----------------------------------------------------------------------------------------------

    def action_focus_filter(self) -> None:
        # Focus now, not after the queue: keys typed right after "/" (one read over SSH) must reach the bar.
        self.set_focus(self.filter_bar)
        self.filter_bar.select_all()

    def action_clear_filter(self) -> None:
        if self.query_text:
            self.filter_bar.value = ""
            self._set_query("")

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
        self.filter_error.say(f"invalid filter (not applied): {message.reason}")

    def on_filter_bar_query_submitted(self, message: FilterBar.QuerySubmitted) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._set_query(message.text)
        self.callmon.remember_filter(message.text.strip())

    def on_filter_bar_done(self, message: FilterBar.Done) -> None:
        self.set_focus(self.table)

    def _set_query(self, text: str) -> None:
        if text == self.query_text:
            return
        try:
            query: Query = compile_query(text)
        except QueryError:
            return
        self.query_text = text
        self._drop_history()
        self.view.set_query(query)
        self.table.reset()
        if self.view.groups is not None:
            self.group_table.show(self.view.groups)
            self.show_groups()
        if not query.empty:
            self.history_note = "searching history…"
            self.callmon.search_history(text, query)
        self.show_health()

    def history_found(self, text: str, found: Found | None) -> None:
        """What a search of history found for the filter `text` (if it is still the filter shown)."""
        if text != self.query_text:
            return
        if found is None:
            self.history_note = None
        else:
            changes = [
                Change(c.key, c, None, "loaded", "history")
                for c in found.calls
                if c.key not in self.view.calls
            ]
            self.from_history = {c.key: c for c in changes}
            if changes:
                self.table.rows_changed(self.view.apply(changes))
            more = " (the newest; refine the filter for older)" if found.more else ""
            short = f" (stopped after reading {found.read:,} rows)" if found.cut_short else ""
            self.history_note = (
                f"{len(changes):,} from history{more}{short}" if changes else "none older in history"
            )
        self.show_health()

    def _drop_history(self) -> None:
        if self.from_history:
            gone = [
                Change(key, c.call, c.call.status, "evicted", "history")
                for key, c in self.from_history.items()
            ]
            self.from_history = {}
            self.view.apply(gone)
        self.history_note = None

    # -- sort -------------------------------------------------------------------------------------------------

    def action_sort_by(self, column: str) -> None:
        if self.grouping is not None:
            if column in sort_columns():
                self.group_table.sort_by(column)
                self.show_groups()
            return
        same = column == self.view.sort_column
        reverse = not self.view.reverse if same else column in _DESCENDING_FIRST
        self.view.set_sort(column, reverse)
        self.table.reset()
        self.show_health()

    def action_sort_by_position(self, position: int) -> None:
        order = sort_columns() if self.grouping is not None else self.table.order
        if position < len(order):
            self.action_sort_by(order[position])

    def action_sort_next(self) -> None:
        grouped = self.grouping is not None
        order = list(sort_columns() if grouped else self.table.order)
        current = self.group_table.sort_column if grouped else self.view.sort_column
        following = order[(order.index(current) + 1) % len(order)] if current in order else order[0]
        self.action_sort_by(following)

    def action_sort_reverse(self) -> None:
        grouped = self.grouping is not None
        self.action_sort_by(self.group_table.sort_column if grouped else self.view.sort_column)

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
        self.show_health()

    def action_failures(self) -> None:
        self.view.set_failures_only(not self.view.failures_only)
        self.table.reset()
        if self.view.groups is not None:
            self.group_table.show(self.view.groups)
            self.show_groups()
        self.show_health()

    # -- the group view ---------------------------------------------------------------------------------------

    @property
    def grouping(self) -> str | None:
        groups = self.view.groups
        return groups.dimension if groups is not None else None

    def action_group_next(self) -> None:
        """Group by the next dimension (campaign, provider, source, reason), then back to the calls."""
        current = self.grouping
        following = (
            DIMENSIONS[0]
            if current is None
            else (
                DIMENSIONS[DIMENSIONS.index(current) + 1]
                if DIMENSIONS.index(current) + 1 < len(DIMENSIONS)
                else None
            )
        )
        self.set_grouping(following)

    def set_grouping(self, dimension: str | None) -> None:
        self.view.set_grouping(dimension)
        self.set_class(dimension is not None, "-grouped")
        if dimension is None:
            self.group_table.show(None)
            self.filter_bar.back_to = self.table
            self.set_focus(self.table)
            self.table.reset()
        else:
            self.group_table.show(self.view.groups)
            self.filter_bar.back_to = self.group_table
            self.set_focus(self.group_table)
            self.show_groups()
        self.show_health()

    def on_group_table_chosen(self, message: GroupTable.Chosen) -> None:
        """Enter on a group: back to the calls, filtered to the group's."""
        self.set_grouping(None)
        self.filter_bar.value = message.filter_text
        self._set_query(message.filter_text)
        self.callmon.remember_filter(message.filter_text)

    def on_group_table_layout_changed(self, message: GroupTable.LayoutChanged) -> None:
        self.show_groups()

    def on_group_header_sort_requested(self, message: GroupHeader.SortRequested) -> None:
        self.group_table.sort_by(message.column)
        self.show_groups()

    def action_next_failure(self, step: int) -> None:
        index = self.view.next_matching(self.table.cursor_row, step, FAILURES)
        if index is None:
            self.notify("no more failed calls that way", timeout=3)
            return
        self.table.move_to(index)

    # -- panels -----------------------------------------------------------------------------------------------

    def on_call_table_selected(self, message: CallTable.Selected) -> None:
        self.callmon.open_detail(message.key)

    def action_health(self) -> None:
        session = self.callmon.session
        if session is not None:
            self.app.push_screen(HealthScreen(session.engine.health, self.clock))

    def action_choose_columns(self) -> None:
        def done(order: list[str] | None) -> None:
            if order:
                self.table.set_order(order)
                self.header.set_state(self.table.placed, self.view.sort_column, self.view.reverse)
                self.callmon.save_columns(order)

        self.app.push_screen(ColumnsScreen(self.table.order, [c.name for c in COLUMNS]), done)

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(help_sections()))

    def action_export(self) -> None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        suggestion = str(self.callmon.export_dir / f"callmon-export-{stamp}.csv")

        def done(path: str | None) -> None:
            if path:
                keys = self.view.all_keys()
                calls = [c for c in (self.view.calls.get(k) for k in keys) if c is not None]
                self.callmon.export(Path(path).expanduser(), calls)

        self.app.push_screen(ExportScreen(suggestion, len(self.view)), done)

    def action_credential(self) -> None:
        """Ask for the secret of the first source that has none (or had it rejected)."""
        session = self.callmon.session
        if session is None:
            return
        needs = session.engine.credentials_needed()
        if not needs:
            self.notify("every source has its credentials", timeout=3)
            return
        need = needs[0]

        def done(secret: str | None) -> None:
            if secret:
                self.callmon.use_credential(need.source, need.field, secret)

        self.app.push_screen(CredentialScreen(need.source, need.field, need.reason), done)

    def action_copy_id(self) -> None:
        key = self.table.highlight
        if key is not None:
            self.app.copy_to_clipboard(key[1])
            self.notify(
                f"asked the terminal to copy {key[1]} (OSC 52: some terminals ignore it)", markup=False
            )

    def action_copy_raw(self) -> None:
        key = self.table.highlight
        call = self.view.calls.get(key) if key is not None else None
        if call is not None:
            self.app.copy_to_clipboard(raw_text(call))
            self.notify(
                "asked the terminal to copy the raw JSON (OSC 52: some terminals ignore it)", markup=False
            )

    # -- the command palette ----------------------------------------------------------------------------------

    def commands(self) -> Iterable[SystemCommand]:
        """A palette entry for every key of this screen (the same descriptions as the help and footer)."""
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            if binding.action.startswith("sort_by_position") or binding.action == "app.quit":
                continue
            action = binding.action
            yield SystemCommand(binding.description, f"key: {binding.key}", _runner(self, action))
        for column in COLUMNS:
            yield SystemCommand(f"Sort by {column.title.lower()}", "again to reverse",
                                _runner(self, f"sort_by('{column.name}')"))  # fmt: skip


def _runner(screen: Screen[Any], action: str) -> Callable[[], Any]:
    return lambda: screen.run_action(action)


def help_sections() -> list[tuple[str, list[Any]]]:
    """Every screen's keys, as the help screen lists them."""
    from callmon.tui.app import CallmonApp

    return [
        ("The table", [*MonitorScreen.BINDINGS, *CallTable.BINDINGS, *CallmonApp.BINDINGS]),
        ("The group view", list(GroupTable.BINDINGS)),
        ("The filter bar", list(FilterBar.BINDINGS)),
        ("A call's details", list(DetailScreen.BINDINGS)),
        ("Source health", list(HealthScreen.BINDINGS)),
        ("Alerts", list(AlertsScreen.BINDINGS)),
    ]


assert set(_DESCENDING_FIRST) <= set(BY_NAME)
