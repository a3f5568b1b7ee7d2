"""A provider that misbehaves on purpose, on a real loopback socket (issue findings 3, 4, 5, 6 and 8).

It speaks just enough HTTP/1.1 by hand to misbehave below the level any web framework allows: a response
trickled one byte a second, a gzip or deflate bomb (a few MB on the wire, gigabytes decoded), a body of
hundreds of megabytes, pages that never end in each provider's pagination style, Retry-After extremes,
redirects, and a provider that echoes the secret it was sent into a record and an error message. Each
connection serves one request and closes; every request is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.hostile import INVISIBLE, TEMPLATES

REDIRECTS = (301, 302, 307)
SECRET_HEADERS = ("api_token", "authorization", "apikey", "x-auth-token")


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Plan:
    """How the provider misbehaves. `mode`: ok | slow | gzip-bomb | deflate-bomb | gzip-trailer | huge |
    huge-chunked | deep | endless-body | endless | endless-alternating (Velip's cursor A,B,A,B) | redirect |
    retry-after | echo (the secret in records) | echo-error (in an error message) | invisible | values."""

    mode: str = "ok"
    redirect: int = 302
    retry_after: str = "0"
    rows_per_page: int = 5
    bytes_per_second: float = 1.0
    bomb_mb: int = 4  # on the wire


@dataclass
class HostileProvider:
    provider: str
    plan: Plan = field(default_factory=Plan)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""
    secrets_seen: set[str] = field(default_factory=set)
    _handlers: set[asyncio.Task[Any]] = field(default_factory=set)

    # -- the HTTP side ------------------------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *lines = head.decode("latin-1").split("\r\n")
            method, target, _ = request_line.split(" ", 2)
            headers = {}
            for line in lines:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
            parts = urlsplit(target)
            seen = Seen(method, parts.path, parse_qs(parts.query), headers, body, asyncio.get_running_loop().time())
            self.seen.append(seen)
            for name in SECRET_HEADERS:
                value = headers.get(name, "")
                if value:
                    self.secrets_seen.add(value.removeprefix("Bearer "))
            await self._respond(seen, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client hung up on us: what a bounded client does
        finally:
            if task is not None:
                self._handlers.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _respond(self, seen: Seen, writer: asyncio.StreamWriter) -> None:
        mode = self.plan.mode
        if mode == "slow":
            payload = _http(200, json.dumps(self._answer(seen)).encode())
            for i in range(len(payload)):
                writer.write(payload[i : i + 1])
                await writer.drain()
                await asyncio.sleep(1 / self.plan.bytes_per_second)
            return
        if mode in ("gzip-bomb", "deflate-bomb"):
            head, unit = _bomb("gzip" if mode == "gzip-bomb" else "deflate")
            units = max(1, self.plan.bomb_mb * 1024 * 1024 // len(unit))
            encoding = "gzip" if mode == "gzip-bomb" else "deflate"
            length = len(head) + units * len(unit)
            writer.write(_head(200, {"Content-Encoding": encoding, "Content-Length": str(length)}))
            writer.write(head)
            for _ in range(units):
                writer.write(unit)
                await writer.drain()
            return
        if mode == "gzip-trailer":
            # A complete gzip body, then bytes without end (the connection's close would be the body's end).
            writer.write(_head(200, {"Content-Encoding": "gzip"}))
            writer.write(gzip.compress(json.dumps(self._answer(seen)).encode()))
            junk = bytes(1024 * 1024)
            for _ in range(1 << 20):
                writer.write(junk)
                await writer.drain()
            return
        if mode in ("huge", "huge-chunked", "endless-body"):
            # An opening bracket forever: a parser that got this far would recurse until it broke.
            chunk = b"[" * (1024 * 1024)
            total = 200 if mode != "endless-body" else 1 << 20  # MB
            if mode == "huge":
                writer.write(_head(200, {"Content-Length": str(total * len(chunk))}))
            else:
                writer.write(_head(200, {"Transfer-Encoding": "chunked"}))
            for _ in range(total):
                writer.write(chunk if mode == "huge" else b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
            return
        if mode == "deep":
            # A provider-shaped answer with one field nested 100,000 deep, far past any parser's recursion.
            answer = json.dumps(self._answer(seen)).encode()
            deep = b'{"deep": ' + b"[" * 100_000 + b"]" * 100_000 + b", "
            writer.write(_http(200, deep + answer[1:]))
        elif mode == "redirect":
            where = f"{self.url}/elsewhere{seen.path}"
            writer.write(_http(self.plan.redirect, b"", {"Location": where}))
        elif mode == "retry-after":
            body = json.dumps({"status": "error", "message": "Rate limit exceeded"}).encode()
            writer.write(_http(429, body, {"Retry-After": self.plan.retry_after}))
        elif mode == "echo-error":
            secret = " ".join(sorted(self.secrets_seen))
            echoed = {"status": "error", "message": f"bad key {secret}", "error": f"key={secret}"}
            writer.write(_http(400, json.dumps(echoed).encode()))
        else:
            writer.write(_http(200, self._wire(self._answer(seen))))
        await writer.drain()

    def _wire(self, answer: Any) -> bytes:
        text = json.dumps(answer)
        if self.plan.mode == "values":
            # What json.dumps would never write: NaN, Infinity, numbers past any range, a lone surrogate.
            text = (
                text.replace('"<nan>"', "NaN")
                .replace('"<inf>"', "-Infinity")
                .replace('"<1e400>"', "1e400")
                .replace('"<huge>"', "9" * 5000)
                .replace('"<surrogate>"', '"\\ud800x"')
                .replace('"<deep>"', '{"d": ' * 2000 + "0" + "}" * 2000)  # past json.dumps' own recursion limit
            )
        return text.encode()

    # -- the provider side --------------------------------------------------------------------------------------

    def _row(self, index: int, extra: dict[str, Any]) -> dict[str, Any]:
        provider = self.provider
        template = dict(_ROW_TEMPLATES[provider])
        template[_ID_FIELD[provider]] = f"h{index}" if provider != "velip" else 100_000 + index
        mode = self.plan.mode
        if mode == "echo":
            secret = " ".join(sorted(self.secrets_seen))
            template.update(
                {_TEXT_FIELD[provider]: f"echo {secret}", _TO_FIELD[provider]: secret, "echoed": secret, secret: "key"}
            )
        elif mode == "invisible":
            template.update({_TEXT_FIELD[provider]: f"a\x1b[2J\x1b]52;c;cHduZWQ=\x07{INVISIBLE}\u2028b"})
            template[_ID_FIELD[provider]] = f"h{index}{INVISIBLE}"
        elif mode == "values":
            template.update(
                {
                    _TEXT_FIELD[provider]: "<surrogate>",
                    _NUMBER_FIELD[provider]: "<nan>",
                    _TIME_FIELD[provider]: "9999-12-31T23:59:59-05:00",
                    "mos": "<inf>",
                    "extra": "<1e400>",
                    "big": "<huge>",
                    "deep": "<deep>",
                }
            )
            if index % self.plan.rows_per_page == 0:
                template["long"] = "x" * 1_000_000
        template.update(extra)
        return template

    def _rows(self, start: int) -> list[dict[str, Any]]:
        return [self._row(start + i, {}) for i in range(self.plan.rows_per_page)]

    def _answer(self, seen: Seen) -> Any:
        """A provider-shaped success for the request (endless pages when the plan says so)."""
        provider, path = self.provider, seen.path
        endless = self.plan.mode.startswith("endless")
        page_no = len([s for s in self.seen if _is_list(provider, s)])
        start = page_no * self.plan.rows_per_page
        if provider == "dialgood":
            row = self._row(0, {"campaignId": path.rsplit("/", 1)[-1]})
            return row
        if provider == "dialgen":
            return {"batchId": seen.query.get("batchId", ["b1"])[0], "calls": self._rows(start)}
        if provider == "cloudagent":
            if path.endswith("generateToken"):
                return {"status": "success", "token": f"cloudagent-session-{id(self):x}"}
            rows = self._rows(start)
            if endless:  # full pages and no totalCount
                rows = [self._row(start * 100 + i, {}) for i in range(500)]
                return {"status": "success", "details": rows}
            if self.plan.mode == "echo":
                token = seen.headers.get("authorization", "").removeprefix("Bearer ")
                rows[0]["echoed token"] = token
                rows[0][_TEXT_FIELD[provider]] = f"token {token}"
            return {"status": "success", "totalCount": len(rows), "details": rows}
        if provider == "velip":
            if self.plan.mode == "endless-alternating":
                cursor: Any = "A" if page_no % 2 else "B"
            else:
                cursor = f"c{page_no}"
            more = endless or self.plan.mode == "endless-alternating"
            pagination = {"has_more": more, "next_id": cursor if more else None}
            return {"return": {"status": "OK", "status_code": "0", "pagination": pagination}, "calls": self._rows(start)}
        # vobiz
        if "/Call/" in path:
            if path.endswith("/Call/"):
                return {"api_id": "x", "calls": []}
            return {"call_status": "in-progress", "call_uuid": path.rstrip("/").rsplit("/", 1)[-1]}
        pagination = {"page": page_no, "per_page": 100, "has_next": endless, "has_prev": page_no > 1}
        return {"data": self._rows(start), "pagination": pagination, "success": True}

    # -- running ------------------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[HostileProvider]:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0, limit=1 << 20)
        port = server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        try:
            yield self
        finally:
            server.close()
            # Handlers still trickling to a client that gave up must not outlive the test.
            for task in list(self._handlers):
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)

    def list_requests(self) -> list[Seen]:
        return [s for s in self.seen if _is_list(self.provider, s)]


def _is_list(provider: str, seen: Seen) -> bool:
    return {
        "dialgood": "/external/v1/cdr/",
        "dialgen": "/api/v1/status/batch",
        "cloudagent": "fetchCdrByPagination",
        "velip": "GetCallStatus",
        "vobiz": "/cdr",
    }[provider] in seen.path


_ROW_TEMPLATES: dict[str, dict[str, Any]] = {
    "dialgood": TEMPLATES["dialgood"][0],
    "dialgen": {**TEMPLATES["dialgen"][0], "status": "COMPLETED", "duration": 30},
    "cloudagent": TEMPLATES["cloudagent"][0],
    "velip": TEMPLATES["velip"][0],
    "vobiz": TEMPLATES["vobiz"][0]["data"],
}
_ID_FIELD = {"dialgood": "campaignId", "dialgen": "callId", "cloudagent": "UCID", "velip": "cd_id", "vobiz": "uuid"}
_TEXT_FIELD = {
    "dialgood": "sip_reason",
    "dialgen": "error",
    "cloudagent": "Disposition",
    "velip": "route",
    "vobiz": "hangup_cause_name",
}
_TO_FIELD = {  # shown in every format, the table's TO column included
    "dialgood": "to",
    "dialgen": "phoneNumber",
    "cloudagent": "DialedNumber",
    "velip": "dest",
    "vobiz": "destination_number",
}
_NUMBER_FIELD = {
    "dialgood": "callDuration",
    "dialgen": "duration",
    "cloudagent": "Duration",
    "velip": "value",
    "vobiz": "total_cost",
}
_TIME_FIELD = {
    "dialgood": "timestamp",
    "dialgen": "startTime",
    "cloudagent": "StartTime",
    "velip": "date",
    "vobiz": "end_time",
}


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} Hostile", "Content-Type: application/json", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _http(status: int, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    return _head(status, {"Content-Length": str(len(body)), **(headers or {})}) + body


@cache
def _bomb(encoding: str) -> tuple[bytes, bytes]:
    """The start of a compressed stream of zeros and one unit that can follow it any number of times: after a
    full flush the compressor's state is reset, so the same input compresses to the same bytes. 4 MiB of
    zeros a unit, about 4 KB compressed: a few MB on the wire is gigabytes decoded."""
    zeros = bytes(4 * 1024 * 1024)
    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    head = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    unit = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    return head, unit


__all__ = ["REDIRECTS", "HostileProvider", "Plan", "Seen"]
