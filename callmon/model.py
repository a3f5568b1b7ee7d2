"""The normalized call record and the status vocabulary shared by every layer."""

from __future__ import annotations

import enum
import json
import sys
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

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
        # A few values repeat across thousands of calls; parsed payloads give each call its own copy.
        for f in _SHARED_FIELDS:
            value = getattr(self, f)
            if type(value) is str:
                object.__setattr__(self, f, sys.intern(value))
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
        if self.updated_at is not None and self.updated_at == self.ended_at:
            object.__setattr__(self, "updated_at", self.ended_at)  # one object, not two equal ones
        if self.details:
            pairs = tuple(_DETAILS.share(pair[0], pair) for pair in self.details)
            object.__setattr__(self, "details", pairs)
        if self.transcript:
            lines = tuple(_LINES.share(line.role, line) for line in self.transcript)
            object.__setattr__(self, "transcript", lines)

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
            out["raw"] = payload(self.raw)
        return out


_T = TypeVar("_T")


class _Vocabulary:
    """One shared object for equal values of a kind drawn from a small vocabulary.

    Detail pairs like ("codec", "PCMU") or ("hangup by", "UserHangup"), and a voice agent's scripted lines,
    repeat across a campaign, and each would otherwise cost a copy per call. A kind whose values keep
    changing from call to call (a conversation id) is not a vocabulary: past `limit` distinct values it is
    dropped and no longer pooled, so the pools stay small whatever the payloads hold.
    """

    def __init__(self, limit: int, kinds: int = 256) -> None:
        self._limit = limit
        self._kinds = kinds
        self._pools: dict[str, dict[Any, Any] | None] = {}

    def share(self, kind: str, value: _T) -> _T:
        if kind not in self._pools:
            if len(self._pools) >= self._kinds:
                return value
            self._pools[kind] = {}
        pool = self._pools[kind]
        if pool is None:
            return value
        shared = pool.get(value)
        if shared is not None:
            return shared  # type: ignore[no-any-return]
        if len(pool) >= self._limit:
            self._pools[kind] = None
        else:
            pool[value] = value
        return value


_DETAILS = _Vocabulary(limit=256)
_LINES = _Vocabulary(limit=4096)
_SHAPES = _Vocabulary(limit=1024)


_STR_FIELDS = tuple(
    f.name for f in fields(Call) if f.type in ("str", "str | None") and f.name not in ("provider", "status")
)
_SHARED_FIELDS = ("source", "campaign", "raw_status", "reason", "direction", "currency")
_TIME_FIELDS = tuple(f.name for f in fields(Call) if f.type == "datetime | None")


# A preset zlib dictionary: the providers' documented field names and common values. Most of a CDR's bytes
# are its keys, which then cost a back-reference each. Payloads are packed only in memory (history keeps
# plain JSON), so this may change freely between versions.
_FIELDS = [
    "account_id",
    "answer_time",
    "billsec",
    "bridge_uuid",
    "call_direction",
    "caller_id_name",
    "caller_id_number",
    "campaign_id",
    "carrier_ip",
    "codec",
    "context",
    "cost",
    "created_at",
    "currency",
    "customer_endpoint",
    "destination_number",
    "duration",
    "end_time",
    "failure_code",
    "failure_reason",
    "hangup_cause",
    "hangup_cause_code",
    "hangup_cause_name",
    "hangup_disposition",
    "hangup_source",
    "id",
    "jitter",
    "mos",
    "network_addr",
    "origination_region",
    "packet_loss",
    "progress_time",
    "region",
    "ring_time",
    "sip_call_id",
    "sip_user_agent",
    "start_time",
    "streaming_cost",
    "terminated_to",
    "total_cost",
    "trunk_id",
    "updated_at",
    "uuid",
    "call_status",
    "call_uuid",
    "direction",
    "from",
    "to",
    "session_start",
    "request_uuid",
    "api_id",
    "caller_name",
    "cd_id",
    "cd_status",
    "cd_amdasw",
    "cp_id",
    "cpid",
    "ctid",
    "origin",
    "dest",
    "date",
    "time_dial",
    "time_start",
    "time_end",
    "dur",
    "resp_1",
    "resp_2",
    "resp_3",
    "route",
    "rate",
    "value",
    "cdr_url",
    "cdr_sec",
    "campaignId",
    "conversationId",
    "callId",
    "status",
    "rawStatus",
    "callDuration",
    "actualDuration",
    "sip_status",
    "sip_reason",
    "timestamp",
    "data",
    "callStatus",
    "transcript",
    "entries",
    "role",
    "text",
    "startTime",
    "phoneNumber",
    "contactId",
    "batchId",
    "error",
    "recordingUrl",
    "endTime",
    "summary",
    "event",
    "transcription",
    "content",
    "UCID",
    "CallID",
    "CampaignName",
    "Type",
    "CallerID",
    "DialedNumber",
    "StartTime",
    "EndTime",
    "Duration",
    "TalkTime",
    "Status",
    "DialStatus",
    "CustomerDialStatus",
    "AgentDialStatus",
    "HangupBy",
    "Disposition",
    "CallAudio",
    "DialCount",
]
_ZDICT = (
    ",".join(f'"{name}":' for name in _FIELDS)
    + ',null,true,false,"outbound","inbound","NORMAL_CLEARING","Normal Hangup","send_bye","INR","+91","2026-'
).encode()


class PackedPayload(Mapping[str, Any]):
    """A provider payload kept as compressed JSON: a raw CDR is 1-4 KB as a dict, a few hundred bytes here.

    A payload's field names are its shape, and a provider sends a handful of shapes: the names are kept once
    per shape, shared by every call of it, and only the values are compressed. It is read only when someone
    looks (the detail screen, `--raw`), so decoding on each access is cheap where it matters; 100k calls
    held as dicts would cost hundreds of megabytes.
    """

    __slots__ = ("_blob", "_keys")

    def __init__(self, blob: bytes, keys: tuple[str, ...] | None = None) -> None:
        self._blob = blob
        self._keys = keys  # None: the blob is the whole JSON value

    @classmethod
    def of(cls, payload: Mapping[str, Any]) -> PackedPayload:
        if isinstance(payload, PackedPayload):
            return payload
        names = tuple(payload)
        keys: tuple[str, ...] | None = None
        value: Any = payload  # keys JSON would turn into strings: keep its reading of them
        if all(type(k) is str for k in names):
            keys, value = names, list(payload.values())
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
        packer = zlib.compressobj(6, zdict=_ZDICT)
        return cls(
            packer.compress(text.encode("utf-8")) + packer.flush(),
            None if keys is None else _SHAPES.share("", keys),
        )

    def unpack(self) -> dict[str, Any]:
        unpacker = zlib.decompressobj(zdict=_ZDICT)
        value = json.loads(unpacker.decompress(self._blob) + unpacker.flush())
        if self._keys is not None:
            return dict(zip(self._keys, value, strict=True))
        return value if isinstance(value, dict) else {"payload": value}

    def __getitem__(self, key: str) -> Any:
        return self.unpack()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.unpack())

    def __len__(self) -> int:
        return len(self.unpack())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PackedPayload):
            return self._blob == other._blob and self._keys == other._keys
        return isinstance(other, Mapping) and self.unpack() == dict(other)

    def __hash__(self) -> int:
        return hash((self._blob, self._keys))

    def __repr__(self) -> str:
        return f"PackedPayload({len(self._blob)} bytes, {len(self._keys or ())} shared field names)"


def payload(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A raw payload as a plain dict, decoded once. (`dict(packed)` would decode it once per key.)"""
    return raw.unpack() if isinstance(raw, PackedPayload) else dict(raw)


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
        raw=PackedPayload.of(data.get("raw") or {}),  # packed here, not copied again by the store
    )
