"""Start-up and ingest at 100k calls: how soon a restarted monitor shows what it knew, and what the store and
an export cost.

    .venv/bin/python bench/startup.py [--calls 100000] [--runs 3]

Steps (median of --runs, each in a fresh process so nothing is warm that a restart would not have warm):
- first frame with rows: from the monitor's process start (interpreter, imports, history opened and its
  newest calls read) to the first frame that shows call rows; the monitor runs headless on a history of
  --calls calls, with sources that match them and answer nothing.
- all usable: from process start until every call is read back and filterable and sortable.
- store ingest: --calls calls as a store keeps them (payloads packed) merged into a new store.
- store ingest from payloads: --calls calls' payloads (some polled twice: live, then ended), normalized (not
  timed), then merged into a new store as the engine does: packing and sharing timed too.
- export: the event loop's longest block while the monitor exports every call (a probe timer's lateness).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def build_history(path: Path, n: int) -> None:
    from calls import calls

    from callmon.history import History
    from callmon.store import CallStore

    history = History(path, retention_days=36500)
    history.open()
    store = CallStore()
    for call in calls(n):
        store.apply(call.with_changes(timeline=()))
    asyncio.run(history.write(store.take()))
    history.close()


def ingest_ms(n: int, packed: bool) -> float:
    """Calls merged into a new store as the engine does, timed. `packed`: calls as another store keeps them
    (payloads packed, values shared: what the issue measured); else each payload as the adapter normalizes
    it (not timed), so packing and sharing are timed too."""
    from calls import calls, normalize, payloads

    from callmon.store import CallStore

    made = calls(n) if packed else [normalize(provider, raw) for provider, raw in payloads(n)]
    store = CallStore()
    t0 = time.perf_counter()
    # As the engine takes in a page of a provider's list (a page here being every call).
    store.apply_all(made, owned=not packed)
    store.take()
    return (time.perf_counter() - t0) * 1000


CHILD = r"""
import asyncio, json, sys, time
from pathlib import Path
T0 = float(sys.argv[1])
sys.path.insert(0, sys.argv[3])
from callmon.providers import Source
from callmon.runtime import live_session
from callmon.tui.app import CallmonApp
from callmon.tui.table import CallTable

path = Path(sys.argv[2])
sources = [Source(f"acme-{p}", p, {"auth_id": "MA_X", "user_name": "u", "campaigns": ["x"]},
                  base_url="http://127.0.0.1:9") for p in ("dialgood", "dialgen", "cloudagent", "velip", "vobiz")]
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
    return live_session([(s, secrets[s.provider]) for s in sources], history_path=path, retention_days=36500)

async def main():
    app = CallmonApp(opener)
    async with app.run_test(size=(160, 50)) as pilot:
        while "first_rows" not in out:
            await pilot.pause(0.01)
        while app.session is None or not app.session.loading.finished:
            await pilot.pause(0.01)
        await pilot.pause()
        out["all_usable"] = time.time() - T0
        out["calls"] = len(app.monitor.view)
        # Export every call while a probe measures how late the event loop is.
        lag = [0.0]
        async def probe():
            while True:
                t = time.perf_counter()
                await asyncio.sleep(0.005)
                lag[0] = max(lag[0], time.perf_counter() - t - 0.005)
        task = asyncio.create_task(probe())
        await pilot.pause(0.2)
        lag[0] = 0.0
        target = path.with_suffix(".export.ndjson")
        keys = app.monitor.view.all_keys()
        app.export(target, [app.monitor.view.calls[k] for k in keys])
        while not target.exists():
            await pilot.pause(0.01)
        for _ in range(300):
            await pilot.pause(0.01)
            if target.stat().st_size and app.workers._workers == []:
                break
        out["export_lag"] = lag[0]
        task.cancel()
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.sqlite3"
        build_history(path, args.calls)
        runs = [start_up(path) for _ in range(args.runs)]
        ingests = [ingest_ms(args.calls, packed=True) for _ in range(args.runs)]
        raw_ingests = [ingest_ms(args.calls, packed=False) for _ in range(args.runs)]
    print(f"start-up bench: {args.calls:,} calls in history; median (best) of {args.runs} runs, each a new process")
    rows = [
        ("first frame with rows (s)", [r["first_rows"] for r in runs], "< 1 s"),
        ("all usable (s)", [r["all_usable"] for r in runs], "< 3 s"),
        ("store ingest (ms)", ingests, "< 1000 ms"),
        ("store ingest from payloads (ms)", raw_ingests, "(packing included)"),
        ("export: longest loop block (ms)", [r["export_lag"] * 1000 for r in runs], "< 50 ms"),
    ]
    for name, values, target in rows:
        print(f"{name:<36} {statistics.median(values):>9.3f} ({min(values):.3f})   target {target}")
    assert all(r["calls"] == args.calls for r in runs), [r["calls"] for r in runs]
    return 0


if __name__ == "__main__":
    sys.exit(main())
