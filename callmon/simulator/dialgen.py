"""Dialgen in the simulator: calls in batches, a live status and a persistent record, onCallComplete pushes."""

from __future__ import annotations

import random
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from callmon.model import Status
from callmon.simulator.app import Simulator
from callmon.simulator.formats import digest, iso_ms
from callmon.simulator.provider import Guarded, Push, SimProvider, json_response
from callmon.simulator.scenario import CallPlan, Clock, Scenario

_ENDED = {
    Status.COMPLETED: ("COMPLETED", None),
    Status.NO_ANSWER: ("MISSED", "NO_ANSWER"),
    Status.BUSY: ("MISSED", "BUSY"),
    Status.FAILED: ("FAILED", "NETWORK_ERROR"),
}


def state(plan: CallPlan, t: float) -> tuple[str, str | None]:
    """Dialgen's (status, error) for the call at scenario time t."""
    status = plan.status_at(t)
    if status is Status.QUEUED:
        return "SCHEDULED", None
    if status in (Status.RINGING, Status.IN_PROGRESS):
        return "ONGOING", None
    return _ENDED.get(plan.outcome, ("FAILED", "NETWORK_ERROR"))


def _recording(plan: CallPlan) -> str:
    return f"https://recordings.sim/dialgen/{plan.call_id}.mp3"


def status(plan: CallPlan, t: float, clock: Clock, *, batch: bool = False) -> dict[str, Any]:
    """A row of `status/call` (or of `status/batch`, which leaves out the contact and batch ids)."""
    current, error = state(plan, t)
    ended = t >= plan.ended
    row: dict[str, Any] = {
        "callId": plan.call_id,
        "status": current,
        "startTime": iso_ms(clock.utc(plan.dialed)) if t >= plan.dialed else None,
        "phoneNumber": plan.to,
        "error": error,
        "duration": plan.talk_seconds if ended else None,
        "recordingUrl": _recording(plan) if ended and plan.answered is not None else None,
    }
    if not batch:
        row["contactId"] = "contact_" + digest(plan, "contact")[:6]
        row["batchId"] = plan.campaign
    return row


def persistent(plan: CallPlan, t: float, clock: Clock) -> dict[str, Any]:
    """`call/check-status`: the record kept past the live cache, with the transcription."""
    current, error = state(plan, t)
    ended = t >= plan.ended
    return {
        "success": True,
        "data": {
            "id": plan.call_id,
            "status": current,
            "direction": "outbound",
            "duration": plan.talk_seconds if ended else None,
            "createdAt": iso_ms(clock.utc(plan.queued)),
            "endedAt": iso_ms(clock.utc(plan.ended)) if ended else None,
            "contact": {"name": f"Contact {plan.index}", "phoneNumber": plan.to},
            "agent": "Renewals assistant",
            "error": error,
            "recordingUrl": _recording(plan) if ended and plan.answered is not None else None,
            "transcription": [{"role": r.lower(), "content": text} for r, text in plan.transcript_at(t)],
        },
    }


def webhook(plan: CallPlan, clock: Clock) -> dict[str, Any]:
    """onCallComplete, the documented {success, callData} shape."""
    current, error = state(plan, plan.ended)
    return {
        "success": True,
        "callData": {
            "id": plan.call_id,
            "status": current,
            "error": error,
            "startTime": iso_ms(clock.utc(plan.dialed)),
            "endTime": iso_ms(clock.utc(plan.ended)),
            "duration": plan.talk_seconds,
            "phoneNumber": plan.to,
            "recordingUrl": _recording(plan) if plan.answered else None,
            "summary": "Customer asked for the details by SMS." if plan.answered else None,
            "transcription": [{"role": r.lower(), "content": t} for r, t in plan.transcript_at(plan.ended)],
        },
    }


class Dialgen(SimProvider):
    name = "dialgen"
    prefix = "/dialgen"
    secrets = {"api_key": "sim-dialgen-key"}
    pushes = True
    has_transcript = True

    def call_id(self, index: int, rng: random.Random) -> str:
        return f"call_{rng.getrandbits(40):010x}"

    def campaign(self, n: int) -> str:
        return f"batch_renewals_{n}"

    def phone(self, rng: random.Random) -> str:
        return f"+1415555{rng.randint(1000, 9999)}"

    def outcome(self, drawn: Status) -> Status:
        # Dialgen has no word for an abandoned call; it reports MISSED
        return Status.NO_ANSWER if drawn is Status.CANCELED else drawn

    def source_options(self, scenario: Scenario) -> dict[str, Any]:
        return {"batches": scenario.campaigns(self.name)}

    def auth_error(self) -> Response:
        return json_response({"error": "UNAUTHORIZED", "message": "Invalid API key"}, 401)

    def push_events(self, plan: CallPlan, clock: Clock, after: float, until: float) -> list[Push]:
        return [(webhook(plan, clock), False)] if after < plan.ended <= until else []

    def routes(self, sim: Simulator, guarded: Guarded) -> list[BaseRoute]:
        scenario = sim.scenario

        def authed(request: Request) -> bool:
            return request.headers.get("authorization") == f"Bearer {self.secrets['api_key']}"

        def find(request: Request) -> CallPlan | Response:
            call_id = request.query_params.get("callId")
            if not call_id:
                return json_response({"error": "BAD_REQUEST", "message": "callId is required"}, 400)
            plan = scenario.find(self.name, call_id)
            if plan is None or plan.status_at(scenario.now()) is None:
                return json_response({"error": "NOT_FOUND", "message": "Call not found"}, 404)
            return plan

        async def status_call(request: Request) -> Response:
            def handle() -> Response:
                plan = find(request)
                if isinstance(plan, Response):
                    return plan
                return json_response(status(plan, scenario.now(), scenario.clock))

            return await guarded(request, "call", authed(request), handle)

        async def check_status(request: Request) -> Response:
            def handle() -> Response:
                plan = find(request)
                if isinstance(plan, Response):
                    return plan
                return json_response(persistent(plan, scenario.now(), scenario.clock))

            return await guarded(request, "call", authed(request), handle)

        async def batch_status(request: Request) -> Response:
            def handle() -> Response:
                batch = request.query_params.get("batchId")
                if not batch:
                    return json_response({"error": "BAD_REQUEST", "message": "batchId is required"}, 400)
                if batch not in scenario.campaigns(self.name):
                    return json_response({"error": "NOT_FOUND", "message": "Batch not found"}, 404)
                t = scenario.now()
                rows = [
                    status(p, t, scenario.clock, batch=True)
                    for p in scenario.visible(self.name, t)
                    if p.campaign == batch
                ]
                return json_response({"batchId": batch, "calls": rows})

            return await guarded(request, "batch", authed(request), handle)

        async def batch_stats(request: Request) -> Response:
            def handle() -> Response:
                batch = request.query_params.get("batchId")
                if batch not in scenario.campaigns(self.name):
                    return json_response({"error": "NOT_FOUND", "message": "Batch not found"}, 404)
                t = scenario.now()
                counts: dict[str, int] = {}
                for plan in scenario.visible(self.name, t):
                    if plan.campaign == batch:
                        current, _ = state(plan, t)
                        counts[current] = counts.get(current, 0) + 1
                total = sum(1 for p in scenario.plans if p.provider == self.name and p.campaign == batch)
                data = {"batchId": batch, "totalCalls": total, "statusCounts": counts}
                return json_response({"success": True, "data": data})

            return await guarded(request, "batch", authed(request), handle)

        async def batch_list(request: Request) -> Response:
            def handle() -> Response:
                batches = [{"batchId": b, "name": b.replace("_", " ")} for b in scenario.campaigns(self.name)]
                return json_response({"success": True, "data": batches})

            return await guarded(request, "batch", authed(request), handle)

        return [
            Route("/api/v1/status/call", status_call),
            Route("/api/v1/status/batch", batch_status),
            Route("/api/v1/call/check-status", check_status),
            Route("/api/v1/batch/check-status", batch_stats),
            Route("/api/v1/batch/list", batch_list),
        ]
