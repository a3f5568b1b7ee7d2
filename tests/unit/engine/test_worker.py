"""The poll engine on virtual time (tests/virtual_time.py) against the simulator in-process: real budgets,
real Retry-After, real backoff, hours of simulated polling in milliseconds, and exact waits."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from callmon.engine import Engine
from callmon.engine.worker import BACKOFF_CAP, backoff
from callmon.health import SourceHealth, State
from callmon.model import Call
from callmon.providers import ADAPTERS, Budget, Source
from callmon.simulator import (
    DEMO_SECRETS,
    Clock,
    Faults,
    RateLimiter,
    Scenario,
    Simulator,
    build_app,
    demo_sources,
    parse_faults,
)
from callmon.simulator.faults import documented_limits
from callmon.store import CallStore


def now() -> float:
    return asyncio.get_running_loop().time()


def world(seed: int, calls: int, providers: tuple[str, ...], faults: list[str] | None = None, **kw: Any) -> Simulator:
    """A scenario whose clock is the loop's (virtual) time, limits as documented, on that time too."""
    # Noon in India (CloudAgent's zone) today: a scenario started near some zone's midnight would spread its
    # calls over two of the days a source watches, and the test would depend on the hour it runs at.
    start = datetime.now(UTC).replace(hour=6, minute=30, second=0, microsecond=0)
    scenario = Scenario(seed=seed, calls=calls, clock=Clock(real=now, start_utc=start), providers=providers, **kw)
    return Simulator(
        scenario,
        faults=parse_faults(faults or []),
        limiter=RateLimiter(limits=documented_limits(), clock=now),
        monotonic=now,
    )


def sources(sim: Simulator, interval: float) -> list[Source]:
    out = []
    for source in demo_sources(sim.scenario, "http://sim", interval=interval):
        options = dict(source.options)
        if "date" in ADAPTERS[source.provider].options:
            zone = ZoneInfo(ADAPTERS[source.provider].default_timezone)
            options["date"] = sim.scenario.clock.start_utc.astimezone(zone).date().isoformat()
        out.append(replace(source, options=options))
    return out


@dataclass
class Running:
    engine: Engine
    store: CallStore
    sim: Simulator

    def health(self, name: str) -> SourceHealth:
        return next(h for h in self.engine.health() if h.name == name)


@asynccontextmanager
async def running(
    sim: Simulator,
    srcs: list[Source],
    secrets: Callable[[Source], Mapping[str, str]] = lambda s: DEMO_SECRETS[s.provider],
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[Running]:
    store = CallStore(clock=now)
    async with httpx.AsyncClient(transport=transport or httpx.ASGITransport(app=build_app(sim))) as client:
        engine = Engine(store, client, tick_hz=1)
        for source in srcs:
            engine.add(source, secrets(source))
        await engine.start()
        try:
            yield Running(engine, store, sim)
        finally:
            await engine.stop()


async def until(predicate: Callable[[], bool], limit: float) -> bool:
    """Wait (virtual seconds) for the predicate, checking each simulated second."""
    deadline = now() + limit
    while now() < deadline:
        if predicate():
            return True
        await asyncio.sleep(1.0)
    return predicate()


def max_in_window(times: list[float], per: float) -> int:
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - per:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_an_ended_call_is_never_asked_about_again() -> None:
    sim = world(4, 12, ("dialgood",), ["ratelimit=off"], span=60)
    async with running(sim, sources(sim, interval=5)) as run:
        assert await until(lambda: len(run.store) == 12 and all(c.ended for c in run.store.calls.values()), 3600)
        await asyncio.sleep(180)  # three more minutes: 36 more cycles
        worker = run.engine._workers["sim-dialgood"]
        assert worker._next_poll == {} and worker._cdr_tries == {}, "nothing kept for calls that ended"
    finals: dict[str, int] = {}
    for hit in sim.hits:
        if "/cdr/" in hit.path and hit.status == 200:
            finals[hit.path] = finals.get(hit.path, 0) + 1
    assert len(finals) == 12 and set(finals.values()) == {1}


class Recording(httpx.AsyncBaseTransport):
    """The simulator's transport, noting when each answer came and its Retry-After."""

    def __init__(self, sim: Simulator) -> None:
        self.inner = httpx.ASGITransport(app=build_app(sim))
        self.answers: list[tuple[float, int, str | None]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.answers.append((now(), response.status_code, response.headers.get("retry-after")))
        return response


async def test_retry_after_is_waited_exactly() -> None:
    """The provider allows 3 list requests per 20 s and does not say so: its 429's Retry-After is obeyed to
    the second (the next request comes exactly then), and the source shows rate-limited meanwhile."""
    sim = world(8, 30, ("velip",))
    sim.limiter = RateLimiter(limits={("velip", "list"): (3, 20.0)}, clock=now)
    source = replace(sources(sim, interval=0.5)[0], options={"page_size": 5})
    transport = Recording(sim)
    async with running(sim, [source], transport=transport) as run:
        assert await until(lambda: any(status == 429 for _, status, _ in transport.answers), 60)
        assert run.health("sim-velip").state is State.RATE_LIMITED
        await asyncio.sleep(120)
    answers = transport.answers
    first = next(i for i, (_, status, _) in enumerate(answers) if status == 429)
    at, _, header = answers[first]
    assert header is not None
    assert answers[first + 1][0] - at == pytest.approx(float(header), abs=0.01)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("999999999", "clamped"),  # 31 years: no longer than retry_after_max
        ("Thu, 01 Jan 2099 00:00:00 GMT", "clamped"),
        ("0", "backoff"),  # unusable: the exponential backoff, which grows
        ("-5", "backoff"),
        ("nan", "backoff"),
        ("inf", "backoff"),
        ("Mon, 01 Jan 2001 00:00:00 GMT", "backoff"),  # a past date
        ("soon", "backoff"),
        ("0.2", "one second"),  # under a second: one
    ],
)
async def test_retry_after_is_clamped_and_unusable_values_back_off(header: str, expected: str) -> None:
    seen: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(now())
        return httpx.Response(429, headers={"Retry-After": header}, json={"error": "slow down"})

    source = Source("s", "dialgen", {"batches": ["b"]}, base_url="http://x", interval=1.0)
    source = replace(source, limits=replace(source.limits, retry_after_max=120.0))
    sim = world(1, 1, ("dialgen",))
    async with running(sim, [source], transport=httpx.MockTransport(handler)) as run:
        await asyncio.sleep(20 if expected == "one second" else 2000)
        health = run.health("s")
    gaps = [b - a for a, b in itertools.pairwise(seen)]
    assert health.state is State.RATE_LIMITED and health.rate_limited == len(seen)
    if expected == "clamped":
        assert gaps[:3] == pytest.approx([120.0] * 3, abs=1.5)
    elif expected == "one second":
        assert gaps[0] == pytest.approx(1.0, abs=0.5)
    else:
        assert gaps[0] < gaps[4] < gaps[8] and max(gaps) <= BACKOFF_CAP, gaps[:10]


async def test_an_auth_failure_stops_the_source_after_one_request_and_a_retry_resumes_it() -> None:
    sim = world(2, 10, ("velip",))
    source = sources(sim, interval=0.5)[0]
    async with running(sim, [source], secrets=lambda s: {"tsid": "wrong"}) as run:
        assert await until(lambda: run.health("sim-velip").state is State.AUTH_FAILED, 10)
        await asyncio.sleep(3600)  # an hour: nothing more is tried (Velip blocks an IP after 20)
        assert sim.count("velip") == 1 and "Invalid token" in run.health("sim-velip").message
        assert [n.source for n in run.engine.credentials_needed()] == ["sim-velip"]
        assert run.engine.retry("sim-velip", DEMO_SECRETS["velip"])
        assert await until(lambda: run.health("sim-velip").state is State.OK and len(run.store) > 0, 60)
        assert run.engine.credentials_needed() == []


async def test_server_errors_back_off_and_a_failed_lookup_counts_even_with_nothing_else_to_do() -> None:
    """A source that watches only call ids: each failed lookup is an error, backed off, however empty the
    cycles between them are (they used to reset the count and show ok)."""
    sim = world(6, 10, ("dialgen",), ["ratelimit=off", "5xx=1"], span=60)
    ids = [p.call_id for p in sim.scenario.plans][:3]
    source = Source("s", "dialgen", {"call_ids": ids}, base_url="http://sim/dialgen", interval=0.5)
    async with running(sim, [source]) as run:
        assert await until(lambda: run.health("s").consecutive_errors >= 4, 600)
        health = run.health("s")
        assert health.state is State.RETRYING and "server error (HTTP 500)" in health.message
        times = [h.at for h in sim.hits]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert gaps[-1] > gaps[0] * 2, "waits grow"
        sim.faults["dialgen"] = Faults(ratelimit=False)
        assert await until(lambda: run.health("s").state is State.OK, 600)


async def test_one_source_failing_in_any_way_leaves_the_others_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug on hostile input (here: normalize raising a plain ValueError for every Vobiz record) costs that
    source one line of health, never the others."""
    sim = world(3, 40, ("dialgen", "vobiz"), ["ratelimit=off"], span=120)
    vobiz = ADAPTERS["vobiz"]

    def broken(self: Any, raw: Any) -> Call:
        raise ValueError("a value the normalizer did not expect")

    monkeypatch.setattr(vobiz, "normalize", broken)
    monkeypatch.setattr(vobiz, "list_calls", _raising_list_calls)
    async with running(sim, sources(sim, interval=1.0)) as run:
        assert await until(lambda: run.health("sim-vobiz").state is State.RETRYING, 120)
        assert await until(lambda: sum(c.provider == "dialgen" for c in run.store.calls.values()) >= 10, 600)
        health = run.health("sim-vobiz")
        assert "RuntimeError: the provider's list broke" in health.message and "\n" not in health.message
        assert run.health("sim-dialgen").state is State.OK


class _Broken:
    """A list that breaks as soon as it is read."""

    def __aiter__(self) -> _Broken:
        return self

    async def __anext__(self) -> list[Call]:
        raise RuntimeError("the provider's list broke")


def _raising_list_calls(self: Any, full: bool = True) -> AsyncIterator[list[Call]]:
    return _Broken()


async def test_unreadable_records_are_skipped_counted_and_said() -> None:
    rows = [{"callId": "ok-1", "status": "COMPLETED"}, {"status": "ONGOING"}, {"callId": "ok-2", "status": "FAILED"}]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"batchId": "b", "calls": rows})

    source = Source("s", "dialgen", {"batches": ["b"]}, base_url="http://x", interval=1.0)
    async with running(world(1, 1, ("dialgen",)), [source], transport=httpx.MockTransport(handler)) as run:
        await asyncio.sleep(10)
        health = run.health("s")
    assert {c.call_id for c in run.store.calls.values()} == {"ok-1", "ok-2"}
    assert health.state is State.OK and health.skipped >= 1 and "without a call id" in health.note


async def test_pagination_that_never_ends_is_cut_and_said_and_stays_in_budget() -> None:
    """Vobiz says has_next on every page, with new rows each time: the scan ends at the page cap."""
    pages: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if "/Call/" in request.url.path:
            return httpx.Response(200, json={"api_id": "x", "calls": []})
        page = int(request.url.params["page"])
        pages.append(page)
        rows = [{"uuid": f"p{page}-{i}", "hangup_cause_code": 4000, "billsec": 3} for i in range(3)]
        return httpx.Response(200, json={"data": rows, "pagination": {"has_next": True, "page": page}})

    source = Source("s", "vobiz", {"auth_id": "MA", "date": "2026-11-23"}, base_url="http://x", interval=1.0)
    source = replace(source, limits=replace(source.limits, max_pages=25))
    async with running(world(1, 1, ("vobiz",)), [source], transport=httpx.MockTransport(handler)) as run:
        await asyncio.sleep(30)
        health = run.health("s")
    assert max(pages) == 25 and "scan stopped at 25 pages (max_pages)" in health.note
    assert health.state is State.OK and len(run.store) == 25 * 3


async def test_a_call_that_leaves_the_live_list_gets_its_late_cdr_once_written() -> None:
    sim = world(31, 12, ("vobiz",), ["ratelimit=off"], span=60)
    truth = sim.scenario.ground_truth()
    async with running(sim, sources(sim, interval=3.0)) as run:
        assert await until(
            lambda: {(c.provider, c.call_id): c.status for c in run.store.calls.values()} == truth, 3600
        )


def test_backoff_doubles_with_jitter_up_to_its_cap() -> None:
    import random

    rng = random.Random(1)
    for errors in range(1, 40):
        delay = backoff(errors, rng)
        nominal = min(BACKOFF_CAP, 2.0 * 2 ** (errors - 1))
        assert 0.5 * nominal <= delay <= nominal and math.isfinite(delay)


def test_budgets_are_the_providers_documented_ones() -> None:
    assert ADAPTERS["cloudagent"].budgets["cdr"] == Budget(2, 60.0)
    assert ADAPTERS["velip"].budgets["list"] == Budget(200, 3600.0)
    assert ADAPTERS["vobiz"].budgets["default"] == Budget(120, 60.0)
