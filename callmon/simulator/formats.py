"""How the providers' wire formats write times and derived ids, shared by the provider modules."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from callmon.simulator.scenario import CallPlan, Clock


def iso_ms(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_s(value: datetime) -> str:
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")


def hms(seconds: float) -> str:
    s = max(0, round(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def digest(plan: CallPlan, salt: str) -> str:
    """A stable hex id derived from the call, for the ids a provider gives besides the call's own."""
    return hashlib.sha1(f"{plan.call_id}:{salt}".encode()).hexdigest()


def day_bounds(day: str, tz: ZoneInfo, clock: Clock) -> tuple[float, float]:
    """Scenario offsets covering one local calendar day."""
    start = datetime.fromisoformat(day).replace(tzinfo=tz)
    begin = (start - clock.start_utc).total_seconds()
    return begin, begin + timedelta(days=1).total_seconds()
