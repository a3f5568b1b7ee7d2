"""The built-in demo: the simulator in-process behind an httpx ASGI transport, no port opened."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from callmon.providers import Source
from callmon.simulator import DEMO_SECRETS, Clock, Scenario, Simulator, build_app, demo_sources, parse_faults

DEMO_URL = "http://simulator.invalid"


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
) -> Demo:
    scenario = Scenario(seed=seed, calls=calls, clock=clock or Clock(speed=speed))
    simulator = Simulator(scenario, faults=parse_faults(faults or []))
    sources = demo_sources(scenario, DEMO_URL)
    return Demo(simulator, sources, {s.name: DEMO_SECRETS[s.provider] for s in sources})
