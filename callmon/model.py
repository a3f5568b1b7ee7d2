"""The normalized call record and the status vocabulary shared by every layer."""

from __future__ import annotations

import enum
import json
import math
import sys
import threading
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from importlib import resources
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
    `raw` is the provider's payload exactly as received (it is escaped when shown, never altered); the store
    keeps it packed (bytes, see `pack`), so read it with `payload(call.raw)`.
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
    raw: Mapping[str, Any] | bytes = field(default_factory=dict, compare=False, hash=False)
    # The store's record of the call's status changes, (at, status, raw status, via) flattened, oldest first;
    # read it as events with CallStore.timeline(). Kept on the call, not in a second dict beside the store's:
    # that dict's entry cost more than the tuple.
    timeline: tuple[Any, ...] = field(default=(), compare=False, hash=False, repr=False)
    # When callmon first saw the call (epoch seconds: the timeline's first time; -inf with no timeline). Calls
    # that tie on a sorted column are shown in this order. Kept in a slot of its own, not read off the
    # timeline: a sort reads it for 100k calls, and the hop through each call's timeline tuple, one more
    # object scattered over the heap, was a third of building the rows.
    first_seen: float = field(init=False, default=-math.inf, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        if self.timeline:
            object.__setattr__(self, "first_seen", self.timeline[0])
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
        if self.updated_at is not None:
            # A call is updated when it is answered or ends: one object for the time, not two equal ones.
            for moment in (self.ended_at, self.answered_at, self.started_at):
                if moment is not None and moment == self.updated_at:
                    object.__setattr__(self, "updated_at", moment)
                    break
        if self.details:
            pairs = tuple(_DETAILS.share(pair[0], pair) for pair in self.details)
            # Where every pair is a vocabulary word (a hangup cause, a codec, a region), whole sets repeat too.
            object.__setattr__(self, "details", _DETAIL_SETS.share(self.provider, pairs))
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
_DETAIL_SETS = _Vocabulary(limit=4096)
_LINES = _Vocabulary(limit=4096)


_STR_FIELDS = tuple(
    f.name for f in fields(Call) if f.type in ("str", "str | None") and f.name not in ("provider", "status")
)
_SHARED_FIELDS = ("source", "campaign", "raw_status", "reason", "direction", "currency")
_TIME_FIELDS = tuple(f.name for f in fields(Call) if f.type == "datetime | None")


# A preset deflate dictionary: the providers' documented field names (for the few payloads packed whole, names
# and all), then common values and the values of the vendors' example payloads (data/payload-values.json, made
# by scripts/payload_dictionary.py): timestamps, ids and causes a payload then costs a back-reference each.
# Values last: deflate codes nearer matches in fewer bits. Payloads are packed only in memory (history keeps
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
).encode() + (resources.files("callmon") / "data" / "payload-values.json").read_bytes().strip()


class _Shapes:
    """Numbers for payload shapes (their field names, in order), so a packed payload names its shape in two bytes.

    A provider sends a handful of shapes; a source whose payloads keep changing shape (a field per call) stops
    getting new numbers at the limit, and its payloads are packed whole, names and all.
    """

    LIMIT = 4096

    def __init__(self) -> None:
        self._numbers: dict[tuple[str, ...], int] = {}
        self._names: list[tuple[str, ...]] = [()]  # 0: no shape, the blob is the whole JSON value
        self._lock = threading.Lock()

    def number(self, names: tuple[str, ...]) -> int:
        number = self._numbers.get(names)
        if number is None:
            with self._lock:  # history is read back on a thread: a number must never name two shapes
                number = self._numbers.get(names)
                if number is None:
                    if len(self._names) >= self.LIMIT:
                        return 0
                    self._names.append(names)
                    number = self._numbers[names] = len(self._names) - 1
        return number

    def names(self, number: int) -> tuple[str, ...]:
        return self._names[number]


_SHAPES = _Shapes()


def pack(raw: Mapping[str, Any] | bytes) -> bytes:
    """A provider payload packed for keeping: a raw CDR is 1-4 KB as a dict, about 200 bytes packed.

    Two bytes name the payload's shape (its field names, kept once per shape) and the rest is the values as
    compact JSON, deflated against a preset dictionary. Plain bytes, not an object wrapping them: at 100k
    calls a wrapper alone costs 5 MB. Read it back with `payload()`, which is only needed when someone looks
    (the detail screen, `--raw`).
    """
    if isinstance(raw, bytes):
        return raw
    if not raw:
        return b""
    names = tuple(raw)
    shape = 0
    value: Any = raw  # keys JSON would turn into strings: keep its reading of them
    if all(type(k) is str for k in names):
        shape = _SHAPES.number(names)
        if shape:
            value = list(raw.values())
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    packer = zlib.compressobj(6, zlib.DEFLATED, -15, zdict=_ZDICT)  # raw deflate: no header, no checksum
    return shape.to_bytes(2, "big") + packer.compress(text.encode("utf-8")) + packer.flush()


def payload(raw: Mapping[str, Any] | bytes) -> dict[str, Any]:
    """A call's raw payload as a plain dict, packed or not."""
    if not isinstance(raw, bytes):
        return dict(raw)
    if not raw:
        return {}
    unpacker = zlib.decompressobj(-15, zdict=_ZDICT)
    value = json.loads(unpacker.decompress(raw[2:]) + unpacker.flush())
    shape = int.from_bytes(raw[:2], "big")
    if shape:
        return dict(zip(_SHAPES.names(shape), value, strict=True))
    return value if isinstance(value, dict) else {"payload": value}


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


def from_storage(data: Mapping[str, Any], timeline: tuple[Any, ...] = ()) -> Call:
    """A call as to_storage() kept it, with its status timeline (as Call.timeline holds it) if known."""

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
        raw=pack(data.get("raw") or {}),  # packed here, not copied again by the store
        timeline=timeline,
    )
