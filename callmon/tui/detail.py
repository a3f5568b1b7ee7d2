"""The call detail screen: the normalized CDR beside the provider's raw payload, the transcript, the timeline.

Whatever the payload's size it opens at once: long strings are cut with "… N more characters" before
anything is laid out, and the raw view is a Line-API widget that draws only the lines on screen.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.console import RenderableType
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, VerticalScroll
from textual.geometry import Size
from textual.message import Message
from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Footer, Static

from callmon import display
from callmon.columns import STATUS_GLYPH, clock_text, live_seconds
from callmon.model import Call
from callmon.providers import ADAPTERS
from callmon.store import Key
from callmon.text import cut, safe_json
from callmon.timeline import StatusEvent
from callmon.tui.widgets import STATUS_COLOR

LABEL = Style(color="bright_black")
SHOWN_STRING = 400  # characters of one payload string the raw view shows; the rest is counted
NARROW = 110  # below this many columns the panes stack


def shown_payload(value: Any, depth: int = 0) -> Any:
    """The payload as the raw view shows it: every string cut to SHOWN_STRING characters."""
    if isinstance(value, str):
        return cut(value, SHOWN_STRING)
    if isinstance(value, dict):
        return {cut(str(k), SHOWN_STRING): shown_payload(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [shown_payload(v, depth + 1) for v in value]
    return value


def raw_text(call: Call) -> str:
    """The raw payload as JSON text safe to print, numbers masked when masking is on."""
    text = safe_json(shown_payload(call.payload()))
    if display.current().mask_numbers:
        for number in {call.to, call.from_} - {None}:
            assert number is not None
            text = text.replace(number, display.mask_number(number))
    return text


def cdr_table(call: Call, via: str | None, now: float) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style=LABEL, no_wrap=True)
    table.add_column(overflow="fold")
    status = Text(f"{STATUS_GLYPH[call.status]} {call.status.value}", STATUS_COLOR[call.status])
    live = live_seconds(call, now)
    duration = call.duration_s if call.ended else live
    rows: list[tuple[str, str | Text | None]] = [
        ("status", status),
        ("raw status", call.raw_status),
        ("reason", call.reason),
        ("call id", call.call_id),
        ("source", f"{call.source} ({call.provider})"),
        ("campaign", call.campaign),
        ("direction", call.direction),
        ("from", display.number(call.from_)),
        ("to", display.number(call.to)),
        ("started", display.stamp(call.started_at)),
        ("answered", display.stamp(call.answered_at)),
        ("ended", display.stamp(call.ended_at)),
        (
            "duration" if call.ended else "live for",
            f"{clock_text(duration)} ({duration}s)" if duration is not None else None,
        ),
        ("billable", f"{call.billable_s}s" if call.billable_s is not None else None),
        ("cost", f"{call.cost:g} {call.currency or ''}".strip() if call.cost is not None else None),
        ("recording", call.recording_url),
        ("updated", display.stamp(call.updated_at)),
        ("last change via", via),
    ]
    shown = {str(value) for _, value in rows if value not in (None, "")}
    # Provider details, but none that only repeats a field above (a cause name that is also the reason).
    rows += [(label, value) for label, value in call.details if value not in shown]
    for label, value in rows:
        if value in (None, ""):
            continue
        table.add_row(label, value if isinstance(value, Text) else Text(str(value)))
    return table


def timeline_table(events_: Sequence[StatusEvent], now: float) -> RenderableType:
    if not events_:
        return Text("no status changes recorded yet", LABEL)
    table = Table.grid(padding=(0, 2))
    for event in events_:
        at = datetime.fromtimestamp(event.at).astimezone()
        table.add_row(
            Text(display.clock(at, now), LABEL),
            Text(f"{STATUS_GLYPH[event.status]} {event.status.value}", STATUS_COLOR[event.status]),
            Text(event.raw_status or "", LABEL),
            Text(f"by {event.via}", LABEL),
        )
    return table


def transcript_text(call: Call) -> RenderableType:
    if not call.transcript:
        adapter = ADAPTERS.get(call.provider)
        live = adapter is not None and adapter.live_transcript and call.status.active
        return Text(
            "no transcript yet (it appears here as the call goes on)" if live else "no transcript", LABEL
        )
    text = Text()
    for line in call.transcript:
        if line.role:
            user = line.role.lower() in ("user", "customer", "callee")
            text.append(f"{line.role}: ", Style(bold=True, color="yellow" if user else "cyan"))
        text.append(line.text + "\n")
    return text


def title_line(call: Call, now: float) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{STATUS_GLYPH[call.status]} {call.status.value}", STATUS_COLOR[call.status])
    text.append(f"  call {call.call_id}", Style(bold=True))
    text.append(f"  ·  {call.source} ({call.provider})")
    if call.campaign:
        text.append(f"  ·  {call.campaign}")
    if call.status.active:
        seconds = live_seconds(call, now)
        if seconds is not None:
            text.append(f"  ·  live {clock_text(seconds)}", Style(bold=True))
    return text


_JSON_TOKEN = re.compile(
    r'("(?:[^"\\]|\\.)*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)'
)
_KEY, _STRING, _LITERAL, _NUMBER = (
    Style(color="cyan"),
    Style(color="green"),
    Style(color="magenta"),
    Style(color="yellow"),
)


class RawView(ScrollView, can_focus=True):
    """JSON text, highlighted line by line as it is drawn: only what is on screen costs anything."""

    DEFAULT_CSS = "RawView { height: 1fr; overflow-x: auto; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: list[str] = []

    def set_text(self, text: str) -> None:
        self.lines = text.splitlines()
        width = max((len(line) for line in self.lines), default=0)
        self.virtual_size = Size(width, len(self.lines))
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if index >= len(self.lines):
            return Strip.blank(width, base)
        line = self.lines[index]
        segments: list[Segment] = []
        at = 0
        for m in _JSON_TOKEN.finditer(line):
            if m.start() > at:
                segments.append(Segment(line[at : m.start()], base))
            if m.group(1) is not None:
                segments.append(Segment(m.group(1), base + (_KEY if m.group(2) else _STRING)))
                if m.group(2):
                    segments.append(Segment(m.group(2), base))
            elif m.group(3) is not None:
                segments.append(Segment(m.group(3), base + _LITERAL))
            else:
                segments.append(Segment(m.group(0), base + _NUMBER))
            at = m.end()
        if at < len(line):
            segments.append(Segment(line[at:], base))
        strip = Strip(segments)
        return strip.crop_extend(scroll_x, scroll_x + width, base)


class Pane(VerticalScroll, can_focus=True):
    """A titled, focusable pane; the focused one is outlined so a person knows which one keys scroll."""

    DEFAULT_CSS = """
    Pane { border: round $panel; height: 1fr; padding: 0 1; }
    Pane:focus-within, Pane:focus { border: round $accent; }
    """


class DetailScreen(Screen[None]):
    """One call: its normalized CDR beside the provider's raw payload, its transcript and status timeline."""

    DEFAULT_CSS = """
    DetailScreen #title { height: 1; background: $boost; padding: 0 1; }
    DetailScreen #panes { layout: horizontal; height: 1fr; }
    DetailScreen #panes.-narrow { layout: vertical; }
    DetailScreen #left { layout: vertical; width: 1fr; }
    DetailScreen #panes.-narrow #left { height: 2fr; }
    DetailScreen #raw-pane { width: 1fr; border: round $panel; }
    DetailScreen #raw-pane:focus-within { border: round $accent; }
    DetailScreen #panes.-narrow #raw-pane { height: 1fr; width: 1fr; }
    DetailScreen #call-pane { height: auto; max-height: 60%; }
    DetailScreen #timeline-pane { height: auto; max-height: 30%; }
    DetailScreen #transcript-pane { height: 1fr; min-height: 4; }
    """
    BINDINGS = [
        Binding("escape,q", "dismiss", "Back"),
        Binding("tab", "next_pane", "Next pane"),
        Binding("c", "copy_id", "Copy id"),
        Binding("y", "copy_raw", "Copy raw JSON"),
        Binding("r", "refresh", "Refresh"),
    ]

    @dataclass
    class RefreshRequested(Message):
        key: Key

    def __init__(
        self,
        key: Key,
        call: Call,
        timeline: Sequence[StatusEvent],
        via: str | None,
        *,
        clock: Any = time.time,
    ) -> None:
        super().__init__()
        self.key = key
        self.call = call
        self.timeline = list(timeline)
        self.via = via
        self.clock = clock
        self._raw_of: Call | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="title", markup=False)
        with Container(id="panes"):
            with Container(id="left"):
                with Pane(id="call-pane") as pane:
                    pane.border_title = "Call"
                    yield Static(id="cdr", markup=False)
                with Pane(id="timeline-pane") as pane:
                    pane.border_title = "Status timeline"
                    yield Static(id="timeline", markup=False)
                with Pane(id="transcript-pane") as pane:
                    pane.border_title = "Transcript"
                    yield Static(id="transcript", markup=False)
            with Container(id="raw-pane") as raw:
                raw.border_title = "Raw provider payload"
                yield RawView(id="raw")
        yield Footer()

    def on_mount(self) -> None:
        self._lay_out(self.size.width)
        self.render_call()
        self.query_one("#call-pane", Pane).focus()
        self.set_interval(1.0, self._tick)

    def on_resize(self, event: events.Resize) -> None:
        self._lay_out(event.size.width)

    def _lay_out(self, width: int) -> None:
        self.query_one("#panes").set_class(width < NARROW, "-narrow")

    def update_call(self, call: Call, timeline: Sequence[StatusEvent], via: str | None) -> None:
        self.call, self.timeline, self.via = call, list(timeline), via
        self.render_call()

    def _tick(self) -> None:
        if self.call.status.active:
            self.query_one("#title", Static).update(title_line(self.call, self.clock()))
            self.query_one("#cdr", Static).update(cdr_table(self.call, self.via, self.clock()))

    def render_call(self) -> None:
        call = self.call
        now = self.clock()
        self.title = f"{call.source} {call.call_id}"
        self.query_one("#title", Static).update(title_line(call, now))
        self.query_one("#cdr", Static).update(cdr_table(call, self.via, now))
        self.query_one("#timeline", Static).update(timeline_table(self.timeline, now))
        pane = self.query_one("#transcript-pane", Pane)
        at_end = pane.scroll_y >= pane.max_scroll_y - 1
        self.query_one("#transcript", Static).update(transcript_text(call))
        if at_end:
            # The transcript follows as it grows, unless the user scrolled back to read.
            self.call_after_refresh(pane.scroll_end, animate=False)
        if self._raw_of is None or self._raw_of.raw is not call.raw:
            self._raw_of = call
            self.query_one("#raw", RawView).set_text(raw_text(call))

    def action_next_pane(self) -> None:
        panes: list[Any] = [*self.query(Pane), self.query_one("#raw", RawView)]
        focused = self.focused
        index = next((i for i, p in enumerate(panes) if p is focused or focused in p.walk_children()), -1)
        panes[(index + 1) % len(panes)].focus()

    def action_copy_id(self) -> None:
        self.app.copy_to_clipboard(self.call.call_id)
        self.notify("asked the terminal to copy the call id (OSC 52: some terminals ignore it)", markup=False)

    def action_copy_raw(self) -> None:
        self.app.copy_to_clipboard(raw_text(self.call))
        self.notify(
            "asked the terminal to copy the raw JSON (OSC 52: some terminals ignore it)", markup=False
        )

    def action_refresh(self) -> None:
        self.post_message(self.RefreshRequested(self.key))

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
