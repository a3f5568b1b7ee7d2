"""Team-mode benchmark against a real redis-server started for it (a free loopback port, AOF everysec):

    python bench/team.py [--viewers 50] [--processes 1] [--rate 200] [--seconds 10] [--calls 100000] [--runs 3]
                         [--skip-failover]

- fan-out: one publisher process (a leader publishing `rate` changes a second through the publish script)
  and `viewers` team viewers in this process; every change must reach every viewer's store; latency is
  from the change's stream id (the engine's clock when it was published) to the viewer's store having it;
- resync: `calls` calls published (as collectors publish them: `bench/calls.py`'s calls, payloads and all),
  then a viewer's full load of the account into an empty store, `runs` times;
- memory: the engine's used_memory for those calls (stream entries, snapshot hash, retention index) per call;
- failover: three `callmon serve` collectors with lease_ttl 10 on the simulator (documented limits on):
  the leader killed with -9, then the next one stopped with SIGTERM; takeover read from their logs; 429s
  counted by the simulator.

Processes are started and their output polled from the event loop on purpose (noqa ASYNC110/220): the
benchmark drives them, and a blocking spawn or a poll of a few milliseconds is part of no measured time.

Targets (the team-mode issue): fan-out p99 < 100 ms with all delivered; failover <= 12 s crash, <= 2 s clean,
no 429; resync of 100k < 3 s; < 1.5 KB per retained call.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/calls.py, as the other benchmarks import it

from callmon.model import Call
from callmon.store import CallStore, Change
from callmon.team import codec
from callmon.team.connect import connect
from callmon.team.follow import Follower, parse_id
from callmon.team.keys import Keys
from callmon.team.scripts import Scripts
from callmon.team.settings import TeamSettings
from callmon.team.viewer import PACE

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
         "--appendfsync", "everysec", "--dir", str(directory), "--logfile", str(directory / "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(500):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                return proc, f"redis://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.01)
    raise RuntimeError("redis-server did not start")


def load_calls(count: int) -> list[Call]:
    from calls import calls

    return calls(count)


async def publish_all(settings: TeamSettings, account: str, calls: list[Call], owner: str = "bench") -> None:
    engine = connect(settings, None)
    scripts = Scripts(engine)
    keys = Keys(settings.prefix)
    k = keys.account(account)
    shapes = codec.Shapes()
    await scripts.acquire(keys=[k.lease, k.fence], args=[owner, 600_000])
    await engine.hset(keys.accounts, account, "bench")
    encoded = [(c.call_id, codec.encode(c.with_changes(source=account), shapes)) for c in calls]
    await engine.hset(keys.shapes, mapping=dict(shapes.unsent))
    for i in range(0, len(encoded), 300):
        args: list[object] = [owner, settings.stream_max, "", ""]
        for cid, value in encoded[i : i + 300]:
            args += [cid, value]
        await scripts.publish(
            keys=[k.lease, k.changes, k.seq, k.calls, k.written, k.inbox_pos, k.health], args=args
        )
    await engine.aclose()


# -- resync and memory ---------------------------------------------------------------------------------------


async def resync_and_memory(url: str, count: int, runs: int) -> dict[str, Any]:
    settings = TeamSettings(url, prefix="bench-r:", lease_ttl=30)
    print(f"building {count:,} calls (bench/calls.py)...", flush=True)
    calls = load_calls(count)
    engine = connect(settings, None)
    before = int((await engine.info("memory"))["used_memory"])
    started = time.perf_counter()
    await publish_all(settings, "acct", calls)
    publish_s = time.perf_counter() - started
    after = int((await engine.info("memory"))["used_memory"])
    k = Keys(settings.prefix).account("acct")
    parts = {name: int(await engine.memory_usage(key, samples=0) or 0)
             for name, key in (("stream", k.changes), ("calls", k.calls), ("written", k.written))}  # fmt: skip
    held = await engine.hlen(k.calls)
    await engine.aclose()
    times = []
    for _ in range(runs):
        store = CallStore()
        follower = Follower(connect(settings, None, blocking=2.0), Keys(settings.prefix), store, lambda b: None)
        follower.follow(["acct"])
        started = time.perf_counter()
        await follower.load("acct")
        times.append(time.perf_counter() - started)
        assert len(store) == held, (len(store), held)
        await follower.engine.aclose()
    return {
        "calls": held, "publish_s": publish_s, "resync_s": times,
        "bytes_per_call": (after - before) / held, "parts_per_call": {n: v / held for n, v in parts.items()},
    }  # fmt: skip


# -- fan-out -------------------------------------------------------------------------------------------------


async def publisher(url: str, rate: float, seconds: float) -> None:
    """Publishes `rate` changes a second (distinct calls, so nothing coalesces) for `seconds`."""
    settings = TeamSettings(url, prefix="bench-f:", lease_ttl=30)
    calls = load_calls(4000)
    engine = connect(settings, None)
    scripts = Scripts(engine)
    keys = Keys(settings.prefix)
    k = keys.account("fan")
    shapes = codec.Shapes()
    await scripts.acquire(keys=[k.lease, k.fence], args=["bench", 600_000])
    encoded = [(c.call_id, codec.encode(c.with_changes(source="fan"), shapes)) for c in calls]
    await engine.hset(keys.shapes, mapping=dict(shapes.unsent))
    print("ready", flush=True)
    sys.stdin.readline()
    per_tick = max(1, round(rate / 100))  # every 10 ms
    total = int(rate * seconds)
    sent = 0
    start = time.perf_counter()
    while sent < total:
        args: list[object] = ["bench", 100_000, "", ""]
        for cid, value in encoded[sent % len(encoded) : sent % len(encoded) + per_tick]:
            args += [cid, value]
        await scripts.publish(keys=[k.lease, k.changes, k.seq, k.calls, k.written, k.inbox_pos, k.health], args=args)
        sent += per_tick
        delay = start + sent / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    print(f"sent {sent}", flush=True)
    await engine.aclose()


async def viewer_group(url: str, viewers: int) -> None:
    """`viewers` viewers in this process (a child of `fanout`): loaded, then told "go" on stdin and the
    number sent on the next line; prints how many each got and every lag, as JSON."""
    settings = TeamSettings(url, prefix="bench-f:", lease_ttl=30)
    lags: list[float] = []
    got = [0] * viewers
    followers: list[Follower] = []
    for i in range(viewers):

        def arrived(batch: list[Change], i: int = i) -> None:
            now = time.time() * 1000
            got[i] += len(batch)
            for change in batch:
                lags.append(now - parse_id(str(followers[i].versions[change.key][0]) + "-0")[0])

        follower = Follower(connect(settings, None, blocking=2.0), Keys(settings.prefix), CallStore(), arrived)
        follower.follow(["fan"])
        await follower.load("fan")
        followers.append(follower)
    got = [0] * viewers
    lags.clear()

    async def run(follower: Follower) -> None:
        while True:
            await follower.read(1000, PACE)

    tasks = [asyncio.create_task(run(f)) for f in followers]
    print("ready", flush=True)
    sent = int((await asyncio.to_thread(sys.stdin.readline)).strip())
    deadline = time.monotonic() + 10
    while min(got) < sent and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks, timeout=5)
    print(json.dumps({"got": got, "lags": lags}), flush=True)


async def fanout(url: str, viewers: int, rate: float, seconds: float, processes: int) -> dict[str, Any]:
    settings = TeamSettings(url, prefix="bench-f:", lease_ttl=30)
    engine = connect(settings, None)
    await engine.hset(Keys(settings.prefix).accounts, "fan", "bench")
    await engine.aclose()
    publisher = subprocess.Popen(  # noqa: ASYNC220
        [sys.executable, __file__, "--publisher", url, "--rate", str(rate), "--seconds", str(seconds)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert publisher.stdout is not None and publisher.stdin is not None
    assert publisher.stdout.readline().strip() == "ready"
    groups = []
    for i in range(processes):
        share = viewers // processes + (1 if i < viewers % processes else 0)
        group = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, __file__, "--viewer-group", url, "--viewers", str(share)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        groups.append(group)
    for group in groups:
        assert group.stdout is not None
        assert (await asyncio.to_thread(group.stdout.readline)).strip() == "ready"
    publisher.stdin.write("go\n")
    publisher.stdin.flush()
    sent = int((await asyncio.to_thread(publisher.stdout.readline)).split()[1])
    got: list[int] = []
    lags: list[float] = []
    for group in groups:
        assert group.stdin is not None and group.stdout is not None
        group.stdin.write(f"{sent}\n")
        group.stdin.flush()
    for group in groups:
        assert group.stdout is not None
        result = json.loads(await asyncio.to_thread(group.stdout.readline))
        got += result["got"]
        lags += result["lags"]
        group.wait(10)
    publisher.wait(5)
    lags.sort()
    return {
        "viewers": viewers, "processes": processes, "sent": sent, "delivered_min": min(got),
        "all": min(got) >= sent, "p50_ms": lags[len(lags) // 2], "p99_ms": lags[int(len(lags) * 0.99)],
        "max_ms": lags[-1],
    }  # fmt: skip


# -- failover ------------------------------------------------------------------------------------------------


async def failover(url: str, directory: Path) -> dict[str, Any]:
    from callmon.config import env_name
    from callmon.serve import bind, serving, url_of
    from callmon.simulator import (
        DEMO_SECRETS,
        Clock,
        Scenario,
        Simulator,
        build_app,
        config_text,
        demo_sources,
    )

    scenario = Scenario(seed=7, calls=300, clock=Clock(speed=5.0))
    sim = Simulator(scenario)  # documented limits, enforced
    sock = bind("127.0.0.1", 0)
    async with serving(build_app(sim), sock):
        sim_url = url_of(sock)
        config = directory / "callmon.toml"
        config.write_text(f'[team]\nurl = "{url}"\nlease_ttl = 10\nprefix = "bench-s:"\n\n' + config_text(scenario, sim_url))
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLMON_")}
        for source in demo_sources(scenario, sim_url):
            for field, value in DEMO_SECRETS[source.provider].items():
                env[env_name(source.name, field)] = value
        procs: list[tuple[subprocess.Popen[str], list[tuple[float, str]]]] = []
        for n in range(3):
            home = directory / f"c{n}"
            penv = {**env, "PYTHONPATH": str(ROOT), "XDG_DATA_HOME": str(home), "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
            p = subprocess.Popen([sys.executable, "-m", "callmon", "serve", "--config", str(config)],  # noqa: ASYNC220
                                 stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=penv)  # fmt: skip
            lines: list[tuple[float, str]] = []
            procs.append((p, lines))

            def reader(p: subprocess.Popen[str] = p, lines: list[tuple[float, str]] = lines) -> None:
                assert p.stderr is not None
                for line in p.stderr:
                    lines.append((time.time(), line.strip()))

            asyncio.get_running_loop().run_in_executor(None, reader)
            await asyncio.sleep(1.5)  # the first one leads everything

        def leads(lines: list[tuple[float, str]]) -> list[float]:
            out = []
            for _, line in lines:
                m = re.match(r"callmon serve: leads \S+ \(fence \d+\) from (\S+)Z", line)
                if m:
                    out.append(datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC).timestamp())
            return out

        await asyncio.sleep(5)
        leader = max(procs, key=lambda p: len(leads(p[1])))
        rest = [p for p in procs if p is not leader]
        counts = [len(leads(p[1])) for p in rest]
        killed = time.time()
        os.kill(leader[0].pid, signal.SIGKILL)
        while time.time() - killed < 20 and all(len(leads(p[1])) == c for p, c in zip(rest, counts, strict=True)):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        await asyncio.sleep(1)
        new = max(rest, key=lambda p: len(leads(p[1])))
        crash_s = max(leads(new[1])) - killed
        last = next(p for p in rest if p is not new)
        count = len(leads(last[1]))
        await asyncio.sleep(3)
        stopped = time.time()
        os.kill(new[0].pid, signal.SIGTERM)
        while time.time() - stopped < 15 and len(leads(last[1])) == count:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        await asyncio.sleep(1)
        graceful_s = max(leads(last[1])) - stopped
        for p, _ in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p, _ in procs:
            p.wait(10)
    return {"crash_s": crash_s, "graceful_s": graceful_s, "429s": sum(1 for h in sim.hits if h.status == 429),
            "requests": len(sim.hits)}  # fmt: skip


async def main_async(args: argparse.Namespace) -> int:
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_redis(Path(tmp))
        try:
            results: dict[str, Any] = {}
            fan = await fanout(url, args.viewers, args.rate, args.seconds, args.processes)
            print(f"fan-out: {json.dumps(fan)}", flush=True)
            results["fanout"] = fan
            re_ = await resync_and_memory(url, args.calls, args.runs)
            print(f"resync and memory: {json.dumps(re_)}", flush=True)
            results["resync"] = re_
            if not args.skip_failover:
                fail = await failover(url, Path(tmp))
                print(f"failover: {json.dumps(fail)}", flush=True)
                results["failover"] = fail
        finally:
            proc.terminate()
            proc.wait(10)
    resync = results["resync"]
    rows = [
        ("fan-out: all delivered", f"{fan['all']} ({fan['delivered_min']}/{fan['sent']} to each of {fan['viewers']}, {fan['processes']} process(es))", "all"),
        ("fan-out: p99 change -> viewer store", f"{fan['p99_ms']:.1f} ms (p50 {fan['p50_ms']:.1f})", "< 100 ms"),
        ("resync 100k calls", f"median {statistics.median(resync['resync_s']):.2f} s, best {min(resync['resync_s']):.2f} s", "< 3 s"),
        ("memory per retained call", f"{resync['bytes_per_call']:,.0f} B", "< 1,536 B"),
    ]  # fmt: skip
    if "failover" in results:
        fail = results["failover"]
        rows += [
            ("crash failover (TTL 10 s)", f"{fail['crash_s']:.1f} s", "<= 12 s"),
            ("graceful failover", f"{fail['graceful_s']:.2f} s", "<= 2 s"),
            ("429s", str(fail["429s"]), "0"),
        ]
    print("\n| what | measured | target |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    load = os.getloadavg()
    print(f"\nload average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-failover", action="store_true")
    parser.add_argument("--processes", type=int, default=1, help="viewer processes (the viewers split among them)")
    parser.add_argument("--publisher", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--viewer-group", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.viewer_group:
        asyncio.run(viewer_group(args.viewer_group, args.viewers))
        return 0
    if args.publisher:
        asyncio.run(publisher(args.publisher, args.rate, args.seconds))
        return 0
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
