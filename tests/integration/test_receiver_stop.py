"""The receiver's consumer cannot be stopped by what a delivery holds, and stopping the receiver (the
monitor or `watch` exiting) takes a bounded time whatever state the queue is in."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest
from starlette.types import Receive, Scope, Send

from callmon.config import Webhooks
from callmon.history import History
from callmon.model import Call
from callmon.providers import Source
from callmon.runtime import live_session
from callmon.serve import Limits, bind, serving, url_of
from callmon.simulator import DEMO_SECRETS, Clock, Scenario, Simulator, config_text, parse_faults
from callmon.store import CallStore
from callmon.webhooks import Receiver, hook_path
from tests.conftest import serve_simulator
from tests.integration.raw_http import Conn, head
from tests.integration.test_webhooks import KEY, SOURCES, receiving


def record(call_id: str) -> bytes:
    return json.dumps({"callId": call_id, "status": "COMPLETED"}).encode()


async def post(url: str, source: str, body: bytes) -> int:
    conn = await Conn.open(url)
    try:
        return (await conn.request("POST", hook_path(KEY, source), body)).status
    finally:
        conn.close()


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]


async def test_a_sink_that_fails_on_some_calls_stops_nothing_after_it(caplog: pytest.LogCaptureFixture) -> None:
    stored: list[str] = []

    def sink(call: Call) -> None:
        if call.call_id.startswith("bad"):
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        stored.append(call.call_id)

    receiver = Receiver(SOURCES, KEY, sink)
    sock = bind("127.0.0.1", 0)
    async with serving(receiver.app(), sock):
        consumer = asyncio.create_task(receiver.run())
        url = url_of(sock)
        batch = json.dumps([{"callId": f"bad{i}", "status": "FAILED"} for i in range(3)] + [{"callId": "b"}])
        codes = [
            await post(url, "dg", record("a")),
            await post(url, "dg", batch.encode()),
            await post(url, "dg", record("c")),
        ]
        await asyncio.wait_for(receiver.drain(), 5)
        alive = not consumer.done()
        consumer.cancel()
    assert codes == [202, 202, 202]
    assert stored == ["a", "b", "c"] and alive
    assert receiver.stats.deliveries == 3 and receiver.stats.rejected == 3 and receiver.stats.calls == 3
    [line] = [r.getMessage() for r in caplog.records if r.name == "callmon.webhooks"]
    assert "3 of 4 delivered calls not stored: UnicodeEncodeError" in line and "\n" not in line
    assert not tracebacks(caplog)


async def test_a_lone_surrogate_is_stored_and_recorded_and_later_deliveries_too(tmp_path: Path) -> None:
    """The delivery that used to kill the consumer: a lone surrogate reached the history's UTF-8 write."""
    source = Source("dg", "dialgen", {"batches": ["b"]}, base_url="http://127.0.0.1:9")
    path = tmp_path / "history.sqlite3"
    start = time.monotonic()
    async with live_session(
        [(source, {"api_key": "k" * 16})],
        history_path=path,
        webhooks=Webhooks(listen="127.0.0.1:0"),
        webhook_key=KEY,
    ) as session:
        receiver = session.receiver
        assert receiver is not None and receiver.address is not None
        hostile = b'{"callId": "x\\ud800", "status": "COMPLETED", "error": "\\udfff busy"}'
        codes = [await post(receiver.address, "dg", body) for body in (hostile, record("after"))]
        await asyncio.wait_for(receiver.drain(), 5)
        held = {c.call_id for c in session.store.calls.values()}
    took = time.monotonic() - start
    history = History(path)
    history.open()
    recorded = CallStore()
    history.load_into(recorded)
    history.close()
    assert codes == [202, 202]
    assert held == {"x\ufffd", "after"} == {c.call_id for c in recorded.calls.values()}
    assert took < 10


async def test_stopping_with_a_stuck_queue_is_bounded_and_says_what_was_not_stored(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A consumer that takes nothing (as a dead one did): leaving the session must not wait for the queue."""

    async def stuck(self: Receiver) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(Receiver, "run", stuck)
    monkeypatch.setattr("callmon.webhooks.DRAIN_GRACE", 0.3)
    source = Source("dg", "dialgen", {"batches": ["b"]}, base_url="http://127.0.0.1:9")
    async with live_session(
        [(source, {"api_key": "k" * 16})], webhooks=Webhooks(listen="127.0.0.1:0"), webhook_key=KEY
    ) as session:
        receiver = session.receiver
        assert receiver is not None and receiver.address is not None
        codes = [await post(receiver.address, "dg", record(f"c{i}")) for i in range(3)]
        start = time.monotonic()
    took = time.monotonic() - start
    assert codes == [202] * 3
    assert took < 2
    lines = [r.getMessage() for r in caplog.records if r.name == "callmon.webhooks"]
    assert lines == ["webhooks: stopped with 3 deliveries (3 calls) not stored; providers that retry send them again"]


async def test_deliveries_waiting_for_room_are_answered_503_busy_or_closing() -> None:
    async with receiving(queue_size=1, busy_timeout=0.3, consume=False) as running:
        url = running.url
        first = await post(url, "dg", record("a"))
        start = time.monotonic()
        conn = await Conn.open(url)
        busy = await conn.request("POST", hook_path(KEY, "dg"), record("b"))
        busy_after = time.monotonic() - start
        waiting = asyncio.create_task(post(url, "dg", record("c")))
        await asyncio.sleep(0.1)  # it waits for room
        consumer = running.consume()
        consumer.cancel()  # a consumer that never gets to run
        left = await running.receiver.stop(consumer, grace=0.1)
        closing = await asyncio.wait_for(waiting, 1)
        conn.close()
    assert first == 202 and busy.status == 503 and closing == 503
    assert busy.headers["retry-after"] and "message" in busy.json()
    assert 0.25 < busy_after < 1
    assert left == 1 and not running.store.calls


async def test_the_server_stops_in_bounded_time_with_requests_in_flight(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """One client trickles a body (its request is cut off as a disconnect), one request hangs in the app
    (it is cancelled): neither holds the stop up past the grace, and neither is logged as a crash."""
    hung = asyncio.Event()
    store = CallStore()
    receiver = Receiver(SOURCES, KEY, lambda call: store.apply(call, "push"), body_timeout=30)
    hooks = receiver.app()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/hang":
            hung.set()
            await asyncio.Event().wait()
        await hooks(scope, receive, send)

    sock = bind("127.0.0.1", 0)
    async with serving(app, sock, Limits(shutdown_grace=0.3)):
        trickler = await Conn.open(url_of(sock))
        await trickler.send(head("POST", hook_path(KEY, "dg"), 100) + b'{"callId"')
        hanger = await Conn.open(url_of(sock))
        await hanger.send(head("GET", "/hang"))
        await asyncio.wait_for(hung.wait(), 2)
        start = time.monotonic()
    took = time.monotonic() - start
    assert took < 1.5
    assert await trickler.closed_within(1) is not None and await hanger.closed_within(1) is not None
    assert not tracebacks(caplog) and "Traceback" not in capfd.readouterr().err
    assert not store.calls


WATCH_WITH_A_STUCK_RECEIVER = """
import asyncio, sys
from callmon import cli, webhooks

async def stuck(self):
    await asyncio.Event().wait()

webhooks.Receiver.run = stuck  # the queue fills and is never taken from, as with a dead consumer
sys.exit(cli.main(sys.argv[1:]))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_watch_exits_on_a_signal_with_a_stuck_receiver(tmp_path: Path, sig: signal.Signals) -> None:
    scenario = Scenario(seed=5, calls=5, clock=Clock(speed=20.0), providers=("dialgen",))
    sim = Simulator(scenario, faults=parse_faults(["ratelimit=off"]))
    port = free_port()
    data = tmp_path / "data"
    (data / "callmon").mkdir(parents=True)
    (data / "callmon" / "webhook-key").write_text(KEY.hex())
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLMON_")} | {"XDG_DATA_HOME": str(data)}
    for field, value in DEMO_SECRETS["dialgen"].items():
        env[f"CALLMON_SIM_DIALGEN_{field.upper()}"] = value
    async for served in serve_simulator(sim):
        config = tmp_path / "config.toml"
        config.write_text(f'[webhooks]\nlisten = "127.0.0.1:{port}"\n\n' + config_text(scenario, served.url))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", WATCH_WITH_A_STUCK_RECEIVER, "watch", "--format", "ndjson",
            "--config", str(config), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        codes: list[int] = []
        deadline = time.monotonic() + 20
        while len(codes) < 3 and time.monotonic() < deadline:
            try:
                codes.append(await post(url, "sim-dialgen", record(f"w{len(codes)}")))
            except OSError:
                await asyncio.sleep(0.1)  # not listening yet
        proc.send_signal(sig)
        start = time.monotonic()
        _, err = await asyncio.wait_for(proc.communicate(), 15)
        took = time.monotonic() - start
    assert codes == [202] * 3, err.decode()
    assert proc.returncode == 0, err.decode()
    assert took < 6, err.decode()
    assert b"Traceback" not in err
    assert b"stopped with 3 deliveries (3 calls) not stored" in err, err.decode()
