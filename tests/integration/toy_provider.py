"""A sixth provider, written the way a new one is added: its adapter (what callmon knows of its API) and its
simulator (the API itself), in this file and nothing else.

Importing it registers both, so tests load it inside `registry_restored()` (see test_sim_registry.py) and it
never shows up in another test's scenario.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from callmon.model import Call, Status
from callmon.providers import parse
from callmon.providers.base import Adapter, Budget, Option
from callmon.simulator.app import Simulator
from callmon.simulator.provider import Guarded, Push, SimProvider, json_response
from callmon.simulator.scenario import CallPlan, Clock, Scenario

ACCOUNT = "toy-account"


def record(plan: CallPlan, t: float) -> dict[str, Any]:
    status = plan.status_at(t)
    return {
        "id": plan.call_id,
        "campaign": plan.campaign,
        "to": plan.to,
        "from": plan.from_,
        "status": None if status is None else status.value,
    }


class Toy(SimProvider):
    name = "toy"
    prefix = "/toy/v1"
    secrets = {"api_key": "sim-toy-key"}
    limits = {"calls": (5, 60.0)}
    pushes = True
    cost_per_min = 0.10

    def call_id(self, index: int, rng: random.Random) -> str:
        # 16 bits: few enough that a scenario of a few thousand toy calls draws some twice.
        return f"toy-{rng.getrandbits(16):04x}"

    def campaign(self, n: int) -> str:
        return f"toy-campaign-{n}"

    def phone(self, rng: random.Random) -> str:
        return f"+1555{rng.randint(1000000, 9999999)}"

    def source_options(self, scenario: Scenario) -> dict[str, Any]:
        return {"account": ACCOUNT}

    def auth_error(self) -> Response:
        return json_response({"error": "bad api key"}, 401)

    def push_events(self, plan: CallPlan, clock: Clock, after: float, until: float) -> list[Push]:
        return [(record(plan, plan.ended), False)] if after < plan.ended <= until else []

    def routes(self, sim: Simulator, guarded: Guarded) -> list[BaseRoute]:
        scenario = sim.scenario

        def authed(request: Request) -> bool:
            key = request.headers.get("x-api-key")
            return request.path_params["account"] == ACCOUNT and key == self.secrets["api_key"]

        async def calls(request: Request) -> Response:
            def handle() -> Response:
                t = scenario.now()
                return json_response({"calls": [record(p, t) for p in scenario.visible(self.name, t)]})

            return await guarded(request, "calls", authed(request), handle)

        async def call(request: Request) -> Response:
            def handle() -> Response:
                plan = scenario.find(self.name, request.path_params["call_id"])
                t = scenario.now()
                if plan is None or plan.status_at(t) is None:
                    return json_response({"error": "no such call"}, 404)
                return json_response(record(plan, t))

            return await guarded(request, "call", authed(request), handle)

        return [Route("/accounts/{account}/calls", calls), Route("/accounts/{account}/calls/{call_id}", call)]


# -- the adapter: what callmon knows of the toy's API ---------------------------------------------------------


class ToyAdapter(Adapter):
    provider = "toy"
    title = "Toy"
    default_base_url = "https://api.toy.invalid/toy/v1"
    secret_fields = ("api_key",)
    options = {"account": Option(str, "the account whose calls to watch", required=True)}
    budgets = {"calls": Budget(5, 60.0), "call": Budget(5, 60.0)}
    example = 'name = "toy-sales"\nprovider = "toy"\naccount = "toy-account"'

    def auth_headers(self) -> dict[str, str]:
        return {"x-api-key": self.secret("api_key")}

    def normalize(self, raw: Mapping[str, Any]) -> Call:
        status = parse.text(raw.get("status"))
        return Call(
            source=self.source.name,
            provider=self.provider,
            call_id=parse.text(raw.get("id")) or "?",
            status=Status(status) if status in {s.value for s in Status} else Status.UNKNOWN,
            raw_status=status,
            campaign=parse.text(raw.get("campaign")),
            to=parse.text(raw.get("to")),
            from_=parse.text(raw.get("from")),
            raw=raw,
        )

    async def list_calls(self, full: bool = True) -> AsyncIterator[list[Call]]:
        body = self.expect_mapping(
            await self.request("GET", f"/accounts/{self.option('account')}/calls", kind="calls"), "calls"
        )
        yield self.read_all(self.expect_list(body.get("calls"), "calls"))

    async def get_call(self, call_id: str) -> Call:
        body = await self.request("GET", f"/accounts/{self.option('account')}/calls/{call_id}", kind="call")
        return self.read(self.expect_mapping(body, "call"))
