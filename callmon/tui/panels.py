"""The monitor's overlays: help, source health, the column chooser, the export and credential prompts."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, SelectionList, Static
from textual.widgets.selection_list import Selection

from callmon.alerts import AlertEvent, Firing
from callmon.columns import BY_NAME
from callmon.health import SourceHealth, State
from callmon.providers import names
from callmon.tui import keys
from callmon.tui.widgets import HEALTH_STYLE

_MODAL = """
{name} {{ align: center middle; }}
{name} > Vertical, {name} > VerticalScroll {{ width: {width}; max-width: 100%; height: auto; max-height: 100%;
    border: round $accent; background: $surface; padding: 0 1; }}
"""


def filter_help() -> str:
    provider = names()[-1] if names() else "NAME"
    return f"""\
Filter language (the / bar, --filter, a source's filter = "...")
  word               any of id, campaign, from, to, reason, raw status, source, provider, status
  status:failed,busy the field is one of the values (, is OR); fields: status provider source campaign
                     id from to direction reason raw
  -provider:{provider:<8} - negates any term             to:+91*   * is a wildcard over the whole field
  campaign:=Renewals1  := the whole field (not a part of it): what Enter on a group of the group view puts
  dur>60  bill>=30   cost>=0.5  age<10m          comparisons: > >= < <= = != ; times take s m h d
  is:active is:ended                             dur is what the DUR column shows (live calls tick)
"""


class HelpScreen(ModalScreen[None]):
    """Every key, read off the bindings of the screens it lists, then the filter language."""

    DEFAULT_CSS = _MODAL.format(name="HelpScreen", width=96)
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, sections: Sequence[tuple[str, Sequence[BindingType]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        text = Text()
        for title, bindings in self.sections:
            text.append(f"{title}\n", Style(bold=True))
            for key, description in keys.rows(bindings):
                text.append(f"  {key:<22}", Style(bold=True, color="cyan"))
                text.append(f"{description}\n")
            text.append("\n")
        text.append(filter_help())
        with VerticalScroll():
            yield Static(text, markup=False)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)


def _ago(moment: float | None, now: float) -> str:
    if moment is None:
        return "never"
    seconds = max(0, round(now - moment))
    return (
        f"{seconds}s ago"
        if seconds < 120
        else f"{seconds // 60}m ago"
        if seconds < 7200
        else f"{seconds // 3600}h ago"
    )


def _in(moment: float | None, now: float) -> str:
    if moment is None:
        return "-"
    return f"in {max(0, round(moment - now))}s"


def health_text(health: Sequence[SourceHealth], now: float) -> Text:
    """Each source as a few lines: its state and numbers, then its budget, last error and notes."""
    text = Text()
    width = max((len(h.name) for h in health), default=0) + 2
    indent = " " * width
    for h in health:
        text.append(h.name.ljust(width), Style(bold=True))
        text.append(h.summary(now), HEALTH_STYLE.get(h.state, Style()))
        text.append(f"   last ok {_ago(h.last_poll, now)} · next {_in(h.next_poll, now)}")
        latency = "-" if h.latency_ms is None else f"{h.latency_ms:g} ms"
        text.append(f" · latency {latency} · calls {h.tracked:,} ({h.active:,} live)")
        text.append(f" · requests {h.requests:,} ({h.rate_limited:,} got 429)\n")
        budget = ", ".join(f"{kind} {used}/{of} per {per:g}s" for kind, (used, of, per) in h.budget.items())
        if budget:
            text.append(f"{indent}budget used: {budget}\n", Style(dim=True))
        if h.message:
            text.append(f"{indent}last error {_ago(h.last_error, now)}: {h.message}\n", Style(color="red"))
        if h.note:
            text.append(f"{indent}{h.note}\n", Style(color="yellow"))
        if h.skipped:
            text.append(f"{indent}{h.skipped:,} unreadable record(s) skipped so far\n", Style(dim=True))
    return text


class HealthScreen(ModalScreen[None]):
    """Each source: state, last success, last error, next retry, budget, latency, calls tracked. `r` retries
    a source stopped by an auth failure (re-reading its secret), `c` sets a missing or rejected one."""

    DEFAULT_CSS = _MODAL.format(name="HealthScreen", width=140) + "HealthScreen Static { width: 1fr; }"
    BINDINGS = [
        Binding("escape,q,h", "dismiss", "Close"),
        Binding("r", "retry", "Retry a source that failed auth"),
        Binding("c", "credential", "Set a credential"),
    ]

    @dataclass
    class RetryRequested(Message):
        source: str

    class CredentialRequested(Message):
        pass

    def __init__(
        self, health: Callable[[], Sequence[SourceHealth]], clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__()
        self.health = health
        self.clock = clock

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text("Sources", style="bold"))
            yield Static(id="health-table", markup=False)
            yield Label(
                Text(
                    "r retry a source stopped by an auth failure · c set a credential · esc close",
                    style="dim",
                )
            )
        yield Footer()

    def on_mount(self) -> None:
        self._show()
        self.set_interval(1.0, self._show)

    def _show(self) -> None:
        self.query_one("#health-table", Static).update(health_text(self.health(), self.clock()))

    def action_retry(self) -> None:
        stopped = [h.name for h in self.health() if h.state in (State.AUTH_FAILED, State.NO_CREDENTIALS)]
        if not stopped:
            self.notify("no source is stopped by an auth failure", timeout=3)
            return
        self.post_message(self.RetryRequested(stopped[0]))

    def action_credential(self) -> None:
        self.post_message(self.CredentialRequested())

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)


class ColumnsScreen(ModalScreen[list[str] | None]):
    """Which columns to show and in what order: space toggles, K/J (shift+up/down) moves, enter keeps (saved in
    the config as `columns = [...]`). STATUS stays first."""

    DEFAULT_CSS = _MODAL.format(name="ColumnsScreen", width=50)
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        # priority: the list binds enter to toggling, which would leave no key to keep the choice
        Binding("enter", "keep", "Keep", priority=True),
        Binding("K,shift+up", "move(-1)", "Move up"),
        Binding("J,shift+down", "move(1)", "Move down"),
    ]

    def __init__(self, shown: Sequence[str], every: Sequence[str]) -> None:
        super().__init__()
        self.shown = list(shown)
        self.every = list(every)

    def compose(self) -> ComposeResult:
        order = self.shown + [name for name in self.every if name not in self.shown]
        with Vertical():
            yield Label(Text("Columns · space: on/off · K/J: move · enter: keep", style="bold"))
            yield SelectionList[str](*(_column(name, name in self.shown) for name in order), id="columns")

    def action_move(self, step: int) -> None:
        """The highlighted column one place up or down (STATUS stays first)."""
        options: SelectionList[str] = self.query_one("#columns", SelectionList)
        at = options.highlighted
        names = [options.get_option_at_index(i).value for i in range(options.option_count)]
        to = (at or 0) + step
        if at is None or names[at] == "status" or not 1 <= to < len(names):
            return
        chosen = set(options.selected)
        names[at], names[to] = names[to], names[at]
        options.clear_options()
        options.add_options([_column(name, name in chosen) for name in names])
        options.highlighted = to

    def action_keep(self) -> None:
        options: SelectionList[str] = self.query_one("#columns", SelectionList)
        chosen = set(options.selected)
        names = [options.get_option_at_index(i).value for i in range(options.option_count)]
        self.dismiss(["status", *(n for n in names if n in chosen and n != "status")])

    def action_cancel(self) -> None:
        self.dismiss(None)


class ExportScreen(ModalScreen[str | None]):
    """Asks where to export what is shown; the extension picks the format. An existing file is only
    overwritten when asked twice."""

    DEFAULT_CSS = (
        _MODAL.format(name="ExportScreen", width=76) + "ExportScreen #export-error { color: $error; }"
    )
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, suggestion: str, count: int) -> None:
        super().__init__()
        self.suggestion = suggestion
        self.count = count
        self._confirmed: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Export the {self.count:,} calls shown to (.csv, .json or .ndjson):")
            yield Input(value=self.suggestion, id="export-path")
            yield Label("", id="export-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        path = event.value.strip()
        error = self.query_one("#export-error", Label)
        if not path.lower().endswith((".csv", ".json", ".ndjson")):
            error.update(Text("the file name must end in .csv, .json or .ndjson"))
            return
        target = Path(path).expanduser()
        if target.is_dir():
            error.update(Text(f"{target} is a directory: name a file"))
            return
        if target.exists() and self._confirmed != path:
            self._confirmed = path
            error.update(Text(f"{target} exists: enter again to overwrite it, esc to cancel"))
            return
        self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)


class CredentialScreen(ModalScreen[str | None]):
    """Asks for one source's secret, never echoed. The app stores it; this screen only collects it."""

    DEFAULT_CSS = _MODAL.format(name="CredentialScreen", width=76)
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, source: str, field: str, reason: str) -> None:
        super().__init__()
        self.source, self.field, self.reason = source, field, reason

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(f"{self.field} for source {self.source}", style="bold"))
            yield Label(Text(self.reason, style="dim"))
            yield Input(password=True, placeholder="paste it here (not shown); enter stores it in the OS keyring",
                        id="secret")  # fmt: skip

    def on_mount(self) -> None:
        self.query_one("#secret", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


class AlertsScreen(ModalScreen[None]):
    """The alerts firing now, then every alert that fired or cleared in this session (newest first), with
    when. `a` acknowledges them (the banner goes)."""

    DEFAULT_CSS = _MODAL.format(name="AlertsScreen", width=140) + "AlertsScreen Static { width: 1fr; }"
    BINDINGS = [
        Binding("escape,q,A", "dismiss", "Close"),
        Binding("a", "acknowledge", "Acknowledge"),
    ]

    def __init__(
        self,
        firing: Callable[[], Sequence[Firing]],
        events: Callable[[], Sequence[AlertEvent]],
        rules: int,
        clock: Callable[[float], str],
        acknowledge: Callable[[], None],
    ) -> None:
        super().__init__()
        self.acknowledge = acknowledge
        self.firing = firing
        self.events = events
        self.rules = rules
        self.clock = clock

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self.text(), markup=False, id="alerts-text")

    def on_mount(self) -> None:
        self.set_interval(1.0, self.refresh_text)

    def refresh_text(self) -> None:
        self.query_one("#alerts-text", Static).update(self.text())

    def text(self) -> Text:
        text = Text()
        if not self.rules:
            text.append(
                "No alert rules. Add [[alerts]] to the config (see the README): a measure over a span\n"
            )
            text.append(
                '(when = "failure_rate > 0.3", over = "5m"), a source down, a stalled dialer, a stuck call.\n'
            )
            return text
        firing = self.firing()
        text.append(f"Firing now ({len(firing)})\n", Style(bold=True))
        if not firing:
            text.append("  none\n", Style(dim=True))
        for alert in firing:
            text.append(f"  ALERT {alert.title()}", Style(bold=True, color="red"))
            text.append(f"  since {self.clock(alert.fired_at)}\n")
            text.append(f"        {alert.message}\n")
        events = list(self.events())
        text.append(f"\nThis session ({len(events)})\n", Style(bold=True))
        if not events:
            text.append("  nothing fired yet\n", Style(dim=True))
        for event in reversed(events):
            at = self.clock(event.at)
            if event.event == "firing":
                text.append(f"  {at}  fired    {event.title()}: {event.message}\n", Style(color="red"))
            else:
                text.append(f"  {at}  cleared  {event.title()} (fired {self.clock(event.fired_at)}): "
                            f"{event.message}\n")  # fmt: skip
        return text

    def action_acknowledge(self) -> None:
        self.acknowledge()
        self.notify("alerts acknowledged", timeout=3)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)


def _column(name: str, shown: bool) -> Selection[str]:
    """A column's line in the chooser: STATUS cannot be turned off."""
    return Selection(BY_NAME[name].title, name, shown, disabled=name == "status")
