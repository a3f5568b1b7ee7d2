"""What a client can hold of the webhook receiver, over real sockets: slow heads and bodies, idle and excess
connections, running out of file descriptors, and how long stopping takes."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from pathlib import Path

import pytest

from callmon.serve import Limits
from callmon.webhooks import hook_path
from tests.integration.raw_http import Conn, head
from tests.integration.test_engine import wait_for
from tests.integration.test_webhooks import KEY, Running, receiving

RECORD = json.dumps({"callId": "c1", "status": "COMPLETED"}).encode()


async def post_ok(running: Running) -> int:
    """The status of a good delivery; 0 when the connection was closed without one."""
    conn = await Conn.open(running.url)
    try:
        return (await conn.request("POST", hook_path(KEY, "dg"), RECORD)).status
    except ConnectionError:
        return 0
    finally:
        conn.close()


async def test_a_connection_that_sends_nothing_is_closed_at_the_head_deadline() -> None:
    async with receiving(Limits(head_timeout=0.5)) as running:
        conn = await Conn.open(running.url)
        waited = await conn.closed_within(3)
    assert waited is not None and 0.3 < waited < 1.5


async def test_a_head_trickled_a_byte_at_a_time_is_cut_off_at_the_deadline() -> None:
    """Each byte arrives well within any idle timeout; the head as a whole does not."""
    async with receiving(Limits(head_timeout=0.6)) as running:
        conn = await Conn.open(running.url)
        request = head("POST", hook_path(KEY, "dg"), len(RECORD)) + RECORD
        start = time.monotonic()
        with pytest.raises(ConnectionError):
            for byte in request:
                await conn.send(bytes([byte]))
                await asyncio.sleep(0.05)  # the whole head would take ~8 s
        assert await conn.closed_within(1) is not None
        assert time.monotonic() - start < 2
        assert not running.store.calls


async def test_the_next_request_on_a_kept_alive_connection_has_a_head_deadline_too() -> None:
    async with receiving(Limits(head_timeout=0.5)) as running:
        conn = await Conn.open(running.url)
        first = await conn.request("POST", hook_path(KEY, "dg"), RECORD)
        await asyncio.sleep(0.3)  # longer than what is left of the first deadline
        second = await conn.request("POST", hook_path(KEY, "dg"), RECORD)
        await conn.send(b"POST /ho")  # a third head, never finished
        waited = await conn.closed_within(3)
    assert first.status == second.status == 202
    assert waited is not None and waited < 1.5


async def test_a_body_slower_than_its_deadline_is_answered_408_and_the_connection_closed() -> None:
    async with receiving(body_timeout=0.5) as running:
        conn = await Conn.open(running.url)
        await conn.send(head("POST", hook_path(KEY, "dg"), len(RECORD)))
        start = time.monotonic()

        async def trickle() -> None:
            for byte in RECORD[:-1]:
                await conn.send(bytes([byte]))
                await asyncio.sleep(0.05)

        trickling = asyncio.create_task(trickle())
        answer = await asyncio.wait_for(conn.answer(), 3)
        took = time.monotonic() - start
        trickling.cancel()
        closed = await conn.closed_within(1)
    assert answer.status == 408 and answer.headers["connection"] == "close"
    assert "message" in answer.json() and b"\n" not in answer.body
    assert took < 1.5 and closed is not None
    assert not running.store.calls


async def test_connections_past_the_cap_are_turned_away_at_once_and_the_rest_expire() -> None:
    """A crowd of connections that send nothing: the server holds at most the cap, answers the rest 503
    (or closes them) at once, and serves again as soon as the crowd's head deadlines pass."""
    cap, crowd = 20, 300
    async with receiving(Limits(max_connections=cap, head_timeout=1.0)) as running:
        server = running.server
        most = 0

        async def watch() -> None:
            nonlocal most
            while True:
                most = max(most, len(server.server_state.connections))
                await asyncio.sleep(0.005)

        watcher = asyncio.create_task(watch())
        conns = [await Conn.open(running.url) for _ in range(crowd)]
        start = time.monotonic()
        turned_away = 0
        for conn in conns[cap:]:
            try:
                answer = await asyncio.wait_for(conn.answer(), 0.5)
                assert answer.status == 503 and "message" in answer.json()
            except ConnectionError:
                pass  # closed before the 503 could be read: also turned away
            turned_away += 1
        turned_away_in = time.monotonic() - start
        while_crowded = await post_ok(running)
        assert await wait_for(lambda: not server.server_state.connections, 3)
        after = await post_ok(running)
        watcher.cancel()
        for conn in conns:
            conn.close()
    assert turned_away == crowd - cap and turned_away_in < 3
    assert most <= cap
    assert while_crowded != 202 and after == 202


CHILD = """
import asyncio, logging, resource, sys
from callmon.providers import Source
from callmon.serve import Limits, bind, serving, url_of
from callmon.webhooks import Receiver

logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(name)s: %(message)s")

async def main() -> None:
    sock = bind("127.0.0.1", 0)
    receiver = Receiver({"dg": Source("dg", "dialgen", {})}, b"k" * 32, lambda call: None)
    limits = Limits(max_connections=10_000, head_timeout=60, report_every=1.0)
    async with serving(receiver.app(), sock, limits):
        resource.setrlimit(resource.RLIMIT_NOFILE, (FDS, FDS))
        print(url_of(sock), flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads CPU time from /proc")
async def test_out_of_file_descriptors_the_server_pauses_and_says_so_once_per_interval(tmp_path: Path) -> None:
    """The server runs in a child process with a low descriptor limit (so nothing else is affected) and is
    sent more connections than it can hold. It must neither spin nor log a traceback per refused accept,
    and must accept again once descriptors are free."""
    fds = 40
    log = tmp_path / "stderr.log"
    with log.open("wb") as stderr:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CHILD.replace("FDS", str(fds)), stdout=asyncio.subprocess.PIPE, stderr=stderr
        )
    try:
        assert child.stdout is not None
        url = (await asyncio.wait_for(child.stdout.readline(), 20)).decode().strip()
        assert url.startswith("http://"), log.read_text()
        host, port = url.removeprefix("http://").rsplit(":", 1)
        # Plain sockets: more of them than the child has descriptors, and none of them sends anything.
        crowd = [socket.create_connection((host, int(port))) for _ in range(3 * fds)]
        await asyncio.sleep(0.3)  # the child accepts what it can and starts failing
        cpu_before, wall_before = cpu_seconds(child.pid), time.monotonic()
        await asyncio.sleep(2)
        busy = (cpu_seconds(child.pid) - cpu_before) / (time.monotonic() - wall_before)
        starved_log = log.read_text()
        for conn in crowd:
            conn.close()
        # Descriptors come free as the child sees the crowd go; a request then gets through.
        answer = await asyncio.wait_for(get_anything(url), 10)
    finally:
        child.kill()
        await child.wait()
    lines = starved_log.splitlines()
    assert busy < 0.2, f"{busy:.0%} CPU while out of descriptors"
    assert "Traceback" not in starved_log
    assert any("Too many open files" in line for line in lines), starved_log
    assert len(lines) <= 4, starved_log  # one per report interval (1 s) over 2.3 s
    assert answer == 404


async def get_anything(url: str) -> int:
    while True:
        try:
            conn = await Conn.open(url)
            try:
                return (await conn.request("GET", "/nothing")).status
            finally:
                conn.close()
        except ConnectionError:
            await asyncio.sleep(0.1)
