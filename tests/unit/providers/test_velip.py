"""Velip: every `cd_status` and its reason, the states of a record without one, AMD and DTMF, local times
past midnight, numbers as E.164, and the adapter: in-body error codes on HTTP 200 (the path that keeps the
IP off Velip's blacklist), cursor pages, scopes and single lookups."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import httpx
import pytest

from callmon.model import Call, Status
from callmon.providers import velip
from callmon.providers.base import Limits
from callmon.providers.errors import AuthError, BadRequest, BadResponse, NotFoundYet, RateLimited, ServerError
from tests.unit.providers.scripted import body_of, ids, make, pages, reply

S = Status
DAY = "2026-05-06"
# cd_status -> (status, reason)
STATUSES: dict[str, tuple[Status, str | None]] = {
    "OK": (S.COMPLETED, None),
    "NOANSWER": (S.NO_ANSWER, None),
    "BUSY": (S.BUSY, None),
    "CANCEL": (S.CANCELED, "canceled"),
    "CONGESTION": (S.FAILED, "network congestion"),
    "CHANUNAVAIL": (S.FAILED, "channel unavailable"),
    "congestion": (S.FAILED, "network congestion"),  # any case
    "Busy": (S.BUSY, None),
    "ANSWERED_SOMEHOW": (S.UNKNOWN, None),
}


def normalize(**fields: Any) -> Call:
    return velip.normalize({"cd_id": "42_1", "date": DAY, **fields}, "vl")


def test_every_cd_status_and_its_reason() -> None:
    wrong = []
    for raw, expected in STATUSES.items():
        call = normalize(cd_status=raw, time_dial="10:00:00", time_end="10:00:09")
        if (call.status, call.reason, call.raw_status) != (*expected, raw):
            wrong.append((raw, call.status, call.reason, call.raw_status))
    assert wrong == []


@pytest.mark.parametrize(
    ("times", "status"),
    [
        ({}, S.QUEUED),
        ({"time_dial": "", "time_start": "", "time_end": ""}, S.QUEUED),
        ({"time_dial": "10:00:00"}, S.RINGING),
        ({"time_dial": "10:00:00", "time_start": "10:00:05"}, S.IN_PROGRESS),
        ({"time_start": "10:00:05"}, S.IN_PROGRESS),
        # Ended without an outcome: not a guessed one.
        ({"time_dial": "10:00:00", "time_start": "10:00:05", "time_end": "10:00:30"}, S.UNKNOWN),
        ({"time_end": "10:00:30"}, S.UNKNOWN),
    ],
)
def test_a_record_without_a_status_is_told_by_its_times(times: dict[str, str], status: Status) -> None:
    call = normalize(cd_status="", **times)
    assert (call.status, call.raw_status, call.reason) == (status, None, None)


def test_a_date_is_needed_to_read_a_time() -> None:
    call = velip.normalize({"cd_id": "1", "cd_status": "", "time_dial": "10:00:00"})
    assert (call.status, call.started_at) == (S.QUEUED, None)


@pytest.mark.parametrize(
    ("amd", "status", "answered_by", "reason"),
    [
        ("MA", "OK", "machine", "answered by machine"),
        ("ma", "OK", "machine", "answered by machine"),
        ("HM", "OK", "human", None),
        ("ND", "OK", "not detected", None),
        ("XY", "OK", "XY", None),  # a value Velip has not documented is shown as it came
        ("MA", "CANCEL", "machine", "canceled"),  # only a completed call was answered by the machine
        ("MA", "BUSY", "machine", None),
        (None, "OK", None, None),
        ("", "OK", None, None),
    ],
)
def test_answering_machine_detection(
    amd: str | None, status: str, answered_by: str | None, reason: str | None
) -> None:
    call = normalize(cd_status=status, cd_amdasw=amd)
    assert dict(call.details).get("answered by") == answered_by
    assert call.reason == reason


def test_dtmf_answers_in_their_order() -> None:
    call = normalize(
        resp_10="ten",
        resp_2="two",
        resp_1="one",
        resp_3="",
        resp_4=None,
        resp_999999="last",
        resp_1000000="7 digits",
        resp_0000001="7 digits, zeros first",  # an index is 6 digits at most, whatever their value
        resp_x="x",
        resp_="none",
        **{"resp_\uff11": "fullwidth", "resp_²": "sup"},
        response="no",
    )
    assert dict(call.details)["DTMF"] == "resp_1=one resp_2=two resp_10=ten resp_999999=last"
    assert "DTMF" not in dict(normalize(route="Mobile BR").details)
    assert dict(normalize(resp_1=0).details)["DTMF"] == "resp_1=0"  # 0 is an answer


def test_resp_index() -> None:
    assert [velip._resp_index(k) for k in ("resp_1", "resp_10", "resp_000007", "resp_999999")] == [
        1,
        10,
        7,
        999999,
    ]
    for key in ("resp_", "resp_1000000", "resp_x", "resp_\uff11", "resp_²", "cd_id", "rep_1", "RESP_1"):
        assert velip._resp_index(key) == 10**6, key


def test_details_in_order_and_only_those_present() -> None:
    call = normalize(
        cd_amdasw="HM",
        resp_1="1",
        route="Mobile BR",
        rate="0,050",
        ctid="row-42",
        origin="api",
        dest="5511999999999",
    )
    assert call.details == (
        ("answered by", "human"),
        ("DTMF", "resp_1=1"),
        ("route", "Mobile BR"),
        ("rate", "0,050"),
        ("ctid", "row-42"),
        ("origin", "api"),
        ("dest as sent", "5511999999999"),
    )
    assert normalize().details == ()
    assert normalize(dest="+5511999999999").details == ()  # already E.164: nothing to add


@pytest.mark.parametrize(
    ("dest", "to"),
    [
        ("5511999999999", "+5511999999999"),  # 13 digits with the country code
        ("551133334444", "+551133334444"),  # 12
        ("11999999999", "+5511999999999"),  # 11 without it
        ("1133334444", "+551133334444"),  # 10
        ("01133334444", "01133334444"),  # a trunk prefix: not a number we can place
        ("0113333444", "0113333444"),
        ("55119999999999", "55119999999999"),  # 14
        ("5411999999999", "5411999999999"),  # 13, not Brazil's code
        ("113333444", "113333444"),  # 9
        ("xxxxx877", "xxxxx877"),  # masked
        ("+5511999999999", "+5511999999999"),
        ("١١٩٩٩٩٩٩٩٩٩", "١١٩٩٩٩٩٩٩٩٩"),  # digits, but not ASCII ones
        (None, None),
    ],
)
def test_numbers_as_e164(dest: str | None, to: str | None) -> None:
    call = normalize(dest=dest)
    assert call.to == to
    assert dict(call.details).get("dest as sent") == (dest if to != dest else None)


def test_times_are_local_and_past_midnight_roll_over() -> None:
    call = normalize(cd_status="OK", time_dial="23:59:50", time_start="00:00:05", time_end="00:01:00")
    rec = call.record()
    # São Paulo is UTC-3.
    assert rec["started_at"] == "2026-05-07T02:59:50Z"
    assert rec["answered_at"] == "2026-05-07T03:00:05Z"
    assert rec["ended_at"] == "2026-05-07T03:01:00Z"
    assert (rec["duration_s"], rec["updated_at"]) == (70, "2026-05-07T03:01:00Z")
    # Unanswered: the end is past midnight from the dial.
    rec = normalize(cd_status="NOANSWER", time_dial="23:59:50", time_end="00:00:20").record()
    assert (rec["ended_at"], rec["duration_s"]) == ("2026-05-07T03:00:20Z", 30)
    # An end before the answer is past midnight, even when it is after the dial.
    rec = normalize(cd_status="OK", time_dial="10:00:00", time_start="10:00:20", time_end="10:00:10").record()
    assert rec["ended_at"] == "2026-05-07T13:00:10Z"
    # The same second is not a day later.
    rec = normalize(cd_status="OK", time_dial="10:00:00", time_start="10:00:00", time_end="10:00:00").record()
    assert rec["started_at"] == rec["answered_at"] == rec["ended_at"] == "2026-05-06T13:00:00Z"
    assert rec["duration_s"] == 0


def test_the_sources_time_zone() -> None:
    call = velip.normalize({"cd_id": "1", "date": DAY, "time_dial": "10:00:00"}, "vl", UTC)
    assert call.record()["started_at"] == "2026-05-06T10:00:00Z"


@pytest.mark.parametrize(
    ("fields", "duration", "billable"),
    [
        ({"time_dial": "10:00:00", "time_end": "10:00:34", "dur": 27, "cdr_sec": 25}, 34, 25),
        ({"time_dial": "10:00:00", "time_end": "10:00:34", "dur": 27}, 34, 27),
        ({"time_dial": "10:00:00", "time_end": "10:00:34", "dur": "27", "cdr_sec": ""}, 34, 27),
        ({"dur": 27, "cdr_sec": 0}, None, 0),  # 0 billed is an answer
        ({"time_end": "10:00:34", "dur": 27}, None, 27),  # talk time is not a duration
        ({"time_dial": "10:00:00", "dur": 0, "cdr_sec": 0}, None, 0),  # live: no duration yet
        ({}, None, None),
    ],
)
def test_duration_is_dial_to_hangup_and_talk_time_is_billed(
    fields: dict[str, Any], duration: int | None, billable: int | None
) -> None:
    call = normalize(**fields)
    assert (call.duration_s, call.billable_s) == (duration, billable)


def test_the_other_fields() -> None:
    call = velip.normalize(
        {
            "cd_id": 9876545,
            "cp_id": 555,
            "value": "1,250",
            "cdr_url": "https://r/1.mp3",
            "date": DAY,
            "time_dial": "10:00:01",
            "time_start": "10:00:08",
        }
    )
    rec = call.record()
    assert (rec["call_id"], rec["campaign"], rec["cost"], rec["recording_url"]) == (
        "9876545",
        "555",
        1.25,
        "https://r/1.mp3",
    )
    assert (rec["source"], rec["provider"], rec["direction"], rec["from"], rec["currency"]) == (
        "velip",
        "velip",
        "outbound",
        None,
        None,
    )
    assert rec["updated_at"] == "2026-05-06T13:00:08Z"  # the latest time it has: the answer
    assert normalize(time_dial="10:00:01").record()["updated_at"] == "2026-05-06T13:00:01Z"
    assert normalize().updated_at is None
    assert normalize(cpid="lote-1", cp_id=555).campaign == "lote-1"  # the customer's own id first
    assert velip.normalize({}).call_id == "?"


# -- the adapter ------------------------------------------------------------------------------------------


def answer(code: Any, status: str | None, http: int = 200) -> httpx.Response:
    ret: dict[str, Any] = {"status_code": code, "cd_id": "0"}
    if status is not None:
        ret["status"] = status
    return httpx.Response(http, json={"return": ret})


@pytest.mark.parametrize("code", ["100", "101", 150, "199"])
async def test_in_body_auth_codes_on_http_200_are_auth_errors(code: Any) -> None:
    """Never retried by anyone: 20 failures in 10 minutes block the IP, 100 in an hour blacklist it."""
    requests = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal requests
        requests += 1
        return answer(code, "Invalid token")

    adapter = make("velip", handler, {"tsid": "bad"}, campaign=1)
    with pytest.raises(AuthError) as info:
        await pages(adapter)
    assert info.value.message == f"Invalid token (code {int(code)})" and info.value.status_code == 200
    assert info.value.provider == "velip"
    assert requests == 1
    with pytest.raises(AuthError):
        await adapter.get_call("42_1")


@pytest.mark.parametrize(
    ("code", "status", "error", "message"),
    [
        ("99", "Invalid filter", BadRequest, "Invalid filter (code 99)"),
        ("200", "Invalid filter", BadRequest, "Invalid filter (code 200)"),
        (
            "429",
            "Rate limit exceeded: 200 requests/hour",
            RateLimited,
            "Rate limit exceeded: 200 requests/hour",
        ),
        ("300", "RATE LIMIT reached", RateLimited, "RATE LIMIT reached"),
        ("300", None, BadRequest, "code 300 (code 300)"),
        (-1, "Bad", BadRequest, "Bad (code -1)"),
    ],
)
async def test_other_in_body_codes_on_http_200(
    code: Any, status: str | None, error: type[Exception], message: str
) -> None:
    adapter = make("velip", lambda r: answer(code, status), {"tsid": "t"}, campaign=1)
    with pytest.raises(error) as info:
        await pages(adapter)
    assert isinstance(info.value, BadRequest | RateLimited) and not isinstance(info.value, AuthError)
    assert info.value.message == message and info.value.status_code == 200
    assert info.value.provider == "velip"
    if isinstance(info.value, RateLimited):
        assert info.value.retry_after is None  # no header: the backoff decides


@pytest.mark.parametrize("code", ["0", 0, None, "", "OK"])
async def test_code_0_or_none_is_success(code: Any) -> None:
    body = {"return": {"status": "OK", "status_code": code}, "calls": [{"cd_id": "42_1", "cd_status": "OK"}]}
    assert [ids(p) for p in await pages(make("velip", reply(body), {"tsid": "t"}, campaign=1))] == [["42_1"]]


async def test_http_errors_come_before_the_body_code_except_auth() -> None:
    # An auth code is an auth error whatever the HTTP status; any other code leaves the HTTP status to say.
    with pytest.raises(AuthError, match=r"Invalid token \(code 101\)"):
        await pages(make("velip", lambda r: answer("101", "Invalid token", 500), {"tsid": "t"}, campaign=1))
    with pytest.raises(ServerError, match="Internal error"):
        await pages(make("velip", lambda r: answer("500", "Internal error", 500), {"tsid": "t"}, campaign=1))
    limited = httpx.Response(
        429, headers={"Retry-After": "42"}, json={"return": {"status": "Rate limit", "status_code": "429"}}
    )
    with pytest.raises(RateLimited) as info:
        await pages(make("velip", lambda r: limited, {"tsid": "t"}, campaign=1))
    assert info.value.retry_after == 42 and info.value.status_code == 429


async def test_error_message_reads_the_return_status() -> None:
    with pytest.raises(BadRequest) as info:
        await pages(make("velip", reply({"message": "plain"}, 400), {"tsid": "t"}, campaign=1))
    assert info.value.message == "plain"
    with pytest.raises(BadRequest) as info:
        await pages(
            make(
                "velip",
                reply({"return": {"status": "Bad cp_id"}, "message": "m"}, 400),
                {"tsid": "t"},
                campaign=1,
            )
        )
    assert info.value.message == "Bad cp_id"
    with pytest.raises(BadRequest) as info:
        await pages(make("velip", reply({"return": "broken"}, 400), {"tsid": "t"}, campaign=1))
    assert info.value.message == "Bad Request"  # not Velip's shape, nothing the generic reading knows


def page(rows: list[dict[str, Any]], has_more: Any = None, next_id: Any = None) -> dict[str, Any]:
    pagination: dict[str, Any] = {}
    if has_more is not None:
        pagination["has_more"] = has_more
    if next_id is not None:
        pagination["next_id"] = next_id
    return {"return": {"status": "OK", "status_code": "0", "pagination": pagination}, "calls": rows}


async def test_cursor_pages_and_the_request() -> None:
    forms: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("POST", "/base/api/v2/GetCallStatus.php")
        assert request.headers["authorization"] == "Bearer ts"
        form = body_of(request)
        forms.append(form)
        cursor = form.get("last_id")
        if cursor is None:
            return httpx.Response(200, json=page([{"cd_id": "a"}], True, 10))
        if cursor == 10:
            return httpx.Response(200, json=page([{"cd_id": "b"}], True, "9"))
        return httpx.Response(200, json=page([{"cd_id": "c"}], False, 8))

    adapter = make("velip", handler, {"tsid": "ts"}, campaign=555, page_size=50)
    assert [ids(p) for p in await pages(adapter)] == [["a"], ["b"], ["c"]]
    assert forms == [
        {"cp_id": 555, "maxreg": 50},
        {"cp_id": 555, "maxreg": 50, "last_id": 10},
        {"cp_id": 555, "maxreg": 50, "last_id": "9"},
    ]


@pytest.mark.parametrize(
    "body",
    [
        page([{"cd_id": "a"}], False, 10),
        page([{"cd_id": "a"}], None, 10),
        page([], True, 10),
        page([{"cd_id": "a"}], True, None),
        page([{"cd_id": "a"}], True, ""),
        page([{"cd_id": "a"}], True, {"id": 1}),
        page([{"cd_id": "a"}], True, [1]),
        {"return": {"status": "OK", "status_code": "0", "pagination": "more"}, "calls": [{"cd_id": "a"}]},
        {"return": "OK", "calls": [{"cd_id": "a"}]},
        {"calls": [{"cd_id": "a"}]},
    ],
)
async def test_a_scan_ends_without_a_usable_next_page(body: dict[str, Any]) -> None:
    requests = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal requests
        requests += 1
        return httpx.Response(200, json=body)

    await pages(make("velip", handler, {"tsid": "t"}, campaign=1))
    assert requests == 1


async def test_a_cursor_that_comes_back_ends_the_scan() -> None:
    n = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal n
        n += 1
        return httpx.Response(200, json=page([{"cd_id": f"c{n}"}], True, 7 if n > 1 else 6))

    adapter = make("velip", handler, {"tsid": "t"}, campaign=1, limits=Limits(max_pages=50))
    assert [ids(p) for p in await pages(adapter)] == [["c1"], ["c2"], ["c3"]]
    assert adapter.cut_short == "the provider's cursor came back to '7': scan stopped"


@pytest.mark.parametrize(
    ("options", "scope", "listed"),
    [
        ({"campaign": 555}, {"cp_id": 555}, True),
        ({"campaign": 0, "call_ids": ["x"]}, {"cp_id": 0}, True),
        ({"campaign": 555, "cpid": "lote"}, {"cp_id": 555}, True),
        ({"cpid": "lote", "call_ids": ["x"]}, {"cpid": "lote"}, True),
        ({"date": "2026-05-06"}, {"date_start": "2026-05-06", "date_end": "2026-05-06"}, True),
        ({"cpid": "", "date": "2026-05-06"}, {"date_start": "2026-05-06", "date_end": "2026-05-06"}, True),
        (
            {"call_ids": ["x"], "date": "2026-05-06"},
            {"date_start": "2026-05-06", "date_end": "2026-05-06"},
            False,
        ),
    ],
)
async def test_scope(options: dict[str, Any], scope: dict[str, Any], listed: bool) -> None:
    forms: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        forms.append(body_of(request))
        return httpx.Response(200, json=page([]))

    adapter = make("velip", handler, {"tsid": "t"}, **options)
    assert adapter.has_list is listed
    await pages(adapter)
    assert forms == [{**scope, "maxreg": 1000}]


async def test_get_call_asks_for_one_cd_id() -> None:
    forms: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.method == "POST"
        forms.append(body_of(request))
        if forms[-1].get("cd_id") in ("42_404", None):
            return httpx.Response(200, json=page([]))
        return httpx.Response(
            200, json=page([{"cd_id": forms[-1]["cd_id"], "cd_status": "BUSY"}, {"cd_id": "other"}])
        )

    kinds: list[str] = []

    async def gate(kind: str) -> None:
        kinds.append(kind)

    adapter = make("velip", handler, {"tsid": "t"}, call_ids=["42_1"])
    adapter.gate = gate
    call = await adapter.get_call("42_1")
    assert (call.call_id, call.status, call.source) == ("42_1", S.BUSY, "s")
    with pytest.raises(NotFoundYet) as info:
        await adapter.get_call("42_404")
    assert str(info.value) == "velip: not found: no call 42_404"
    assert forms == [{"cd_id": "42_1"}, {"cd_id": "42_404"}]
    assert kinds == ["call", "call"]  # single lookups spend their own budget, not the list's
    await pages(adapter)
    assert kinds[-1] == "list"


def test_budgets() -> None:
    budgets = velip.VelipAdapter.budgets
    assert (budgets["list"].requests, budgets["list"].per) == (200, 3600.0)
    assert (budgets["call"].requests, budgets["call"].per) == (60, 3600.0)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (["x"], "call list: expected a JSON object, got a list"),
        ({"return": {"status_code": "0"}, "calls": {"cd_id": "1"}}, "calls: expected a list, got an object"),
    ],
)
async def test_answers_of_the_wrong_shape(body: Any, message: str) -> None:
    with pytest.raises(BadResponse) as info:
        await pages(make("velip", reply(body), {"tsid": "t"}, campaign=1))
    assert info.value.message == message
    with pytest.raises(BadResponse) as info:
        await make("velip", reply(body), {"tsid": "t"}, campaign=1).get_call("42_1")
    assert info.value.message == message.replace("call list", "call")


async def test_a_page_sent_again_under_a_new_cursor_ends_the_scan() -> None:
    n = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal n
        n += 1
        return httpx.Response(200, json=page([{"cd_id": "same"}], True, n))

    adapter = make("velip", handler, {"tsid": "t"}, campaign=1)
    assert [ids(p) for p in await pages(adapter)] == [["same"], ["same"]]
    assert adapter.cut_short == "the provider sent page 2 again: scan stopped there"


async def test_records_are_read_in_the_sources_zone() -> None:
    row = {"cd_id": "42_1", "cd_status": "OK", "date": DAY, "time_dial": "10:00:00"}
    for zone, started in (("UTC", "2026-05-06T10:00:00Z"), (None, "2026-05-06T13:00:00Z")):
        options = {"campaign": 1} if zone is None else {"campaign": 1, "timezone": zone}
        (calls,) = await pages(make("velip", reply(page([row])), {"tsid": "t"}, **options))
        assert (calls[0].record()["started_at"], calls[0].source) == (started, "s")


async def test_just_after_midnight_in_sao_paulo_the_scope_takes_yesterday_in() -> None:
    from datetime import datetime

    from callmon.providers import Source

    forms: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        forms.append(body_of(request))
        return httpx.Response(200, json=page([]))

    for utc_hour, scope in ((4, ("2026-05-05", "2026-05-06")), (6, ("2026-05-06", "2026-05-06"))):
        at = datetime(2026, 5, 6, utc_hour, 30, tzinfo=UTC).timestamp()  # 01:30 and 03:30 there
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        source = Source(name="v", provider="velip", options={})
        adapter = velip.VelipAdapter(source, {"tsid": "t"}, client, now=lambda: at)
        await pages(adapter)
        assert (forms[-1]["date_start"], forms[-1]["date_end"]) == scope
