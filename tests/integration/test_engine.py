"""The poll engine against the simulator over real loopback sockets: ground truth, budgets, backoff, auth."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import replace

import httpx

from callmon.engine import Engine
from callmon.providers import ADAPTERS, Budget, Source
from callmon.simulator import (
    DEMO_SECRETS,
    DOCUMENTED_LIMITS,
    Clock,
    RateLimiter,
    Scenario,
    Simulator,
    demo_sources,
    parse_faults,
)
from callmon.store import CallStore
from tests.conftest import serve_simulator

SCALE = 60.0  # budgets and simulator limits both run 60x faster, so a minute's budget lasts a second


def scaled_budgets(provider: str) -> dict[str, Budget]:
    return {k: Budget(b.requests, b.per / SCALE) for k, b in ADAPTERS[provider].budgets.items()}


def scaled_limits() -> dict[tuple[str, str], tuple[int, float]]:
    return {k: (n, per / SCALE) for k, (n, per) in DOCUMENTED_LIMITS.items()}


def sources_for(scenario: Scenario, url: str, interval: float) -> list[Source]:
    out = []
    for source in demo_sources(scenario, url, interval=interval):
        options = dict(source.options)
        if source.provider in ("cloudagent", "velip", "vobiz"):
            zone = ADAPTERS[source.provider].default_timezone
            from zoneinfo import ZoneInfo

            options["date"] = scenario.clock.start_utc.astimezone(ZoneInfo(zone)).date().isoformat()
        out.append(replace(source, options=options))
    return out


async def wait_for(predicate: object, timeout: float) -> bool:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.1)
    return bool(predicate())


def max_in_window(times: list[float], per: float) -> int:
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - per:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_campaign_runs_to_ground_truth_within_budgets() -> None:
    scenario = Scenario(seed=21, calls=40, span=120, clock=Clock(speed=100.0))
    sim = Simulator(scenario, limiter=RateLimiter(limits=scaled_limits()))
    truth = scenario.ground_truth()
    store = CallStore()
    async for served in serve_simulator(sim):
        async with httpx.AsyncClient() as client:
            engine = Engine(store, client, tick_hz=10)
            for source in sources_for(scenario, served.url, interval=0.3):
                engine.add(source, DEMO_SECRETS[source.provider], budgets=scaled_budgets(source.provider))
            await engine.start()

            def done() -> bool:
                got = {(c.provider, c.call_id): c.status for c in store.calls.values()}
                return got == truth

            finished = await wait_for(done, 120)  # a busy machine (tests run four at a time) is slower
            health = {h.name: h for h in engine.health()}
            await engine.stop()
    got = {(c.provider, c.call_id): c.status for c in store.calls.values()}
    missing = {k: v for k, v in truth.items() if got.get(k) != v}
    assert finished, (
        f"{len(missing)} calls differ from ground truth, e.g. {list(missing.items())[:3]}; {health}"
    )
    assert not [h for h in sim.hits if h.status == 429], (
        "the engine's budgets kept every provider under its limit"
    )
    for (provider, kind), (count, per) in scaled_limits().items():
        times = [h.at for h in sim.hits if h.provider == provider and h.kind == kind]
        assert max_in_window(times, per) <= count, (provider, kind)


def _pairs(sources: list[Source]) -> list[tuple[Source, Mapping[str, str]]]:
    return [(s, DEMO_SECRETS[s.provider]) for s in sources]


async def test_history_reloads_after_restart(tmp_path: object) -> None:
    from pathlib import Path

    from callmon.runtime import live_session

    assert isinstance(tmp_path, Path)
    db = tmp_path / "h.sqlite3"
    scenario = Scenario(seed=12, calls=15, clock=Clock(speed=50.0), providers=("dialgen",))
    sim = Simulator(scenario, faults=parse_faults(["ratelimit=off"]))
    async for served in serve_simulator(sim):
        sources = sources_for(scenario, served.url, interval=0.2)
        async with live_session(_pairs(sources), history_path=db, tick_hz=10) as session:
            await wait_for(lambda: len(session.store) >= 5, 10)
            await asyncio.sleep(0.3)
            before = {k: c.status for k, c in session.store.calls.items()}
            timelines = {k: len(session.store.timeline(k)) for k in session.store.calls}
        assert oct(db.stat().st_mode & 0o777) == "0o600"
        # Restart with the provider unreachable: what we knew is back, timelines included.
        dead = [replace(s, base_url="http://127.0.0.1:9") for s in sources]
        async with live_session(_pairs(dead), history_path=db, tick_hz=10) as session:
            after = {k: c.status for k, c in session.store.calls.items()}
            assert set(after) >= set(before)
            assert all(len(session.store.timeline(k)) >= 1 for k in before)
            assert sum(len(session.store.timeline(k)) for k in before) >= sum(timelines.values()) - len(
                before
            )


async def test_corrupt_history_is_reported_and_monitoring_goes_on(tmp_path: object) -> None:
    from pathlib import Path

    from callmon.runtime import live_session

    assert isinstance(tmp_path, Path)
    db = tmp_path / "h.sqlite3"
    db.write_bytes(b"this is not a database" * 100)
    scenario = Scenario(seed=1, calls=5, providers=("dialgen",))
    sim = Simulator(scenario, faults=parse_faults(["ratelimit=off"]))
    async for served in serve_simulator(sim):
        async with live_session(_pairs(sources_for(scenario, served.url, 0.2)), history_path=db) as session:
            assert any("not a readable database" in p and str(db) in p for p in session.problems)
            assert await wait_for(lambda: len(session.store) > 0, 5)
