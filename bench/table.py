"""Table benchmark: callmon's live table vs Textual's DataTable, 100k calls, 160x50, headless.

    python bench/table.py [--calls 100000] [--no-baseline]

Each step is timed in CPU time, from the operation to the end of the frame that shows it, and the bytes that
frame would write to the terminal are counted (a driver that renders like a real terminal but writes nowhere).
CPU time, not wall time: Textual paints on a 60 Hz timer, so a change waits up to 16.7 ms for its frame
whatever it costs, and that wait is frame pacing, not work. The wait is in the end-to-end lag figure of
bench/terminal.py, which is wall time from a simulator change to the bytes on the terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import textual.drivers.headless_driver as headless
from calls import START, fill, many, payloads
from calls import _copy as copy_call
from calls import calls as make_calls
from rich.segment import Segment
from textual.app import App, ComposeResult
from textual.coordinate import Coordinate
from textual.geometry import Region, Size
from textual.pilot import Pilot
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import DataTable

from callmon.columns import COLUMNS, SEPARATOR
from callmon.columns import COLUMNS as _ALL
from callmon.history import History
from callmon.model import Call, Status
from callmon.query import compile_query
from callmon.store import CallStore, Change
from callmon.tui.table import GUTTER, CallTable
from callmon.view import CallView

SIZE = (160, 50)
WRITTEN = [0]
LAST_WRITE = [0.0]  # process CPU time at the last write
ON_WRITE: list[Any] = [lambda: None]


class CountingDriver(headless.HeadlessDriver):
    """Renders frames like a terminal driver (Textual skips that when headless) and counts their bytes."""

    @property
    def is_headless(self) -> bool:
        return False

    def write(self, data: str) -> None:
        WRITTEN[0] += len(data.encode("utf-8"))
        LAST_WRITE[0] = time.process_time()
        ON_WRITE[0]()


headless.HeadlessDriver = CountingDriver  # type: ignore[misc]

STATUSES = list(Status)
ONE_SAMPLES = 31  # "one visible change" is timed on this many rows (each a different one) and the median kept
FLOOR = "(Textual's floor: a one-cell refresh)"
REAL_PATH_MAX = 100_000  # calls built through every wire format; past it, copies of real ones (bench/calls.py)
START_AT = START.timestamp()
FIVE_PERCENT = "campaign:Renewals1 status:completed"  # 5.6 % of the benchmark's calls


@dataclass
class Result:
    name: str
    ms: float
    bytes: int | None = None


@dataclass
class Report:
    rows: dict[str, list[Result]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def add(self, who: str, name: str, ms: float, written: int | None = None) -> None:
        self.rows.setdefault(name, [])
        self.rows[name].append(Result(who, ms, written))


async def frame(pilot: Pilot[Any]) -> None:
    """Until the app has processed everything and painted the result."""
    await pilot.pause()
    await pilot.pause()


async def measure(pilot: Pilot[Any], action: Any) -> tuple[float, int]:
    """CPU milliseconds from the action to the end of the frame that shows it (or to the end of the action's
    own work when nothing on screen changed), and the bytes that frame wrote."""
    await frame(pilot)
    WRITTEN[0] = 0
    LAST_WRITE[0] = 0.0
    written = asyncio.Event()
    ON_WRITE[0] = written.set
    t0 = time.process_time()
    result = action()
    if asyncio.iscoroutine(result):
        await result
    done = time.process_time()
    # Wait for the frame without doing anything meanwhile (the pilot's own waiting would count as CPU).
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(written.wait(), 0.5)
    ON_WRITE[0] = lambda: None
    end = LAST_WRITE[0] if LAST_WRITE[0] > t0 else done
    await frame(pilot)  # let everything settle; the bytes of the whole frame are counted
    return (end - t0) * 1000, WRITTEN[0]


def median_sample(samples: list[tuple[float, int]]) -> tuple[float, int]:
    """The median time and the median bytes of a step measured several times (one sample is noise)."""
    return statistics.median(ms for ms, _ in samples), int(statistics.median(b for _, b in samples))


class Bench(App[None]):
    def __init__(self, store: CallStore) -> None:
        super().__init__()
        self.store = store
        self.view = CallView()

    def compose(self) -> ComposeResult:
        yield CallTable(self.view, id="table")


def held(calls: list[Call]) -> CallStore:
    """A store holding the calls as the monitor holds a day of them: each first seen about when it was placed
    (polled as it happened, or read back from history with the time it was first seen), in the order first
    seen. Ingest in this bench's key order would stamp every call "first seen" during the ingest, in an order
    unrelated to its start time, which no monitor holds: that made the load's sort by start time a sort of
    values in random order."""
    store = CallStore()
    for call in calls:
        store.load(call)
    store.hold_in_arrival_order()
    return store


async def bench_callmon(calls: list[Call], report: Report) -> None:
    rng = random.Random(1)
    ingested = CallStore()
    t0 = time.perf_counter()
    for call in calls:
        ingested.apply(call)
    ingested.take()
    report.add("callmon", "(store ingest of 100k, engine side)", (time.perf_counter() - t0) * 1000)
    del ingested
    store = held(calls)
    app = Bench(store)
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(CallTable)

        def load() -> None:
            app.view.load(store.calls)
            table.reset()

        ms, written = await measure(pilot, load)
        report.add("callmon", "load 100k + first frame", ms, written)

        # Sampled from the input list, not from a list of the store's keys made here: the cyclic GC's young
        # pass would walk such a 100k-item list (12-19 ms), and charge the benchmark's own list to the step.
        for call in rng.sample(calls, 1000):
            old = store.calls[call.key]
            store.apply(old.with_changes(status=rng.choice(STATUSES[:8]), duration_s=rng.randint(0, 900)))
        batch: list[Change] = store.take()

        def tick() -> None:
            table.rows_changed(app.view.apply(batch), ((c.key, c.kind) for c in batch))

        ms, written = await measure(pilot, tick)
        report.add("callmon", "tick: 1,000 random changes", ms, written)

        samples = []
        for i in range(ONE_SAMPLES):
            key = app.view.key_at(round(table.scroll_y) + 5 + i)
            old = store.calls[key]
            store.apply(old.with_changes(reason=f"changed reason {i}", duration_s=(old.duration_s or 0) + 1))
            one = store.take()

            def one_visible(one: list[Change] = one) -> None:
                table.rows_changed(app.view.apply(one), ())

            samples.append(await measure(pilot, one_visible))
        report.add("callmon", "one visible change", *median_sample(samples))

        ms, written = await measure(pilot, lambda: table.action_page(1))
        report.add("callmon", "page down", ms, written)

        def repaint() -> None:
            table._cache.clear()
            table.refresh()

        ms, written = await measure(pilot, repaint)
        report.add("callmon", "full repaint (no data change)", ms, written)

        def set_filter(text: str) -> Any:
            def run() -> None:
                app.view.set_query(compile_query(text))
                table.reset()

            return run

        ms, written = await measure(pilot, set_filter(FIVE_PERCENT))
        report.add("callmon", "filter to 5%", ms, written)
        report.notes["filter"] = f"filter to 5%: `{FIVE_PERCENT}`, {len(app.view):,} rows"
        ms, written = await measure(pilot, set_filter(""))
        report.add("callmon", "clear filter", ms, written)

        def sort(column: str) -> Any:
            def run() -> None:
                app.view.set_sort(column, False)
                table.reset()

            return run

        ms, written = await measure(pilot, sort("to"))
        report.add("callmon", "sort by TO (distinct values)", ms, written)
        ms, written = await measure(pilot, sort("status"))
        report.add("callmon", "sort by STATUS (ties everywhere)", ms, written)

        WRITTEN[0] = 0
        await pilot.pause(1.0)
        report.add("callmon", "idle 1 s (no changes)", 0.0, WRITTEN[0])


WIDTH = GUTTER + sum(c.width + SEPARATOR for c in _ALL)  # every column, the table's full width
_CONSTANT = Strip([Segment("x" * (WIDTH - GUTTER))], WIDTH - GUTTER)


class Constant(ScrollView):
    """The least any scrolling Textual widget can do: every line one strip made once, no data behind it."""

    DEFAULT_CSS = "Constant { height: 1fr; scrollbar-gutter: stable; }"

    def __init__(self) -> None:
        super().__init__()
        self.virtual_size = Size(WIDTH, 100_000)

    def render_line(self, y: int) -> Strip:
        return _CONSTANT


class Floor(App[None]):
    def compose(self) -> ComposeResult:
        yield Constant()


async def bench_floor(report: Report) -> None:
    """Textual's own cost of a partial frame, measured as the table's steps are: the floor under "one visible
    change", which no widget can go below on this machine."""
    async with Floor().run_test(size=SIZE) as pilot:
        widget = pilot.app.query_one(Constant)
        samples = []
        for i in range(ONE_SAMPLES):
            region = Region(30, 5 + i, 6, 1)  # six cells, like a changed duration
            samples.append(await measure(pilot, lambda region=region: widget.refresh(region)))
        report.add("callmon", FLOOR, *median_sample(samples))


class Baseline(App[None]):
    def compose(self) -> ComposeResult:
        yield DataTable(id="dt")


def cells(call: Call, now: float) -> list[str]:
    return [c.text(call, now) for c in COLUMNS]


async def bench_datatable(calls: list[Call], report: Report) -> None:
    rng = random.Random(1)
    app = Baseline()
    now = time.time()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(DataTable)
        for column in COLUMNS:
            table.add_column(column.title, key=column.name)

        def load() -> None:
            for call in calls:
                table.add_row(*cells(call, now), key=call.call_id)

        ms, written = await measure(pilot, load)
        report.add("DataTable", "load 100k + first frame", ms, written)
        ids = [c.call_id for c in calls]

        def tick() -> None:
            for call_id in rng.sample(ids, 1000):
                table.update_cell(call_id, "status", rng.choice(STATUSES[:8]).value)

        ms, written = await measure(pilot, tick)
        report.add("DataTable", "tick: 1,000 random changes", ms, written)

        samples = []
        for i in range(ONE_SAMPLES):

            def one_visible(i: int = i) -> None:
                row = table.coordinate_to_cell_key(Coordinate(5 + i, 0)).row_key
                table.update_cell(row, "reason", f"changed reason {i}")

            samples.append(await measure(pilot, one_visible))
        report.add("DataTable", "one visible change", *median_sample(samples))
        ms, written = await measure(pilot, table.action_page_down)
        report.add("DataTable", "page down", ms, written)

        def filter_to(subset: list[Call]) -> Any:
            def run() -> None:
                table.clear()
                for call in subset:
                    table.add_row(*cells(call, now), key=call.call_id)

            return run

        predicate = compile_query(FIVE_PERCENT).predicate
        assert predicate is not None
        subset = [c for c in calls if predicate(c, now)]
        ms, written = await measure(pilot, filter_to(subset))
        report.add("DataTable", "filter to 5%", ms, written)
        ms, written = await measure(pilot, filter_to(calls))
        report.add("DataTable", "clear filter", ms, written)
        ms, written = await measure(pilot, lambda: table.sort("to"))
        report.add("DataTable", "sort by TO (distinct values)", ms, written)
        ms, written = await measure(pilot, lambda: table.sort("status"))
        report.add("DataTable", "sort by STATUS (ties everywhere)", ms, written)


def memory_per_call(calls_n: int) -> float:
    """Bytes per call held by the store and the view (tracemalloc). Run it in a fresh process: calls share
    strings and vocabulary (details, transcript lines) through caches that earlier calls would have filled."""
    if calls_n > REAL_PATH_MAX:
        # Past the real path's reach: copies of 20,000 real calls, each with its own fields and its own
        # packed payload, all made inside the measured window (the templates are outside it).
        templates = make_calls(20_000, seed=7)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        store = CallStore()
        for i in range(calls_n):
            template = templates[i % len(templates)]
            # A dialer's day, as calls.many() spreads them (it was 100 calls a second).
            at = START_AT + 86_400 * i / calls_n
            store.apply(copy_call(template, f"{template.call_id}-{i}", f"+9199{i:08d}", at))
        del templates
    else:
        received = payloads(calls_n, seed=7)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        store = CallStore()
        fill(store, received)
        del received
    view = CallView(store.calls)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(view) == calls_n
    return (after - before) / calls_n


def history_reload(calls: list[Call]) -> float:
    """Milliseconds to read the calls back from history into a store, as `callmon` does at start-up."""
    with tempfile.TemporaryDirectory() as tmp:
        history = History(Path(tmp) / "history.db")
        history.open()
        store = CallStore()
        for call in calls:
            store.apply(call)
        asyncio.run(history.write(store.take()))
        fresh = CallStore()
        t0 = time.perf_counter()
        count = history.load_into(fresh)
        ms = (time.perf_counter() - t0) * 1000
        history.close()
    assert count == len(calls)
    return ms


def median_report(runs: list[Report]) -> Report:
    merged = Report()
    for name in runs[0].rows:
        for who in {r.name for r in runs[0].rows[name]}:
            results = [next(r for r in run.rows[name] if r.name == who) for run in runs]
            ms = statistics.median(r.ms for r in results)
            written = statistics.median(r.bytes or 0 for r in results)
            merged.add(who, name, ms, int(written))
    merged.notes = runs[0].notes
    return merged


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3, help="callmon runs; the median is reported")
    parser.add_argument("--no-baseline", action="store_true", help="skip the (slow) DataTable baseline")
    parser.add_argument("--memory-only", action="store_true", help="print bytes per call and exit")
    args = parser.parse_args()
    if args.memory_only:
        print(memory_per_call(args.calls))
        return 0
    # In key order, as the monitor gets them at start-up (history is read in key order).
    made = make_calls(args.calls) if args.calls <= REAL_PATH_MAX else many(args.calls)
    calls = sorted(made, key=lambda c: c.key)
    runs = []
    for _ in range(args.runs):
        run = Report()
        asyncio.run(bench_callmon(calls, run))
        runs.append(run)
    report = median_report(runs)
    asyncio.run(bench_floor(report))
    if not args.no_baseline:
        asyncio.run(bench_datatable(calls, report))
    report.add("callmon", "(start-up: history reload of 100k)", history_reload(calls))
    fresh = subprocess.run(
        [sys.executable, __file__, "--memory-only", "--calls", str(args.calls)],
        capture_output=True,
        text=True,
        check=True,
    )
    per_call = float(fresh.stdout.split()[-1])
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"table bench: {args.calls:,} calls, {SIZE[0]}x{SIZE[1]}, headless (frames rendered, bytes counted); "
        f"callmon: median of {args.runs} runs; ms are CPU ms from the operation to the end of its frame"
    )
    print(
        "calls: the simulator's wire payloads through normalize(), as the engine holds them (bench/calls.py)"
    )
    for note in report.notes.values():
        print(note)
    print()
    header = f"{'step':<34} {'callmon ms':>11} {'bytes':>8}   {'DataTable ms':>12} {'bytes':>9}"
    print(header)
    print("-" * len(header))
    for name, results in report.rows.items():
        ours = next((r for r in results if r.name == "callmon"), None)
        base = next((r for r in results if r.name == "DataTable"), None)
        line = f"{name:<34} "
        line += f"{ours.ms:>11.1f} {ours.bytes or 0:>8,}   " if ours else f"{'':>11} {'':>8}   "
        line += f"{base.ms:>12.1f} {base.bytes or 0:>9,}" if base else ""
        print(line)
    print()
    print(
        f"memory: {per_call:,.0f} bytes per call: the call records with their raw payloads, the store, its "
        f"status timelines and the view (tracemalloc, in a fresh process); peak RSS of this whole run "
        f"{rss:,.0f} MiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
