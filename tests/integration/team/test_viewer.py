"""A team viewer's monitor and the command line: the engine down at start, one-line errors."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path

from callmon.history import History
from callmon.model import Call, Status
from callmon.runtime import Session, team_history_path, team_session
from callmon.store import CallStore
from callmon.tui.app import CallmonApp
from callmon.tui.widgets import HealthBar
from tests.integration.team.conftest import settings_for
from tests.integration.team.engine import RedisServer, free_port
from tests.tui_helpers import rows, text_of, wait_until

ROOT = Path(__file__).resolve().parents[3]


async def test_viewer_started_with_the_engine_down_shows_its_last_state(prefix: str) -> None:
    settings = settings_for(f"redis://127.0.0.1:{free_port()}", prefix)  # nothing listens there
    path = team_history_path(settings)
    store = CallStore()
    for i in range(12):
        store.apply(Call("sim-velip", "velip", f"42_{i:04d}", Status.COMPLETED, to=f"+5511900000{i:03d}",
                         started_at=datetime(2026, 11, 30, 9, i, tzinfo=UTC)))  # fmt: skip
    history = History(path)
    history.open()
    await history.write(store.take())
    history.close()

    def opener(notice: object) -> AbstractAsyncContextManager[Session]:
        return team_session(settings, None, history_path=path)

    app = CallmonApp(opener, title="callmon test")
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_until(pilot, lambda: app.session is not None and len(rows(app)) >= 12, 10)
        app.monitor.show_health()
        await pilot.pause(0.05)
        header = text_of(app.query_one("#health", HealthBar))
        assert "team: engine unreachable since" in header and "last state shown" in header, header
        assert any("42_0003" in row for row in rows(app))
        assert app.session is not None and app.session.engine.credentials_needed() == []


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    full = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "callmon", *args], capture_output=True, text=True, env=full, timeout=30)


def test_command_line_errors_are_one_line(redis_server: RedisServer, tmp_path: Path) -> None:
    bad = run("watch", "--once", "--team", "redis://cm:hunter2@127.0.0.1:6380")
    assert bad.returncode == 2 and "holds a password" in bad.stderr and "hunter2" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    down = run("team", "status", "--team", f"redis://127.0.0.1:{free_port()}")
    assert down.returncode == 1 and "unreachable" in down.stderr and len(down.stderr.strip().splitlines()) == 1
    config = tmp_path / "c.toml"
    config.write_text('[[sources]]\nname = "v"\nprovider = "vobiz"\nauth_id = "MA_1"\n')
    no_team = run("serve", "--config", str(config))
    assert no_team.returncode == 2 and "[team]" in no_team.stderr
    status = run("team", "status", "--team", redis_server.url)
    assert status.returncode == 0 and "redis 7" in status.stdout
    snapshot = run("watch", "--once", "--format", "json", "--team", redis_server.url)
    assert snapshot.returncode == 0 and snapshot.stdout.strip().startswith("[")


def test_wrong_password_is_one_line(own_redis: object, tmp_path: Path) -> None:
    server = own_redis("auth", extra=["--requirepass", "s3cret-pass"]).start()  # type: ignore[operator]
    wrong = run("watch", "--once", "--team", server.url, env={"CALLMON_TEAM_PASSWORD": "nope-nope"})
    assert wrong.returncode == 1 and "wrong password" in wrong.stderr, wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1 and "nope-nope" not in wrong.stderr
    right = run("watch", "--once", "--team", server.url, env={"CALLMON_TEAM_PASSWORD": "s3cret-pass"})
    assert right.returncode == 0, right.stderr


async def test_monitor_on_a_live_team(redis_server: RedisServer, prefix: str) -> None:
    """The monitor as a viewer: rows from the engine, the leader named in the header, a detail asked of the
    leader."""
    import httpx

    from callmon.simulator import Clock, Scenario, Simulator, parse_faults
    from tests.conftest import serve_simulator
    from tests.integration.team.harness import pairs_for, start_collector

    settings = settings_for(redis_server.url, prefix)
    scenario = Scenario(seed=3, calls=30, clock=Clock(speed=20.0), providers=("dialgood", "velip"))
    sim = Simulator(scenario, faults=parse_faults(["ratelimit=off"]))
    async for served in serve_simulator(sim):
        async with httpx.AsyncClient() as client:
            collector = await start_collector(settings, pairs_for(scenario, served.url), client)

            def opener(notice: object) -> AbstractAsyncContextManager[Session]:
                return team_session(settings, None)

            app = CallmonApp(opener, title="callmon test")
            try:
                async with app.run_test(size=(160, 40)) as pilot:
                    await wait_until(pilot, lambda: app.session is not None and len(rows(app)) >= 5, 15)
                    await wait_until(pilot, lambda: bool(app.session and app.session.engine.status()
                                                         and "led by" in (app.session.engine.status() or "")), 10)  # fmt: skip
                    app.monitor.show_health()
                    await pilot.pause(0.05)
                    header = text_of(app.query_one("#health", HealthBar))
                    assert "led by" in header and "sim-velip" in header, header
                    await pilot.press("enter")  # the detail of the row under the cursor: asked of the leader
                    await wait_until(pilot, lambda: any(a.detail_at for a in collector.accounts.values()), 10)
            finally:
                await collector.stop()


async def test_a_viewer_keeps_what_it_loaded_as_its_offline_cache(redis_server: RedisServer, prefix: str) -> None:
    import httpx

    from callmon.simulator import Clock, Scenario, Simulator, parse_faults
    from tests.conftest import serve_simulator
    from tests.integration.team.harness import pairs_for, published, start_collector, wait_for

    settings = settings_for(redis_server.url, prefix)
    scenario = Scenario(seed=4, calls=20, clock=Clock(speed=1.0), providers=("dialgen",))
    scenario.clock.advance(scenario.finished_at() + 1)
    sim = Simulator(scenario, faults=parse_faults(["ratelimit=off"]))
    path = team_history_path(settings)
    async for served in serve_simulator(sim):
        async with httpx.AsyncClient() as client:
            collector = await start_collector(settings, pairs_for(scenario, served.url), client)
            try:
                assert await wait_for(lambda: len(collector.store) == 20, 10)
                assert await published(collector, "sim-dialgen")
                async with team_session(settings, None, history_path=path) as session:
                    assert len(session.store) == 20
                    await asyncio.sleep(0.5)  # its first load goes to the cache meanwhile
            finally:
                await collector.stop()
    history = History(path)
    history.open()
    try:
        assert history.count() == 20
    finally:
        history.close()
