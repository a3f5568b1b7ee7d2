"""The built-in demo: the simulator in-process behind an httpx ASGI transport, no port opened."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from callmon.alerts import Rule, parse_rule
from callmon.providers import Source
from callmon.simulator import (
    SIM_PROVIDERS,
    Burst,
    Clock,
    Scenario,
    Simulator,
    build_app,
    demo_sources,
    parse_faults,
)

DEMO_URL = "http://simulator.invalid"
# `callmon demo`: a failure burst on the busiest campaign soon after the start, and rules that catch it.
DEMO_BURST = "45s+4m"
DEMO_ALERTS: tuple[dict[str, object], ...] = (
    # The demo's campaigns fail about 45 % of their calls: 80 % over two minutes is a burst, not chance.
    {"name": "campaign failing", "when": "failure_rate > 0.8", "over": "2m", "min_calls": 8, "by": "campaign",
     "for": "10s"},
    {"name": "source down", "kind": "source_down", "for": "30s"},
    {"name": "stuck call", "kind": "stuck", "for": "15m"},
)  # fmt: skip


def demo_alerts() -> tuple[Rule, ...]:
    return tuple(parse_rule(rule) for rule in DEMO_ALERTS)


@dataclass
class Demo:
    simulator: Simulator
    sources: list[Source]
    secrets: dict[str, dict[str, str]]

    def transport(self) -> httpx.AsyncBaseTransport:
        return httpx.ASGITransport(app=build_app(self.simulator))


def make_demo(
    *,
    seed: int = 7,
    calls: int = 300,
    speed: float = 1.0,
    faults: list[str] | None = None,
    clock: Clock | None = None,
    burst: Burst | None = None,
) -> Demo:
    scenario = Scenario(seed=seed, calls=calls, clock=clock or Clock(speed=speed), burst=burst)
    simulator = Simulator(scenario, faults=parse_faults(faults or []))
    sources = demo_sources(scenario, DEMO_URL)
    # Each provider's demo credential from its registration (one registered after import has one too).
    return Demo(simulator, sources, {s.name: dict(SIM_PROVIDERS[s.provider].secrets) for s in sources})
