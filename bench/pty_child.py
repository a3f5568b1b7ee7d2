"""The monitor under load, for bench/terminal.py, with the event loop's lag recorded (JSON to --report).

Synthetic: N calls, changes at a set rate to visible or off-screen rows.
--demo: `callmon demo` as a user runs it, except that the simulator runs in its own process behind a real
loopback socket; the report then also holds the end-to-end lag, from the moment the simulator's clock
passed a call's status change to the moment the frame showing it was handed to the terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ENDED = ("completed", "no-answer", "busy", "failed", "canceled")


async def measure_lag(lags: list[float]) -> None:
    """How late a 10 ms sleep wakes up: the event loop's lag, sampled until cancelled."""
    while True:
        start = time.perf_counter()
        await asyncio.sleep(0.01)
        lags.append(time.perf_counter() - start - 0.01)


def lag_report(lags: list[float]) -> dict[str, float]:
    ordered = sorted(lags[len(lags) // 5 :])  # the first fifth is start-up
    p99 = ordered[int(0.99 * (len(ordered) - 1))] if ordered else float("nan")
    return {"lag_p99_ms": p99 * 1000, "samples": len(ordered)}


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=0.0, help="status changes a second")
    parser.add_argument("--where", choices=("visible", "offscreen"), default="visible")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--report", required=True)
    parser.add_argument("--fps", type=int, default=None)
    parser.add_argument("--colors", default="auto")
    parser.add_argument("--demo", action="store_true", help="the demo, the simulator in its own process")
    return parser.parse_args()


def main() -> None:
    args = parse()
    if args.fps:
        os.environ["TEXTUAL_FPS"] = str(args.fps)
    if args.colors == "256":
        os.environ["TEXTUAL_COLOR_SYSTEM"] = "256"

    import httpx

    from callmon.engine import Engine
    from callmon.model import Call, Status
    from callmon.runtime import Session
    from callmon.store import CallStore
    from callmon.tui.app import CallmonApp

    if args.demo:
        demo(args)
        return

    rng = random.Random(5)
    base = datetime.now(UTC) - timedelta(hours=3)
    store = CallStore()
    # Ended calls, started hours ago: nothing on screen changes by itself (an idle screen is a quiet one).
    for i in range(args.calls):
        store.apply(Call("load", "vobiz", f"call-{i:06d}", Status(rng.choice(ENDED)), campaign="bench",
                         to=f"+9198{i:08d}", started_at=base + timedelta(seconds=i), duration_s=60))  # fmt: skip
    store.take()
    newest = [
        ("load", f"call-{i:06d}") for i in range(args.calls - 1, args.calls - 41, -1)
    ]  # top of the screen
    oldest = [("load", f"call-{i:06d}") for i in range(0, 2000)]  # far below it
    targets = newest if args.where == "visible" else oldest
    lags: list[float] = []

    async def load() -> None:
        if args.rate <= 0:
            return
        period = 1.0 / args.rate
        next_at = time.perf_counter()
        while True:
            # Changes come in whole ticks' worth, as the engine's ticker would hand them over.
            now = time.perf_counter()
            while next_at <= now:
                key = rng.choice(targets)
                old = store.calls[key]
                status = Status(rng.choice([s for s in ENDED if s != old.status.value]))
                store.apply(old.with_changes(status=status, duration_s=(old.duration_s or 0) + 1))
                next_at += period
            await asyncio.sleep(max(0.0, min(0.05, next_at - time.perf_counter())))

    @contextlib.asynccontextmanager
    async def opener(notice: Callable[[str], None]) -> AsyncIterator[Session]:
        async with httpx.AsyncClient() as client:
            engine = Engine(store, client, tick_hz=4)
            await engine.start()
            tasks = [asyncio.create_task(load()), asyncio.create_task(measure_lag(lags))]
            try:
                yield Session(store, engine, [])
            finally:
                for task in tasks:
                    task.cancel()
                await engine.stop()

    app = CallmonApp(opener, title="bench")

    def finish() -> None:
        Path(args.report).write_text(json.dumps(lag_report(lags)))
        app.exit()

    app.call_later(lambda: app.set_timer(args.seconds, finish))
    app.run()


def demo(args: argparse.Namespace) -> None:
    from callmon.model import Status
    from callmon.runtime import live_session
    from callmon.serve import bind, serving, url_of
    from callmon.simulator import Clock, Scenario, Simulator, build_app, demo_secrets, demo_sources
    from callmon.store import Key
    from callmon.tui.app import CallmonApp
    from callmon.tui.table import CallTable

    # CLOCK_MONOTONIC is one clock for the whole machine: the forked simulator and this process agree on
    # when each scenario moment happens.
    scenario = Scenario(seed=7, calls=300, clock=Clock(speed=1.0, real=time.monotonic))
    sock = bind("127.0.0.1", 0)
    server = os.fork()
    if server == 0:
        os.setsid()

        async def serve() -> None:
            async with serving(build_app(Simulator(scenario)), sock):
                await asyncio.Event().wait()

        with contextlib.suppress(BaseException):
            asyncio.run(serve())
        os._exit(0)
    sources = demo_sources(scenario, url_of(sock))
    sock.close()
    secrets = demo_secrets(sources)
    provider_of = {s.name: s.provider for s in sources}

    def happened(key: Key, status: Status) -> float | None:
        """When (monotonic) the simulator's call reached this status."""
        plan = scenario.find(provider_of[key[0]], key[1])
        if plan is None:
            return None
        at = {Status.QUEUED: plan.queued, Status.RINGING: plan.dialed, Status.IN_PROGRESS: plan.answered}.get(
            status, plan.ended if status is plan.outcome else None
        )
        clock = scenario.clock
        return None if at is None else clock._t0 + (at - clock._offset) / clock.speed

    rendered: set[tuple[Key, Status]] = set()
    shown: dict[tuple[Key, Status], float] = {}
    render_line = CallTable.render_line

    def noting_render_line(self: CallTable, y: int) -> Any:
        strip = render_line(self, y)
        row = round(self.scroll_y) + y
        if row < len(self.view):
            key = self.view.key_at(row)
            call = self.view.calls.get(key)
            if call is not None:
                rendered.add((key, call.status))
        return strip

    CallTable.render_line = noting_render_line  # type: ignore[method-assign]
    lags: list[float] = []
    started = time.monotonic()

    class Measured(CallmonApp):
        def _display(self, screen: Any, renderable: Any) -> None:
            super()._display(screen, renderable)
            now = time.monotonic()
            for seen in rendered:
                shown.setdefault(seen, now)
            rendered.clear()

    def opener(notice: Callable[[str], None]) -> Any:
        pairs = [(s, secrets[s.name]) for s in sources]
        return live_session(pairs, on_notice=notice, tick_hz=4)

    app = Measured(opener, title="bench")

    def finish() -> None:
        # Only changes that happened once the monitor was up: earlier ones were history when it started.
        e2e = sorted(
            t - at
            for (key, status), t in shown.items()
            if (at := happened(key, status)) is not None and at > started + 5
        )
        report: dict[str, float] = {**lag_report(lags), "e2e_samples": len(e2e)}
        if e2e:
            report |= {"e2e_p50_s": e2e[len(e2e) // 2], "e2e_p95_s": e2e[int(0.95 * (len(e2e) - 1))]}
        Path(args.report).write_text(json.dumps(report))
        os.kill(server, 9)
        app.exit()

    tasks: list[asyncio.Task[None]] = []

    async def start() -> None:
        tasks.append(asyncio.create_task(measure_lag(lags)))
        app.set_timer(args.seconds, finish)

    app.call_later(start)
    app.run()


if __name__ == "__main__":
    main()
