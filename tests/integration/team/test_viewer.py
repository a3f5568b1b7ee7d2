"""A team viewer's monitor and the command line: the engine down at start, one-line errors."""

from __future__ import annotations

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
