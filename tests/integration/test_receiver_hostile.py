"""Generated hostile deliveries thrown at the receiver (in process, through its ASGI app): whatever comes in,
the answer is 202 or a 4xx with a one-line message, and what is stored is printable and holds no secret."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import fields
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from callmon import redact
from callmon.model import Call
from callmon.store import CallStore
from callmon.webhooks import Receiver, hook_path
from tests.integration.test_webhooks import KEY, SOURCES

SECRETS = ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "hunter2-hunter2")
HOSTILE = (
    "\ud800", "\udfff", "\x00", "\x07", "\x1b[31m", "\x1b]0;title\x07", "\x85", "\u2028", "\r\n", "\t",
    "\u202e", "\u2066", "\u200b", "\u200d", "\ufeff", "\U000e0041", "\U0010ffff", "\ufffd", "%", "%zz", "&", "=",
    *SECRETS,
)  # fmt: skip
FIELDS = (
    "callId", "id", "status", "duration", "cost", "startedAt", "endedAt", "error", "to", "from",
    "UCID", "Status", "Duration", "StartTime", "EndTime", "DialStatus", "campaign_name", "CallerID",
    "cd_id", "cd_status", "dur", "value", "date", "time_dial", "dest",
    "CallUUID", "CallStatus", "HangupCause", "BillDuration", "AnswerTime", "EndTime", "To", "From",
)  # fmt: skip
TEXT_FIELDS = [f.name for f in fields(Call) if f.type in ("str", "str | None")]

texts = st.lists(st.one_of(st.text(max_size=6), st.sampled_from(HOSTILE)), max_size=5).map("".join)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=10**17, max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 2**63, -(2**63) - 1]),
)
dates = st.one_of(
    st.datetimes().map(str),
    st.datetimes().map(lambda d: d.isoformat() + "Z"),
    st.sampled_from(["9999-12-31T23:59:59Z", "9999-12-31 23:59:59", "0001-01-01", "2026-02-30", "24:61:61"]),
)
values = st.one_of(texts, numbers, dates, st.booleans(), st.none())
ID_FIELDS = ("callId", "UCID", "cd_id", "CallUUID")  # one per provider: most records can be read
named = st.one_of(texts.filter(str.strip), numbers)
ids = st.one_of(st.none(), st.fixed_dictionaries({name: named for name in ID_FIELDS}))
records = st.builds(
    lambda known, extra: (known or {}) | extra,
    ids,
    st.dictionaries(st.one_of(st.sampled_from(FIELDS), texts), values, max_size=8),
)
payloads = st.recursive(
    records,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(["data", "calls", "callData"]), inner)
    ),
    max_leaves=12,
)


@st.composite
def json_bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    text = json.dumps(draw(payloads), allow_nan=True, ensure_ascii=draw(st.booleans()))
    # Without ensure_ascii a lone surrogate is written raw: not UTF-8 at all.
    return text.encode("utf-8", "surrogatepass"), "application/json"


@st.composite
def form_bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    known = draw(ids) or {}
    pairs = [*known.items(), *draw(st.lists(st.tuples(st.one_of(st.sampled_from(FIELDS), texts), values), max_size=12))]
    escape = draw(st.booleans())

    def part(value: object) -> str:
        text = str(value)
        return quote(text.encode("utf-8", "surrogatepass")) if escape else text

    body = "&".join(f"{part(k)}={part(v)}" for k, v in pairs)
    return body.encode("utf-8", "surrogatepass"), "application/x-www-form-urlencoded"


bodies = st.one_of(
    json_bodies(),
    form_bodies(),
    texts.map(lambda t: (t.encode("utf-8", "surrogatepass"), "application/x-www-form-urlencoded")),
    st.binary(max_size=64).map(lambda b: (b, "application/json")),
)


@pytest.fixture(autouse=True)
def secrets() -> Iterator[None]:
    for secret in SECRETS:
        redact.register(secret)
    yield
    redact.forget_all()


def stored_text(call: Call) -> Iterator[str]:
    for name in TEXT_FIELDS:
        value = getattr(call, name)
        if value is not None:
            yield value
    for label, value in call.details:
        yield label
        yield value
    for line in call.transcript:
        yield line.role
        yield line.text


async def deliver(source: str, body: bytes, content_type: str, query: str) -> tuple[httpx.Response, CallStore]:
    store = CallStore()
    receiver = Receiver(SOURCES, KEY, lambda call: store.apply(call, "push"))
    consumer = asyncio.create_task(receiver.run())
    transport = httpx.ASGITransport(app=receiver.app())
    async with httpx.AsyncClient(transport=transport, base_url="http://callmon") as client:
        url = hook_path(KEY, source)
        if query:
            response = await client.get(url + "?" + query)
        else:
            response = await client.post(url, content=body, headers={"content-type": content_type})
    await asyncio.wait_for(receiver.drain(), 5)
    consumer.cancel()
    return response, store


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=st.sampled_from(sorted(SOURCES)), body=bodies, get=st.booleans())
@example(source="vz", body=(f"a=1&{SECRETS[1]}\x1b[31m".encode(), "application/x-www-form-urlencoded"), get=False)
@example(source="vl", body=(f"cd_id=1&{SECRETS[0]}".encode(), "application/x-www-form-urlencoded"), get=True)
def test_hostile_deliveries_get_202_or_a_4xx_and_store_only_clean_text(
    source: str, body: tuple[bytes, str], get: bool
) -> None:
    raw, content_type = body
    # A request target holds no raw controls or non-ASCII (HTTP servers refuse them before the app): escaped.
    query = quote(raw, safe="=&%+") if get and content_type != "application/json" else ""
    response, store = asyncio.run(deliver(source, raw, content_type, query))
    assert response.status_code == 202 or 400 <= response.status_code < 500, response.text
    if response.status_code != 202:
        message: Any = response.json()["message"]
        assert isinstance(message, str) and message.isprintable()
    assert not any(secret in response.text for secret in SECRETS)
    for call in store.calls.values():
        for text in stored_text(call):
            assert text.isprintable(), (call.call_id, text)
            assert not any(secret in text for secret in SECRETS), text
