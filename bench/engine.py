"""Engine benchmark: requests per status change and end-to-end lag, simulator change -> store, at 10k calls.

    python bench/engine.py [--calls 10000] [--speed 10] [--seconds 90] [--interval 2]

The simulator is served by uvicorn on 127.0.0.1 (real sockets) with every documented rate limit on, and the
engine runs with each provider's documented budget. Lag is measured in real seconds from the moment the
scenario clock passed a call's transition to the moment the store applied that status.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from callmon.engine import Engine
from callmon.model import Call, Status
from callmon.providers import ADAPTERS
from callmon.serve import bind, serving, url_of
from callmon.simulator import DEMO_SECRETS, Clock, Scenario, Simulator, build_app, demo_sources
from callmon.simulator.scenario import CallPlan
from callmon.store import CallStore, Change, Via


class TimedStore(CallStore):
    """Records when each (call, status) first reached the store."""

    def __init__(self) -> None:
        super().__init__()
        self.reached: dict[tuple[str, str, Status], float] = {}

    def apply(self, call: Call, via: Via = "poll", *, owned: bool = False) -> Change | None:
        change = super().apply(call, via, owned=owned)
        if change is not None:
            self.reached.setdefault((call.provider, call.call_id, change.call.status), time.monotonic())
        return change


def transition_time(plan: CallPlan, status: Status) -> float | None:
    """Scenario time at which the simulator started reporting `status` for this call."""
    if status is Status.QUEUED:
        return plan.queued
    if status is Status.RINGING:
        return plan.dialed
    if status is Status.IN_PROGRESS:
        return plan.answered
    if status is plan.outcome:
        return plan.ended + plan.cdr_delay if plan.provider in ("dialgood", "vobiz") else plan.ended
    return None


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(calls: int, speed: float, seconds: float, interval: float) -> int:
    clock = Clock(speed=speed)
    scenario = Scenario(seed=42, calls=calls, span=calls * 0.06 * 5, clock=clock)
    sim = Simulator(scenario)
    store = TimedStore()
    sock = bind("127.0.0.1", 0)
    t0_real = time.monotonic()
    async with (
        serving(build_app(sim), sock),
        httpx.AsyncClient(limits=httpx.Limits(max_connections=20)) as client,
    ):
        engine = Engine(store, client, tick_hz=4)
        for source in demo_sources(scenario, url_of(sock), interval=interval):
            options = dict(source.options)
            if source.provider in ("cloudagent", "velip", "vobiz"):
                zone = ZoneInfo(ADAPTERS[source.provider].default_timezone)
                options["date"] = clock.start_utc.astimezone(zone).date().isoformat()
            engine.add(replace(source, options=options), DEMO_SECRETS[source.provider])
        await engine.start()
        await asyncio.sleep(seconds)
        health = engine.health()
        await engine.stop()
    elapsed_sim = (time.monotonic() - t0_real) * speed
    print(
        f"engine bench: {calls} calls, speed {speed:g}x, {seconds:g}s real ({elapsed_sim:.0f}s simulated), "
        f"poll interval {interval:g}s, documented budgets and limits on"
    )
    print()
    header = (
        f"{'provider':<11} {'requests':>9} {'429s':>5} {'changes':>8} {'req/change':>10} "
        f"{'lag p50':>8} {'lag p95':>8} {'lag max':>8}"
    )
    print(header)
    print("-" * len(header))
    total_requests = total_changes = 0
    all_lags: list[float] = []
    for provider in scenario.providers:
        requests = sum(1 for h in sim.hits if h.provider == provider)
        limited = sum(1 for h in sim.hits if h.provider == provider and h.status == 429)
        lags = []
        changes = 0
        for (prov, call_id, status), reached in store.reached.items():
            if prov != provider:
                continue
            changes += 1
            plan = scenario.find(prov, call_id)
            at = transition_time(plan, status) if plan else None
            if at is None or at < 0:
                continue  # it happened before the monitor started: no lag to speak of
            lags.append(max(0.0, reached - (t0_real + at / speed)))
        total_requests += requests
        total_changes += changes
        all_lags += lags
        ratio = requests / changes if changes else float("inf")
        print(
            f"{provider:<11} {requests:>9} {limited:>5} {changes:>8} {ratio:>10.2f} "
            f"{pct(lags, 0.5):>7.1f}s {pct(lags, 0.95):>7.1f}s {max(lags, default=float('nan')):>7.1f}s"
        )
    ratio = total_requests / total_changes if total_changes else float("inf")
    print("-" * len(header))
    print(
        f"{'all':<11} {total_requests:>9} {'':>5} {total_changes:>8} {ratio:>10.2f} "
        f"{pct(all_lags, 0.5):>7.1f}s {pct(all_lags, 0.95):>7.1f}s {max(all_lags, default=float('nan')):>7.1f}s"
    )
    print()
    print(
        f"store: {len(store)} calls, {store.stats.status_changes} status changes, "
        f"{store.stats.dropped_noop} no-op updates dropped, {store.stats.dropped_stale} stale dropped; "
        f"median lag {statistics.median(all_lags) if all_lags else float('nan'):.2f}s"
    )
    for h in health:
        print(f"  {h.name:<15} {h.summary():<14} requests={h.requests} active={h.active}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--interval", type=float, default=2.0)
    args = parser.parse_args()
    return asyncio.run(run(args.calls, args.speed, args.seconds, args.interval))


if __name__ == "__main__":
    sys.exit(main())
