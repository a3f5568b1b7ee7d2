"""A provider added to the simulator as one file (toy_provider.py): it is planned, served, faulted, limited,
configured and pushed like the built-in five, and forgotten after the test that registered it."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from callmon.providers import ADAPTERS
from callmon.simulator import (
    PROVIDERS,
    SIM_PROVIDERS,
    Clock,
    Scenario,
    SimProvider,
    Simulator,
    build_app,
    config_text,
    demo_sources,
    parse_faults,
)
from callmon.simulator.faults import documented_limits
from callmon.simulator.provider import registry_restored
from tests.conftest import serve_simulator

TOY = Path(__file__).with_name("toy_provider.py")


def frozen_clock() -> Clock:
    return Clock(real=lambda: 0.0)


def load_toy() -> None:
    """Run toy_provider.py afresh (not the cached module): running a provider's module registers it."""
    spec = importlib.util.spec_from_file_location("toy_provider_under_test", TOY)
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


@contextlib.contextmanager
def toy_registered() -> Iterator[None]:
    """The toy provider (its simulator and its adapter) registered inside the block only."""
    adapters = dict(ADAPTERS)
    with registry_restored():
        try:
            load_toy()
            yield
        finally:
            ADAPTERS.clear()
            ADAPTERS.update(adapters)


@pytest.fixture
def toy() -> Iterator[SimProvider]:
    with toy_registered():
        yield SIM_PROVIDERS["toy"]
    assert "toy" not in SIM_PROVIDERS and "toy" not in ADAPTERS


async def test_a_sixth_provider_is_served_from_its_one_file(toy: SimProvider) -> None:
    scenario = Scenario(seed=3, calls=60, clock=frozen_clock())
    assert scenario.providers == (*PROVIDERS, "toy")
    truth = {
        cid: status.value for (provider, cid), status in scenario.ground_truth().items() if provider == "toy"
    }
    assert len(truth) == 10
    queued = sorted(p.queued for p in scenario.plans if p.provider == "toy")
    scenario.clock.advance(queued[5])  # mid-campaign: 6 of its 10 calls placed
    placed = {p.call_id for p in scenario.visible("toy")}
    sim = Simulator(scenario, faults=parse_faults(["ratelimit=off"]))
    async for served in serve_simulator(sim):
        source = next(s for s in demo_sources(scenario, served.url) if s.provider == "toy")
        assert source.base_url == served.url + "/toy/v1"
        url = f"{source.base_url}/accounts/{source.options['account']}/calls"
        key = {"x-api-key": toy.secrets["api_key"]}
        async with httpx.AsyncClient() as client:
            early = (await client.get(url, headers=key)).json()["calls"]
            scenario.clock.advance(scenario.finished_at() + 1)
            final = (await client.get(url, headers=key)).json()["calls"]
            one = await client.get(f"{url}/{final[0]['id']}", headers=key)
            missing = await client.get(f"{url}/toy-nope", headers=key)
            refused = await client.get(url, headers={"x-api-key": "wrong"})
    assert len(placed) == 6 and {c["id"] for c in early} == placed
    assert {c["id"]: c["status"] for c in final} == truth
    assert one.json() == final[0]
    assert missing.status_code == 404
    assert (refused.status_code, refused.json()) == (401, {"error": "bad api key"})
    config = config_text(scenario, "http://127.0.0.1:8765")
    assert "#   export CALLMON_SIM_TOY_API_KEY=sim-toy-key" in config
    assert 'base_url = "http://127.0.0.1:8765/toy/v1"' in config and 'account = "toy-account"' in config


async def test_a_sixth_provider_gets_the_shared_faults_and_its_own_limits(toy: SimProvider) -> None:
    assert documented_limits()[("toy", "calls")] == (5, 60.0)
    scenario = Scenario(seed=3, calls=10, providers=("toy",), clock=frozen_clock())
    key = {"x-api-key": toy.secrets["api_key"]}
    statuses = {}
    for spec in ("", "toy:ratelimit=off,toy:5xx=1", "toy:auth"):
        sim = Simulator(scenario, faults=parse_faults([spec]))
        async for served in serve_simulator(sim):
            url = served.url + "/toy/v1/accounts/toy-account/calls"
            async with httpx.AsyncClient() as client:
                responses = [await client.get(url, headers=key) for _ in range(6)]
        statuses[spec] = [r.status_code for r in responses]
        if spec == "":
            assert responses[-1].headers["Retry-After"] == "60"
            assert responses[-1].json() == {"error": "RATE_LIMITED", "message": "Too many requests"}
    assert statuses == {
        "": [200] * 5 + [429],
        "toy:ratelimit=off,toy:5xx=1": [500] * 6,
        "toy:auth": [401] * 6,
    }


async def test_a_sixth_provider_pushes_its_webhooks(toy: SimProvider) -> None:
    scenario = Scenario(seed=3, calls=12, warmup=0.0, providers=("toy",), clock=frozen_clock())
    sim = Simulator(scenario, pushes={"toy": "http://receiver.invalid/toy"})
    posted: list[dict[str, str]] = []

    def receive(request: httpx.Request) -> httpx.Response:
        posted.append(json.loads(request.content))
        return httpx.Response(200)

    async with httpx.AsyncClient(transport=httpx.MockTransport(receive)) as client:
        pusher = asyncio.create_task(sim.run_pushes(client, period=0.01))
        await asyncio.sleep(0.05)
        scenario.clock.advance(scenario.finished_at() + 1)
        for _ in range(200):
            if len(posted) == 12:
                break
            await asyncio.sleep(0.01)
        pusher.cancel()
    assert {p["id"]: p["status"] for p in posted} == {
        cid: s.value for (_, cid), s in scenario.ground_truth().items()
    }


def test_a_provider_registered_in_a_test_leaves_no_trace() -> None:
    with toy_registered():
        assert tuple(SIM_PROVIDERS) == (*PROVIDERS, "toy") and "toy" in ADAPTERS
    assert "toy" not in ADAPTERS
    assert tuple(SIM_PROVIDERS) == PROVIDERS == ("dialgood", "dialgen", "cloudagent", "velip", "vobiz")
    scenario = Scenario(calls=10)
    assert scenario.providers == PROVIDERS
    assert tuple(parse_faults([])) == PROVIDERS
    mounts = [getattr(route, "path", "") for route in build_app(Simulator(scenario)).routes]
    assert mounts == ["/dialgood", "/dialgen", "/cloudagent", "/velip", "/vobiz/api/v1"]
    with pytest.raises(ValueError, match="unknown provider 'toy'"):
        Scenario(calls=10, providers=("toy",))


def test_a_scenario_draws_an_id_again_until_it_is_new(
    toy: SimProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn: list[str] = []
    draw = toy.call_id

    def counted(index: int, rng: random.Random) -> str:
        drawn.append(draw(index, rng))
        return drawn[-1]

    monkeypatch.setattr(toy, "call_id", counted)
    scenario = Scenario(seed=1, calls=3000, providers=("toy",))  # 3000 of 65536 ids: some draws repeat
    ids = [p.call_id for p in scenario.plans]
    assert len(drawn) > len(ids) == len(set(ids)) == 3000
    assert all(scenario.find("toy", call_id) is not None for call_id in ids)


def test_a_provider_short_of_ids_fails_instead_of_spinning(
    toy: SimProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(toy, "call_id", lambda index, rng: f"toy-{rng.randint(0, 3)}")
    assert len(Scenario(seed=1, calls=4, providers=("toy",)).ground_truth()) == 4
    with pytest.raises(ValueError, match="too few"):
        Scenario(seed=1, calls=5, providers=("toy",))


def test_a_sixth_provider_is_in_the_demo_the_config_and_the_filter_from_its_one_file(
    toy: SimProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    """The toy's one file (adapter and simulator) and nothing else: `callmon demo`'s sources have it, its
    calls are polled and printed, `config init` has an example for it, the filter knows its name."""
    from callmon.cli import main
    from callmon.config import example
    from callmon.demo import make_demo
    from callmon.query import compile_query

    demo = make_demo(calls=60)
    assert "toy" in {s.provider for s in demo.sources}
    assert main(["watch", "--once", "--demo", "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    toy_calls = [r for r in records if r["provider"] == "toy"]
    assert toy_calls and all(r["source"] == "sim-toy" and r["status"] != "unknown" for r in toy_calls)
    assert 'provider = "toy"' in example()
    assert compile_query("provider:toy").text == "provider:toy"
