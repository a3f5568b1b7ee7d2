"""Ozonetel CloudAgent in the simulator: token auth, CDRs of one IST day by page, Campaign Dial Status
callbacks and Subscribe call events."""

from __future__ import annotations

import random
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from callmon.model import Status
from callmon.simulator.app import Simulator, read_body
from callmon.simulator.formats import day_bounds, hms
from callmon.simulator.provider import Guarded, Push, SimProvider, json_response
from callmon.simulator.scenario import CallPlan, Clock, Scenario

IST = ZoneInfo("Asia/Kolkata")
USER_NAME = "acme_sim"
TOKEN_LIFETIME = 3600.0

_ENDED = {
    Status.COMPLETED: ("Answered", "answered", "answered"),
    Status.NO_ANSWER: ("NotAnswered", "NoAnswer", "NoAnswer"),
    Status.BUSY: ("NotAnswered", "Busy", "Busy"),
    Status.FAILED: ("Fail", "Fail", "Fail"),
    Status.CANCELED: ("NotAnswered", "user_disconnected", "user_disconnected"),
}


def _ist(clock: Clock, offset: float) -> str:
    return clock.utc(offset).astimezone(IST).strftime("%Y-%m-%d %H:%M:%S")


def row(plan: CallPlan, clock: Clock) -> dict[str, Any]:
    """The call's CDR row, in fetchCdrByPagination and in Campaign Dial Status deliveries."""
    status, dial, customer = _ENDED[plan.outcome]
    answered = plan.answered is not None
    return {
        "UCID": plan.call_id,
        "CallID": str(int(plan.call_id) % 1000003),
        "CampaignName": plan.campaign,
        "Type": "Progressive",
        "CallerID": plan.from_,
        "DialedNumber": plan.to,
        "StartTime": _ist(clock, plan.dialed),
        "EndTime": _ist(clock, plan.ended),
        "Duration": hms(plan.ended - plan.dialed),
        "TalkTime": hms(plan.talk_seconds),
        "Status": status,
        "DialStatus": dial,
        "CustomerDialStatus": customer,
        "AgentDialStatus": "answered" if answered else "",
        "HangupBy": ("UserHangup" if plan.index % 2 else "AgentHangup") if answered else "System",
        "Disposition": ("Interested" if plan.index % 3 else "Call Back") if answered else "",
        "CallAudio": f"https://recordings.sim/cloudagent/{plan.call_id}.wav" if answered else "",
        "DialCount": 1,
    }


def event(plan: CallPlan, action: str, at: float, clock: Clock) -> dict[str, Any]:
    """A Subscribe call event."""
    return {
        "action": action,
        "ucid": plan.call_id,
        "campaign_name": plan.campaign,
        "phoneNumber": plan.to,
        "did": plan.from_,
        "eventTime": _ist(clock, at),
    }


class CloudAgent(SimProvider):
    name = "cloudagent"
    prefix = "/cloudagent"
    secrets = {"api_key": "sim-cloudagent-key"}
    limits = {"cdr": (2, 60.0), "dial_status": (10, 60.0)}
    pushes = True

    def call_id(self, index: int, rng: random.Random) -> str:
        # UCIDs grow with time; the random part stays under the step, so they never repeat.
        return str(4021600000000000 + index * 7919 + rng.randint(0, 7000))

    def campaign(self, n: int) -> str:
        return f"Renewals{n}"

    def phone(self, rng: random.Random) -> str:
        return f"+919{rng.randint(100000000, 999999999)}"

    def source_options(self, scenario: Scenario) -> dict[str, Any]:
        return {"user_name": USER_NAME}

    def auth_error(self) -> Response:
        return json_response({"status": "error", "message": "Authentication failed", "uniqueId": ""})

    def rate_limited(self, headers: Mapping[str, str]) -> Response:
        body = {"status": "error", "message": "Rate limit exceeded, try after some time", "uniqueId": ""}
        return json_response(body, 429, headers)

    def push_events(self, plan: CallPlan, clock: Clock, after: float, until: float) -> list[Push]:
        actions = (("Calling", plan.dialed), ("Answered", plan.answered), ("Disconnect", plan.ended))
        return [
            (event(plan, action, at, clock), False)
            for action, at in actions
            if at is not None and after < at <= until
        ]

    def routes(self, sim: Simulator, guarded: Guarded) -> list[BaseRoute]:
        scenario = sim.scenario
        clock = scenario.clock

        async def generate_token(request: Request) -> Response:
            body = await read_body(request)

            def handle() -> Response:
                if body.get("userName") != USER_NAME:
                    return _error("userName is invalid")
                token = secrets.token_urlsafe(24)
                sim.tokens[token] = sim.monotonic() + TOKEN_LIFETIME
                return json_response({"status": "success", "token": token})

            authed = request.headers.get("apiKey") == self.secrets["api_key"]
            return await guarded(request, "token", authed, handle)

        async def fetch_cdr(request: Request) -> Response:
            body = await read_body(request)
            bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
            expiry = sim.tokens.get(bearer)

            def handle() -> Response:
                if expiry is not None and expiry < sim.monotonic():
                    return json_response({"status": "false", "message": "Token Expired"})
                if body.get("userName") != USER_NAME:
                    return _fail("userName is invalid")
                try:
                    page = int(request.query_params.get("pageNo", "1"))
                    size = int(request.query_params.get("pageSize", "100"))
                    start = datetime.strptime(str(body.get("fromDate")), "%Y-%m-%d %H:%M:%S")
                    end = datetime.strptime(str(body.get("toDate")), "%Y-%m-%d %H:%M:%S")
                except (TypeError, ValueError):
                    return _fail("fromDate/toDate must be YYYY-MM-DD HH:MM:SS")
                if page < 1 or not 1 <= size <= 500:
                    return _fail("pageSize must be between 1 and 500")
                if start.date() != end.date():
                    return _fail("Only one day of data can be fetched per request")
                today = datetime.now(UTC).astimezone(IST).date()
                if start.date() < today - timedelta(days=15):
                    return _fail("Data is available only for the last 15 days")
                begin, finish = day_bounds(start.date().isoformat(), IST, clock)
                campaign, ucid = body.get("campaignName"), body.get("ucid")
                if campaign and campaign not in scenario.campaigns(self.name):
                    return _fail("campaignName is invalid")
                t = scenario.now()
                rows = sorted(
                    (
                        p
                        for p in scenario.visible(self.name, t)
                        if p.ended <= t
                        and begin <= p.dialed < finish
                        and (not campaign or p.campaign == campaign)
                        and (not ucid or p.call_id == str(ucid))
                    ),
                    key=lambda p: (p.ended, p.call_id),
                )
                chunk = rows[(page - 1) * size : page * size]
                details = [row(p, clock) for p in chunk]
                return json_response({"status": "success", "totalCount": len(rows), "details": details})

            return await guarded(request, "cdr", expiry is not None, handle, who=USER_NAME)

        async def dial_status(request: Request) -> Response:
            body = await read_body(request)

            def handle() -> Response:
                if body.get("userName") != USER_NAME:
                    return _error("userName is invalid")
                campaign = body.get("campaignName")
                if campaign not in scenario.campaigns(self.name):
                    return _error("campaignName is invalid")
                url = body.get("callBackUrl")
                if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                    return _error("callBackUrl cannot be empty (OR) it should contain \u2018\u2019 or '")

                def delivery(now: float) -> dict[str, Any]:
                    rows = [
                        row(p, clock)
                        for p in scenario.visible(self.name, now)
                        if p.campaign == campaign and p.ended <= now
                    ]
                    return {"campaignName": campaign, "data": rows}

                sim.post_later(url, delivery)
                return json_response({"status": "success", "message": "Data will be posted to the callBackUrl",
                                      "uniqueId": secrets.token_hex(8)})  # fmt: skip

            authed = body.get("apiKey") == self.secrets["api_key"]
            return await guarded(request, "dial_status", authed, handle, who=USER_NAME)

        return [
            Route("/ca_apis/CAToken/generateToken", generate_token, methods=["POST"]),
            Route("/ca_reports/fetchCdrByPagination", fetch_cdr, methods=["GET", "POST"]),
            Route("/ca_apis/campaignDialStatus", dial_status, methods=["POST"]),
        ]


def _fail(message: str) -> Response:
    """fetchCdrByPagination refuses with 200 and `status: fail`."""
    return json_response({"status": "fail", "message": message})


def _error(message: str) -> Response:
    """The ca_apis endpoints refuse with 200 and `status: error`."""
    return json_response({"status": "error", "message": message, "uniqueId": ""})
