"""Velip in the simulator: one status endpoint that lists pages by a cursor or answers for one call, rurl
pushes, and an IP block after repeated auth failures."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from callmon.model import Status
from callmon.simulator.app import Simulator, read_body
from callmon.simulator.provider import Guarded, Push, SimProvider, json_response
from callmon.simulator.scenario import CallPlan, Clock

BRT = ZoneInfo("America/Sao_Paulo")
CAMPAIGN_IDS = {"lote-2026-01": 551, "lote-2026-02": 552}
BLOCK = (20, 600.0)  # auth failures, seconds: then the client's IP is blocked
MAX_PAGE = 5000

_ENDED = {
    Status.COMPLETED: "OK",
    Status.NO_ANSWER: "NOANSWER",
    Status.BUSY: "BUSY",
    Status.CANCELED: "CANCEL",
}


def record(plan: CallPlan, t: float, clock: Clock) -> dict[str, Any]:
    def local(offset: float) -> datetime:
        return clock.utc(offset).astimezone(BRT)

    status = plan.status_at(t)
    ended = status is not None and status.ended
    answered = plan.answered is not None and t >= plan.answered
    if ended:
        cd_status = _ENDED.get(plan.outcome) or ("CONGESTION" if plan.index % 2 else "CHANUNAVAIL")
    else:
        cd_status = ""
    result: dict[str, Any] = {
        "cd_id": plan.call_id,
        "cd_status": cd_status,
        "cd_amdasw": plan.amd if ended and plan.answered is not None else "ND",
        "cp_id": CAMPAIGN_IDS.get(plan.campaign, 550),
        "cpid": plan.campaign,
        "ctid": f"row-{plan.index}",
        "origin": "api",
        "dest": plan.to,
        "date": local(plan.queued).strftime("%Y-%m-%d"),
        "time_dial": local(plan.dialed).strftime("%H:%M:%S") if t >= plan.dialed else "",
        "time_start": local(plan.answered).strftime("%H:%M:%S") if answered and plan.answered else "",
        "time_end": local(plan.ended).strftime("%H:%M:%S") if ended else "",
        "dur": plan.talk_seconds if ended else 0,
        "route": "Mobile BR",
        "rate": "0,050",
        "value": f"{plan.cost:.3f}".replace(".", ",") if ended else "0,000",
        "cdr_url": f"https://recordings.sim/velip/{plan.call_id}.mp3" if ended and plan.answered else "",
        "cdr_sec": plan.talk_seconds if ended else 0,
    }
    for i, digit in enumerate(plan.dtmf if ended else (), 1):
        result[f"resp_{i}"] = digit
    return result


def webhook(plan: CallPlan, clock: Clock) -> dict[str, str]:
    """An rurl delivery, URL-encoded per call: every field as text."""
    return {k: "" if v is None else str(v) for k, v in record(plan, plan.ended + 0.001, clock).items()}


def _blocked(failures: deque[float] | None, now: float) -> bool:
    """Whether a client with these auth failures is blocked, forgetting those older than the block."""
    if not failures:
        return False
    count, per = BLOCK
    while failures and failures[0] < now - per:
        failures.popleft()
    return len(failures) >= count


def _number(row: dict[str, Any]) -> int:
    """The sequence number in a `cd_id`, which is what the cursor counts by."""
    return int(row["cd_id"].split("_")[1])


class Velip(SimProvider):
    name = "velip"
    prefix = "/velip"
    secrets = {"tsid": "sim-velip-tsid"}
    limits = {"list": (200, 3600.0)}
    pushes = True
    cost_per_min = 0.05

    def call_id(self, index: int, rng: random.Random) -> str:
        return f"42_{9876000 + index}"

    def campaign(self, n: int) -> str:
        return f"lote-2026-{n:02d}"

    def phone(self, rng: random.Random) -> str:
        return f"55119{rng.randint(10000000, 99999999)}"

    def auth_error(self) -> Response:
        return json_response({"return": {"status": "Invalid token", "status_code": "101", "cd_id": "0"}}, 401)

    def rate_limited(self, headers: Mapping[str, str]) -> Response:
        body = {"return": {"status": "Rate limit exceeded: 200 requests/hour", "status_code": "429"}}
        return json_response(body, 429, headers)

    def server_error(self) -> Response:
        return json_response({"return": {"status": "Internal error", "status_code": "500"}}, 500)

    def admit(self, sim: Simulator, client: str, authed: bool) -> Response | None:
        if _blocked(sim.auth_failures.get(client), sim.monotonic()):
            body = {"return": {"status": "IP blocked after repeated auth failures", "status_code": "199"}}
            return json_response(body, 403)
        if not authed:
            sim.auth_failures.setdefault(client, deque()).append(sim.monotonic())
        return super().admit(sim, client, authed)

    def push_events(self, plan: CallPlan, clock: Clock, after: float, until: float) -> list[Push]:
        return [(webhook(plan, clock), True)] if after < plan.ended <= until else []

    def routes(self, sim: Simulator, guarded: Guarded) -> list[BaseRoute]:
        scenario = sim.scenario
        clock = scenario.clock

        async def status(request: Request) -> Response:
            params: dict[str, Any] = dict(request.query_params)
            params.update(await read_body(request))
            auth = request.headers.get("authorization", "")
            tsid = params.get("tsid") or (auth[7:] if auth.startswith("Bearer ") else None)
            single = bool(params.get("cd_id") or params.get("ctid"))

            def handle() -> Response:
                t = scenario.now()
                ok = {"status": "OK", "status_code": "0"}
                if params.get("cd_id"):
                    plan = scenario.find(self.name, str(params["cd_id"]))
                    calls = [record(plan, t, clock)] if plan and plan.status_at(t) is not None else []
                    return json_response({"return": ok, "calls": calls})
                try:
                    maxreg = int(params.get("maxreg", 1000))
                    last_id = int(params["last_id"]) if params.get("last_id") not in (None, "") else None
                    cp_id = int(params["cp_id"]) if params.get("cp_id") not in (None, "") else None
                except (TypeError, ValueError):
                    return json_response({"return": ok, "calls": []})
                capped = maxreg > MAX_PAGE or maxreg < 0
                maxreg = MAX_PAGE if capped else max(1, maxreg)
                cpid = params.get("cpid")
                day_start = params.get("date_start") or params.get("dini")
                day_end = params.get("date_end") or params.get("dend") or day_start
                plans = [
                    p
                    for p in scenario.visible(self.name, t)
                    if (cp_id is None or CAMPAIGN_IDS.get(p.campaign) == cp_id)
                    and (not cpid or p.campaign == cpid)
                    and (params.get("ctid") in (None, "") or f"row-{p.index}" == params.get("ctid"))
                ]
                records = [record(p, t, clock) for p in plans]
                if day_start:
                    records = [r for r in records if str(day_start) <= r["date"] <= str(day_end)]
                records.sort(key=lambda r: -_number(r))
                if last_id is not None:
                    records = [r for r in records if _number(r) <= last_id]
                page, more = records[:maxreg], records[maxreg : maxreg + 1]
                pagination: dict[str, Any] = {
                    "has_more": bool(more),
                    "next_id": _number(more[0]) if more else None,
                }
                if capped:
                    pagination["maxreg_capped"] = True
                return json_response({"return": {**ok, "pagination": pagination}, "calls": page})

            kind = "call" if single else "list"
            return await guarded(request, kind, tsid == self.secrets["tsid"], handle)

        return [Route("/api/v2/GetCallStatus.php", status, methods=["GET", "POST"])]
