"""Dialgen: every status and error code, the envelopes of each shape, durations and times, the transcript
and details, and the adapter: batches, the live status with its fallback past 30 days, the detail's
persistent record."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from callmon.model import Call, Status
from callmon.providers import dialgen
from callmon.providers.errors import AuthError, BadResponse, NotFoundYet
from tests.unit.providers.scripted import make, pages

S = Status
# (status, error) -> status
STATUSES: list[tuple[str | None, str | None, Status]] = [
    ("SCHEDULED", None, S.QUEUED),
    ("QUEUED", None, S.QUEUED),
    ("ONGOING", None, S.IN_PROGRESS),
    ("COMPLETED", None, S.COMPLETED),
    ("MISSED", None, S.NO_ANSWER),
    ("MISSED", "NO_ANSWER", S.NO_ANSWER),
    ("MISSED", "BUSY", S.BUSY),
    ("MISSED", "busy", S.BUSY),
    ("FAILED", "BUSY", S.FAILED),  # only a missed call is busy
    ("FAILED", "INVALID_NUMBER", S.FAILED),
    ("FAILED", "NETWORK_ERROR", S.FAILED),
    ("FAILED", "INSUFFICIENT_CREDITS", S.FAILED),
    ("completed", None, S.COMPLETED),  # any case
    ("Missed", "Busy", S.BUSY),
    ("DIALING", None, S.UNKNOWN),
    (None, "BUSY", S.UNKNOWN),
]


def test_every_status_and_error() -> None:
    wrong = []
    for status, error, expected in STATUSES:
        call = dialgen.normalize({"callId": "c", "status": status, "error": error})
        if (call.status, call.raw_status, call.reason) != (expected, status, error):
            wrong.append((status, error, call.status, call.raw_status, call.reason))
    assert wrong == []


@pytest.mark.parametrize(
    "raw",
    [
        {"callId": "c", "status": "COMPLETED"},
        {"success": True, "data": {"id": "c", "status": "COMPLETED"}},
        {"success": True, "callData": {"id": "c", "status": "COMPLETED"}},
        {"callData": {"id": "c", "status": "COMPLETED"}, "data": {"id": "d", "status": "FAILED"}},
        {"callId": "c", "status": "COMPLETED", "data": "not an object", "callData": ["nor this"]},
    ],
)
def test_every_envelope(raw: dict[str, Any]) -> None:
    call = dialgen.normalize(raw, "dg")
    assert (call.call_id, call.status, call.source, call.provider) == ("c", S.COMPLETED, "dg", "dialgen")
    assert call.payload() == raw


@pytest.mark.parametrize(
    ("fields", "started", "ended", "duration"),
    [
        # Both times: DUR is the span between them, whatever `duration` counts.
        (
            {"startTime": "2025-10-01T09:00:00Z", "endTime": "2025-10-01T09:00:30Z", "duration": 0},
            "09:00:00",
            "09:00:30",
            30,
        ),
        (
            {"createdAt": "2025-10-01T09:00:00Z", "endedAt": "2025-10-01T09:01:01Z"},
            "09:00:00",
            "09:01:01",
            61,
        ),
        ({"startTime": "2025-10-01T09:00:05Z", "createdAt": "2025-10-01T09:00:00Z"}, "09:00:05", None, None),
        (
            {"startTime": "2025-10-01T09:00:30Z", "endTime": "2025-10-01T09:00:00Z", "duration": 7},
            "09:00:30",
            "09:00:00",
            None,
        ),
        # An ended call with a start and a duration ends that long after its start.
        (
            {"status": "COMPLETED", "startTime": "2025-10-01T09:00:00Z", "duration": 180},
            "09:00:00",
            "09:03:00",
            180,
        ),
        ({"status": "MISSED", "startTime": "2025-10-01T09:00:00Z", "duration": 0}, "09:00:00", "09:00:00", 0),
        # A live call has no end yet, whatever its duration so far.
        ({"status": "ONGOING", "startTime": "2025-10-01T09:00:00Z", "duration": 12}, "09:00:00", None, 12),
        ({"status": "COMPLETED", "startTime": "2025-10-01T09:00:00Z"}, "09:00:00", None, None),
        ({"status": "COMPLETED", "duration": 180}, None, None, 180),
        ({}, None, None, None),
    ],
)
def test_times_and_duration(
    fields: dict[str, Any], started: str | None, ended: str | None, duration: int | None
) -> None:
    rec = dialgen.normalize({"callId": "c", "status": "COMPLETED", **fields}).record()
    day = "2025-10-01T{}Z"
    assert rec["started_at"] == (day.format(started) if started else None)
    assert rec["ended_at"] == (day.format(ended) if ended else None)
    assert rec["duration_s"] == duration
    assert rec["updated_at"] == (day.format(ended or started) if ended or started else None)
    assert (rec["answered_at"], rec["billable_s"], rec["cost"], rec["currency"]) == (None, None, None, None)


def test_the_other_fields() -> None:
    rec = dialgen.normalize(
        {
            "callId": "call_1",
            "id": "other",
            "batchId": "batch_9",
            "direction": "outbound",
            "phoneNumber": "+15551234567",
            "recordingUrl": "https://r/1.mp3",
            "contact": {"phoneNumber": "+15550000000"},
        }
    ).record()
    assert (rec["call_id"], rec["campaign"], rec["direction"]) == ("call_1", "batch_9", "outbound")
    assert (rec["to"], rec["recording_url"], rec["from"]) == ("+15551234567", "https://r/1.mp3", None)
    contact_only = dialgen.normalize({"id": "c", "contact": {"phoneNumber": "+15550000000"}})
    assert (contact_only.call_id, contact_only.to) == ("c", "+15550000000")
    assert dialgen.normalize({"id": "c", "contact": "Ana"}).to is None
    assert dialgen.normalize({"status": "ONGOING"}).call_id == "?"


def test_transcript() -> None:
    call = dialgen.normalize(
        {
            "id": "c",
            "transcription": [
                {"role": "assistant", "content": "Hello"},
                {"content": "who?"},
                {"role": "user", "content": ""},
                {"role": "user"},
                "not a turn",
                {"role": "user", "content": "Hi"},
            ],
        }
    )
    assert [(t.role, t.text) for t in call.transcript] == [
        ("assistant", "Hello"),
        ("", "who?"),
        ("user", "Hi"),
    ]
    assert dialgen.normalize({"id": "c", "transcription": "Hello"}).transcript == ()


def test_details_in_order_and_only_those_present() -> None:
    full = dialgen.normalize(
        {
            "event": "call.completed",
            "callData": {
                "id": "c",
                "contactId": "contact_456",
                "contact": {"name": "Ana"},
                "agent": "Bot",
                "summary": "Asked for SMS",
            },
        }
    )
    assert full.details == (
        ("contact", "contact_456"),
        ("agent", "Bot"),
        ("summary", "Asked for SMS"),
        ("event", "call.completed"),  # on the envelope, not the call
    )
    assert dialgen.normalize({"id": "c", "contact": {"name": "Ana"}}).details == (("contact", "Ana"),)
    assert dialgen.normalize({"id": "c"}).details == ()


# -- the adapter ------------------------------------------------------------------------------------------


async def test_batches_fill_in_their_batch_id() -> None:
    asked: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer key"
        assert request.url.path == "/base/api/v1/status/batch"
        batch = request.url.params["batchId"]
        asked.append((request.method, batch))
        rows = [{"callId": f"{batch}-a", "status": "ONGOING"}, {"callId": f"{batch}-b", "batchId": "own"}]
        return httpx.Response(200, json={"batchId": batch, "calls": rows})

    kinds: list[str] = []

    async def gate(kind: str) -> None:
        kinds.append(kind)

    adapter = make("dialgen", handler, {"api_key": "key"}, batches=["b1", "b2"])
    adapter.gate = gate
    got = await pages(adapter)
    assert [[(c.call_id, c.campaign) for c in page] for page in got] == [
        [("b1-a", "b1"), ("b1-b", "own")],
        [("b2-a", "b2"), ("b2-b", "own")],
    ]
    assert asked == [("GET", "b1"), ("GET", "b2")] and kinds == ["batch", "batch"]
    assert adapter.has_list is True
    assert make("dialgen", handler, {"api_key": "k"}, call_ids=["x"]).has_list is False
    assert await pages(make("dialgen", handler, {"api_key": "k"}, call_ids=["x"])) == []


async def test_get_call_falls_back_past_the_live_cache() -> None:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        call_id = request.url.params["callId"]
        asked.append(f"{request.url.path.removeprefix('/base/api/v1/')} {call_id}")
        assert request.method == "GET"
        if request.url.path == "/base/api/v1/status/call":
            if call_id == "live":
                return httpx.Response(200, json={"callId": "live", "status": "ONGOING"})
            return httpx.Response(404, json={"error": "NOT_FOUND", "message": "Call not found"})
        if call_id == "gone":
            return httpx.Response(200, json={"success": False, "message": "No such call"})
        if call_id == "refused":  # what data an unsuccessful answer carries is not the call
            return httpx.Response(200, json={"success": False, "message": "Refused", "data": {"id": "refused"}})
        if call_id == "empty":
            return httpx.Response(200, json={"success": True, "data": None})
        return httpx.Response(200, json={"success": True, "data": {"id": call_id, "status": "COMPLETED"}})

    kinds: list[str] = []

    async def gate(kind: str) -> None:
        kinds.append(kind)

    adapter = make("dialgen", handler, {"api_key": "k"}, call_ids=["x"])
    adapter.gate = gate
    assert (await adapter.get_call("live")).status is S.IN_PROGRESS
    assert asked == ["status/call live"]
    assert (await adapter.get_call("old")).status is S.COMPLETED
    assert asked[1:] == ["status/call old", "call/check-status old"]
    with pytest.raises(NotFoundYet, match="No such call"):
        await adapter.get_call("gone")
    with pytest.raises(NotFoundYet, match="Refused"):
        await adapter.get_call("refused")
    with pytest.raises(NotFoundYet, match="call empty not found"):
        await adapter.get_call("empty")
    assert set(kinds) == {"call"}


async def test_the_detail_is_the_persistent_record_with_its_transcript() -> None:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        call_id = request.url.params["callId"]
        asked.append(request.url.path.rsplit("/", 1)[-1])
        if request.url.path.endswith("check-status"):
            if call_id == "new":
                return httpx.Response(404, json={"message": "not yet"})
            turns = [{"role": "user", "content": "Hi"}]
            return httpx.Response(
                200, json={"success": True, "data": {"id": call_id, "transcription": turns}}
            )
        return httpx.Response(200, json={"callId": call_id, "status": "ONGOING"})

    adapter = make("dialgen", handler, {"api_key": "k"}, call_ids=["x"])
    detail = await adapter.get_detail(Call("s", "dialgen", "old", S.COMPLETED))
    assert [t.text for t in detail.transcript] == ["Hi"] and asked == ["check-status"]
    asked.clear()
    detail = await adapter.get_detail(Call("s", "dialgen", "new", S.IN_PROGRESS))
    assert detail.status is S.IN_PROGRESS and asked == ["check-status", "call"]


async def test_the_key_is_needed() -> None:
    with pytest.raises(AuthError, match="no api_key"):
        await pages(make("dialgen", lambda r: httpx.Response(200, json={}), {}, batches=["b"]))


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"batch": ["x"]}, "batch status: expected a JSON object, got a list"),
        ({"batch": {"calls": {"callId": "a"}}}, "batch status calls: expected a list, got an object"),
    ],
)
async def test_batch_answers_of_the_wrong_shape(answers: dict[str, Any], message: str) -> None:
    adapter = make(
        "dialgen", lambda r: httpx.Response(200, json=answers["batch"]), {"api_key": "k"}, batches=["b"]
    )
    with pytest.raises(BadResponse) as info:
        await pages(adapter)
    assert info.value.message == message


async def test_single_answers_of_the_wrong_shape() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("status/call"):
            return httpx.Response(200, json=["x"])
        return httpx.Response(200, json="x")

    adapter = make("dialgen", handler, {"api_key": "k"}, call_ids=["c"])
    with pytest.raises(BadResponse) as info:
        await adapter.get_call("c")
    assert info.value.message == "call status: expected a JSON object, got a list"
    with pytest.raises(BadResponse) as info:
        await adapter.get_detail(Call("s", "dialgen", "c", S.COMPLETED))
    assert info.value.message == "check-status: expected a JSON object, got a string"


async def test_records_are_read_for_the_source_and_errors_name_the_provider() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("status/batch"):
            return httpx.Response(200, json={"calls": [{"callId": "a"}]})
        if request.url.path.endswith("status/call"):
            if request.url.params["callId"] == "gone":
                return httpx.Response(404, json={})
            return httpx.Response(200, json={"callId": "c", "status": "ONGOING"})
        return httpx.Response(200, json={"success": False})

    adapter = make("dialgen", handler, {"api_key": "k"}, batches=["b"])
    ((batch_call,),) = await pages(adapter)
    assert (batch_call.source, (await adapter.get_call("c")).source) == ("s", "s")
    with pytest.raises(NotFoundYet) as info:
        await adapter.get_call("gone")
    assert str(info.value) == "dialgen: not found: call gone not found"
