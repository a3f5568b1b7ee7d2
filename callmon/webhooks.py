"""The webhook receiver: an ASGI app for providers that push (CloudAgent, Dialgen, Velip, Vobiz).

    POST /hooks/<source>/<token>      JSON or form-encoded; 202 at once, parsed and stored after

The token is an HMAC of the source name with a key kept in the user data dir (0600), so each source has its
own unguessable path that survives restarts (providers are configured with it once). A wrong source or
token is a bare 404 and nothing of the request is logged. Bodies are capped; a malformed one is a 400 and
nothing is stored. Deliveries go through a bounded queue: under a flood the receiver slows its answers
instead of growing without bound or dropping anything.
"""

from __future__ import annotations

import asyncio
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
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from callmon import untrusted
from callmon.crash import one_line
from callmon.files import FileError, write_private
from callmon.model import Call
from callmon.providers import ADAPTERS, Adapter, Source, pushing
from callmon.providers.errors import BadRecord

log = logging.getLogger("callmon.webhooks")
MAX_BODY = 1 << 20  # 1 MiB: a CDR batch is far smaller
MAX_FIELDS = 500  # in a form body
QUEUE_SIZE = 10_000


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
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True, max_num_fields=MAX_FIELDS)
    except ValueError as exc:
        raise MalformedDelivery(f"malformed form data: {str(exc)[:80]}") from None
    if not pairs:
        raise MalformedDelivery("form body has no fields")
    return untrusted.sanitize(dict(pairs))


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
    _queue: asyncio.Queue[tuple[Source, list[Call]]] = field(init=False)
    _adapters: dict[str, Adapter] = field(init=False)

    def __post_init__(self) -> None:
        self._queue = asyncio.Queue(self.queue_size)
        # Adapters without a client: they only read what is pushed.
        self._adapters = {name: ADAPTERS[s.provider](s) for name, s in self.sources.items()}

    def url_for(self, source: str) -> str | None:
        base = self.public_url or self.address
        return None if base is None else base.rstrip("/") + hook_path(self.key, source)

    def app(self) -> Starlette:
        async def receive(request: Request) -> Response:
            name = request.path_params["source"]
            source = self.sources.get(name)
            token = request.path_params["token"]
            if source is None or not hmac.compare_digest(token, token_for(self.key, name)):
                return Response(status_code=404)  # says nothing, logs nothing
            if request.method == "GET":
                # Velip's rurl_method=GET: the record arrives as query parameters.
                return await self._accept(source, dict(request.query_params) or None)
            declared = request.headers.get("content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
                return _error(413, "body too large")
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_BODY:
                    return _error(413, "body too large")
            try:
                payload = parse_body(bytes(body), request.headers.get("content-type", ""))
            except MalformedDelivery as exc:
                self.stats.rejected += 1
                return _error(400, str(exc))
            return await self._accept(source, payload)

        return Starlette(routes=[Route("/hooks/{source}/{token}", receive, methods=["POST", "PUT", "GET"])])

    async def _accept(self, source: Source, payload: Any) -> Response:
        try:
            if payload is None:
                raise MalformedDelivery("no parameters")
            calls = normalize_delivery(self._adapters[source.name], payload)  # before saying 202
        except MalformedDelivery as exc:
            self.stats.rejected += 1
            return _error(400, str(exc))
        await self._queue.put((source, calls))  # waits when full: slower, never lossy
        return JSONResponse({"status": "accepted"}, status_code=202)

    async def run(self) -> None:
        """Store what was delivered, in arrival order, until cancelled. Nothing a delivery holds can stop it:
        a call the sink cannot take is logged once (scrubbed) and counted, and the next one goes on."""
        while True:
            source, calls = await self._queue.get()
            try:
                for call in calls:
                    try:
                        self.sink(call)
                    except Exception as exc:
                        self.stats.rejected += 1
                        log.warning("webhook %s: a delivered call was not stored: %s", source.name, one_line(exc))
                self.stats.deliveries += 1
                self.stats.calls += len(calls)
                self.stats.last_delivery = time.time()
                self.stats.last_source = source.name
            finally:
                self._queue.task_done()

    async def drain(self) -> None:
        await self._queue.join()

    @property
    def backlog(self) -> int:
        return self._queue.qsize()


def _error(status: int, message: str) -> Response:
    return JSONResponse({"status": "error", "message": message}, status_code=status)


def pushing_sources(sources: Mapping[str, Source]) -> dict[str, Source]:
    providers = pushing()
    return {name: s for name, s in sources.items() if s.provider in providers}
