"""The live calls table: a Line-API ScrollView that renders only visible rows and refreshes only changed ones."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import accumulate

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

from callmon import redact
from callmon.columns import COLUMNS, SEPARATOR, TOTAL_WIDTH, Column, fit
from callmon.model import Call, Status
from callmon.store import Key
from callmon.view import CallView, ViewDelta

MARK_SECONDS = 2.0
GUTTER = 2  # a change marker ("+" new, "~" changed, "!" ended) readable without colour
WIDTH = GUTTER + TOTAL_WIDTH
# Each column with the x of its first cell on a row (before horizontal scroll).
_OFFSETS = tuple(
    zip(accumulate((c.width + SEPARATOR for c in COLUMNS), initial=GUTTER), COLUMNS, strict=False)
)

STATUS_STYLE = {
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
MARK_TEXT = {"new": "+", "changed": "~", "ended": "!"}
# Marks live in the gutter only: when one fades, two cells are redrawn, not the row.
MARK_STYLE = {
    "new": Style(color="green", bold=True),
    "changed": Style(color="yellow", bold=True),
    "ended": Style(color="magenta", bold=True),
}
CURSOR_STYLE = Style(reverse=True)
DIM = Style(dim=True)
_FIND_EACH = 4  # up to this many changed calls are found one by one, not by listing the visible rows


@dataclass(slots=True)
class _Frame:
    """What every line of one render shares. The cursor's row and the rows' keys are looked up when first
    needed: Textual renders a whole widget for a partial update too, but draws only its dirty lines afresh."""

    now: float
    top: int  # the row at the top of the screen
    width: int
    scroll_x: int
    start: int  # the lines rendered: [start, stop)
    stop: int
    cursor: int | None = None  # the cursor's row
    keys: list[Key] | None = None  # the keys of the rows on those lines, from start (fewer past the last row)
    drawn: int = 0  # lines drawn afresh so far


_GAP = " " * SEPARATOR
# A row as runs of cells of one style: (style, cells), a cell None for the gap between two columns.
_Runs = tuple[tuple[Style, tuple[Column | None, ...]], ...]


def _cell(column: Column, call: Call, now: float) -> str:
    return fit(column.text(call, now), column.width, right=column.right)


class TableHeader(Widget):
    """The column titles, scrolled with the table, with the sort column marked. Click a title to sort."""

    DEFAULT_CSS = "TableHeader { height: 1; background: $panel; }"

    @dataclass
    class SortRequested(Message):
        column: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.offset_x: int = 0
        self.sort_column = "started"
        self.reverse = True

    def set_state(self, scroll_x: int, sort_column: str, reverse: bool) -> None:
        if (scroll_x, sort_column, reverse) != (self.offset_x, self.sort_column, self.reverse):
            self.offset_x, self.sort_column, self.reverse = scroll_x, sort_column, reverse
            self.refresh()

    def render_line(self, y: int) -> Strip:
        if y:
            return Strip.blank(self.size.width)
        segments = [Segment(" " * GUTTER)]
        bold = Style(bold=True)
        for i, column in enumerate(COLUMNS):
            title = column.title
            if column.name == self.sort_column:
                title += "▼" if self.reverse else "▲"
            segments.append(Segment(fit(title, column.width, right=column.right), bold))
            if i < len(COLUMNS) - 1:
                segments.append(Segment(" " * SEPARATOR))
        strip = Strip(segments, WIDTH)
        return strip.crop_extend(self.offset_x, self.offset_x + self.size.width, None)

    def column_offset(self, name: str) -> int:
        """Screen x of a column's first cell (at the current horizontal scroll)."""
        for x, column in _OFFSETS:
            if column.name == name:
                return x - self.offset_x
        raise KeyError(name)

    def column_at(self, x: int) -> str | None:
        x += self.offset_x
        for start, column in _OFFSETS:
            if start <= x < start + column.width:
                return column.name
        return None

    def on_click(self, event: events.Click) -> None:
        name = self.column_at(event.x)
        if name is not None:
            self.post_message(self.SortRequested(name))


class CallTable(ScrollView, can_focus=True):
    """Shows a CallView. Knows nothing of providers or I/O: it is told about changes and renders."""

    DEFAULT_CSS = """
    CallTable { height: 1fr; scrollbar-gutter: stable; }
    CallTable:focus { border: none; }
    """
    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown,space", "page(1)", "Page down", show=False),
        Binding("home,g", "edge(0)", "Top", show=False),
        Binding("end,G", "edge(1)", "Bottom", show=False),
        Binding("enter", "select", "Details"),
    ]

    @dataclass
    class Selected(Message):
        key: Key

    @dataclass
    class CursorMoved(Message):
        key: Key | None

    def __init__(
        self, view: CallView, *, clock: Callable[[], float] = time.time, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.view = view
        self.clock = clock
        self.cursor_key: Key | None = None
        self._cursor_fallback = 0
        self.marks: dict[Key, tuple[float, str]] = {}
        self._cache: LRUCache[tuple[object, ...], tuple[Call, Strip]] = LRUCache(1024)
        self._style: Style | None = None
        self._frame: _Frame | None = None
        self._layouts: dict[tuple[Style, bool, Status], _Runs] = {}
        self.virtual_size = Size(WIDTH, len(view))

    @property
    def base_style(self) -> Style:
        """The widget's own style, under every row. Textual works it out afresh from every ancestor's CSS on
        each read, which cost more than drawing the row; it changes only when the CSS does."""
        if self._style is None:
            self._style = self.rich_style
        return self._style

    def notify_style_update(self) -> None:
        # A new theme or CSS: rows were drawn in the old style.
        super().notify_style_update()
        self._style = None
        self._cache.clear()
        self._layouts.clear()

    # -- geometry ---------------------------------------------------------------------------------------------

    @property
    def cursor_row(self) -> int:
        if self.cursor_key is not None:
            index = self.view.index(self.cursor_key)
            if index is not None:
                return index
        return min(self._cursor_fallback, max(0, len(self.view) - 1))

    def visible_range(self) -> tuple[int, int]:
        top = round(self.scroll_y)
        return top, top + self.scrollable_content_region.height

    def _sync_size(self) -> None:
        size = Size(WIDTH, len(self.view))
        if size != self.virtual_size:
            self.virtual_size = size

    # -- updates from the app ---------------------------------------------------------------------------------

    def rows_changed(self, delta: ViewDelta, marks: Iterable[tuple[Key, str]] = ()) -> None:
        """Refresh after a batch was applied to the view: only the visible rows it touched."""
        now = self.clock()
        for key, kind in marks:
            self.marks[key] = (now + MARK_SECONDS, kind)
        before = self.scroll_y
        cursor_screen = self._cursor_fallback - round(before)
        self._sync_size()
        if delta.moved:
            if self.cursor_key is not None and self.cursor_key in self.view:
                # Keep the selected call where it was on screen while rows arrive above it.
                row = self.cursor_row
                self._cursor_fallback = row
                self.scroll_to(y=max(0, row - cursor_screen), animate=False, immediate=True)
            self.refresh()
            return
        self._refresh_cells(delta)

    def _refresh_cells(self, delta: ViewDelta) -> None:
        """Redraw, on the visible rows a batch touched, only the cells whose text changed (and the gutter)."""
        if not delta.changed:
            return
        top, bottom = self.visible_range()
        now = self.clock()
        spans: list[tuple[int, int, int]] = []
        for y, key in self._visible_rows_of(delta.changed, top, bottom):
            old, new = delta.before.get(key), self.view.calls.get(key)
            if old is None or new is None:
                spans.append((y, 0, WIDTH))
                continue
            spans.append((y, 0, GUTTER))
            spans.extend(
                (y, x, column.width)
                for x, column in _OFFSETS
                if column.text(old, now) != column.text(new, now)
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
        dx, dy = round(self.scroll_x), round(self.scroll_y)
        regions = [Region(x - dx, y - dy, width, 1) for y, x, width in spans]
        if regions:
            self.refresh(*regions)

    def tick(self) -> None:
        """Once a second: expire change marks and redraw the visible live cells (durations, ages)."""
        now = self.clock()
        expired = {k for k, (until, _) in self.marks.items() if until <= now}
        for key in expired:
            del self.marks[key]
        top, bottom = self.visible_range()
        live = [(x, c.width) for x, c in _OFFSETS if c.live]
        spans: list[tuple[int, int, int]] = []
        for y, key in enumerate(self.view.keys(top, bottom), start=top):
            call = self.view.calls.get(key)
            if key in expired:
                spans.append((y, 0, GUTTER))
            if call is not None and call.status.active:
                # Durations and ages tick; nothing else on the row does.
                spans.extend((y, x, width) for x, width in live)
        self._refresh_spans(spans)

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
        self.refresh_line(old)
        self.refresh_line(row)
        self.post_message(self.CursorMoved(self.cursor_key))

    def scroll_to_row(self, row: int) -> None:
        self.scroll_to_region(Region(0, row, 1, 1), animate=False, immediate=True, force=True)

    def action_cursor(self, step: int) -> None:
        self.move_to(self.cursor_row + step)

    def action_page(self, direction: int) -> None:
        """A page: the rows move by a screenful and the cursor keeps its place on screen."""
        step = direction * max(1, self.scrollable_content_region.height - 1)
        self.scroll_to(y=max(0, round(self.scroll_y) + step), animate=False, immediate=True)
        self.move_to(self.cursor_row + step)

    def action_edge(self, end: int) -> None:
        self.move_to(len(self.view) - 1 if end else 0)

    def action_select(self) -> None:
        if len(self.view):
            key = self.view.key_at(self.cursor_row)
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
            scroll_x=round(self.scroll_x),
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
        if frame.cursor is None:
            frame.cursor = self.cursor_row
        row = frame.top + y
        selected = row == frame.cursor and (self.cursor_key is None or self.cursor_key == key)
        live = int(now) if call.status.active else 0
        cache_key = (key, selected, mark_kind, live, frame.scroll_x, frame.width)
        cached = self._cache.get(cache_key)
        # The entry holds the call it was drawn from, and only that very object will do: an id() in the key
        # could be a newer version of the call that the allocator put where an old one had been.
        if cached is not None and cached[0] is call:
            return cached[1]
        strip = self._render_row(call, now, selected, mark_kind, frame.scroll_x, frame.width)
        self._cache[cache_key] = (call, strip)
        return strip

    def _runs(self, base: Style, selected: bool, status: Status) -> _Runs:
        """The row's cells grouped into runs of one style, each run one segment: fewer segments, a cheaper
        frame. Worked out once per kind of row, not per row (comparing rich Styles is slow)."""
        runs = self._layouts.get((base, selected, status))
        if runs is not None:
            return runs
        styled: list[tuple[Style, Column | None]] = []
        for i, column in enumerate(COLUMNS):
            if column.name == "status":
                styled.append((base + STATUS_STYLE[status], column))
            elif column.name in ("age", "started") and not selected:
                styled.append((base + DIM, column))
            else:
                styled.append((base, column))
            if i < len(COLUMNS) - 1:
                styled.append((base, None))
        grouped: list[tuple[Style, list[Column | None]]] = []
        for style, cell in styled:
            if grouped and grouped[-1][0] == style:
                grouped[-1][1].append(cell)
            else:
                grouped.append((style, [cell]))
        runs = tuple((style, tuple(cells)) for style, cells in grouped)
        self._layouts[(base, selected, status)] = runs
        return runs

    def _render_row(
        self, call: Call, now: float, selected: bool, mark: str | None, scroll_x: int, width: int
    ) -> Strip:
        base = self.base_style
        if selected:
            base = base + CURSOR_STYLE
        segments: list[Segment] = [
            Segment(f"{MARK_TEXT.get(mark or '', ' ')} ", base + MARK_STYLE[mark] if mark else base)
        ]
        for style, run in self._runs(base, selected, call.status):
            segments.append(
                Segment("".join([_GAP if c is None else _cell(c, call, now) for c in run]), style)
            )
        if redact.active():
            segments = [Segment(redact.scrub(s.text), s.style) for s in segments]
        if scroll_x == 0 and width >= WIDTH:
            # The common case, a terminal as wide as the table or wider: pad it here, one strip instead of three.
            if width > WIDTH:
                segments.append(Segment(" " * (width - WIDTH), self.base_style))
            return Strip(segments, width)
        return Strip(segments, WIDTH).crop_extend(scroll_x, scroll_x + width, self.base_style)
