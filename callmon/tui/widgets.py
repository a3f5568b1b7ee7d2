"""Small widgets around the table. They render what they are given; none of them does I/O."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input, Static

from callmon.columns import STATUS_GLYPH
from callmon.health import SourceHealth, State
from callmon.model import Status
from callmon.query import QueryError, compile_query
from callmon.tui.table import STATUS_STYLE

HEALTH_STYLE = {
    State.OK: Style(color="green"),
    State.STARTING: Style(color="bright_black"),
    State.RATE_LIMITED: Style(color="yellow"),
    State.RETRYING: Style(color="yellow"),
    State.AUTH_FAILED: Style(color="bright_red", bold=True),
    State.NO_CREDENTIALS: Style(color="bright_red", bold=True),
    State.ERROR: Style(color="bright_red"),
}


class HealthBar(Static):
    """Line 1: each source's state. Line 2: counts by status for the current filter, and N shown of M."""

    DEFAULT_CSS = """
    HealthBar { height: 2; background: $boost; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self._shown: tuple[object, ...] | None = None

    def show(
        self,
        health: Sequence[SourceHealth],
        counts: Counter[Status],
        shown: int,
        total: int,
        *,
        paused: int | None = None,
        failures_only: bool = False,
        receiver: str | None = None,
    ) -> None:
        now = time.time()
        line = self._sources_line(health, now, compact=False)
        if line.cell_len > max(20, self.size.width - 2):
            line = self._sources_line(health, now, compact=True)
        if receiver:
            line.append(f" · hooks {receiver}", Style(dim=True))
        second = Text(no_wrap=True, overflow="ellipsis")
        for status in Status:
            n = counts.get(status, 0)
            if n:
                second.append(f"{STATUS_GLYPH[status]} {status.value} {n}  ", STATUS_STYLE[status])
        second.append(f"{shown:,} shown of {total:,}", Style(bold=True))
        if failures_only:
            second.append("  [failures only]", Style(color="bright_red"))
        if paused is not None:
            second.append(
                f"  ⏸ PAUSED +{paused:,} changes", Style(color="black", bgcolor="yellow", bold=True)
            )
        text = Text("\n").join([line, second])
        fingerprint = (text.plain, tuple((s.start, s.end, str(s.style)) for s in text.spans))
        if fingerprint != self._shown:
            # Redrawn only when it reads differently: an idle monitor writes nothing to the terminal.
            self._shown = fingerprint
            self.update(text, layout=False)  # fixed height: a layout pass would repaint the table's scrollbar

    @staticmethod
    def _sources_line(health: Sequence[SourceHealth], now: float, *, compact: bool) -> Text:
        """Every source with its state; compact: a count of healthy ones, then only those needing attention."""
        line = Text()
        if not health:
            line.append("no sources", Style(dim=True))
            return line
        shown = [h for h in health if h.state != State.OK] if compact else list(health)
        if compact:
            healthy = len(health) - len(shown)
            line.append(f"{len(health)} sources: ", Style(bold=True))
            line.append(f"{healthy} ok", HEALTH_STYLE[State.OK])
        for i, h in enumerate(shown):
            if i or compact:
                line.append(" · ", Style(dim=True))
            line.append(h.name, Style(bold=True))
            line.append(" ")
            line.append(h.summary(now), HEALTH_STYLE.get(h.state, Style()))
        return line


class FilterBar(Input):
    """The filter query. Validates as you type: an invalid query is shown in red with the reason and the
    table keeps its last good filter. Up/down recall recent filters."""

    DEFAULT_CSS = """
    FilterBar { height: 1; border: none; padding: 0 1; background: $boost; }
    FilterBar:focus { border: none; background: $panel; }
    FilterBar.-invalid { color: $error; }
    """
    BINDINGS = [
        Binding("up", "recall(-1)", "Older filter", show=False),
        Binding("down", "recall(1)", "Newer filter", show=False),
        Binding("escape", "leave", "Back to table", show=False),
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
        super().__init__(
            value=value,
            placeholder="/ filter: status:failed  provider:vobiz  to:+91*  dur>60  is:active  (? for help)",
            id=id,
            select_on_focus=False,
            compact=True,
        )
        self.recent = recent
        self._recall: int | None = None

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        try:
            compile_query(event.value)
        except QueryError as exc:
            self.add_class("-invalid")
            self.post_message(self.QueryInvalid(event.value, str(exc)))
            return
        self.remove_class("-invalid")
        self.post_message(self.QueryChanged(event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not self.has_class("-invalid"):
            self.post_message(self.QuerySubmitted(event.value))
            self.post_message(self.Done())

    def action_recall(self, step: int) -> None:
        if not self.recent:
            return
        index = len(self.recent) if self._recall is None else self._recall
        index = max(0, min(len(self.recent), index + step))
        self._recall = index
        self.value = self.recent[index] if index < len(self.recent) else ""
        self.cursor_position = len(self.value)

    def action_leave(self) -> None:
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
