"""The adapters against the simulator served by uvicorn on 127.0.0.1: real sockets, real wire formats."""

from __future__ import annotations

import random

import httpx
import pytest

from callmon.engine.once import fetch_all
from callmon.model import Call, Status
from callmon.providers import ADAPTERS, Source
from callmon.providers.base import Adapter
from callmon.providers.errors import AuthError, BadResponse, RateLimited, ServerError
from callmon.simulator import (
    DEMO_SECRETS,
    PROVIDERS,
    SIM_PROVIDERS,
    Clock,
    Scenario,
    Simulator,
    demo_sources,
    parse_faults,
)
from callmon.simulator.faults import FaultSpecError
from callmon.simulator.scenario import new_call_id
from tests.conftest import Served, serve_simulator


def adapter_for(served: Served, provider: str, client: httpx.AsyncClient, **overrides: object) -> Adapter:
    source = next(s for s in demo_sources(served.scenario, served.url) if s.provider == provider)
    if overrides:
        source = Source(source.name, provider, {**source.options, **overrides}, source.base_url)
    return ADAPTERS[provider](source, DEMO_SECRETS[provider], client)


async def collect(adapter: Adapter) -> list[Call]:
    return await fetch_all(adapter)


@pytest.mark.parametrize("provider", ["dialgood", "dialgen", "cloudagent", "velip", "vobiz"])
async def test_every_provider_lists_and_calls_reach_ground_truth(served: Served, provider: str) -> None:
    scenario = served.scenario
    truth = {k[1]: v for k, v in scenario.ground_truth().items() if k[0] == provider}
    async with httpx.AsyncClient() as client:
        adapter = adapter_for(served, provider, client)
        early = await collect(adapter)
        assert early, "a campaign under way shows calls"
        assert all(c.call_id in truth for c in early)
        scenario.clock.advance(scenario.finished_at() + 5)
        final = {c.call_id: c for c in await collect(adapter)}
    assert set(final) == set(truth)
    assert {cid: c.status for cid, c in final.items()} == truth


async def test_statuses_change_over_simulated_time(served: Served) -> None:
    scenario = served.scenario
    plan = next(p for p in scenario.plans if p.provider == "vobiz" and p.answered and p.queued > 0)
    async with httpx.AsyncClient() as client:
        adapter = adapter_for(served, "vobiz", client)
        seen = []
        for t in (
            plan.queued + 0.1,
            plan.dialed + 0.1,
            (plan.answered or 0) + 0.1,
            plan.ended + plan.cdr_delay + 0.1,
        ):
            scenario.clock.advance(t - scenario.now())
            seen.append((await adapter.get_call(plan.call_id)).status)
    assert seen == [Status.QUEUED, Status.RINGING, Status.IN_PROGRESS, Status.COMPLETED]


async def test_dialgood_transcript_grows_while_live(served: Served) -> None:
    scenario = served.scenario
    plan = next(
        p for p in scenario.plans if p.provider == "dialgood" and p.answered and len(p.transcript) >= 4
    )
    async with httpx.AsyncClient() as client:
        adapter = adapter_for(served, "dialgood", client)
        scenario.clock.advance((plan.answered or 0) + 0.01 - scenario.now())
        first = await adapter.get_call(plan.call_id)
        scenario.clock.advance((plan.ended - (plan.answered or 0)) * 0.9)
        later = await adapter.get_call(plan.call_id)
    assert first.status is Status.IN_PROGRESS and later.status is Status.IN_PROGRESS
    assert len(later.transcript) > len(first.transcript) >= 1


async def test_velip_pages_with_cursor(served: Served) -> None:
    served.scenario.clock.advance(served.scenario.finished_at())
    async with httpx.AsyncClient() as client:
        adapter = adapter_for(served, "velip", client, page_size=3)
        pages = [len(p) async for p in adapter.list_calls()]
    expected = sum(1 for p in served.scenario.plans if p.provider == "velip")
    assert sum(pages) == expected and len(pages) == -(-expected // 3)


async def test_wrong_key_is_auth_error(served: Served) -> None:
    async with httpx.AsyncClient() as client:
        for provider in ("dialgood", "dialgen", "cloudagent", "velip", "vobiz"):
            source = next(s for s in demo_sources(served.scenario, served.url) if s.provider == provider)
            wrong = {k: "wrong" for k in DEMO_SECRETS[provider]}
            with pytest.raises(AuthError):
                await collect(ADAPTERS[provider](source, wrong, client))


async def test_rate_limits_are_enforced_with_retry_after() -> None:
    sim = Simulator(Scenario(seed=3, calls=20), faults=parse_faults([]))
    async for served in serve_simulator(sim):
        async with httpx.AsyncClient() as client:
            adapter = adapter_for(served, "cloudagent", client)
            await collect(adapter)
            await collect(adapter)
            with pytest.raises(RateLimited) as info:
                await collect(adapter)
    assert info.value.retry_after is not None and 1 <= info.value.retry_after <= 60


async def test_faults_surface_as_typed_errors_and_lose_nothing() -> None:
    sim = Simulator(
        Scenario(seed=5, calls=60), faults=parse_faults(["ratelimit=off", "5xx=0.3", "malformed=0.2"])
    )
    sim.scenario.clock.advance(sim.scenario.finished_at())
    truth = {k[1] for k in sim.scenario.ground_truth() if k[0] == "velip"}
    errors: set[type] = set()
    seen: dict[str, Call] = {}
    async for served in serve_simulator(sim):
        async with httpx.AsyncClient() as client:
            adapter = adapter_for(served, "velip", client, page_size=2)
            for _ in range(200):
                try:
                    for call in await collect(adapter):
                        seen[call.call_id] = call
                    if set(seen) == truth:
                        break
                except (ServerError, BadResponse) as exc:
                    errors.add(type(exc))
    assert errors == {ServerError, BadResponse}
    assert set(seen) == truth


def test_fault_specs() -> None:
    faults = parse_faults(["velip:5xx=0.2,slow=0.5", "vobiz:auth", "all:ratelimit=off"])
    assert faults["velip"].error_rate == 0.2 and faults["velip"].slow == 0.5
    assert faults["vobiz"].auth and not faults["dialgen"].auth
    assert not any(f.ratelimit for f in faults.values())
    for bad in ("nosuch:5xx", "explode", "5xx=2", "slow=x"):
        with pytest.raises(FaultSpecError):
            parse_faults([bad])


def test_scenario_is_deterministic() -> None:
    a = Scenario(seed=9, calls=50, clock=Clock())
    b = Scenario(seed=9, calls=50, clock=Clock())
    assert a.ground_truth() == b.ground_truth()
    assert Scenario(seed=10, calls=50).ground_truth() != a.ground_truth()
    counts: dict[Status, int] = {}
    for status in Scenario(seed=1, calls=2000).ground_truth().values():
        counts[status] = counts.get(status, 0) + 1
    assert counts[Status.COMPLETED] > counts[Status.NO_ANSWER] > counts[Status.FAILED]


def test_seeds_keep_their_calls() -> None:
    """Making ids unique changed no seed's calls (the snapshots are frozen on seed 7)."""
    first = sorted(Scenario(seed=7, calls=300).plans, key=lambda p: p.index)[:5]
    assert [(p.provider, p.call_id, p.to) for p in first] == [
        ("dialgood", "camp_0ed90475", "+14155559313"),
        ("dialgen", "call_930fd630f1", "+14155557499"),
        ("cloudagent", "4021600000021424", "+919294053474"),
        ("velip", "42_9876003", "5511981366283"),
        ("vobiz", "930d6eaf-14f4-433f-be7d-1bfbc7a2ea20", "+919422390037"),
    ]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_call_ids_are_unique_at_a_million_calls(provider: str) -> None:
    """A million ids of one provider, drawn the way a scenario draws them. A whole million-call scenario
    spreads its calls over the five and takes several times longer to build than this."""
    sim = SIM_PROVIDERS[provider]
    rng = random.Random(7)
    taken: set[str] = set()
    for index in range(1_000_000):
        call_id = new_call_id(sim, index, rng, taken)
        taken.add(call_id)
    assert len(taken) == 1_000_000
