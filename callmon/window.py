"""Which calls the store keeps in memory: the live ones, and a recent window of the rest.

A big dialer places a million calls a day and callmon keeps a week of history: that does not fit in memory,
and nobody scrolls through it. The store holds every call still live plus a window (by default, today in
the sources' zones; or the newest N calls); older calls stay in history, where a filter finds them
(`callmon.history`), and leave memory as the window moves on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

_LAST = re.compile(r"^(?:last\s+)?(\d[\d_]*)(?:\s+calls)?$")


class WindowError(ValueError):
    """A window setting that cannot be read; the message says what it may be."""


@dataclass(frozen=True, slots=True)
class Window:
    """`today` (calls first seen since midnight in the earliest of the sources' zones) or the newest `last`."""

    last: int | None = None

    @classmethod
    def parse(cls, value: object) -> Window:
        if value is None or value == "today":
            return cls()
        if isinstance(value, int) and not isinstance(value, bool):
            count = value
        elif isinstance(value, str) and (m := _LAST.match(value.strip())):
            count = int(m.group(1).replace("_", ""))
        else:
            raise WindowError('window must be "today" or a number of calls (e.g. 200000)')
        if not 1_000 <= count <= 10_000_000:
            raise WindowError("window must keep from 1,000 to 10,000,000 calls")
        return cls(last=count)

    def start(self, now: float, zones: Iterable[tzinfo]) -> float | None:
        """The earliest first-seen time a call may have to stay in memory (None: a window of a count)."""
        if self.last is not None:
            return None
        starts = [
            datetime.combine(datetime.fromtimestamp(now, zone).date(), time.min, zone).timestamp() for zone in zones
        ]
        return min(starts) if starts else now - timedelta(days=1).total_seconds()

    def describe(self) -> str:
        return "today" if self.last is None else f"the newest {self.last:,} calls"
