"""`callmon serve` as real processes: a leader killed with -9, a leader stopped cleanly, webhooks delivered to
a collector that does not lead across a leader kill."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import httpx
import pytest

from callmon.simulator import Clock, Scenario, Simulator
from callmon.team.keys import Keys
from callmon.webhooks import hook_path
from tests.conftest import serve_simulator
from tests.integration.team.conftest import settings_for
from tests.integration.team.engine import RedisServer, free_port
from tests.integration.team.harness import (
    ServeProcess,
    launch_serve,
    secrets_env,
    start_viewer,
    statuses,
    team_config,
    wait_for,
)

WEBHOOK_KEY = "5eed" * 16
PROVIDERS = ("dialgood", "dialgen", "velip", "vobiz")  # CloudAgent's 2 CDRs a minute: test_team covers it


def leader_of(procs: list[ServeProcess], name: str) -> ServeProcess | None:
    return next((p for p in procs if name in p.leads()), None)


async def two_collectors(tmp_path: Path, config: str, env: dict[str, str]) -> list[ServeProcess]:
    path = tmp_path / "callmon.toml"
    path.write_text(config)
    procs = [launch_serve(path, env, tmp_path / name, name) for name in ("a", "b")]
    ok = await wait_for(lambda: all(any("collector " in line for _, line in p.lines) for p in procs), 20)
    assert ok, "\n".join(p.text() for p in procs)
    return procs


@pytest.mark.parametrize("how", ["kill", "term"])
async def test_leader_killed_or_stopped_hands_over_without_a_429_or_a_lost_change(
    redis_server: RedisServer, prefix: str, tmp_path: Path, how: str
) -> None:
    settings = settings_for(redis_server.url, prefix)
    # Calls dialed over eight real seconds: changes still flow when the leader goes, so the viewer's pause
    # measures the takeover, not a quiet scenario waiting on a rate-limited provider's next poll.
    scenario = Scenario(seed=7, calls=40, span=400, clock=Clock(speed=50.0), providers=PROVIDERS)
    sim = Simulator(scenario)  # the documented limits, enforced
    truth = scenario.ground_truth()
    async for served in serve_simulator(sim):
        procs = await two_collectors(tmp_path, team_config(scenario, served.url, settings), secrets_env(scenario, served.url))
        viewer = await start_viewer(settings)
        try:
            assert await wait_for(lambda: leader_of(procs, "sim-velip") is not None, 10)
            assert await wait_for(lambda: len(viewer.store) >= 10, 15)
            leader = leader_of(procs, "sim-velip")
            assert leader is not None
            standby = procs[1] if leader is procs[0] else procs[0]
            arrivals: list[float] = []
            viewer.store.subscribe(lambda batch: arrivals.append(time.time()))
            stopped = leader.kill(signal.SIGKILL if how == "kill" else signal.SIGTERM)
            assert await wait_for(lambda: set(standby.leads()) >= {f"sim-{p}" for p in PROVIDERS}, 10)
            took = max(at for name, at in standby.events("leads")) - stopped
            if how == "kill":
                assert took < settings.lease_ttl + settings.retry_every + 1.0
            else:
                assert took < 2.0
                assert leader.proc.wait(5) == 0
                assert "releasing leases" in leader.text()
            assert await wait_for(lambda: statuses(viewer.store.calls) == truth, 60), (
                {k: v for k, v in truth.items() if statuses(viewer.store.calls).get(k) != v}
            )
        finally:
            await viewer.stop()
            for proc in procs:
                proc.stop()
    assert [h for h in sim.hits if h.status == 429] == []
    # What the viewer notices: a pause in its changes, no longer than the takeover and the next poll.
    assert min(at for at in arrivals if at > stopped) - stopped < settings.lease_ttl + settings.retry_every + 2


async def test_webhooks_to_a_collector_that_does_not_lead_are_applied_once_across_a_leader_kill(
    redis_server: RedisServer, prefix: str, tmp_path: Path
) -> None:
    """CloudAgent's live states come only by webhook (its CDR report allows 2 requests a minute). The
    provider delivers to one collector; the other leads, and is killed mid-run. Every delivered event shows,
    once, in the viewer's timelines."""
    settings = settings_for(redis_server.url, prefix)
    scenario = Scenario(seed=8, calls=60, span=60, clock=Clock(speed=10.0), providers=("cloudagent",))
    sim = Simulator(scenario)
    ports = {"a": free_port(), "b": free_port()}
    delivered: list[dict[str, str]] = []
    sent: list[httpx.Request] = []
    answered: set[int] = set()

    async def send(request: httpx.Request) -> None:
        sent.append(request)

    async def record(response: httpx.Response) -> None:
        answered.add(id(response.request))
        if response.status_code == 202:
            delivered.append(json.loads(response.request.content))

    async for served in serve_simulator(sim):
        config = team_config(scenario, served.url, settings)
        env = {**secrets_env(scenario, served.url), "CALLMON_WEBHOOK_KEY": WEBHOOK_KEY}
        procs = []
        for name in ("a", "b"):
            path = tmp_path / f"{name}.toml"
            path.write_text(config.replace("[team]", f'[webhooks]\nlisten = "127.0.0.1:{ports[name]}"\n\n[team]', 1))
            procs.append(launch_serve(path, env, tmp_path / name, name))
        viewer = await start_viewer(settings)
        try:
            assert await wait_for(lambda: leader_of(procs, "sim-cloudagent") is not None, 15), procs[0].text()
            leader = leader_of(procs, "sim-cloudagent")
            assert leader is not None
            other = procs[1] if leader is procs[0] else procs[0]
            assert await wait_for(lambda: "webhooks: listening" in other.text(), 10)
            sim.pushes["cloudagent"] = f"http://127.0.0.1:{ports[other.name]}" + hook_path(
                bytes.fromhex(WEBHOOK_KEY), "sim-cloudagent"
            )
            async with httpx.AsyncClient(event_hooks={"request": [send], "response": [record]}) as client:
                pusher = asyncio.create_task(sim.run_pushes(client))
                assert await wait_for(lambda: len(delivered) >= 10, 20)
                leader.kill(signal.SIGKILL)
                before = len(delivered)
                assert await wait_for(lambda: "sim-cloudagent" in other.leads(), 10)
                assert await wait_for(lambda: len(delivered) >= before + 10, 30)
                pusher.cancel()
                await asyncio.gather(pusher, return_exceptions=True)
            expected = {"Calling": "ringing", "Answered": "in-progress", "Disconnect": "unknown"}
            pushed: dict[str, list[str]] = {}
            for body in delivered:
                pushed.setdefault(body["ucid"], []).append(expected[body["action"]])
            # The push in flight when the pusher was cancelled reached the collector or not: either is right.
            in_flight: dict[str, str] = {}
            for request in sent:
                if id(request) not in answered:
                    body = json.loads(request.content)
                    in_flight[body["ucid"]] = expected[body["action"]]

            def shown() -> dict[str, list[str]]:
                out = {}
                for (_, call_id), _call in list(viewer.store.calls.items()):
                    out[call_id] = [e.status.value for e in viewer.store.timeline(("sim-cloudagent", call_id)) if e.via == "push"]
                return out

            def applied(cid: str, events: list[str]) -> bool:
                timeline = viewer.store.timeline(("sim-cloudagent", cid))
                seen = [e.status.value for e in timeline if e.via == "push"]
                if seen == events or (cid in in_flight and seen == [*events, in_flight[cid]]):
                    return True
                # Pushes applied after a poll had brought the call's outcome change nothing (a live state after
                # the end is stale; "unknown" after a known outcome keeps it), so the last of them may be
                # missing: never reordered or doubled, and only once the outcome came from a poll. A takeover
                # leaves the new leader's first poll ahead of the inbox it has yet to apply.
                if seen != events[: len(seen)]:
                    return False
                ended = next((i for i, e in enumerate(timeline) if e.status.ended and e.via != "push"), None)
                last_push = max((i for i, e in enumerate(timeline) if e.via == "push"), default=-1)
                return ended is not None and ended > last_push

            def all_applied() -> bool:
                return all(applied(cid, events) for cid, events in pushed.items())

            if not await wait_for(all_applied, 15):
                missing = {
                    cid: (events, [(e.status.value, e.via) for e in viewer.store.timeline(("sim-cloudagent", cid))])
                    for cid, events in pushed.items()
                    if not applied(cid, events)
                }
                raise AssertionError(f"pushed, then the timeline shown: {missing}")
            for cid, events in shown().items():
                assert len(events) == len(set(events)), (cid, events)  # no event applied twice
            engine = __import__("callmon.team.connect", fromlist=["connect"]).connect(settings, None)
            try:
                inbox = await engine.xlen(Keys(prefix).account("sim-cloudagent").inbox)
            finally:
                await engine.aclose()
            # Each delivery answered 202 is in the inbox once (one more may have been cut off by the cancel
            # after the receiver answered it, before the client saw the answer).
            assert len(delivered) <= inbox <= len(delivered) + 1
        finally:
            await viewer.stop()
            for proc in procs:
                proc.stop()
