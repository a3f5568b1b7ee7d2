"""A call as the engine keeps it, and back.

`<json>\\n<packed payload>`: the record's fields in a fixed order (times as whole microseconds since the epoch,
exact), the transcript, details, status timeline and a reference to the payload's shape, then the raw payload
as callmon packs it (zstd against the packing dictionary), without its local shape number. Shapes (field-name
lists) and dictionaries are kept once in the engine, by digest. A call so kept is a fifth of its JSON record
with the payload, and is rebuilt without packing the payload again.

Read back, a call is untrusted as anything from outside the process is: a value of the wrong type becomes
null, and text that is not plain printable text goes through the record's full rule (`Call(...)`). Only text
that is already as callmon would keep it is taken as is.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from callmon import ownjson, packing, redact
from callmon import timeline as timelines
from callmon.model import FIELD_ORDER, MAX_ID, MAX_TEXT, Call, Status, TranscriptLine, assemble
from callmon.timeline import Timeline

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_STATUS = {s.value: s for s in Status}
_VIAS = {"poll": "poll", "push": "push", "history": "history"}
_TEXTS = ("source", "provider", "call_id", "campaign", "raw_status", "reason", "direction", "from_", "to",
          "currency", "recording_url")  # fmt: skip
_TIMES = ("started_at", "answered_at", "ended_at", "updated_at")
_FIELDS = (*_TEXTS[:3], "status", *_TEXTS[3:], *_TIMES, "duration_s", "billable_s", "cost")
_SHORT = frozenset(("source", "provider", "call_id"))
MAX_LINES = 2000


class Unreadable(ValueError):
    """A value in the engine that is not a call callmon wrote."""


def _micros(value: datetime | None) -> int | None:
    return None if value is None else (value - _EPOCH) // _MICRO


def _moment(value: Any) -> datetime | None:
    if type(value) is not int:
        return None
    try:
        return _EPOCH + timedelta(microseconds=value)
    except OverflowError:
        return None


def shape_ref(names: tuple[str, ...]) -> str:
    return hashlib.sha1("\x00".join(names).encode("utf-8", "surrogatepass")).hexdigest()[:12]


class Shapes:
    """Shape digests and dictionaries this process has told the engine about or read from it."""

    def __init__(self) -> None:
        self.names: dict[str, tuple[str, ...]] = {}  # digest -> field names
        self.unsent: dict[str, str] = {}  # digest -> JSON names, not yet written to the engine
        self.dictionaries: dict[str, bytes] = {packing.DICTIONARY_ID: packing.DICTIONARY}
        self.numbers: dict[str, int] = {}  # digest -> this process's shape number

    def ref(self, packed: packing.Packed) -> str:
        shape = packing.shape_of(packed)
        if not shape:
            return f"{packing.DICTIONARY_ID}:"
        names = packing.shape_names(shape)
        digest = shape_ref(names)
        if digest not in self.names:
            self.names[digest] = names
            self.unsent[digest] = json.dumps(list(names), ensure_ascii=False)
        return f"{packing.DICTIONARY_ID}:{digest}"


def encode(call: Call, shapes: Shapes) -> bytes:
    """The call as the engine keeps it, scrubbed of every secret this process knows (it may have learnt one
    since the call was read)."""
    raw = packing.pack(call.raw) if call.raw else packing.EMPTY
    if raw and redact.active():
        text = json.dumps(packing.unpack(raw), ensure_ascii=False, default=str)
        if redact.contains_secret(text):
            from callmon import untrusted

            raw = packing.pack(untrusted.sanitize(packing.unpack(raw)))
    values: list[Any] = [
        call.source, call.provider, call.call_id, call.status.value, call.campaign, call.raw_status,
        call.reason, call.direction, call.from_, call.to, call.currency, call.recording_url,
        _micros(call.started_at), _micros(call.answered_at), _micros(call.ended_at), _micros(call.updated_at),
        call.duration_s, call.billable_s, call.cost,
        _texts([[line.role, line.text] for line in call.transcript]),
        _texts([list(pair) for pair in call.details]),
        [v.value if isinstance(v, Status) else v for v in call.timeline],
        shapes.ref(raw) if raw else "",
    ]  # fmt: skip
    head = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    if redact.active() and redact.contains_secret(head):
        head = redact.scrub(head)
    return head.encode("utf-8", "surrogatepass") + (b"\n" + raw[2:] if raw else b"")


def _texts(pairs: list[list[str]]) -> str:
    """Transcript and details travel as JSON text inside the record: equal ones (a campaign's details, a
    scripted transcript) are then one string a reader decodes once and shares."""
    return json.dumps(pairs, ensure_ascii=False, separators=(",", ":")) if pairs else ""


class _Pairs:
    """Decoded transcripts and detail sets by their JSON text, with whether their text is plain: shared
    while there are not too many kinds."""

    def __init__(self, limit: int, build: Any, plain: Any) -> None:
        self.limit = limit
        self.build = build
        self.plain = plain
        self.seen: dict[str, tuple[Any, bool]] = {}

    def get(self, text: Any) -> tuple[Any, bool]:
        if not text or type(text) is not str:
            return (), True
        found = self.seen.get(text)
        if found is not None:
            return found
        try:
            pairs = ownjson.read(text)
        except (ValueError, RecursionError):
            return (), True
        value = self.build(pairs if type(pairs) is list else [])
        entry = (value, bool(self.plain(value)))
        if len(self.seen) < self.limit:
            self.seen[text] = entry
        return entry


_TRANSCRIPTS = _Pairs(
    4096,
    lambda pairs: tuple(
        TranscriptLine(str(p[0]), str(p[1])) for p in pairs[-MAX_LINES:] if type(p) is list and len(p) == 2
    ),
    lambda lines: all(t.role.isprintable() and t.text.replace("\n", " ").isprintable() for t in lines),
)
_DETAILS = _Pairs(
    16384,
    lambda pairs: tuple((str(p[0]), str(p[1])) for p in pairs[:64] if type(p) is list and len(p) == 2),
    lambda pairs: all(k.isprintable() and v.isprintable() for k, v in pairs),
)
_INTERN = sys.intern
assert FIELD_ORDER == (
    "source", "provider", "call_id", "status", "campaign", "raw_status", "reason", "direction", "from_", "to",
    "started_at", "answered_at", "ended_at", "duration_s", "billable_s", "cost", "currency", "recording_url",
    "updated_at", "transcript", "details", "raw", "timeline",
), "the order decode() builds a Call in"  # fmt: skip


def version_of(value: bytes) -> tuple[bytes, bytes]:
    """A stored value's (stream id, encoded call)."""
    version, sep, rest = value.partition(b"\n")
    if not sep:
        raise Unreadable("no version")
    return version, rest


def decode(data: bytes, shapes: Shapes) -> Call:
    """A call from `encode`'s bytes; Unreadable when they are not one. Shapes and dictionaries it names
    must be in `shapes` (KeyError names a missing one)."""
    head, _, blob = data.partition(b"\n")
    try:
        values = ownjson.read(head.decode("utf-8", "surrogatepass"))
    except (ValueError, RecursionError):
        raise Unreadable("not JSON") from None
    if type(values) is not list or len(values) != 23:
        raise Unreadable("not a call")
    (source, provider, call_id, status, campaign, raw_status, reason, direction, from_, to, currency,
     recording_url, started, answered, ended, updated, duration, billable, cost, transcript, details,
     timeline, ref) = values  # fmt: skip
    texts = (source, provider, call_id, campaign, raw_status, reason, direction, from_, to, currency, recording_url)
    present = [t for t in texts if t is not None]
    lines, plain_lines = _TRANSCRIPTS.get(transcript)
    pairs, plain_pairs = _DETAILS.get(details)
    plain = (
        type(source) is str and type(provider) is str and type(call_id) is str
        and all(type(t) is str for t in present)
        and "\x20".join(present).isprintable()
        and max(map(len, present)) <= MAX_TEXT
        and max(len(source), len(provider), len(call_id)) <= MAX_ID
        and plain_lines
        and plain_pairs
    )  # fmt: skip
    if not plain:
        return Call(
            source=str(source), provider=str(provider), call_id=str(call_id), status=_status(status),
            campaign=_str(campaign), raw_status=_str(raw_status), reason=_str(reason), direction=_str(direction),
            from_=_str(from_), to=_str(to), currency=_str(currency), recording_url=_str(recording_url),
            started_at=_moment(started), answered_at=_moment(answered), ended_at=_moment(ended),
            updated_at=_moment(updated), duration_s=_seconds(duration), billable_s=_seconds(billable),
            cost=_cost(cost), transcript=lines, details=pairs, timeline=_timeline(timeline),
            raw=_payload(ref, blob, shapes),
        )  # the record's whole rule: cleaned, masked, cut
    # Text already as callmon keeps it: built as history builds a row (no second pass of the rule).
    return assemble((
        _INTERN(source), _INTERN(provider), call_id, _status(status), campaign and _INTERN(campaign),
        raw_status and _INTERN(raw_status), reason and _INTERN(reason), direction and _INTERN(direction),
        from_, to, _moment(started), _moment(answered), _moment(ended), _seconds(duration), _seconds(billable),
        _cost(cost), currency and _INTERN(currency), recording_url, _moment(updated), lines, pairs,
        _payload(ref, blob, shapes), _timeline(timeline),
    ))  # fmt: skip


def _str(value: Any) -> str | None:
    return value if value is None or type(value) is str else None


def _status(value: Any) -> Status:
    return _STATUS.get(value, Status.UNKNOWN) if type(value) is str else Status.UNKNOWN


def _seconds(value: Any) -> int | None:
    return value if type(value) is int and 0 <= value <= 10**7 else None


def _cost(value: Any) -> float | None:
    return float(value) if type(value) in (int, float) and abs(value) <= 1e12 else None


def _timeline(values: Any) -> Timeline:
    if type(values) is not list or len(values) % 4:
        return ()
    out: list[Any] = []
    for i in range(0, len(values), 4):
        at, status, raw_status, via = values[i : i + 4]
        if (
            not timelines.plausible((at,))
            or type(status) is not str or status not in _STATUS or type(via) is not str or via not in _VIAS
        ):  # fmt: skip
            return ()
        out.extend((float(at), _STATUS[status], raw_status if type(raw_status) is str else None, _VIAS[via]))
    return tuple(out)


def _payload(ref: Any, blob: bytes, shapes: Shapes) -> packing.Packed:
    if not ref or not blob or type(ref) is not str:
        return packing.EMPTY
    dictionary_id, _, digest = ref.partition(":")
    dictionary = shapes.dictionaries[dictionary_id]
    number = shapes.numbers.get(digest) if dictionary_id == packing.DICTIONARY_ID else None
    if number is not None:
        return packing.Packed(number.to_bytes(2, "big") + blob)  # the usual case: nothing unpacked
    names = shapes.names[digest] if digest else ()
    try:
        packed = packing.adopt(b"\x00\x00" + blob, names, dictionary)
        if dictionary_id == packing.DICTIONARY_ID and names and packing.shape_of(packed):
            shapes.numbers[digest] = packing.shape_of(packed)
        return packed
    except Exception:  # a payload that does not unpack costs the payload, never the call
        return packing.EMPTY


def needs(data: bytes, shapes: Shapes) -> tuple[str | None, str | None]:
    """The (dictionary id, shape digest) an encoded call names that `shapes` lacks."""
    head = data.partition(b"\n")[0]
    at = head.rfind(b',"')
    ref = head[at + 2 : -2].decode("ascii", "replace") if at >= 0 else ""
    dictionary_id, _, digest = ref.partition(":")
    return (
        dictionary_id if dictionary_id and dictionary_id not in shapes.dictionaries else None,
        digest if digest and digest not in shapes.names else None,
    )


def fingerprint_text(values: Mapping[str, str]) -> str:
    return json.dumps(sorted(values.items()))
