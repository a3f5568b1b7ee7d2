"""Is the campaign healthy, at a big dialer's size: the group view, /metrics and alerts over 100k calls.

    .venv/bin/python bench/measures.py [--calls 100000] [--runs 7]

The calls are a dialer's day up to now (bench/calls.py day(): built through every provider's wire format,
first seen one after another over 24 hours), so the last two hours hold a twelfth of them, as they would.
Each step's median (best) of --runs; targets from issue 22:
- group view, first build: every call into running totals by campaign (and by reason)          < 100 ms
- a tick of 1,000 changes: the totals kept up to date (each change's old version out, new in)    <   5 ms
- /metrics scrape at 100k calls (prometheus_client's text, 20 campaigns and the rest as other)  <  50 ms
- alert evaluation, per tick: four rules (per campaign, overall, stuck, source down)             <   2 ms
  (and the full pass, once a minute, when every group's window rolls on: reported, no target)
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from calls import day  # noqa: E402

from callmon.alerts import AlertEvaluator, parse_rule  # noqa: E402
from callmon.health import SourceHealth, State  # noqa: E402
from callmon.measures import Groups  # noqa: E402
from callmon.metrics import Metrics  # noqa: E402
from callmon.model import Call, Status, revised  # noqa: E402
from callmon.store import CallStore, Change  # noqa: E402

RULES = [
    {"name": "campaign failing", "when": "failure_rate > 0.8", "over": "5m", "min_calls": 20, "by": "campaign"},
    {"name": "answer rate", "when": "answer_rate < 0.2", "over": "15m", "min_calls": 100},
    {"name": "stuck", "kind": "stuck", "for": "30m"},
    {"name": "down", "kind": "source_down", "for": "2m"},
]


def timed(fn: Callable[[], object], runs: int, setup: Callable[[], None] | None = None) -> list[float]:
    out = []
    for _ in range(runs):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def line(label: str, ms: list[float], target: float | None) -> None:
    median, best = statistics.median(ms), min(ms)
    verdict = "" if target is None else ("  ok" if median < target else "  MISSED")
    goal = "" if target is None else f"  (target < {target:g} ms)"
    print(f"{label:<52} {median:8.2f} ms  (best {best:.2f}){goal}{verdict}")


def changes_for(store: CallStore, rng: random.Random, n: int) -> list[Change]:
    """n real changes: calls of the store moved to another status, as a tick of polling would."""
    keys = rng.sample(list(store.calls), n)
    for key in keys:
        call = store.calls[key]
        status = rng.choice([Status.COMPLETED, Status.FAILED, Status.NO_ANSWER, Status.BUSY])
        store.apply(revised(call, status=status, updated_at=None))
    return store.take()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    now = time.time()
    calls: list[Call] = day(args.calls, now)
    store = CallStore(lambda: now)
    for call in calls:
        store.load(call)
    print(f"{args.calls:,} calls over the day up to now; {args.runs} runs each, median (best)")

    for dimension in ("campaign", "reason"):
        line(
            f"group view, first build, by {dimension}",
            timed(lambda d=dimension: Groups(d).build(calls, now), args.runs),  # type: ignore[misc]
            100,
        )

    rng = random.Random(1)
    groups = Groups("campaign")
    groups.build(store.calls.values(), now)
    batches = [changes_for(store, rng, 1000) for _ in range(args.runs)]
    pending = iter(batches)
    line("a tick of 1,000 changes, running totals", timed(lambda: groups.apply(next(pending), now), args.runs), 5)

    health = [SourceHealth(f"s{i}", "vobiz", State.OK) for i in range(5)]
    metrics = Metrics(store, lambda: health)
    scraped = metrics.scrape()
    line(f"/metrics scrape ({len(scraped):,} bytes)", timed(metrics.scrape, args.runs), 50)

    evaluator = AlertEvaluator([parse_rule(r) for r in RULES], lambda: health, lambda: now)
    evaluator.attach(store)
    evaluator.evaluate(now)  # the first, full pass
    ticks = [changes_for(store, rng, 1000) for _ in range(args.runs)]
    moments = iter(range(1, args.runs + 1))
    ticked = iter(ticks)

    def tick() -> None:
        evaluator.apply(next(ticked))

    def evaluate() -> None:
        evaluator.evaluate(now + next(moments) * 0.25)  # within the same minute: the groups touched

    line("alert evaluation per tick (1,000 changes applied)", timed(evaluate, args.runs, setup=tick), 2)
    minutes = iter(range(1, args.runs + 1))
    line("  the full pass, once a minute", timed(lambda: evaluator.evaluate(now + next(minutes) * 60), args.runs), None)
    line("  applying a tick's 1,000 changes to the rules' totals", timed(lambda: evaluator.apply(batches[0]), args.runs), None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
