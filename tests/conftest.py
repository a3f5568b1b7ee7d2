"""Shared fixtures: a simulator served by uvicorn on 127.0.0.1 (real sockets), and isolated user dirs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from callmon.serve import bind, serving, url_of
from callmon.simulator import Clock, Scenario, Simulator, build_app


@dataclass
class Served:
    sim: Simulator
    url: str

    @property
    def scenario(self) -> Scenario:
        return self.sim.scenario


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test reads or writes the real user's config, data or secrets."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("CALLMON_CONFIG", raising=False)
    for name in list(__import__("os").environ):
        if name.startswith("CALLMON_") and name not in ("CALLMON_REQUIRE_SECRET_SERVICE",):
            monkeypatch.delenv(name)
    yield


def launch_simulate(*args: str) -> tuple[subprocess.Popen[str], str]:
    """`callmon simulate --port 0 ARGS` as a separate process; returns it and everything it printed up to
    and including its "listening on URL" line (the config and the env exports for its secrets)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "callmon", "simulate", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("# simulator listening on "):
            return proc, "".join(lines)
    proc.kill()
    raise AssertionError("simulator did not start: " + (proc.stderr.read() if proc.stderr else ""))


def listening_url(printed: str) -> str:
    return printed.rsplit("# simulator listening on ", 1)[1].split()[0]


async def serve_simulator(sim: Simulator) -> AsyncIterator[Served]:
    sock = bind("127.0.0.1", 0)
    async with serving(build_app(sim), sock):
        yield Served(sim, url_of(sock))


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    """A 100-call scenario, rate limits off, served on an ephemeral loopback port."""
    from callmon.simulator import parse_faults

    sim = Simulator(
        Scenario(seed=11, calls=100, clock=Clock(speed=1.0)), faults=parse_faults(["ratelimit=off"])
    )
    async for s in serve_simulator(sim):
        yield s


# Hypothesis: the `ci` profile (the default) runs ~100 examples a property, with no per-example deadline (a
# shared 2-core machine varies too much for one); HYPOTHESIS_PROFILE=dev runs fewer while editing.
settings.register_profile("ci", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
