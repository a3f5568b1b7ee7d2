"""The monitor under a synthetic load, for bench/terminal.py: N calls, changes at a set rate to visible or
off-screen rows, and the event loop's lag recorded (written as JSON to --report at exit)."""

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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ENDED = ("completed", "no-answer", "busy", "failed", "canceled")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=0.0, help="status changes a second")
    parser.add_argument("--where", choices=("visible", "offscreen"), default="visible")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--report", required=True)
    parser.add_argument("--fps", type=int, default=None)
    parser.add_argument("--colors", default="auto")
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

    async def measure_lag() -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - start - 0.01)

    @contextlib.asynccontextmanager
    async def opener(notice: Callable[[str], None]) -> AsyncIterator[Session]:
        async with httpx.AsyncClient() as client:
            engine = Engine(store, client, tick_hz=4)
            await engine.start()
            tasks = [asyncio.create_task(load()), asyncio.create_task(measure_lag())]
            try:
                yield Session(store, engine, [])
            finally:
                for task in tasks:
                    task.cancel()
                await engine.stop()

    app = CallmonApp(opener, title="bench")

    def finish() -> None:
        ordered = sorted(lags[len(lags) // 5 :])  # the first fifth is start-up
        p99 = ordered[int(0.99 * (len(ordered) - 1))] if ordered else float("nan")
        Path(args.report).write_text(json.dumps({"lag_p99_ms": p99 * 1000, "samples": len(ordered)}))
        app.exit()

    app.call_later(lambda: app.set_timer(args.seconds, finish))
    app.run()


if __name__ == "__main__":
    main()
