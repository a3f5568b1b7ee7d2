"""The simulator's ASGI app: the five providers' endpoints, each under its own prefix, with faults and limits.

/dialgood/external/v1/...            /dialgen/api/v1/...           /cloudagent/ca_apis/..., /ca_reports/...
/velip/api/v2/GetCallStatus.php      /vobiz/api/v1/Account/{auth_id}/... (and /account/)
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from callmon.model import Status
from callmon.simulator import wire
from callmon.simulator.faults import Dice, Faults, RateLimiter
from callmon.simulator.scenario import PROVIDERS, CallPlan, Scenario

DEMO_SECRETS: dict[str, dict[str, str]] = {
    "dialgood": {"api_token": "sim-dialgood-token"},
    "dialgen": {"api_key": "sim-dialgen-key"},
    "cloudagent": {"api_key": "sim-cloudagent-key"},
    "velip": {"tsid": "sim-velip-tsid"},
    "vobiz": {"auth_token": "sim-vobiz-token"},
}
VOBIZ_AUTH_ID = "MA_SIM00001"
CLOUDAGENT_USER = "acme_sim"
TOKEN_LIFETIME = 3600.0
VELIP_BLOCK = (20, 600.0)  # auth failures, seconds: then the client's IP is blocked

Handler = Callable[[], Awaitable[Response] | Response]


@dataclass(frozen=True, slots=True)
class Hit:
    at: float  # time.monotonic()
    provider: str
    kind: str
    status: int
    path: str


@dataclass
class Simulator:
    scenario: Scenario
    faults: dict[str, Faults] = field(default_factory=lambda: {p: Faults() for p in PROVIDERS})
    limiter: RateLimiter = field(default_factory=RateLimiter)
    dice: Dice = field(default_factory=Dice)
    hits: deque[Hit] = field(default_factory=lambda: deque(maxlen=200_000))
    tokens: dict[str, float] = field(default_factory=dict)
    auth_failures: dict[str, deque[float]] = field(default_factory=dict)
    pushes: dict[str, str] = field(default_factory=dict)  # provider -> webhook URL
    pushed: int = 0
    _dial_status: asyncio.Queue[tuple[str, str]] = field(default_factory=asyncio.Queue)

    async def run_pushes(self, client: httpx.AsyncClient, period: float = 0.2) -> None:
        """POST each provider's webhook as the scenario clock passes a call's transitions, and deliver
        requested Campaign Dial Status data, until cancelled."""
        last = self.scenario.now()
        while True:
            await asyncio.sleep(period)
            now = self.scenario.now()
            for plan in self.scenario.plans:
                url = self.pushes.get(plan.provider)
                if url is None or plan.queued > now:
                    continue
                for body, as_form in _push_events(plan, self.scenario.clock, last, now):
                    await self._post(client, url, body, as_form)
            last = now
            while not self._dial_status.empty():
                campaign, url = self._dial_status.get_nowait()
                rows = [
                    wire.cloudagent_row(p, self.scenario.clock)
                    for p in self.scenario.visible("cloudagent", now)
                    if p.campaign == campaign and p.ended <= now
                ]
                await self._post(client, url, {"campaignName": campaign, "data": rows}, False)

    async def _post(self, client: httpx.AsyncClient, url: str, body: Any, as_form: bool) -> None:
        try:
            if as_form:
                await client.post(url, data=body, timeout=10)
            else:
                await client.post(url, json=body, timeout=10)
            self.pushed += 1
        except httpx.HTTPError:
            pass  # a receiver that is down misses the push, as with the real providers

    def count(self, provider: str | None = None, kind: str | None = None) -> int:
        return sum(
            1
            for h in self.hits
            if (provider is None or h.provider == provider) and (kind is None or h.kind == kind)
        )


def _push_events(plan: CallPlan, clock: Any, after: float, until: float) -> list[tuple[Any, bool]]:
    """(body, form-encoded?) of each webhook this call causes in (after, until]. Only those are built:
    this runs for every call five times a second."""
    if plan.provider == "cloudagent":
        actions = [("Calling", plan.dialed), ("Answered", plan.answered), ("Disconnect", plan.ended)]
        return [
            (wire.cloudagent_event(plan, action, at, clock), False)
            for action, at in actions
            if at is not None and after < at <= until
        ]
    if not after < plan.ended <= until:
        return []
    if plan.provider == "dialgen":
        return [(wire.dialgen_webhook(plan, clock), False)]
    if plan.provider == "velip":
        return [(wire.velip_webhook(plan, clock), True)]
    if plan.provider == "vobiz":
        return [(wire.vobiz_hangup(plan, clock), True)]
    return []


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


# -- each provider's error bodies -----------------------------------------------------------------------------


def _auth_error(provider: str) -> Response:
    if provider == "dialgood":
        return _json({"error": "Invalid or expired api_token"}, 401)
    if provider == "dialgen":
        return _json({"error": "UNAUTHORIZED", "message": "Invalid API key"}, 401)
    if provider == "cloudagent":
        return _json({"status": "error", "message": "Authentication failed", "uniqueId": ""})
    if provider == "velip":
        return _json({"return": {"status": "Invalid token", "status_code": "101", "cd_id": "0"}}, 401)
    return _vobiz_error(401, "UNAUTHORIZED", "Invalid auth credentials")


def _rate_limited(provider: str, wait: float) -> Response:
    headers = {"Retry-After": str(max(1, round(wait + 0.5)))}
    if provider == "velip":
        body: Any = {"return": {"status": "Rate limit exceeded: 200 requests/hour", "status_code": "429"}}
    elif provider == "cloudagent":
        body = {"status": "error", "message": "Rate limit exceeded, try after some time", "uniqueId": ""}
    elif provider == "vobiz":
        return _vobiz_error(429, "RATE_LIMITED", "Rate limit exceeded", headers)
    else:
        body = {"error": "RATE_LIMITED", "message": "Too many requests"}
    return _json(body, 429, headers)


def _server_error(provider: str) -> Response:
    if provider == "vobiz":
        return _vobiz_error(500, "INTERNAL_ERROR", "Internal server error")
    if provider == "velip":
        return _json({"return": {"status": "Internal error", "status_code": "500"}}, 500)
    return _json({"error": "INTERNAL_ERROR", "message": "Internal server error"}, 500)


def _vobiz_error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return _json(
        {
            "status": "error",
            "error": {"code": code, "message": message, "details": None},
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "requestId": secrets.token_hex(8),
        },
        status,
        headers,
    )


# -- the app --------------------------------------------------------------------------------------------------


def build_app(sim: Simulator) -> Starlette:
    scenario = sim.scenario
    clock = scenario.clock

    async def guarded(
        request: Request, provider: str, kind: str, authed: bool, handler: Handler, who: str = "key"
    ) -> Response:
        faults = sim.faults[provider]
        client = request.client.host if request.client else "?"
        response = await _guard(request, provider, kind, authed, handler, who, faults, client)
        sim.hits.append(Hit(time.monotonic(), provider, kind, response.status_code, request.url.path))
        return response

    async def _guard(
        request: Request,
        provider: str,
        kind: str,
        authed: bool,
        handler: Handler,
        who: str,
        faults: Faults,
        client: str,
    ) -> Response:
        if faults.slow:
            await asyncio.sleep(faults.slow)
        if provider == "velip" and _blocked(client):
            return _json(
                {"return": {"status": "IP blocked after repeated auth failures", "status_code": "199"}}, 403
            )
        if not authed or faults.auth:
            if provider == "velip":
                sim.auth_failures.setdefault(client, deque()).append(time.monotonic())
            return _auth_error(provider)
        if faults.ratelimit:
            wait = sim.limiter.hit(provider, kind, who)
            if wait is not None:
                return _rate_limited(provider, wait)
        if sim.dice.roll(faults.error_rate):
            return _server_error(provider)
        result = handler()
        response = await result if asyncio.iscoroutine(result) else result
        assert isinstance(response, Response)
        if sim.dice.roll(faults.malformed_rate) and response.status_code == 200:
            body = bytes(response.body)
            return Response(body[: max(1, len(body) // 2)], media_type="application/json")
        return response

    def _blocked(client: str) -> bool:
        window = sim.auth_failures.get(client)
        if not window:
            return False
        count, per = VELIP_BLOCK
        now = time.monotonic()
        while window and window[0] < now - per:
            window.popleft()
        return len(window) >= count

    # -- Dialgood ---------------------------------------------------------------------------------------------

    def dialgood_authed(request: Request) -> bool:
        token = request.headers.get("api_token") or request.query_params.get("api_token")
        return token == DEMO_SECRETS["dialgood"]["api_token"]

    async def dialgood_cdr(request: Request) -> Response:
        def handle() -> Response:
            plan = scenario.find("dialgood", request.path_params["campaign_id"])
            t = scenario.now()
            if plan is None or plan.status_at(t) is None:
                return _json({"error": "Campaign not found"}, 404)
            if not plan.cdr_ready(t):
                return _json({"error": "CDR not found for this campaign yet"}, 404)
            return _json(wire.dialgood_cdr(plan, clock))

        return await guarded(request, "dialgood", "cdr", dialgood_authed(request), handle)

    async def dialgood_live(request: Request) -> Response:
        def handle() -> Response:
            plan = scenario.find("dialgood", request.path_params["campaign_id"])
            t = scenario.now()
            if plan is None or plan.status_at(t) is None:
                return _json({"error": "Campaign not found"}, 404)
            return _json(wire.dialgood_live(plan, t))

        return await guarded(request, "dialgood", "transcript", dialgood_authed(request), handle)

    # -- Dialgen ----------------------------------------------------------------------------------------------

    def dialgen_authed(request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {DEMO_SECRETS['dialgen']['api_key']}"

    def _dialgen_call(request: Request) -> tuple[CallPlan | None, Response | None]:
        call_id = request.query_params.get("callId")
        if not call_id:
            return None, _json({"error": "BAD_REQUEST", "message": "callId is required"}, 400)
        plan = scenario.find("dialgen", call_id)
        if plan is None or plan.status_at(scenario.now()) is None:
            return None, _json({"error": "NOT_FOUND", "message": "Call not found"}, 404)
        return plan, None

    async def dialgen_status_call(request: Request) -> Response:
        def handle() -> Response:
            plan, error = _dialgen_call(request)
            return error or _json(wire.dialgen_status(plan, scenario.now(), clock))  # type: ignore[arg-type]

        return await guarded(request, "dialgen", "call", dialgen_authed(request), handle)

    async def dialgen_check_status(request: Request) -> Response:
        def handle() -> Response:
            plan, error = _dialgen_call(request)
            return error or _json(wire.dialgen_persistent(plan, scenario.now(), clock))  # type: ignore[arg-type]

        return await guarded(request, "dialgen", "call", dialgen_authed(request), handle)

    async def dialgen_batch(request: Request) -> Response:
        def handle() -> Response:
            batch = request.query_params.get("batchId")
            if not batch:
                return _json({"error": "BAD_REQUEST", "message": "batchId is required"}, 400)
            if batch not in scenario.campaigns("dialgen"):
                return _json({"error": "NOT_FOUND", "message": "Batch not found"}, 404)
            t = scenario.now()
            rows = [
                wire.dialgen_status(p, t, clock, batch=True)
                for p in scenario.visible("dialgen", t)
                if p.campaign == batch
            ]
            return _json({"batchId": batch, "calls": rows})

        return await guarded(request, "dialgen", "batch", dialgen_authed(request), handle)

    async def dialgen_batch_stats(request: Request) -> Response:
        def handle() -> Response:
            batch = request.query_params.get("batchId")
            if batch not in scenario.campaigns("dialgen"):
                return _json({"error": "NOT_FOUND", "message": "Batch not found"}, 404)
            t = scenario.now()
            counts: dict[str, int] = {}
            for plan in scenario.visible("dialgen", t):
                if plan.campaign == batch:
                    state, _ = wire._dialgen_state(plan, t)
                    counts[state] = counts.get(state, 0) + 1
            total = sum(1 for p in scenario.plans if p.provider == "dialgen" and p.campaign == batch)
            return _json(
                {"success": True, "data": {"batchId": batch, "totalCalls": total, "statusCounts": counts}}
            )

        return await guarded(request, "dialgen", "batch", dialgen_authed(request), handle)

    async def dialgen_batch_list(request: Request) -> Response:
        def handle() -> Response:
            batches = [{"batchId": b, "name": b.replace("_", " ")} for b in scenario.campaigns("dialgen")]
            return _json({"success": True, "data": batches})

        return await guarded(request, "dialgen", "batch", dialgen_authed(request), handle)

    # -- CloudAgent -------------------------------------------------------------------------------------------

    async def cloudagent_token(request: Request) -> Response:
        body = await _body(request)

        def handle() -> Response:
            if body.get("userName") != CLOUDAGENT_USER:
                return _json({"status": "error", "message": "userName is invalid", "uniqueId": ""})
            token = secrets.token_urlsafe(24)
            sim.tokens[token] = time.monotonic() + TOKEN_LIFETIME
            return _json({"status": "success", "token": token})

        authed = request.headers.get("apiKey") == DEMO_SECRETS["cloudagent"]["api_key"]
        return await guarded(request, "cloudagent", "token", authed, handle)

    async def cloudagent_cdr(request: Request) -> Response:
        body = await _body(request)
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        expiry = sim.tokens.get(bearer)

        def handle() -> Response:
            if expiry is not None and expiry < time.monotonic():
                return _json({"status": "false", "message": "Token Expired"})
            if body.get("userName") != CLOUDAGENT_USER:
                return _json({"status": "fail", "message": "userName is invalid"})
            try:
                page = int(request.query_params.get("pageNo", "1"))
                size = int(request.query_params.get("pageSize", "100"))
                start = datetime.strptime(str(body.get("fromDate")), "%Y-%m-%d %H:%M:%S")
                end = datetime.strptime(str(body.get("toDate")), "%Y-%m-%d %H:%M:%S")
            except (TypeError, ValueError):
                return _json({"status": "fail", "message": "fromDate/toDate must be YYYY-MM-DD HH:MM:SS"})
            if page < 1 or not 1 <= size <= 500:
                return _json({"status": "fail", "message": "pageSize must be between 1 and 500"})
            if start.date() != end.date():
                return _json({"status": "fail", "message": "Only one day of data can be fetched per request"})
            today = datetime.now(UTC).astimezone(wire.IST).date()
            if start.date() < today - timedelta(days=15):
                return _json({"status": "fail", "message": "Data is available only for the last 15 days"})
            begin, finish = wire.day_bounds(start.date().isoformat(), wire.IST, clock)
            campaign, ucid = body.get("campaignName"), body.get("ucid")
            if campaign and campaign not in scenario.campaigns("cloudagent"):
                return _json({"status": "fail", "message": "campaignName is invalid"})
            t = scenario.now()
            rows = sorted(
                (
                    p
                    for p in scenario.visible("cloudagent", t)
                    if p.ended <= t
                    and begin <= p.dialed < finish
                    and (not campaign or p.campaign == campaign)
                    and (not ucid or p.call_id == str(ucid))
                ),
                key=lambda p: (p.ended, p.call_id),
            )
            chunk = rows[(page - 1) * size : page * size]
            return _json(
                {
                    "status": "success",
                    "totalCount": len(rows),
                    "details": [wire.cloudagent_row(p, clock) for p in chunk],
                }
            )

        return await guarded(request, "cloudagent", "cdr", expiry is not None, handle, who=CLOUDAGENT_USER)

    async def cloudagent_dial_status(request: Request) -> Response:
        body = await _body(request)

        def handle() -> Response:
            if body.get("userName") != CLOUDAGENT_USER:
                return _json({"status": "error", "message": "userName is invalid", "uniqueId": ""})
            campaign = body.get("campaignName")
            if campaign not in scenario.campaigns("cloudagent"):
                return _json({"status": "error", "message": "campaignName is invalid", "uniqueId": ""})
            url = body.get("callBackUrl")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                return _json({"status": "error", "message": "callBackUrl cannot be empty (OR) it should contain \u2018\u2019 or '",
                              "uniqueId": ""})  # fmt: skip
            sim._dial_status.put_nowait((campaign, url))
            return _json({"status": "success", "message": "Data will be posted to the callBackUrl",
                          "uniqueId": secrets.token_hex(8)})  # fmt: skip

        authed = body.get("apiKey") == DEMO_SECRETS["cloudagent"]["api_key"]
        return await guarded(request, "cloudagent", "dial_status", authed, handle, who=CLOUDAGENT_USER)

    # -- Velip ------------------------------------------------------------------------------------------------

    async def velip_status(request: Request) -> Response:
        params: dict[str, Any] = dict(request.query_params)
        params.update(await _body(request))
        auth = request.headers.get("authorization", "")
        tsid = params.get("tsid") or (auth[7:] if auth.startswith("Bearer ") else None)
        single = bool(params.get("cd_id") or params.get("ctid"))

        def handle() -> Response:
            t = scenario.now()
            ok = {"status": "OK", "status_code": "0"}
            if params.get("cd_id"):
                plan = scenario.find("velip", str(params["cd_id"]))
                calls = [wire.velip_record(plan, t, clock)] if plan and plan.status_at(t) is not None else []
                return _json({"return": ok, "calls": calls})
            try:
                maxreg = int(params.get("maxreg", 1000))
                last_id = int(params["last_id"]) if params.get("last_id") not in (None, "") else None
                cp_id = int(params["cp_id"]) if params.get("cp_id") not in (None, "") else None
            except (TypeError, ValueError):
                return _json({"return": {"status": "OK", "status_code": "0"}, "calls": []})
            capped = maxreg > 5000 or maxreg < 0
            maxreg = 5000 if capped else max(1, maxreg)
            cpid = params.get("cpid")
            day_start = params.get("date_start") or params.get("dini")
            day_end = params.get("date_end") or params.get("dend") or day_start
            plans = [
                p
                for p in scenario.visible("velip", t)
                if (cp_id is None or wire.VELIP_CAMPAIGN_IDS.get(p.campaign) == cp_id)
                and (not cpid or p.campaign == cpid)
                and (params.get("ctid") in (None, "") or f"row-{p.index}" == params.get("ctid"))
            ]
            records = [wire.velip_record(p, t, clock) for p in plans]
            if day_start:
                records = [r for r in records if str(day_start) <= r["date"] <= str(day_end)]
            records.sort(key=lambda r: -int(r["cd_id"].split("_")[1]))
            if last_id is not None:
                records = [r for r in records if int(r["cd_id"].split("_")[1]) <= last_id]
            page, more = records[:maxreg], records[maxreg : maxreg + 1]
            pagination: dict[str, Any] = {
                "has_more": bool(more),
                "next_id": int(more[0]["cd_id"].split("_")[1]) if more else None,
            }
            if capped:
                pagination["maxreg_capped"] = True
            return _json({"return": {**ok, "pagination": pagination}, "calls": page})

        kind = "call" if single else "list"
        return await guarded(request, "velip", kind, tsid == DEMO_SECRETS["velip"]["tsid"], handle)

    # -- Vobiz ------------------------------------------------------------------------------------------------

    def vobiz_authed(request: Request) -> bool:
        return (
            request.path_params.get("auth_id") == VOBIZ_AUTH_ID
            and request.headers.get("x-auth-id") == VOBIZ_AUTH_ID
            and request.headers.get("x-auth-token") == DEMO_SECRETS["vobiz"]["auth_token"]
        )

    async def vobiz_cdr_list(request: Request) -> Response:
        def handle() -> Response:
            q = request.query_params
            start, end = q.get("start_date"), q.get("end_date")
            if bool(start) != bool(end):
                return _vobiz_error(400, "VALIDATION_ERROR", "start_date and end_date must be given together")
            try:
                page = int(q.get("page", "1"))
                per_page = int(q.get("per_page", "20"))
            except ValueError:
                return _vobiz_error(400, "VALIDATION_ERROR", "page and per_page must be integers")
            if page < 1 or not 1 <= per_page <= 100:
                return _vobiz_error(400, "VALIDATION_ERROR", "per_page must be between 1 and 100")
            t = scenario.now()
            plans = [p for p in scenario.visible("vobiz", t) if p.cdr_ready(t)]
            if start and end:
                try:
                    begin, _ = wire.day_bounds(start, wire.IST, clock)
                    _, finish = wire.day_bounds(end, wire.IST, clock)
                except ValueError:
                    return _vobiz_error(400, "VALIDATION_ERROR", "dates must be YYYY-MM-DD")
                plans = [p for p in plans if begin <= p.dialed < finish]
            if q.get("to_number"):
                plans = [p for p in plans if p.to == q["to_number"]]
            if q.get("from_number"):
                plans = [p for p in plans if p.from_ == q["from_number"]]
            plans.sort(key=lambda p: (p.ended + p.cdr_delay, p.call_id))
            total = len(plans)
            pages = max(1, -(-total // per_page))
            chunk = plans[(page - 1) * per_page : page * per_page]
            return _json(
                {
                    "data": [wire.vobiz_cdr(p, clock, VOBIZ_AUTH_ID) for p in chunk],
                    "pagination": {
                        "page": page,
                        "per_page": per_page,
                        "total": total,
                        "pages": pages,
                        "has_next": page < pages,
                        "has_prev": page > 1,
                    },
                    "summary": {
                        "total_calls": total,
                        "total_duration": sum(p.total_seconds for p in plans),
                        "total_cost": round(sum(p.cost for p in plans), 2),
                    },
                    "success": True,
                }
            )

        return await guarded(request, "vobiz", "default", vobiz_authed(request), handle)

    async def vobiz_cdr_one(request: Request) -> Response:
        def handle() -> Response:
            plan = scenario.find("vobiz", request.path_params["uuid"])
            t = scenario.now()
            if plan is None or plan.status_at(t) is None or not plan.cdr_ready(t):
                return _vobiz_error(404, "NOT_FOUND", "CDR not found")
            return _json({"data": wire.vobiz_cdr(plan, clock, VOBIZ_AUTH_ID), "success": True})

        return await guarded(request, "vobiz", "default", vobiz_authed(request), handle)

    async def vobiz_calls(request: Request) -> Response:
        def handle() -> Response:
            state = request.query_params.get("status", "live")
            t = scenario.now()
            wanted = {Status.QUEUED} if state == "queued" else {Status.RINGING, Status.IN_PROGRESS}
            uuids = [p.call_id for p in scenario.visible("vobiz", t) if p.status_at(t) in wanted]
            if state == "queued":
                uuids = uuids[:20]
            return _json({"api_id": secrets.token_hex(8), "calls": uuids})

        return await guarded(request, "vobiz", "default", vobiz_authed(request), handle)

    async def vobiz_call(request: Request) -> Response:
        def handle() -> Response:
            state = request.query_params.get("status", "live")
            plan = scenario.find("vobiz", request.path_params["uuid"])
            t = scenario.now()
            status = plan.status_at(t) if plan else None
            if plan is not None and state == "queued" and status is Status.QUEUED:
                return _json(wire.vobiz_queued(plan, clock))
            if plan is not None and state != "queued" and status in (Status.RINGING, Status.IN_PROGRESS):
                return _json(wire.vobiz_live(plan, t, clock))
            return _vobiz_error(404, "NOT_FOUND", f"No {state} call with this uuid")

        return await guarded(request, "vobiz", "default", vobiz_authed(request), handle)

    vobiz_routes = [
        Route("/cdr", vobiz_cdr_list),
        Route("/cdr/", vobiz_cdr_list),
        Route("/cdr/{uuid}", vobiz_cdr_one),
        Route("/Call", vobiz_calls),
        Route("/Call/", vobiz_calls),
        Route("/Call/{uuid}", vobiz_call),
        Route("/Call/{uuid}/", vobiz_call),
    ]
    routes = [
        Mount(
            "/dialgood/external/v1",
            routes=[
                Route("/cdr/{campaign_id}", dialgood_cdr),
                Route("/live-transcript/{campaign_id}", dialgood_live),
            ],
        ),
        Mount(
            "/dialgen/api/v1",
            routes=[
                Route("/status/call", dialgen_status_call),
                Route("/status/batch", dialgen_batch),
                Route("/call/check-status", dialgen_check_status),
                Route("/batch/check-status", dialgen_batch_stats),
                Route("/batch/list", dialgen_batch_list),
            ],
        ),
        Route("/cloudagent/ca_apis/CAToken/generateToken", cloudagent_token, methods=["POST"]),
        Route("/cloudagent/ca_reports/fetchCdrByPagination", cloudagent_cdr, methods=["GET", "POST"]),
        Route("/cloudagent/ca_apis/campaignDialStatus", cloudagent_dial_status, methods=["POST"]),
        Route("/velip/api/v2/GetCallStatus.php", velip_status, methods=["GET", "POST"]),
        Mount("/vobiz/api/v1/Account/{auth_id}", routes=vobiz_routes),
        Mount("/vobiz/api/v1/account/{auth_id}", routes=vobiz_routes),
    ]
    app = Starlette(routes=routes)
    app.state.simulator = sim
    return app


async def _body(request: Request) -> dict[str, Any]:
    """A JSON or form body; anything unreadable is an empty body (the handler then says what's missing)."""
    raw = await request.body()
    if not raw:
        return {}
    content_type = request.headers.get("content-type", "")
    if "json" in content_type or raw.lstrip()[:1] in (b"{", b"["):
        try:
            value = json.loads(raw)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}
    return dict(parse_qsl(raw.decode("utf-8", "replace")))
