"""The live calls table: a Line-API ScrollView that renders only visible rows and refreshes only changed cells.

Columns are laid out per frame from the columns chosen (STATUS first and frozen), the table's width and how
far it is scrolled sideways, a whole column at a time: there is no horizontal pixel scroll to snap back.
The titles row is drawn from the same layout, in the same frame as the rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

from callmon.columns import BY_NAME, DEFAULT_ORDER, SEPARATOR, Column, fit
from callmon.model import Call, Status
from callmon.store import Key
from callmon.tui.widgets import TypeAhead
from callmon.view import CallView, ViewDelta

MARK_SECONDS = 2.0
GUTTER = 2  # a change marker ("+" new, "~" changed, "!" ended) and a stale marker, readable without colour
MARK_TEXT = {"new": "+", "changed": "~", "ended": "!"}
STALE_MARK = "≈"  # the row's source is down: what it shows may be out of date
_FIND_EACH = 4  # up to this many changed calls are found one by one, not by listing the visible rows
_GAP = " " * SEPARATOR

STATUS_CLASS = {status: f"calltable--{status.value}" for status in Status}


@dataclass(frozen=True, slots=True)
class Placed:
    """A column as one frame lays it out: where it starts on the line and how wide it is there."""

    column: Column
    x: int
    width: int


Layout = tuple[Placed, ...]


def layout(order: Sequence[str], offset: int, width: int) -> Layout:
    """The columns on a line `width` cells wide: the first (STATUS) always, then `order[1:]` from `offset`, as
    many as fit; the last one shown is cut to what is left (a hint that more follow), and a stretchy column
    (REASON) takes spare room when it is the last."""
    columns = [BY_NAME[name] for name in order]
    shown = [columns[0], *columns[1 + offset :]]
    placed: list[Placed] = []
    x = GUTTER
    for i, column in enumerate(shown):
        room = width - x
        if room < 3:
            break
        w = min(column.width, room)
        placed.append(Placed(column, x, w))
        x += w + SEPARATOR
        if i == len(shown) - 1 or w < column.width:
            break
    if placed:
        last = placed[-1]
        spare = width - (last.x + last.width)
        if spare > 0 and last.column.stretch and last.width == last.column.width:
            placed[-1] = Placed(last.column, last.x, min(last.column.stretch, last.width + spare))
    return tuple(placed)


@dataclass(slots=True)
class _Frame:
    """What every line of one render shares. The cursor's row and the rows' keys are looked up when first
    needed: Textual renders a whole widget for a partial update too, but draws only its dirty lines afresh."""

    now: float
    top: int  # the row at the top of the screen
    width: int
    layout: Layout
    start: int  # the lines rendered: [start, stop)
    stop: int
    highlight: Key | None = None
    highlight_found: bool = False
    keys: list[Key] | None = None  # the keys of the rows on those lines, from start (fewer past the last row)
    drawn: int = 0  # lines drawn afresh so far


# A row as runs of cells of one style: (style, cells), a cell None for the gap between two columns.
_Runs = tuple[tuple[Style, tuple[Placed | None, ...]], ...]


class TableHeader(Widget):
    """The column titles, laid out as the table's rows are, with the sort column marked. Click to sort."""

    DEFAULT_CSS = "TableHeader { height: 1; background: $panel; text-style: bold; }"

    @dataclass
    class SortRequested(Message):
        column: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.placed: Layout = ()
        self.sort_column = "started"
        self.reverse = True

    def set_state(self, placed: Layout, sort_column: str, reverse: bool) -> None:
        if (placed, sort_column, reverse) != (self.placed, self.sort_column, self.reverse):
            self.placed, self.sort_column, self.reverse = placed, sort_column, reverse
            self.refresh()

    def render_line(self, y: int) -> Strip:
        style = self.rich_style  # every segment carries a style: monochrome and other filters need one
        if y:
            return Strip.blank(self.size.width, style)
        segments = [Segment(" " * GUTTER, style)]
        x = GUTTER
        for place in self.placed:
            if place.x > x:
                segments.append(Segment(" " * (place.x - x), style))
            title = place.column.title
            if place.column.name == self.sort_column:
                title += "▼" if self.reverse else "▲"
            segments.append(Segment(fit(title, place.width, right=place.column.right), style))
            x = place.x + place.width
        return Strip(segments).extend_cell_length(self.size.width, style).crop(0, self.size.width)

    def column_at(self, x: int) -> str | None:
        for place in self.placed:
            if place.x <= x < place.x + place.width:
                return place.column.name
        return None

    def on_click(self, event: events.Click) -> None:
        name = self.column_at(event.x)
        if name is not None:
            self.post_message(self.SortRequested(name))


class CallTable(TypeAhead, ScrollView, can_focus=True):
    """Shows a CallView. Knows nothing of providers or I/O: it is told about changes and renders."""

    COMPONENT_CLASSES = {
        "calltable--cursor",
        "calltable--dim",
        "calltable--stale",
        "calltable--mark-new",
        "calltable--mark-changed",
        "calltable--mark-ended",
        *STATUS_CLASS.values(),
    }
    DEFAULT_CSS = """
    CallTable { height: 1fr; scrollbar-gutter: stable; overflow-x: hidden; }
    CallTable:focus { border: none; }
    CallTable > .calltable--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
    CallTable > .calltable--dim { color: $text-muted; }
    CallTable > .calltable--stale { color: $text-disabled; }
    CallTable > .calltable--mark-new { color: $success; text-style: bold; }
    CallTable > .calltable--mark-changed { color: $warning; text-style: bold; }
    CallTable > .calltable--mark-ended { color: $secondary; text-style: bold; }
    CallTable > .calltable--queued { color: $text-muted; }
    CallTable > .calltable--ringing { color: $text-warning; }
    CallTable > .calltable--in-progress { color: $text-primary; text-style: bold; }
    CallTable > .calltable--completed { color: $text-success; }
    CallTable > .calltable--no-answer { color: $text-secondary; }
    CallTable > .calltable--busy { color: $text-error; }
    CallTable > .calltable--failed { color: $text-error; text-style: bold; }
    CallTable > .calltable--canceled { color: $text-muted; text-style: italic; }
    CallTable > .calltable--unknown { color: $text-muted; }
    """
    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown,space", "page(1)", "Page down", show=False),
        Binding("home", "edge(0)", "Top (and follow new calls)", show=False),
        Binding("end,G", "edge(1)", "Bottom", show=False),
        Binding("right", "columns(1)", "Columns to the right, a screenful", show=False),
        Binding("left", "columns(-1)", "Columns to the left, a screenful", show=False),
        Binding("enter", "select", "Details", tooltip="The call's details: its record beside the provider's raw JSON, transcript, timeline"),
    ]

    @dataclass
    class Selected(Message):
        key: Key

    @dataclass
    class CursorMoved(Message):
        key: Key | None

    @dataclass
    class LayoutChanged(Message):
        """The columns shown changed (scrolled sideways, resized, chosen): the titles follow at once."""

        placed: Layout

    def __init__(
        self,
        view: CallView,
        *,
        clock: Callable[[], float] = time.time,
        order: Sequence[str] = DEFAULT_ORDER,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.view = view
        self.clock = clock
        self.order: tuple[str, ...] = tuple(order)
        self.col_offset = 0  # columns scrolled past, after the frozen first one
        # The call the user put the cursor on. It may be filtered out of the view for a while: the cursor
        # then highlights the row at its place (`highlight`), and comes back to the call when it does.
        self.cursor_key: Key | None = None
        self._cursor_fallback = 0
        self.marks: dict[Key, tuple[float, str]] = {}
        self.stale_sources: frozenset[str] = frozenset()
        self.new_above = 0  # calls that arrived above the screen since the user scrolled away from the top
        self._cache: LRUCache[tuple[object, ...], tuple[Call, Strip]] = LRUCache(1024)
        self._frame: _Frame | None = None
        self._layouts: dict[tuple[Layout, bool, Status, bool], _Runs] = {}
        self._styles: dict[str, Style] = {}
        self._placed: Layout = ()
        self.virtual_size = Size(0, len(view))

    def focus_keys(self) -> dict[str, Callable[[], object]]:
        screen: Any = self.screen
        action = getattr(screen, "action_focus_filter", None)
        return {"slash": action} if action is not None else {}

    # -- styles -----------------------------------------------------------------------------------------------

    def style_of(self, component: str) -> Style:
        """A component's Rich style, kept until the CSS changes (Textual works it out from every ancestor's
        CSS on each read, which cost more than drawing a row)."""
        style = self._styles.get(component)
        if style is None:
            style = self._styles[component] = self.get_component_rich_style(component, partial=True)
        return style

    @property
    def base_style(self) -> Style:
        style = self._styles.get("")
        if style is None:
            style = self._styles[""] = self.rich_style
        return style

    def notify_style_update(self) -> None:
        # A new theme or CSS: rows were drawn in the old style.
        super().notify_style_update()
        self._styles.clear()
        self._cache.clear()
        self._layouts.clear()

    # -- geometry ---------------------------------------------------------------------------------------------

    @property
    def placed(self) -> Layout:
        """The columns as laid out now."""
        width = self.scrollable_content_region.width
        placed = layout(self.order, self.col_offset, width)
        if placed != self._placed:
            self._placed = placed
            self._cache.clear()
            self.post_message(self.LayoutChanged(placed))
        return placed

    def set_order(self, order: Sequence[str]) -> None:
        self.order = tuple(order)
        self.col_offset = min(self.col_offset, max(0, len(self.order) - 2))
        self._layouts.clear()
        self.refresh()
        _ = self.placed

    @property
    def highlight(self) -> Key | None:
        """The key of the row the cursor is drawn on (the one Enter opens)."""
        n = len(self.view)
        if n == 0:
            return None
        if self.cursor_key is not None and self.cursor_key in self.view:
            return self.cursor_key
        return self.view.key_at(min(self._cursor_fallback, n - 1))

    @property
    def cursor_row(self) -> int:
        if self.cursor_key is not None:
            index = self.view.index(self.cursor_key)
            if index is not None:
                return index
        return min(self._cursor_fallback, max(0, len(self.view) - 1))

    @property
    def following(self) -> bool:
        """Like `tail -f`: the cursor is on the top row at the top of the table, so new calls that arrive at
        the top push in under it and it stays on the top row."""
        return self.cursor_row == 0 and round(self.scroll_y) == 0

    def visible_range(self) -> tuple[int, int]:
        top = round(self.scroll_y)
        return top, top + self.scrollable_content_region.height

    def _sync_size(self) -> None:
        size = Size(self.scrollable_content_region.width, len(self.view))
        if size != self.virtual_size:
            self.virtual_size = size

    def on_resize(self, event: events.Resize) -> None:
        self._sync_size()
        self._cache.clear()
        _ = self.placed

    # -- updates from the app ---------------------------------------------------------------------------------

    def rows_changed(self, delta: ViewDelta, marks: Iterable[tuple[Key, str]] = ()) -> None:
        """Refresh after a batch was applied to the view: only the visible rows it touched."""
        now = self.clock()
        new: list[Key] = []
        for key, kind in marks:
            if kind not in MARK_TEXT:
                continue  # read back from history: shown without a mark
            self.marks[key] = (now + MARK_SECONDS, kind)
            if kind == "new":
                new.append(key)
        following = self._cursor_fallback == 0 and round(self.scroll_y) == 0 and self.cursor_key is not None
        before = self.scroll_y
        cursor_screen = self._cursor_fallback - round(before)
        self._sync_size()
        if delta.moved:
            if following:
                # Follow mode: the newest call pushes in at the top and the cursor stays on the top row.
                self.cursor_key = self.view.key_at(0) if len(self.view) else None
                self._cursor_fallback = 0
                self.scroll_to(y=0, animate=False, immediate=True)
            elif self.cursor_key is not None and self.cursor_key in self.view:
                # Keep the selected call where it was on screen while rows arrive above it.
                row = self.cursor_row
                self._cursor_fallback = row
                top = max(0, row - cursor_screen)
                self.new_above += sum(
                    1 for key in new if (index := self.view.index(key)) is not None and index < top
                )
                self.scroll_to(y=top, animate=False, immediate=True)
            self.refresh()
            return
        self._refresh_cells(delta)

    def _refresh_cells(self, delta: ViewDelta) -> None:
        """Redraw, on the visible rows a batch touched, only the cells whose text changed (and the gutter)."""
        if not delta.changed:
            return
        top, bottom = self.visible_range()
        now = self.clock()
        placed = self.placed
        spans: list[tuple[int, int, int]] = []
        for y, key in self._visible_rows_of(delta.changed, top, bottom):
            old, new = delta.before.get(key), self.view.calls.get(key)
            if old is None or new is None:
                spans.append((y, 0, self.scrollable_content_region.width))
                continue
            # A new status recolours its own cell only (the one run styled by the status, see _runs): the
            # rest of the row is redrawn where its text changed, not whole (that was 2x the bytes at 50/s).
            restyled = old.status is not new.status
            spans.append((y, 0, GUTTER))
            spans.extend(
                (y, place.x, place.width)
                for place in placed
                if (restyled and place.column.name == "status")
                or place.column.text(old, now) != place.column.text(new, now)
            )
        self._refresh_spans(spans)

    def _visible_rows_of(self, keys: frozenset[Key], top: int, bottom: int) -> Iterable[tuple[int, Key]]:
        """(row, key) of those of `keys` on rows [top, bottom)."""
        if len(keys) > _FIND_EACH:
            rows = enumerate(self.view.keys(top, bottom), start=top)
            return [(y, key) for y, key in rows if key in keys]
        # A few keys: finding each (a search of the sorted view) beats listing a screenful of rows.
        found = ((self.view.index(key), key) for key in keys)
        return [(y, key) for y, key in found if y is not None and top <= y < bottom]

    def _refresh_spans(self, spans: Iterable[tuple[int, int, int]]) -> None:
        """Refresh cells [x, x+width) of virtual row y, for each (y, x, width): what is on screen of them. One
        call to Textual for them all: each call costs as much as the rest of a one-cell change."""
        dy = round(self.scroll_y)
        regions = [Region(x, y - dy, width, 1) for y, x, width in spans]
        if regions:
            self.refresh(*regions)

    def tick(self) -> None:
        """Once a second: expire change marks, and redraw the visible cells that read differently as time
        passes (an ended call's age too, not only a live call's duration)."""
        now = self.clock()
        before = now - 1.0
        expired = {k for k, (until, _) in self.marks.items() if until <= now}
        for key in expired:
            del self.marks[key]
        top, bottom = self.visible_range()
        live = [place for place in self.placed if place.column.live]
        spans: list[tuple[int, int, int]] = []
        for y, key in enumerate(self.view.keys(top, bottom), start=top):
            call = self.view.calls.get(key)
            if key in expired:
                spans.append((y, 0, GUTTER))
            if call is None:
                continue
            spans.extend(
                (y, place.x, place.width)
                for place in live
                if place.column.text(call, now) != place.column.text(call, before)
            )
        self._refresh_spans(spans)

    def set_stale(self, sources: frozenset[str]) -> None:
        """Mark the rows of these sources as stale (their source is down)."""
        if sources != self.stale_sources:
            self.stale_sources = sources
            self._cache.clear()
            self.refresh()

    def reset(self) -> None:
        """The view was rebuilt (new filter or sort): redraw everything, keep the cursor on its call."""
        self._sync_size()
        self._cache.clear()
        row = self.cursor_row
        self._cursor_fallback = row
        self.scroll_to_row(row)
        self.refresh()

    # -- cursor -----------------------------------------------------------------------------------------------

    def move_to(self, row: int) -> None:
        n = len(self.view)
        if n == 0:
            self.cursor_key = None
            self._cursor_fallback = 0
            self.refresh()
            return
        row = max(0, min(n - 1, row))
        old = self.cursor_row
        self.cursor_key = self.view.key_at(row)
        self._cursor_fallback = row
        self.scroll_to_row(row)
        if round(self.scroll_y) == 0:
            self.new_above = 0
        self.refresh_line(old - round(self.scroll_y))
        self.refresh_line(row - round(self.scroll_y))
        self.refresh()
        self.post_message(self.CursorMoved(self.cursor_key))

    def scroll_to_row(self, row: int) -> None:
        top, bottom = self.visible_range()
        height = max(1, bottom - top)
        if row < top:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif row >= bottom:
            self.scroll_to(y=row - height + 1, animate=False, immediate=True)

    def action_cursor(self, step: int) -> None:
        self.move_to(self.cursor_row + step)

    def action_page(self, direction: int) -> None:
        """A page: the rows move by a screenful and the cursor keeps its place on screen."""
        step = direction * max(1, self.scrollable_content_region.height - 1)
        self.scroll_to(y=max(0, round(self.scroll_y) + step), animate=False, immediate=True)
        self.move_to(self.cursor_row + step)

    def action_edge(self, end: int) -> None:
        if not end:
            self.scroll_to(y=0, animate=False, immediate=True)
            self.new_above = 0
        self.move_to(len(self.view) - 1 if end else 0)

    def action_columns(self, direction: int) -> None:
        """Sideways, a screenful of columns at a time; STATUS stays put."""
        placed = self.placed
        if direction > 0:
            full = sum(1 for p in placed[1:] if p.width == p.column.width)
            everything_shown = self.col_offset + len(placed) >= len(self.order) and (
                not placed or placed[-1].width == placed[-1].column.width
            )
            if everything_shown:
                return
            self.col_offset = min(len(self.order) - 2, self.col_offset + max(1, full))
        else:
            room = self.scrollable_content_region.width - GUTTER - BY_NAME[self.order[0]].width - SEPARATOR
            offset, used = self.col_offset, 0
            while offset > 0:
                width = BY_NAME[self.order[offset]].width + SEPARATOR  # the column just before those shown
                if used and used + width > room:
                    break
                used += width
                offset -= 1
            if offset == self.col_offset:
                return
            self.col_offset = offset
        self._cache.clear()
        self.refresh()
        _ = self.placed

    def action_select(self) -> None:
        key = self.highlight
        if key is not None:
            self.cursor_key = key
            self.post_message(self.Selected(key))

    def on_click(self, event: events.Click) -> None:
        row = round(self.scroll_y) + event.y
        if 0 <= row < len(self.view):
            self.move_to(row)
            if event.chain == 2:
                self.action_select()

    # -- rendering --------------------------------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        # What every line of this render shares, worked out once rather than per line: where the cursor is
        # takes a search of the sorted view, and each row's key a walk down its index (see _Frame).
        self._frame = self._frame_for(crop.y, crop.bottom)
        try:
            return super().render_lines(crop)
        finally:
            self._frame = None

    def _frame_for(self, start: int, stop: int) -> _Frame:
        return _Frame(
            now=self.clock(),
            top=round(self.scroll_y),
            width=self.scrollable_content_region.width,
            layout=self.placed,
            start=start,
            stop=stop,
        )

    def _key_on(self, frame: _Frame, y: int) -> Key | None:
        """The key of the row on line y: one lookup for the first line drawn, then one slice for them all
        (the rest of a full repaint)."""
        if frame.keys is None:
            frame.drawn += 1
            if frame.drawn == 1:
                row = frame.top + y
                return self.view.key_at(row) if row < len(self.view) else None
            frame.keys = self.view.keys(frame.top + frame.start, frame.top + frame.stop)
        i = y - frame.start
        return frame.keys[i] if i < len(frame.keys) else None

    def render_line(self, y: int) -> Strip:
        frame = self._frame
        if frame is None or not frame.start <= y < frame.stop:
            frame = self._frame_for(y, y + 1)
        key = self._key_on(frame, y)
        if key is None:
            return Strip.blank(frame.width, self.base_style)
        call = self.view.calls.get(key)
        if call is None:
            return Strip.blank(frame.width, self.base_style)
        now = frame.now
        mark = self.marks.get(key)
        mark_kind = mark[1] if mark and mark[0] > now else None
        if not frame.highlight_found:
            frame.highlight, frame.highlight_found = self.highlight, True
        selected = key == frame.highlight
        stale = call.source in self.stale_sources
        # The live columns' text is part of the key: an ended call's age moves on too.
        clocked = tuple(p.column.text(call, now) for p in frame.layout if p.column.live)
        cache_key = (key, selected, mark_kind, stale, clocked, frame.layout, frame.width)
        cached = self._cache.get(cache_key)
        # The entry holds the call it was drawn from, and only that very object will do: an id() in the key
        # could be a newer version of the call that the allocator put where an old one had been.
        if cached is not None and cached[0] is call:
            return cached[1]
        strip = self._render_row(call, now, selected, mark_kind, stale, frame)
        self._cache[cache_key] = (call, strip)
        return strip

    def _runs(self, placed: Layout, selected: bool, status: Status, stale: bool) -> _Runs:
        """The row's cells grouped into runs of one style, each run one segment: fewer segments, a cheaper
        frame. Worked out once per kind of row, not per row (comparing rich Styles is slow)."""
        runs = self._layouts.get((placed, selected, status, stale))
        if runs is not None:
            return runs
        base = self.base_style + (self.style_of("calltable--cursor") if selected else Style())
        dim = self.style_of("calltable--stale" if stale else "calltable--dim")
        styled: list[tuple[Style, Placed | None]] = []
        for i, place in enumerate(placed):
            if place.column.name == "status":
                style = base + self.style_of(STATUS_CLASS[status])
            elif stale or (place.column.name in ("age", "started") and not selected):
                style = base + dim
            else:
                style = base
            styled.append((style, place))
            if i < len(placed) - 1:
                styled.append((base, None))
        grouped: list[tuple[Style, list[Placed | None]]] = []
        for style, cell in styled:
            if grouped and grouped[-1][0] == style:
                grouped[-1][1].append(cell)
            else:
                grouped.append((style, [cell]))
        runs = tuple((style, tuple(cells)) for style, cells in grouped)
        self._layouts[(placed, selected, status, stale)] = runs
        return runs

    def _render_row(
        self, call: Call, now: float, selected: bool, mark: str | None, stale: bool, frame: _Frame
    ) -> Strip:
        base = self.base_style
        if selected:
            base = base + self.style_of("calltable--cursor")
        mark_style = base + self.style_of(f"calltable--mark-{mark}") if mark else base
        segments: list[Segment] = [
            Segment(MARK_TEXT.get(mark or "", " "), mark_style),
            Segment(STALE_MARK if stale else " ", base),
        ]
        for style, run in self._runs(frame.layout, selected, call.status, stale):
            text = "".join(
                [
                    _GAP if p is None else fit(p.column.text(call, now), p.width, right=p.column.right)
                    for p in run
                ]
            )
            segments.append(Segment(text, style))
        used = frame.layout[-1].x + frame.layout[-1].width if frame.layout else GUTTER
        if frame.width > used:
            segments.append(Segment(" " * (frame.width - used), base))
        return Strip(segments, max(frame.width, used)).crop(0, frame.width)
