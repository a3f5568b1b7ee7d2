"""What a hostile provider sends, and what callmon's output must still be: shared by the property tests, the
per-finding tests and the hostile fake provider.

`TEMPLATES` holds each provider's documented record shapes (the seed payloads and the fields the vendors
document); `HOSTILE` the values that once broke a record or an output. `check_call` and `check_output` are
the properties every record and every `watch` output must keep, whatever went in.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from callmon.model import Call
from callmon.providers import cloudagent, dialgen, dialgood, velip, vobiz

DATA = Path(__file__).parent / "data"
FORMATS = ("table", "json", "ndjson", "csv")


def _seed(name: str) -> Any:
    return json.loads((DATA / name).read_text())


# Each provider's documented record shapes: what normalize() reads (and push deliveries and list rows carry).
TEMPLATES: dict[str, list[dict[str, Any]]] = {
    "dialgood": [
        _seed("dialgood_cdr.json"),
        {
            "campaignId": "camp_live",
            "status": "available",
            "transcript": "Agent: hello\nUser: who is this",
            "entries": [{"role": "agent", "text": "hello"}, {"speaker": "user", "content": "who"}],
            "timestamp": "2026-03-06T17:05:13Z",
            "direction": "outbound",
            "from": "+14155550123",
            "to": "+14155550999",
        },
    ],
    "dialgen": [
        _seed("dialgen_status.json"),
        _seed("dialgen_webhook.json"),
        {
            "success": True,
            "data": {
                "id": "call_9",
                "status": "MISSED",
                "error": "BUSY",
                "direction": "outbound",
                "duration": 12,
                "createdAt": "2025-11-15T14:30:01Z",
                "endedAt": "2025-11-15T14:30:13Z",
                "contact": {"name": "Ana", "phoneNumber": "+15551234567"},
                "agent": "agent-1",
                "recordingUrl": "https://rec.example/9",
                "transcription": [{"role": "assistant", "content": "Hi"}, {"role": "user", "content": "Bye"}],
            },
        },
        {
            "success": True,
            "callData": {
                "id": "call_10",
                "status": "COMPLETED",
                "startTime": "2025-11-15T14:30:01Z",
                "endTime": "2025-11-15T14:33:01Z",
                "duration": 180,
                "phoneNumber": "+15551234567",
                "summary": "Call summary",
                "recordingUrl": "https://rec.example/10",
            },
        },
    ],
    "cloudagent": [
        {
            "UCID": "4071747381234567",
            "CallID": "c-1",
            "CampaignName": "Renewals",
            "Type": "Progressive",
            "CallerID": "+918040000000",
            "DialedNumber": "+919812345678",
            "StartTime": "2026-03-06 10:00:00",
            "EndTime": "2026-03-06 10:01:00",
            "Duration": "00:01:00",
            "TalkTime": "00:00:50",
            "Status": "Answered",
            "DialStatus": "answered",
            "CustomerDialStatus": "answered",
            "AgentDialStatus": "answered",
            "HangupBy": "CustomerHangup",
            "Disposition": "Interested",
            "CallAudio": "https://audio.example/1.mp3",
            "DialCount": 1,
        },
        {"action": "Answered", "ucid": "4071747381234568", "campaignName": "Renewals", "eventTime": 1772791200},
    ],
    "velip": [
        _seed("velip_calls.json")["calls"][0],
        {"cd_id": "42_999", "cd_status": "", "date": "2026-05-06", "time_dial": "23:59:58", "time_start": "00:00:03"},
    ],
    "vobiz": [
        _seed("vobiz_cdr.json"),
        {
            "call_status": "in-progress",
            "call_uuid": "aabbccdd-1234-5678-90ab-cdef12345679",
            "direction": "outbound",
            "from": "+919876543210",
            "to": "+918012345678",
            "session_start": "2026-03-25 10:00:00.123456+00:00",
        },
    ],
}

NORMALIZE: dict[str, Callable[[Mapping[str, Any]], Call]] = {
    "dialgood": lambda raw: dialgood.normalize(raw, "hostile"),
    "dialgen": lambda raw: dialgen.normalize(raw, "hostile"),
    "cloudagent": lambda raw: cloudagent.normalize(raw, "hostile"),
    "velip": lambda raw: velip.normalize(raw, "hostile"),
    "vobiz": lambda raw: vobiz.normalize(raw, "hostile"),
}

# Values that each once broke a record, an output or a whole source (issue findings 1, 8, 9), and their kin.
HOSTILE: list[Any] = [
    math.nan,
    math.inf,
    -math.inf,
    1e308,
    -0.0,
    "NaN",
    "nan",
    "Infinity",
    "-inf",
    "1e400",
    "1e20",
    10**30,
    -(10**30),
    2**63,
    2**53 + 1,
    "99999999999999999999",
    "1" * 5000,
    10**11 + 1,  # read as epoch milliseconds
    -(10**12),
    253402300800,  # 10000-01-01 in epoch seconds
    253402300800000,
    "253402300800",
    "9999-12-31T23:59:59-05:00",
    "9999-12-31 23:59:59",
    "0001-01-01T00:00:00+05:00",
    "0001-01-01T00:00:00-05:00",
    "0001-01-01 00:00:00",
    "Fri, 31 Dec 9999 23:59:59 -0500",
    "Mon, 01 Jan 0001 00:00:00 +0500",
    "0000-00-00 00:00:00",
    "2026-02-30 10:00:00",
    "9999999:59:59",
    "24:99:99",
    "²",
    "10²",
    "٣٣",
    "\ud800",
    "a\udfffb",
    "\u200b\u200d\ufeff",
    "\u061c\u202e\u2066\u2069",
    "\U000e0041\U000e007f",
    "\x1b[2J\x1b]0;pwned\x07\x9b31m",
    "line\nbreak\r\u2028\u2029",
    "\x00\x7f",
    "",
    " ",
    True,
    False,
    None,
    [],
    {},
    [[[["deep"]]]],
    {"nested": {"x": math.nan}},
    "x" * 1_000_000,
]

# Characters that must never reach a terminal raw (finding 8): every one of them is not printable.
INVISIBLE = "\u200b\u200d\ufeff\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\U000e0001\U000e0041\U000e007f"


def deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = [value]
    return value


def _reject(name: str) -> Any:
    raise AssertionError(f"{name} is not JSON")


def strict_json(text: str) -> Any:
    """JSON as a strict reader takes it: NaN and Infinity are errors."""
    return json.loads(text, parse_constant=_reject)


_TEXT_FIELDS = (
    "source", "provider", "call_id", "campaign", "raw_status", "reason", "direction", "from_", "to", "currency",
    "recording_url",
)  # fmt: skip


def texts_of(call: Call) -> Iterable[str]:
    """Every text a Call carries to a cell, the detail pane, `watch` or history."""
    for name in _TEXT_FIELDS:
        value = getattr(call, name)
        if value is not None:
            yield value
    for label, value in call.details:
        yield label
        yield value
    for line in call.transcript:
        yield line.role
        yield line.text.replace("\n", " ")  # a transcript keeps its line breaks, and only those


def check_call(call: Call, secrets: Iterable[str] = ()) -> None:
    """A record from any payload: text printable, bounded, no secret; numbers finite and plausible."""
    assert isinstance(call, Call)
    for value in texts_of(call):
        assert isinstance(value, str), value
        assert value.isprintable(), repr(value[:200])
        assert len(value) < 10_000, len(value)
        for secret in secrets:
            assert secret not in value, "a secret reached a record"
    for name in ("duration_s", "billable_s"):
        value = getattr(call, name)
        assert value is None or (type(value) is int and 0 <= value <= 10**7), (name, value)
    assert call.cost is None or (type(call.cost) is float and math.isfinite(call.cost)), call.cost
    for name in ("started_at", "answered_at", "ended_at", "updated_at"):
        value = getattr(call, name)
        if value is not None:
            assert value.tzinfo is not None and 1970 <= value.year < 2200, (name, value)
    record = call.record()
    strict_json(json.dumps(record, allow_nan=False, default=str))


def check_output(text: str, fmt: str, secrets: Iterable[str] = ()) -> None:
    """`watch` output in `fmt`: valid (strict) JSON for json/ndjson, printable lines for table/csv, no secret."""
    text.encode("utf-8")  # strict: no lone surrogate can be written out
    for secret in secrets:
        assert secret not in text, f"a secret reached the {fmt} output"
    if fmt == "json":
        decoded: Any = strict_json(text)
        _no_secret_in(decoded, secrets)
    elif fmt == "ndjson":
        for line in text.splitlines():
            _no_secret_in(strict_json(line), secrets)
    else:
        for line in text.splitlines():
            assert line.isprintable(), repr(line[:200])


def _no_secret_in(value: Any, secrets: Iterable[str]) -> None:
    """A JSON reader decodes escapes: the secret must not come back out of them either."""
    flat = json.dumps(value, ensure_ascii=False)
    for secret in secrets:
        assert secret not in flat, "a secret was in the JSON once decoded"
