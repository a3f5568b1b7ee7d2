"""`callmon watch` streaming as a real process: Ctrl-C exits 0; kill -9 loses nothing it had printed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from callmon.history import History
from callmon.simulator import DEMO_SECRETS, Clock, Scenario, Simulator, config_text, parse_faults
from callmon.store import CallStore
from tests.conftest import serve_simulator


async def start_watch(tmp_path: Path, url: str, scenario: Scenario) -> asyncio.subprocess.Process:
    config = tmp_path / "config.toml"
    config.write_text(config_text(scenario, url).replace("interval = 2", "interval = 0.5"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLMON_")}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    for provider, secrets in DEMO_SECRETS.items():
        for field, value in secrets.items():
            env[f"CALLMON_SIM_{provider.upper()}_{field.upper()}"] = value
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callmon", "watch", "--format", "ndjson", "--config", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip


async def read_lines(proc: asyncio.subprocess.Process, count: int, timeout: float) -> list[dict[str, object]]:
    assert proc.stdout is not None
    rows: list[dict[str, object]] = []

    async def reader() -> None:
        assert proc.stdout is not None
        while len(rows) < count:
            line = await proc.stdout.readline()
            if not line:
                return
            rows.append(json.loads(line))

    await asyncio.wait_for(reader(), timeout)
    return rows


@pytest.fixture
def scenario() -> Scenario:
    return Scenario(seed=17, calls=50, clock=Clock(speed=20.0), providers=("dialgen", "velip", "vobiz"))


async def test_sigint_exits_cleanly_with_code_0(tmp_path: Path, scenario: Scenario) -> None:
    sim = Simulator(scenario, faults=parse_faults(["ratelimit=off"]))
    async for served in serve_simulator(sim):
        proc = await start_watch(tmp_path, served.url, scenario)
        rows = await read_lines(proc, 5, 20)
        assert len(rows) == 5
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0
    assert b"Traceback" not in err


async def test_kill_9_loses_nothing_that_was_printed(tmp_path: Path, scenario: Scenario) -> None:
    sim = Simulator(scenario, faults=parse_faults(["ratelimit=off"]))
    async for served in serve_simulator(sim):
        proc = await start_watch(tmp_path, served.url, scenario)
        rows = await read_lines(proc, 40, 30)
        proc.kill()  # SIGKILL: no cleanup of any kind
        await proc.wait()
    assert len(rows) == 40
    history = History(tmp_path / "data" / "callmon" / "history.sqlite3")
    history.open()
    store = CallStore()
    history.load_into(store)
    history.close()
    for row in rows:
        key = (str(row["source"]), str(row["call_id"]))
        assert key in store.calls, f"{key} was printed but is not in history"
        statuses = {e.status.value for e in store.timeline(key)}
        assert row["status"] in statuses
