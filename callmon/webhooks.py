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
import json
import os
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

from callmon.model import Call
from callmon.providers import ADAPTERS, Source, cloudagent, dialgen, velip, vobiz

MAX_BODY = 1 << 20  # 1 MiB: a CDR batch is far smaller
QUEUE_SIZE = 10_000
PUSHING = ("cloudagent", "dialgen", "velip", "vobiz")
_ROW_KEYS = ("data", "details", "records", "rows", "calls", "callDetails")


class MalformedDelivery(ValueError):
    pass


def key_path() -> Path:
    return Path(platformdirs.user_data_dir("callmon")) / "webhook-key"


def load_key(path: Path | None = None) -> bytes:
    """The receiver's secret key: made once (0600 in a 0700 dir), then read."""
    path = path or key_path()
    try:
        return bytes.fromhex(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w") as handle:
        handle.write(key.hex())
    return key


def token_for(key: bytes, source: str) -> str:
    return hmac.new(key, source.encode(), hashlib.sha256).hexdigest()[:32]


def hook_path(key: bytes, source: str) -> str:
    return f"/hooks/{quote(source, safe='')}/{token_for(key, source)}"


def parse_body(raw: bytes, content_type: str) -> Any:
    """JSON or URL-encoded form; anything else is malformed."""
    if not raw.strip():
        raise MalformedDelivery("empty body")
    if "json" in content_type or raw.lstrip()[:1] in (b"{", b"["):
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise MalformedDelivery(f"malformed JSON: {exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedDelivery("body is neither JSON nor UTF-8 form data") from None
    pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True, max_num_fields=500)
    if not pairs:
        raise MalformedDelivery("form body has no fields")
    return dict(pairs)


def rows_of(payload: Any) -> list[Mapping[str, Any]]:
    """The call records in a delivery: a list, a list under a known key, or one record."""
    if isinstance(payload, list):
        rows = payload
    elif isinstance(payload, Mapping):
        nested = next((payload[k] for k in _ROW_KEYS if isinstance(payload.get(k), list)), None)
        rows = nested if nested is not None else [payload]
    else:
        raise MalformedDelivery(f"expected a JSON object or list, got {type(payload).__name__}")
    records = [r for r in rows if isinstance(r, Mapping)]
    if not records:
        raise MalformedDelivery("no call records in the body")
    return records


def normalize_delivery(source: Source, payload: Any) -> list[Call]:
    """Calls from one delivery, by the source's provider; MalformedDelivery when none can be read."""
    tz = ADAPTERS[source.provider].zone(source)
    if source.provider == "dialgen":
        # onCallComplete wraps one call ({success, callData}) or is flat ({event, callId, ...}).
        records = [payload] if isinstance(payload, Mapping) else rows_of(payload)
        calls = [dialgen.normalize(r, source.name) for r in records]
    elif source.provider == "cloudagent":
        calls = [cloudagent.normalize(r, source.name, tz) for r in rows_of(payload)]
    elif source.provider == "velip":
        calls = [velip.normalize(r, source.name, tz) for r in rows_of(payload)]
    elif source.provider == "vobiz":
        calls = [vobiz.normalize(r, source.name) for r in rows_of(payload)]
    else:
        raise MalformedDelivery(f"{source.provider} does not push")
    readable = [c for c in calls if c.call_id != "?"]
    if not readable:
        raise MalformedDelivery("no call id in the delivery")
    return readable


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
    _queue: asyncio.Queue[tuple[Source, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))

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
            normalize_delivery(source, payload)  # rejects what cannot be read before saying 202
        except MalformedDelivery as exc:
            self.stats.rejected += 1
            return _error(400, str(exc))
        await self._queue.put((source, payload))  # waits when full: slower, never lossy
        return JSONResponse({"status": "accepted"}, status_code=202)

    async def run(self) -> None:
        """Store what was delivered, in arrival order, until cancelled."""
        while True:
            source, payload = await self._queue.get()
            try:
                calls = normalize_delivery(source, payload)
            except MalformedDelivery:
                continue  # checked at the door; cannot happen, and must not stop the loop
            for call in calls:
                self.sink(call)
            self.stats.deliveries += 1
            self.stats.calls += len(calls)
            self.stats.last_delivery = time.time()
            self.stats.last_source = source.name
            self._queue.task_done()

    async def drain(self) -> None:
        await self._queue.join()

    @property
    def backlog(self) -> int:
        return self._queue.qsize()


def _error(status: int, message: str) -> Response:
    return JSONResponse({"status": "error", "message": message}, status_code=status)


def pushing_sources(sources: Mapping[str, Source]) -> dict[str, Source]:
    return {name: s for name, s in sources.items() if s.provider in PUSHING}
