"""Dialgood in the simulator: one call per campaign, its CDR once written, a live transcript before."""

from __future__ import annotations

import random
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from callmon.model import Status
from callmon.simulator.app import Simulator
from callmon.simulator.formats import digest, iso_ms
from callmon.simulator.provider import Guarded, SimProvider, json_response
from callmon.simulator.scenario import CallPlan, Clock, Scenario

_RAW = {
    Status.COMPLETED: ("completed", "success", "200", "OK"),
    Status.NO_ANSWER: ("no-answer", "no answer", "480", "Temporarily Unavailable"),
    Status.BUSY: ("failed", "busy", "486", "Busy Here"),
    Status.FAILED: ("failed", "failed", "503", "Service Unavailable"),
    Status.CANCELED: ("failed", "cancelled", "487", "Request Terminated"),
}


def _conversation(plan: CallPlan) -> str:
    """The id Dialgood gives the call's conversation: the same in its live lookup and its CDR."""
    return "conv_" + digest(plan, "conv")[:10].upper()


def cdr(plan: CallPlan, clock: Clock) -> dict[str, Any]:
    status, raw, sip, reason = _RAW[plan.outcome]
    conversation = _conversation(plan)
    return {
        "campaignId": plan.call_id,
        "conversationId": conversation,
        "callId": conversation,
        "status": status,
        "rawStatus": raw,
        "callDuration": plan.total_seconds,
        "actualDuration": plan.talk_seconds,
        "direction": "outbound",
        "from": plan.from_,
        "to": plan.to,
        "sip_status": sip,
        "sip_reason": reason,
        "timestamp": iso_ms(clock.utc(plan.ended)),
        "data": {
            "callStatus": raw,
            "callDuration": plan.total_seconds,
            "actualDuration": plan.talk_seconds,
            "direction": "outbound",
        },
    }


def live(plan: CallPlan, t: float) -> dict[str, Any]:
    lines = plan.transcript_at(t)
    talking = plan.answered is not None and t >= plan.answered
    return {
        "campaignId": plan.call_id,
        "conversationId": _conversation(plan),
        "status": "available" if talking else "pending",
        "transcript": "\n".join(f"{role}: {text}" for role, text in lines),
        "entries": [{"role": role.lower(), "text": text} for role, text in lines],
    }


class Dialgood(SimProvider):
    name = "dialgood"
    prefix = "/dialgood"
    secrets = {"api_token": "sim-dialgood-token"}
    has_transcript = True
    campaign_per_call = True

    def call_id(self, index: int, rng: random.Random) -> str:
        return f"camp_{rng.getrandbits(32):08x}"

    def campaign(self, n: int) -> str:
        return f"dg-outreach-{n}"

    def phone(self, rng: random.Random) -> str:
        return f"+1415555{rng.randint(1000, 9999)}"

    def cdr_delay(self, rng: random.Random) -> float:
        return rng.uniform(0.5, 4)

    def source_options(self, scenario: Scenario) -> dict[str, Any]:
        # Dialgood is watched by campaign id, and each of its campaigns is one call.
        return {"campaigns": [p.call_id for p in scenario.plans if p.provider == self.name]}

    def auth_error(self) -> Response:
        return json_response({"error": "Invalid or expired api_token"}, 401)

    def routes(self, sim: Simulator, guarded: Guarded) -> list[BaseRoute]:
        scenario = sim.scenario

        def authed(request: Request) -> bool:
            token = request.headers.get("api_token") or request.query_params.get("api_token")
            return token == self.secrets["api_token"]

        async def cdr_route(request: Request) -> Response:
            def handle() -> Response:
                plan = scenario.find(self.name, request.path_params["campaign_id"])
                t = scenario.now()
                if plan is None or plan.status_at(t) is None:
                    return json_response({"error": "Campaign not found"}, 404)
                if not plan.cdr_ready(t):
                    return json_response({"error": "CDR not found for this campaign yet"}, 404)
                return json_response(cdr(plan, scenario.clock))

            return await guarded(request, "cdr", authed(request), handle)

        async def live_route(request: Request) -> Response:
            def handle() -> Response:
                plan = scenario.find(self.name, request.path_params["campaign_id"])
                t = scenario.now()
                if plan is None or plan.status_at(t) is None:
                    return json_response({"error": "Campaign not found"}, 404)
                return json_response(live(plan, t))

            return await guarded(request, "transcript", authed(request), handle)

        return [
            Route("/external/v1/cdr/{campaign_id}", cdr_route),
            Route("/external/v1/live-transcript/{campaign_id}", live_route),
        ]
