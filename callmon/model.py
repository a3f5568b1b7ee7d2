"""The normalized call record and the status vocabulary shared by every layer."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

from callmon.text import clean, clean_multiline


class Status(enum.StrEnum):
    QUEUED = "queued"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    NO_ANSWER = "no-answer"
    BUSY = "busy"
    FAILED = "failed"
    CANCELED = "canceled"
    UNKNOWN = "unknown"

    @property
    def ended(self) -> bool:
        return self in ENDED

    @property
    def active(self) -> bool:
        return self in ACTIVE


ACTIVE: frozenset[Status] = frozenset({Status.QUEUED, Status.RINGING, Status.IN_PROGRESS})
ENDED: frozenset[Status] = frozenset(
    {Status.COMPLETED, Status.NO_ANSWER, Status.BUSY, Status.FAILED, Status.CANCELED}
)


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    role: str
    text: str


# The JSON record of DESIGN.md, in its order; `from` is a keyword in Python, hence `from_` on the class.
RECORD_FIELDS: tuple[str, ...] = (
    "source", "provider", "call_id", "campaign", "status", "raw_status", "reason", "direction",
    "from", "to", "started_at", "answered_at", "ended_at", "duration_s", "billable_s", "cost",
    "currency", "recording_url", "updated_at",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Call:
    """One call as callmon understands it, whatever provider it came from.

    Every string is made display-safe when the record is built, so nothing downstream has to remember to.
    `raw` is the provider's payload exactly as received (it is escaped when shown, never altered).
    """

    source: str
    provider: str
    call_id: str
    status: Status
    campaign: str | None = None
    raw_status: str | None = None
    reason: str | None = None
    direction: str | None = None
    from_: str | None = None
    to: str | None = None
    started_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    duration_s: int | None = None
    billable_s: int | None = None
    cost: float | None = None
    currency: str | None = None
    recording_url: str | None = None
    updated_at: datetime | None = None
    transcript: tuple[TranscriptLine, ...] = ()
    # Provider-specific detail worth showing (hangup cause name, MOS, AMD result...), as label/value pairs.
    details: tuple[tuple[str, str], ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        for f in _STR_FIELDS:
            value = getattr(self, f)
            if value is not None and not value.isprintable():
                object.__setattr__(self, f, clean(value))
        if self.transcript and not all(
            line.text.isprintable() and line.role.isprintable() for line in self.transcript
        ):
            object.__setattr__(
                self,
                "transcript",
                tuple(TranscriptLine(clean(t.role), clean_multiline(t.text)) for t in self.transcript),
            )
        if self.details and not all(k.isprintable() and v.isprintable() for k, v in self.details):
            object.__setattr__(self, "details", tuple((clean(k), clean(v)) for k, v in self.details))
        for f in _TIME_FIELDS:
            value = getattr(self, f)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{f} must be timezone-aware")

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.call_id)

    @property
    def ended(self) -> bool:
        return self.status.ended

    def with_changes(self, **changes: Any) -> Call:
        return replace(self, **changes)

    def record(self, *, include_raw: bool = False) -> dict[str, Any]:
        """The JSON record of DESIGN.md: ISO-8601 UTC times, null where unknown."""
        out: dict[str, Any] = {}
        for name in RECORD_FIELDS:
            value = getattr(self, "from_" if name == "from" else name)
            if isinstance(value, datetime):
                value = iso(value)
            elif isinstance(value, Status):
                value = value.value
            out[name] = value
        if include_raw:
            out["raw"] = self.raw
        return out


_STR_FIELDS = tuple(
    f.name for f in fields(Call) if f.type in ("str", "str | None") and f.name not in ("provider", "status")
)
_TIME_FIELDS = tuple(f.name for f in fields(Call) if f.type == "datetime | None")


def iso(value: datetime) -> str:
    """ISO-8601 in UTC with a Z, milliseconds only when there are any."""
    value = value.astimezone(UTC)
    text = value.isoformat(timespec="milliseconds" if value.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def to_storage(call: Call) -> dict[str, Any]:
    """Everything needed to rebuild the call after a restart (the JSON record plus what only the UI shows)."""
    out = call.record(include_raw=True)
    out["transcript"] = [[t.role, t.text] for t in call.transcript]
    out["details"] = [list(d) for d in call.details]
    return out


def from_storage(data: Mapping[str, Any]) -> Call:
    def when(name: str) -> datetime | None:
        value = data.get(name)
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None

    try:
        status = Status(str(data.get("status")))
    except ValueError:
        status = Status.UNKNOWN
    return Call(
        source=str(data["source"]),
        provider=str(data["provider"]),
        call_id=str(data["call_id"]),
        status=status,
        campaign=data.get("campaign"),
        raw_status=data.get("raw_status"),
        reason=data.get("reason"),
        direction=data.get("direction"),
        from_=data.get("from"),
        to=data.get("to"),
        started_at=when("started_at"),
        answered_at=when("answered_at"),
        ended_at=when("ended_at"),
        duration_s=data.get("duration_s"),
        billable_s=data.get("billable_s"),
        cost=data.get("cost"),
        currency=data.get("currency"),
        recording_url=data.get("recording_url"),
        updated_at=when("updated_at"),
        transcript=tuple(TranscriptLine(str(r), str(t)) for r, t in data.get("transcript") or ()),
        details=tuple((str(k), str(v)) for k, v in data.get("details") or ()),
        raw=data.get("raw") or {},
    )
