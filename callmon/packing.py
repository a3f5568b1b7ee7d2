"""Provider payloads packed for keeping: a raw CDR is 1-4 KB as a dict, about 200 bytes packed.

A packed payload is plain bytes (`Packed`), not an object wrapping them (at 100k calls a wrapper alone costs
5 MB): two bytes name the payload's shape (its field names, kept once per shape) and the rest is the values as
compact JSON, compressed with zstd against a preset dictionary. Only `unpack()` reads it; the type keeps
anything else from mistaking it for the payload.

zstd, not zlib: with a preset dictionary zlib must load the dictionary into a new compressor for every
payload, which was most of what packing cost; a zstd compressor keeps it, and packs a payload four times
faster for a few more bytes.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any, NewType

import zstandard

Packed = NewType("Packed", bytes)
EMPTY = Packed(b"")

# A preset deflate dictionary: the providers' documented field names (for the few payloads packed whole, names
# and all), then common values and the values of the vendors' example payloads (data/payload-values.json, made
# by scripts/payload_dictionary.py): timestamps, ids and causes a payload then costs a back-reference each.
# Values last: deflate codes nearer matches in fewer bits.
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

    def known(self, names: tuple[str, ...]) -> int | None:
        return self._numbers.get(names)

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


def pack(raw: Mapping[str, Any] | Packed) -> Packed:
    """A provider payload packed for keeping (one already packed is returned as it is). Unpacking is only
    needed when someone looks (the detail screen, `--raw`, exports with payloads)."""
    if isinstance(raw, bytes):
        return raw
    if not raw:
        return EMPTY
    names = tuple(raw)
    value: Any = raw  # keys JSON would turn into strings: keep its reading of them
    # A shape seen before holds strings only: its number is one lookup, the check is for new ones.
    shape = _SHAPES.known(names)
    if shape is None:
        shape = _SHAPES.number(names) if all(type(k) is str for k in names) else 0
    if shape:
        value = list(raw.values())
    text = _dumps(value)
    # surrogatepass: a payload read by anything but callmon.untrusted may hold a lone surrogate; it must pack.
    body = text.encode("utf-8", "surrogatepass")
    return Packed(shape.to_bytes(2, "big") + _codec(_ZDICT).compress(body))


def _json_writer() -> Callable[[Any], str]:
    """json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str), without building an encoder
    (in Python) for each payload: that was a third of packing one. No cycle check: a payload is parsed JSON."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode
    chunks = make(None, str, json.encoder.encode_basestring, None, ":", ",", False, False, True)
    return lambda value: "".join(chunks(value, 0))


_dumps = _json_writer()


def unpack(raw: Mapping[str, Any] | Packed) -> dict[str, Any]:
    """A raw payload as a plain dict, packed or not."""
    if not isinstance(raw, bytes):
        return dict(raw)
    if not raw:
        return {}
    shape = shape_of(raw)
    return _unpack(raw, _SHAPES.names(shape) if shape else (), _ZDICT)

# -- packed payloads kept elsewhere (history) ------------------------------------------------------------------
# A packed payload names its shape by this process's number for it; a file keeps its own numbers with the
# names, and a payload read back is renumbered for the process that reads it (two bytes replaced, nothing
# unpacked), or packed again whole past the shape limit. The dictionary is part of the format: a file
# written with another one is packed again once, with the dictionary it was written with.
DICTIONARY = _ZDICT
DICTIONARY_ID = hashlib.sha256(b"zstd:" + _ZDICT).hexdigest()[:16]
_local = threading.local()  # zstd's compressors are not for two threads at once: one set per thread


class _Codec:
    def __init__(self, dictionary: bytes) -> None:
        data = zstandard.ZstdCompressionDict(dictionary, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
        # Frames without zstd's 4-byte magic number: every packed payload is ours, and 4 bytes is 3 % of one.
        params = zstandard.ZstdCompressionParameters.from_level(
            3, format=zstandard.FORMAT_ZSTD1_MAGICLESS, write_checksum=False, write_content_size=True,
            write_dict_id=False,
        )  # fmt: skip
        self.compressor = zstandard.ZstdCompressor(dict_data=data, compression_params=params)
        self.decompressor = zstandard.ZstdDecompressor(dict_data=data, format=zstandard.FORMAT_ZSTD1_MAGICLESS)

    def compress(self, body: bytes) -> bytes:
        return self.compressor.compress(body)

    def decompress(self, blob: bytes) -> bytes:
        return self.decompressor.decompress(blob)


def _codec(dictionary: bytes) -> _Codec:
    codecs: dict[bytes, _Codec] | None = getattr(_local, "codecs", None)
    if codecs is None:
        codecs = _local.codecs = {}
    codec = codecs.get(dictionary)
    if codec is None:
        codec = codecs[dictionary] = _Codec(dictionary)
    return codec


def shape_of(packed: Packed) -> int:
    return int.from_bytes(packed[:2], "big") if packed else 0


def shape_names(shape: int) -> tuple[str, ...]:
    return _SHAPES.names(shape)


def known_shape(names: tuple[str, ...]) -> int | None:
    """This process's number for a payload shape with these field names, if it has one."""
    return _SHAPES.known(names)


def with_shape(packed: bytes, shape: int) -> Packed:
    return Packed(shape.to_bytes(2, "big") + packed[2:])


def adopt(blob: bytes, names: tuple[str, ...], dictionary: bytes = _ZDICT) -> Packed:
    """A payload packed elsewhere, whose shape there had these field names (none: packed whole), as this
    process keeps it."""
    if not blob:
        return EMPTY
    if dictionary != _ZDICT:
        return pack(_unpack(blob, names, dictionary))
    if not names:
        return with_shape(blob, 0)
    number = _SHAPES.number(names)
    if number:
        return blob if shape_of(Packed(blob)) == number else with_shape(blob, number)  # type: ignore[return-value]
    return pack(_unpack(blob, names, dictionary))


def _unpack(blob: bytes, names: tuple[str, ...], dictionary: bytes) -> dict[str, Any]:
    value = json.loads(_codec(dictionary).decompress(blob[2:]).decode("utf-8", "surrogatepass"))
    if names:
        return dict(zip(names, value, strict=True))
    return value if isinstance(value, dict) else {"payload": value}
