"""What a partial frame writes to the terminal: each changed span of a line, from where the span starts.

Textual 8 writes a dirty span from the left edge of the widget it is in (ChopsUpdate.render_segments crops a
widget's line at the span's end only; Textualize/textual#5625). For the call table, one widget the width of
the screen, a new DUR at column 70 rewrote columns 0-70 of its row, and a row with two changed cells wrote
its start twice: 24 KB/s at 50 visible status changes a second, against 11.7 KB/s when DUR sat next to
STATUS. Here the span is cut at its start too, so a change costs the bytes of the cells that changed.
"""

from __future__ import annotations

from rich.cells import cell_len, get_character_cell_size
from rich.console import Console
from rich.control import Control
from textual._compositor import ChopsUpdate
from textual.strip import Strip


def char_at(strip: Strip, cell: int) -> tuple[int, int]:
    """Where the character covering `cell` starts, and its width (0 past the end): a span may begin or end
    inside a wide character (CJK in a reason), which is then written whole rather than half of it as a
    space."""
    pos = 0
    for segment in strip:
        width = cell_len(segment.text)
        if pos + width <= cell:
            pos += width
            continue
        for char in segment.text:
            size = get_character_cell_size(char)
            if pos + size > cell:
                return pos, size
            pos += size
    return pos, 0


def char_start(strip: Strip, cut: int) -> int:
    """The last character boundary at or before `cut`."""
    return char_at(strip, cut)[0]


def char_end(strip: Strip, cut: int) -> int:
    """The first character boundary at or after `cut`."""
    start, size = char_at(strip, cut)
    return cut if start == cut else start + size


class SpanUpdate(ChopsUpdate):
    """Textual's partial update, each span written from its first cell to its last (not from the widget's
    left edge)."""

    @classmethod
    def of(cls, update: ChopsUpdate) -> SpanUpdate:
        return cls(update.chops, update.spans, update.chop_ends)

    def render_segments(self, console: Console) -> str:
        sequences: list[str] = []
        append = sequences.append
        move_to = Control.move_to
        last_y = self.spans[-1][0]
        for y, x1, x2 in self.spans:
            for end, (x, strip) in zip(self.chop_ends[y], self.chops[y].items(), strict=False):
                if strip is None or x > x2 or end <= x1:
                    continue
                start = char_start(strip, x1 - x) if x1 > x else 0
                stop = min(end, x2) - x
                if stop < end - x:
                    stop = char_end(strip, stop)
                piece = strip.crop(start, stop)
                if piece.cell_length:
                    append(move_to(x + start, y).segment.text)
                    append(piece.render(console))
            if y != last_y:
                append("\n")
        return "".join(sequences)
