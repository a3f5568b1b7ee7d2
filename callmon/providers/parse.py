"""Lenient value parsers shared by the normalizers. Each returns None for anything it cannot read, including
values out of any plausible range (a duration of 10^30 s, a time in the year 9999): a malformed field becomes
null and the record keeps the rest."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from email.utils import parsedate_to_datetime
from typing import Any

_HMS = re.compile(r"^\s*(?:(\d{1,7}):)?(\d{1,2}):(\d{1,2})(?:\.\d{1,9})?\s*$")
_DECIMAL = re.compile(r"^[+-]?(?:\d{1,30}(?:\.\d{0,30})?|\.\d{1,30})(?:[eE][+-]?\d{1,3})?$")
# Bounds of what a call can plausibly say. Anything past them is a broken or hostile value, not data.
MAX_INTEGER = 2**53  # exact in a float, in JSON and in SQLite
MAX_SECONDS = 10**7  # about 115 days: no call, ring or bill lasts longer
MAX_AMOUNT = 1e12
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
_MAX_TEXT_NUMBER = 64  # characters: a longer "number" is not one


def text(value: Any) -> str | None:
    """A non-empty string, or None. Numbers become their text; containers are not text."""
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    out = str(value).strip()
    return out or None


def first(raw: Mapping[str, Any], *names: str) -> Any:
    """The first present, non-empty value among `names` (providers spell the same field several ways)."""
    for name in names:
        value = raw.get(name)
        if value is not None and value != "":
            return value
    return None


def _decimal(value: Any) -> float | None:
    """A finite number from a number or its text; a decimal comma is read as a point (Velip's "0,050")."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return float(value) if abs(value) <= MAX_INTEGER else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    s = value.strip()
    if not s or len(s) > _MAX_TEXT_NUMBER:
        return None
    s = s.replace(",", ".") if "," in s and "." not in s else s.replace(",", "")
    if not _DECIMAL.match(s):
        return None  # "nan", "inf", "1_000", hex: float() would take some of them
    number = float(s)
    return number if math.isfinite(number) else None


def integer(value: Any) -> int | None:
    """A whole number (rounded), within ±2^53; "HH:MM:SS" reads as seconds."""
    if isinstance(value, str) and _HMS.match(value):
        return hms(value)
    number = _decimal(value)
    if number is None or abs(number) > MAX_INTEGER:
        return None
    return round(number)


def seconds(value: Any) -> int | None:
    """A duration in whole seconds (a number or "HH:MM:SS"), 0 to MAX_SECONDS."""
    out = hms(value)
    return out if out is not None and 0 <= out <= MAX_SECONDS else None


def between(start: datetime, end: datetime) -> int | None:
    """Whole seconds from `start` to `end`, when that is a plausible duration."""
    out = round((end - start).total_seconds())
    return out if 0 <= out <= MAX_SECONDS else None


def number(value: Any) -> float | None:
    """A decimal that may use a comma (Velip's "0,050"), within ±10^12."""
    out = _decimal(value)
    return out if out is not None and abs(out) <= MAX_AMOUNT else None


def hms(value: Any) -> int | None:
    """Seconds from "HH:MM:SS" (or "MM:SS"), or from a plain number of seconds."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        m = _HMS.match(value)
        if m:
            h, mnt, sec = (int(g) if g else 0 for g in m.groups())
            return h * 3600 + mnt * 60 + sec
    out = _decimal(value)
    return None if out is None or abs(out) > MAX_INTEGER else round(out)


def _plausible(value: datetime) -> datetime | None:
    return value if EARLIEST <= value < LATEST else None


def timestamp(value: Any, tz: tzinfo = UTC) -> datetime | None:
    """An aware UTC datetime from ISO-8601, "YYYY-MM-DD HH:MM:SS", epoch seconds/ms or an HTTP date, between
    1970 and 2200. Naive times are read in `tz` (providers that report local wall-clock time)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        # An int past float's range raises OverflowError in isfinite(); no epoch, even in ms, is past 2^53.
        if abs(value) > MAX_INTEGER or not math.isfinite(value):
            return None
        seconds_ = value / 1000 if abs(value) > 10**11 else value
        if not 0 <= seconds_ < LATEST.timestamp():
            return None
        return datetime.fromtimestamp(seconds_, UTC)
    if not isinstance(value, str):
        return None
    s = value.strip()
    if not s or len(s) > 64 or s.startswith("0000-00-00"):
        return None
    if s.isascii() and s.isdigit():  # str.isdigit() alone takes "²", which int() refuses
        return timestamp(int(s), tz) if len(s) <= 16 else None
    try:
        parsed = datetime.fromisoformat(s)  # a trailing Z too, since Python 3.11
    except ValueError:
        try:
            parsed = parsedate_to_datetime(s)
        except Exception:  # email.utils raises several kinds on garbage
            return None
    try:
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=tz)
        return _plausible(parsed.astimezone(UTC))
    except (OverflowError, ValueError, OSError):
        return None  # year 1 or 9999 in a zone that pushes it past datetime's range


def local(date: Any, clock: Any, tz: tzinfo) -> datetime | None:
    """Join a separate date and wall-clock time (Velip's `date` + `time_start`)."""
    d, t = text(date), text(clock)
    if not d or not t:
        return None
    return timestamp(f"{d} {t}", tz)


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None when it says nothing
    usable (garbage, not finite, zero or less, a date already past): the caller's backoff decides then."""
    if not value:
        return None
    value = value.strip()
    wait = _decimal(value)
    if wait is None:
        when = timestamp(value) if not value.lstrip("+-").replace(".", "", 1).isdigit() else None
        if when is None:
            return None
        wait = (when - (now or datetime.now(UTC))).total_seconds()
    return wait if wait > 0 else None
