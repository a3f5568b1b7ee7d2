"""A source's worker and transport against a hostile provider, on virtual time (issue findings 2, 3 and 4):
Retry-After extremes are clamped or backed off, failures count as errors, a cycle's bug stays in its source,
a trickling body ends at the request's deadline, a decompression bomb ends at the size cap."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import re
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from callmon import redact
from callmon.engine.worker import SourceWorker
from callmon.health import State
from callmon.providers import Limits, Source
from callmon.providers.cloudagent import CloudAgentAdapter
from callmon.providers.errors import BadResponse, NetworkError, ProviderError
from callmon.store import CallStore

Handler = Callable[[httpx.Request], httpx.Response]
LIMITS = Limits(timeout=5.0, max_response_mb=1.0, max_pages=5, retry_after_max=60.0)


def vobiz_worker(handler: Handler, limits: Limits = LIMITS) -> SourceWorker:
    source = Source(
        name="v", provider="vobiz", options={"auth_id": "MA_1", "live": False}, base_url="https://api.test",
        interval=1.0, limits=limits,
    )  # fmt: skip
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return SourceWorker(source, {"auth_token": "tok"}, client, CallStore())


def rate_limited(retry_after: str) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": retry_after}, json={"message": "Rate limit exceeded"})

    return handler


PAST = format_datetime(datetime(1998, 1, 1, tzinfo=UTC), usegmt=True)
FAR = format_datetime(datetime(2099, 1, 1, tzinfo=UTC), usegmt=True)


@pytest.mark.parametrize("value", ["999999999", FAR, "1e308", "86400"])
async def test_a_huge_retry_after_is_clamped_to_retry_after_max(value: str) -> None:
    """Finding 4: Retry-After 999999999 or a 2099 date parked a source for 31 years."""
    worker = vobiz_worker(rate_limited(value))
    wait = await worker._cycle_once()
    assert wait == LIMITS.retry_after_max
    assert worker.health.state is State.RATE_LIMITED and worker.health.consecutive_errors == 1


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "-inf", PAST, "soon", "", "1e400", "0x10"])
async def test_a_useless_retry_after_backs_off_and_grows(value: str) -> None:
    """Finding 4: `0`, negative, past dates and `nan` became 0: 240 consecutive 429s in 66 s with no backoff
    growth. Each now backs off, longer after each 429."""
    worker = vobiz_worker(rate_limited(value))
    waits = [await worker._cycle_once() for _ in range(6)]
    assert all(w >= 1.0 for w in waits), waits
    assert waits[0] <= 2.0 and waits[5] >= 32.0, waits  # 2 s, then doubling (jitter x0.5-1)
    assert worker.health.consecutive_errors == 6


async def test_retry_after_of_one_second_is_obeyed() -> None:
    worker = vobiz_worker(rate_limited("1"))
    assert await worker._cycle_once() == 1.0


async def test_a_source_answering_429_with_retry_after_0_is_asked_rarely() -> None:
    """Finding 4, as the worker runs: ten minutes of 429s with Retry-After 0 cost a handful of requests."""
    hits: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hits.append(asyncio.get_running_loop().time())
        return rate_limited("0")(request)

    worker = vobiz_worker(handler)
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(600)
    task.cancel()
    assert 5 <= len(hits) <= 12, len(hits)
    gaps = [b - a for a, b in itertools.pairwise(hits)]
    assert gaps[-1] >= 64, gaps


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("connection refused"),
        httpx.ReadError("connection reset"),
        httpx.RemoteProtocolError("illegal header"),
    ],
    ids=["connect", "read", "protocol"],
)
async def test_a_failed_request_counts_as_an_error(failure: Exception) -> None:
    """Finding 2: a request that got no answer is an error of its source's, counted each time."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise failure

    worker = vobiz_worker(handler)
    for n in (1, 2, 3):
        await worker._cycle_once()
        assert worker.health.state is State.RETRYING and worker.health.consecutive_errors == n
    assert worker.health.message.isprintable() and "\n" not in worker.health.message


async def test_a_bug_on_hostile_input_stays_in_its_cycle() -> None:
    """Finding 2: whatever a cycle raises (here a normalizer's own bug) is one counted error, not a dead
    worker."""
    worker = vobiz_worker(lambda r: httpx.Response(200, json={"data": [], "pagination": {}}))

    async def broken(full: bool = True) -> AsyncIterator[list[Any]]:
        pages: list[list[Any]] = [[]]
        for page in pages:
            if not full or not page:
                raise RecursionError("maximum recursion depth exceeded\nwhile reading a hostile payload")
            yield page

    worker.adapter.list_calls = broken  # type: ignore[method-assign]
    wait = await worker._cycle_once()
    assert wait > 0 and worker.health.state is State.RETRYING and worker.health.consecutive_errors == 1
    assert worker.health.message.startswith("RecursionError") and worker.health.message.isprintable()


# -- transport bounds (finding 3), in-process ----------------------------------------------------------------------


def streamed(chunks: Callable[[], AsyncIterator[bytes]], headers: dict[str, str] | None = None) -> Handler:
    class Body(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            async for chunk in chunks():
                yield chunk

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=headers or {}, stream=Body())

    return handler


async def test_one_byte_a_second_ends_at_the_request_deadline() -> None:
    """Finding 3: 1 byte/s used to stall a source forever (no read ever timed out)."""

    async def trickle() -> AsyncIterator[bytes]:
        while True:
            yield b" "
            await asyncio.sleep(1)

    worker = vobiz_worker(streamed(trickle))
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(NetworkError, match="no complete answer within 5s"):
        await worker.adapter.get_call("u1")
    assert loop.time() - started == pytest.approx(5.0, abs=0.01)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_decompression_bomb_stops_at_the_cap(encoding: str) -> None:
    """Finding 3: a 1 MB gzip body reached 3.2 GB RSS. Decoding stops at the cap, holding about that much."""
    zeros = bytes(1024 * 1024)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31 if encoding == "gzip" else 15)
    head = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    unit = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)

    async def bomb() -> AsyncIterator[bytes]:
        yield head
        for _ in range(4096):  # 4 GiB decoded
            yield unit

    worker = vobiz_worker(streamed(bomb, {"Content-Encoding": encoding}))
    tracemalloc.start()
    try:
        with pytest.raises(BadResponse, match="over the 1 MiB cap"):
            await worker.adapter.get_call("u1")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_bytes_after_the_end_of_a_compressed_body_are_not_held(encoding: str) -> None:
    """Finding 3: a small compressed body followed by endless bytes. zlib keeps whatever follows the end of its
    stream (unused_data), so reading on held the whole trailer: hundreds of MB for a 1 MiB cap."""
    body = b'{"data": {"uuid": "u1", "call_status": "in-progress"}}'
    packed = zlib.compress(body) if encoding == "deflate" else gzip.compress(body)
    sent = 0

    async def trailer() -> AsyncIterator[bytes]:
        nonlocal sent
        yield packed
        for _ in range(200):
            sent += 1
            yield bytes(1024 * 1024)

    worker = vobiz_worker(streamed(trailer, {"Content-Encoding": encoding}))
    tracemalloc.start()
    try:
        call = await worker.adapter.get_call("u1")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert call.call_id == "u1"
    assert peak < 8 * 1024 * 1024 and sent < 200


async def test_a_redirect_is_reported_as_one() -> None:
    """Finding 3: a redirect was reported as "expected a JSON object, got NoneType"."""
    worker = vobiz_worker(lambda r: httpx.Response(302, headers={"Location": "https://elsewhere.test/x"}))
    with pytest.raises(BadResponse, match=re.escape("redirected to https://elsewhere.test/x")):
        await worker.adapter.get_call("u1")


# -- finding 6: a secret where an error message is cut ----------------------------------------------------------


@pytest.mark.parametrize("offset", [150, 170, 185, 195, 280, 295])
@pytest.mark.parametrize("where", ["redirect", "text-error"])
async def test_a_secret_echoed_where_an_error_is_cut_is_masked_whole(where: str, offset: int) -> None:
    """A provider echoes the key in a redirect's Location or a non-JSON error body, placed so that the message's
    cut falls inside it: no prefix of the key may be shown (a prefix was: the text was cut before masking)."""
    secret = "sk-hostile-test-7a1f93c2e5"
    redact.register(secret)
    try:
        pad = "x" * offset

        def handler(request: httpx.Request) -> httpx.Response:
            if where == "redirect":
                return httpx.Response(302, headers={"Location": f"https://e.test/{pad}{secret}"})
            return httpx.Response(500, content=f"{pad}{secret} is not valid".encode())

        worker = vobiz_worker(handler)
        with pytest.raises(ProviderError) as info:
            await worker.adapter.get_call("u1")
    finally:
        redact.forget_all()
    message = str(info.value)
    assert not any(secret[:n] in message for n in range(4, len(secret) + 1)), message


async def test_cloudagent_tokens_issued_without_end_keep_the_masks_bounded() -> None:
    """A CloudAgent that hands out a new session token on every request: each is masked while it is current,
    the API key always, and the set of masks stays bounded (it grew by one token per refresh, and rebuilding it
    on each new token grew costlier with every one)."""
    issued: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        issued.append(f"session-{len(issued):05d}-token")
        return httpx.Response(200, json={"status": "success", "token": issued[-1]})

    source = Source(name="ca", provider="cloudagent", options={"user_name": "u"}, base_url="https://api.test")
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    adapter = CloudAgentAdapter(source, {"api_key": "sk-cloudagent-api-key"}, client)
    redact.register("sk-cloudagent-api-key")
    try:
        for _ in range(200):
            await adapter._get_token(fresh=True)
        assert redact.scrub(f"{issued[-1]} sk-cloudagent-api-key") == "•••• ••••"
        assert redact.scrub(issued[0]) == issued[0]
    finally:
        redact.forget_all()
