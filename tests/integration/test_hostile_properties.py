"""Property-based: each provider's documented payloads with hostile values substituted (issue findings 1, 6, 8,
9), through every normalize(), every adapter's read() and list pages, and every `watch` format.

Properties: the module-level normalize() raises nothing; Adapter.read() raises only BadRecord; a scan over
hostile pages raises only ProviderError; every text a record carries is printable; JSON output is strict
JSON (no NaN, no Infinity); table and CSV lines are printable; no registered secret comes out anywhere.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

import httpx
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from callmon import output, redact, untrusted
from callmon.engine.once import fetch_all
from callmon.model import Call
from callmon.providers import ADAPTERS, Limits, Source, parse
from callmon.providers.errors import BadRecord, ProviderError
from tests.hostile import (
    FORMATS,
    HOSTILE,
    INVISIBLE,
    NORMALIZE,
    TEMPLATES,
    check_call,
    check_output,
)

PROVIDERS = sorted(TEMPLATES)
_ODD_CHARACTERS = [*INVISIBLE, "\ud800", "\udfff", "\x1b", "\x9b", "\x00", "\u2028", "²", "٣", "\ufffd", "\n"]


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    yield
    redact.forget_all()


def odd_text(max_size: int = 40) -> st.SearchStrategy[str]:
    return st.text(st.one_of(st.characters(), st.sampled_from(_ODD_CHARACTERS)), max_size=max_size)


def times() -> st.SearchStrategy[Any]:
    """Times as providers write them, from year 1 to 9999 in any offset, and epochs of any size."""
    moments = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59))
    offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
    return st.one_of(
        st.builds(lambda t, z: t.replace(tzinfo=z).isoformat(), moments, offsets),
        moments.map(lambda t: t.strftime("%Y-%m-%d %H:%M:%S")),
        st.builds(lambda t, z: t.replace(tzinfo=z).strftime("%a, %d %b %Y %H:%M:%S %z"), moments, offsets),
        st.integers(-(10**40), 10**40),
        st.integers(-(10**40), 10**40).map(str),
        st.floats(),
    )


def numbers() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(),
        st.integers(-(10**400), 10**400),
        st.floats(),
        st.floats().map(repr),
        st.decimals(allow_nan=True).map(str),
        st.from_regex(r"\A[+-]?[0-9]{0,60}([.,][0-9]{0,40})?([eE][+-]?[0-9]{1,5})?\Z"),
        st.from_regex(r"\A[0-9]{1,9}:[0-9]{1,3}:[0-9]{1,3}\Z"),
    )


# Where a drawn payload echoes the source's secret: markers drawn like any value, filled in with the secret of
# the example afterwards (strategies are built once, not per secret: building them is most of the cost).
ECHOES: dict[str, Any] = {
    "<echo:whole>": lambda s: s,
    "<echo:inside>": lambda s: f"id {s} end",
    "<echo:split>": lambda s: f"{s[:4]}\u200b{s[4:]}",  # whole again once the invisible character is removed
    "<echo:escaped>": lambda s: f"\x1b[1m{s}",
    "<echo:number>": lambda s: int(s) if s.isdigit() else s,  # a numeric key sent as a JSON number
}


def fill(value: Any, secret: str) -> Any:
    if isinstance(value, str):
        echo = ECHOES.get(value)
        return value if echo is None else echo(secret)
    if isinstance(value, dict):
        return {fill(k, secret) if isinstance(k, str) else k: fill(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, secret) for v in value]
    return value


# One field's value: a known bad one, odd text, a number or time of any size, a container, or the source's
# secret echoed back (whole, inside text, split by an invisible character, as a number).
SCALARS = st.one_of(
    st.sampled_from([v for v in HOSTILE if not (isinstance(v, str) and len(v) > 10_000)]),
    odd_text(),
    numbers(),
    times(),
    st.sampled_from(sorted(ECHOES)),
    st.booleans(),
    st.none(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(odd_text(8), inner, max_size=3)),
    max_leaves=6,
)
EXTRA_KEYS = st.one_of(odd_text(12), st.sampled_from(["resp_²", "resp_" + "9" * 5000, "resp_0", "<echo:whole>"]))
EXTRAS = st.dictionaries(EXTRA_KEYS, VALUES, max_size=3)
REPLACE = st.integers(0, 3)


@st.composite
def _payload(draw: st.DrawFn, provider: str) -> dict[str, Any]:
    def mutate(node: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in node.items():
            if isinstance(value, dict) and draw(st.booleans()):
                out[key] = mutate(value)
            elif draw(REPLACE) == 0:
                out[key] = draw(VALUES)
            else:
                out[key] = value
        out.update(draw(EXTRAS))
        return out

    template: dict[str, Any] = draw(st.sampled_from(TEMPLATES[provider]))
    return mutate(template)


# A documented record of each provider with some of its fields (nested ones too) replaced by hostile values,
# and some hostile extra fields (Velip's dynamic `resp_N` keys among them); echo markers not yet filled in.
PAYLOADS = {provider: _payload(provider) for provider in TEMPLATES}


secrets = st.one_of(
    st.from_regex(r"\Ask-[A-Za-z0-9_-]{8,24}\Z"),
    st.from_regex(r"\A[0-9]{8,12}\Z"),  # a numeric key (a PIN-like tsid) echoed as a number
    st.from_regex(r"\A[0-9a-f]{12,32}\Z"),  # hex: what a JSON escape (\u00de...) can spell
)


def _source(provider: str) -> Source:
    options: dict[str, dict[str, Any]] = {
        "dialgood": {"campaigns": ["c1"]},
        "dialgen": {"batches": ["b1"]},
        "cloudagent": {"user_name": "acme", "date": "2026-03-06"},
        "velip": {"campaign": 555},
        "vobiz": {"auth_id": "MA_1", "date": "2026-03-25"},
    }
    return Source(
        name="hostile",
        provider=provider,
        options=options[provider],
        base_url="https://api.test",
        limits=Limits(max_pages=5),
    )


def _secret_fields(provider: str, secret: str) -> dict[str, str]:
    return {field: secret for field in ADAPTERS[provider].secret_fields}


def _check_outputs(calls: list[Call], secret: str) -> None:
    for fmt in FORMATS:
        check_output(output.render(calls, fmt, raw=fmt in ("json", "ndjson")), fmt, (secret,))
        if fmt != "json":
            check_output(output.stream_lines(calls, fmt, raw=fmt == "ndjson"), fmt, (secret,))


@pytest.mark.parametrize("provider", PROVIDERS)
@given(data=st.data(), secret=secrets)
def test_normalize_raises_nothing_and_outputs_stay_valid(provider: str, data: st.DataObject, secret: str) -> None:
    """The module-level normalize(), handed hostile Python values directly (NaN, 10**400, lone surrogates: what
    a caller that skipped callmon.untrusted would pass), raises nothing at all."""
    redact.forget_all()  # one example's secret only: what another registered would make a rerun differ
    redact.register(secret)
    payload = fill(data.draw(PAYLOADS[provider]), secret)
    call = NORMALIZE[provider](payload)
    check_call(call, (secret,))
    _check_outputs([call], secret)


@pytest.mark.parametrize("provider", PROVIDERS)
@given(data=st.data(), secret=secrets)
def test_adapter_read_of_wire_json_raises_only_bad_record(provider: str, data: st.DataObject, secret: str) -> None:
    """The adapter's path: the payload as JSON text on the wire (NaN and Infinity literals included), read by
    callmon.untrusted, then Adapter.read(): a record or a BadRecord, nothing else."""
    redact.forget_all()  # one example's secret only: what another registered would make a rerun differ
    redact.register(secret)
    payload = fill(data.draw(PAYLOADS[provider]), secret)
    try:
        wire = json.dumps(payload, ensure_ascii=data.draw(st.booleans()))
    except ValueError:
        assume(False)  # an int past str()'s digit limit cannot be sent as JSON at all
    try:
        body = untrusted.loads(wire.encode("utf-8", "surrogatepass"))
    except untrusted.Malformed:
        return  # a body callmon cannot read is a BadResponse, one line: covered below
    adapter = ADAPTERS[provider](_source(provider), _secret_fields(provider, secret))
    try:
        call = adapter.read(body)
    except BadRecord as exc:
        assert str(exc).isprintable() and secret not in str(exc)
        return
    check_call(call, (secret,))
    assert secret not in json.dumps(call.payload(), ensure_ascii=False)
    _check_outputs([call], secret)


def _page(provider: str, rows: list[Any], more: Any) -> dict[str, Any]:
    """A list response of `provider` that carries `rows` and says there is more (or not) in its own way."""
    if provider == "dialgen":
        return {"batchId": "b1", "calls": rows}
    if provider == "cloudagent":
        return {"status": "success", "totalCount": more, "details": rows}
    if provider == "velip":
        return {"return": {"status": "OK", "status_code": "0", "pagination": {"has_more": more, "next_id": more}}, "calls": rows}
    return {"data": rows, "pagination": {"has_next": more, "page": more}, "success": True}


PAGES = {
    provider: st.lists(
        st.builds(partial(_page, provider), st.lists(PAYLOADS[provider], max_size=3), VALUES),
        min_size=1,
        max_size=4,
    )
    for provider in ("dialgen", "cloudagent", "velip", "vobiz")
}


@pytest.mark.parametrize("provider", sorted(PAGES))
@given(data=st.data(), secret=secrets)
def test_a_scan_over_hostile_pages_raises_only_provider_errors(
    provider: str, data: st.DataObject, secret: str
) -> None:
    """Whole list responses with hostile rows and hostile pagination fields, over HTTP (an in-memory
    transport): the scan ends (max_pages 5), and anything it raises is a ProviderError, in one printable line
    without the secret."""
    redact.forget_all()  # one example's secret only: what another registered would make a rerun differ
    redact.register(secret)
    responses = fill(data.draw(PAGES[provider]), secret)
    served = iter(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("generateToken"):
            return httpx.Response(200, json={"token": f"tok-{secret}"})
        page: Any = next(served, {"calls": [], "data": [], "details": []})
        if provider == "vobiz" and "/Call/" in request.url.path:
            page = {"calls": []}
        try:
            text = json.dumps(page, allow_nan=True)
        except ValueError:
            text = "{}"
        return httpx.Response(200, content=text.encode("utf-8", "surrogatepass"))

    source = _source(provider)

    async def scan() -> list[Call]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            adapter = ADAPTERS[provider](source, _secret_fields(provider, secret), client)
            return await fetch_all(adapter)

    try:
        calls = asyncio.run(scan())
    except ProviderError as exc:
        assert str(exc).isprintable() and secret not in str(exc)
        return
    for call in calls:
        check_call(call, (secret,))
    _check_outputs(calls, secret)


@given(value=st.one_of(VALUES, odd_text(80), numbers(), times()))
def test_value_parsers_never_raise(value: Any) -> None:
    """Each lenient parser returns None or a value in its range, whatever it is given."""
    stamp = parse.timestamp(value)
    assert stamp is None or 1970 <= stamp.year < 2200
    seconds = parse.seconds(value)
    assert seconds is None or 0 <= seconds <= parse.MAX_SECONDS
    amount = parse.number(value)
    assert amount is None or (math.isfinite(amount) and abs(amount) <= parse.MAX_AMOUNT)
    whole = parse.integer(value)
    assert whole is None or abs(whole) <= parse.MAX_INTEGER
    parse.text(value)
    parse.hms(value)
    if isinstance(value, str):
        wait = parse.retry_after(value)
        assert wait is None or (math.isfinite(wait) and wait > 0)


@given(text=st.one_of(odd_text(200), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
def test_untrusted_loads_reads_or_says_malformed(text: str) -> None:
    try:
        value = untrusted.loads(text.encode("utf-8", "surrogatepass"))
    except untrusted.Malformed as exc:
        assert "\n" not in str(exc)
        return
    json.dumps(value, allow_nan=False).encode("utf-8")


def _cases() -> Iterator[Any]:
    for provider, templates in TEMPLATES.items():
        for shape, template in enumerate(templates):
            yield pytest.param(provider, template, id=f"{provider}-{shape}")


@pytest.mark.parametrize(("provider", "template"), list(_cases()))
def test_every_field_takes_every_hostile_value(provider: str, template: dict[str, Any]) -> None:
    """Not random: each documented field, in turn, holds each known hostile value (finding 1's list)."""
    normalize = NORMALIZE[provider]
    calls = []
    for key in template:
        for value in HOSTILE:
            call = normalize({**template, key: value})
            check_call(call)
            calls.append(call)
    sample = calls[:: max(1, len(calls) // 200)]
    _check_outputs(sample, "sk-no-secret-here")
