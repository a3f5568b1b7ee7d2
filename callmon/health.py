"""What callmon says about each source's health: for the header, the health panel, `watch` and metrics."""

from __future__ import annotations

import enum
import math
import time
from dataclasses import dataclass, field, replace


class State(enum.StrEnum):
    STARTING = "starting"
    OK = "ok"
    RATE_LIMITED = "rate-limited"
    RETRYING = "retrying"
    AUTH_FAILED = "auth failed"
    NO_CREDENTIALS = "no credentials"
    ERROR = "error"

    @property
    def down(self) -> bool:
        """The source is not delivering calls now (its rows go stale)."""
        return self in (State.RETRYING, State.AUTH_FAILED, State.NO_CREDENTIALS, State.ERROR)


@dataclass
class SourceHealth:
    """One source's state, as of the last time it was asked."""

    name: str
    provider: str
    state: State = State.STARTING
    message: str = ""  # the last error, one line, scrubbed
    note: str = ""  # something worth knowing while it works (a scan cut short, records skipped)
    last_poll: float | None = None  # wall clock of the last successful cycle
    last_error: float | None = None  # wall clock of the last error
    latency_ms: float | None = None  # the last request's
    consecutive_errors: int = 0
    next_poll: float | None = None  # wall clock
    until: float | None = None  # rate-limited until (wall clock)
    requests: int = 0
    rate_limited: int = 0  # 429s answered
    skipped: int = 0  # records that could not be read
    active: int = 0  # calls still live, as polled
    tracked: int = 0  # calls known for this source
    budget: dict[str, tuple[int, int, float]] = field(default_factory=dict)  # kind -> (used, of, per s)

    def summary(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        if self.state is State.RATE_LIMITED and self.until is not None and math.isfinite(self.until):
            return f"rate-limited {max(0, round(self.until - now))}s"
        if self.state is State.RETRYING:
            return f"retrying ({self.consecutive_errors})"
        return self.state.value

    def snapshot(self) -> SourceHealth:
        return replace(self, budget=dict(self.budget))
