"""Vobiz in the simulator: CDRs once written (listed by IST day, or one by uuid), live and queued calls,
hangup callbacks."""

from __future__ import annotations

import random
import secrets
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from callmon.model import Status
from callmon.simulator.app import Simulator
from callmon.simulator.formats import day_bounds, digest, iso_s
from callmon.simulator.provider import Guarded, Push, SimProvider, json_response
from callmon.simulator.scenario import CallPlan, Clock, Scenario

IST = ZoneInfo("Asia/Kolkata")
AUTH_ID = "MA_SIM00001"

_ENDED = {
    Status.COMPLETED: (4000, "NORMAL_CLEARING", "Normal Hangup"),
    Status.NO_ANSWER: (3000, "NO_ANSWER", "No Answer"),
    Status.BUSY: (3010, "USER_BUSY", "User Busy"),
    Status.CANCELED: (1000, "ORIGINATOR_CANCEL", "Originator Cancel"),
}
_FAILED = (
    (3020, "CALL_REJECTED", "Call Rejected"),
    (5010, "SERVICE_UNAVAILABLE", "Service Unavailable"),
)
_CALL_STATUS = {
    Status.COMPLETED: "completed",
    Status.NO_ANSWER: "no-answer",
    Status.BUSY: "busy",
    Status.FAILED: "failed",
    Status.CANCELED: "canceled",
}


def _hangup_cause(plan: CallPlan) -> tuple[int, str, str]:
    return _ENDED.get(plan.outcome) or _FAILED[plan.index % 2]


def cdr(plan: CallPlan, clock: Clock, auth_id: str) -> dict[str, Any]:
    code, cause, name = _hangup_cause(plan)
    answered = plan.answered is not None
    cost = plan.cost
    return {
        "account_id": auth_id,
        "answer_time": iso_s(clock.utc(plan.answered)) if plan.answered is not None else None,
        "billsec": plan.talk_seconds,
        "bridge_uuid": digest(plan, "bridge")[:32],
        "call_direction": "outbound",
        "caller_id_name": "Acme Collections",
        "caller_id_number": plan.from_,
        "campaign_id": plan.campaign,
        "carrier_ip": "10.0.0.1",
        "codec": "PCMU",
        "context": "voice-api",
        "cost": cost,
        "created_at": iso_s(clock.utc(plan.ended)),
        "currency": "INR",
        "customer_endpoint": None,
        "destination_number": plan.to,
        "duration": plan.total_seconds,
        "end_time": iso_s(clock.utc(plan.ended)),
        "failure_code": None if plan.outcome is not Status.FAILED else str(code),
        "failure_reason": None if plan.outcome is not Status.FAILED else name,
        "hangup_cause": cause,
        "hangup_cause_code": code,
        "hangup_cause_name": name,
        "hangup_disposition": "send_bye" if answered else "recv_cancel",
        "hangup_source": "Callee" if plan.index % 2 else "Caller",
        "id": 18000000 + plan.index,
        "jitter": round((plan.index % 7) * 0.8, 1) if answered else 0,
        "mos": round(4.5 - (plan.index % 5) * 0.2, 1) if answered else 0,
        "network_addr": "10.0.0.1",
        "origination_region": "mumbai",
        "packet_loss": round((plan.index % 4) * 0.1, 1) if answered else 0,
        "progress_time": iso_s(clock.utc(plan.dialed + 0.5)),
        "region": "ap-south-1",
        "ring_time": round((plan.answered or plan.ended) - plan.dialed),
        "sip_call_id": digest(plan, "sip")[:32],
        "sip_user_agent": "Vobiz",
        "start_time": iso_s(clock.utc(plan.dialed)),
        "streaming_cost": 0,
        "terminated_to": None,
        "total_cost": cost,
        "trunk_id": None,
        "updated_at": iso_s(clock.utc(plan.ended + plan.cdr_delay)),
        "uuid": plan.call_id,
    }


def live(plan: CallPlan, t: float, clock: Clock) -> dict[str, Any]:
    status = plan.status_at(t)
    return {
        "api_id": digest(plan, f"api{int(t)}")[:16],
        "call_status": "in-progress" if status is Status.IN_PROGRESS else "ringing",
        "call_uuid": plan.call_id,
        "caller_name": "Acme Collections",
        "direction": "outbound",
        "from": plan.from_,
        "to": plan.to,
        "request_uuid": digest(plan, "req")[:32],
        "session_start": (clock.utc(plan.dialed)).strftime("%Y-%m-%d %H:%M:%S.%f"),
    }


def queued(plan: CallPlan, clock: Clock) -> dict[str, Any]:
    return {
        "api_id": digest(plan, "q")[:16],
        "call_status": "queued",
        "call_uuid": plan.call_id,
        "direction": "outbound",
        "from": plan.from_,
        "to": plan.to,
        "request_uuid": digest(plan, "req")[:32],
    }


def hangup(plan: CallPlan, clock: Clock) -> dict[str, str]:
    """The hangup callback, form-encoded."""
    code, cause, _ = _hangup_cause(plan)
    return {
        "CallUUID": plan.call_id,
        "CallStatus": _CALL_STATUS[plan.outcome],
        "HangupCause": cause,
        "HangupCauseCode": str(code),
        "Duration": str(plan.total_seconds),
        "BillDuration": str(plan.talk_seconds),
        "From": plan.from_,
        "To": plan.to,
        "Direction": "outbound",
        "StartTime": clock.utc(plan.dialed).strftime("%Y-%m-%d %H:%M:%S"),
        "AnswerTime": clock.utc(plan.answered).strftime("%Y-%m-%d %H:%M:%S") if plan.answered else "",
        "EndTime": clock.utc(plan.ended).strftime("%Y-%m-%d %H:%M:%S"),
    }


def error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return json_response(
        {
            "status": "error",
            "error": {"code": code, "message": message, "details": None},
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "requestId": secrets.token_hex(8),
        },
        status,
        headers,
    )


class Vobiz(SimProvider):
    name = "vobiz"
    prefix = "/vobiz/api/v1"
    secrets = {"auth_token": "sim-vobiz-token"}
    limits = {"default": (300, 60.0)}
    pushes = True
    cost_per_min = 0.45

    def call_id(self, index: int, rng: random.Random) -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    def campaign(self, n: int) -> str:
        return f"vz-collections-{n}"

    def phone(self, rng: random.Random) -> str:
        return f"+919{rng.randint(100000000, 999999999)}"

    def cdr_delay(self, rng: random.Random) -> float:
        return rng.uniform(0.5, 4)

    def source_options(self, scenario: Scenario) -> dict[str, Any]:
        return {"auth_id": AUTH_ID}

    def auth_error(self) -> Response:
        return error(401, "UNAUTHORIZED", "Invalid auth credentials")

    def rate_limited(self, headers: Mapping[str, str]) -> Response:
        return error(429, "RATE_LIMITED", "Rate limit exceeded", headers)

    def server_error(self) -> Response:
        return error(500, "INTERNAL_ERROR", "Internal server error")

    def push_events(self, plan: CallPlan, clock: Clock, after: float, until: float) -> list[Push]:
        return [(hangup(plan, clock), True)] if after < plan.ended <= until else []

    def routes(self, sim: Simulator, guarded: Guarded) -> list[BaseRoute]:
        scenario = sim.scenario
        clock = scenario.clock

        def authed(request: Request) -> bool:
            return (
                request.path_params.get("auth_id") == AUTH_ID
                and request.headers.get("x-auth-id") == AUTH_ID
                and request.headers.get("x-auth-token") == self.secrets["auth_token"]
            )

        async def cdr_list(request: Request) -> Response:
            def handle() -> Response:
                q = request.query_params
                start, end = q.get("start_date"), q.get("end_date")
                if bool(start) != bool(end):
                    return error(400, "VALIDATION_ERROR", "start_date and end_date must be given together")
                try:
                    page = int(q.get("page", "1"))
                    per_page = int(q.get("per_page", "20"))
                except ValueError:
                    return error(400, "VALIDATION_ERROR", "page and per_page must be integers")
                if page < 1 or not 1 <= per_page <= 100:
                    return error(400, "VALIDATION_ERROR", "per_page must be between 1 and 100")
                t = scenario.now()
                plans = [p for p in scenario.visible(self.name, t) if p.cdr_ready(t)]
                if start and end:
                    try:
                        begin, _ = day_bounds(start, IST, clock)
                        _, finish = day_bounds(end, IST, clock)
                    except ValueError:
                        return error(400, "VALIDATION_ERROR", "dates must be YYYY-MM-DD")
                    plans = [p for p in plans if begin <= p.dialed < finish]
                if q.get("to_number"):
                    plans = [p for p in plans if p.to == q["to_number"]]
                if q.get("from_number"):
                    plans = [p for p in plans if p.from_ == q["from_number"]]
                plans.sort(key=lambda p: (p.ended + p.cdr_delay, p.call_id))
                total = len(plans)
                pages = max(1, -(-total // per_page))
                chunk = plans[(page - 1) * per_page : page * per_page]
                return json_response(
                    {
                        "data": [cdr(p, clock, AUTH_ID) for p in chunk],
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

            return await guarded(request, "default", authed(request), handle)

        async def cdr_one(request: Request) -> Response:
            def handle() -> Response:
                plan = scenario.find(self.name, request.path_params["uuid"])
                t = scenario.now()
                if plan is None or plan.status_at(t) is None or not plan.cdr_ready(t):
                    return error(404, "NOT_FOUND", "CDR not found")
                return json_response({"data": cdr(plan, clock, AUTH_ID), "success": True})

            return await guarded(request, "default", authed(request), handle)

        async def calls(request: Request) -> Response:
            def handle() -> Response:
                state = request.query_params.get("status", "live")
                t = scenario.now()
                wanted = {Status.QUEUED} if state == "queued" else {Status.RINGING, Status.IN_PROGRESS}
                uuids = [p.call_id for p in scenario.visible(self.name, t) if p.status_at(t) in wanted]
                if state == "queued":
                    uuids = uuids[:20]
                return json_response({"api_id": secrets.token_hex(8), "calls": uuids})

            return await guarded(request, "default", authed(request), handle)

        async def call(request: Request) -> Response:
            def handle() -> Response:
                state = request.query_params.get("status", "live")
                plan = scenario.find(self.name, request.path_params["uuid"])
                t = scenario.now()
                status = plan.status_at(t) if plan else None
                if plan is not None and state == "queued" and status is Status.QUEUED:
                    return json_response(queued(plan, clock))
                if plan is not None and state != "queued" and status in (Status.RINGING, Status.IN_PROGRESS):
                    return json_response(live(plan, t, clock))
                return error(404, "NOT_FOUND", f"No {state} call with this uuid")

            return await guarded(request, "default", authed(request), handle)

        account = [
            Route("/cdr", cdr_list),
            Route("/cdr/", cdr_list),
            Route("/cdr/{uuid}", cdr_one),
            Route("/Call", calls),
            Route("/Call/", calls),
            Route("/Call/{uuid}", call),
            Route("/Call/{uuid}/", call),
        ]
        # Vobiz's docs write /Account/ and its sample requests /account/: the simulator answers both.
        return [Mount("/Account/{auth_id}", routes=account), Mount("/account/{auth_id}", routes=account)]
