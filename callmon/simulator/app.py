"""The simulator's ASGI app: every registered provider's routes under its prefix, behind shared faults and
limits, and the webhooks it pushes as the scenario clock runs."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount

from callmon.simulator.faults import Dice, Faults, RateLimiter
from callmon.simulator.provider import SIM_PROVIDERS, Guarded, Handler, SimProvider
from callmon.simulator.scenario import Scenario


@dataclass(frozen=True, slots=True)
class Hit:
    at: float  # Simulator.monotonic()
    provider: str
    kind: str
    status: int
    path: str


@dataclass
class Simulator:
    scenario: Scenario
    faults: dict[str, Faults] = field(default_factory=lambda: {p: Faults() for p in SIM_PROVIDERS})
    limiter: RateLimiter = field(default_factory=RateLimiter)
    dice: Dice = field(default_factory=Dice)
    hits: deque[Hit] = field(default_factory=lambda: deque(maxlen=200_000))
    tokens: dict[str, float] = field(default_factory=dict)  # session token -> monotonic expiry
    auth_failures: dict[str, deque[float]] = field(default_factory=dict)  # client address -> when
    pushes: dict[str, str] = field(default_factory=dict)  # provider -> webhook URL
    pushed: int = 0
    _requested: asyncio.Queue[tuple[str, Callable[[float], Any]]] = field(default_factory=asyncio.Queue)
    # When things happen, for hits, tokens and auth failures (tests on virtual time pass the loop's clock).
    monotonic: Callable[[], float] = time.monotonic

    def post_later(self, url: str, body: Callable[[float], Any]) -> None:
        """POST `body(scenario time)` as JSON to `url` on the next push round: data a client asked to be
        sent to its callback."""
        self._requested.put_nowait((url, body))

    async def run_pushes(self, client: httpx.AsyncClient, period: float = 0.2) -> None:
        """POST each provider's webhook as the scenario clock passes a call's transitions, and deliver
        what was asked with `post_later`, until cancelled."""
        last = self.scenario.now()
        while True:
            await asyncio.sleep(period)
            now = self.scenario.now()
            pushing = {n: p for n, p in SIM_PROVIDERS.items() if p.pushes and n in self.pushes}
            for plan in self.scenario.plans:
                provider = pushing.get(plan.provider)
                if provider is None or plan.queued > now:
                    continue
                for body, as_form in provider.push_events(plan, self.scenario.clock, last, now):
                    await self._post(client, self.pushes[plan.provider], body, as_form)
            last = now
            while not self._requested.empty():
                url, body = self._requested.get_nowait()
                await self._post(client, url, body(now), False)

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


def build_app(sim: Simulator) -> Starlette:
    routes = [Mount(p.prefix, routes=p.routes(sim, _guard(sim, p))) for p in SIM_PROVIDERS.values()]
    app = Starlette(routes=routes)
    app.state.simulator = sim
    return app


def _guard(sim: Simulator, provider: SimProvider) -> Guarded:
    async def guarded(
        request: Request, kind: str, authed: bool, handler: Handler, who: str = "key"
    ) -> Response:
        response = await _answer(sim, provider, request, kind, authed, handler, who)
        sim.hits.append(Hit(sim.monotonic(), provider.name, kind, response.status_code, request.url.path))
        return response

    return guarded


async def _answer(
    sim: Simulator,
    provider: SimProvider,
    request: Request,
    kind: str,
    authed: bool,
    handler: Handler,
    who: str,
) -> Response:
    faults = sim.faults.get(provider.name) or Faults()
    if faults.slow:
        await asyncio.sleep(faults.slow)
    client = request.client.host if request.client else "?"
    refused = provider.admit(sim, client, authed and not faults.auth)
    if refused is not None:
        return refused
    if faults.ratelimit:
        wait = sim.limiter.hit(provider.name, kind, who)
        if wait is not None:
            return provider.rate_limited({"Retry-After": str(max(1, round(wait + 0.5)))})
    if sim.dice.roll(faults.error_rate):
        return provider.server_error()
    result = handler()
    response = await result if asyncio.iscoroutine(result) else result
    assert isinstance(response, Response)
    if sim.dice.roll(faults.malformed_rate) and response.status_code == 200:
        body = bytes(response.body)
        return Response(body[: max(1, len(body) // 2)], media_type="application/json")
    return response


async def read_body(request: Request) -> dict[str, Any]:
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
