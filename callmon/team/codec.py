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

from callmon import packing, redact
from callmon.model import MAX_ID, MAX_TEXT, Call, Status, TranscriptLine, trusted
from callmon.pools import shared
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
        [[line.role, line.text] for line in call.transcript],
        [list(pair) for pair in call.details],
        [v.value if isinstance(v, Status) else v for v in call.timeline],
        shapes.ref(raw) if raw else "",
    ]  # fmt: skip
    head = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    if redact.active() and redact.contains_secret(head):
        head = redact.scrub(head)
    return head.encode("utf-8", "surrogatepass") + (b"\n" + raw[2:] if raw else b"")


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
        values = json.loads(head)
    except (ValueError, RecursionError):
        raise Unreadable("not JSON") from None
    if type(values) is not list or len(values) != 23:
        raise Unreadable("not a call")
    texts = values[:3] + values[4:12]
    fields: dict[str, Any] = {}
    plain = True
    for name, value in zip(_TEXTS, texts, strict=True):
        if value is not None and type(value) is not str:
            value = None if name not in _SHORT else str(value)
        fields[name] = value
    strings = [v for v in fields.values() if v is not None]
    joined = "\x20".join(strings)
    if not joined.isprintable() or max(map(len, strings), default=0) > MAX_TEXT or any(
        len(fields[n] or "") > MAX_ID for n in _SHORT
    ):
        plain = False
    status = _STATUS.get(values[3]) if type(values[3]) is str else None
    fields["status"] = status or Status.UNKNOWN
    for name, value in zip(_TIMES, values[12:16], strict=True):
        fields[name] = _moment(value)
    for name, value in zip(("duration_s", "billable_s"), values[16:18], strict=True):
        fields[name] = value if type(value) is int and 0 <= value <= 10**7 else None
    cost = values[18]
    fields["cost"] = float(cost) if type(cost) in (int, float) and abs(cost) <= 1e12 else None
    lines = values[19] if type(values[19]) is list else []
    transcript = tuple(
        TranscriptLine(str(p[0]), str(p[1])) for p in lines[-MAX_LINES:] if type(p) is list and len(p) == 2
    )
    pairs = values[20] if type(values[20]) is list else []
    details = tuple((str(p[0]), str(p[1])) for p in pairs[:64] if type(p) is list and len(p) == 2)
    if transcript and not all(
        t.role.isprintable() and t.text.replace("\n", " ").isprintable() for t in transcript
    ):
        plain = False
    if details and not all(k.isprintable() and v.isprintable() for k, v in details):
        plain = False
    fields["transcript"], fields["details"] = transcript, details
    fields["timeline"] = _timeline(values[21])
    fields["raw"] = _payload(values[22], blob, shapes)
    call = trusted(**fields) if plain else Call(**fields)
    if not plain:
        return call
    changes = shared(call)
    for name, value in changes.items():
        object.__setattr__(call, name, value)  # still only ours: sharing needs no copy
    if call.source is not None:
        object.__setattr__(call, "source", sys.intern(call.source))
    return call


def _timeline(values: Any) -> Timeline:
    if type(values) is not list or len(values) % 4:
        return ()
    out: list[Any] = []
    for i in range(0, len(values), 4):
        at, status, raw_status, via = values[i : i + 4]
        if type(at) not in (int, float) or status not in _STATUS or via not in _VIAS:
            return ()
        out.extend((float(at), _STATUS[status], raw_status if type(raw_status) is str else None, _VIAS[via]))
    return tuple(out)


def _payload(ref: Any, blob: bytes, shapes: Shapes) -> packing.Packed:
    if not ref or not blob or type(ref) is not str:
        return packing.EMPTY
    dictionary_id, _, digest = ref.partition(":")
    dictionary = shapes.dictionaries[dictionary_id]
    names = shapes.names[digest] if digest else ()
    try:
        return packing.adopt(b"\x00\x00" + blob, names, dictionary)
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
