"""A bare HTTP/1.1 client on asyncio streams, for tests that must control every byte and its timing (slow
clients, idle connections, floods) or that httpx would make slow."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Conn:
    """One keep-alive connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str) -> Conn:
        parts = urlsplit(url)
        assert parts.hostname is not None and parts.port is not None
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def request(
        self, method: str, target: str, body: bytes = b"", content_type: str = "application/json"
    ) -> Answer:
        await self.send(head(method, target, len(body), content_type) + body)
        return await self.answer()

    async def answer(self) -> Answer:
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("closed before an answer")
        headers: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return Answer(int(status_line.split()[1]), headers, body)

    async def closed_within(self, seconds: float) -> float | None:
        """Seconds until the server closed the connection (reading and discarding), None if it did not."""
        start = time.monotonic()
        try:
            async with asyncio.timeout(seconds):
                while await self.reader.read(65536):
                    pass
        except TimeoutError:
            return None
        except ConnectionError:
            pass
        return time.monotonic() - start

    def close(self) -> None:
        self.writer.close()


def head(method: str, target: str, length: int | None = None, content_type: str = "application/json") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "host: test"]
    if length is not None:
        lines += [f"content-type: {content_type}", f"content-length: {length}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
