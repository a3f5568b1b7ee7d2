"""The poll engine against the simulator over real loopback sockets: ground truth, budgets, backoff, auth."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from callmon.engine import Engine, State
from callmon.engine.budget import SlidingWindow
from callmon.engine.worker import backoff
from callmon.model import Call, Status
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

            finished = await wait_for(done, 60)
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


async def test_ended_calls_are_not_polled_again() -> None:
    scenario = Scenario(seed=4, calls=25, span=60, clock=Clock(speed=100.0), providers=("dialgood",))
    sim = Simulator(scenario, faults=parse_faults(["ratelimit=off"]))
    store = CallStore()
    async for served in serve_simulator(sim):
        async with httpx.AsyncClient() as client:
            engine = Engine(store, client, tick_hz=10)
            source = sources_for(scenario, served.url, interval=0.2)[0]
            engine.add(source, DEMO_SECRETS["dialgood"])
            await engine.start()
            await wait_for(lambda: len(store) == 25 and all(c.ended for c in store.calls.values()), 30)
            await asyncio.sleep(1.0)  # several more cycles
            await engine.stop()
    final_cdrs: dict[str, int] = {}
    for hit in sim.hits:
        if "/cdr/" in hit.path and hit.status == 200:
            final_cdrs[hit.path] = final_cdrs.get(hit.path, 0) + 1
    assert len(final_cdrs) == 25
    assert set(final_cdrs.values()) == {1}, "each call's final CDR was fetched once, then never again"


async def test_retry_after_is_honoured() -> None:
    scenario = Scenario(seed=8, calls=30, clock=Clock(speed=1.0), providers=("velip",))
    # The provider allows 3 list requests per 2 s; the engine is not told (an undocumented, tighter limit).
    sim = Simulator(scenario, limiter=RateLimiter(limits={("velip", "list"): (3, 2.0)}))
    store = CallStore()
    async for served in serve_simulator(sim):
        async with httpx.AsyncClient() as client:
            engine = Engine(store, client, tick_hz=10)
            source = replace(
                sources_for(scenario, served.url, interval=0.1)[0], options={"page_size": 5, "date": None}
            )
            engine.add(source, DEMO_SECRETS["velip"], budgets={"list": Budget(1000, 1.0)})
            await engine.start()
            await wait_for(lambda: any(h.status == 429 for h in sim.hits), 10)
            await wait_for(lambda: engine.health()[0].state == State.RATE_LIMITED, 2)
            assert engine.health()[0].until is not None
            await asyncio.sleep(2.5)
            await engine.stop()
    hits = list(sim.hits)
    limited = [i for i, h in enumerate(hits) if h.status == 429]
    assert limited
    first = limited[0]
    # Retry-After from the simulator is at least 1 s; the next request waited for it.
    assert hits[first + 1].at - hits[first].at >= 0.95


async def test_auth_failure_stops_the_source_after_one_request() -> None:
    scenario = Scenario(seed=2, calls=10, providers=("velip",))
    sim = Simulator(scenario)
    store = CallStore()
    async for served in serve_simulator(sim):
        async with httpx.AsyncClient() as client:
            engine = Engine(store, client, tick_hz=10)
            source = sources_for(scenario, served.url, interval=0.05)[0]
            engine.add(source, {"tsid": "wrong"})
            await engine.start()
            await wait_for(lambda: engine.health()[0].state == State.AUTH_FAILED, 5)
            await asyncio.sleep(0.5)  # it would have polled ten more times
            assert sim.count("velip") == 1
            assert "Invalid token" in engine.health()[0].message
            # The user fixes the key: the source runs again.
            assert engine.retry(source.name, DEMO_SECRETS["velip"])
            assert await wait_for(lambda: engine.health()[0].state == State.OK and len(store) > 0, 5)
            await engine.stop()


async def test_server_errors_back_off_with_jitter_and_recover() -> None:
    scenario = Scenario(seed=6, calls=10, providers=("dialgen",))
    sim = Simulator(scenario, faults=parse_faults(["ratelimit=off", "5xx=1"]))
    store = CallStore()
    async for served in serve_simulator(sim):
        async with httpx.AsyncClient() as client:
            engine = Engine(store, client, tick_hz=10)
            source = sources_for(scenario, served.url, interval=0.05)[0]
            engine.add(source, DEMO_SECRETS["dialgen"])
            await engine.start()
            await wait_for(lambda: engine.health()[0].consecutive_errors >= 2, 10)
            assert engine.health()[0].state == State.RETRYING
            count = sim.count("dialgen")
            await asyncio.sleep(0.5)
            assert sim.count("dialgen") == count, "backing off: no request within half a second"
            sim.faults["dialgen"] = parse_faults(["ratelimit=off"])["dialgen"]
            engine.retry(source.name)
            assert await wait_for(lambda: engine.health()[0].state == State.OK, 10)
            await engine.stop()
    delays = [backoff(n) for n in range(1, 12)]
    assert all(0.5 * 2 * 2 ** (n - 1) <= d or d >= 150 for n, d in enumerate(delays, 1))
    assert max(delays) <= 300


def test_store_merges_drops_noops_and_stale_updates_and_coalesces() -> None:
    store = CallStore()
    batches: list[list[object]] = []
    store.subscribe(lambda b: batches.append(list(b)))
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    base = Call("s", "vobiz", "c1", Status.RINGING, to="+1", updated_at=t0)
    assert store.apply(base) is not None
    assert store.apply(base) is None and store.stats.dropped_noop == 1
    live = base.with_changes(status=Status.IN_PROGRESS, to=None, updated_at=t0 + timedelta(seconds=5))
    store.apply(live)
    assert store.calls[("s", "c1")].to == "+1", "a field the update does not carry is kept"
    ended = live.with_changes(status=Status.COMPLETED, cost=0.45, updated_at=t0 + timedelta(seconds=60))
    store.apply(ended)
    assert store.apply(live) is None and store.stats.dropped_stale == 1, "an older update never wins"
    batch = store.flush()
    assert len(batch) == 1 and batch[0].kind == "new" and batch[0].call.status is Status.COMPLETED
    assert [e.status for e in store.timeline(("s", "c1"))] == [
        Status.RINGING,
        Status.IN_PROGRESS,
        Status.COMPLETED,
    ]
    assert store.flush() == [] and len(batches) == 1


async def test_sliding_window_never_exceeds_its_budget() -> None:
    window = SlidingWindow(Budget(3, 0.3))
    times = []
    for _ in range(9):
        await window.acquire()
        times.append(time.monotonic())
    assert max_in_window(times, 0.3) <= 3
    assert times[-1] - times[0] >= 0.6


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


@pytest.mark.parametrize("provider", ["vobiz"])
async def test_late_cdr_is_fetched_once_the_provider_writes_it(provider: str) -> None:
    scenario = Scenario(seed=31, calls=12, span=60, clock=Clock(speed=20.0), providers=(provider,))
    sim = Simulator(scenario, faults=parse_faults(["ratelimit=off"]))
    truth = scenario.ground_truth()
    store = CallStore()
    async for served in serve_simulator(sim):
        async with httpx.AsyncClient() as client:
            engine = Engine(store, client, tick_hz=10)
            engine.add(sources_for(scenario, served.url, interval=0.2)[0], DEMO_SECRETS[provider])
            await engine.start()
            ok = await wait_for(
                lambda: {(c.provider, c.call_id): c.status for c in store.calls.values()} == truth, 60
            )
            await engine.stop()
    assert ok


def test_the_store_keeps_each_calls_status_timeline() -> None:
    ticks = iter(range(100))
    store = CallStore(clock=lambda: float(next(ticks)))
    call = Call(source="s", provider="vobiz", call_id="c1", status=Status.RINGING, raw_status="ringing")
    store.apply(call)
    store.apply(call.with_changes(reason="same status: no new event"))
    store.apply(call.with_changes(status=Status.COMPLETED, raw_status="NORMAL_CLEARING"), via="push")
    assert [tuple(e) for e in store.timeline(("s", "c1"))] == [
        (0.0, Status.RINGING, "ringing", "poll"),
        (1.0, Status.COMPLETED, "NORMAL_CLEARING", "push"),
    ]
    assert store.via(("s", "c1")) == "push"
    assert store.timeline(("s", "nope")) == () and store.via(("s", "nope")) is None


def test_held_batches_fold_as_one_tick_does() -> None:
    """The monitor folds the batches it holds while its display is paused with Change.then, as the store
    folds a tick's changes: a call that ended, then got its CDR a batch later, still shows as ended."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    ringing = Call("s", "vobiz", "c1", Status.RINGING, updated_at=t0)
    ended = ringing.with_changes(status=Status.COMPLETED, updated_at=t0 + timedelta(seconds=60))
    cdr = ended.with_changes(cost=0.45, updated_at=t0 + timedelta(seconds=65))
    one_tick = CallStore()
    one_tick.apply(ringing)
    one_tick.take()
    one_tick.apply(ended)
    one_tick.apply(cdr)
    [folded] = one_tick.take()
    batches = CallStore()
    batches.apply(ringing)
    batches.take()
    held = []
    for call in (ended, cdr):
        batches.apply(call)
        held.extend(batches.take())
    assert [c.kind for c in held] == ["ended", "changed"]
    assert held[0].then(held[1]) == folded
    assert folded.kind == "ended" and folded.previous is Status.RINGING and folded.new_events == 1
