"""How times and phone numbers read to a person: one rule for the monitor, `watch --format table` and exports.

Times are shown in the local zone, named once where they are shown (or in UTC everywhere with `--utc` /
`utc = true`), with the date only when it is not today. Machine formats (JSON, NDJSON, CSV) stay ISO-8601 UTC.
Phone numbers can be masked (`--mask` / `mask_numbers = true`) for screen sharing during an incident: the
country code and the last three digits stay, so a number is still recognisable to whoever knows it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache

MASK_CHAR = "•"


@dataclass(frozen=True, slots=True)
class Display:
    utc: bool = False
    mask_numbers: bool = False


_display = Display()


def configure(display: Display) -> None:
    """Set how this process shows times and numbers (once, from flags and config)."""
    global _display
    _display = display
    _clock.cache_clear()


def current() -> Display:
    return _display


def _zone() -> tzinfo | None:
    return UTC if _display.utc else None  # None: astimezone() picks the local zone


def zone_name(at: float | None = None) -> str:
    """The zone times are shown in, as a person reads it: "UTC", or "IST (UTC+05:30)"."""
    if _display.utc:
        return "UTC"
    moment = datetime.fromtimestamp(time.time() if at is None else at).astimezone()
    offset = moment.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    name = moment.tzname() or ""
    utc = f"UTC{sign}{hours:02d}:{mins:02d}"
    if not name or name == utc or name.startswith(("+", "-")) or (name == "UTC" and minutes == 0):
        return "UTC" if minutes == 0 else utc
    return f"{name} ({utc})"


def zone_short(at: float | None = None) -> str:
    """The shown zone's short name: "UTC", "IST", or "UTC+05:30" where the zone has no name."""
    if _display.utc:
        return "UTC"
    return zone_name(at).split(" (")[0]


def wall_clock(value: datetime) -> str:
    """A full date and time in the shown zone, "2026-11-30 14:03:05" (the zone is named once, elsewhere)."""
    return value.astimezone(_zone()).strftime("%Y-%m-%d %H:%M:%S")


def clock(value: datetime | None, now: float | None = None) -> str:
    """A time for a table cell: "14:03:05" today, "Nov 29 14:03" on another day."""
    if value is None:
        return ""
    at = time.time() if now is None else now
    today = datetime.fromtimestamp(at, UTC) if _display.utc else datetime.fromtimestamp(at).astimezone()
    # The zone is part of the key: a process can change it (TZ and time.tzset(), as the snapshot tests do).
    return _clock(value, today.date().toordinal(), _display.utc, time.tzname, time.timezone, time.altzone)


@lru_cache(maxsize=4096)
def _clock(value: datetime, today: int, utc: bool, *zone: object) -> str:
    # Converting to the local zone and formatting takes 8 us, most of what drawing a row costs, and the same
    # few dozen start times are drawn again and again (each redraw of a row, each check of a changed one).
    shown = value.astimezone(UTC if utc else None)
    if shown.date().toordinal() == today:
        return shown.strftime("%H:%M:%S")
    return shown.strftime("%b %d %H:%M")


def stamp(value: datetime | None) -> str:
    """A full time for the detail screen: the shown zone and UTC, "2026-11-30 14:03:05 IST (08:33:05 UTC)"."""
    if value is None:
        return ""
    shown = value.astimezone(_zone())
    text = shown.strftime("%Y-%m-%d %H:%M:%S")
    if _display.utc:
        return f"{text} UTC"
    name = shown.tzname() or ""
    in_utc = value.astimezone(UTC).strftime("%H:%M:%S UTC")
    return f"{text} {name} ({in_utc})".replace("  ", " ")


def number(value: str | None) -> str | None:
    """A phone number as shown: masked in the middle when masking is on (+9198•••••463)."""
    if value is None or not _display.mask_numbers:
        return value
    return mask_number(value)


def mask_number(value: str) -> str:
    digits = sum(ch.isdigit() for ch in value)
    if digits < 6:
        return MASK_CHAR * len(value)
    keep_start = 5 if value.startswith("+") else 4
    keep_end = 3
    middle = len(value) - keep_start - keep_end
    if middle <= 0:
        return value[:2] + MASK_CHAR * (len(value) - 2)
    return value[:keep_start] + MASK_CHAR * middle + value[-keep_end:]
