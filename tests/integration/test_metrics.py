"""/metrics and /healthz over a real socket, read back with prometheus_client's own parser: the numbers
agree with the session's, labels stay few (10,000 campaigns) and hold no phone number or secret."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from callmon.config import Metrics as MetricsConfig
from callmon.demo import make_demo
from callmon.health import SourceHealth, State
from callmon.metrics import Metrics, label
from callmon.model import Call, Status
from callmon.redact import register
from callmon.runtime import Session, live_session
from callmon.store import CallStore


def families(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


async def until(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_metrics_and_healthz_over_a_real_socket() -> None:
    world = make_demo(calls=120, faults=["velip:auth"])
    pairs = [(s, world.secrets[s.name]) for s in world.sources]
    config = MetricsConfig(listen="127.0.0.1:0", campaigns=3)
    async with live_session(pairs, transport=world.transport(), metrics=config) as session:
        assert isinstance(session, Session) and session.metrics_url is not None
        url = session.metrics_url
        await until(lambda: all(h.last_poll or h.state.down for h in session.engine.health()) and len(session.store) > 20)
        await asyncio.sleep(0.5)
        async with httpx.AsyncClient() as client:
            scraped = await client.get(f"{url}/metrics")
            health = await client.get(f"{url}/healthz")
            missing = await client.get(f"{url}/nothing")
        assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
        got = families(scraped.text)
        held = sum(v for _, v in got["callmon_calls"])
        assert held == len(session.store)
        assert {labels["source"] for labels, _ in got["callmon_calls"]} <= {s.name for s, _ in pairs}
        # Three campaigns by name, the rest as "other", every call counted once.
        campaigns = got["callmon_campaign_calls"]
        assert len(campaigns) == 4 and campaigns[-1][0] == {"campaign": "other"}
        assert sum(v for _, v in campaigns) == len(session.store)
        up = {labels["source"]: v for labels, v in got["callmon_source_up"]}
        assert up["sim-velip"] == 0 and up["sim-vobiz"] == 1
        assert any(v for labels, v in got["callmon_source_requests_total"])
        assert got["callmon_status_change_lag_seconds_count"][0][1] >= 0
        # Velip's secret is refused: not every source is ok.
        assert health.status_code == 503 and "sim-velip auth failed" in health.text
        assert missing.status_code == 404


async def test_healthz_is_200_while_every_source_is_ok() -> None:
    world = make_demo(calls=30)
    pairs = [(s, world.secrets[s.name]) for s in world.sources]
    async with live_session(pairs, transport=world.transport(), metrics=MetricsConfig("127.0.0.1:0")) as session:
        await until(lambda: all(h.state is State.OK for h in session.engine.health()))
        async with httpx.AsyncClient() as client:
            health = await client.get(f"{session.metrics_url}/healthz")
        assert health.status_code == 200 and health.text.count(" ok\n") == len(pairs)


async def test_metrics_port_taken_is_one_line_and_the_session_goes_on() -> None:
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    world = make_demo(calls=10)
    pairs = [(s, world.secrets[s.name]) for s in world.sources]
    try:
        async with live_session(pairs, transport=world.transport(), metrics=MetricsConfig(f"127.0.0.1:{port}")) as session:
            assert session.metrics is None
            assert [p for p in session.problems if p.startswith(f"metrics: cannot listen on 127.0.0.1:{port}")]
    finally:
        taken.close()


def test_ten_thousand_campaigns_stay_a_few_series_with_no_number_or_secret_in_a_label() -> None:
    register("s3cr3t-token-value-123")
    store = CallStore()
    at = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    names = [f"campaign-{i}" for i in range(10_000)]
    names += ["call +91 98765 43210 back", "s3cr3t-token-value-123", "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
              "bad\x1b[31mred\u202e"]  # fmt: skip
    for i, name in enumerate(names):
        for j in range(1 + (i % 7 == 0) * 3 + (i >= 10_000) * 50):
            store.apply(Call("s", "vobiz", f"c{i}-{j}", Status.FAILED if j % 2 else Status.COMPLETED,
                             campaign=name, reason=f"SIP 4{i % 100:02d} from +1415555{i:04d}",
                             started_at=at, ended_at=at))  # fmt: skip
    store.flush()
    metrics = Metrics(store, lambda: [SourceHealth("s", "vobiz", State.OK)], campaigns=20)
    text = metrics.scrape().decode()
    got = families(text)
    assert len(got["callmon_campaign_calls"]) == 21
    assert sum(v for _, v in got["callmon_campaign_calls"]) == len(store)
    assert len(got["callmon_calls_ended"]) <= 2 * 21  # the commonest 20 reasons (and other), per status
    values = [v for samples in got.values() for labels, _ in samples for v in labels.values()]
    assert "(hidden)" in values and "call # back" in values and "badred" in values
    assert not [v for v in values if "s3cr3t" in v or "ghp_" in v or "98765" in v or "\x1b" in v]
    assert not [v for v in values if sum(ch.isdigit() for ch in v) >= 9]
    assert label("+91 98765 43210") == "#"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("lote-2026-01", "lote-2026-01"),  # dates and batch numbers in a campaign's name keep campaigns apart
        ("lote-2026-02", "lote-2026-02"),
        ("renewals 2026-11-30", "renewals 2026-11-30"),
        ("camp_f12345d", "camp_f12345d"),
        ("batch 20261130", "batch 20261130"),
        ("call 987654321 back", "call # back"),  # nine digits or more may be a number: never a label
        ("+1 (415) 555-0100", "#"),
        ("acct 4111-1111-1111-1111", "acct #"),
    ],
)
def test_a_label_hides_numbers_but_not_dates_or_short_ids(text: str, shown: str) -> None:
    assert label(text) == shown


def test_a_taken_metrics_port_is_a_failure_to_start() -> None:
    import socket
    import subprocess
    import sys

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        for command in (["watch", "--demo"], ["demo"]):
            result = subprocess.run(
                [sys.executable, "-m", "callmon", *command, "--metrics", f"127.0.0.1:{port}"],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert result.returncode == 1, result.stderr
            assert result.stderr.strip() == f"callmon: metrics: cannot listen on 127.0.0.1:{port}: Address already in use"
    finally:
        taken.close()
