"""Dialgood: every normalized status and SIP refinement, CDR or live transcript, times from the two
durations, the transcript in both of its forms, and the adapter: the CDR, the live transcript while the CDR
404s, the detail's last transcript of an ended call."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from callmon.model import Call, Status
from callmon.providers import dialgood
from callmon.providers.errors import AuthError, BadResponse, NotFoundYet
from tests.unit.providers.scripted import make, pages

S = Status
# status -> normalized (Dialgood's own normalization, read again)
STATUSES = {
    "completed": S.COMPLETED,
    "success": S.COMPLETED,
    " Success ": S.COMPLETED,
    "no-answer": S.NO_ANSWER,
    "no answer": S.NO_ANSWER,
    "unanswered": S.NO_ANSWER,
    "NO-ANSWER": S.NO_ANSWER,
    "failed": S.FAILED,
    "busy": S.FAILED,  # anything else is failed until SIP says more
    "noanswer": S.FAILED,
    "": S.UNKNOWN,
    "  ": S.UNKNOWN,
}
# sip_status -> the status it gives a call that did not complete
SIP = {"486": S.BUSY, "600": S.BUSY, "487": S.CANCELED, "480": None, "503": None, "200": None, "4860": None}


def test_every_status() -> None:
    wrong = []
    for raw, expected in STATUSES.items():
        for payload in (
            {"status": raw, "callDuration": 1},
            {"rawStatus": raw},
            {"data": {"callStatus": raw}},
        ):
            status = dialgood.normalize({"campaignId": "c", **payload}).status
            if status is not expected:
                wrong.append((payload, status))
    assert wrong == []
    assert dialgood._map_status(None) is S.UNKNOWN


def test_status_is_read_before_raw_status() -> None:
    call = dialgood.normalize({"campaignId": "c", "status": "completed", "rawStatus": "weird"})
    assert (call.status, call.raw_status) == (S.COMPLETED, "weird")
    call = dialgood.normalize({"campaignId": "c", "rawStatus": "success", "data": {"callStatus": "failed"}})
    assert (call.status, call.raw_status) == (S.COMPLETED, "success")
    call = dialgood.normalize({"campaignId": "c", "sip_status": "200", "data": {"callStatus": "success"}})
    assert (call.status, call.raw_status) == (S.COMPLETED, "success")


def test_every_sip_refinement() -> None:
    wrong = []
    for sip, refined in SIP.items():
        for status in ("failed", "no-answer", "completed"):
            expected = dialgood._map_status(status)
            if refined is not None and expected is not S.COMPLETED:
                expected = refined
            got = dialgood.normalize({"campaignId": "c", "status": status, "sip_status": sip}).status
            if got is not expected:
                wrong.append((sip, status, got, expected))
    assert wrong == []
    # A number is read as its text.
    assert dialgood.normalize({"campaignId": "c", "status": "failed", "sip_status": 486}).status is S.BUSY


@pytest.mark.parametrize(
    ("sip_status", "sip_reason", "reason"),
    [
        ("486", "Busy Here", "SIP 486 Busy Here"),
        ("486", None, "SIP 486"),
        (None, "Busy Here", "Busy Here"),
        (None, None, None),
    ],
)
def test_reason_and_the_sip_detail(
    sip_status: str | None, sip_reason: str | None, reason: str | None
) -> None:
    call = dialgood.normalize(
        {
            "campaignId": "c",
            "callId": "conv",
            "status": "failed",
            "sip_status": sip_status,
            "sip_reason": sip_reason,
        }
    )
    assert call.reason == reason
    expected = [("conversation", "conv")] + ([("SIP", reason or "")] if sip_status else [])
    assert list(call.details) == expected


@pytest.mark.parametrize("key", ["callDuration", "rawStatus", "sip_status", "actualDuration"])
def test_any_cdr_field_makes_a_cdr(key: str) -> None:
    call = dialgood.normalize({"campaignId": "c", "status": "available", key: "1"})
    assert call.status is S.FAILED  # read as a CDR's status, not a live transcript's


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"status": "available"}, S.IN_PROGRESS),
        ({"status": "Available"}, S.IN_PROGRESS),
        ({"status": "pending"}, S.QUEUED),
        ({"status": "PENDING"}, S.QUEUED),
        ({"status": "finished"}, S.UNKNOWN),
        ({}, S.UNKNOWN),
        ({"status": "available", "data": {}}, S.IN_PROGRESS),  # an empty data object is no CDR
    ],
)
def test_live_transcript_states(payload: dict[str, Any], status: Status) -> None:
    call = dialgood.normalize(
        {
            "campaignId": "c",
            "direction": "outbound",
            "from": "+1",
            "to": "+2",
            "updatedAt": "2026-03-06T17:00:00Z",
            **payload,
        }
    )
    rec = call.record()
    assert (call.status, rec["raw_status"]) == (status, payload.get("status"))
    assert (rec["direction"], rec["from"], rec["to"]) == ("outbound", "+1", "+2")
    assert rec["updated_at"] == "2026-03-06T17:00:00Z"
    assert (rec["started_at"], rec["ended_at"], rec["duration_s"], rec["reason"]) == (None, None, None, None)
    timestamped = dialgood.normalize(
        {
            "campaignId": "c",
            "timestamp": "2026-03-06T17:00:01Z",
            "updatedAt": "2026-03-06T17:00:00Z",
            **payload,
        }
    )
    assert timestamped.record()["updated_at"] == "2026-03-06T17:00:01Z"


def test_ids() -> None:
    both = dialgood.normalize({"campaignId": "camp", "callId": "conv", "status": "pending"})
    assert (both.call_id, both.campaign, both.details) == ("camp", "camp", (("conversation", "conv"),))
    conv = dialgood.normalize({"conversationId": "conv", "rawStatus": "success"})
    assert (conv.call_id, conv.campaign, conv.details) == ("conv", None, (("conversation", "conv"),))
    assert dialgood.normalize({"rawStatus": "success"}).call_id == "?"
    assert dialgood.normalize({"status": "pending"}).details == ()
    call = dialgood.normalize({"campaignId": "c"}, "dg")
    assert (call.source, call.provider) == ("dg", "dialgood")


@pytest.mark.parametrize(
    ("fields", "started", "answered", "duration", "billable"),
    [
        ({"callDuration": 92, "actualDuration": 87}, "17:03:41", "17:03:46", 92, 87),
        ({"data": {"callDuration": 92, "actualDuration": 87}}, "17:03:41", "17:03:46", 92, 87),
        ({"callDuration": 30, "actualDuration": 0}, "17:04:43", None, 30, 0),  # never answered
        ({"callDuration": 30, "actualDuration": 0, "data": {"actualDuration": 9}}, "17:04:43", None, 30, 0),
        ({"callDuration": 0}, "17:05:13", None, 0, None),
        ({"callDuration": "", "data": {"callDuration": 4}}, "17:05:09", None, 4, None),
        ({"actualDuration": 5}, None, "17:05:08", None, 5),
        ({"callDuration": "01:32"}, "17:03:41", None, 92, None),
    ],
)
def test_start_and_answer_from_the_end_and_the_durations(
    fields: dict[str, Any],
    started: str | None,
    answered: str | None,
    duration: int | None,
    billable: int | None,
) -> None:
    rec = dialgood.normalize(
        {"campaignId": "c", "rawStatus": "success", "timestamp": "2026-03-06T17:05:13Z", **fields}
    ).record()
    day = "2026-03-06T{}Z"
    assert rec["started_at"] == (day.format(started) if started else None)
    assert rec["answered_at"] == (day.format(answered) if answered else None)
    assert (rec["duration_s"], rec["billable_s"]) == (duration, billable)
    assert rec["ended_at"] == rec["updated_at"] == "2026-03-06T17:05:13Z"
    without_end = dialgood.normalize({"campaignId": "c", "rawStatus": "success", **fields}).record()
    assert (without_end["started_at"], without_end["answered_at"], without_end["ended_at"]) == (
        None,
        None,
        None,
    )


def test_the_other_cdr_fields() -> None:
    rec = dialgood.normalize(
        {
            "campaignId": "c",
            "rawStatus": "success",
            "data": {"direction": "outbound"},
            "recordingUrl": "https://r/1",
        }
    ).record()
    assert (rec["direction"], rec["recording_url"], rec["cost"], rec["currency"]) == (
        "outbound",
        "https://r/1",
        None,
        None,
    )
    rec = dialgood.normalize(
        {
            "campaignId": "c",
            "rawStatus": "success",
            "direction": "inbound",
            "data": {"direction": "outbound"},
            "recording_url": "https://r/2",
        }
    ).record()
    assert (rec["direction"], rec["recording_url"]) == ("inbound", "https://r/2")
    rec = dialgood.normalize({"campaignId": "c", "rawStatus": "success", "from": "+1", "to": "+2"}).record()
    assert (rec["from"], rec["to"]) == ("+1", "+2")


def test_transcript_from_entries() -> None:
    raw = {
        "entries": [
            {"role": "agent", "text": "Hello"},
            "not an entry",
            {"speaker": "User", "content": "Hi"},
            {"from": "Agent", "message": "How are you?"},
            {"transcript": "fine"},
            {"role": "user", "text": ""},
            "not an entry",
        ],
        "transcript": "ignored when there are entries",
    }
    assert [(t.role, t.text) for t in dialgood.parse_transcript(raw)] == [
        ("agent", "Hello"),
        ("User", "Hi"),
        ("Agent", "How are you?"),
        ("", "fine"),
    ]


def test_transcript_from_text() -> None:
    raw = {
        "entries": [],
        "transcript": "Agent: Hello\n\n  \nUser:Hi\nno speaker here \nDr. Who-1: ok\n1abc: x\n",
    }
    assert [(t.role, t.text) for t in dialgood.parse_transcript(raw)] == [
        ("Agent", "Hello"),
        ("User", "Hi"),
        ("", "no speaker here"),
        ("Dr. Who-1", "ok"),
        ("", "1abc: x"),
    ]
    assert dialgood.parse_transcript({"transcript": ["Agent: x"]}) == ()
    assert dialgood.parse_transcript({}) == ()
    long_name = "A" * 32 + ": too long for a speaker"
    assert dialgood.parse_transcript({"transcript": long_name})[0].role == ""
    assert dialgood.parse_transcript({"transcript": "A" * 31 + ": ok"})[0].role == "A" * 31


def test_a_cdr_carries_its_transcript_too() -> None:
    call = dialgood.normalize({"campaignId": "c", "rawStatus": "success", "transcript": "Agent: bye"})
    assert [(t.role, t.text) for t in call.transcript] == [("Agent", "bye")]


# -- the adapter ------------------------------------------------------------------------------------------


def script(cdr: Any, live: Any, seen: list[str]) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["api_token"] == "tok" and "tok" not in str(request.url)
        assert request.method == "GET"
        path = request.url.raw_path.decode()
        seen.append(path)
        body = cdr if "/cdr/" in path else live
        if body is None:
            return httpx.Response(404, json={"error": "not found"})
        return httpx.Response(200, json=body)

    return handler


async def test_the_cdr_keyed_by_the_campaign_id() -> None:
    seen: list[str] = []
    adapter = make(
        "dialgood",
        script({"rawStatus": "success", "callId": "conv"}, None, seen),
        {"api_token": "tok"},
        campaigns=["camp/1", 2],
    )
    assert adapter.targets() == ["camp/1", "2"] and adapter.has_list is False
    assert await pages(adapter) == []
    call = await adapter.get_call("camp/1")
    assert (call.call_id, call.campaign, call.status) == ("camp/1", "camp/1", S.COMPLETED)
    assert seen == ["/base/external/v1/cdr/camp%2F1"]
    # The CDR's own campaign id is kept if it has one.
    adapter = make(
        "dialgood",
        script({"rawStatus": "success", "campaignId": "own"}, None, seen),
        {"api_token": "tok"},
        campaigns=["c"],
    )
    assert (await adapter.get_call("c")).call_id == "own"


async def test_the_live_transcript_while_the_cdr_is_not_written() -> None:
    seen: list[str] = []
    live = {"status": "available", "transcript": "Agent: hi"}
    adapter = make("dialgood", script(None, live, seen), {"api_token": "tok"}, campaigns=["c 1"])
    call = await adapter.get_call("c 1")
    assert (call.call_id, call.status, [t.text for t in call.transcript]) == ("c 1", S.IN_PROGRESS, ["hi"])
    assert seen == ["/base/external/v1/cdr/c%201", "/base/external/v1/live-transcript/c%201"]
    with pytest.raises(NotFoundYet):
        await make("dialgood", script(None, None, []), {"api_token": "tok"}, campaigns=["c"]).get_call("c")
    with pytest.raises(BadResponse) as info:
        await make("dialgood", script(None, ["x"], []), {"api_token": "tok"}, campaigns=["c"]).get_call("c")
    assert info.value.message == "live transcript: expected a JSON object, got a list"


async def test_the_detail_of_an_ended_call_has_its_last_transcript() -> None:
    seen: list[str] = []
    cdr = {"rawStatus": "success"}
    live = {"status": "available", "entries": [{"role": "agent", "text": "bye"}]}
    adapter = make("dialgood", script(cdr, live, seen), {"api_token": "tok"}, campaigns=["c"])
    detail = await adapter.get_detail(Call("s", "dialgood", "c", S.COMPLETED))
    assert (detail.status, [t.text for t in detail.transcript]) == (S.COMPLETED, ["bye"])
    assert seen == ["/base/external/v1/cdr/c", "/base/external/v1/live-transcript/c"]
    # No transcript kept: the CDR as it is.
    seen.clear()
    adapter = make("dialgood", script(cdr, None, seen), {"api_token": "tok"}, campaigns=["c"])
    detail = await adapter.get_detail(Call("s", "dialgood", "c", S.COMPLETED))
    assert (detail.status, detail.transcript) == (S.COMPLETED, ())
    # A CDR with its transcript, or a call still live, needs nothing more.
    for cdr_now, live_now in (
        ({"rawStatus": "success", "transcript": "Agent: x"}, None),
        (None, {"status": "pending"}),
    ):
        seen.clear()
        adapter = make("dialgood", script(cdr_now, live_now, seen), {"api_token": "tok"}, campaigns=["c"])
        await adapter.get_detail(Call("s", "dialgood", "c", S.COMPLETED))
        assert len(seen) == (1 if cdr_now else 2)


async def test_the_token_is_needed() -> None:
    with pytest.raises(AuthError, match="no api_token"):
        await make("dialgood", script(None, None, []), {}, campaigns=["c"]).get_call("c")


async def test_request_kinds_the_source_and_the_provider_in_errors() -> None:
    kinds: list[str] = []

    async def gate(kind: str) -> None:
        kinds.append(kind)

    seen: list[str] = []
    adapter = make(
        "dialgood",
        script({"rawStatus": "success"}, {"status": "available"}, seen),
        {"api_token": "tok"},
        campaigns=["c"],
    )
    adapter.gate = gate
    detail = await adapter.get_detail(Call("s", "dialgood", "c", S.COMPLETED))
    assert kinds == ["cdr", "transcript"]  # the CDR, then the last transcript
    assert detail.source == "s"
    adapter = make(
        "dialgood", script(None, {"status": "pending"}, seen), {"api_token": "tok"}, campaigns=["c"]
    )
    adapter.gate = gate
    kinds.clear()
    assert (await adapter.get_call("c")).source == "s"
    assert kinds == ["cdr", "transcript"]
    with pytest.raises(BadResponse) as info:
        await make("dialgood", script(["x"], None, seen), {"api_token": "tok"}, campaigns=["c"]).get_call("c")
    assert str(info.value) == "dialgood: bad response: CDR: expected a JSON object, got a list"


async def test_the_detail_asks_for_the_transcript_of_the_call_it_was_given() -> None:
    seen: list[str] = []
    adapter = make(
        "dialgood",
        script({"rawStatus": "success"}, {"status": "available", "transcript": "Agent: x"}, seen),
        {"api_token": "tok"},
        campaigns=["c/1"],
    )
    await adapter.get_detail(Call("s", "dialgood", "c/1", S.COMPLETED))
    assert seen == ["/base/external/v1/cdr/c%2F1", "/base/external/v1/live-transcript/c%2F1"]
    adapter = make(
        "dialgood", script({"rawStatus": "success"}, ["x"], []), {"api_token": "tok"}, campaigns=["c"]
    )
    with pytest.raises(BadResponse) as info:
        await adapter.get_detail(Call("s", "dialgood", "c", S.COMPLETED))
    assert info.value.message == "live transcript: expected a JSON object, got a list"
