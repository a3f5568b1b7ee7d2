"""What every adapter shares (providers/base.py, errors.py, the registry): options and secrets, reading
records, the HTTP request with its bounds (redirects, deadlines, decoded size, encodings), the status codes
onto typed errors, scans that cannot run forever, and rows in a delivery."""

from __future__ import annotations

import abc
import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from callmon import config, providers, redact
from callmon.model import Call, Status
from callmon.providers import ADAPTERS, Source
from callmon.providers.base import Adapter, Budget, Exchange, Limits, Option, Scan, rows_of
from callmon.providers.errors import (
    AuthError,
    BadRecord,
    BadRequest,
    BadResponse,
    NetworkError,
    NotFoundYet,
    ProviderError,
    RateLimited,
    ServerError,
)
from callmon.text import MORE
from tests.unit.providers.scripted import BASE, reply


class Toy(Adapter):
    """A provider of the tests' own: records are {"id", "status"}; `boom` makes normalize() raise."""

    provider = "toy"
    title = "Toy"
    default_base_url = "https://toy.test/api/"
    secret_fields = ("key",)
    options = {
        "call_ids": Option(list, "ids"),
        "date": Option(str, "day", default="today"),
        "size": Option(int, "size", default=7),
    }
    default_timezone = "Asia/Kolkata"

    async def list_calls(self, full: bool = True) -> AsyncIterator[list[Call]]:
        yield []

    async def get_call(self, call_id: str) -> Call:
        return Call(self.source.name, "toy", call_id, Status.RINGING)

    def normalize(self, raw: Mapping[str, Any]) -> Call:
        if raw.get("boom"):
            raise KeyError("boom")
        return Call(self.source.name, "toy", str(raw.get("id", "")), Status(raw.get("status", "unknown")))


ADAPTERS.pop("toy")  # naming its provider registered it; the registry is the real providers' only


def toy(
    handler: Any = None, *, limits: Limits | None = None, base_url: str | None = BASE, **options: Any
) -> Toy:
    source = Source(name="s", provider="toy", options=options, base_url=base_url, limits=limits or Limits())
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler)) if handler else None
    return Toy(source, {"key": "k"}, client)


@pytest.fixture(autouse=True)
def no_secrets_left() -> Iterator[None]:
    yield
    redact.forget_all()


# -- the registry and configuration ---------------------------------------------------------------------------


def test_the_registry_in_its_order_and_who_pushes() -> None:
    assert providers.names() == ("dialgood", "dialgen", "cloudagent", "velip", "vobiz")
    assert providers.pushing() == frozenset({"dialgen", "cloudagent", "velip", "vobiz"})
    assert list(ADAPTERS) == list(providers.names())


def test_a_subclass_that_names_its_provider_registers_unless_abstract() -> None:
    saved = dict(ADAPTERS)
    try:

        class Named(Toy):
            provider = "named-toy"

        class Abstract(Adapter):
            provider = "abstract-toy"

        class HalfDone(Toy):
            provider = "half-toy"

            @abc.abstractmethod
            def extra(self) -> None: ...

        class Unnamed(Toy):
            pass

        assert ADAPTERS["named-toy"] is Named
        assert "abstract-toy" not in ADAPTERS and "half-toy" not in ADAPTERS
        assert (Abstract.provider, HalfDone.provider) == ("abstract-toy", "half-toy")
        assert Unnamed.provider == "toy" and "toy" not in ADAPTERS  # inherited, not named
    finally:
        ADAPTERS.clear()
        ADAPTERS.update(saved)


def test_budgets_and_limits() -> None:
    assert Budget(120, 60.0).interval == 0.5
    assert Budget(2, 60.0).interval == 30.0
    assert Adapter.budgets == {"default": Budget(60, 60.0)}
    assert Limits().max_response == 32 * 1024 * 1024
    assert Limits(max_response_mb=0.5).max_response == 512 * 1024
    assert (Limits().timeout, Limits().max_pages, Limits().retry_after_max) == (20.0, 1000, 3600.0)
    # A source built in code polls at the pace of one read from a config that names no interval.
    (configured,) = config.parse('[[sources]]\nname = "s"\nprovider = "dialgen"\n').sources
    assert Source(name="s", provider="toy", options={}).interval == configured.interval == 5.0
    assert (Adapter.pushes, Adapter.requests_push, Adapter.live_transcript) == (False, False, False)
    assert (Adapter.default_timezone, Adapter.example) == ("UTC", "")


def test_options_secrets_zone_and_base_url() -> None:
    adapter = toy(call_ids=["a", 2], timezone="America/Sao_Paulo")
    assert adapter.option("call_ids") == ["a", 2] and adapter.targets() == ["a", "2"]
    assert adapter.option("size") == 7 and adapter.option("nothing") is None
    assert Toy.option_of(adapter.source, "date") == "today"
    assert adapter.tz == ZoneInfo("America/Sao_Paulo")
    assert toy().tz == ZoneInfo("Asia/Kolkata") and toy().targets() == []
    assert toy(base_url=None).base_url == "https://toy.test/api"  # the default, without its trailing /
    assert toy(base_url="https://x/y//").base_url == "https://x/y"
    assert toy(base_url="https://x/X/").base_url == "https://x/X"  # slashes only
    assert adapter.secret("key") == "k"
    with pytest.raises(AuthError) as auth:
        adapter.secret("other")
    assert (auth.value.provider, auth.value.message) == ("toy", "no other for source 's'")
    assert adapter.has_list is True and adapter.auth_headers() == {}
    assert (adapter.skipped, adapter.skip_reason, adapter.cut_short, adapter.known) == (0, "", None, {})
    with pytest.raises(RuntimeError, match="toy adapter for 's' has no HTTP client"):
        _ = toy().client


def test_watch_date() -> None:
    evening = datetime(2026, 1, 5, 20, 0, tzinfo=UTC).timestamp()  # 01:30 on the 6th in Kolkata
    source = Source(name="s", provider="toy", options={})
    assert Toy(source, now=lambda: evening).watch_date() == date(2026, 1, 6)
    fixed = Source(name="s", provider="toy", options={"date": "2025-12-31"})
    assert Toy(fixed, now=lambda: evening).watch_date() == date(2025, 12, 31)
    utc = Source(name="s", provider="toy", options={"date": "today", "timezone": "UTC"})
    assert Toy(utc, now=lambda: evening).watch_date() == date(2026, 1, 5)


async def test_default_detail_and_push_request() -> None:
    adapter = toy()
    detail = await adapter.get_detail(Call("s", "toy", "c", Status.QUEUED))
    assert (detail.call_id, detail.status) == ("c", Status.RINGING)  # a fresh get_call of that call
    with pytest.raises(NotImplementedError, match="toy delivers without being asked"):
        await adapter.request_push("https://me/hook")


# -- reading records ------------------------------------------------------------------------------------------


def test_read_turns_every_failure_into_a_bad_record() -> None:
    adapter = toy()
    assert adapter.read({"id": "a", "status": "busy"}).status is Status.BUSY
    with pytest.raises(BadRecord) as info:
        adapter.read({"id": "a", "boom": True})
    assert info.value.message == "unreadable record (KeyError)" and info.value.provider == "toy"
    for raw in ({"id": "?"}, {"id": ""}, {}):
        with pytest.raises(BadRecord) as info:
            adapter.read(raw)
        assert (info.value.provider, info.value.message) == ("toy", "a record without a call id")


def test_read_all_skips_and_counts() -> None:
    adapter = toy()
    calls = adapter.read_all([{"id": "a"}, {"boom": 1}, {"id": "b"}, {"id": "?"}])
    assert [c.call_id for c in calls] == ["a", "b"]
    assert (adapter.skipped, adapter.skip_reason) == (2, "a record without a call id")
    adapter.read_all([{"boom": 1}])
    assert (adapter.skipped, adapter.skip_reason) == (3, "unreadable record (KeyError)")


@pytest.mark.parametrize(
    ("payload", "rows"),
    [
        ([{"id": 1}, "x", {"id": 2}], [{"id": 1}, {"id": 2}]),
        ({"data": [{"id": 1}]}, [{"id": 1}]),
        ({"details": [{"id": 1}]}, [{"id": 1}]),
        ({"records": [{"id": 1}]}, [{"id": 1}]),
        ({"rows": [{"id": 1}]}, [{"id": 1}]),
        ({"calls": [{"id": 1}]}, [{"id": 1}]),
        ({"callDetails": [{"id": 1}]}, [{"id": 1}]),
        ({"data": {"id": 1}, "calls": [{"id": 2}]}, [{"id": 2}]),  # the first key holding a list
        ({"data": [{"id": 1}], "calls": [{"id": 2}]}, [{"id": 1}]),
        ({"id": 1}, [{"id": 1}]),
        ({"data": "x", "id": 1}, [{"data": "x", "id": 1}]),
        ([], []),
    ],
)
def test_rows_of_a_delivery(payload: Any, rows: list[Any]) -> None:
    assert rows_of(payload) == rows


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (None, "nothing (null or an empty body)"),
        ("x", "a string"),
        (True, "true/false"),
        (5, "a number"),
        (1.5, "a number"),
        (b"x", "bytes"),
    ],
)
def test_rows_of_anything_else_is_a_bad_record(payload: Any, kind: str) -> None:
    with pytest.raises(BadRecord) as info:
        rows_of(payload)
    assert (info.value.provider, info.value.message) == (
        "delivery",
        f"expected a JSON object or list, got {kind}",
    )


def test_normalize_push() -> None:
    adapter = toy()
    assert [c.call_id for c in adapter.normalize_push({"calls": [{"id": "a"}, {"boom": 1}]})] == ["a"]
    assert adapter.skipped == 1
    with pytest.raises(BadRecord, match="unreadable record"):
        adapter.normalize_push([{"boom": 1}])
    with pytest.raises(BadRecord) as info:
        toy().normalize_push([])
    assert (info.value.provider, info.value.message) == ("toy", "no call records in the delivery")


def test_expect_mapping_and_list() -> None:
    adapter = toy()
    assert adapter.expect_mapping({"a": 1}, "x") == {"a": 1}
    with pytest.raises(BadResponse, match="page: expected a JSON object, got a list"):
        adapter.expect_mapping([1], "page")
    assert adapter.expect_list(None, "rows") == []
    assert adapter.expect_list([{"a": 1}, 2, "x", {"b": 2}], "rows") == [{"a": 1}, {"b": 2}]
    with pytest.raises(BadResponse) as info:
        adapter.expect_list({"a": 1}, "rows")
    assert (info.value.provider, info.value.message) == ("toy", "rows: expected a list, got an object")


def why_cut(adapter: Adapter) -> str | None:
    return adapter.cut_short


def test_scan() -> None:
    adapter = toy(limits=Limits(max_pages=4))
    adapter.cut_short = "old"
    scan = adapter.scan()
    assert isinstance(scan, Scan) and why_cut(adapter) is None
    call = Call("s", "toy", "a", Status.QUEUED)
    other = Call("s", "toy", "b", Status.QUEUED)
    assert scan.more(1, [call]) and scan.more(2, []) and scan.more(None, [])
    assert scan.pages == 3 and why_cut(adapter) is None
    assert not scan.more(3, [call])
    assert adapter.cut_short == "the provider sent page 4 again: scan stopped there"
    scan = adapter.scan()
    assert scan.more("c1", [call]) and scan.more("c2", [other])
    assert scan.more("c3", [Call("s", "toy", "c", Status.QUEUED)])
    assert not scan.more("c1", [Call("s", "toy", "d", Status.QUEUED)])
    assert adapter.cut_short == "the provider's cursor came back to 'c1': scan stopped"
    scan = adapter.scan()
    for n in range(3):
        assert scan.more(n)
    assert not scan.more(3)
    assert adapter.cut_short == "scan stopped at 4 pages (max_pages)"
    long = "x" * 60
    scan = adapter.scan()
    assert scan.more(long) and not scan.more(long)
    assert adapter.cut_short == f"the provider's cursor came back to {'x' * 40!r}: scan stopped"


# -- the request ----------------------------------------------------------------------------------------------


async def test_a_request_as_sent() -> None:
    seen: list[httpx.Request] = []
    gated: list[str] = []
    observed: list[Exchange] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"ok": True})

    class Keyed(Toy):
        def auth_headers(self) -> dict[str, str]:
            return {"X-Key": "k", "Accept": "text/plain"}

    async def gate(kind: str) -> None:
        gated.append(kind)

    source = Source(name="s", provider="toy", options={}, base_url=BASE)
    adapter = Keyed(
        source,
        {},
        httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        gate=gate,
        observe=observed.append,
    )
    body = await adapter.request(
        "POST",
        "/p",
        kind="list",
        params={"a": 1},
        json_body={"b": 2},
        headers={"X-Extra": "e", "X-Key": "override"},
    )
    assert body == {"ok": True}
    (request,) = seen
    assert (request.method, str(request.url)) == ("POST", f"{BASE}/p?a=1")
    assert request.content == b'{"b":2}' or request.content == b'{"b": 2}'
    assert request.headers["accept"] == "text/plain"  # the adapter's own headers over the defaults
    await toy(handler).request("GET", "/q")
    assert seen[-1].headers["accept"] == "application/json"  # by default
    assert request.headers["accept-encoding"] == "gzip, deflate"
    assert request.headers["x-key"] == "override" and request.headers["x-extra"] == "e"
    assert gated == ["list"]
    assert len(observed) == 1 and (observed[0].kind, observed[0].status_code) == ("list", 201)
    assert 0 <= observed[0].seconds < 5
    await adapter.request("POST", "/p", form={"f": "v"})
    assert seen[-1].content == b"f=v" and gated[-1] == "default"


async def test_a_failed_request_is_observed_too() -> None:
    observed: list[Exchange] = []

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    source = Source(name="s", provider="toy", options={}, base_url=BASE)
    adapter = Toy(
        source, {}, httpx.AsyncClient(transport=httpx.MockTransport(handler)), observe=observed.append
    )
    with pytest.raises(NetworkError) as info:
        await adapter.request("GET", "/p")
    assert info.value.message == "ConnectError: refused"
    assert [(e.kind, e.status_code) for e in observed] == [("default", None)]


@pytest.mark.parametrize(
    ("exception", "message"),
    [
        (httpx.ReadTimeout("slow"), "no complete answer within 20s"),
        (httpx.ConnectTimeout("slow"), "no complete answer within 20s"),
        (TimeoutError(), "no complete answer within 20s"),
        (httpx.RemoteProtocolError("peer closed"), "RemoteProtocolError: peer closed"),
    ],
)
async def test_transport_failures_are_network_errors(exception: Exception, message: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exception

    with pytest.raises(NetworkError) as info:
        await toy(handler).request("GET", "/p")
    assert (info.value.provider, info.value.message, info.value.status_code) == ("toy", message, None)


async def test_a_body_that_never_ends_meets_the_whole_requests_deadline() -> None:
    # httpx's own timeouts are per read; only the deadline over the whole request ends a trickle.
    with pytest.raises(NetworkError, match=r"no complete answer within 0\.05s"):
        await toy(streamed(b'{"a": 1}', stall=True), limits=Limits(timeout=0.05)).request("GET", "/p")


async def test_the_deadline_is_the_sources() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.extensions["timeout"] == {"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}
        raise httpx.ReadTimeout("slow")

    with pytest.raises(NetworkError, match=r"no complete answer within 2\.5s"):
        await toy(handler, limits=Limits(timeout=2.5)).request("GET", "/p")


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirects_are_reported_not_followed(status: int) -> None:
    requests = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal requests
        requests += 1
        return httpx.Response(status, headers={"Location": "https://elsewhere.test/x"})

    following = toy(handler)
    following._client = httpx.AsyncClient(transport=httpx.MockTransport(handler), follow_redirects=True)
    for adapter in (toy(handler), following):  # whatever the client was made to do
        requests = 0
        with pytest.raises(BadResponse) as info:
            await adapter.request("GET", "/p")
        assert (info.value.provider, info.value.message, info.value.status_code, requests) == (
            "toy",
            "redirected to https://elsewhere.test/x",
            status,
            1,
        )
    with pytest.raises(BadResponse, match="redirected to nowhere"):
        await toy(lambda r: httpx.Response(302)).request("GET", "/p")


@pytest.mark.parametrize(
    ("response", "error", "message"),
    [
        (httpx.Response(200, text=""), BadResponse, "empty body"),
        (httpx.Response(200, text="  \n"), BadResponse, "empty body"),
        (httpx.Response(200, text="{x"), BadResponse, "malformed JSON"),
        (httpx.Response(200, content=b'"\xff"'), BadResponse, "body is not UTF-8 text"),
        (httpx.Response(500, text=""), ServerError, "Internal Server Error"),
        (httpx.Response(502, text="<html>Bad gateway</html>"), ServerError, "<html>Bad gateway</html>"),
        (httpx.Response(400, json={"message": "no"}), BadRequest, "no"),
        (httpx.Response(401, json={"error": "who?"}), AuthError, "who?"),
        (httpx.Response(403, json={"detail": "forbidden"}), AuthError, "forbidden"),
        (httpx.Response(404, json={"status": "gone"}), NotFoundYet, "gone"),
        (httpx.Response(409, json={"error": {"message": "nested"}}), BadRequest, "nested"),
        (httpx.Response(409, json={"error": {"code": 5}, "status": "outer"}), BadRequest, "outer"),
        (httpx.Response(422, json={"message": "", "error": 5}), BadRequest, "Unprocessable Entity"),
        (httpx.Response(499, json={}), BadRequest, "HTTP 499"),
        (httpx.Response(599, json={}), ServerError, "HTTP 599"),
        (httpx.Response(429, json=["x"]), RateLimited, "Too Many Requests"),
    ],
)
async def test_status_codes_and_bodies_onto_typed_errors(
    response: httpx.Response, error: type[ProviderError], message: str
) -> None:
    with pytest.raises(ProviderError) as info:
        await toy(lambda r: response).request("GET", "/p")
    assert type(info.value) is error and info.value.provider == "toy"
    assert info.value.message.startswith(message) and info.value.status_code == response.status_code


@pytest.mark.parametrize("status", [200, 204, 302, 399])
def test_under_400_is_no_error(status: int) -> None:
    toy().check(httpx.Response(status), {"message": "whatever"})


@pytest.mark.parametrize(("header", "wait"), [("7", 7.0), ("0", None), ("soon", None), (None, None)])
async def test_429_carries_retry_after(header: str | None, wait: float | None) -> None:
    headers = {"Retry-After": header} if header is not None else {}
    with pytest.raises(RateLimited) as info:
        await toy(reply({"message": "slow down"}, 429, headers)).request("GET", "/p")
    assert (info.value.retry_after, info.value.message) == (wait, "slow down")


async def test_an_error_body_may_be_empty_or_not_json() -> None:
    adapter = toy()
    response = httpx.Response(503)
    assert adapter.decode(response, b"") is None
    assert adapter.decode(response, b" \n") is None
    assert adapter.decode(response, b"not json") == {"message": "not json"}
    assert adapter.decode(response, b"\xffoops") == {"message": "\ufffdoops"}
    assert adapter.decode(httpx.Response(200), b'{"a": 1}') == {"a": 1}
    # 64 KiB of it: far more than an error's message keeps, so a secret where that message is cut is whole
    # when it is masked; not the whole of an endless page.
    assert adapter.decode(response, b"x" * 70_000) == {"message": "x" * 64 * 1024}


# -- bounded bodies -------------------------------------------------------------------------------------------


def streamed(
    content: bytes, headers: dict[str, str] | None = None, *, chunk: int = 1024, stall: bool = False
) -> Any:
    """A handler answering with a body the client has to read (as over a socket), a chunk at a time; with
    `stall`, the body never ends."""

    class Chunks(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            for i in range(0, len(content), chunk):
                yield content[i : i + chunk]
            if stall:
                await asyncio.Event().wait()  # nobody sets it

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=headers, stream=Chunks())

    return handler


BODY = b'{"calls": [' + b",".join(b'{"id": "%d"}' % i for i in range(2000)) + b"]}"


@pytest.mark.parametrize(
    ("encoding", "encoded"),
    [
        ("", BODY),
        ("identity", BODY),
        ("gzip", gzip.compress(BODY, mtime=0)),
        ("x-gzip", gzip.compress(BODY, mtime=0)),
        ("GZIP ", gzip.compress(BODY, mtime=0)),
        ("deflate", zlib.compress(BODY)),  # zlib-wrapped, as the spec says
        ("deflate", zlib.compress(BODY)[2:-4]),  # raw deflate, as servers send it
    ],
    ids=["none", "identity", "gzip", "x-gzip", "GZIP-spaced", "deflate-zlib", "deflate-raw"],
)
async def test_every_encoding_is_read(encoding: str, encoded: bytes) -> None:
    headers = {"Content-Encoding": encoding} if encoding else {}
    for chunk in (1024, 2, 1):  # whatever the first chunk holds of the deflate header
        body = await toy(streamed(encoded, headers, chunk=chunk)).request("GET", "/p")
        assert len(body["calls"]) == 2000


async def test_raw_deflate_is_told_from_zlib_by_both_header_checks() -> None:
    """A zlib header is a compression method of 8 in its first byte *and* two bytes divisible by 31. Raw deflate
    can pass the second alone: this one starts 5d d9 (23,001 = 31 x 742)."""
    body = b'{"calls": [' + b",".join(b'{"id": "%d"}' % i for i in range(500)) + b"]}"
    raw = zlib.compress(body, 9)[2:-4]
    assert (raw[0] << 8 | raw[1]) % 31 == 0 and raw[0] & 0x0F != 8
    got = await toy(streamed(raw, {"Content-Encoding": "deflate"})).request("GET", "/p")
    assert len(got["calls"]) == 500


async def test_an_unknown_encoding_is_refused() -> None:
    with pytest.raises(BadResponse, match="unsupported content-encoding 'br'") as info:
        await toy(streamed(BODY, {"Content-Encoding": "br"})).request("GET", "/p")
    assert info.value.provider == "toy"
    with pytest.raises(BadResponse) as info:  # the provider's words, cut short
        await toy(streamed(BODY, {"Content-Encoding": "z" * 50})).request("GET", "/p")
    assert info.value.message == f"unsupported content-encoding {'z' * 40!r}"


async def test_a_body_that_is_not_what_it_says_is_refused() -> None:
    with pytest.raises(BadResponse, match="response body is not valid gzip") as info:
        await toy(streamed(b"not gzip at all" * 10, {"Content-Encoding": "gzip"})).request("GET", "/p")
    assert info.value.provider == "toy"
    with pytest.raises(BadResponse, match="response body is not valid deflate") as info:
        await toy(streamed(b"\x78\x9c" + b"\xff" * 50, {"Content-Encoding": "deflate"})).request("GET", "/p")
    # gzip is gzip's own header: a zlib stream sent as gzip is not read as one.
    with pytest.raises(BadResponse, match="response body is not valid gzip"):
        await toy(streamed(zlib.compress(BODY), {"Content-Encoding": "gzip"})).request("GET", "/p")
    assert info.value.provider == "toy"


CAP = Limits(max_response_mb=16 / 1024)  # 16 KiB


@pytest.mark.parametrize("encoding", ["", "gzip", "deflate"])
async def test_the_decoded_size_is_capped(encoding: str) -> None:
    big = b'{"pad": "' + b"x" * (16 * 1024) + b'"}'  # just over 16 KiB
    encoded = {"": big, "gzip": gzip.compress(big), "deflate": zlib.compress(big)}[encoding]
    headers = {"Content-Encoding": encoding} if encoding else {}
    with pytest.raises(BadResponse, match=r"over the 0.015625 MiB cap") as info:
        await toy(streamed(encoded, headers), limits=CAP).request("GET", "/p")
    assert info.value.provider == "toy"
    fits = b'{"pad": "' + b"x" * (16 * 1024 - 11) + b'"}'  # exactly 16 KiB
    assert len(fits) == 16 * 1024
    encoded = {"": fits, "gzip": gzip.compress(fits), "deflate": zlib.compress(fits)}[encoding]
    assert (await toy(streamed(encoded, headers), limits=CAP).request("GET", "/p"))["pad"] == "x" * (
        16 * 1024 - 11
    )


async def test_a_bomb_is_not_inflated_past_the_cap() -> None:
    bomb = gzip.compress(b" " * (8 * 1024 * 1024))  # 8 MiB of spaces (512 times the cap) in ~8 KiB
    with pytest.raises(BadResponse, match=r"over the 0\.015625 MiB cap") as info:
        await toy(streamed(bomb, {"Content-Encoding": "gzip"}), limits=CAP).request("GET", "/p")
    assert info.value.provider == "toy"


async def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    with pytest.raises(BadResponse, match=r"response of 16,385 bytes is over the 0\.015625 MiB cap") as info:
        await toy(streamed(b"{}", {"Content-Length": "16385"}), limits=CAP).request("GET", "/p")
    assert info.value.provider == "toy"
    body = await toy(streamed(b"{}", {"Content-Length": "16384"}), limits=CAP).request("GET", "/p")
    assert body == {}


async def test_an_in_memory_body_is_capped_too() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        response = httpx.Response(200, content=b'{"pad": "' + b"x" * (16 * 1024) + b'"}')
        del response.headers["content-length"]  # nothing declared: the body itself is measured
        return response

    with pytest.raises(BadResponse, match=r"response over the 0\.015625 MiB cap") as info:
        await toy(handler, limits=CAP).request("GET", "/p")
    assert info.value.provider == "toy"

    def exactly(request: httpx.Request) -> httpx.Response:
        response = httpx.Response(200, content=b'{"pad": "' + b"x" * (16 * 1024 - 11) + b'"}')
        del response.headers["content-length"]
        return response

    assert len((await toy(exactly, limits=CAP).request("GET", "/p"))["pad"]) == 16 * 1024 - 11


# -- errors --------------------------------------------------------------------------------------------------


def test_provider_errors_say_who_what_and_the_code() -> None:
    assert str(ProviderError("vobiz", "boom", status_code=500)) == "vobiz: error (HTTP 500): boom"
    assert str(AuthError("velip", "Invalid token")) == "velip: auth failed: Invalid token"
    assert str(ServerError("x", "m", status_code=0)) == "x: server error: m"
    assert str(NotFoundYet("x", "")) == "x: not found: no message"
    limited = RateLimited("x", "slow", retry_after=1.5, status_code=429)
    assert str(limited) == "x: rate limited (HTTP 429): slow, retry after 1.5s"
    assert str(RateLimited("x", "slow", retry_after=None)) == "x: rate limited: slow"
    assert str(BadRecord("x", "m")) == "x: unreadable record: m"
    kinds = [e.kind for e in (BadRequest("x", "m"), BadResponse("x", "m"), NetworkError("x", "m"))]
    assert kinds == ["bad request", "bad response", "network error"]
    assert limited.args == (str(limited),)


def test_a_provider_error_message_is_masked_cleaned_and_cut() -> None:
    redact.register("sekrit-key")
    error = ProviderError("x", "bad sekrit-key\x1b[2J here\n" + "y" * 400)
    assert "sekrit" not in error.message and "\x1b" not in error.message and "\n" not in error.message
    assert error.message == "bad •••• here " + "y" * 286 + MORE.format(n=114)
    # A secret split by an invisible character is whole again once it is removed, and masked then.
    assert "sekrit" not in ProviderError("x", "sek\u200brit-key").message


def test_just_after_midnight_today_means_yesterday_too() -> None:
    """A call dialed before midnight (the provider's) ends, and its record is written, after it."""
    india = Source(name="s", provider="toy", options={})
    at = {
        "01:30": datetime(2026, 1, 5, 20, 0, tzinfo=UTC),  # in Kolkata, on the 6th
        "01:59:59": datetime(2026, 1, 5, 20, 29, 59, tzinfo=UTC),
        "02:00": datetime(2026, 1, 5, 20, 30, tzinfo=UTC),
        "00:00": datetime(2026, 1, 5, 18, 30, tzinfo=UTC),
    }

    def days(source: Source, when: datetime) -> tuple[date, ...]:
        return Toy(source, now=lambda: when.timestamp()).watch_days()

    assert days(india, at["00:00"]) == days(india, at["01:30"]) == days(india, at["01:59:59"])
    assert days(india, at["01:30"]) == (date(2026, 1, 5), date(2026, 1, 6))
    assert days(india, at["02:00"]) == (date(2026, 1, 6),)
    fixed = Source(name="s", provider="toy", options={"date": "2025-12-31"})
    assert days(fixed, at["01:30"]) == (date(2025, 12, 31),)  # a day asked for is that day only
    utc = Source(name="s", provider="toy", options={"timezone": "UTC"})
    assert days(utc, at["01:30"]) == (date(2026, 1, 5),)  # 20:00 there
