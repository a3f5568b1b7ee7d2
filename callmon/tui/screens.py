"""The call detail screen, the help overlay and the export prompt."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from rich.console import RenderableType
from rich.style import Style
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Input, Label, Static

from callmon.columns import STATUS_GLYPH, clock_text
from callmon.model import Call, iso
from callmon.providers import ADAPTERS
from callmon.redact import scrub
from callmon.store import Key, StatusEvent
from callmon.text import safe_json
from callmon.tui.table import STATUS_STYLE

LABEL = Style(color="bright_black")


def cdr_table(call: Call, via: str | None) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style=LABEL, no_wrap=True)
    table.add_column(overflow="fold")
    status = Text(f"{STATUS_GLYPH[call.status]} {call.status.value}", STATUS_STYLE[call.status])
    rows: list[tuple[str, str | Text | None]] = [
        ("status", status),
        ("raw status", call.raw_status),
        ("reason", call.reason),
        ("call id", call.call_id),
        ("source", f"{call.source} ({call.provider})"),
        ("campaign", call.campaign),
        ("direction", call.direction),
        ("from", call.from_),
        ("to", call.to),
        ("started", iso(call.started_at) if call.started_at else None),
        ("answered", iso(call.answered_at) if call.answered_at else None),
        ("ended", iso(call.ended_at) if call.ended_at else None),
        (
            "duration",
            f"{clock_text(call.duration_s)} ({call.duration_s}s)" if call.duration_s is not None else None,
        ),
        ("billable", f"{call.billable_s}s" if call.billable_s is not None else None),
        ("cost", f"{call.cost:g} {call.currency or ''}".strip() if call.cost is not None else None),
        ("recording", call.recording_url),
        ("updated", iso(call.updated_at) if call.updated_at else None),
        ("last change via", via),
    ]
    rows += [(label, value) for label, value in call.details]
    for label, value in rows:
        if value in (None, ""):
            continue
        table.add_row(label, value if isinstance(value, Text) else Text(scrub(str(value))))
    return table


def timeline_table(events: Sequence[StatusEvent]) -> RenderableType:
    if not events:
        return Text("no status changes recorded yet", LABEL)
    table = Table.grid(padding=(0, 2))
    for event in events:
        table.add_row(
            Text(datetime.fromtimestamp(event.at).strftime("%H:%M:%S"), LABEL),
            Text(f"{STATUS_GLYPH[event.status]} {event.status.value}", STATUS_STYLE[event.status]),
            Text(event.raw_status or "", LABEL),
            Text(f"by {event.via}", LABEL),
        )
    return table


def transcript_text(call: Call) -> RenderableType:
    if not call.transcript:
        adapter = ADAPTERS.get(call.provider)
        live = adapter is not None and adapter.live_transcript and call.status.active
        return Text("no transcript yet (it appears here as the call goes on)" if live else "no transcript", LABEL)
    text = Text()
    for line in call.transcript:
        if line.role:
            text.append(
                f"{line.role}: ", Style(bold=True, color="cyan" if line.role.lower() != "user" else "yellow")
            )
        text.append(scrub(line.text) + "\n")
    return text


class DetailScreen(Screen[None]):
    """One call: its normalized CDR beside the provider's raw payload, its transcript and status timeline."""

    DEFAULT_CSS = """
    DetailScreen #panes { height: 1fr; }
    DetailScreen #left { width: 1fr; min-width: 40; }
    DetailScreen #raw { width: 1fr; border-left: solid $panel; }
    DetailScreen .title { background: $boost; color: $text; text-style: bold; padding: 0 1; width: 1fr; }
    DetailScreen Static { padding: 0 1; }
    """
    BINDINGS = [
        Binding("escape,q", "dismiss", "Back"),
        Binding("c", "copy_id", "Copy id"),
        Binding("y", "copy_raw", "Copy raw JSON"),
        Binding("r", "refresh", "Refresh"),
    ]

    @dataclass
    class RefreshRequested(Message):
        key: Key

    def __init__(self, key: Key, call: Call, timeline: Sequence[StatusEvent], via: str | None) -> None:
        super().__init__()
        self.key = key
        self.call = call
        self.timeline = list(timeline)
        self.via = via

    def compose(self) -> ComposeResult:
        with Horizontal(id="panes"):
            with VerticalScroll(id="left"):
                yield Label("Call", classes="title")
                yield Static(id="cdr")
                yield Label("Status timeline", classes="title")
                yield Static(id="timeline")
                yield Label("Transcript", classes="title")
                yield Static(id="transcript")
            with VerticalScroll(id="raw"):
                yield Label("Raw provider payload", classes="title")
                yield Static(id="payload")
        yield Footer()

    def on_mount(self) -> None:
        self.render_call()

    def update_call(self, call: Call, timeline: Sequence[StatusEvent], via: str | None) -> None:
        self.call, self.timeline, self.via = call, list(timeline), via
        self.render_call()

    def render_call(self) -> None:
        call = self.call
        self.title = f"{call.source} {call.call_id}"
        self.query_one("#cdr", Static).update(cdr_table(call, self.via))
        self.query_one("#timeline", Static).update(timeline_table(self.timeline))
        self.query_one("#transcript", Static).update(transcript_text(call))
        raw = safe_json(call.payload())
        self.query_one("#payload", Static).update(
            Syntax(raw, "json", theme="ansi_dark", word_wrap=True, background_color="default")
        )

    def action_copy_id(self) -> None:
        self.app.copy_to_clipboard(self.call.call_id)
        self.notify(f"copied call id {self.call.call_id}", markup=False)

    def action_copy_raw(self) -> None:
        self.app.copy_to_clipboard(safe_json(self.call.payload()))
        self.notify("copied the raw JSON", markup=False)

    def action_refresh(self) -> None:
        self.post_message(self.RefreshRequested(self.key))

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)


HELP = """\
Keys (also in the command palette, ctrl+p)

  /            filter (as you type; enter keeps it, esc returns to the table)
  up/down      in the filter bar: recall recent filters
  enter        details of the call under the cursor
  j k ↑ ↓      move       pgup pgdn space   page       g home / G end   top / bottom
  1 … 0        sort by column 1 … 10; again to reverse    (or click a column title)
  s / S        next sort column / reverse the sort
  p            pause the display (polling goes on; the badge counts changes)
  f            failures only (failed, busy, no-answer, canceled)
  n / N        next / previous failed call
  e            export what is shown (CSV, JSON or NDJSON by the file's extension)
  c            set a missing or rejected credential (stored in the OS keyring)
  ?            this help            q   quit

In the detail screen: c copy call id · y copy raw JSON · r refresh · esc back

Filter language
  word               any of id, campaign, from, to, reason, raw status, source, provider, status
  status:failed,busy field is one of the values (,) · fields: status provider source campaign id
                     from to direction reason raw
  -provider:velip    negate any term            to:+91*   * is a wildcard over the whole field
  dur>60  bill>=30   cost>=0.5  age<10m        comparisons: > >= < <= = != ; times take s m h d
  is:active is:ended
"""


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90; max-width: 100%; height: auto; max-height: 100%;
                                  border: round $accent; background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text(HELP), markup=False)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)


class ExportScreen(ModalScreen[str | None]):
    """Asks where to export what is shown; the extension picks the format."""

    DEFAULT_CSS = """
    ExportScreen { align: center middle; }
    ExportScreen > Vertical { width: 72; max-width: 100%; height: auto; border: round $accent;
                              background: $surface; padding: 0 1; }
    ExportScreen #export-error { color: $error; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, suggestion: str, count: int) -> None:
        super().__init__()
        self.suggestion = suggestion
        self.count = count

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Export the {self.count:,} calls shown to (.csv, .json or .ndjson):")
            yield Input(value=self.suggestion, id="export-path")
            yield Label("", id="export-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        path = event.value.strip()
        if not path.lower().endswith((".csv", ".json", ".ndjson")):
            self.query_one("#export-error", Label).update(
                Text("the file name must end in .csv, .json or .ndjson")
            )
            return
        self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)


class CredentialScreen(ModalScreen[str | None]):
    """Asks for one source's secret, never echoed. The app stores it; this screen only collects it."""

    DEFAULT_CSS = """
    CredentialScreen { align: center middle; }
    CredentialScreen > Vertical { width: 76; max-width: 100%; height: auto; border: round $accent;
                                  background: $surface; padding: 0 1; }
    """
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
