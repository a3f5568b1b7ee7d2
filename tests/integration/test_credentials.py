"""Secrets: a real Secret Service (private dbus-daemon + gnome-keyring-daemon), env override, headless
failures, timeouts, and no secret in any output.

CI sets CALLMON_REQUIRE_SECRET_SERVICE=1: there, a daemon that cannot start fails these tests instead of
skipping them.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from callmon import credentials, redact
from callmon.cli import main
from callmon.model import Call, Status
from callmon.output import render
from callmon.providers import ADAPTERS, Source
from callmon.providers.errors import AuthError
from callmon.text import safe_json
from tests.conftest import launch_simulate, listening_url

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = os.environ.get("CALLMON_REQUIRE_SECRET_SERVICE") == "1"


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"CALLMON_REQUIRE_SECRET_SERVICE=1 but the Secret Service cannot start: {reason}")
    pytest.skip(f"no Secret Service here: {reason}")


@pytest.fixture(scope="session")
def secret_service() -> Iterator[str]:
    """A private session bus with an unlocked gnome-keyring on it; yields DBUS_SESSION_BUS_ADDRESS."""
    for tool in ("dbus-daemon", "gnome-keyring-daemon"):
        if shutil.which(tool) is None:
            _unavailable(f"{tool} is not installed (Debian: apt-get install dbus gnome-keyring)")
    root = Path(tempfile.mkdtemp(prefix="callmon-keyring-"))
    for sub in ("home", "data", "run"):
        (root / sub).mkdir(mode=0o700)
    env = {
        **os.environ,
        "HOME": str(root / "home"),
        "XDG_DATA_HOME": str(root / "data"),
        "XDG_RUNTIME_DIR": str(root / "run"),
    }
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1", f"--address=unix:path={root}/bus"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert bus.stdout is not None
    address = bus.stdout.readline().strip()
    if not address:
        bus.kill()
        _unavailable("dbus-daemon printed no address")
    env["DBUS_SESSION_BUS_ADDRESS"] = address
    keyring_daemon = subprocess.Popen(
        ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert keyring_daemon.stdin is not None
    keyring_daemon.stdin.write(b"callmon-test-password")
    keyring_daemon.stdin.close()
    probe = "from keyring.backends import SecretService as S; S.Keyring().get_password('callmon', 'probe')"
    deadline = time.monotonic() + 15
    while True:
        result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
        if result.returncode == 0:
            break
        if time.monotonic() > deadline:
            keyring_daemon.kill()
            bus.kill()
            _unavailable(f"gnome-keyring did not come up: {result.stderr.strip().splitlines()[-1:]}")
        time.sleep(0.2)
    try:
        yield address
    finally:
        keyring_daemon.terminate()
        bus.terminate()
        keyring_daemon.wait(5)
        bus.wait(5)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def on_bus(secret_service: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", secret_service)
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    credentials.default_keyring()._backend = None
    yield
    credentials.default_keyring()._backend = None


@pytest.fixture(autouse=True)
def _forget() -> Iterator[None]:
    yield
    redact.forget_all()
    credentials.default_keyring()._backend = None


def config_file(tmp_path: Path, base_url: str = "http://127.0.0.1:9") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[[sources]]\nname = "acme"\nprovider = "velip"\nbase_url = "{base_url}/velip"\ninterval = 1\n'
    )
    return path


def run_cli(
    args: list[str], stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callmon", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


# -- the real Secret Service --------------------------------------------------------------------------------


def test_auth_set_status_delete_through_the_real_secret_service(on_bus: None, tmp_path: Path) -> None:
    cfg = str(config_file(tmp_path))
    result = run_cli(["auth", "set", "acme", "--stdin", "--config", cfg], stdin="s3cr3t-tsid-value\n")
    assert result.returncode == 0, result.stderr
    assert "stored tsid for 'acme' in the OS keyring (SecretService.Keyring)" in result.stdout
    status = run_cli(["auth", "status", "--config", cfg])
    assert "acme\ttsid\tpresent (keyring)" in status.stdout
    assert "s3cr3t" not in status.stdout + status.stderr
    assert credentials.resolve(Source("acme", "velip", {})) == {"tsid": "s3cr3t-tsid-value"}
    deleted = run_cli(["auth", "delete", "acme", "--config", cfg])
    assert "deleted from the OS keyring" in deleted.stdout
    assert "missing: callmon auth set acme tsid" in run_cli(["auth", "status", "--config", cfg]).stdout


def test_a_keyring_that_keeps_nothing_is_not_reported_as_stored(tmp_path: Path) -> None:
    cfg = str(config_file(tmp_path))
    null = {"PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    result = run_cli(["auth", "set", "acme", "--stdin", "--config", cfg], stdin="s3cr3t-tsid-value\n", env=null)
    assert result.returncode == 1
    assert "stored" not in result.stdout
    line = result.stderr.strip()
    assert "\n" not in line and "did not keep the secret" in line and "CALLMON_ACME_TSID" in line
    assert "s3cr3t" not in result.stdout + result.stderr


def test_a_secret_typed_where_the_field_goes_is_not_echoed(tmp_path: Path) -> None:
    cfg = str(config_file(tmp_path))
    result = run_cli(["auth", "set", "acme", "s3cr3t-tsid-value", "--config", cfg])
    assert result.returncode == 2
    assert "s3cr3t" not in result.stdout + result.stderr
    assert "no secret by that name (theirs: tsid)" in result.stderr


def test_watch_reads_its_secret_from_the_secret_service(on_bus: None, tmp_path: Path) -> None:
    from callmon.simulator import DEMO_SECRETS

    proc, printed = launch_simulate("--calls", "20", "--faults", "ratelimit=off")
    try:
        url = listening_url(printed)
        cfg = str(config_file(tmp_path, url))
        stored = run_cli(
            ["auth", "set", "acme", "tsid", "--stdin", "--config", cfg], stdin=DEMO_SECRETS["velip"]["tsid"]
        )
        assert stored.returncode == 0, stored.stderr
        watched = run_cli(["watch", "--once", "--format", "json", "--config", cfg])
        assert watched.returncode == 0, watched.stderr
        assert {r["provider"] for r in json.loads(watched.stdout)} == {"velip"}
    finally:
        proc.terminate()
        proc.wait(10)


def test_env_wins_over_the_keyring(on_bus: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    credentials.default_keyring().set("acme", "tsid", "from-keyring")
    monkeypatch.setenv("CALLMON_ACME_TSID", "from-env")
    assert credentials.lookup("acme", "tsid", keyring=credentials.default_keyring()) == ("from-env", "env")
    assert credentials.resolve(Source("acme", "velip", {})) == {"tsid": "from-env"}
    monkeypatch.delenv("CALLMON_ACME_TSID")
    assert credentials.resolve(Source("acme", "velip", {})) == {"tsid": "from-keyring"}
    credentials.default_keyring().delete("acme", "tsid")


# -- refusing unsafe input ----------------------------------------------------------------------------------


def test_a_secret_on_the_command_line_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(config_file(tmp_path))
    assert main(["auth", "set", "acme", "tsid", "hunter22secret", "--config", cfg]) == 2
    err = capsys.readouterr().err
    assert "never put a secret on the command line" in err and "hunter22secret" not in err


def test_no_terminal_and_no_stdin_flag_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli(["auth", "set", "acme", "--config", str(config_file(tmp_path))], stdin="")
    assert result.returncode == 2 and "pass --stdin" in result.stderr


def test_unknown_source_or_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(config_file(tmp_path))
    assert main(["auth", "set", "nope", "--stdin", "--config", cfg]) == 2
    assert "no source named 'nope'" in capsys.readouterr().err
    assert main(["auth", "delete", "acme", "api_key", "--config", cfg]) == 2
    assert "no secret by that name (theirs: tsid)" in capsys.readouterr().err


# -- headless failures: one clear line, never a traceback or a hang ------------------------------------------


def test_no_dbus_session_explains_the_ways_out(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if k not in ("DBUS_SESSION_BUS_ADDRESS", "PYTHON_KEYRING_BACKEND")
    }
    result = subprocess.run(
        [sys.executable, "-m", "callmon", "auth", "set", "acme", "--stdin", "--config", str(config_file(tmp_path))],
        input="value-123", capture_output=True, text=True, timeout=60, env={**env, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "no OS keyring is available" in result.stderr
    assert "CALLMON_<SOURCE>_<FIELD>" in result.stderr and "gnome-keyring-daemon --unlock" in result.stderr


def test_a_locked_keyring_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.fake_backends.LockedKeyring")
    with pytest.raises(credentials.MissingSecret, match="locked") as info:
        credentials.resolve(Source("acme", "velip", {}), keyring=credentials.Keyring())
    assert "CALLMON_ACME_TSID" in str(info.value)
    result = run_cli(["auth", "set", "acme", "--stdin", "--config", str(config_file(tmp_path))], stdin="v-123",
                     env={"PYTHON_KEYRING_BACKEND": "tests.fake_backends.LockedKeyring"})  # fmt: skip
    assert result.returncode == 1 and "locked" in result.stderr and result.stderr.count("\n") == 1


def test_resolving_partly_keeps_what_was_found_and_says_what_was_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.fake_backends.LockedKeyring")
    secrets, missing = credentials.resolve_partly(Source("acme", "velip", {}), keyring=credentials.Keyring())
    assert secrets == {} and missing is not None and "locked" in missing and "CALLMON_ACME_TSID" in missing
    found = credentials.resolve_partly(Source("acme", "velip", {}), environ={"CALLMON_ACME_TSID": "t-1"})
    assert found == ({"tsid": "t-1"}, None)


def test_a_hung_keyring_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.fake_backends.HangingKeyring")
    started = time.monotonic()
    with pytest.raises(credentials.CredentialError, match=r"did not answer within 0\.3s"):
        credentials.Keyring(timeout=0.3).get("acme", "tsid")
    assert time.monotonic() - started < 2
    result = run_cli(["auth", "status", "--config", str(config_file(tmp_path))],
                     env={"PYTHON_KEYRING_BACKEND": "tests.fake_backends.HangingKeyring",
                          "CALLMON_KEYRING_TIMEOUT": "0.5"})  # fmt: skip
    assert result.returncode == 0 and "did not answer" in result.stdout


# -- no secret in any output ----------------------------------------------------------------------------------

SECRET = "tsid-4f9c2a7e91"


def test_secrets_never_reach_errors_logs_exports_or_the_raw_view(caplog: pytest.LogCaptureFixture) -> None:
    redact.register(SECRET)

    def echoing(request: httpx.Request) -> httpx.Response:
        assert SECRET not in str(request.url)  # in a header, never the URL
        return httpx.Response(
            401, json={"return": {"status": f"Invalid token {SECRET}", "status_code": "101"}}
        )

    import asyncio

    async def attempt() -> str:
        source = Source("acme", "velip", {"campaign": 1}, base_url="https://velip.test")
        async with httpx.AsyncClient(transport=httpx.MockTransport(echoing)) as client:
            adapter = ADAPTERS["velip"](source, {"tsid": SECRET}, client)
            try:
                async for _ in adapter.list_calls():
                    pass
            except AuthError as exc:
                return str(exc)
        return ""

    logging.getLogger("httpx").setLevel(logging.DEBUG)
    redact.install_log_filter()
    with caplog.at_level(logging.DEBUG):
        message = asyncio.run(attempt())
        logging.getLogger("callmon").warning("provider said %s", f"bad {SECRET}")
    assert message and SECRET not in message and redact.MASK in message
    assert SECRET not in caplog.text
    call = Call(
        "acme", "velip", "1", Status.FAILED, reason=f"echo {SECRET}", raw={"token": SECRET, "n": [SECRET]}
    )
    for fmt in ("json", "ndjson", "csv", "table"):
        assert SECRET not in render([call], fmt, raw=fmt in ("json", "ndjson"))
    assert isinstance(call.raw, dict)
    assert SECRET not in safe_json(call.raw)
