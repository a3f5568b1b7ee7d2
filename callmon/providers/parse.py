"""Lenient value parsers shared by the normalizers. Each returns None for anything it cannot read."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from email.utils import parsedate_to_datetime
from typing import Any

_HMS = re.compile(r"^\s*(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:\.\d+)?\s*$")


def text(value: Any) -> str | None:
    """A non-empty string, or None. Numbers become their text; containers are not text."""
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    out = str(value).strip()
    return out or None


def first(raw: Mapping[str, Any], *names: str) -> Any:
    """The first present, non-empty value among `names` (providers spell the same field several ways)."""
    for name in names:
        value = raw.get(name)
        if value not in (None, ""):
            return value
    return None


def integer(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return round(value)
    s = str(value).strip()
    if not s:
        return None
    if _HMS.match(s):
        return hms(s)
    try:
        return round(float(s.replace(",", ".")))
    except ValueError:
        return None


def number(value: Any) -> float | None:
    """A decimal that may use a comma (Velip's "0,050")."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    s = str(value).strip()
    if not s:
        return None
    s = s.replace(",", ".") if "," in s and "." not in s else s.replace(",", "")
    try:
        return float(s)
    except ValueError:
        return None


def hms(value: Any) -> int | None:
    """Seconds from "HH:MM:SS" (or "MM:SS"), or from a plain number of seconds."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return round(value)
    m = _HMS.match(str(value))
    if not m:
        return integer(value) if str(value).strip().replace(".", "", 1).isdigit() else None
    h, mnt, sec = (int(g) if g else 0 for g in m.groups())
    return h * 3600 + mnt * 60 + sec


def timestamp(value: Any, tz: tzinfo = UTC) -> datetime | None:
    """An aware UTC datetime from ISO-8601, "YYYY-MM-DD HH:MM:SS", epoch seconds/ms or an HTTP date.

    Naive times are read in `tz` (providers that report local wall-clock time).
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        seconds = value / 1000 if value > 10**11 else value
        return datetime.fromtimestamp(seconds, UTC)
    s = str(value).strip()
    if not s or s.startswith("0000-00-00"):
        return None
    if s.isdigit():
        return timestamp(int(s), tz)
    try:
        parsed = datetime.fromisoformat(s.replace("Z", "+00:00") if s.endswith("Z") else s)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(s)
        except (TypeError, ValueError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC)


def local(date: Any, clock: Any, tz: tzinfo) -> datetime | None:
    """Join a separate date and wall-clock time (Velip's `date` + `time_start`)."""
    d, t = text(date), text(clock)
    if not d or not t:
        return None
    return timestamp(f"{d} {t}", tz)


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
