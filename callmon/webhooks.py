"""The webhook receiver: an ASGI app for providers that push (CloudAgent, Dialgen, Velip, Vobiz).

    POST /hooks/<source>/<token>      JSON or form-encoded; 202 at once, parsed and stored after

The token is an HMAC of the source name with a key kept in the user data dir (0600), so each source has its
own unguessable path that survives restarts (providers are configured with it once). A wrong source or
token is a bare 404 and nothing of the request is logged; a wrong method is a 405. Bodies are capped in
size (413) and in time (408); a malformed one is a 400 and nothing is stored; every refusal is one line of
JSON. Deliveries go through a bounded queue: under a flood the receiver slows its answers instead of
growing without bound or dropping anything, and answers 503 (retry later) when the queue stays full or the
receiver is stopping. The consumer stores what was queued in arrival order and cannot be stopped by a
delivery; stopping the receiver waits a bounded time for it, then says what was left unstored.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import platformdirs
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from callmon import untrusted
from callmon.crash import one_line
from callmon.files import FileError, write_private
from callmon.model import Call
from callmon.providers import ADAPTERS, Adapter, Source, pushing
from callmon.providers.base import rows_of
from callmon.providers.errors import BadRecord
from callmon.redact import scrub
from callmon.text import clean, cut

log = logging.getLogger("callmon.webhooks")
MAX_BODY = 1 << 20  # 1 MiB: a CDR batch is far smaller
MAX_FIELDS = 500  # in a form body
QUEUE_SIZE = 10_000
BODY_TIMEOUT = 10.0  # for the whole body, once the headers are in
BUSY_TIMEOUT = 10.0  # for room in a full queue before answering 503
DRAIN_GRACE = 2.0  # for storing what is queued when the receiver stops
METHODS = ("POST", "PUT", "GET")
MAX_RECORDS = 10_000  # in one delivery: providers push a call or a small batch at a time
STORE_BATCH = 256  # calls stored between turns of the event loop


class MalformedDelivery(ValueError):
    pass


def key_path() -> Path:
    return Path(platformdirs.user_data_dir("callmon")) / "webhook-key"


class WebhookKeyError(FileError):
    """The receiver's key file cannot be read or made; the message says which file and why."""


def load_key(path: Path | None = None) -> bytes:
    """The receiver's secret key: made once (0600 in a 0700 dir), then read. A key file that exists but is
    empty, short or unreadable is an error, never a key: an empty key would make every hook token
    HMAC(b"", source), which anyone can compute."""
    path = path or key_path()
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        key = secrets.token_bytes(32)
        write_private(path, key.hex())
        return key
    except (OSError, UnicodeDecodeError) as exc:
        raise WebhookKeyError(f"webhook key {path}: cannot read it: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 16:
        raise WebhookKeyError(
            f"webhook key {path} is damaged (empty or not a key): delete it and callmon makes a new one "
            "(the hook URLs change: give the providers the new ones)"
        )
    return key


def token_for(key: bytes, source: str) -> str:
    return hmac.new(key, source.encode(), hashlib.sha256).hexdigest()[:32]


def hook_path(key: bytes, source: str) -> str:
    return f"/hooks/{quote(source, safe='')}/{token_for(key, source)}"


def parse_body(raw: bytes, content_type: str) -> Any:
    """JSON or URL-encoded form, read as untrusted (callmon.untrusted); anything else is malformed."""
    if not raw.strip():
        raise MalformedDelivery("empty body")
    if "json" in content_type or raw.lstrip()[:1] in (b"{", b"["):
        try:
            return untrusted.loads(raw)
        except untrusted.Malformed as exc:
            raise MalformedDelivery(str(exc)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedDelivery("body is neither JSON nor UTF-8 form data") from None
    return _form(text, strict=True, what="form data")


def parse_query(raw: bytes) -> Any:
    """Query parameters (a GET delivery), read as leniently as browsers write them but with the form's caps."""
    return _form(raw.decode("latin-1"), strict=False, what="query parameters")


def _form(text: str, *, strict: bool, what: str) -> Any:
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=strict, max_num_fields=MAX_FIELDS)
    except ValueError as exc:
        raise MalformedDelivery(f"malformed {what}: {str(exc)[:80]}") from None
    if not pairs:
        raise MalformedDelivery(f"no {what}")
    return untrusted.sanitize(dict(pairs))


def _records_in(payload: Any) -> int:
    try:
        return len(rows_of(payload))
    except BadRecord:
        return 0


def normalize_delivery(adapter: Adapter, payload: Any) -> list[Call]:
    """Calls from one delivery, read by the source's adapter; MalformedDelivery when none can be read."""
    try:
        return adapter.normalize_push(payload)
    except BadRecord as exc:
        raise MalformedDelivery(exc.message) from None


@dataclass
class ReceiverStats:
    deliveries: int = 0
    calls: int = 0
    rejected: int = 0
    last_delivery: float | None = None  # wall clock
    last_source: str | None = None


@dataclass
class Receiver:
    """Accepts deliveries for the given sources and hands their calls to `sink` (the store's apply)."""

    sources: Mapping[str, Source]
    key: bytes
    sink: Callable[[Call], object]
    public_url: str | None = None
    stats: ReceiverStats = field(default_factory=ReceiverStats)
    address: str | None = None
    queue_size: int = QUEUE_SIZE
    body_timeout: float = BODY_TIMEOUT
    busy_timeout: float = BUSY_TIMEOUT
    _queue: asyncio.Queue[tuple[Source, list[Call]]] = field(init=False)
    _adapters: dict[str, Adapter] = field(init=False)
    _closed: asyncio.Event = field(init=False)
    _cut_short: int = field(init=False, default=0)  # calls of a delivery the consumer was stopped in

    def __post_init__(self) -> None:
        self._queue = asyncio.Queue(self.queue_size)
        self._closed = asyncio.Event()
        # Adapters without a client: they only read what is pushed.
        self._adapters = {name: ADAPTERS[s.provider](s) for name, s in self.sources.items()}

    def url_for(self, source: str) -> str | None:
        base = self.public_url or self.address
        return None if base is None else base.rstrip("/") + hook_path(self.key, source)

    def app(self) -> Starlette:
        async def not_found(request: Request, exc: Exception) -> Response:
            return Response(status_code=404)

        async def wrong_method(request: Request, exc: Exception | None) -> Response:
            return _error(405, "use POST (or GET with the record as query parameters)", allow=METHODS)

        async def hook(request: Request) -> Response:
            name = request.path_params["source"]
            source = self.sources.get(name)
            token = request.path_params["token"]
            if source is None or not hmac.compare_digest(token, token_for(self.key, name)):
                return Response(status_code=404)  # says nothing, logs nothing
            if request.method not in METHODS:  # HEAD, which Starlette routes along with GET
                return await wrong_method(request, None)
            try:
                return await self._receive(source, request)
            except ClientDisconnect:
                return Response(status_code=400)  # nobody is left to read it
            except Exception as exc:  # a bug, not the delivery's fault: one line, never a traceback per request
                log.error("webhook %s: a delivery failed: %s", name, one_line(exc))
                return _error(500, "internal error")

        return Starlette(
            routes=[Route("/hooks/{source}/{token}", hook, methods=METHODS)],
            exception_handlers={404: not_found, 405: wrong_method},
        )

    async def _receive(self, source: Source, request: Request) -> Response:
        if request.method == "GET":
            # Velip's rurl_method=GET: the record arrives as query parameters.
            try:
                return await self._accept(source, parse_query(request.scope["query_string"]))
            except MalformedDelivery as exc:
                self.stats.rejected += 1
                return _error(400, str(exc))
        # A 413 leaves the connection open: uvicorn discards the rest of the body, so the client can read the
        # answer once it has sent it, and the head deadline closes a connection that sends on and on.
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
            return _error(413, "body too large")
        body = bytearray()
        try:
            async with asyncio.timeout(self.body_timeout):
                async for chunk in request.stream():
                    body += chunk
                    if len(body) > MAX_BODY:
                        return _error(413, "body too large")
        except TimeoutError:
            return _error(408, f"body not received within {self.body_timeout:g} s", close=True)
        try:
            payload = parse_body(bytes(body), request.headers.get("content-type", ""))
        except MalformedDelivery as exc:
            self.stats.rejected += 1
            return _error(400, str(exc))
        return await self._accept(source, payload)

    async def _accept(self, source: Source, payload: Any) -> Response:
        if _records_in(payload) > MAX_RECORDS:
            self.stats.rejected += 1
            return _error(413, f"more than {MAX_RECORDS} records in one delivery")
        try:
            if payload is None:
                raise MalformedDelivery("no parameters")
            calls = normalize_delivery(self._adapters[source.name], payload)  # before saying 202
        except MalformedDelivery as exc:
            self.stats.rejected += 1
            return _error(400, str(exc))
        if not await self._enqueue((source, calls)):
            # The provider keeps what it was not told 202 for and sends it again later.
            return _error(503, "busy: send it again later", retry_after=max(1, round(self.busy_timeout)))
        return JSONResponse({"status": "accepted"}, status_code=202)

    async def _enqueue(self, item: tuple[Source, list[Call]]) -> bool:
        """Waits while the queue is full (slower answers, nothing dropped), but not past `busy_timeout` nor
        past `close()`: False when the delivery was not queued."""
        if self._closed.is_set():
            return False
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(item)
            return True
        put = asyncio.ensure_future(self._queue.put(item))
        closed = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait({put, closed}, timeout=self.busy_timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            if not put.done():
                put.cancel()
        return put.done() and not put.cancelled()

    async def run(self) -> None:
        """Store what was delivered, in arrival order, until cancelled. Nothing a delivery holds can stop it:
        calls the sink cannot take are counted and logged in one scrubbed line per delivery, and the next
        delivery goes on."""
        while True:
            source, calls = await self._queue.get()
            try:
                await self._store(source, calls)
            finally:
                self._queue.task_done()

    async def _store(self, source: Source, calls: list[Call]) -> None:
        failed, first = 0, ""
        for done, call in enumerate(calls):
            if done and done % STORE_BATCH == 0:
                try:
                    await asyncio.sleep(0)  # a big delivery must not freeze the screen or the server
                except asyncio.CancelledError:
                    self._cut_short = len(calls) - done
                    raise
            try:
                self.sink(call)
            except Exception as exc:
                failed, first = failed + 1, first or one_line(exc)
        if failed:
            self.stats.rejected += failed
            log.warning("webhook %s: %d of %d delivered calls not stored: %s", source.name, failed, len(calls), first)
        self.stats.deliveries += 1
        self.stats.calls += len(calls) - failed
        self.stats.last_delivery = time.time()
        self.stats.last_source = source.name

    async def drain(self) -> None:
        await self._queue.join()

    def close(self) -> None:
        """Take no more deliveries: later ones, and those waiting for room in the queue, are answered 503."""
        self._closed.set()

    async def stop(self, consumer: asyncio.Task[None], grace: float | None = None) -> int:
        """Close, store what is queued within `grace` seconds (DRAIN_GRACE), and stop `consumer` (the task
        running `run`). Returns how many deliveries were left unstored, and says so in one line if any."""
        self.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.drain(), DRAIN_GRACE if grace is None else grace)
        consumer.cancel()
        await asyncio.wait([consumer])
        if not consumer.cancelled() and consumer.exception() is not None:
            log.error("webhooks: the receiver had stopped: %s", one_line(consumer.exception() or Exception()))
        left, calls = (1, self._cut_short) if self._cut_short else (0, 0)
        while not self._queue.empty():
            left, calls = left + 1, calls + len(self._queue.get_nowait()[1])
            self._queue.task_done()
        if left:
            log.warning(
                "webhooks: stopped with %d deliveries (%d calls) not stored; providers that retry "
                "send them again", left, calls
            )
        return left

    @property
    def backlog(self) -> int:
        return self._queue.qsize()


def _error(
    status: int, message: str, *, close: bool = False, allow: tuple[str, ...] = (), retry_after: int = 0
) -> Response:
    """A one-line JSON answer. `close` for one sent before the body was read whole: what the client still
    sends must not be taken for a next request. The message can quote the delivery (a parser's words), so
    it is cleaned and masked like any text callmon shows."""
    message = cut(scrub(clean(message)), 200)
    headers = {"connection": "close"} if close else {}
    if allow:
        headers["allow"] = ", ".join(allow)
    if retry_after:
        headers["retry-after"] = str(retry_after)
    return JSONResponse({"status": "error", "message": message}, status_code=status, headers=headers)


def pushing_sources(sources: Mapping[str, Source]) -> dict[str, Source]:
    providers = pushing()
    return {name: s for name, s in sources.items() if s.provider in providers}
