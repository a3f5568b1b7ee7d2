"""Team mode against a real redis-server and the simulator over loopback, collectors in this process."""

from __future__ import annotations

import asyncio
import itertools
import signal
from collections.abc import Callable
from dataclasses import replace

import httpx
import pytest

from callmon.engine import Engine
from callmon.providers import ADAPTERS, Budget
from callmon.simulator import Clock, Scenario, Simulator, parse_faults
from callmon.store import CallStore
from callmon.team.connect import connect
from callmon.team.keys import Keys
from callmon.team.scripts import NOT_LEADER, Scripts
from tests.conftest import serve_simulator
from tests.integration.team.conftest import settings_for
from tests.integration.team.engine import RedisServer
from tests.integration.team.harness import (
    crash,
    pairs_for,
    published,
    start_collector,
    start_viewer,
    statuses,
    wait_for,
)


def finished(seed: int, calls: int, providers: tuple[str, ...] | None = None) -> Scenario:
    """A scenario whose every call has ended and every record is written: each run of it sees the same."""
    scenario = Scenario(seed=seed, calls=calls, clock=Clock(speed=1.0), providers=providers)
    scenario.clock.advance(scenario.finished_at() + 1)
    return scenario


async def test_golden_equality_with_a_single_process_run(redis_server: RedisServer, prefix: str) -> None:
    """Two collectors and a viewer end with exactly the calls one local engine ends with, payloads and all."""
    settings = settings_for(redis_server.url, prefix)
    alone, team = finished(7, 60), finished(7, 60)
    # The team's scenario is anchored where the local one is, so times match to the microsecond.
    team.clock.start_utc = alone.clock.start_utc
    local = CallStore()
    no_limits = parse_faults(["ratelimit=off"])
    async for served_alone in serve_simulator(Simulator(alone, faults=no_limits)):
        async for served in serve_simulator(Simulator(team, faults=no_limits)):
            async with httpx.AsyncClient() as client:
                engine = Engine(local, client, tick_hz=10)
                for source, secrets in pairs_for(alone, served_alone.url):
                    engine.add(source, secrets)
                await engine.start()
                pairs = pairs_for(team, served.url)
                a = await start_collector(settings, pairs, client)
                b = await start_collector(settings, pairs, client)
                viewer = await start_viewer(settings)
                truth = team.ground_truth()
                try:
                    assert await wait_for(lambda: statuses(local.calls) == truth, 30)
                    assert await wait_for(lambda: statuses(viewer.store.calls) == truth, 30), (
                        len(viewer.store), len(truth)
                    )
                    await asyncio.sleep(0.5)  # the last records of each provider (CDR details) settle
                finally:
                    await engine.stop()
                    await viewer.stop()
                    await a.stop()
                    await b.stop()
    assert viewer.store.calls.keys() == local.calls.keys()
    for key, call in local.calls.items():
        theirs = viewer.store.calls[key]
        assert theirs == call, key
        assert theirs.payload() == call.payload(), key
        assert [e.status for e in viewer.store.timeline(key)] == [e.status for e in local.timeline(key)], key


async def test_budget_script_refuses_a_collector_that_does_not_lead(redis_server: RedisServer, prefix: str) -> None:
    settings = settings_for(redis_server.url, prefix)
    engine = connect(settings, None)
    scripts = Scripts(engine)
    keys = Keys(prefix).account("acct")
    try:
        taken = await scripts.acquire(keys=[keys.lease, keys.fence], args=["me", 5000])
        assert [int(taken[0]), int(taken[1])] == [2, 1]
        granted = await scripts.budget(keys=[keys.lease, keys.budget("cdr")], args=["me", 2, 60000, 1000, "r1"])
        assert int(granted[0]) == 1
        refused = await scripts.budget(keys=[keys.lease, keys.budget("cdr")], args=["other", 2, 60000, 1000, "r2"])
        assert int(refused[0]) == NOT_LEADER
        granted = await scripts.budget(keys=[keys.lease, keys.budget("cdr")], args=["me", 2, 60000, 1000, "r3"])
        assert int(granted[0]) == 1
        full = await scripts.budget(keys=[keys.lease, keys.budget("cdr")], args=["me", 2, 60000, 1000, "r4"])
        assert int(full[0]) == 0 and 59_000 < int(full[1]) <= 61_000
        # A publish by anyone but the leader writes nothing either.
        assert await scripts.publish(
            keys=[keys.lease, keys.changes, keys.seq, keys.calls, keys.written, keys.inbox_pos, keys.health],
            args=["other", 100, "", "", "c1", b"x"],
        ) == NOT_LEADER
        assert await engine.exists(keys.changes, keys.calls) == 0
    finally:
        await engine.aclose()


async def test_shared_budget_three_collectors_and_detail_requests_against_cloudagent(
    redis_server: RedisServer, prefix: str
) -> None:
    """CloudAgent's CDR report allows 2 requests a minute. Three collectors, a leader that crashes after
    spending them, and a viewer asking for details all the while: the simulator answers no 429."""
    settings = settings_for(redis_server.url, prefix)
    scenario = Scenario(seed=5, calls=20, clock=Clock(speed=30.0), providers=("cloudagent",))
    sim = Simulator(scenario)  # the documented limits, enforced
    async for served in serve_simulator(sim):
        async with httpx.AsyncClient() as client:
            pairs = pairs_for(scenario, served.url, interval=0.5)
            collectors = [await start_collector(settings, pairs, client) for _ in range(3)]
            viewer = await start_viewer(settings)
            try:
                assert await wait_for(lambda: sim.count("cloudagent", "cdr") >= 2, 10)
                first = next(c for c in collectors if c.leading())
                assert await wait_for(lambda: len(viewer.store) > 0, 10)
                key = next(iter(viewer.store.calls))
                asks = [asyncio.create_task(viewer.detail(key)) for _ in range(3)]
                await asyncio.sleep(0.5)
                await crash(first)
                rest = [c for c in collectors if c is not first]
                assert await wait_for(lambda: any(c.leading() for c in rest), 5)
                for _ in range(10):
                    asks.append(asyncio.create_task(viewer.detail(key)))
                    await asyncio.sleep(0.3)
                for task in asks:
                    task.cancel()
            finally:
                await viewer.stop()
                for collector in collectors:
                    if collector is not first:
                        await collector.stop()
    assert [h for h in sim.hits if h.status == 429] == []
    assert sim.count("cloudagent", "cdr") == 2  # the minute's budget, spent once across three collectors
    # The standby that took over asked the engine and was told to wait, not refused as a non-leader.
    assert sum(c.accounts["sim-cloudagent"].limiter.granted for c in collectors) == sim.count("cloudagent")


async def test_velip_auth_failure_is_not_retried_on_failover(redis_server: RedisServer, prefix: str) -> None:
    """Velip blocks an IP after repeated auth failures: the key one collector saw rejected is never tried by
    another that has the same key, not even after the first one dies."""
    settings = settings_for(redis_server.url, prefix)
    scenario = Scenario(seed=3, calls=10, clock=Clock(speed=10.0), providers=("velip",))
    sim = Simulator(scenario, faults=parse_faults(["velip:auth"]))
    async for served in serve_simulator(sim):
        async with httpx.AsyncClient() as client:
            pairs = pairs_for(scenario, served.url, interval=0.5)
            a = await start_collector(settings, pairs, client)
            b = await start_collector(settings, pairs, client)
            viewer = await start_viewer(settings)
            try:
                assert await wait_for(lambda: sim.count("velip") >= 1, 5)
                failed = a if a.accounts["sim-velip"].worker.health.requests else b
                other = b if failed is a else a
                await asyncio.sleep(3 * settings.lease_ttl)
                await crash(failed)
                await asyncio.sleep(4 * settings.lease_ttl)
                assert other.leading() == []
                assert other.accounts["sim-velip"].worker.health.state.value == "auth failed"
                assert await wait_for(lambda: bool(viewer.health()) and viewer.health()[0].state.value == "auth failed", 3)
            finally:
                await viewer.stop()
                await other.stop()
    assert sim.count("velip") == 1
    assert sum(len(v) for v in sim.auth_failures.values()) == 1


async def test_engine_frozen_no_overlapping_leaders(
    own_redis: Callable[..., RedisServer], prefix: str
) -> None:
    """SIGSTOP the engine for three TTLs: every leader has stopped by its own clock before another starts;
    after SIGCONT there is one leader again and the viewer goes on."""
    server = own_redis("frozen").start()
    settings = settings_for(server.url, prefix)
    scenario = Scenario(seed=9, calls=40, clock=Clock(speed=20.0), providers=("dialgen", "vobiz"))
    sim = Simulator(scenario)
    async for served in serve_simulator(sim):
        async with httpx.AsyncClient() as client:
            pairs = pairs_for(scenario, served.url, interval=0.5)
            a = await start_collector(settings, pairs, client)
            b = await start_collector(settings, pairs, client)
            viewer = await start_viewer(settings)
            try:
                assert await wait_for(lambda: len(a.leading()) + len(b.leading()) == 2, 5)
                server.signal(signal.SIGSTOP)
                await asyncio.sleep(3 * settings.lease_ttl)
                assert a.leading() == [] and b.leading() == []
                assert await wait_for(lambda: a.split.active and b.split.active, 3)  # polling alone meanwhile
                server.signal(signal.SIGCONT)
                assert await wait_for(lambda: sorted(a.leading() + b.leading()) == ["sim-dialgen", "sim-vobiz"], 10)
                before = len(viewer.store)
                assert await wait_for(lambda: viewer.reachable and len(viewer.store) > before, 15)
            finally:
                await viewer.stop()
                await a.stop()
                await b.stop()
    intervals = [(*i[:3], i[3]) for c in (a, b) for i in c.leases.intervals]
    for name in ("sim-dialgen", "sim-vobiz"):
        mine = sorted((start, end) for acct, _, start, end in intervals if acct == name)
        for (_, end), (start, _) in itertools.pairwise(mine):
            assert end is not None and end <= start, (name, mine)
    assert [h for h in sim.hits if h.status == 429] == []


@pytest.mark.parametrize("aof", [True, False])
async def test_engine_restart(own_redis: Callable[..., RedisServer], prefix: str, aof: bool) -> None:
    """kill -9 the engine and start it again on the same port and dir. With AOF: the same epoch, leases taken
    again, the viewer resumes. Without: a new epoch, the viewer loads everything again, the leader publishes
    everything again, and the viewer still ends equal to the leader."""
    server = own_redis("restart", aof=aof).start()
    settings = settings_for(server.url, prefix)
    scenario = Scenario(seed=4, calls=30, clock=Clock(speed=30.0), providers=("dialgen", "velip"))
    sim = Simulator(scenario, faults=parse_faults(["ratelimit=off"]))
    truth = scenario.ground_truth()
    async for served in serve_simulator(sim):
        async with httpx.AsyncClient() as client:
            pairs = pairs_for(scenario, served.url, interval=0.5)
            a = await start_collector(settings, pairs, client)
            viewer = await start_viewer(settings)
            try:
                assert await wait_for(lambda: len(viewer.store) >= 5, 10)
                epoch = viewer.follower.epoch
                resyncs = viewer.follower.resyncs
                await asyncio.sleep(1.2)  # past appendfsync everysec
                server.kill()
                await asyncio.sleep(0.5)
                server.start()
                assert await wait_for(lambda: viewer.reachable and a.leading() != [], 10)
                assert await wait_for(lambda: statuses(viewer.store.calls) == truth, 40)
                assert await wait_for(lambda: statuses(viewer.store.calls) == statuses(a.store.calls), 5)
                if aof:
                    assert viewer.follower.epoch == epoch
                else:
                    assert viewer.follower.epoch != epoch
                    assert viewer.follower.resyncs > resyncs
                    engine = connect(settings, None)
                    try:
                        assert await engine.hlen(Keys(prefix).account("sim-velip").calls) == a.store.count("sim-velip")
                    finally:
                        await engine.aclose()
            finally:
                await viewer.stop()
                await a.stop()


async def test_trimmed_stream_resyncs(redis_server: RedisServer, prefix: str) -> None:
    """A viewer away while the stream was trimmed past its last entry loads the snapshot again."""
    settings = replace(settings_for(redis_server.url, prefix), stream_max=10)
    # Trimming is by whole stream nodes (100 entries by default): small nodes, so 10 means about 10.
    admin = connect(settings, None)
    await admin.config_set("stream-node-max-entries", 4)
    await admin.aclose()
    # Enough calls that changes keep coming after the viewer leaves, however late a busy machine starts it.
    scenario = Scenario(seed=6, calls=240, clock=Clock(speed=40.0), providers=("dialgen",))
    sim = Simulator(scenario, faults=parse_faults(["ratelimit=off"]))
    async for served in serve_simulator(sim):
        async with httpx.AsyncClient() as client:
            a = await start_collector(settings, pairs_for(scenario, served.url, 0.5), client)
            viewer = await start_viewer(settings)
            try:
                assert await wait_for(lambda: len(viewer.store) > 0, 10)
                for task in viewer._tasks:  # the viewer goes away (its connection is left as it was)
                    task.cancel()
                await asyncio.gather(*viewer._tasks, return_exceptions=True)
                seq = viewer.follower.accounts["sim-dialgen"].n
                engine = connect(settings, None)
                keys = Keys(prefix).account("sim-dialgen")
                for _ in range(300):  # until a few stream nodes were trimmed away
                    if int(await engine.get(keys.seq) or 0) >= seq + 40:
                        break
                    await asyncio.sleep(0.1)
                assert int(await engine.get(keys.seq) or 0) >= seq + 40, "the stream moved on while it was away"
                assert await published(a, "sim-dialgen")
                assert await engine.xlen(keys.changes) < 30
                await engine.aclose()
                resyncs = viewer.follower.resyncs
                await viewer.follower.resume()
                # The collector keeps making changes while the viewer catches up: caught up is being equal
                # at one moment, however long a busy machine takes to get there.
                caught_up = False
                deadline = asyncio.get_running_loop().time() + 60
                while not caught_up and asyncio.get_running_loop().time() < deadline:
                    await viewer.follower.read(100)
                    caught_up = statuses(viewer.store.calls) == statuses(a.store.calls)
            finally:
                await viewer.stop()
                await a.stop()
    assert viewer.follower.resyncs > resyncs  # (a live reader can fall past 10 entries too: more loads)
    assert caught_up


def test_adapters_budgets_are_what_the_limiter_shares() -> None:
    assert ADAPTERS["cloudagent"].budgets["cdr"] == Budget(2, 60.0)



async def test_retention_prunes_calls_and_stream_entries(redis_server: RedisServer, prefix: str) -> None:
    settings = settings_for(redis_server.url, prefix)
    scenario = finished(12, 20, providers=("dialgen",))
    sim = Simulator(scenario, faults=parse_faults(["ratelimit=off"]))
    async for served in serve_simulator(sim):
        async with httpx.AsyncClient() as client:
            keep = await start_collector(settings, pairs_for(scenario, served.url), client, retention_days=1.0)
            keys = Keys(prefix).account("sim-dialgen")
            engine = connect(settings, None)
            try:
                assert await wait_for(lambda: len(keep.store) == 20, 10)
                assert await published(keep, "sim-dialgen")
                assert await keep.prune() == 0  # all of it is younger than a day
                assert await engine.hlen(keys.calls) == 20
                keep.retention_days = 0.0
                await asyncio.sleep(0.01)
                assert await keep.prune() == 20
                assert await engine.hlen(keys.calls) == 0 and await engine.zcard(keys.written) == 0
            finally:
                await engine.aclose()
                await keep.stop()
