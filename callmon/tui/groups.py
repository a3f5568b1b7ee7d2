"""The group view: one row per campaign (or provider, source, reason) with its measures, in place of the calls.

It reads the running totals the view keeps (`CallView.groups`, callmon/measures.py) and draws only the rows
on screen; the order is worked out again once a second, not per batch, so a dialer with 20,000 campaigns
costs one sort a second.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

from callmon.columns import SEPARATOR, fit
from callmon.measures import (
    GROUP_COLUMN,
    GROUP_COLUMNS,
    GROUP_TITLE,
    NONE,
    GroupColumn,
    Groups,
    Tally,
    group_filter,
    ordered,
    percent,
    worst_answer_rate,
)
from callmon.tui.widgets import TypeAhead

GUTTER = 2  # "!" marks a group with an alert firing, "▼" the worst answer rate
WORST_MARK = "▼"
ALERT_MARK = "!"
NAME_MIN, NAME_MAX = 12, 32
_GAP = " " * SEPARATOR


@dataclass(frozen=True, slots=True)
class Cell:
    """A column as one frame lays it out ("name" is the group's own name)."""

    name: str
    title: str
    x: int
    width: int
    right: bool


def layout(offset: int, width: int) -> tuple[Cell, ...]:
    """The group's name first, always, then the measures from `offset` on, as many as fit whole; the last
    one, TOP REASON, takes the room that is left."""
    fixed = sum(c.width + SEPARATOR for c in GROUP_COLUMNS[:7])
    name_width = max(NAME_MIN, min(NAME_MAX, width - GUTTER - SEPARATOR - fixed))
    cells = [Cell("name", "", GUTTER, name_width, False)]
    x = GUTTER + name_width + SEPARATOR
    for column in GROUP_COLUMNS[offset:]:
        room = width - x
        if room < column.width:
            if column is GROUP_COLUMNS[-1] and room >= 8:
                cells.append(Cell(column.name, column.title, x, room, column.right))
            break
        w = max(column.width, room) if column is GROUP_COLUMNS[-1] else column.width
        cells.append(Cell(column.name, column.title, x, w, column.right))
        x += w + SEPARATOR
    return tuple(cells)


class GroupHeader(Widget):
    """The group view's titles, laid out as its rows are, the sort column marked. Click one to sort."""

    DEFAULT_CSS = "GroupHeader { height: 1; background: $panel; text-style: bold; }"

    @dataclass
    class SortRequested(Message):
        column: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.cells: tuple[Cell, ...] = ()
        self.dimension = "campaign"
        self.sort_column = "calls"
        self.reverse = True

    def set_state(self, cells: tuple[Cell, ...], dimension: str, sort_column: str, reverse: bool) -> None:
        state = (cells, dimension, sort_column, reverse)
        if state != (self.cells, self.dimension, self.sort_column, self.reverse):
            self.cells, self.dimension, self.sort_column, self.reverse = state
            self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        style = self.rich_style
        if y != 0:
            return Strip.blank(width, style)
        line = [" "] * width
        for cell in self.cells:
            title = GROUP_TITLE[self.dimension] if cell.name == "name" else cell.title
            if cell.name == self.sort_column and len(title) < cell.width:
                title = f"{title}{'▼' if self.reverse else '▲'}"  # where it fits; the title line says it too
            text = fit(title, cell.width, right=cell.right)
            line[cell.x : cell.x + len(text)] = text
        return Strip([Segment("".join(line)[:width], style)], width)

    def column_at(self, x: int) -> str | None:
        for cell in self.cells:
            if cell.x <= x < cell.x + cell.width:
                return cell.name
        return None

    def on_click(self, event: events.Click) -> None:
        column = self.column_at(event.x)
        if column is not None:
            self.post_message(self.SortRequested(column))


class GroupTable(TypeAhead, ScrollView, can_focus=True):
    """One row per group, its measures in columns; Enter filters the calls to the group."""

    DEFAULT_CSS = """
    GroupTable { height: 1fr; scrollbar-size-horizontal: 0; }
    GroupTable > .grouptable--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
    GroupTable > .grouptable--bad { color: $text-error; text-style: bold; }
    GroupTable > .grouptable--none { color: $text-muted; text-style: italic; }
    GroupTable > .grouptable--failures { color: $text-error; }
    GroupTable > .grouptable--worst { color: $text-error; text-style: bold; }
    """
    COMPONENT_CLASSES = {
        "grouptable--cursor",
        "grouptable--bad",
        "grouptable--none",
        "grouptable--failures",
        "grouptable--worst",
    }
    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown,space", "page(1)", "Page down", show=False),
        Binding("home", "edge(0)", "Top", show=False),
        Binding("end,G", "edge(1)", "Bottom", show=False),
        Binding("right", "columns(1)", "Columns to the right", show=False),
        Binding("left", "columns(-1)", "Columns to the left", show=False),
        Binding("enter", "choose", "Its calls", tooltip="The group's calls: the table, filtered to them"),
    ]

    @dataclass
    class Chosen(Message):
        """Enter on a group: the filter that picks its calls."""

        filter_text: str

    @dataclass
    class LayoutChanged(Message):
        """The columns shown changed (resized, scrolled sideways): the titles follow at once."""

        cells: tuple[Cell, ...]

    def __init__(self, *, clock: Callable[[], float] = time.time, id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock
        self.groups: Groups | None = None
        self.names: list[str] = []  # in display order, as of the last refresh_rows()
        self.sort_column = "calls"
        self.reverse = True
        self.col_offset = 0
        self.cursor_name: str | None = None
        self._cursor_fallback = 0
        self.worst: str | None = None
        self.alerting: frozenset[str] = frozenset()  # groups with an alert firing (by this dimension)
        self._styles: dict[str, Style] = {}
        self._cells: tuple[Cell, ...] = ()
        self.virtual_size = Size(0, 0)

    def focus_keys(self) -> dict[str, Callable[[], object]]:
        screen: Any = self.screen
        action = getattr(screen, "action_focus_filter", None)
        return {"slash": action} if action is not None else {}

    def style_of(self, component: str) -> Style:
        style = self._styles.get(component)
        if style is None:
            style = self._styles[component] = self.get_component_rich_style(component, partial=True)
        return style

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()

    # -- what is shown ----------------------------------------------------------------------------------------

    @property
    def cells(self) -> tuple[Cell, ...]:
        cells = layout(self.col_offset, self.scrollable_content_region.width)
        if cells != self._cells:
            self._cells = cells
            self.post_message(self.LayoutChanged(cells))
        return cells

    def show(self, groups: Groups | None) -> None:
        """Show these running totals (None: nothing), from the top."""
        self.groups = groups
        self.cursor_name = None
        self._cursor_fallback = 0
        self.scroll_to(y=0, animate=False, immediate=True)
        self.refresh_rows()

    def set_sort(self, column: str, reverse: bool) -> None:
        self.sort_column, self.reverse = column, reverse
        self.refresh_rows()

    def sort_by(self, column: str) -> None:
        """Sort on a column; on the same one again, the other way."""
        if column == self.sort_column:
            self.set_sort(column, not self.reverse)
        else:
            spec = GROUP_COLUMN.get(column)
            self.set_sort(column, spec.descending_first if spec is not None else False)

    def refresh_rows(self) -> None:
        """Put the groups in order again (their measures moved on) and redraw."""
        groups = self.groups
        if groups is None:
            self.names = []
            self.worst = None
        else:
            now = self.clock()
            self.names = ordered(groups, self.sort_column, self.reverse, now)
            worst = worst_answer_rate(groups)
            self.worst = worst[0] if worst is not None else None
        size = Size(self.scrollable_content_region.width, len(self.names))
        if size != self.virtual_size:
            self.virtual_size = size
        self.refresh()

    @property
    def cursor_row(self) -> int:
        if self.cursor_name is not None:
            try:
                return self.names.index(self.cursor_name)
            except ValueError:
                pass
        return min(self._cursor_fallback, max(0, len(self.names) - 1))

    @property
    def highlight(self) -> str | None:
        if not self.names:
            return None
        return self.names[self.cursor_row]

    # -- keys -------------------------------------------------------------------------------------------------

    def move_to(self, row: int) -> None:
        if not self.names:
            return
        row = max(0, min(len(self.names) - 1, row))
        self.cursor_name = self.names[row]
        self._cursor_fallback = row
        top = round(self.scroll_y)
        height = max(1, self.scrollable_content_region.height)
        if row < top:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif row >= top + height:
            self.scroll_to(y=row - height + 1, animate=False, immediate=True)
        self.refresh()

    def action_cursor(self, step: int) -> None:
        self.move_to(self.cursor_row + step)

    def action_page(self, direction: int) -> None:
        step = direction * max(1, self.scrollable_content_region.height - 1)
        self.scroll_to(y=max(0, round(self.scroll_y) + step), animate=False, immediate=True)
        self.move_to(self.cursor_row + step)

    def action_edge(self, end: int) -> None:
        self.move_to(len(self.names) - 1 if end else 0)

    def action_columns(self, direction: int) -> None:
        """Sideways: the group's name stays, the measures move by one column."""
        last = len(GROUP_COLUMNS) - 1
        offset = max(0, min(last, self.col_offset + direction))
        if direction > 0 and self.cells[-1].name == GROUP_COLUMNS[-1].name:
            return  # the last column is on screen already
        if offset != self.col_offset:
            self.col_offset = offset
            self.refresh()

    def action_choose(self) -> None:
        name = self.highlight
        if name is not None and self.groups is not None:
            self.post_message(self.Chosen(group_filter(self.groups.dimension, name)))

    def on_click(self, event: events.Click) -> None:
        row = round(self.scroll_y) + event.y
        if 0 <= row < len(self.names):
            self.move_to(row)
            if event.chain == 2:
                self.action_choose()

    def on_resize(self, event: events.Resize) -> None:
        self.refresh_rows()

    # -- rendering --------------------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        row = round(self.scroll_y) + y
        groups = self.groups
        if groups is None or row >= len(self.names):
            return Strip.blank(width, base)
        name = self.names[row]
        tally = groups.tallies.get(name)
        if tally is None:
            return Strip.blank(width, base)
        selected = row == self.cursor_row
        if selected:
            base = base + self.style_of("grouptable--cursor")
        return self._render_row(name, tally, base, selected, width)

    def _render_row(self, name: str, tally: Tally, base: Style, selected: bool, width: int) -> Strip:
        now = self.clock()
        worst = name == self.worst
        alerting = name in self.alerting
        mark = ALERT_MARK if alerting else WORST_MARK if worst else " "
        segments = [Segment(f"{mark} ", base + self.style_of("grouptable--worst"))]
        used = GUTTER
        cells = self.cells
        for i, cell in enumerate(cells):
            style = base
            if cell.name == "name":
                text = name
                if name == NONE:
                    style = base + self.style_of("grouptable--none")
            else:
                column = GROUP_COLUMN[cell.name]
                text = column.text(tally, now)
                style = base + self._cell_style(column, worst, alerting, selected)
            segments.append(Segment(fit(text, cell.width, right=cell.right), style))
            used = cell.x + cell.width
            if i < len(cells) - 1:
                segments.append(Segment(_GAP, base))
                used += SEPARATOR
        if width > used:
            segments.append(Segment(" " * (width - used), base))
        return Strip(segments, max(width, used)).crop(0, width)

    def set_alerting(self, names: frozenset[str]) -> None:
        if names != self.alerting:
            self.alerting = names
            self.refresh()

    def _cell_style(self, column: GroupColumn, worst: bool, alerting: bool, selected: bool) -> Style:
        if selected:
            return Style()
        if alerting and column.name in ("failure_rate", "answer_rate", "failures_per_min"):
            return self.style_of("grouptable--bad")
        if column.name == "answer_rate" and worst:
            return self.style_of("grouptable--worst")
        if column.name == "failures_per_min":
            return self.style_of("grouptable--failures")
        return Style()


def title_text(groups: Groups | None, sort_column: str = "calls", reverse: bool = True) -> str:
    """The line above the group view: what it groups, how many, how sorted, the worst answer rate."""
    if groups is None:
        return ""
    n = len(groups.tallies)
    sorted_by = GROUP_TITLE[groups.dimension] if sort_column == "name" else GROUP_COLUMN[sort_column].title
    # What matters most first: at 80 columns the end of the line is cut.
    parts = [f"by {groups.dimension} (g: next)"]
    worst = worst_answer_rate(groups)
    if worst is not None:
        name, tally = worst
        parts.append(
            f"{WORST_MARK} worst answer rate: {name} {percent(tally.answer_rate)} of {tally.ended:,} ended"
        )
    parts += [f"{n:,} group{'s' if n != 1 else ''}", f"sorted by {sorted_by} {'▼' if reverse else '▲'}"]
    parts.append("enter: its calls")
    return " · ".join(parts)


def sort_columns() -> Sequence[str]:
    """The group view's columns in order, for `s` (next) and the digit keys."""
    return ["name", *(c.name for c in GROUP_COLUMNS)]
