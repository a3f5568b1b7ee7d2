"""Ozonetel CloudAgent: the status mapping rule by rule (and which rule wins), Subscribe events, every
spelling of every field, local times, and the adapter: in-body errors on HTTP 200, the token and its one
refresh, CDR pages, single lookups and the Campaign Dial Status request."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from callmon import redact
from callmon.model import Call, Status
from callmon.providers import Source, cloudagent
from callmon.providers.base import Limits
from callmon.providers.errors import AuthError, BadRequest, BadResponse, NotFoundYet
from tests.unit.providers.scripted import BASE, body_of, ids, make, pages, reply

S = Status
# (Status, DialStatus, CustomerDialStatus) -> status
MAPPING: list[tuple[str | None, str | None, str | None, Status]] = [
    # busy, in any of the three, in any spelling
    ("NotAnswered", "Busy", None, S.BUSY),
    (None, None, "User Busy", S.BUSY),
    ("busy", None, None, S.BUSY),
    ("Answered", "Busy", None, S.BUSY),  # busy wins over everything
    # answered, by Status only
    ("Answered", None, None, S.COMPLETED),
    ("ANSWERED", "user_disconnected", None, S.COMPLETED),  # answered wins over a disconnect
    # user_disconnected, in any of the three
    ("NotAnswered", "user_disconnected", None, S.CANCELED),  # wins over not answered
    (None, None, "User Disconnected", S.CANCELED),
    ("user_disconnected", None, None, S.CANCELED),
    # not answered, in any of the three
    ("NotAnswered", None, None, S.NO_ANSWER),
    ("Unanswered", None, None, S.NO_ANSWER),
    (None, "NoAnswer", None, S.NO_ANSWER),
    (None, None, "no answer", S.NO_ANSWER),
    ("Fail", "NoAnswer", None, S.NO_ANSWER),  # wins over a failure
    # failed, in any of the three
    ("Fail", None, None, S.FAILED),
    (None, "Failed", None, S.FAILED),
    (None, None, "NotDialed", S.FAILED),
    ("InvalidNumber", None, None, S.FAILED),
    ("Pending", "Fail", None, S.FAILED),  # wins over pending
    # pending, in Status or DialStatus
    ("Pending", None, None, S.QUEUED),
    (None, "pending", None, S.QUEUED),
    (None, None, "Pending", S.UNKNOWN),
    # answered in DialStatus alone, when Status says nothing more
    (None, "answered", None, S.COMPLETED),
    (None, None, "answered", S.UNKNOWN),
    ("Pending", "answered", None, S.QUEUED),
    (None, None, None, S.UNKNOWN),
    ("Dialing", "Ringing", "Unknown", S.UNKNOWN),
]


def test_the_mapping_rule_by_rule() -> None:
    wrong = [(row, got) for *row, status in MAPPING if (got := cloudagent.map_status(*row)) is not status]
    assert wrong == []


def test_the_mapping_through_normalize() -> None:
    wrong = []
    for status, dial, customer, expected in MAPPING:
        raw = {"UCID": "1", "Status": status, "DialStatus": dial, "CustomerDialStatus": customer}
        lower = {"ucid": "1", "status": status, "dialStatus": dial, "customerDialStatus": customer}
        for payload in (raw, lower):
            call = cloudagent.normalize(payload)
            if (call.status, call.raw_status) != (expected, status):
                wrong.append((payload, call.status, call.raw_status))
    assert wrong == []


@pytest.mark.parametrize(
    ("action", "status"),
    [
        ("Calling", S.RINGING),
        ("CALLING", S.RINGING),
        ("Answered", S.IN_PROGRESS),
        ("answered", S.IN_PROGRESS),
        ("Disconnect", S.UNKNOWN),  # ended: the CDR will say how
        ("Hold", S.UNKNOWN),
    ],
)
def test_subscribe_events(action: str, status: Status) -> None:
    call = cloudagent.normalize({"ucid": "9", "action": action, "eventTime": "2026-11-20 10:00:05"})
    assert (call.status, call.raw_status, call.reason) == (status, action, None)
    assert call.record()["updated_at"] == "2026-11-20T04:30:05Z"


def test_a_row_with_an_action_and_a_status_is_a_row() -> None:
    call = cloudagent.normalize({"UCID": "9", "action": "Calling", "Status": "Answered"})
    assert (call.status, call.raw_status) == (S.COMPLETED, "Answered")


@pytest.mark.parametrize(
    ("key", "value", "field", "expected"),
    [
        ("UCID", "u", "call_id", "u"),
        ("ucid", "u", "call_id", "u"),
        ("monitorUCID", "u", "call_id", "u"),
        ("CallID", "c", "call_id", "c"),
        ("callId", "c", "call_id", "c"),
        ("CampaignName", "Renewals", "campaign", "Renewals"),
        ("campaignName", "Renewals", "campaign", "Renewals"),
        ("campaign_name", "Renewals", "campaign", "Renewals"),
        ("CallerID", "080", "from_", "080"),
        ("callerId", "080", "from_", "080"),
        ("did", "080", "from_", "080"),
        ("DialedNumber", "987", "to", "987"),
        ("dialedNumber", "987", "to", "987"),
        ("PhoneNumber", "987", "to", "987"),
        ("phoneNumber", "987", "to", "987"),
        ("Duration", "00:02:05", "duration_s", 125),
        ("duration", 125, "duration_s", 125),
        ("TalkTime", "00:01:50", "billable_s", 110),
        ("talkTime", "110", "billable_s", 110),
        ("CallAudio", "https://r/1.wav", "recording_url", "https://r/1.wav"),
        ("AudioFile", "https://r/1.wav", "recording_url", "https://r/1.wav"),
        ("callAudio", "https://r/1.wav", "recording_url", "https://r/1.wav"),
        ("Type", "Progressive", "direction", "outbound"),
        ("type", "Inbound", "direction", "inbound"),
        ("CallType", "InBound Call", "direction", "inbound"),
    ],
)
def test_every_spelling_of_every_field(key: str, value: Any, field: str, expected: Any) -> None:
    raw = {key: value} if field == "call_id" else {"UCID": "u", key: value}
    assert getattr(cloudagent.normalize(raw), field) == expected


def test_the_first_spelling_present_wins() -> None:
    call = cloudagent.normalize(
        {
            "UCID": "u",
            "ucid": "v",
            "CallID": "c",
            "Status": "Answered",
            "status": "Fail",
            "Duration": "00:00:10",
            "duration": 99,
        }
    )
    assert (call.call_id, call.status, call.duration_s) == ("u", S.COMPLETED, 10)
    assert cloudagent.normalize({"CallID": "c"}).call_id == "c"  # without a UCID, CloudAgent's call id
    assert cloudagent.normalize({}).call_id == "?"
    assert cloudagent.normalize({"Type": ""}).direction is None


@pytest.mark.parametrize(
    ("key", "field"),
    [
        ("StartTime", "started_at"),
        ("startTime", "started_at"),
        ("CallTime", "started_at"),
        ("EndTime", "ended_at"),
        ("endTime", "ended_at"),
        ("eventTime", "updated_at"),
        ("time", "updated_at"),
    ],
)
def test_every_spelling_of_every_time_read_in_ist(key: str, field: str) -> None:
    call = cloudagent.normalize({"UCID": "u", key: "2026-11-20 10:00:00"})
    assert call.record()[field] == "2026-11-20T04:30:00Z"  # IST is UTC+5:30
    assert cloudagent.normalize({"UCID": "u", key: "2026-11-20 10:00:00"}, "ca", UTC).record()[field] == (
        "2026-11-20T10:00:00Z"
    )


def test_times_answer_and_update() -> None:
    base = {"UCID": "u", "StartTime": "2026-11-20 10:00:00", "EndTime": "2026-11-20 10:02:05"}
    rec = cloudagent.normalize({**base, "TalkTime": "00:01:50", "eventTime": "2026-11-20 11:00:00"}).record()
    assert rec["answered_at"] == "2026-11-20T04:30:15Z"  # the end less the talk time
    assert rec["updated_at"] == "2026-11-20T04:32:05Z"  # the end first
    assert cloudagent.normalize({**base, "TalkTime": "00:00:00"}).answered_at is None  # never answered
    assert cloudagent.normalize({"UCID": "u", "TalkTime": "00:00:10"}).answered_at is None  # no end
    rec = cloudagent.normalize(
        {"UCID": "u", "StartTime": "2026-11-20 10:00:00", "time": "2026-11-20 11:00:00"}
    ).record()
    assert rec["updated_at"] == "2026-11-20T04:30:00Z"  # then the start
    assert cloudagent.normalize({"UCID": "u"}).updated_at is None


@pytest.mark.parametrize(
    ("dial", "hangup_by", "reason"),
    [
        ("answered", "UserHangup", "answered; hangup by UserHangup"),
        ("NoAnswer", None, "NoAnswer"),
        (None, "System", "hangup by System"),
        (None, None, None),
        ("", "", None),
    ],
)
def test_reason_is_the_dial_status_and_who_hung_up(
    dial: str | None, hangup_by: str | None, reason: str | None
) -> None:
    assert cloudagent.normalize({"UCID": "u", "DialStatus": dial, "HangupBy": hangup_by}).reason == reason
    assert cloudagent.normalize({"UCID": "u", "dialStatus": dial, "hangupBy": hangup_by}).reason == reason


def test_details_in_order_and_only_those_present() -> None:
    call = cloudagent.normalize(
        {
            "UCID": "u",
            "Type": "Progressive",
            "DialStatus": "answered",
            "CustomerDialStatus": "answered",
            "AgentDialStatus": "answered",
            "HangupBy": "UserHangup",
            "Disposition": "Interested",
            "DialCount": 2,
            "CallID": "98765",
        }
    )
    assert call.details == (
        ("type", "Progressive"),
        ("dial status", "answered"),
        ("customer dial status", "answered"),
        ("agent dial status", "answered"),
        ("hangup by", "UserHangup"),
        ("disposition", "Interested"),
        ("dial count", "2"),
        ("call id", "98765"),
    )
    lower = cloudagent.normalize(
        {
            "ucid": "u",
            "type": "x",
            "dialStatus": "d",
            "customerDialStatus": "c",
            "agentDialStatus": "a",
            "hangupBy": "h",
            "disposition": "p",
            "dialCount": 1,
            "callId": "i",
        }
    )
    assert [v for _, v in lower.details] == ["x", "d", "c", "a", "h", "p", "1", "i"]
    assert cloudagent.normalize({"UCID": "u"}).details == ()
    call = cloudagent.normalize({"UCID": "u"})
    assert (call.source, call.provider, call.cost, call.currency) == ("cloudagent", "cloudagent", None, None)


# -- the adapter ------------------------------------------------------------------------------------------

SECRETS = {"api_key": "key-1"}


@pytest.fixture(autouse=True)
def no_secrets_left() -> Iterator[None]:
    """The adapter registers each token it is given for masking; none may leak into other tests' records."""
    yield
    redact.forget_all()


def cdr_handler(rows_for: Any, token: str = "token-1", requests: list[httpx.Request] | None = None) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        if requests is not None:
            requests.append(request)
        if request.url.path.endswith("/generateToken"):
            return httpx.Response(200, json={"status": "success", "token": token})
        return httpx.Response(200, json=rows_for(request))

    return handler


@pytest.mark.parametrize("status", ["error", "fail", "failed", False, "false"])
@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("apiKey is invalid", AuthError),
        ("APIKEY IS INVALID", AuthError),
        ("Authentication failed", AuthError),
        ("userName is invalid", AuthError),
        ("Invalid Token", AuthError),
        ("campaignName is invalid", BadRequest),
        ("callBackUrl cannot be empty (OR) it should contain ‘’ or '", BadRequest),
    ],
)
async def test_in_body_errors_on_http_200(status: Any, message: str, error: type[Exception]) -> None:
    body = {"status": status, "message": message, "uniqueId": ""}
    adapter = make("cloudagent", reply(body), SECRETS, user_name="acme")
    with pytest.raises(error) as info:
        await pages(adapter)
    assert type(info.value) is error  # not the token expiry's own type
    assert isinstance(info.value, AuthError | BadRequest)
    assert (info.value.provider, info.value.message, info.value.status_code) == ("cloudagent", message, 200)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"status": "error", "error": "Bad date"}, "Bad date"),
        ({"status": "error", "msg": "Bad date"}, "Bad date"),
        ({"status": "error", "details": "Bad date"}, "Bad date"),
        ({"status": "error", "message": "", "msg": "Bad date"}, "Bad date"),
        ({"status": "error", "message": 5, "error": "Bad date"}, "Bad date"),
        ({"status": "error", "message": "first", "error": "second"}, "first"),
        ({"status": "error", "error": "second", "msg": "third"}, "second"),
        ({"status": "error", "msg": "third", "details": "fourth"}, "third"),
        # An expiry is a token's: anything else that expires, or a token that does not, is no reason to refresh.
        ({"status": "fail", "message": "Session expired"}, "Session expired"),
        ({"status": "fail", "message": "token quota reached"}, "token quota reached"),
        ({"status": "error", "detail": {"message": "nested"}}, "nested"),  # the generic reading
        ({"status": "fail"}, "fail"),
        ({"status": False}, "request failed"),
    ],
)
async def test_in_body_error_messages(body: dict[str, Any], message: str) -> None:
    requests = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal requests
        requests += 1
        return httpx.Response(200, json=body)

    with pytest.raises(BadRequest) as info:
        await pages(make("cloudagent", handler, SECRETS, user_name="acme"))
    assert type(info.value) is BadRequest and info.value.message == message
    assert (info.value.provider, requests) == ("cloudagent", 1)  # the token request, refused: no refresh


@pytest.mark.parametrize("status", ["success", True, "true", "ok", None])
async def test_any_other_status_is_success(status: Any) -> None:
    def rows(request: httpx.Request) -> dict[str, Any]:
        return {"status": status, "details": [{"UCID": "1"}]}

    assert [
        ids(p) for p in await pages(make("cloudagent", cdr_handler(rows), SECRETS, user_name="acme"))
    ] == [["1"]]


async def test_an_http_error_is_typed_before_the_body_is_read() -> None:
    with pytest.raises(BadRequest, match="Authentication failed") as info:
        await pages(
            make(
                "cloudagent",
                reply({"status": "ok", "message": "Authentication failed"}, 400),
                SECRETS,
                user_name="acme",
            )
        )
    assert info.value.status_code == 400


async def test_the_token_is_asked_once_and_refreshed_once_when_it_expires() -> None:
    requests: list[httpx.Request] = []
    tokens = iter(["token-1", "token-2", "token-3"])

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.path == "/base/ca_apis/CAToken/generateToken":
            assert request.method == "POST" and request.headers["apiKey"] == "key-1"
            assert body_of(request) == {"userName": "acme"}
            return httpx.Response(200, json={"status": "success", "token": next(tokens)})
        if request.headers["authorization"] == "Bearer token-1":
            return httpx.Response(200, json={"status": "false", "message": "Token Expired"})
        return httpx.Response(200, json={"status": "success", "details": [{"UCID": "1"}]})

    adapter = make("cloudagent", handler, SECRETS, user_name="acme")
    await pages(adapter)
    await pages(adapter)  # the fresh token is kept
    paths = [r.url.path.rsplit("/", 1)[-1] for r in requests]
    assert paths == [
        "generateToken",
        "fetchCdrByPagination",
        "generateToken",
        "fetchCdrByPagination",
        "fetchCdrByPagination",
    ]
    assert [r.headers.get("authorization") for r in requests if "fetch" in r.url.path] == [
        "Bearer token-1",
        "Bearer token-2",
        "Bearer token-2",
    ]
    assert (
        redact.scrub("leaked token-2 here") == "leaked •••• here"
    )  # a session credential, masked as the key is


async def test_tokens_are_masked_in_one_slot_per_source() -> None:
    """A provider that hands out a new token at every refresh: each source keeps its last few tokens masked
    (redact.SLOT_SIZE), not every token it was ever given."""
    issued: list[str] = []
    used: set[str] = set()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/generateToken"):
            issued.append(f"token-{len(issued):04}")
            return httpx.Response(200, json={"status": "success", "token": issued[-1]})
        token = request.headers["authorization"].removeprefix("Bearer ")
        if token in used:  # each token serves one request, then expires
            return httpx.Response(200, json={"status": "fail", "message": "Token Expired"})
        used.add(token)
        return httpx.Response(200, json={"status": "success", "details": [{"UCID": "1"}]})

    first = make("cloudagent", handler, SECRETS, user_name="acme")
    other = Source(name="other", provider="cloudagent", options={"user_name": "acme"}, base_url=BASE)
    second = cloudagent.CloudAgentAdapter(
        other, SECRETS, httpx.AsyncClient(transport=httpx.MockTransport(handler))
    )
    await pages(second)
    for _ in range(redact.SLOT_SIZE + 1):
        await pages(first)
    assert len(issued) == redact.SLOT_SIZE + 2
    # The other source's token stays masked however many the first one was given.
    assert redact.scrub(" ".join(issued)) == " ".join(["••••", issued[1]] + ["••••"] * redact.SLOT_SIZE)


async def test_a_token_that_expires_twice_is_an_auth_error() -> None:
    requests: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request.url.path.rsplit("/", 1)[-1])
        if request.url.path.endswith("generateToken"):
            return httpx.Response(200, json={"token": f"tok-{len(requests)}"})
        return httpx.Response(200, json={"status": "fail", "message": "token expired"})

    with pytest.raises(AuthError) as info:
        await pages(make("cloudagent", handler, SECRETS, user_name="acme"))
    assert str(info.value) == "cloudagent: auth failed (HTTP 200): token expired"
    assert requests == ["generateToken", "fetchCdrByPagination", "generateToken", "fetchCdrByPagination"]


@pytest.mark.parametrize(
    "body",
    [
        {"status": "success"},
        {"token": ""},
        {"token": None},
        {"token": 12345678},
        {"token": "tök-én"},  # not something a header can carry
        {"token": "two words"},
        {"token": "line\nbreak"},
        {"token": "x" * 4097},
    ],
)
async def test_a_token_response_without_a_usable_token(body: dict[str, Any]) -> None:
    with pytest.raises(BadResponse) as info:
        await pages(make("cloudagent", reply(body), SECRETS, user_name="acme"))
    assert str(info.value) == "cloudagent: bad response: token response has no token"


async def test_a_token_callmon_already_masks_is_still_sent_as_it_came() -> None:
    """Two sources on one account are given the same token: the second reads a body in which the token is
    already a known secret (masked), and must still send the token itself, not the mask."""
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/generateToken"):
            return httpx.Response(200, json={"status": "success", "token": "shared-token"})
        sent.append(request.headers["authorization"])
        return httpx.Response(200, json={"status": "success", "details": [{"UCID": "1"}]})

    for campaign in ("Renewals", "Winback"):
        adapter = make("cloudagent", handler, SECRETS, user_name="acme", campaign=campaign)
        assert [ids(p) for p in await pages(adapter)] == [["1"]]
    assert sent == ["Bearer shared-token", "Bearer shared-token"]
    assert cloudagent._sent_token(b"[1]") is None and cloudagent._sent_token(b"{not json") is None
    assert cloudagent._sent_token(b'{"token": "' + b"x" * 4096 + b'"}') == "x" * 4096


async def test_cdr_pages_with_a_json_body_on_get() -> None:
    requests: list[httpx.Request] = []

    def rows(request: httpx.Request) -> dict[str, Any]:
        page = int(request.url.params["pageNo"])
        count = {1: 500, 2: 500, 3: 1}[page]
        return {
            "status": "success",
            "totalCount": 1001,
            "details": [{"UCID": f"{page}-{i}"} for i in range(count)],
        }

    adapter = make(
        "cloudagent",
        cdr_handler(rows, requests=requests),
        SECRETS,
        user_name="acme",
        campaign="Renewals",
        date="2026-11-20",
    )
    got = await pages(adapter)
    assert [len(p) for p in got] == [500, 500, 1]
    fetches = [r for r in requests if "fetch" in r.url.path]
    assert [(r.method, r.url.params["pageNo"], r.url.params["pageSize"]) for r in fetches] == [
        ("GET", "1", "500"),
        ("GET", "2", "500"),
        ("GET", "3", "500"),
    ]
    assert all(r.headers["authorization"] == "Bearer token-1" for r in fetches)
    assert body_of(fetches[0]) == {
        "fromDate": "2026-11-20 00:00:00",
        "toDate": "2026-11-20 23:59:59",
        "userName": "acme",
        "campaignName": "Renewals",
    }


@pytest.mark.parametrize(
    ("counts", "total", "fetched"),
    [
        ([500, 500, 0], None, 3),  # an empty page ends it
        ([500, 499], None, 2),  # a short page is the last
        ([500, 500], 1000, 2),  # the total reached
        ([500, 500, 500], 1001, 3),
        ([500, 500, 500], "lots", 4),  # an unreadable total is no total: on to an empty page
    ],
)
async def test_cdr_pages_end(counts: list[int], total: Any, fetched: int) -> None:
    asked: list[int] = []

    def rows(request: httpx.Request) -> dict[str, Any]:
        page = int(request.url.params["pageNo"])
        asked.append(page)
        count = counts[page - 1] if page <= len(counts) else 0
        return {
            "status": "success",
            "totalCount": total,
            "details": [{"UCID": f"{page}-{i}"} for i in range(count)],
        }

    await pages(make("cloudagent", cdr_handler(rows), SECRETS, user_name="acme"))
    assert asked == list(range(1, fetched + 1))


async def test_a_page_sent_again_ends_the_scan() -> None:
    def rows(request: httpx.Request) -> dict[str, Any]:
        return {"status": "success", "details": [{"UCID": str(i)} for i in range(500)]}

    adapter = make("cloudagent", cdr_handler(rows), SECRETS, user_name="acme", limits=Limits(max_pages=10))
    assert len(await pages(adapter)) == 2
    assert adapter.cut_short == "the provider sent page 2 again: scan stopped there"


async def test_get_call_looks_up_the_ucid_in_any_campaign() -> None:
    requests: list[httpx.Request] = []

    def rows(request: httpx.Request) -> dict[str, Any]:
        ucid = body_of(request)["ucid"]
        return {
            "status": "success",
            "details": [] if ucid == "none" else [{"UCID": ucid, "Status": "Answered"}, {"UCID": "x"}],
        }

    adapter = make(
        "cloudagent",
        cdr_handler(rows, requests=requests),
        SECRETS,
        user_name="acme",
        campaign="Renewals",
        date="2026-11-20",
    )
    call = await adapter.get_call("77")
    assert (call.call_id, call.status) == ("77", S.COMPLETED)
    fetch = requests[-1]
    assert (fetch.url.params["pageNo"], fetch.url.params["pageSize"]) == ("1", "500")
    assert body_of(fetch) == {
        "fromDate": "2026-11-20 00:00:00",
        "toDate": "2026-11-20 23:59:59",
        "userName": "acme",
        "ucid": "77",
    }
    with pytest.raises(NotFoundYet) as info:
        await adapter.get_call("none")
    assert str(info.value) == "cloudagent: not found: no CDR for UCID none yet"


async def test_campaign_dial_status_is_asked_with_the_callback() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json={"status": "queued", "uniqueId": "abc"})

    kinds: list[str] = []

    async def gate(kind: str) -> None:
        kinds.append(kind)

    adapter = make("cloudagent", handler, SECRETS, user_name="acme", date="2026-11-20")
    adapter.gate = gate
    await adapter.request_push("https://me/hook")
    assert requests == []  # without a campaign there is nothing to ask (one campaign per request)
    adapter = make("cloudagent", handler, SECRETS, user_name="acme", campaign="Renewals", date="2026-11-20")
    adapter.gate = gate
    await adapter.request_push("https://me/hook")
    (request,) = requests
    assert (request.method, request.url.path) == ("POST", "/base/ca_apis/campaignDialStatus")
    assert "key-1" not in str(request.url)
    assert body_of(request) == {
        "apiKey": "key-1",
        "userName": "acme",
        "campaignName": "Renewals",
        "fromDate": "2026-11-20 00:00:00",
        "toDate": "2026-11-20 23:59:59",
        "status": "All",
        "dialStatus": "All",
        "disposition": "ALL",
        "dataType": "2",
        "callBackUrl": "https://me/hook",
    }
    assert kinds == ["dial_status"]
    requests.clear()
    adapter = make("cloudagent", handler, SECRETS, user_name="acme", campaign="R", dial_status_path="/x/y")
    await adapter.request_push("https://me/hook")
    assert requests[0].url.path == "/base/x/y"
    adapter = make(
        "cloudagent",
        reply({"status": "error", "message": "campaignName is invalid"}),
        SECRETS,
        user_name="acme",
        campaign="R",
    )
    with pytest.raises(BadRequest, match="campaignName is invalid"):
        await adapter.request_push("https://me/hook")


async def test_budget_kinds() -> None:
    kinds: list[str] = []

    async def gate(kind: str) -> None:
        kinds.append(kind)

    adapter = make(
        "cloudagent", cdr_handler(lambda r: {"status": "success", "details": []}), SECRETS, user_name="a"
    )
    adapter.gate = gate
    await pages(adapter)
    assert kinds == ["token", "cdr"]
    budgets = cloudagent.CloudAgentAdapter.budgets
    assert {k: (b.requests, b.per) for k, b in budgets.items()} == {
        "cdr": (2, 60.0),
        "dial_status": (10, 60.0),
        "token": (10, 60.0),
    }


def test_the_call_and_the_key_helper() -> None:
    assert cloudagent._key(" User_Disconnected! ") == "userdisconnected"
    assert cloudagent._key(None) == ""
    assert isinstance(cloudagent.normalize({"UCID": "1"}), Call)


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"token": ["x"]}, "token: expected a JSON object, got a list"),
        ({"cdr": ["x"]}, "CDR page: expected a JSON object, got a list"),
        ({"cdr": {"status": "success", "details": "none"}}, "CDR details: expected a list, got a string"),
    ],
)
async def test_answers_of_the_wrong_shape(answers: dict[str, Any], message: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/generateToken"):
            return httpx.Response(200, json=answers.get("token", {"token": "token-1"}))
        return httpx.Response(200, json=answers.get("cdr", {"status": "success", "details": []}))

    with pytest.raises(BadResponse) as info:
        await pages(make("cloudagent", handler, SECRETS, user_name="acme"))
    assert info.value.message == message
    with pytest.raises(BadResponse) as info:
        await make("cloudagent", handler, SECRETS, user_name="acme").get_call("1")
    assert info.value.message == message
    with pytest.raises(BadResponse) as info:
        await make("cloudagent", reply(["x"]), SECRETS, user_name="acme", campaign="R").request_push(
            "https://me"
        )
    assert info.value.message == "dial status: expected a JSON object, got a list"


async def test_the_engines_clock_gate_and_zone_reach_the_adapter() -> None:
    kinds: list[str] = []
    bodies: list[Any] = []

    async def gate(kind: str) -> None:
        kinds.append(kind)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/generateToken"):
            return httpx.Response(200, json={"token": "token-1"})
        bodies.append(body_of(request))
        return httpx.Response(
            200, json={"status": "success", "details": [{"UCID": "1", "StartTime": "2026-01-06 10:00:00"}]}
        )

    evening = datetime(2026, 1, 5, 20, 0, tzinfo=UTC).timestamp()  # 01:30 on the 6th in Kolkata
    for zone, day, started in (
        ("Asia/Kolkata", "2026-01-06", "2026-01-06T04:30:00Z"),
        ("UTC", "2026-01-05", "2026-01-06T10:00:00Z"),
    ):
        source = Source(name="ca", provider="cloudagent", options={"user_name": "acme", "timezone": zone})
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        adapter = cloudagent.CloudAgentAdapter(source, SECRETS, client, gate=gate, now=lambda: evening)
        (calls,) = await pages(adapter)
        assert bodies[-1]["fromDate"] == f"{day} 00:00:00"
        assert (calls[0].source, calls[0].record()["started_at"]) == ("ca", started)
    assert kinds == ["token", "cdr", "token", "cdr"]


async def test_a_call_dialed_before_midnight_is_found_in_yesterdays_report_just_after() -> None:
    """Its report holds a call under the day it was dialed, one day a request: a UCID not in today's is looked
    for in yesterday's for the first two hours of a day, today's first (the list stays on today)."""
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/generateToken"):
            return httpx.Response(200, json={"token": "token-1"})
        body = body_of(request)
        asked.append(body["fromDate"][:10])
        rows = [{"UCID": "77", "StartTime": "2026-01-05 23:58:00", "EndTime": "2026-01-06 00:03:00",
                 "Status": "Answered", "DialStatus": "answered"}] if asked[-1] == "2026-01-05" else []  # fmt: skip
        return httpx.Response(200, json={"status": "success", "totalCount": len(rows), "details": rows})

    source = Source(name="ca", provider="cloudagent", options={"user_name": "acme"}, base_url=BASE)
    for hour, expected in ((1.5, ["2026-01-06", "2026-01-05"]), (3.0, ["2026-01-06"])):
        asked.clear()
        at = datetime(2026, 1, 5, 18, 30, tzinfo=UTC).timestamp() + hour * 3600  # midnight in Kolkata + hour
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        adapter = cloudagent.CloudAgentAdapter(source, SECRETS, client, now=lambda at=at: at)
        if hour < 2:
            call = await adapter.get_call("77")
            assert (call.call_id, call.status) == ("77", Status.COMPLETED)
        else:
            with pytest.raises(NotFoundYet):
                await adapter.get_call("77")
        assert asked == expected
        asked.clear()
        await pages(adapter)
        assert asked == ["2026-01-06"]
