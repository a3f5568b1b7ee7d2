"""The webhook receiver over real loopback HTTP, and simulator pushes merged with polling."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest
import uvicorn

from callmon.config import Webhooks
from callmon.model import Call, Status
from callmon.providers import Source
from callmon.runtime import live_session
from callmon.serve import Limits, bind, serving, url_of
from callmon.simulator import DEMO_SECRETS, Clock, Scenario, Simulator, demo_sources, parse_faults
from callmon.store import CallStore
from callmon.webhooks import MAX_RECORDS, Receiver, hook_path
from tests.conftest import serve_simulator
from tests.integration.raw_http import Conn
from tests.integration.test_engine import scaled_budgets, wait_for

KEY = b"k" * 32
SOURCES = {
    "ca": Source("ca", "cloudagent", {"user_name": "u"}),
    "dg": Source("dg", "dialgen", {"batches": ["b"]}),
    "vl": Source("vl", "velip", {}),
    "vz": Source("vz", "vobiz", {"auth_id": "MA"}),
}


@dataclass
class Running:
    receiver: Receiver
    store: CallStore
    url: str
    server: uvicorn.Server
    consumer: asyncio.Task[None] | None = field(default=None, init=False)

    def hook(self, source: str) -> str:
        return self.url + hook_path(KEY, source)

    def consume(self) -> asyncio.Task[None]:
        self.consumer = asyncio.create_task(self.receiver.run())
        return self.consumer


@contextlib.asynccontextmanager
async def receiving(limits: Limits | None = None, *, consume: bool = True, **options: Any) -> AsyncIterator[Running]:
    """The receiver served on an ephemeral loopback port; `options` go to Receiver (queue_size, timeouts)."""
    store = CallStore()
    receiver = Receiver(SOURCES, KEY, lambda call: store.apply(call, "push"), **options)
    sock = bind("127.0.0.1", 0)
    async with serving(receiver.app(), sock, limits) as server:
        running = Running(receiver, store, url_of(sock), server)
        if consume:
            running.consume()
        try:
            yield running
        finally:
            if running.consumer is not None:
                running.consumer.cancel()


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    async with receiving() as r:
        yield r


async def test_each_providers_shapes_json_and_form(running: Running) -> None:
    async with httpx.AsyncClient() as client:
        posts = [
            ("dg", {"json": {"success": True, "callData": {"id": "c1", "status": "COMPLETED", "duration": 61}}}),
            ("dg", {"json": {"event": "call.completed", "callId": "c2", "status": "MISSED", "error": "BUSY"}}),
            ("ca", {"json": {"action": "Answered", "ucid": "u1", "campaign_name": "R"}}),
            ("ca", {"json": {"data": [{"UCID": "u2", "Status": "Answered", "Duration": "00:01:00"}]}}),
            ("ca", {"data": {"UCID": "u3", "Status": "NotAnswered", "DialStatus": "Busy"}}),
            ("vl", {"json": {"calls": [{"cd_id": "42_1", "cd_status": "OK", "dur": "10", "value": "0,050"}]}}),
            ("vl", {"data": {"cd_id": "42_2", "cd_status": "NOANSWER"}}),
            ("vz", {"data": {"CallUUID": "v1", "CallStatus": "completed", "HangupCause": "NORMAL_CLEARING",
                             "HangupCauseCode": "4000", "BillDuration": "12", "AnswerTime": "2026-01-01 10:00:00"}}),
            ("vz", {"json": {"CallUUID": "v2", "CallStatus": "busy", "HangupCause": "USER_BUSY"}}),
        ]  # fmt: skip
        for source, kwargs in posts:
            response = await client.post(running.hook(source), **kwargs)  # type: ignore[arg-type]
            assert response.status_code == 202, response.text
        get = await client.get(running.hook("vl"), params={"cd_id": "42_3", "cd_status": "BUSY"})
        assert get.status_code == 202
    await running.receiver.drain()
    got = {k: c.status for k, c in running.store.calls.items()}
    assert got == {
        ("dg", "c1"): Status.COMPLETED,
        ("dg", "c2"): Status.BUSY,
        ("ca", "u1"): Status.IN_PROGRESS,
        ("ca", "u2"): Status.COMPLETED,
        ("ca", "u3"): Status.BUSY,
        ("vl", "42_1"): Status.COMPLETED,
        ("vl", "42_2"): Status.NO_ANSWER,
        ("vl", "42_3"): Status.BUSY,
        ("vz", "v1"): Status.COMPLETED,
        ("vz", "v2"): Status.BUSY,
    }
    assert running.store.calls[("vl", "42_1")].cost == pytest.approx(0.05)
    assert all(running.store.via(k) == "push" for k in got)
    assert running.receiver.stats.deliveries == 10 and running.receiver.stats.last_delivery is not None


async def test_wrong_token_or_source_is_a_bare_404(running: Running) -> None:
    async with httpx.AsyncClient() as client:
        wrong = await client.post(
            running.url + "/hooks/dg/" + "0" * 32, json={"callId": "x", "status": "COMPLETED"}
        )
        unknown = await client.post(running.url + "/hooks/nope/" + "0" * 32, json={})
        dialgood = await client.post(running.url + hook_path(KEY, "dgood"), json={})
    assert wrong.status_code == unknown.status_code == dialgood.status_code == 404
    assert wrong.content == b"" and not running.store.calls


async def test_oversized_body_is_413(running: Running) -> None:
    async with httpx.AsyncClient() as client:
        big = b'{"callId": "x", "pad": "' + b"a" * (2 << 20) + b'"}'
        response = await client.post(
            running.hook("dg"), content=big, headers={"content-type": "application/json"}
        )

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the cap holds on the stream too
            for _ in range(40):
                yield b"a" * 65536

        streamed = await client.post(running.hook("dg"), content=chunks())
    assert response.status_code == 413 and streamed.status_code == 413
    assert not running.store.calls


FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
UNREADABLE = {
    "malformed JSON": ("dg", "POST", b"{not json", JSON, 400),
    "empty body": ("dg", "POST", b"", JSON, 400),
    "no call record": ("dg", "POST", b'{"nothing": "useful"}', JSON, 400),
    "non-UTF-8 form": ("vz", "POST", b"\xff\xfe\x00", FORM, 400),
    "malformed form": ("vz", "POST", b"CallUUID=1&&=&x", FORM, 400),
    "501 form fields": ("vz", "POST", "&".join(f"f{i}=1" for i in range(501)).encode(), FORM, 400),
    "JSON list nested 5,000 deep": ("dg", "POST", b"[" * 5000 + b"]" * 5000, JSON, 400),
    "JSON object nested 5,000 deep": ("dg", "POST", b'{"a":' * 5000 + b"1" + b"}" * 5000, JSON, 400),
    "JSON string": ("ca", "POST", b'"a string"', JSON, 400),
    "JSON number": ("ca", "POST", b"12", JSON, 400),
    "JSON null": ("ca", "POST", b"null", JSON, 400),
    "list of numbers": ("vl", "POST", b"[1, 2, 3]", JSON, 400),
    "100k empty records": ("vl", "POST", b"[" + b",".join([b"{}"] * 100_000) + b"]", JSON, 413),
    "10k empty records": ("vl", "POST", b"[" + b",".join([b"{}"] * MAX_RECORDS) + b"]", JSON, 400),
    "too many records": (
        "dg", "POST", json.dumps([{"callId": i} for i in range(MAX_RECORDS + 1)]).encode(), JSON, 413,
    ),
    "GET without parameters": ("vl", "GET", b"", "", 400),
    "GET with a bare name": ("vl", "GET?cd_id", b"", "", 400),
    "GET with 600 parameters": ("vl", "GET?" + "&".join(f"p{i}=1" for i in range(600)), b"", "", 400),
    "wrong method": ("vl", "DELETE", b"", "", 405),
}  # fmt: skip


def no_tracebacks(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> bool:
    logged = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    return not logged and "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("case", UNREADABLE.keys())
async def test_unreadable_deliveries_get_a_4xx_with_one_line_and_store_nothing(
    running: Running, case: str, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    source, method, body, content_type, status = UNREADABLE[case]
    method, _, query = method.partition("?")
    conn = await Conn.open(running.url)
    start = time.monotonic()
    answer = await conn.request(method, hook_path(KEY, source) + (f"?{query}" if query else ""), body, content_type)
    took = time.monotonic() - start
    conn.close()
    await running.receiver.drain()
    assert answer.status == status
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["message"] and b"\n" not in answer.body
    assert took < 2
    assert not running.store.calls
    assert no_tracebacks(caplog, capfd)


HOSTILE_BUT_READABLE = [
    ("dg", b'{"callId": "n", "status": "COMPLETED", "duration": NaN, "cost": -Infinity}', JSON),
    ("dg", b'{"callId": "big", "status": "COMPLETED", "duration": 1' + b"0" * 4000 + b"}", JSON),
    ("dg", b'{"callId": "y1", "status": "COMPLETED", "startedAt": "9999-12-31T23:59:59+14:00"}', JSON),
    ("vz", b'{"CallUUID": "y2", "CallStatus": "completed", "AnswerTime": "9999-12-31 23:59:59"}', JSON),
    ("vl", b'{"cd_id": "y3", "cd_status": "OK", "date": "9999-12-31", "time_dial": "23:59:59"}', JSON),
    ("ca", b'{"UCID": "y4", "Status": "Answered", "StartTime": "9999-12-31 23:59:59"}', JSON),
    ("dg", b'{"callId": "s\\ud800", "status": "\\udfff", "error": "\\ud83d"}', JSON),
    ("vz", b"CallUUID=p%zz%E0%A4&CallStatus=%&HangupCause=%ED%A0%80", FORM),
]


@pytest.mark.parametrize(("source", "body", "content_type"), HOSTILE_BUT_READABLE)
async def test_hostile_values_in_a_readable_record_are_cleaned_not_refused(
    running: Running,
    source: str,
    body: bytes,
    content_type: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """NaN, infinities, huge numbers, year-9999 dates, lone surrogates, bad percent-escapes: the field is
    null or cleaned, and the call is stored."""
    conn = await Conn.open(running.url)
    answer = await conn.request("POST", hook_path(KEY, source), body, content_type)
    conn.close()
    await running.receiver.drain()
    assert answer.status == 202, answer.body
    [call] = running.store.calls.values()
    for value in (call.call_id, call.raw_status, call.reason):
        assert value is None or (value.isprintable() and "\ud800" not in value)
    assert call.duration_s is None and call.cost is None
    assert all(t is None or t.year < 9999 for t in (call.started_at, call.answered_at, call.ended_at))
    assert no_tracebacks(caplog, capfd)


async def test_wrong_method_is_405_and_unknown_paths_a_bare_404(running: Running) -> None:
    async with httpx.AsyncClient() as client:
        delete = await client.delete(running.hook("vl"))
        head = await client.head(running.hook("vl"))
        elsewhere = await client.get(running.url + "/")
    assert delete.status_code == head.status_code == 405
    assert delete.json()["message"] and set(delete.headers["allow"].split(", ")) == {"GET", "POST", "PUT"}
    assert elsewhere.status_code == 404 and elsewhere.content == b""


async def test_a_flood_waits_for_room_in_a_small_queue_and_loses_nothing() -> None:
    """More senders than the queue has slots, with the consumer held back until the queue is full: the
    backlog never passes the queue's size, the senders past it wait (no answer yet) instead of being
    answered or dropped, and every event is stored once the consumer runs."""
    events, senders, slots = 1_000, 100, 50
    async with receiving(queue_size=slots, consume=False) as running:
        peak = answered = 0

        async def watch_backlog() -> None:
            nonlocal peak
            while True:
                peak = max(peak, running.receiver.backlog)
                await asyncio.sleep(0.001)

        async def sender(first: int) -> list[int]:
            nonlocal answered
            conn = await Conn.open(running.url)
            codes = []
            for i in range(first, events, senders):
                body = json.dumps({"callId": f"c{i}", "status": "COMPLETED", "duration": i}).encode()
                codes.append((await conn.request("POST", hook_path(KEY, "dg"), body)).status)
                answered += 1
            conn.close()
            return codes

        watcher = asyncio.create_task(watch_backlog())
        sending = asyncio.gather(*(sender(i) for i in range(senders)))
        assert await wait_for(lambda: running.receiver.backlog >= slots, 10)
        await asyncio.sleep(0.2)  # time for senders past the queue's size to be wrongly answered
        held_back = answered
        running.consume()
        codes = [code for codes in await sending for code in codes]
        await running.receiver.drain()
        watcher.cancel()
    assert held_back == slots  # the rest waited for room
    assert peak == slots  # full, never past it
    assert codes == [202] * events
    assert len(running.store.calls) == events


async def test_simulator_pushes_and_engine_polls_end_at_ground_truth() -> None:
    scenario = Scenario(seed=19, calls=40, span=60, clock=Clock(speed=20.0),
                        providers=("cloudagent", "dialgen", "velip", "vobiz"))  # fmt: skip
    sim = Simulator(scenario, faults=parse_faults(["ratelimit=off"]))
    truth = scenario.ground_truth()
    async for served in serve_simulator(sim):
        sources = []
        for source in demo_sources(scenario, served.url, interval=0.5):
            options = dict(source.options)
            if source.provider == "cloudagent":
                options["campaign"] = "Renewals1"
            sources.append(replace(source, options=options))
        pairs = [(s, DEMO_SECRETS[s.provider]) for s in sources]
        hooks = Webhooks(listen="127.0.0.1:0")
        async with (
            live_session(
                pairs,
                webhooks=hooks,
                webhook_key=KEY,
                tick_hz=10,
                budgets={s.name: scaled_budgets(s.provider) for s in sources},
            ) as session,
            httpx.AsyncClient() as client,
        ):
            receiver = session.receiver
            assert receiver is not None
            sim.pushes = {s.provider: receiver.url_for(s.name) or "" for s in sources}
            pusher = asyncio.create_task(sim.run_pushes(client, period=0.05))
            store = session.store

            def done() -> bool:
                return {(c.provider, c.call_id): c.status for c in store.calls.values()} == truth

            ok = await wait_for(done, 120)  # a busy machine (tests run four at a time) is slower
            pusher.cancel()
            vias = {e.via for k in store.calls for e in store.timeline(k)}
            dial_status_asked = sim.count("cloudagent", "dial_status")
    got = {(c.provider, c.call_id): c.status for c in store.calls.values()}
    assert ok, {k: (got.get(k), v) for k, v in truth.items() if got.get(k) != v}
    assert receiver is not None
    assert vias == {"poll", "push"} and sim.pushed > 0 and receiver.stats.deliveries > 0
    assert dial_status_asked >= 1


def test_push_and_poll_merge_newest_wins() -> None:
    from datetime import UTC, datetime, timedelta

    store = CallStore()
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    store.apply(Call("s", "cloudagent", "u", Status.COMPLETED, ended_at=t0, updated_at=t0), "poll")
    # A late Disconnect event (outcome unknown) never undoes a final CDR...
    store.apply(Call("s", "cloudagent", "u", Status.UNKNOWN, updated_at=t0), "push")
    assert store.calls[("s", "cloudagent" and "u")].status is Status.COMPLETED
    # ...and an older push is dropped as stale.
    assert (
        store.apply(
            Call("s", "cloudagent", "u", Status.RINGING, updated_at=t0 - timedelta(seconds=30)), "push"
        )
        is None
    )


@pytest.mark.parametrize(("zone", "utc_hour"), [(None, 13), ("Asia/Tokyo", 1)])
def test_pushed_records_read_local_times_in_the_sources_zone(zone: str | None, utc_hour: int) -> None:
    """Velip's times are wall-clock times with no zone: a pushed record must read them in the zone the
    source's config names (else the provider's, São Paulo), as the polling adapter does."""
    from zoneinfo import ZoneInfo

    from callmon.providers.velip import VelipAdapter
    from callmon.webhooks import normalize_delivery

    options = {"campaign": 1} | ({"timezone": zone} if zone else {})
    source = Source("acme", "velip", options)
    record = {"cd_id": "77", "cd_status": "", "date": "2026-11-23", "time_dial": "10:00:00", "dest": "+5511"}
    [call] = normalize_delivery(VelipAdapter(source), [record])
    assert call.started_at is not None and call.started_at.hour == utc_hour
    assert VelipAdapter.zone(source) == ZoneInfo(zone or "America/Sao_Paulo")
