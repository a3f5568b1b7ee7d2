"""Vobiz: every hangup-cause code range at both ends and one past each, every cause name and live state,
which field wins for each record field, and the adapter's requests, pages, live lookups and errors.

Codes are tested without a cause name (`map_hangup(code, None, ...)`): with one, the name's fallback would
hide a broken range."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from callmon.model import Call, Status
from callmon.providers import vobiz
from callmon.providers.base import Limits
from callmon.providers.errors import AuthError, BadRequest, BadResponse, NotFoundYet
from tests.unit.providers.scripted import body_of, ids, make, pages, reply

S = Status
# code -> (status when answered, when not answered, reason); each range's ends and the codes just past them.
CODES: dict[int, tuple[Status, Status, str | None]] = {
    0: (S.UNKNOWN, S.UNKNOWN, None),
    999: (S.UNKNOWN, S.UNKNOWN, None),
    1000: (S.CANCELED, S.CANCELED, None),
    1001: (S.UNKNOWN, S.UNKNOWN, None),
    1999: (S.UNKNOWN, S.UNKNOWN, None),
    2000: (S.FAILED, S.FAILED, None),
    2035: (S.FAILED, S.FAILED, None),
    2070: (S.FAILED, S.FAILED, None),
    2071: (S.UNKNOWN, S.UNKNOWN, None),
    2999: (S.UNKNOWN, S.UNKNOWN, None),
    3000: (S.NO_ANSWER, S.NO_ANSWER, None),
    3001: (S.UNKNOWN, S.UNKNOWN, None),
    3009: (S.UNKNOWN, S.UNKNOWN, None),
    3010: (S.BUSY, S.BUSY, None),
    3011: (S.UNKNOWN, S.UNKNOWN, None),
    3019: (S.UNKNOWN, S.UNKNOWN, None),
    3020: (S.FAILED, S.FAILED, "rejected"),
    3021: (S.UNKNOWN, S.UNKNOWN, None),
    3029: (S.UNKNOWN, S.UNKNOWN, None),
    3030: (S.FAILED, S.FAILED, None),
    3060: (S.FAILED, S.FAILED, None),
    3090: (S.FAILED, S.FAILED, None),
    3091: (S.UNKNOWN, S.UNKNOWN, None),
    3099: (S.UNKNOWN, S.UNKNOWN, None),
    3100: (S.BUSY, S.BUSY, None),
    3101: (S.UNKNOWN, S.UNKNOWN, None),
    3109: (S.UNKNOWN, S.UNKNOWN, None),
    3110: (S.FAILED, S.FAILED, "rejected"),
    3111: (S.UNKNOWN, S.UNKNOWN, None),
    3119: (S.UNKNOWN, S.UNKNOWN, None),
    3120: (S.FAILED, S.FAILED, None),
    3130: (S.FAILED, S.FAILED, None),
    3140: (S.FAILED, S.FAILED, None),
    3141: (S.UNKNOWN, S.UNKNOWN, None),
    3999: (S.UNKNOWN, S.UNKNOWN, None),
    4000: (S.COMPLETED, S.NO_ANSWER, None),
    4015: (S.COMPLETED, S.NO_ANSWER, None),
    4030: (S.COMPLETED, S.NO_ANSWER, None),
    4031: (S.UNKNOWN, S.UNKNOWN, None),
    4999: (S.UNKNOWN, S.UNKNOWN, None),
    5000: (S.FAILED, S.FAILED, None),
    5030: (S.FAILED, S.FAILED, None),
    5031: (S.UNKNOWN, S.UNKNOWN, None),
    5999: (S.UNKNOWN, S.UNKNOWN, None),
    6000: (S.COMPLETED, S.FAILED, None),
    6001: (S.UNKNOWN, S.UNKNOWN, None),
    6009: (S.UNKNOWN, S.UNKNOWN, None),
    6010: (S.NO_ANSWER, S.NO_ANSWER, None),
    6011: (S.UNKNOWN, S.UNKNOWN, None),
    6019: (S.UNKNOWN, S.UNKNOWN, None),
    6020: (S.COMPLETED, S.FAILED, None),
    6021: (S.UNKNOWN, S.UNKNOWN, None),
    6999: (S.UNKNOWN, S.UNKNOWN, None),
    7000: (S.FAILED, S.FAILED, None),
    7999: (S.FAILED, S.FAILED, None),
    8000: (S.FAILED, S.FAILED, None),
    8999: (S.FAILED, S.FAILED, None),
    9000: (S.CANCELED, S.CANCELED, None),
    9001: (S.UNKNOWN, S.UNKNOWN, None),
    -1: (S.UNKNOWN, S.UNKNOWN, None),
}
# Cause names, given without a code (a callback that only names its cause).
NAMES: dict[str, tuple[Status, Status]] = {
    "NO_ANSWER": (S.NO_ANSWER, S.NO_ANSWER),
    "NO_USER_RESPONSE": (S.NO_ANSWER, S.NO_ANSWER),
    "USER_BUSY": (S.BUSY, S.BUSY),
    "ORIGINATOR_CANCEL": (S.CANCELED, S.CANCELED),
    "CALL_REJECTED": (S.FAILED, S.FAILED),
    "NORMAL_CLEARING": (S.COMPLETED, S.NO_ANSWER),
    "normal_clearing": (S.COMPLETED, S.NO_ANSWER),  # names are read in any case
    "user_busy": (S.BUSY, S.BUSY),
    "SOMETHING_NEW": (S.UNKNOWN, S.UNKNOWN),
}
LIVE = {
    "queued": S.QUEUED,
    "ringing": S.RINGING,
    "early-media": S.RINGING,
    "in-progress": S.IN_PROGRESS,
    "completed": S.COMPLETED,
    "busy": S.BUSY,
    "no-answer": S.NO_ANSWER,
    "failed": S.FAILED,
    "canceled": S.CANCELED,
    "cancel": S.CANCELED,
    "timeout": S.NO_ANSWER,
    "In-Progress": S.IN_PROGRESS,  # any case
    "parked": S.UNKNOWN,
}


def test_every_code_range_at_both_ends_and_one_past_each() -> None:
    wrong = []
    for code, (if_answered, if_not, reason) in CODES.items():
        for answered, status in ((True, if_answered), (False, if_not)):
            got = vobiz.map_hangup(code, None, answered)
            if got != (status, reason):
                wrong.append((code, answered, got, (status, reason)))
    assert wrong == []


def test_every_cause_name_without_a_code() -> None:
    wrong = []
    for name, (if_answered, if_not) in NAMES.items():
        for answered, status in ((True, if_answered), (False, if_not)):
            got = vobiz.map_hangup(None, name, answered)
            if got != (status, None):
                wrong.append((name, answered, got, status))
    assert wrong == []
    assert vobiz.map_hangup(None, None, True) == (S.UNKNOWN, None)


def test_a_code_outside_every_range_falls_back_to_its_name() -> None:
    # Only the names that say the outcome by themselves: NORMAL_CLEARING says nothing without a code's range.
    assert vobiz.map_hangup(9999, "USER_BUSY", False) == (S.BUSY, None)
    assert vobiz.map_hangup(4031, "no_answer", True) == (S.NO_ANSWER, None)
    assert vobiz.map_hangup(9999, "NORMAL_CLEARING", True) == (S.UNKNOWN, None)
    assert vobiz.map_hangup(9999, None, True) == (S.UNKNOWN, None)
    # A code in a range wins over the name.
    assert vobiz.map_hangup(3000, "USER_BUSY", False) == (S.NO_ANSWER, None)
    assert vobiz.map_hangup(0, "USER_BUSY", False) == (S.UNKNOWN, None)


def normalize(**fields: Any) -> Call:
    return vobiz.normalize({"uuid": "u-1", **fields}, "vz")


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"answer_time": "2026-03-25T10:00:01Z"}, S.COMPLETED),
        ({"AnswerTime": "2026-03-25 10:00:01"}, S.COMPLETED),
        ({"answered_at": "2026-03-25T10:00:01Z"}, S.COMPLETED),
        ({"billsec": 3}, S.COMPLETED),
        ({"BillDuration": "3"}, S.COMPLETED),
        ({"bill_duration": 3}, S.COMPLETED),
        ({"answer_time": None, "billsec": 0}, S.NO_ANSWER),
        ({"AnswerTime": "", "BillDuration": "0"}, S.NO_ANSWER),
        ({}, S.NO_ANSWER),
    ],
)
def test_answered_is_an_answer_time_or_billed_seconds(fields: dict[str, Any], status: Status) -> None:
    assert normalize(hangup_cause_code=4000, **fields).status is status
    assert normalize(hangup_cause_code=6000, **fields).status is (
        S.COMPLETED if status is S.COMPLETED else S.FAILED
    )


def test_every_live_state() -> None:
    wrong = []
    for state, status in LIVE.items():
        for key in ("call_status", "CallStatus"):
            call = normalize(**{key: state})
            if (call.status, call.raw_status, call.reason) != (status, state, None):
                wrong.append((key, state, call.status, call.raw_status, call.reason))
    assert wrong == []
    assert normalize().status is S.UNKNOWN and normalize().raw_status is None


def test_a_cause_that_says_nothing_leaves_the_live_status_to_decide() -> None:
    assert normalize(hangup_cause_code=9999, call_status="completed").status is S.COMPLETED
    assert normalize(hangup_cause_code=0, CallStatus="busy").status is S.BUSY
    assert normalize(hangup_cause="WHATEVER", call_status="No-Answer").status is S.NO_ANSWER
    assert normalize(hangup_cause_code=0, call_status="parked").status is S.UNKNOWN
    assert normalize(hangup_cause_code=0).status is S.UNKNOWN
    # A cause that does say the outcome is not overridden by the live status.
    assert normalize(hangup_cause_code=3010, call_status="completed").status is S.BUSY
    # The raw status is the cause's: the live state is shown only when there is no cause.
    assert normalize(hangup_cause_code=9999, call_status="completed").raw_status == "9999"


@pytest.mark.parametrize(
    ("fields", "status", "raw_status"),
    [
        ({"hangup_cause_code": 3010}, S.BUSY, "3010"),
        ({"HangupCauseCode": "3010"}, S.BUSY, "3010"),
        ({"hangup_cause": "USER_BUSY"}, S.BUSY, "USER_BUSY"),
        ({"HangupCause": "USER_BUSY"}, S.BUSY, "USER_BUSY"),
        ({"hangup_cause_code": 3000, "hangup_cause": "NO_ANSWER"}, S.NO_ANSWER, "NO_ANSWER"),
        ({"hangup_cause_code": 0, "hangup_cause": None}, S.UNKNOWN, "0"),
        ({"hangup_cause_code": "", "HangupCauseCode": 3000}, S.NO_ANSWER, "3000"),
    ],
)
def test_cause_fields_and_raw_status(fields: dict[str, Any], status: Status, raw_status: str) -> None:
    call = normalize(**fields)
    assert (call.status, call.raw_status) == (status, raw_status)


def test_reason_is_the_providers_words_first() -> None:
    everything = {
        "hangup_cause_code": 3020,
        "hangup_cause": "CALL_REJECTED",
        "hangup_cause_name": "Call Rejected",
        "failure_reason": "Rejected by carrier",
    }
    assert normalize(**everything).reason == "Rejected by carrier"
    assert normalize(**{**everything, "failure_reason": None}).reason == "Call Rejected"
    assert normalize(hangup_cause_code=3020, hangup_cause="CALL_REJECTED").reason == "rejected"
    assert normalize(hangup_cause_code=3000, hangup_cause="NO_ANSWER").reason == "NO_ANSWER"
    assert normalize(hangup_cause_code=3000).reason is None
    assert normalize(failure_reason="Out of credit").reason == "Out of credit"
    assert normalize(hangup_cause_name="Normal Hangup").reason == "Normal Hangup"


@pytest.mark.parametrize(
    ("key", "value", "field", "expected"),
    [
        ("uuid", "a", "call_id", "a"),
        ("call_uuid", "a", "call_id", "a"),
        ("CallUUID", "a", "call_id", "a"),
        ("request_uuid", "a", "call_id", "a"),
        ("campaign_id", "camp", "campaign", "camp"),
        ("call_direction", "outbound", "direction", "outbound"),
        ("direction", "inbound", "direction", "inbound"),
        ("Direction", "outbound", "direction", "outbound"),
        ("caller_id_number", "+911", "from_", "+911"),
        ("from", "+911", "from_", "+911"),
        ("From", "+911", "from_", "+911"),
        ("destination_number", "+912", "to", "+912"),
        ("to", "+912", "to", "+912"),
        ("To", "+912", "to", "+912"),
        ("duration", 47, "duration_s", 47),
        ("Duration", "47", "duration_s", 47),
        ("billsec", 42, "billable_s", 42),
        ("BillDuration", "42", "billable_s", 42),
        ("bill_duration", 42, "billable_s", 42),
        ("total_cost", 0.45, "cost", 0.45),
        ("cost", "0.45", "cost", 0.45),
        ("TotalCost", "0.45", "cost", 0.45),
        ("currency", "INR", "currency", "INR"),
        ("recording_url", "https://r/1", "recording_url", "https://r/1"),
        ("RecordUrl", "https://r/1", "recording_url", "https://r/1"),
    ],
)
def test_every_spelling_of_every_field(key: str, value: Any, field: str, expected: Any) -> None:
    raw = {key: value} if field == "call_id" else {"uuid": "u", key: value}
    assert getattr(vobiz.normalize(raw), field) == expected
    assert vobiz.normalize({"data": raw}).record()[field.rstrip("_")] == expected  # in a CDR's envelope too


@pytest.mark.parametrize(
    ("key", "field"),
    [
        ("start_time", "started_at"),
        ("session_start", "started_at"),
        ("StartTime", "started_at"),
        ("answer_time", "answered_at"),
        ("AnswerTime", "answered_at"),
        ("answered_at", "answered_at"),
        ("end_time", "ended_at"),
        ("EndTime", "ended_at"),
        ("updated_at", "updated_at"),
    ],
)
def test_every_spelling_of_every_time(key: str, field: str) -> None:
    call = vobiz.normalize({"uuid": "u", key: "2026-03-25 10:00:05"})
    assert call.record()[field] == "2026-03-25T10:00:05Z"  # naive times are UTC


def test_the_first_spelling_present_wins() -> None:
    call = vobiz.normalize(
        {
            "uuid": "a",
            "call_uuid": "b",
            "total_cost": 0.5,
            "cost": 0.4,
            "start_time": "2026-03-25T10:00:00Z",
            "session_start": "2026-03-25T09:00:00Z",
            "duration": 10,
            "Duration": 20,
        }
    )
    assert (call.call_id, call.cost, call.duration_s) == ("a", 0.5, 10)
    assert call.record()["started_at"] == "2026-03-25T10:00:00Z"
    assert vobiz.normalize({"uuid": "", "call_uuid": "b"}).call_id == "b"  # an empty value is not a value


def test_updated_at_is_the_end_when_the_record_has_no_update_time() -> None:
    call = normalize(end_time="2026-03-25T10:00:42Z")
    assert call.record()["updated_at"] == "2026-03-25T10:00:42Z"
    call = normalize(end_time="2026-03-25T10:00:42Z", updated_at="2026-03-25T10:00:45Z")
    assert call.record()["updated_at"] == "2026-03-25T10:00:45Z"
    assert normalize().updated_at is None


def test_a_record_without_an_id_and_envelopes() -> None:
    assert vobiz.normalize({"call_status": "ringing"}).call_id == "?"  # read() turns it into a BadRecord
    # The CDR's `data` envelope is opened only when it is an object.
    assert vobiz.normalize({"data": {"uuid": "in"}, "uuid": "out"}).call_id == "in"
    assert vobiz.normalize({"data": ["x"], "uuid": "out"}).call_id == "out"
    call = vobiz.normalize({"uuid": "u"})
    assert (call.source, call.provider, call.payload()) == ("vobiz", "vobiz", {"uuid": "u"})


def test_details_say_only_what_the_record_has() -> None:
    assert normalize().details == ()
    assert normalize(hangup_cause_code=3000).details == (("hangup cause", "3000"),)
    assert normalize(hangup_cause="NO_ANSWER").details == (("hangup cause", "NO_ANSWER"),)
    assert normalize(hangup_cause_code=0, hangup_cause="X").details == (("hangup cause", "X"),)
    assert normalize(HangupSource="Callee").details == (("hangup source", "Callee"),)
    full = normalize(
        hangup_source="Caller",
        mos=4.5,
        jitter=1,
        packet_loss=0.5,
        ring_time=5,
        codec="PCMU",
        region="ap-south-1",
    )
    assert full.details == (
        ("hangup source", "Caller"),
        ("MOS", "4.5"),
        ("jitter", "1"),
        ("packet loss", "0.5"),
        ("ring time", "5"),
        ("codec", "PCMU"),
        ("region", "ap-south-1"),
    )


# -- the adapter ------------------------------------------------------------------------------------------


def raw_path(request: httpx.Request) -> str:
    """The path as sent, %-escapes and all."""
    return request.url.raw_path.decode().split("?")[0]


def cdr_page(rows: list[dict[str, Any]], has_next: bool) -> dict[str, Any]:
    return {"data": rows, "success": True, "pagination": {"has_next": has_next}}


async def test_live_and_queued_lists_then_the_days_cdrs() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.method == "GET"
        assert request.headers["x-auth-id"] == "MA 1" and request.headers["x-auth-token"] == "tok"
        path, params = raw_path(request), request.url.params
        seen.append(f"{path}?{params.get('status') or params.get('page')}")
        if path == "/base/Account/MA%201/Call/":
            listed = {"queued": ["q-1", "", "x" * 129, 7, True, None], "live": ["l-1"]}[params["status"]]
            return httpx.Response(200, json={"api_id": "a", "calls": listed})
        if path.startswith("/base/Account/MA%201/Call/"):
            uuid = path.split("/")[-2]
            return httpx.Response(200, json={"call_uuid": uuid, "call_status": "whatever"})
        assert path == "/base/Account/MA%201/cdr"
        assert (params["start_date"], params["end_date"], params["per_page"]) == (
            "2026-03-25",
            "2026-03-25",
            "100",
        )
        return httpx.Response(
            200, json=cdr_page([{"uuid": "c-1", "hangup_cause_code": 4000, "billsec": 3}], False)
        )

    adapter = make("vobiz", handler, {"auth_token": "tok"}, auth_id="MA 1", date="2026-03-25")
    got = await pages(adapter)
    # Ids that are not short strings or numbers are dropped; an unknown live state is what the list says.
    assert [[(c.call_id, c.status) for c in page] for page in got] == [
        [("q-1", S.QUEUED), ("7", S.QUEUED)],
        [("l-1", S.IN_PROGRESS)],
        [("c-1", S.COMPLETED)],
    ]
    assert seen == [
        "/base/Account/MA%201/Call/?queued",
        "/base/Account/MA%201/Call/q-1/?queued",
        "/base/Account/MA%201/Call/7/?queued",
        "/base/Account/MA%201/Call/?live",
        "/base/Account/MA%201/Call/l-1/?live",
        "/base/Account/MA%201/cdr?1",
    ]


async def test_a_partial_scan_reads_only_the_live_lists() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return httpx.Response(200, json={"calls": []})

    adapter = make("vobiz", handler, {"auth_token": "t"}, auth_id="MA")
    assert await pages(adapter, full=False) == []  # empty lists yield no page
    assert paths == ["/base/Account/MA/Call/", "/base/Account/MA/Call/"]
    paths.clear()
    adapter = make("vobiz", handler, {"auth_token": "t"}, auth_id="MA", live=False, date="2026-03-25")
    assert await pages(adapter, full=False) == [[]]  # without live lists, a partial scan is a full one
    assert paths == ["/base/Account/MA/cdr"]


async def test_calls_known_to_be_settled_are_not_looked_up_again() -> None:
    looked_up: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/base/Account/MA/Call/":
            return httpx.Response(200, json={"calls": ["a", "b"]})
        looked_up.append(f"{path.split('/')[-2]} {request.url.params['status']}")
        return httpx.Response(200, json={"call_uuid": path.split("/")[-2], "call_status": "ringing"})

    known = {
        "a": Call("s", "vobiz", "a", S.IN_PROGRESS),  # settled on the live list, not on the queued one
        "b": Call("s", "vobiz", "b", S.QUEUED),  # settled on the queued list, not on the live one
    }
    adapter = make("vobiz", handler, {"auth_token": "t"}, auth_id="MA", known=known)
    got = await pages(adapter, full=False)
    assert looked_up == ["a queued", "b live"]
    assert [[(c.call_id, c.status) for c in page] for page in got] == [
        [("a", S.RINGING), ("b", S.QUEUED)],
        [("a", S.IN_PROGRESS), ("b", S.RINGING)],
    ]
    assert got[0][1] is known["b"] and got[1][0] is known["a"]


async def test_live_lookups_stop_at_max_pages_and_skip_calls_gone_meanwhile() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/base/Account/MA/Call/":
            listed = ["a", "gone", "b", "c"] if request.url.params["status"] == "live" else []
            return httpx.Response(200, json={"calls": listed})
        uuid = path.split("/")[-2]
        if uuid == "gone":
            return httpx.Response(404, json={"error": {"message": "not live"}})
        return httpx.Response(200, json={"call_uuid": uuid, "call_status": "in-progress"})

    adapter = make("vobiz", handler, {"auth_token": "t"}, auth_id="MA", limits=Limits(max_pages=3))
    got = await pages(adapter, full=False)
    assert [ids(page) for page in got] == [["a", "b"]]
    assert adapter.cut_short == "4 live calls listed: looked up 3 (max_pages)"


async def test_cdr_pages_until_has_next_is_false() -> None:
    asked: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        asked.append(page)
        return httpx.Response(200, json=cdr_page([{"uuid": f"p{page}"}], page < 3))

    adapter = make("vobiz", handler, {"auth_token": "t"}, auth_id="MA", live=False, date="2026-03-25")
    assert [ids(p) for p in await pages(adapter)] == [["p1"], ["p2"], ["p3"]]
    assert asked == [1, 2, 3] and adapter.cut_short is None


@pytest.mark.parametrize(
    "body",
    [
        cdr_page([], True),  # an empty page ends the scan, whatever has_next says
        {"data": [{"uuid": "p"}], "pagination": {"has_next": "true"}},  # only true is true
        {"data": [{"uuid": "p"}], "pagination": None},
        {"data": [{"uuid": "p"}]},
    ],
)
async def test_cdr_pages_stop_on_anything_but_has_next_true(body: dict[str, Any]) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, json=body)

    adapter = make("vobiz", handler, {"auth_token": "t"}, auth_id="MA", live=False, date="2026-03-25")
    await pages(adapter)
    assert calls == 1


async def test_a_page_that_comes_back_stops_the_scan() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=cdr_page([{"uuid": "same"}], True))

    adapter = make("vobiz", handler, {"auth_token": "t"}, auth_id="MA", live=False, date="2026-03-25")
    assert [ids(p) for p in await pages(adapter)] == [["same"], ["same"]]
    assert adapter.cut_short == "the provider sent page 2 again: scan stopped there"


async def test_get_call_asks_live_then_the_cdr_then_queued() -> None:
    asked: list[str] = []

    def answering(found: str) -> Any:
        def handler(request: httpx.Request) -> httpx.Response:
            where = "cdr" if "/cdr/" in request.url.path else request.url.params["status"]
            asked.append(where)
            assert request.method == "GET"
            assert raw_path(request).split("/")[-1 if where == "cdr" else -2] == "u%2F1"  # quoted whole
            if where != found:
                return httpx.Response(404, json={"error": {"message": "no", "code": "NOT_FOUND"}})
            if where == "cdr":
                return httpx.Response(200, json={"data": {"uuid": "u/1", "hangup_cause_code": 3010}})
            return httpx.Response(200, json={"call_uuid": "u/1", "call_status": "?"})

        return handler

    expected = {"live": S.IN_PROGRESS, "cdr": S.BUSY, "queued": S.QUEUED}
    for found, status in expected.items():
        asked.clear()
        call = await make("vobiz", answering(found), {"auth_token": "t"}, auth_id="MA").get_call("u/1")
        assert (call.call_id, call.status, call.source) == ("u/1", status, "s")
        assert asked == ["live", "cdr", "queued"][: list(expected).index(found) + 1]
    asked.clear()
    with pytest.raises(NotFoundYet) as info:
        await make("vobiz", answering("nowhere"), {"auth_token": "t"}, auth_id="MA").get_call("u/1")
    assert str(info.value) == "vobiz: not found: call u/1 is not live, queued or in the CDRs yet"
    assert asked == ["live", "cdr", "queued"]


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"queued": ["x"]}, "queued calls: expected a JSON object, got a list"),
        ({"live": "x"}, "live calls: expected a JSON object, got a string"),
        ({"lookup": ["x"]}, "live call: expected a JSON object, got a list"),
        ({"cdr": ["x"]}, "CDR list: expected a JSON object, got a list"),
        ({"cdr": {"data": {"uuid": "u"}}}, "CDR data: expected a list, got an object"),
    ],
)
async def test_every_answer_that_is_not_what_it_should_be(answers: dict[str, Any], message: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/Call/"):
            state = request.url.params["status"]
            return httpx.Response(200, json=answers.get(state, {"calls": ["u"] if state == "live" else []}))
        if "/Call/" in path:
            return httpx.Response(
                200, json=answers.get("lookup", {"call_uuid": "u", "call_status": "ringing"})
            )
        return httpx.Response(200, json=answers.get("cdr", cdr_page([], False)))

    with pytest.raises(BadResponse) as info:
        await pages(make("vobiz", handler, {"auth_token": "t"}, auth_id="MA", date="2026-03-25"))
    assert info.value.message == message


@pytest.mark.parametrize("listed", ["abc", {"a": 1}, None, 5])
async def test_a_live_list_that_is_not_a_list_lists_nothing(listed: Any) -> None:
    lookups: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/Call/"):
            return httpx.Response(200, json={"calls": listed})
        lookups.append(request.url.path)
        return httpx.Response(200, json={"call_uuid": "u", "call_status": "ringing"})

    assert await pages(make("vobiz", handler, {"auth_token": "t"}, auth_id="MA"), full=False) == []
    assert lookups == []


async def test_a_cdr_that_is_not_an_object_is_a_bad_response() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "/cdr/" in request.url.path:
            return httpx.Response(200, json=["x"])
        return httpx.Response(404, json={})

    with pytest.raises(BadResponse, match="CDR: expected a JSON object"):
        await make("vobiz", handler, {"auth_token": "t"}, auth_id="MA").get_call("u")


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            {"code": "BAD_DATE", "message": "start_date is invalid", "details": None},
            "start_date is invalid (BAD_DATE)",
        ),
        ({"message": "start_date is invalid"}, "start_date is invalid"),
        ({"code": "BAD_DATE"}, "BAD_DATE"),
        ({"code": None, "message": ""}, "Bad Request"),  # nothing said: the HTTP reason
        ("plain words", "plain words"),
    ],
)
async def test_error_bodies(error: Any, message: str) -> None:
    body = {"status": "error", "error": error, "timestamp": "t", "requestId": "r"}
    adapter = make("vobiz", reply(body, 400), {"auth_token": "t"}, auth_id="MA", live=False)
    with pytest.raises(BadRequest) as info:
        await pages(adapter)
    assert info.value.message == message


async def test_auth_headers_need_the_token() -> None:
    adapter = make("vobiz", reply({}), {}, auth_id="MA", live=False)
    with pytest.raises(AuthError, match="no auth_token for source 's'"):
        await pages(adapter)


def test_is_id() -> None:
    assert [vobiz._is_id(v) for v in ("a", "x" * 128, "", "x" * 129, 5, True, None, 1.5, ["a"])] == [
        True,
        True,
        False,
        False,
        True,
        False,
        False,
        False,
        False,
    ]


async def test_the_request_body_is_empty() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert body_of(request) is None
        return httpx.Response(200, json=cdr_page([], False))

    await pages(make("vobiz", handler, {"auth_token": "t"}, auth_id="MA", live=False))
