"""`callmon watch --once` and the engine against a provider that misbehaves on purpose (tests/hostile_server.py),
over real loopback sockets (issue findings 2, 3, 4, 5, 6 and 8).

Every `watch --once` run must end within its deadline with exit 0 or 1, no traceback, valid output in its
format, bounded memory (the child's own peak RSS) and no secret in stdout or stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from callmon import redact
from callmon.engine import Engine, State
from callmon.providers import ADAPTERS, Limits, Source
from callmon.simulator import DEMO_SECRETS, Clock, Scenario, Simulator, parse_faults
from callmon.store import CallStore
from tests.conftest import serve_simulator
from tests.hostile import FORMATS, INVISIBLE, check_output, strict_json
from tests.hostile_server import REDIRECTS, HostileProvider, Plan
from tests.integration.test_engine import sources_for

ROOT = Path(__file__).resolve().parents[2]
PROVIDERS = ("dialgood", "dialgen", "cloudagent", "velip", "vobiz")
SECRET = "sk-hostile-test-7a1f93c2e5"
# A child's peak RSS must stay under this whatever the provider sends (a plain run peaks well below it; the
# gzip bomb of finding 3 reached gigabytes).
RSS_LIMIT_MB = 150
OPTIONS: dict[str, dict[str, Any]] = {
    "dialgood": {"campaigns": ["camp_1"]},
    "dialgen": {"batches": ["b1"]},
    "cloudagent": {"user_name": "acme"},
    "velip": {"campaign": 555, "page_size": 5},
    "vobiz": {"auth_id": "MA_HOSTILE"},
}


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float
    rss_mb: float


def _toml(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


def write_config(path: Path, sources: list[tuple[str, str, str]], **limits: Any) -> Path:
    """A config for (name, provider, base_url) sources, each with the given per-source limits."""
    blocks = []
    for name, provider, url in sources:
        lines = ["[[sources]]", f'name = "{name}"', f'provider = "{provider}"', f'base_url = "{url}"']
        lines += [f"{k} = {_toml(v)}" for k, v in {**OPTIONS[provider], **limits}.items()]
        blocks.append("\n".join(lines))
    path.write_text("\n\n".join(blocks) + "\n")
    return path


def secret_env(name: str, provider: str, secret: str = SECRET) -> dict[str, str]:
    field = ADAPTERS[provider].secret_fields[0]
    return {f"CALLMON_{name.upper().replace('-', '_')}_{field.upper()}": secret}


# `python -m callmon ARGS`, and on the way out its own peak RSS (VmHWM: the high-water mark of this process's
# memory since exec; wait4's ru_maxrss would also count the parent's, which the child shares until exec).
_MEASURED = """
import atexit, os, runpy, sys
def peak():
    with open("/proc/self/status") as status, open(os.environ["HOSTILE_HWM_FILE"], "w") as out:
        out.write(next(line for line in status if line.startswith("VmHWM:")).split()[1])
atexit.register(peak)
sys.argv = ["callmon", *sys.argv[1:]]
runpy.run_module("callmon", run_name="__main__", alter_sys=True)
"""


def _run_blocking(args: list[str], env: dict[str, str], timeout: float, hwm: Path) -> Run:
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-c", _MEASURED, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    out: list[bytes] = []
    err: list[bytes] = []
    assert proc.stdout is not None and proc.stderr is not None
    readers = [
        threading.Thread(target=lambda: out.append(proc.stdout.read())),  # type: ignore[union-attr]
        threading.Thread(target=lambda: err.append(proc.stderr.read())),  # type: ignore[union-attr]
    ]
    for reader in readers:
        reader.start()
    killer = threading.Timer(timeout, proc.kill)
    killer.start()
    try:
        proc.wait()
    finally:
        killer.cancel()
    for reader in readers:
        reader.join()
    seconds = time.monotonic() - started
    rss_mb = int(hwm.read_text()) / 1024 if hwm.exists() else float("inf")
    return Run(proc.returncode, b"".join(out).decode(), b"".join(err).decode(), seconds, rss_mb)


async def run_watch(
    config: Path, env: dict[str, str], *, fmt: str = "json", max_time: float = 5, timeout: float = 60
) -> Run:
    """`callmon watch --once` as a separate process, off the event loop (the hostile server runs on it)."""
    hwm = config.with_name("peak-rss")
    hwm.unlink(missing_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith("CALLMON_")}
    full_env = {**base, **env, "PYTHONPATH": str(ROOT), "HOSTILE_HWM_FILE": str(hwm)}
    args = ["watch", "--once", "--config", str(config), "--format", fmt, "--max-time", str(max_time)]
    if fmt in ("json", "ndjson"):
        args.append("--raw")
    return await asyncio.to_thread(_run_blocking, args, full_env, timeout, hwm)


def check_run(run: Run, fmt: str, deadline: float, secrets: tuple[str, ...] = (SECRET,)) -> None:
    """What every run against a hostile provider must be."""
    assert run.code in (0, 1), (run.code, run.stderr[-2000:])
    assert run.seconds < deadline, f"took {run.seconds:.1f}s, deadline {deadline}s"
    assert "Traceback" not in run.stderr and "Traceback" not in run.stdout, run.stderr[-2000:]
    assert run.rss_mb < RSS_LIMIT_MB, f"peak RSS {run.rss_mb:.0f} MB"
    check_output(run.stdout, fmt, secrets)
    for secret in secrets:
        assert secret not in run.stderr
    for line in run.stderr.splitlines():
        assert line.isprintable(), repr(line)
        assert line.startswith("callmon: "), line


@pytest.fixture
async def hostile(request: pytest.FixtureRequest) -> AsyncIterator[HostileProvider]:
    provider, plan = request.param
    async with HostileProvider(provider, plan).running() as server:
        yield server


async def watch_hostile(
    tmp_path: Path, server: HostileProvider, *, fmt: str = "json", max_time: float = 5, **limits: Any
) -> Run:
    name = f"hostile-{server.provider}"
    limits = {"timeout": 2, "max_response_mb": 1, "max_pages": 20, "retry_after_max": 5, **limits}
    config = write_config(tmp_path / "config.toml", [(name, server.provider, server.url)], **limits)
    return await run_watch(config, secret_env(name, server.provider), fmt=fmt, max_time=max_time)


# -- finding 3: transport bounds ---------------------------------------------------------------------------------


def transport_cases() -> list[Any]:
    cases = []
    modes = ("slow", "gzip-bomb", "deflate-bomb", "gzip-trailer", "huge", "huge-chunked", "deep", "endless-body")
    for mode in modes:
        for provider in ("vobiz", "cloudagent") if mode in ("slow", "gzip-bomb") else ("velip",):
            cases.append(pytest.param((provider, Plan(mode=mode)), id=f"{mode}-{provider}"))
    return cases


@pytest.mark.parametrize("hostile", transport_cases(), indirect=True)
async def test_watch_once_survives_a_hostile_transport(hostile: HostileProvider, tmp_path: Path) -> None:
    """1 byte/s, gzip and deflate bombs, a 200 MB body (declared and chunked), an endless body: each is one
    error line and exit 1, within the request timeout, in bounded memory. A gzip body followed by endless bytes
    is read to its end and no further; a field nested 100,000 deep is cut and its records read."""
    run = await watch_hostile(tmp_path, hostile)
    check_run(run, "json", deadline=15)
    mode = hostile.plan.mode
    if mode in ("gzip-trailer", "deep"):
        # gzip-trailer: the body was whole, and what follows its end is not read (nor held). deep: the one
        # field nested too deeply is cut, and the records beside it are read.
        assert run.code == 0 and strict_json(run.stdout), run.stderr
        return
    assert run.code == 1
    assert f"source 'hostile-{hostile.provider}'" in run.stderr
    if mode == "slow":
        assert "no complete answer within 2s" in run.stderr
    elif mode in ("gzip-bomb", "deflate-bomb", "huge", "huge-chunked", "endless-body"):
        assert "over the 1 MiB cap" in run.stderr


@pytest.mark.parametrize(
    "hostile",
    [pytest.param(("dialgen", Plan(mode="redirect", redirect=code)), id=str(code)) for code in REDIRECTS],
    indirect=True,
)
async def test_watch_once_reports_a_redirect(hostile: HostileProvider, tmp_path: Path) -> None:
    """A redirect is not followed (it could lead the secret elsewhere) and is reported as one, not as
    "expected a JSON object, got NoneType"."""
    run = await watch_hostile(tmp_path, hostile)
    check_run(run, "json", deadline=15)
    assert run.code == 1 and "redirected to" in run.stderr and "/elsewhere" in run.stderr
    assert "NoneType" not in run.stderr
    assert len(hostile.seen) == 1 and not any("elsewhere" in s.path for s in hostile.seen)


# -- finding 4: Retry-After extremes, once -------------------------------------------------------------------------


RETRY_AFTERS = ["999999999", "0", "-5", "nan", "inf", "Fri, 01 Jan 2099 00:00:00 GMT", "Thu, 01 Jan 1998 00:00:00 GMT", "soon\x1b[2J"]


@pytest.mark.parametrize(
    "hostile",
    [pytest.param(("vobiz", Plan(mode="retry-after", retry_after=v)), id=v[:12]) for v in RETRY_AFTERS],
    indirect=True,
)
async def test_watch_once_is_not_parked_by_retry_after(hostile: HostileProvider, tmp_path: Path) -> None:
    """A pass never waits on a Retry-After: a 429 is that source's error, whatever the header says."""
    run = await watch_hostile(tmp_path, hostile)
    check_run(run, "json", deadline=15)
    assert run.code == 1 and "rate limited (HTTP 429)" in run.stderr
    assert len(hostile.seen) == 1


# -- finding 5: pagination that never ends ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hostile", "pages"),
    [
        # CloudAgent: full pages of 500, no totalCount; its budget (2 a minute) ends the pass.
        (("cloudagent", Plan(mode="endless")), 2),
        # Vobiz: has_next always true, new rows each page; max_pages ends it.
        (("vobiz", Plan(mode="endless")), 20),
        # Velip: the cursor comes back (A, B, A): the repeat ends it.
        (("velip", Plan(mode="endless-alternating")), 3),
        # Velip: a cursor that always changes, new rows each page: max_pages ends it.
        (("velip", Plan(mode="endless")), 20),
    ],
    indirect=["hostile"],
    ids=["cloudagent-no-total", "vobiz-has-next", "velip-cursor-ABAB", "velip-cursor-new"],
)
async def test_watch_once_ends_endless_pagination(hostile: HostileProvider, pages: int, tmp_path: Path) -> None:
    run = await watch_hostile(tmp_path, hostile, max_time=8)
    check_run(run, "json", deadline=20)
    assert run.code == 1 and "cut short" in run.stderr
    assert len(hostile.list_requests()) == pages
    budget = ADAPTERS[hostile.provider].budgets
    window = budget.get("cdr") or budget.get("list") or budget["default"]
    assert len(hostile.list_requests()) <= window.requests  # within the provider's budget
    assert strict_json(run.stdout), "what was read before the cut is printed"


@pytest.mark.parametrize("hostile", [(("vobiz", Plan(mode="endless")))], indirect=True)
async def test_watch_once_max_time_and_budget_bound_a_pass(hostile: HostileProvider, tmp_path: Path) -> None:
    """With the page cap out of the way, the provider's budget (120 a minute) and --max-time end the pass:
    it never sends more than the budget and finishes by the deadline."""
    run = await watch_hostile(tmp_path, hostile, max_time=3, max_pages=100_000)
    check_run(run, "json", deadline=15)
    assert run.code == 1 and "cut short" in run.stderr
    assert len(hostile.seen) <= ADAPTERS["vobiz"].budgets["default"].requests


# -- findings 6 and 8: secrets and invisible text ------------------------------------------------------------------


def each_provider_a_format(mode: str, providers: tuple[str, ...] = PROVIDERS) -> list[Any]:
    """Every provider once, the formats taken in turn: a subprocess run costs a second, and every format's
    output of every hostile value is checked in process (tests/unit/test_hostile_values.py)."""
    return [
        pytest.param((p, Plan(mode=mode)), FORMATS[i % len(FORMATS)], id=f"{p}-{FORMATS[i % len(FORMATS)]}")
        for i, p in enumerate(providers)
    ]


@pytest.mark.parametrize(("hostile", "fmt"), each_provider_a_format("echo"), indirect=["hostile"])
async def test_watch_once_never_prints_an_echoed_secret(hostile: HostileProvider, fmt: str, tmp_path: Path) -> None:
    """The provider puts the secret it received into a record field (and a key); CloudAgent also echoes the
    session token it issued. No format prints either."""
    run = await watch_hostile(tmp_path, hostile, fmt=fmt)
    assert SECRET in hostile.secrets_seen  # it was sent, so it could be echoed
    secrets = tuple(hostile.secrets_seen)  # the CloudAgent session token among them
    check_run(run, fmt, deadline=15, secrets=secrets)
    assert run.code == 0, run.stderr
    assert "••••" in run.stdout or "\\u2022\\u2022\\u2022\\u2022" in run.stdout  # JSON escapes it


@pytest.mark.parametrize(
    "hostile", [pytest.param((p, Plan(mode="echo-error")), id=p) for p in ("dialgen", "cloudagent", "vobiz")], indirect=True
)
async def test_an_echoed_secret_in_an_error_never_reaches_stderr(hostile: HostileProvider, tmp_path: Path) -> None:
    run = await watch_hostile(tmp_path, hostile)
    check_run(run, "json", deadline=15, secrets=tuple(hostile.secrets_seen))
    assert run.code == 1 and "bad key ••••" in run.stderr


@pytest.mark.parametrize(
    ("hostile", "fmt"), each_provider_a_format("invisible", ("dialgen", "vobiz", "velip", "cloudagent")),
    indirect=["hostile"],
)
async def test_watch_once_prints_no_invisible_text(hostile: HostileProvider, fmt: str, tmp_path: Path) -> None:
    run = await watch_hostile(tmp_path, hostile, fmt=fmt)
    check_run(run, fmt, deadline=15)
    assert run.code == 0, run.stderr
    assert not any(ch in run.stdout for ch in INVISIBLE + "\x1b\x07\u2028")


@pytest.mark.parametrize(("hostile", "fmt"), each_provider_a_format("values"), indirect=["hostile"])
async def test_watch_once_reads_hostile_values(hostile: HostileProvider, fmt: str, tmp_path: Path) -> None:
    """Findings 1 and 9 on the wire: NaN, -Infinity, 1e400, a 5,000-digit number, a lone surrogate escape, a
    year-9999 time and nesting 2,000 deep in every record, and a 1 MB string in one of them."""
    run = await watch_hostile(tmp_path, hostile, fmt=fmt, max_response_mb=2)
    check_run(run, fmt, deadline=15)
    assert run.code == 0, run.stderr  # every record read: its bad fields are null, cut or replaced
    rows = 1 if hostile.provider == "dialgood" else hostile.plan.rows_per_page
    if fmt == "json":
        assert len(strict_json(run.stdout)) == rows
    assert len(run.stdout) < 2_000_000


# -- finding 2: one hostile source among healthy ones, in one engine -------------------------------------------------


def _limits() -> Limits:
    return Limits(timeout=1.0, max_response_mb=1.0, max_pages=5, retry_after_max=2.0)


ENGINE_CASES = {
    "slow": ("vobiz", Plan(mode="slow")),
    "gzip-bomb": ("vobiz", Plan(mode="gzip-bomb")),
    "endless-pages": ("vobiz", Plan(mode="endless")),
    "cursor-ABAB": ("velip", Plan(mode="endless-alternating")),
    "no-total": ("cloudagent", Plan(mode="endless")),
    "retry-after-huge": ("vobiz", Plan(mode="retry-after", retry_after="999999999")),
    "retry-after-0": ("dialgen", Plan(mode="retry-after", retry_after="0")),
    "values": ("vobiz", Plan(mode="values")),
    "redirect": ("dialgen", Plan(mode="redirect")),
    "echo-error": ("dialgen", Plan(mode="echo-error")),
}


async def test_engine_keeps_other_sources_updating() -> None:
    """Every hostile provider above at once, beside the simulator's five sources, in one engine with a real
    httpx.AsyncClient: the healthy sources keep receiving updates the whole time, each hostile source's
    failures count as its errors, none is parked past its retry_after_max, none leaks the secret."""
    scenario = Scenario(seed=5, calls=60, span=20, clock=Clock(speed=4.0))
    sim = Simulator(scenario, faults=parse_faults(["ratelimit=off"]))
    store = CallStore()
    redact.register(SECRET)
    servers = {case: HostileProvider(provider, plan) for case, (provider, plan) in ENGINE_CASES.items()}
    try:
        async with contextlib.AsyncExitStack() as stack:
            for server in servers.values():
                await stack.enter_async_context(server.running())
            async for served in serve_simulator(sim):
                async with httpx.AsyncClient() as client:
                    engine = Engine(store, client, tick_hz=10)
                    healthy = sources_for(scenario, served.url, interval=0.3)
                    for source in healthy:
                        engine.add(source, DEMO_SECRETS[source.provider])
                    for case, server in servers.items():
                        options = OPTIONS[server.provider]
                        engine.add(
                            Source(case, server.provider, options, server.url, 0.3, limits=_limits()),
                            {ADAPTERS[server.provider].secret_fields[0]: SECRET},
                        )
                    changes: list[float] = []
                    store.subscribe(
                        lambda batch: changes.extend(time.monotonic() for c in batch if c.call.source not in servers)
                    )
                    await engine.start()
                    started = time.monotonic()
                    try:
                        await asyncio.sleep(8)
                    finally:
                        await engine.stop()
                    health = {h.name: h for h in engine.health()}
    finally:
        redact.forget_all()
    assert changes, "the healthy sources got nothing"
    # Updates kept coming all along, not only before the hostile sources got going.
    seconds = {int(t - started) for t in changes}
    assert len(seconds & set(range(1, 8))) >= 5, sorted(seconds)
    for source in healthy:
        assert health[source.name].state is State.OK, health[source.name]
    for case in ("slow", "gzip-bomb", "retry-after-huge", "retry-after-0", "redirect", "echo-error"):
        bad = health[case]
        assert bad.consecutive_errors >= 1 and bad.state in (State.RETRYING, State.RATE_LIMITED), bad
    # Pages that never end: each scan stops at max_pages (5) or at the cursor that came back, and the source
    # goes on working. (Vobiz's note of it lasts until its next live-only cycle; Velip's every cycle is full.)
    for case in ("endless-pages", "cursor-ABAB"):
        assert health[case].state is State.OK, health[case]
    assert "cursor came back" in health["cursor-ABAB"].note, health["cursor-ABAB"]
    full_scans = 8 / (0.3 * 6) + 1
    assert len(servers["endless-pages"].list_requests()) <= 5 * full_scans
    # CloudAgent: 2 CDR pages a minute; its full pages never end, and the scan waits on its budget.
    assert len(servers["no-total"].list_requests()) <= 2
    assert health["slow"].message.endswith("no complete answer within 1s")
    assert "over the 1 MiB cap" in health["gzip-bomb"].message
    assert "redirected to" in health["redirect"].message
    # Retry-After 999999999: parked for retry_after_max (2 s), never 31 years. (Retry-After 0 is the backoff's.)
    until = health["retry-after-huge"].until
    assert until is not None and until - time.time() <= 2.0 + 0.5
    for case, bad in health.items():
        assert SECRET not in bad.message and SECRET not in bad.note, case
        assert bad.message.isprintable() and bad.note.isprintable(), case
    # Retry-After 0: backed off, not 240 requests in a minute.
    assert len(servers["retry-after-0"].seen) <= 5, len(servers["retry-after-0"].seen)
