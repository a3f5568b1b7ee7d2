"""Every seed payload (verbatim) and the reference shapes through each provider's pure normalize()."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from callmon.model import Status
from callmon.providers import cloudagent, dialgen, dialgood, velip, vobiz

DATA = Path(__file__).parents[1] / "data"


def seed(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def test_dialgood_seed_cdr() -> None:
    call = dialgood.normalize(seed("dialgood_cdr.json"), "dg")
    rec = call.record()
    assert rec["source"] == "dg" and rec["provider"] == "dialgood"
    assert rec["call_id"] == "camp_7f84b3f8"  # the campaignId is Dialgood's call key
    assert ("conversation", "conv_01J8MJS4V4") in call.details
    assert rec["status"] == "completed" and rec["raw_status"] == "success"
    assert rec["duration_s"] == 92 and rec["billable_s"] == 87
    assert rec["ended_at"] == "2026-03-06T17:05:13.391Z"
    assert rec["started_at"] == "2026-03-06T17:03:41.391Z"  # ended - callDuration
    assert rec["from"] == "+14155550123" and rec["to"] == "+14155550999"
    assert rec["direction"] == "outbound"
    assert rec["reason"] == "SIP 200 OK"
    assert rec["cost"] is None and rec["currency"] is None and rec["recording_url"] is None


@pytest.mark.parametrize(
    ("status", "raw_status", "sip", "expected"),
    [
        ("no-answer", "no answer", "480", Status.NO_ANSWER),
        ("failed", "busy", "486", Status.BUSY),
        ("failed", "declined", "600", Status.BUSY),
        ("failed", "cancelled", "487", Status.CANCELED),
        ("failed", "error", "503", Status.FAILED),
        (None, "unanswered", None, Status.NO_ANSWER),
        (None, "success", None, Status.COMPLETED),
        (None, "weird", None, Status.FAILED),
    ],
)
def test_dialgood_status_mapping(
    status: str | None, raw_status: str, sip: str | None, expected: Status
) -> None:
    raw: dict[str, Any] = {"campaignId": "c1", "rawStatus": raw_status, "callDuration": 3}
    if status:
        raw["status"] = status
    if sip:
        raw["sip_status"] = sip
    assert dialgood.normalize(raw).status is expected


def test_dialgood_live_transcript() -> None:
    live = {
        "campaignId": "c9",
        "status": "available",
        "transcript": "Agent: Hello, this is Acme.\nUser: Hi!\n",
    }
    call = dialgood.normalize(live)
    assert call.status is Status.IN_PROGRESS and call.call_id == "c9"
    assert [(t.role, t.text) for t in call.transcript] == [("Agent", "Hello, this is Acme."), ("User", "Hi!")]
    assert (
        dialgood.normalize({"campaignId": "c9", "status": "pending", "entries": []}).status is Status.QUEUED
    )
    entries = {"campaignId": "c9", "status": "available", "entries": [{"role": "agent", "text": "hi"}]}
    assert dialgood.normalize(entries).transcript[0].text == "hi"


def test_dialgen_seed_live_status() -> None:
    rec = dialgen.normalize(seed("dialgen_status.json")).record()
    assert rec["call_id"] == "call_123" and rec["status"] == "in-progress" and rec["raw_status"] == "ONGOING"
    assert rec["started_at"] == "2025-11-15T14:30:01.123Z"
    assert rec["to"] == "+15551234567"
    assert rec["campaign"] is None and rec["duration_s"] is None and rec["recording_url"] is None
    assert rec["ended_at"] is None and rec["reason"] is None


def test_dialgen_seed_webhook() -> None:
    call = dialgen.normalize(seed("dialgen_webhook.json"))
    assert call.call_id == "call_123" and call.status is Status.COMPLETED and call.duration_s == 180
    assert call.recording_url == "https://..."
    assert ("summary", "Call summary...") in call.details


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        ("SCHEDULED", None, Status.QUEUED),
        ("ONGOING", None, Status.IN_PROGRESS),
        ("COMPLETED", None, Status.COMPLETED),
        ("MISSED", "NO_ANSWER", Status.NO_ANSWER),
        ("MISSED", "BUSY", Status.BUSY),
        ("FAILED", "INVALID_NUMBER", Status.FAILED),
        ("WHATEVER", None, Status.UNKNOWN),
    ],
)
def test_dialgen_status_mapping(status: str, error: str | None, expected: Status) -> None:
    call = dialgen.normalize({"callId": "x", "status": status, "error": error})
    assert call.status is expected and call.reason == error


def test_dialgen_check_status_and_on_call_complete() -> None:
    persistent = {
        "success": True,
        "data": {
            "id": "call_9",
            "status": "COMPLETED",
            "direction": "outbound",
            "duration": 61,
            "createdAt": "2025-10-01T08:00:00Z",
            "endedAt": "2025-10-01T08:01:01Z",
            "contact": {"name": "Ana", "phoneNumber": "+5511988887777"},
            "agent": "Sales bot",
            "recordingUrl": "https://rec/9.mp3",
            "transcription": [{"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Hi"}],
        },
    }
    rec = dialgen.normalize(persistent).record()
    assert rec["call_id"] == "call_9" and rec["to"] == "+5511988887777" and rec["direction"] == "outbound"
    assert rec["started_at"] == "2025-10-01T08:00:00Z" and rec["ended_at"] == "2025-10-01T08:01:01Z"
    assert len(dialgen.normalize(persistent).transcript) == 2
    hook = {
        "success": True,
        "callData": {
            "id": "call_10",
            "status": "MISSED",
            "startTime": "2025-10-01T09:00:00Z",
            "endTime": "2025-10-01T09:00:30Z",
            "duration": 0,
            "phoneNumber": "+15550001111",
        },
    }
    call = dialgen.normalize(hook)
    # DUR is dialling to hang-up for every provider: for a call nobody answered, the time it rang.
    assert call.call_id == "call_10" and call.status is Status.NO_ANSWER and call.duration_s == 30


def test_velip_seed_record() -> None:
    body = seed("velip_calls.json")
    call = velip.normalize(body["calls"][0], "vl")
    rec = call.record()
    assert rec["call_id"] == "9876545" and rec["status"] == "completed" and rec["raw_status"] == "OK"
    assert rec["campaign"] == "lote-2026-05-06"
    assert rec["cost"] == pytest.approx(0.05)  # "0,050": decimal comma
    # DUR is dialling to hang-up (10:00:01 to 10:00:35); Velip's own dur and cdr_sec are talk time.
    assert rec["duration_s"] == 34 and rec["billable_s"] == 27
    # São Paulo is UTC-3: 10:00:01 local is 13:00:01Z
    assert rec["started_at"] == "2026-05-06T13:00:01Z"
    assert rec["answered_at"] == "2026-05-06T13:00:08Z"
    assert rec["ended_at"] == "2026-05-06T13:00:35Z"
    # E.164 (Velip's numbers are Brazilian), the number as sent kept in the details.
    assert rec["to"] == "+5511999999999" and rec["recording_url"] == "https://..."
    assert ("dest as sent", "5511999999999") in call.details
    assert ("DTMF", "resp_1=1 resp_2=12345 resp_3=0") in call.details
    assert ("answered by", "not detected") in call.details


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"cd_status": "NOANSWER"}, Status.NO_ANSWER),
        ({"cd_status": "BUSY"}, Status.BUSY),
        ({"cd_status": "CANCEL"}, Status.CANCELED),
        ({"cd_status": "CONGESTION"}, Status.FAILED),
        ({"cd_status": "CHANUNAVAIL"}, Status.FAILED),
        ({"cd_status": ""}, Status.QUEUED),
        ({"cd_status": "", "time_dial": "10:00:00"}, Status.RINGING),
        ({"cd_status": "", "time_dial": "10:00:00", "time_start": "10:00:05"}, Status.IN_PROGRESS),
    ],
)
def test_velip_status_mapping(fields: dict[str, str], expected: Status) -> None:
    assert velip.normalize({"cd_id": "42_1", "date": "2026-05-06", **fields}).status is expected


def test_velip_masked_dest_and_midnight() -> None:
    call = velip.normalize(
        {
            "cd_id": "1",
            "cd_status": "OK",
            "date": "2026-05-06",
            "dest": "xxxxx877",
            "time_dial": "23:59:50",
            "time_start": "23:59:58",
            "time_end": "00:00:30",
        }
    )
    assert call.to == "xxxxx877"
    assert call.ended_at is not None and call.answered_at is not None and call.ended_at > call.answered_at


def test_vobiz_seed_cdr() -> None:
    call = vobiz.normalize(seed("vobiz_cdr.json"), "vz")
    rec = call.record()
    assert rec["call_id"] == "aabbccdd-1234-5678-90ab-cdef12345678"
    assert rec["status"] == "completed" and rec["raw_status"] == "NORMAL_CLEARING"
    assert rec["reason"] == "Normal Hangup"
    assert rec["from"] == "+919876543210" and rec["to"] == "+918012345678"
    assert rec["started_at"] == "2026-03-25T10:00:00Z" and rec["answered_at"] == "2026-03-25T10:00:01Z"
    assert rec["ended_at"] == "2026-03-25T10:00:42Z"
    assert rec["duration_s"] == 47 and rec["billable_s"] == 42
    assert rec["cost"] == pytest.approx(0.45) and rec["currency"] == "INR"
    assert rec["campaign"] is None  # null stays null
    assert ("MOS", "4.5") in call.details and ("hangup source", "Caller") in call.details


@pytest.mark.parametrize(
    ("code", "cause", "answered", "billsec", "expected"),
    [
        (4000, "NORMAL_CLEARING", "2026-01-01T00:00:01Z", 10, Status.COMPLETED),
        (4000, "NORMAL_CLEARING", None, 0, Status.NO_ANSWER),
        (3000, "NO_ANSWER", None, 0, Status.NO_ANSWER),
        (6010, None, None, 0, Status.NO_ANSWER),
        (3010, "USER_BUSY", None, 0, Status.BUSY),
        (3100, None, None, 0, Status.BUSY),
        (1000, "ORIGINATOR_CANCEL", None, 0, Status.CANCELED),
        (9000, None, None, 0, Status.CANCELED),
        (3020, "CALL_REJECTED", None, 0, Status.FAILED),
        (6000, None, "2026-01-01T00:00:01Z", 5, Status.COMPLETED),
        (6000, None, None, 0, Status.FAILED),
        (2040, None, None, 0, Status.FAILED),
        (5010, None, None, 0, Status.FAILED),
        (7001, None, None, 0, Status.FAILED),
        (8500, None, None, 0, Status.FAILED),
        (0, None, None, 0, Status.UNKNOWN),
        (None, "USER_BUSY", None, 0, Status.BUSY),
    ],
)
def test_vobiz_hangup_mapping(
    code: int | None, cause: str | None, answered: str | None, billsec: int, expected: Status
) -> None:
    raw = {
        "uuid": "u",
        "hangup_cause_code": code,
        "hangup_cause": cause,
        "answer_time": answered,
        "billsec": billsec,
    }
    assert vobiz.normalize(raw).status is expected


def test_vobiz_rejected_reason_and_live_call() -> None:
    assert vobiz.normalize({"uuid": "u", "hangup_cause_code": 3110}).reason == "rejected"
    live = {
        "call_status": "in-progress",
        "call_uuid": "u2",
        "direction": "outbound",
        "from": "+911",
        "to": "+912",
        "session_start": "2026-03-25 10:00:00.123456",
    }
    call = vobiz.normalize(live)
    assert call.status is Status.IN_PROGRESS and call.call_id == "u2" and call.from_ == "+911"
    assert call.started_at is not None and call.started_at.isoformat().startswith("2026-03-25T10:00:00")


def test_cloudagent_rows() -> None:
    row = {
        "UCID": "4021665738120001",
        "CallID": "98765",
        "CampaignName": "Renewals",
        "Type": "Progressive",
        "CallerID": "08012345678",
        "DialedNumber": "9876543210",
        "StartTime": "2026-11-20 10:00:00",
        "EndTime": "2026-11-20 10:02:05",
        "Duration": "00:02:05",
        "TalkTime": "00:01:50",
        "Status": "Answered",
        "DialStatus": "answered",
        "HangupBy": "UserHangup",
        "Disposition": "Interested",
        "CallAudio": "https://rec/1.wav",
    }
    rec = cloudagent.normalize(row, "ca").record()
    assert rec["call_id"] == "4021665738120001" and rec["campaign"] == "Renewals"
    assert rec["status"] == "completed" and rec["raw_status"] == "Answered"
    assert rec["started_at"] == "2026-11-20T04:30:00Z"  # IST is UTC+5:30
    assert rec["ended_at"] == "2026-11-20T04:32:05Z" and rec["answered_at"] == "2026-11-20T04:30:15Z"
    assert rec["duration_s"] == 125 and rec["billable_s"] == 110
    assert rec["recording_url"] == "https://rec/1.wav" and rec["direction"] == "outbound"


@pytest.mark.parametrize(
    ("status", "dial", "expected"),
    [
        ("Answered", "answered", Status.COMPLETED),
        ("NotAnswered", "NoAnswer", Status.NO_ANSWER),
        ("Unanswered", None, Status.NO_ANSWER),
        ("NotAnswered", "Busy", Status.BUSY),
        ("NotAnswered", "user_disconnected", Status.CANCELED),
        ("Fail", None, Status.FAILED),
        ("NotDialed", None, Status.FAILED),
        ("InvalidNumber", None, Status.FAILED),
        ("Pending", None, Status.QUEUED),
    ],
)
def test_cloudagent_status_mapping(status: str, dial: str | None, expected: Status) -> None:
    assert cloudagent.normalize({"UCID": "1", "Status": status, "DialStatus": dial}).status is expected


def test_cloudagent_subscribe_events() -> None:
    assert cloudagent.normalize({"ucid": "1", "action": "Calling"}).status is Status.RINGING
    assert cloudagent.normalize({"ucid": "1", "action": "Answered"}).status is Status.IN_PROGRESS
    assert cloudagent.normalize({"ucid": "1", "action": "Disconnect"}).status is Status.UNKNOWN


def test_escape_sequences_are_made_inert() -> None:
    evil = {
        "campaignId": "c\x1b]52;c;ZXZpbA==\x07",
        "rawStatus": "success\x1b[2J\x9b31m",
        "callDuration": 1,
        "sip_reason": "OK\r\x1b[1A\u202eevil",
        "status": "completed",
    }
    call = dialgood.normalize(evil)
    for value in (call.call_id, call.raw_status, call.reason):
        assert value is not None
        assert "\x1b" not in value and "\x9b" not in value and "\r" not in value and "\u202e" not in value
        assert "[2J" not in value and "52;" not in value
    assert call.payload()["rawStatus"] == evil["rawStatus"]  # the raw payload is kept verbatim


def test_the_store_keeps_a_payload_packed_and_gives_it_back_whole() -> None:
    from callmon.store import CallStore

    raw = seed("vobiz_cdr.json")["data"]
    store = CallStore()
    store.apply(vobiz.normalize(raw))
    (call,) = store.calls.values()
    assert isinstance(call.raw, bytes) and len(call.raw) < len(json.dumps(raw)) / 3
    assert call.payload() == raw
    assert call.record(include_raw=True)["raw"] == raw


def test_a_packed_payload_keeps_every_value_and_the_field_order() -> None:
    from callmon.packing import _SHAPES, EMPTY, pack
    from callmon.packing import unpack as payload

    raw = {"b": None, "a": [1, {"x": "é\u202e"}], "c": 1.5, "d": True}
    packed = pack(raw)
    assert list(payload(packed).items()) == list(raw.items())
    assert pack(packed) is packed and pack({}) == EMPTY and payload(EMPTY) == {}
    # Payloads of one shape share their field names: the packed bytes only say which shape.
    other = pack({"b": 2, "a": [], "c": 0, "d": False})
    assert packed[:2] == other[:2]
    assert _SHAPES.names(int.from_bytes(packed[:2], "big")) == ("b", "a", "c", "d")
    assert len(other) < 24 and b"false" in bytes(other)  # the values, small enough to be kept as they are
    # Keys JSON would turn into strings keep JSON's reading of them.
    assert payload(pack({1: "x", "y": 2})) == {"1": "x", "y": 2}  # type: ignore[dict-item]


def test_past_the_shape_limit_payloads_are_packed_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    from callmon.packing import _Shapes, pack
    from callmon.packing import unpack as payload

    monkeypatch.setattr("callmon.packing._SHAPES", _Shapes())
    monkeypatch.setattr(_Shapes, "LIMIT", 3)
    shapes = [{f"field_{i}": i, "common": "x"} for i in range(5)]
    packed = [pack(p) for p in shapes]
    assert [int.from_bytes(p[:2], "big") for p in packed] == [1, 2, 0, 0, 0]
    assert [payload(p) for p in packed] == shapes


def test_detail_pairs_are_shared_only_while_they_are_a_vocabulary() -> None:
    from callmon.pools import _Vocabulary

    words = _Vocabulary(limit=3)
    first = words.share("codec", ("codec", "PCMU"))
    assert words.share("codec", ("codec", "PCMU")) is first  # equal values: one object
    ids = [("id", f"conv_{i}") for i in range(5)]
    assert [words.share("id", pair) for pair in ids] == ids  # past the limit: kept as they are
    assert words._pools["id"] is None  # and no longer pooled
    late = ("id", "conv_0")
    assert words.share("id", late) is late


def test_a_packed_payload_holds_no_field_name_of_its_shape() -> None:
    from callmon.packing import pack, unpack

    long_names = {"hangup_cause_description_text": "x", "destination_number_as_dialled": "+91"}
    packed = pack(long_names)
    raw = bytes(packed)
    assert b"hangup_cause_description_text" not in raw and b"destination_number" not in raw
    assert unpack(packed) == long_names
