"""A big dialer's week in history: 7 days of 1M calls a day (7M rows), and what callmon does with them.

    .venv/bin/python bench/history.py [--per-day 1000000] [--days 7] [--runs 3]

The file is built once (rows copied from 20,000 calls built the real way, each with its own id, number,
campaign and times) and kept in bench/.cache, since building it takes minutes. Steps, median (best) of --runs:
- first rows: from the monitor's process start to its first frame with rows, its window being today
  (the other 6M calls stay on disk).
- today usable: from process start until today's calls are all read back.
- a filter over history: one campaign of last week (~10k calls), past the window: `History.search`.
- pruning a day: the event loop's longest block while retention deletes one day (1M rows).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

CACHE = ROOT / "bench" / ".cache"
CAMPAIGNS_PER_DAY = 100
BATCH = 50_000


def build(path: Path, per_day: int, days: int) -> None:
    """Rows for `days` days ending now, `per_day` a day, first seen one after another through each day."""
    from calls import calls

    from callmon.history import _INSERT, History

    history = History(path, retention_days=36500)
    history.open()
    templates = [history._row(call, 0.0) for call in calls(20_000)]
    assert history._db is not None
    db = history._db
    now = time.time()
    total = per_day * days
    rows = []
    for i in range(total):
        day = i // per_day
        first_seen = now - (days - day) * 86_400 + (i % per_day) * 86_400 / per_day
        t = list(templates[i % len(templates)])
        shift = first_seen - (t[23] if t[23] > 0 else first_seen)
        t[1] = f"c{i:08d}"
        t[4] = f"camp-d{day}-{(i // 7) % CAMPAIGNS_PER_DAY:03d}"
        t[9] = f"+9199{i % 10**8:08d}"
        for column in (10, 11, 12, 18):  # started, answered, ended, updated
            if t[column] is not None:
                t[column] += shift
        t[22] = json.dumps([first_seen, t[3], t[5], "poll"])
        t[23] = first_seen
        t[24] = first_seen
        rows.append(tuple(t))
        if len(rows) == BATCH or i == total - 1:
            with db:
                db.execute("BEGIN")
                db.executemany(_INSERT, rows)
                db.executemany(
                    "INSERT OR IGNORE INTO vocabulary VALUES (?, ?)",
                    {("campaign", r[4]) for r in rows} | {("source", r[0]) for r in rows},
                )
            rows.clear()
    history.close()


CHILD = r"""
import asyncio, json, sys, time
from pathlib import Path
T0 = float(sys.argv[1])
sys.path.insert(0, sys.argv[3])
from callmon.providers import Source
from callmon.runtime import live_session
from callmon.tui.app import CallmonApp
from callmon.tui.table import CallTable
from callmon.window import Window

path = Path(sys.argv[2])
names = ("dialgood", "dialgen", "cloudagent", "velip", "vobiz")
sources = [Source(f"acme-{p}", p, {"auth_id": "MA_X", "user_name": "u", "campaigns": ["x"]},
                  base_url="http://127.0.0.1:9") for p in names]
secrets = {"dialgood": {"api_token": "t"}, "dialgen": {"api_key": "t"}, "cloudagent": {"api_key": "t"},
           "velip": {"tsid": "t"}, "vobiz": {"auth_token": "t"}}
out = {}
original = CallTable.render_line

def noting(self, y):
    strip = original(self, y)
    if "first_rows" not in out and len(self.view) and strip.text.strip():
        out["first_rows"] = time.time() - T0
    return strip

CallTable.render_line = noting

def opener(notice):
    return live_session([(s, secrets[s.provider]) for s in sources], history_path=path, retention_days=36500,
                        window=Window())

async def main():
    app = CallmonApp(opener)
    async with app.run_test(size=(160, 50)) as pilot:
        while "first_rows" not in out:
            await pilot.pause(0.01)
        while app.session is None or not app.session.loading.finished:
            await pilot.pause(0.05)
        out["today_usable"] = time.time() - T0
        out["in_memory"] = len(app.session.store)
    print(json.dumps(out))

asyncio.run(main())
"""


def start_up(path: Path) -> dict[str, float]:
    t0 = time.time()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, repr(t0), str(path), str(ROOT)],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "TERM": "xterm-256color", "HOME": str(path.parent)},
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def search_ms(path: Path, days: int) -> tuple[float, int]:
    from callmon.history import History
    from callmon.query import compile_query

    history = History(path, retention_days=36500)
    history.open()

    async def search() -> tuple[float, int]:
        # Timed inside a running loop, as the monitor awaits it. Returned from asyncio.run(), the result
        # cost 0.2 s more: Python 3.11's Runner, restoring SIGINT, formats its handler's repr, which holds
        # the main task's, which holds the result's: 10,000 calls put into text, twice.
        today = time.time() - 86_400
        t0 = time.perf_counter()
        found = await history.search(compile_query(f"campaign:camp-d{days - 6}-042"), before=today)
        return (time.perf_counter() - t0) * 1000, len(found.calls)

    try:
        return asyncio.run(search())
    finally:
        history.close()


def prune_lag_ms(path: Path, days: int) -> tuple[float, int]:
    """The loop's longest block while retention deletes the oldest day."""
    from callmon.history import History

    async def run() -> tuple[float, int]:
        history = History(path, retention_days=days - 1 + 0.01)
        await history.open_async()
        lag = [0.0]
        done = asyncio.Event()

        async def probe() -> None:
            while not done.is_set():
                t = time.perf_counter()
                await asyncio.sleep(0.005)
                lag[0] = max(lag[0], time.perf_counter() - t - 0.005)

        task = asyncio.create_task(probe())
        deleted = await history.prune()
        done.set()
        await task
        history.close()
        return lag[0] * 1000, deleted

    return asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-day", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    CACHE.mkdir(exist_ok=True)
    cached = CACHE / f"history-{args.days}x{args.per_day}.sqlite3"
    if not cached.exists():
        t0 = time.perf_counter()
        building = cached.with_suffix(".building")
        building.unlink(missing_ok=True)
        build(building, args.per_day, args.days)
        building.rename(cached)
        print(f"built {cached.name} in {time.perf_counter() - t0:.0f} s")
    size = cached.stat().st_size / 1024**3
    # Fresh times: the file was built at some moment; a window of "today" must hold its last day.
    starts = [start_up(cached) for _ in range(args.runs)]
    searches = [search_ms(cached, args.days) for _ in range(args.runs)]
    prunes = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            copy = Path(tmp) / "history.sqlite3"
            shutil.copyfile(cached, copy)
            prunes.append(prune_lag_ms(copy, args.days))
    print(f"history bench: {args.days} days x {args.per_day:,} calls ({args.days * args.per_day:,} rows, "
          f"{size:.1f} GiB); median (best) of {args.runs} runs")  # fmt: skip
    rows = [
        ("first rows (s)", [s["first_rows"] for s in starts], "< 1 s"),
        ("today usable (s)", [s["today_usable"] for s in starts], ""),
        ("filter: a campaign of last week (ms)", [m for m, _ in searches], "< 500 ms"),
        ("pruning a day: longest loop block (ms)", [m for m, _ in prunes], "< 50 ms"),
    ]
    for name, values, target in rows:
        print(f"{name:<42} {statistics.median(values):>9.3f} ({min(values):.3f})   {target}")
    print(f"in memory after start: {starts[0]['in_memory']:,} calls; the campaign: {searches[0][1]:,} calls; "
          f"a day pruned: {prunes[0][1]:,} rows")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
