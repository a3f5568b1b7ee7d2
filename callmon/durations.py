"""Spans of time as people write them: "90s", "5m", "36h", "7d" (a plain number is seconds). One reading for
flags (`--since`, `history prune --older-than`), alert rules (`over`, `for`) and the simulator's `--burst`."""

from __future__ import annotations

import math

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class DurationError(ValueError):
    """A span that cannot be read; the message says what it may be."""


def parse(value: object, *, low: float = 0.0, high: float = 3650 * 86400.0, zero: bool = False) -> float:
    """Seconds from "90s", "15m", "36h", "7d" or a number of seconds, from `low` to `high` (above 0 unless
    `zero`)."""
    if isinstance(value, bool):
        raise DurationError(f"{value!r} is not a span of time (e.g. 90s, 5m, 2h)")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        unit = UNITS.get(text[-1:])
        try:
            seconds = float(text[:-1] if unit else text) * (unit or 1.0)
        except ValueError:
            raise DurationError(f"{value!r} is not a span of time (e.g. 90s, 5m, 2h)") from None
    else:
        raise DurationError(f"{value!r} is not a span of time (e.g. 90s, 5m, 2h)")
    if not math.isfinite(seconds) or seconds < low or seconds > high or (seconds == 0 and not zero):
        bounds = f"from {text_of(low)}" if low > 0 or zero else "above 0s"
        raise DurationError(f"{value!r} is out of range ({bounds} to {text_of(high)})")
    return seconds


def text_of(seconds: float) -> str:
    """A span as people write it: "90s", "5m", "2h", "7d" (the largest unit that divides it)."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
