"""Running a team for tests: collectors in this process (fast; "crashed" by dropping everything unreleased)
or as `callmon serve` subprocesses (SIGKILL, SIGTERM), viewers, and the simulator over loopback."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from callmon.model import Call
from callmon.providers import Source
from callmon.simulator import DEMO_SECRETS, Scenario, config_text
from callmon.store import CallStore
from callmon.team.collector import Collector
from callmon.team.settings import TeamSettings
from callmon.team.viewer import TeamFeed
from tests.integration.test_engine import sources_for

ROOT = Path(__file__).resolve().parents[3]


async def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step)
    return predicate()


def pairs_for(scenario: Scenario, url: str, interval: float = 0.5) -> list[tuple[Source, dict[str, str]]]:
    return [(s, dict(DEMO_SECRETS[s.provider])) for s in sources_for(scenario, url, interval)]


async def start_collector(
    settings: TeamSettings,
    pairs: Sequence[tuple[Source, Mapping[str, str]]],
    client: httpx.AsyncClient,
    password: str | None = None,
    **kwargs: Any,
) -> Collector:
    collector = Collector(settings, password, pairs, client, **kwargs)
    await collector.start()
    return collector


async def crash(collector: Collector) -> None:
    """As a kill -9 would leave it: nothing published, no lease released, the connections just gone."""
    collector._stopped = True
    tasks = [*collector._tasks, *collector._details]
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks, timeout=5)
    for engine in (collector.engine, collector.blocking):
        with contextlib.suppress(Exception):
            await engine.aclose()


async def start_viewer(settings: TeamSettings, password: str | None = None, **kwargs: Any) -> TeamFeed:
    feed = TeamFeed(settings, password, CallStore(), on_notice=lambda _: None, **kwargs)
    await feed.start()
    return feed


async def published(collector: Collector, name: str, timeout: float = 10) -> bool:
    """Every change the collector made to the account is in the engine (after a tick or two for the last)."""
    await asyncio.sleep(3 / collector.tick_hz)
    account = collector.accounts[name]
    return await wait_for(
        lambda: not account.dirty and all((name, cid) in collector.follower.versions for cid in collector.store.source_calls(name)),
        timeout,
    )


def statuses(calls: Mapping[Any, Call]) -> dict[tuple[str, str], Any]:
    return {(c.provider, c.call_id): c.status for c in calls.values()}


# -- `callmon serve` as a process ----------------------------------------------------------------------------


def team_config(scenario: Scenario, sim_url: str, settings: TeamSettings, *, extra: str = "", interval: float = 0.5) -> str:
    """The simulator's config (its sources watching today), with [team] and `extra` tables."""
    text = config_text(scenario, sim_url)
    text = re.sub(r"(?m)^interval = .*$", f"interval = {interval:g}", text)
    team = f'[team]\nurl = "{settings.url}"\nlease_ttl = {settings.lease_ttl:g}\nprefix = "{settings.prefix}"\n'
    if settings.user:
        team += f'user = "{settings.user}"\n'
    if settings.ca_file:
        team += f'ca_file = "{settings.ca_file}"\n'
    return team + extra + "\n" + text


@dataclass
class ServeProcess:
    proc: subprocess.Popen[str]
    name: str
    lines: list[tuple[float, str]] = field(default_factory=list)

    def events(self, word: str) -> list[tuple[str, float]]:
        """(account, wall time) of each `leads` or `stopped leading` line."""
        out = []
        pattern = re.compile(rf"^callmon serve: {word} (\S+) \(fence \d+\) (?:from|at) (\S+?Z)")
        for _, line in list(self.lines):
            m = pattern.match(line)
            if m:
                out.append((m.group(1), datetime.strptime(m.group(2), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()))
        return out

    def leads(self) -> set[str]:
        held: set[str] = set()
        for _, line in list(self.lines):
            m = re.match(r"^callmon serve: (leads|stopped leading) (\S+) ", line)
            if m:
                (held.add if m.group(1) == "leads" else held.discard)(m.group(2))
        return held

    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def kill(self, sig: int) -> float:
        at = time.time()
        os.kill(self.proc.pid, sig)
        return at

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def launch_serve(config: Path, env: Mapping[str, str], home: Path, name: str) -> ServeProcess:
    home.mkdir(parents=True, exist_ok=True)
    full = {k: v for k, v in os.environ.items() if not k.startswith("CALLMON_")}
    full.update(env)
    full.update({
        "PYTHONPATH": str(ROOT), "XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_STATE_HOME": str(home / "state"), "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    })  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "callmon", "serve", "--config", str(config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=full,
    )  # fmt: skip
    served = ServeProcess(proc, name)

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            served.lines.append((time.time(), line.rstrip("\n")))

    threading.Thread(target=read, daemon=True).start()
    return served


def secrets_env(scenario: Scenario, sim_url: str) -> dict[str, str]:
    from callmon.config import env_name

    env = {}
    for source in sources_for(scenario, sim_url, 0.5):
        for fld, value in DEMO_SECRETS[source.provider].items():
            env[env_name(source.name, fld)] = value
    return env
