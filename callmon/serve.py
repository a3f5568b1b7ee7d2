"""Serving an ASGI app with uvicorn inside the caller's event loop, on a socket bound up front.

Binding first means port 0 works (the OS picks a free port and we can say which), and a port that is taken
fails before anything else starts, with the OS's own words.

What a client can hold of the server is bounded (`Limits`): connections past a cap are answered 503 and
closed as they are accepted; a request head (line and headers) must arrive whole within a deadline and fit
h11's size cap; an idle keep-alive connection is closed by uvicorn; and stopping takes a bounded time, in-
flight requests being cut off after a grace period. When the process runs out of file descriptors the
server pauses accepting and says so in one line per interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import math
import os
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("callmon.serve")

# accept() errors that say the process or system is out of something: retrying at once cannot succeed.
_STARVED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
# accept() errors about one connection (gone before it was accepted, refused by a firewall hook).
_ONE_CONNECTION = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.EINTR, errno.EAGAIN})


@dataclass(frozen=True)
class Limits:
    """What clients may hold of a server. The defaults suit providers pushing webhooks and the simulator."""

    max_connections: int = 256  # past this, new connections are answered 503 and closed
    head_timeout: float = 10.0  # for a request's line and headers, from connecting or the previous response
    max_head_bytes: int = 16 * 1024  # request line and headers (h11's cap, answered 400 past it)
    keep_alive: int = 5  # seconds an idle connection is kept between requests
    shutdown_grace: float = 2.0  # for requests in flight when the server stops; then they are cut off
    accept_pause: float = 0.5  # after accept() failed for want of file descriptors
    report_every: float = 10.0  # at most one log line per interval for each thing that can repeat


class _Report:
    """One log line per interval for something that can happen thousands of times a second."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.last = -math.inf
        self.unreported = 0

    def note(self, message: str) -> None:
        self.unreported += 1
        now = time.monotonic()
        if now - self.last >= self.interval:
            times = "" if self.unreported == 1 else f" ({self.unreported} times since the last report)"
            log.warning("%s%s", message, times)
            self.last, self.unreported = now, 0


def _answer(status: int, reason: str, message: str) -> bytes:
    body = json.dumps({"status": "error", "message": message}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode() + body


_TOO_MANY = _answer(503, "Service Unavailable", "too many connections")


class _Connection(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request head, which uvicorn lacks: without it a
    client that connects and sends nothing, or trickles its headers a byte at a time, holds its
    connection (and a file descriptor) for as long as it likes."""

    def __init__(self, *args: Any, head_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timeout = head_timeout
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def on_response_complete(self) -> None:
        # Armed before uvicorn goes on to a pipelined request, so that request counts as a new head.
        self._await_head()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        self._head_deadline = self.loop.call_later(self._head_timeout, self._head_overdue, self.cycle)

    def _head_overdue(self, cycle: object) -> None:
        # uvicorn starts a new cycle for each request head it has read whole: the same cycle means none came.
        if self.cycle is cycle and not self.transport.is_closing():
            self.transport.close()


class _Server(uvicorn.Server):
    """uvicorn's server, accepting connections itself. asyncio's own accept loop, on running out of file
    descriptors, logs a traceback and schedules a retry for every pending connection up to the listen
    backlog, on every wakeup: a busy loop writing megabytes of log a second. Here accept() is retried
    after a pause, said once per interval, and connections past the cap are turned away at once."""

    def __init__(self, config: uvicorn.Config, limits: Limits) -> None:
        super().__init__(config)
        self.limits = limits
        self.cutting_off = False
        self._acceptor: asyncio.Task[None] | None = None
        self._starved = _Report(limits.report_every)
        self._crowded = _Report(limits.report_every)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Ctrl-C belongs to the program embedding the server (the monitor, `callmon simulate`), not to uvicorn.
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        if not sockets or len(sockets) != 1:
            raise ValueError("serve one bound socket")
        await self.lifespan.startup()
        loop = asyncio.get_running_loop()

        def connection() -> asyncio.Protocol:
            return _Connection(
                config=self.config,
                server_state=self.server_state,
                app_state=self.lifespan.state,
                _loop=loop,
                head_timeout=self.limits.head_timeout,
            )

        self.servers = []
        self._acceptor = asyncio.create_task(self._accept(sockets[0], connection), name="accept")
        self.started = True

    async def _accept(self, sock: socket.socket, connection: Callable[[], asyncio.Protocol]) -> None:
        loop = asyncio.get_running_loop()
        while sock.fileno() != -1:
            try:
                conn, _ = await loop.sock_accept(sock)
            except OSError as exc:
                if exc.errno in _ONE_CONNECTION:
                    continue
                reason = os.strerror(exc.errno) if exc.errno else str(exc)
                verb = "pausing" if exc.errno in _STARVED else "retrying"
                self._starved.note(f"cannot accept connections on {_address(sock)}: {reason}; {verb}")
                await asyncio.sleep(self.limits.accept_pause)
                continue
            if len(self.server_state.connections) >= self.limits.max_connections:
                self._crowded.note(
                    f"{_address(sock)}: {self.limits.max_connections} connections open; turning new ones away"
                )
                _turn_away(conn)
                continue
            try:
                await loop.connect_accepted_socket(connection, conn)
            except OSError:
                conn.close()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._acceptor is not None:
            self._acceptor.cancel()
            await asyncio.wait([self._acceptor])
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()  # idle ones close now; busy ones after their response
        if not await self._settled(self.limits.shutdown_grace):
            # A cut connection ends its request as a client disconnect, which the app answers quietly.
            for connection in list(self.server_state.connections):
                with contextlib.suppress(AttributeError):
                    connection.transport.abort()
            if not await self._settled(0.5):
                self.cutting_off = True
                for task in self.server_state.tasks:
                    task.cancel()
        await self.lifespan.shutdown()

    async def _settled(self, within: float) -> bool:
        deadline = time.monotonic() + within
        while self.server_state.connections or self.server_state.tasks:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True


def _turn_away(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.setblocking(False)
        conn.send(_TOO_MANY)
        # Reading what the client sent first lets close() end with FIN, not a reset that could discard the 503.
        conn.recv(65536)
    conn.close()


def _address(sock: socket.socket) -> str:
    try:
        return url_of(sock)
    except OSError:
        return "the listening socket"


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; raises OSError with the reason (in use, not permitted, no such address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.setblocking(False)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@contextlib.asynccontextmanager
async def serving(app: Any, sock: socket.socket, limits: Limits | None = None) -> AsyncIterator[uvicorn.Server]:
    """Run uvicorn on `sock` until the block exits; the socket is closed after."""
    limits = limits or Limits()
    server: _Server

    async def quietly_cut_off(scope: Any, receive: Any, send: Any) -> None:
        try:
            await app(scope, receive, send)
        except asyncio.CancelledError:
            if not server.cutting_off:
                raise
            # The server is stopping and ended this request: uvicorn would log it as a crash.

    config = uvicorn.Config(
        quietly_cut_off,
        http="h11",
        ws="none",
        lifespan="off",
        log_config=None,  # uvicorn's records go through callmon's logging (and its secret filter)
        log_level="warning",
        access_log=False,
        timeout_keep_alive=limits.keep_alive,
        h11_max_incomplete_event_size=limits.max_head_bytes,
    )
    server = _Server(config, limits)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # re-raise why it could not start
                raise RuntimeError("server stopped before it started")
            await asyncio.sleep(0.01)
        yield server
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, timeout=limits.shutdown_grace + 2)
        sock.close()
