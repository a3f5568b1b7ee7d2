"""Small widgets around the table. They render what they are given; none of them does I/O."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.geometry import Region
from textual.message import Message
from textual.widgets import Input, Static

from callmon.columns import STATUS_GLYPH
from callmon.health import SourceHealth, State
from callmon.model import Status
from callmon.providers import names
from callmon.query import QueryError, compile_query

HEALTH_STYLE = {
    State.OK: Style(color="green"),
    State.STARTING: Style(color="bright_black"),
    State.RATE_LIMITED: Style(color="yellow"),
    State.RETRYING: Style(color="yellow"),
    State.AUTH_FAILED: Style(color="bright_red", bold=True),
    State.NO_CREDENTIALS: Style(color="bright_red", bold=True),
    State.ERROR: Style(color="bright_red"),
}
STATUS_COLOR = {
    Status.QUEUED: Style(color="bright_black"),
    Status.RINGING: Style(color="yellow"),
    Status.IN_PROGRESS: Style(color="bright_cyan", bold=True),
    Status.COMPLETED: Style(color="green"),
    Status.NO_ANSWER: Style(color="magenta"),
    Status.BUSY: Style(color="bright_magenta"),
    Status.FAILED: Style(color="bright_red", bold=True),
    Status.CANCELED: Style(color="bright_black", italic=True),
    Status.UNKNOWN: Style(color="bright_black"),
}


@dataclass(frozen=True, slots=True)
class ViewState:
    """What the first header line says about the table: everything a person must never miss first."""

    shown: int
    total: int
    counts: Counter[Status]
    paused: int | None = None  # changes held while the display is paused
    new_above: int = 0
    failures_only: bool = False
    loading: str | None = None  # "loading history 40 %", "starting"
    history: str | None = None  # what a filter found in history, past the window in memory


def _fit(parts: Sequence[tuple[str, Style]], width: int) -> Text:
    """The parts that fit in `width`, in order; the first ones always (they are what matters most)."""
    line = Text(no_wrap=True, overflow="ellipsis")
    for i, (text, style) in enumerate(parts):
        if i and line.cell_len + len(text) > width:
            break
        line.append(text, style)
    return line


class HealthBar(Static):
    """Line 1: the view (PAUSED, new calls above, N shown of M, failures only, counts by status).
    Line 2: each source's state, the webhook receiver, the zone times are shown in."""

    COMPONENT_CLASSES = {
        "healthbar--badge",
        "healthbar--new",
        "healthbar--failures",
        *(f"healthbar--{status.value}" for status in Status),
        *(f"healthbar--{state.name.lower()}" for state in State),
    }
    DEFAULT_CSS = """
    HealthBar { height: 2; background: $boost; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    HealthBar > .healthbar--badge { background: $warning; color: $background; text-style: bold; }
    HealthBar > .healthbar--new { background: $primary; color: $background; text-style: bold; }
    HealthBar > .healthbar--failures { color: $text-error; }
    HealthBar > .healthbar--queued { color: $text-muted; }
    HealthBar > .healthbar--ringing { color: $text-warning; }
    HealthBar > .healthbar--in-progress { color: $text-primary; text-style: bold; }
    HealthBar > .healthbar--completed { color: $text-success; }
    HealthBar > .healthbar--no-answer { color: $text-secondary; }
    HealthBar > .healthbar--busy { color: $text-error; }
    HealthBar > .healthbar--failed { color: $text-error; text-style: bold; }
    HealthBar > .healthbar--canceled { color: $text-muted; text-style: italic; }
    HealthBar > .healthbar--unknown { color: $text-muted; }
    HealthBar > .healthbar--ok { color: $text-success; }
    HealthBar > .healthbar--starting { color: $text-muted; }
    HealthBar > .healthbar--rate_limited { color: $text-warning; }
    HealthBar > .healthbar--retrying { color: $text-warning; }
    HealthBar > .healthbar--auth_failed { color: $text-error; text-style: bold; }
    HealthBar > .healthbar--no_credentials { color: $text-error; text-style: bold; }
    HealthBar > .healthbar--error { color: $text-error; }
    """

    def style(self, name: str) -> Style:
        return self.get_component_rich_style(f"healthbar--{name}", partial=True)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self._shown: tuple[object, ...] | None = None
        self._text = Text()

    def show(
        self,
        view: ViewState,
        health: Sequence[SourceHealth],
        *,
        receiver: str | None = None,
        zone: str = "",
        extra: str | None = None,
    ) -> None:
        width = max(20, self.size.width - 2)
        now = time.time()
        first: list[tuple[str, Style]] = []
        if view.paused is not None:
            first.append((f"⏸ PAUSED +{view.paused:,} ", self.style("badge")))
            first.append((" ", Style()))
        if view.new_above:
            first.append((f"▲ {view.new_above:,} new (home) ", self.style("new")))
            first.append((" ", Style()))
        if view.loading:
            first.append((f"{view.loading}  ", Style(italic=True)))
        first.append((f"{view.shown:,} shown of {view.total:,}", Style(bold=True)))
        if view.history:
            first.append((f" · {view.history}", Style(italic=True)))
        if view.failures_only:
            first.append(("  [failures only]", self.style("failures")))
        counted = [(status, n) for status in Status if (n := view.counts.get(status, 0))]
        named = [(f"  {STATUS_GLYPH[s]} {s.value} {n:,}", self.style(s.value)) for s, n in counted]
        if sum(len(text) for text, _ in first + named) > width:
            # Narrow (80 columns): every count must show, the failures' above all, so glyphs without names.
            named = [(f" {STATUS_GLYPH[s]}{n:,}", self.style(s.value)) for s, n in counted]
            named[:1] = [(" " + text, style) for text, style in named[:1]]
        first.extend(named)
        second = self._sources_line(health, now, compact=False)
        tail = f"  times: {zone}" if zone else ""
        if second.cell_len + len(tail) > width:
            second = self._sources_line(health, now, compact=True)
        if extra:
            second.append(f" · {extra}", Style(dim=True))
        if receiver:
            second.append(f" · hooks {receiver}", Style(dim=True))
        if tail and second.cell_len + len(tail) <= width:
            second.append(tail, Style(dim=True))
        lines = (_fit(first, width), second)
        shown = tuple((line.plain, tuple((s.start, s.end, str(s.style)) for s in line.spans)) for line in lines)
        if shown != self._shown:
            # Redrawn only where it reads differently: an idle monitor writes nothing to the terminal, and
            # counts that move each second under load do not rewrite the sources line under them. No layout
            # pass: the height is fixed, and one would repaint the table's scrollbar.
            before, self._shown = self._shown, shown
            self._text = Text("\n").join(lines)
            if before is None or len(before) != len(shown):
                self.refresh()
            else:
                self.refresh(*(Region(0, y, self.size.width, 1) for y, line in enumerate(shown) if line != before[y]))

    def render(self) -> Text:
        return self._text

    def _sources_line(self, health: Sequence[SourceHealth], now: float, *, compact: bool) -> Text:
        """Every source with its state; compact: a count of healthy ones, then only those needing attention."""
        line = Text(no_wrap=True, overflow="ellipsis")
        if not health:
            line.append("no sources yet", Style(dim=True))
            return line
        shown = [h for h in health if h.state is not State.OK] if compact else list(health)
        if compact:
            healthy = len(health) - len(shown)
            line.append(f"{len(health)} sources: ", Style(bold=True))
            line.append(f"{healthy} ok", self.style("ok"))
        for i, h in enumerate(shown):
            if i or compact:
                line.append(" · ", Style(dim=True))
            line.append(h.name, Style(bold=True))
            line.append(" ")
            line.append(h.summary(now), self.style(h.state.name.lower()))
        line.append("  (h: health)", Style(dim=True))
        return line


class TypeAhead:
    """Keys typed in one read (a fast typist over SSH: "/fail") are queued for the widget that has the focus
    when they arrive, all of them, before any is handled. So a key that moves the focus ("/" to the filter
    bar, esc or enter back to the table) is handled here at once, not as a binding after the rest were
    queued; and a key queued before such a move goes on to where the person's typing now goes, in order."""

    def focus_keys(self) -> dict[str, Callable[[], object]]:
        """Keys whose action moves the focus away from this widget, and the action (run at once)."""
        return {}

    async def _on_key(self, event: events.Key) -> None:
        widget: Any = self
        focused = widget.screen.focused
        if focused is not None and focused is not widget:
            event.stop()
            event.prevent_default()
            focused.post_message(events.Key(event.key, event.character))
            return
        move = self.focus_keys().get(event.key)
        if move is not None:
            event.stop()
            event.prevent_default()
            move()
            return
        await super()._on_key(event)  # type: ignore[misc]


def placeholder() -> str:
    provider = names()[-1] if names() else "NAME"
    return f"filter: status:failed  provider:{provider}  to:+91*  dur>60  is:active   enter keep · esc back"


class FilterBar(TypeAhead, Input):
    """The filter query. Validates as you type: an invalid query is shown in red with the reason and the
    table keeps its last good filter; enter does not take an invalid one. Up/down recall recent filters."""

    DEFAULT_CSS = """
    FilterBar { height: 1; border: none; padding: 0 1; background: $boost; }
    FilterBar:focus { border: none; background: $panel; }
    FilterBar.-bad-filter { color: $error; text-style: bold; }
    """
    BINDINGS = [
        Binding("enter", "keep", "Keep filter"),
        Binding("escape", "leave", "Back to table"),
        Binding("up", "recall(-1)", "Older filter"),
        Binding("down", "recall(1)", "Newer filter"),
    ]

    @dataclass
    class QueryChanged(Message):
        """A valid query (possibly empty) to apply now."""

        text: str

    @dataclass
    class QueryInvalid(Message):
        text: str
        reason: str

    @dataclass
    class QuerySubmitted(Message):
        text: str

    class Done(Message):
        """Back to the table."""

    def __init__(self, recent: list[str], *, value: str = "", id: str | None = None) -> None:
        super().__init__(value=value, placeholder=placeholder(), id=id, select_on_focus=False, compact=True)
        self.recent = recent
        self._recall: int | None = None
        self.back_to: Any = None  # the widget esc and enter give the focus back to

    def focus_keys(self) -> dict[str, Callable[[], object]]:
        return {"escape": self.action_leave, "enter": self.action_keep}

    @property
    def valid(self) -> bool:
        return not self.has_class("-bad-filter")

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        try:
            compile_query(event.value)
        except QueryError as exc:
            self.add_class("-bad-filter")
            self.post_message(self.QueryInvalid(event.value, str(exc)))
            return
        self.remove_class("-bad-filter")
        self.post_message(self.QueryChanged(event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_keep()

    def action_keep(self) -> None:
        if not self.valid:
            self.app.bell()  # an invalid filter is never taken: the reason stays on screen
            return
        self.post_message(self.QuerySubmitted(self.value))
        self.action_leave()

    def action_recall(self, step: int) -> None:
        if not self.recent:
            return
        index = len(self.recent) if self._recall is None else self._recall
        index = max(0, min(len(self.recent), index + step))
        self._recall = index
        self.value = self.recent[index] if index < len(self.recent) else ""
        self.cursor_position = len(self.value)

    def action_leave(self) -> None:
        if self.back_to is not None:
            self.screen.set_focus(self.back_to)
        self.post_message(self.Done())

    def on_blur(self, event: events.Blur) -> None:
        self._recall = None


class ErrorLine(Static):
    """One line under the table for the filter's error; empty (and hidden) otherwise."""

    DEFAULT_CSS = "ErrorLine { height: 1; color: $error; padding: 0 1; display: none; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)

    def say(self, message: str | None) -> None:
        self.display = bool(message)
        self.update(Text(message or "", no_wrap=True, overflow="ellipsis"))


@dataclass(frozen=True, slots=True)
class BannerAlert:
    """An alert the banner shows until it is acknowledged: firing, or cleared since."""

    title: str
    message: str
    fired_at: float
    cleared_at: float | None = None


class AlertBanner(Horizontal):
    """A line above the table while an alert is unacknowledged: what fired, why, when, and at its right end
    the keys (`a` acknowledges, `A` lists them all). Readable without colour: it starts with "ALERT" (or
    "cleared")."""

    DEFAULT_CSS = """
    AlertBanner { height: 1; display: none; background: $error; color: $text; }
    AlertBanner.-cleared { background: $warning; }
    AlertBanner > #alert-text { width: 1fr; padding: 0 1; text-style: bold; }
    AlertBanner.-cleared > #alert-text { text-style: none; }
    AlertBanner > #alert-keys { width: auto; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="alert-text", markup=False)
        yield Static("a: ack · A: alerts", id="alert-keys", markup=False)

    def show(self, alerts: Sequence[BannerAlert], clock: Callable[[float], str]) -> None:
        self.display = bool(alerts)
        if not alerts:
            return
        firing = [a for a in alerts if a.cleared_at is None]
        self.set_class(not firing, "-cleared")
        first = (firing or list(alerts))[-1]  # the newest that still fires, else the newest
        state = (
            f"ALERT {clock(first.fired_at)} {first.title}: {first.message}"
            if first.cleared_at is None
            else f"cleared {clock(first.cleared_at)} {first.title} (fired {clock(first.fired_at)})"
        )
        more = len(alerts) - 1
        text = f"⚠ {f'+{more} more · ' if more else ''}{state}"
        self.query_one("#alert-text", Static).update(Text(text, no_wrap=True, overflow="ellipsis"))
        self._keys(self.size.width)

    def on_resize(self, event: events.Resize) -> None:
        self._keys(event.size.width)

    def _keys(self, width: int) -> None:
        # Narrow (80 columns): the measure that fired matters more than the keys' names.
        self.query_one("#alert-keys", Static).update("a: ack · A: alerts" if width >= 100 or not width else "a/A")
