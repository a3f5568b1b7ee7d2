"""The normalized call record, shared by every layer.

A `Call` is where untrusted provider data becomes a record, so the one rule for untrusted values is applied
in its constructor: a field of the wrong type or out of any plausible range becomes None (the record keeps
the rest), text is made display-safe once (see `callmon.text`), every secret callmon knows is masked, and
only then is text cut to its field's limit (a cut-off key would no longer match its mask). Nothing
downstream (cells, history, `watch`, exports, copies) has to remember to.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

from callmon import redact, untrusted
from callmon.packing import EMPTY, Packed, pack, unpack
from callmon.status import ACTIVE, ENDED, FAILURES, Status
from callmon.text import clean, clean_multiline, cut
from callmon.timeline import Timeline

__all__ = [
    "ACTIVE",
    "ENDED",
    "FAILURES",
    "FIELD_ORDER",
    "RECORD_FIELDS",
    "Call",
    "Status",
    "TranscriptLine",
    "assemble",
    "from_storage",
    "iso",
    "to_storage",
]

# Longest text a field keeps (after masking): enough for any real id, name, cause or URL.
MAX_ID = 256
MAX_TEXT = 2000
MAX_LINE = 8000
MAX_LINES = 2000
MAX_DETAILS = 64
MAX_SECONDS = 10**7  # about 115 days
MAX_AMOUNT = 1e12
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


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

    `raw` is the provider's payload as received (secrets masked; see `callmon.untrusted`); the store keeps it
    packed. Read it with `payload()`.
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
    raw: Mapping[str, Any] | Packed = field(default=EMPTY, compare=False, hash=False)
    # The store's record of the call's status changes (see callmon.timeline), oldest first.
    timeline: Timeline = field(default=(), compare=False, hash=False, repr=False)
    # When callmon first saw the call (epoch seconds: the timeline's first time; -inf with no timeline). Calls
    # that tie on a sorted column are shown in this order. Kept in a slot of its own, not read off the
    # timeline: a sort reads it for 100k calls, and the hop through each call's timeline tuple, one more
    # object scattered over the heap, was a third of building the rows.
    first_seen: float = field(init=False, default=-math.inf, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        if self.timeline:
            object.__setattr__(self, "first_seen", self.timeline[0])
        if type(self.status) is not Status:
            object.__setattr__(self, "status", _status(self.status))
        masking = redact.active()
        texts = [v for v in map(self.__getattribute__, _TEXT_NAMES) if v is not None]
        # One look at all the text at once: most records are plain, short, secret-free text.
        if texts and not _plain(texts, masking):
            for name, limit in _TEXT_FIELDS:
                value = getattr(self, name)
                if value is not None:
                    safe = _text(value, limit, masking)
                    if safe is not value:
                        object.__setattr__(self, name, safe)
        for name in _TIME_FIELDS:
            value = getattr(self, name)
            if value is not None and not (type(value) is datetime and EARLIEST <= value < LATEST):
                object.__setattr__(self, name, _time(value))
        for name in ("duration_s", "billable_s"):
            value = getattr(self, name)
            if value is not None and not (type(value) is int and 0 <= value <= MAX_SECONDS):
                object.__setattr__(self, name, None)
        cost = self.cost
        if cost is not None and not (type(cost) is float and -MAX_AMOUNT <= cost <= MAX_AMOUNT):
            ok = type(cost) in (int, float) and math.isfinite(cost) and abs(cost) <= MAX_AMOUNT
            object.__setattr__(self, "cost", float(cost) if ok else None)
        if self.transcript:
            lines = _transcript(self.transcript, masking)
            if lines is not self.transcript:
                object.__setattr__(self, "transcript", lines)
        if self.details:
            pairs = _details(self.details, masking)
            if pairs is not self.details:
                object.__setattr__(self, "details", pairs)

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.call_id)

    @property
    def ended(self) -> bool:
        return self.status.ended

    @property
    def why(self) -> str | None:
        """What REASON shows, `reason:` filters on and the group view groups by: the provider's reason for
        the outcome, else its own word for the status."""
        return self.reason or self.raw_status

    def payload(self) -> dict[str, Any]:
        """The provider's raw payload, as a plain dict."""
        return unpack(self.raw)

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
            out["raw"] = self.payload()
        return out


_TEXT_FIELDS: tuple[tuple[str, int], ...] = tuple(
    (f.name, MAX_ID if f.name in ("source", "provider", "call_id") else MAX_TEXT)
    for f in fields(Call)
    if f.type in ("str", "str | None")
)
_TEXT_NAMES = tuple(name for name, _ in _TEXT_FIELDS)
assert _TEXT_NAMES[:3] == ("source", "provider", "call_id")
_TIME_FIELDS = tuple(f.name for f in fields(Call) if f.type == "datetime | None")


def _plain(texts: list[Any], masking: bool) -> bool:
    """Whether every text field is a string already as the record would keep it."""
    if not all(type(t) is str for t in texts):
        return False
    joined = "\x20".join(texts)
    if not joined.isprintable() or (masking and redact.contains_secret(joined)):
        return False
    # source, provider and call_id come first (they are never None) and have the shorter limit.
    return max(map(len, texts)) <= MAX_TEXT and max(map(len, texts[:3])) <= MAX_ID


# The order assemble() takes values in: the class's, ending with the timeline.
FIELD_ORDER = tuple(f.name for f in fields(Call) if f.init)
assert FIELD_ORDER[-1] == "timeline"
_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(Call) if f.init and f.default is not MISSING}


def trusted(**values: Any) -> Call:
    """A Call from values callmon made safe itself (a record it built, read back from its own history):
    built without the untrusted-value rule's checks, which cost as much as the rest of building one."""
    return assemble(tuple(values[name] if name in values else _DEFAULTS[name] for name in FIELD_ORDER))


_new = object.__new__
# Each slot's own setter, called directly: object.__setattr__ finds it by name first, which was a third of
# copying a call.
_SETTER: dict[str, Callable[[Call, Any], None]] = {
    name: getattr(Call, name).__set__ for name in Call.__slots__
}
_put_first_seen = _SETTER["first_seen"]
_SLOTS: tuple[str, ...] = Call.__slots__
# Building a call from its values and copying one, slot by slot, written out from the slots' names: the same
# steps as a loop over them, at half the cost (history reads back 100k calls, and the store copies each it takes).
_WRITTEN_OUT: dict[str, Any] = {"_new": _new, "Call": Call, "_inf": -math.inf}
_WRITTEN_OUT.update((f"_set_{name}", setter) for name, setter in _SETTER.items())
exec(  # source built above from the class's own field names, nothing else
    f"def assemble(values):\n    ({', '.join(FIELD_ORDER)},) = values\n    call = _new(Call)\n"
    + "".join(f"    _set_{name}(call, {name})\n" for name in FIELD_ORDER)
    + "    _set_first_seen(call, timeline[0] if timeline else _inf)\n    return call\n"
    + "def copy(call):\n    new = _new(Call)\n"
    + "".join(f"    _set_{name}(new, call.{name})\n" for name in _SLOTS)
    + "    return new\n",
    _WRITTEN_OUT,
)
# trusted() from every field's value in FIELD_ORDER: for building many (history read back, a team's stream),
# where passing them by name costs as much again. ValueError when there are not as many values as fields.
assemble: Callable[[tuple[Any, ...]], Call] = _WRITTEN_OUT["assemble"]
_copy: Callable[[Call], Call] = _WRITTEN_OUT["copy"]


def finished(call: Call, changes: dict[str, Any]) -> Call:
    """The call itself with trusted changes made in place: only for a call nothing else holds yet (the store
    finishing one fresh from a provider's payload)."""
    setter = _SETTER
    for name, value in changes.items():
        setter[name](call, value)
    if "timeline" in changes:
        timeline = changes["timeline"]
        _put_first_seen(call, timeline[0] if timeline else -math.inf)
    return call


def revised(call: Call, **changes: Any) -> Call:
    """A copy of a record with trusted changes (the store's packing, timeline, shared values)."""
    new = _copy(call)
    setter = _SETTER
    for name, value in changes.items():
        setter[name](new, value)
    if "timeline" in changes:
        timeline = changes["timeline"]
        _put_first_seen(new, timeline[0] if timeline else -math.inf)
    return new


def _status(value: object) -> Status:
    try:
        return Status(str(value))
    except ValueError:
        return Status.UNKNOWN


def _text(value: object, limit: int, masking: bool) -> str:
    """One field's text as the record keeps it: masked, made inert, then cut (in that order)."""
    text = value if type(value) is str else str(value)
    if masking:
        text = redact.scrub(text)
    if not text.isprintable():
        text = clean(text)
        if masking:  # a secret split by an invisible character is whole again once it is removed
            text = redact.scrub(text)
    return cut(text, limit) if len(text) > limit else text


def _time(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        raise ValueError("call times must be timezone-aware")
    try:
        return value if EARLIEST <= value < LATEST else None
    except (OverflowError, ValueError):
        return None


def _transcript(lines: tuple[TranscriptLine, ...], masking: bool) -> tuple[TranscriptLine, ...]:
    if (
        len(lines) <= MAX_LINES
        and all(
            type(t.role) is str
            and type(t.text) is str
            and t.role.isprintable()
            and (t.text.isprintable() or t.text.replace("\n", " ").isprintable())
            and len(t.text) <= MAX_LINE
            and len(t.role) <= MAX_ID
            for t in lines
        )
        and not (masking and any(redact.contains_secret(t.text) for t in lines))
    ):
        return lines
    out = []
    for line in lines[-MAX_LINES:]:
        role = _text(line.role, MAX_ID, masking)
        said = clean_multiline(str(line.text))
        if masking:
            said = redact.scrub(said)
        out.append(TranscriptLine(role, cut(said, MAX_LINE) if len(said) > MAX_LINE else said))
    return tuple(out)


def _details(pairs: tuple[tuple[str, str], ...], masking: bool) -> tuple[tuple[str, str], ...]:
    if len(pairs) <= MAX_DETAILS and all(
        type(k) is str
        and type(v) is str
        and k.isprintable()
        and v.isprintable()
        and len(v) <= MAX_TEXT
        and len(k) <= MAX_ID
        and not (masking and redact.contains_secret(v))
        for k, v in pairs
    ):
        return pairs
    return tuple((_text(k, MAX_ID, masking), _text(v, MAX_TEXT, masking)) for k, v in pairs[:MAX_DETAILS])


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


def from_storage(data: Mapping[str, Any], timeline: Timeline = ()) -> Call:
    """A call as to_storage() kept it, with its status timeline if known. Stored data is read as untrusted
    too: a file written by an older version, or edited, goes through the same rule."""

    def when(name: str) -> datetime | None:
        value = data.get(name)
        if not isinstance(value, str):
            return None
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)

    def number(name: str) -> Any:
        value = data.get(name)
        return value if type(value) in (int, float) else None

    raw = data.get("raw")
    return Call(
        source=str(data["source"]),
        provider=str(data["provider"]),
        call_id=str(data["call_id"]),
        status=_status(data.get("status")),
        campaign=data.get("campaign"),
        raw_status=data.get("raw_status"),
        reason=data.get("reason"),
        direction=data.get("direction"),
        from_=data.get("from"),
        to=data.get("to"),
        started_at=when("started_at"),
        answered_at=when("answered_at"),
        ended_at=when("ended_at"),
        duration_s=number("duration_s"),
        billable_s=number("billable_s"),
        cost=number("cost"),
        currency=data.get("currency"),
        recording_url=data.get("recording_url"),
        updated_at=when("updated_at"),
        transcript=tuple(
            TranscriptLine(str(pair[0]), str(pair[1]))
            for pair in data.get("transcript") or ()
            if isinstance(pair, (list, tuple)) and len(pair) == 2
        ),
        details=tuple(
            (str(pair[0]), str(pair[1]))
            for pair in data.get("details") or ()
            if isinstance(pair, (list, tuple)) and len(pair) == 2
        ),
        # Packed here, not copied again by the store; read as untrusted (an older file may hold a secret).
        raw=pack(untrusted.sanitize(raw)) if isinstance(raw, Mapping) else EMPTY,
        timeline=timeline,
    )
