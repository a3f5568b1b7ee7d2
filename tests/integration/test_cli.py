"""The command line as a user runs it: config errors, watch --once against a served simulator, exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from callmon.cli import main
from tests.conftest import launch_simulate


@pytest.fixture(scope="module")
def simulator_process() -> Iterator[tuple[str, dict[str, str]]]:
    """`callmon simulate --port 0` in a subprocess; yields its printed config and the env exports it lists."""
    proc, text = launch_simulate("--calls", "60", "--faults", "ratelimit=off")
    env = dict(re.findall(r"^#\s+export (\w+)=(\S+)$", text, re.M))
    try:
        yield text, env
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def use_simulator(
    simulator_process: tuple[str, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The printed config written to a file, and its secrets exported as the simulator said: the path."""
    text, env = simulator_process
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return str(write(tmp_path, text))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_simulate_config_then_watch_once_json_lists_all_five(
    simulator_process: tuple[str, dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = use_simulator(simulator_process, tmp_path, monkeypatch)
    assert main(["watch", "--once", "--format", "json", "--config", path]) == 0
    records = json.loads(capsys.readouterr().out)
    assert {r["provider"] for r in records} == {"dialgood", "dialgen", "cloudagent", "velip", "vobiz"}
    expected = ["source", "provider", "call_id", "campaign", "status", "raw_status", "reason", "direction", "from",
                "to", "started_at", "answered_at", "ended_at", "duration_s", "billable_s", "cost", "currency",
                "recording_url", "updated_at"]  # fmt: skip
    assert all(list(r) == expected for r in records)


def test_watch_filter_source_raw_and_csv(
    simulator_process: tuple[str, dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = use_simulator(simulator_process, tmp_path, monkeypatch)
    assert (
        main(["watch", "--once", "--format", "ndjson", "--raw", "--source", "sim-vobiz", "--config", path])
        == 0
    )
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows and all(r["source"] == "sim-vobiz" and "raw" in r for r in rows)
    assert (
        main(
            [
                "watch",
                "--once",
                "--format",
                "csv",
                "--filter",
                "provider:velip,vobiz -provider:vobiz",
                "--config",
                path,
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("source,provider,call_id")
    assert len(lines) > 1 and all(",velip," in line for line in lines[1:])


def test_a_failing_source_is_reported_and_the_others_still_print(
    simulator_process: tuple[str, dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = use_simulator(simulator_process, tmp_path, monkeypatch)
    monkeypatch.setenv("CALLMON_SIM_VELIP_TSID", "wrong")
    assert main(["watch", "--once", "--format", "json", "--config", path]) == 1
    out, err = capsys.readouterr()
    assert "sim-velip" in err and "auth failed" in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    providers = {r["provider"] for r in json.loads(out)}
    assert "velip" not in providers and "vobiz" in providers


def test_missing_secret_names_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a keyring, why is said once; then one short line per source naming its variable."""
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    text = "".join(
        f'[[sources]]\nname = "acme{i}"\nprovider = "dialgen"\nbatches = ["b"]\n' for i in range(5)
    )
    path = write(tmp_path, text)
    assert main(["watch", "--once", "--config", str(path)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 6, lines
    assert "no OS keyring is available" in lines[0] and "dbus-run-session" in lines[0]
    assert lines[1:] == [f"callmon: source 'acme{i}': no api_key: set CALLMON_ACME{i}_API_KEY" for i in range(5)]
    assert all(len(line) < 80 for line in lines[1:])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[sources]]\nname = 'a'\nprovider = 'nope'\n", r":3: source 'a': unknown provider 'nope'"),
        ("[[sources]]\nname = 'a'\nprovider = 'vobiz'\n", r":1: source 'a': vobiz needs 'auth_id'"),
        ("[[sources]]\nname = 'a'\nprovider = 'velip'\ntsid = 'x'\n", r":4: source 'a': 'tsid' looks like a secret"),
        ("[[sources]]\nname = 'a'\nprovider = 'velip'\ncolour = 1\n", r":4: source 'a': unknown setting 'colour'"),
        ("[[sources]]\nname = 'a'\nprovider = 'velip'\ninterval = -1\n", r":4: interval must be a number"),
        ("[[sources]]\nname = 'a'\nprovider = 'velip'\nfilter = 'dur>x'\n", r":4: source 'a': bad filter"),
        ("[[sources]]\nname = 'a'\nprovider = 'velip'\ntimezone = 'Mars/Base'\n", r":4: .*unknown time zone"),
        ("[[sources]]\nname = 'a'\nprovider = 'velip'\n[[sources]]\nname = 'a'\nprovider = 'velip'\n",
         r":5: duplicate source name 'a'"),
        ("[[sources]\nname = 'a'\n", r":1:\d+: invalid TOML"),
        ("tick = 3\n", r":1: unknown setting 'tick'"),
    ],
)  # fmt: skip
def test_bad_config_is_one_line_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    assert main(["config", "check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert str(path) in err
    assert re.search(expected, err), err


def test_usage_errors_exit_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["watch", "--once", "--demo", "--filter", "status:bogus"],
        ["watch", "--format", "xml"],
        ["simulate", "--port", "-1"],
        ["simulate", "--calls", "0"],
        ["simulate", "--faults", "velip:explode"],
        ["watch", "--once", "--demo", "--raw", "--format", "csv"],
        ["watch", "--demo", "--group-by", "campaign"],
        ["watch", "--once", "--demo", "--group-by", "colour"],
        ["watch", "--once", "--demo", "--group-by", "campaign", "--raw", "--format", "json"],
        ["watch", "--once", "--demo", "--alerts"],
        ["watch", "--demo", "--alerts", "--format", "csv"],
        ["watch", "--demo", "--metrics", "localhost"],
        ["watch", "--demo", "--metrics", "127.0.0.1:70000"],
        ["watch", "--once", "--demo", "--metrics", "127.0.0.1:9464"],
        ["demo", "--burst", "soon"],
        ["demo", "--burst", "1m+4m@NoSuchCampaign"],
        ["simulate", "--burst", "-1m"],
        ["nosuchcommand"],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and err.startswith("callmon: "), (argv, err)


def test_config_init_path_and_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "sub" / "callmon.toml"
    monkeypatch.setenv("CALLMON_CONFIG", str(target))
    assert main(["config", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(target)
    assert main(["config", "init"]) == 0
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    assert main(["config", "check"]) == 0  # the example parses
    assert main(["config", "init"]) == 2  # refuses to overwrite


def test_simulate_port_in_use_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from callmon.serve import bind

    sock = bind("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "callmon", "simulate", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ},
        )
    finally:
        sock.close()
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "cannot listen" in result.stderr


def test_watch_once_demo_runs_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch", "--once", "--demo", "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert {r["provider"] for r in records} == {"dialgood", "dialgen", "cloudagent", "velip", "vobiz"}


def test_watch_once_group_by_prints_the_group_views_measures(capsys: pytest.CaptureFixture[str]) -> None:
    import csv
    import io

    assert main(["watch", "--once", "--demo", "--group-by", "provider", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["provider"] for r in rows} == {"dialgood", "dialgen", "cloudagent", "velip", "vobiz"}
    for row in rows:
        ended, completed = int(row["ended"]), int(row["completed"])
        assert float(row["answer_rate"]) == pytest.approx(completed / ended, abs=0.001)
        assert len(row["calls_per_min"].split()) == 15
    assert main(["watch", "--once", "--demo", "--group-by", "campaign"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["CAMPAIGN", "CALLS", "ACTIVE", "ANS%"]


def test_config_check_lists_alerts_and_metrics(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, """
[[alerts]]
name = "renewals failing"
when = "failure_rate > 30%"
by = "campaign"

[metrics]
listen = "127.0.0.1:9464"
""")
    assert main(["config", "check", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "renewals failing: failure rate > 30% · over 5m, at least 20 ended · per campaign" in out
    assert "metrics: /metrics and /healthz on http://127.0.0.1:9464" in out
    bad = write(tmp_path, '[metrics]\nlisten = "9464"\n')
    assert main(["config", "check", "--config", str(bad)]) == 2
    assert "metrics.listen must be" in capsys.readouterr().err


def test_bare_callmon_is_the_monitor_and_says_what_is_missing(tmp_path: Path) -> None:
    """`callmon` with no command and no config: one line naming the file and the fix, exit 2."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "nothing-here")}
    env.pop("CALLMON_CONFIG", None)
    result = subprocess.run(
        [sys.executable, "-m", "callmon"], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "no config file here (create one with `callmon config init`)" in result.stderr
    config = tmp_path / "c.toml"
    config.write_text("tick_hz = 999\n")
    result = subprocess.run([sys.executable, "-m", "callmon", "--config", str(config)],
                            capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
    assert result.returncode == 2 and "tick_hz must be a number" in result.stderr
