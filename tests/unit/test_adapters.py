"""Adapters against scripted HTTP: the exact requests each provider requires, pagination, typed errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from callmon.engine.once import fetch_all
from callmon.engine.worker import SourceWorker
from callmon.model import Call, Status
from callmon.providers import ADAPTERS, Source
from callmon.providers.base import Adapter
from callmon.providers.errors import (
    AuthError,
    BadRequest,
    BadResponse,
    NetworkError,
    NotFoundYet,
    RateLimited,
    ServerError,
)
from callmon.store import CallStore

DATA = Path(__file__).parents[1] / "data"
Handler = Callable[[httpx.Request], httpx.Response]


def make(provider: str, handler: Handler, secrets: dict[str, str], **options: Any) -> Adapter:
    source = Source(name="s", provider=provider, options=options, base_url="https://api.test/base")
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return ADAPTERS[provider](source, secrets, client)


async def collect(adapter: Adapter) -> list[Call]:
    return await fetch_all(adapter)


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None


# -- Dialgood -------------------------------------------------------------------------------------------------


async def test_dialgood_header_auth_and_cdr_then_transcript() -> None:
    seen: list[httpx.Request] = []
    cdr = json.loads((DATA / "dialgood_cdr.json").read_text())

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert request.headers["api_token"] == "tok"
        assert "tok" not in str(request.url)  # never in the URL
        if request.url.path == "/base/external/v1/cdr/camp_7f84b3f8":
            return httpx.Response(200, json=cdr)
        if request.url.path == "/base/external/v1/cdr/camp_live":
            return httpx.Response(404, json={"error": "CDR not found"})
        if request.url.path == "/base/external/v1/live-transcript/camp_live":
            return httpx.Response(200, json={"status": "available", "transcript": "Agent: hi"})
        return httpx.Response(404, json={"error": "nope"})

    adapter = make("dialgood", handler, {"api_token": "tok"}, campaigns=["camp_7f84b3f8", "camp_live"])
    calls = await collect(adapter)
    assert [(c.call_id, c.status) for c in calls] == [
        ("camp_7f84b3f8", Status.COMPLETED),
        ("camp_live", Status.IN_PROGRESS),
    ]
    assert all(r.method == "GET" for r in seen)
    assert calls[1].transcript[0].text == "hi"


# -- Dialgen --------------------------------------------------------------------------------------------------


async def test_dialgen_batch_and_single_with_fallback() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer key"
        if request.url.path == "/base/api/v1/status/batch":
            assert request.url.params["batchId"] == "b1"
            rows = [
                {"callId": "a", "status": "ONGOING"},
                {"callId": "b", "status": "MISSED", "error": "BUSY"},
            ]
            return httpx.Response(200, json={"batchId": "b1", "calls": rows})
        if request.url.path == "/base/api/v1/status/call":
            return httpx.Response(404, json={"error": "NOT_FOUND", "message": "Call not found"})
        if request.url.path == "/base/api/v1/call/check-status":
            assert request.url.params["callId"] == "old"
            return httpx.Response(200, json={"success": True, "data": {"id": "old", "status": "COMPLETED"}})
        raise AssertionError(request.url)

    adapter = make("dialgen", handler, {"api_key": "key"}, batches=["b1"], call_ids=["old"])
    calls = await collect(adapter)
    assert [(c.call_id, c.status, c.campaign) for c in calls] == [
        ("a", Status.IN_PROGRESS, "b1"),
        ("b", Status.BUSY, "b1"),
        ("old", Status.COMPLETED, None),
    ]


# -- CloudAgent -----------------------------------------------------------------------------------------------


async def test_cloudagent_token_flow_get_with_json_body_and_pages() -> None:
    tokens = iter(["t1", "t2"])
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.path == "/base/ca_apis/CAToken/generateToken":
            assert request.method == "POST"
            assert request.headers["apiKey"] == "k"
            assert body_of(request) == {"userName": "acme"}
            return httpx.Response(200, json={"token": next(tokens), "status": "success"})
        assert request.url.path == "/base/ca_reports/fetchCdrByPagination"
        assert request.method == "GET"
        body = body_of(request)
        assert body["userName"] == "acme" and body["campaignName"] == "Renewals"
        assert body["fromDate"] == "2026-11-20 00:00:00" and body["toDate"] == "2026-11-20 23:59:59"
        page = int(request.url.params["pageNo"])
        assert request.url.params["pageSize"] == "500"
        if request.headers["authorization"] == "Bearer t1":
            return httpx.Response(200, json={"status": "false", "message": "Token Expired"})
        assert request.headers["authorization"] == "Bearer t2"
        count = 500 if page == 1 else 3
        rows = [{"UCID": f"{page}-{i}", "Status": "Answered"} for i in range(count)]
        return httpx.Response(200, json={"status": "success", "totalCount": 503, "details": rows})

    adapter = make(
        "cloudagent", handler, {"api_key": "k"}, user_name="acme", campaign="Renewals", date="2026-11-20"
    )
    calls = await collect(adapter)
    assert len(calls) == 503 and len({c.call_id for c in calls}) == 503
    kinds = [r.url.path.rsplit("/", 1)[-1] for r in requests]
    # first token expired -> one fresh token, then both pages with it
    assert kinds == [
        "generateToken",
        "fetchCdrByPagination",
        "generateToken",
        "fetchCdrByPagination",
        "fetchCdrByPagination",
    ]


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("apiKey is invalid", AuthError),
        ("Authentication failed", AuthError),
        ("userName is invalid", AuthError),
        ("campaignName is invalid", BadRequest),
        ("callBackUrl cannot be empty (OR) it should contain ‘’ or '", BadRequest),
    ],
)
async def test_cloudagent_seed_errors(message: str, error: type[Exception]) -> None:
    seeds = json.loads((DATA / "cloudagent_errors.json").read_text())
    body = next(s for s in seeds if s["message"] == message)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    adapter = make("cloudagent", handler, {"api_key": "k"}, user_name="acme")
    with pytest.raises(error) as info:
        await collect(adapter)
    assert message in str(info.value)


# -- Velip ----------------------------------------------------------------------------------------------------


async def test_velip_cursor_pages_to_the_end() -> None:
    seed = json.loads((DATA / "velip_calls.json").read_text())
    cursors: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.method == "POST" and request.url.path == "/base/api/v2/GetCallStatus.php"
        assert request.headers["authorization"] == "Bearer ts"
        body = body_of(request)
        assert body["cp_id"] == 555 and body["maxreg"] == 1000
        cursors.append(body.get("last_id"))
        if body.get("last_id") is None:
            return httpx.Response(200, json=seed)
        record = dict(seed["calls"][0], cd_id=9876544, cd_status="BUSY")
        return httpx.Response(
            200,
            json={
                "return": {"status": "OK", "status_code": "0", "pagination": {"has_more": False}},
                "calls": [record],
            },
        )

    calls = await collect(make("velip", handler, {"tsid": "ts"}, campaign=555))
    assert cursors == [None, 9876544]
    assert [(c.call_id, c.status) for c in calls] == [("9876545", Status.COMPLETED), ("9876544", Status.BUSY)]


async def test_velip_auth_code_is_auth_error_and_429_has_retry_after() -> None:
    def auth(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            401, json={"return": {"status": "Invalid token", "status_code": "101", "cd_id": "0"}}
        )

    with pytest.raises(AuthError, match="Invalid token"):
        await collect(make("velip", auth, {"tsid": "bad"}, campaign=1))

    def limited(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            429,
            headers={"Retry-After": "42"},
            json={"return": {"status": "Rate limit exceeded: 200/hour", "status_code": "429"}},
        )

    with pytest.raises(RateLimited) as info:
        await collect(make("velip", limited, {"tsid": "t"}, campaign=1))
    assert info.value.retry_after == 42 and "Rate limit exceeded" in info.value.message


# -- Vobiz ----------------------------------------------------------------------------------------------------


async def test_vobiz_headers_live_calls_and_cdr_pages() -> None:
    cdr = json.loads((DATA / "vobiz_cdr.json").read_text())["data"]
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["x-auth-id"] == "MA_1" and request.headers["x-auth-token"] == "secret"
        paths.append(request.url.path + "?" + request.url.query.decode())
        path = request.url.path
        if path == "/base/Account/MA_1/Call/":
            state = request.url.params["status"]
            return httpx.Response(200, json={"api_id": "x", "calls": ["live-1"] if state == "live" else []})
        if path == "/base/Account/MA_1/Call/live-1/":
            return httpx.Response(200, json={"call_status": "in-progress", "call_uuid": "live-1"})
        if path == "/base/Account/MA_1/cdr":
            assert request.url.params["start_date"] == request.url.params["end_date"] == "2026-03-25"
            assert request.url.params["per_page"] == "100"
            page = int(request.url.params["page"])
            rows = [dict(cdr, uuid=f"p{page}-{i}") for i in range(100 if page < 3 else 7)]
            return httpx.Response(
                200,
                json={
                    "data": rows,
                    "success": True,
                    "pagination": {
                        "page": page,
                        "per_page": 100,
                        "total": 207,
                        "pages": 3,
                        "has_next": page < 3,
                        "has_prev": page > 1,
                    },
                },
            )
        raise AssertionError(path)

    calls = await collect(make("vobiz", handler, {"auth_token": "secret"}, auth_id="MA_1", date="2026-03-25"))
    assert calls[0].call_id == "live-1" and calls[0].status is Status.IN_PROGRESS
    assert len(calls) == 1 + 207
    assert sum("/cdr?" in p for p in paths) == 3


async def test_today_is_the_session_clocks_day_in_the_providers_zone() -> None:
    """Not the machine's: a session on a frozen or simulated clock watches its own day. The snapshot tests,
    frozen on 2026-11-23, once failed whenever the machine's day in India was another (from 18:30 UTC on)."""
    days: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        days.append((request.url.params["start_date"], request.url.params["end_date"]))
        return httpx.Response(200, json={"data": [], "pagination": {"has_next": False}})

    source = Source(
        name="s", provider="vobiz", options={"auth_id": "MA_1", "live": False}, base_url="https://x"
    )
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    evening = datetime(2026, 1, 5, 20, 0, tzinfo=UTC).timestamp()  # 01:30 on the 6th in Kolkata
    adapter = ADAPTERS["vobiz"](source, {"auth_token": "t"}, client, now=lambda: evening)
    assert adapter.watch_date() == date(2026, 1, 6)
    await collect(adapter)
    assert days == [("2026-01-05", "2026-01-06")]  # an hour and a half into the 6th: the 5th's last calls too
    # The engine hands its adapters the store's clock, the one the session records times by.
    worker = SourceWorker(source, {"auth_token": "t"}, client, CallStore(lambda: evening))
    assert worker.adapter.watch_date() == date(2026, 1, 6)


async def test_vobiz_get_call_404_everywhere_is_not_found_yet() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            404,
            json={
                "status": "error",
                "error": {"code": "NOT_FOUND", "message": "CDR not found", "details": None},
                "timestamp": "t",
                "requestId": "r",
            },
        )

    adapter = make("vobiz", handler, {"auth_token": "s"}, auth_id="MA_1")
    with pytest.raises(NotFoundYet):
        await adapter.get_call("u1")


# -- error mapping shared by all ------------------------------------------------------------------------------

SECRETS: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
    "dialgood": ({"api_token": "t"}, {"campaigns": ["c"]}),
    "dialgen": ({"api_key": "t"}, {"batches": ["b"]}),
    "cloudagent": ({"api_key": "t"}, {"user_name": "u"}),
    "velip": ({"tsid": "t"}, {"campaign": 1}),
    "vobiz": ({"auth_token": "t"}, {"auth_id": "MA", "live": False}),
}


@pytest.mark.parametrize("provider", sorted(SECRETS))
@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(401, json={"message": "bad key"}), AuthError),
        (httpx.Response(429, headers={"Retry-After": "7"}, json={"message": "slow down"}), RateLimited),
        (httpx.Response(500, json={"message": "boom"}), ServerError),
        (httpx.Response(503, text=""), ServerError),
        (httpx.Response(200, text="{not json"), BadResponse),
        (httpx.Response(200, text=""), BadResponse),
        (httpx.Response(200, json=["not", "an", "object"]), BadResponse),
    ],
)
async def test_typed_errors(provider: str, response: httpx.Response, error: type[Exception]) -> None:
    secrets, options = SECRETS[provider]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("generateToken"):
            return httpx.Response(200, json={"token": "tk"})
        return httpx.Response(response.status_code, headers=response.headers, content=response.content)

    adapter = make(provider, handler, secrets, **options)
    if provider == "dialgood" and error is not AuthError:
        # Dialgood's list is made of single lookups; exercise the same path through get_call.
        with pytest.raises(error) as info:
            await adapter.get_call("c")
    else:
        with pytest.raises(error) as info:
            await collect(adapter)
    if error is RateLimited:
        assert isinstance(info.value, RateLimited) and info.value.retry_after == 7


async def test_network_failure_is_typed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(NetworkError, match="connection refused"):
        await collect(make("dialgen", handler, {"api_key": "k"}, batches=["b"]))
