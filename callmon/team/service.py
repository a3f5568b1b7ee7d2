"""`callmon serve` as a process: logs to stderr (systemd takes it as is), SIGTERM or SIGINT is a clean stop
(pending changes published, leases released at once), and a fatal problem at start is one line and a
non-zero exit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence

import httpx

from callmon import __version__, redact
from callmon.config import Webhooks
from callmon.files import FileError
from callmon.history import History, HistoryError, default_path
from callmon.providers import Budget, Source
from callmon.serve import bind, serving, url_of
from callmon.team.collector import Collector
from callmon.team.connect import Refused
from callmon.team.settings import TeamSettings
from callmon.webhooks import Receiver, load_key, pushing_sources

log = logging.getLogger("callmon.team")
WEBHOOK_KEY_ENV = "CALLMON_WEBHOOK_KEY"
EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2


def setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("callmon serve: %(message)s"))
    handler.addFilter(redact.RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("uvicorn").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)


def webhook_key() -> bytes:
    """The receiver's key, the same on every collector (a provider is given one hook URL, whichever collector
    the proxy sends it to): CALLMON_WEBHOOK_KEY (hex), else the data dir's key file (copy it to each)."""
    value = os.environ.get(WEBHOOK_KEY_ENV, "").strip()
    if value:
        try:
            key = bytes.fromhex(value)
        except ValueError:
            key = b""
        if len(key) < 16:
            raise FileError(f"{WEBHOOK_KEY_ENV} must be at least 32 hex digits (16 bytes)")
        redact.register(value)
        return key
    return load_key()


async def run(
    settings: TeamSettings,
    password: str | None,
    pairs: Sequence[tuple[Source, Mapping[str, str]]],
    *,
    webhooks: Webhooks | None = None,
    retention_days: float = 7.0,
    tick_hz: float = 4.0,
    history_path: object = None,
    budgets: Mapping[str, Mapping[str, Budget]] | None = None,
    resolve: Callable[[Source], dict[str, str]] | None = None,
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    history: History | None = None
    path = default_path() if history_path is None else history_path
    if path:
        from pathlib import Path

        history = History(Path(str(path)), retention_days=retention_days)
        try:
            history.open()
            if history.read_only:
                log.warning("history %s is written by another callmon (pid %s): not kept here", path,
                            history.shared_with)  # fmt: skip
                history.close()
                history = None
        except HistoryError as exc:
            log.warning("%s", exc)
            history = None
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(
            httpx.AsyncClient(headers={"User-Agent": f"callmon/{__version__}"})
        )
        collector = Collector(
            settings, password, pairs, client, history=history, retention_days=retention_days,
            tick_hz=tick_hz, budgets=budgets, resolve=resolve,
        )  # fmt: skip
        receiver = await _receiver(stack, collector, pairs, webhooks)
        if receiver is False:
            return EXIT_RUNTIME
        try:
            await collector.start()
        except Refused as exc:
            print(f"callmon: {exc}", file=sys.stderr)
            await collector.stop()
            return EXIT_USAGE
        names = ", ".join(s.name for s, _ in pairs)
        log.info("collector %s (callmon %s) for %s on %s%s", collector.owner, __version__, names,
                 settings.shown, f", {collector.version}" if collector.version else "")  # fmt: skip
        if isinstance(receiver, tuple):
            log.info("webhooks: listening on %s", receiver[0].address)
        await stop.wait()
        log.info("stopping: publishing what is pending and releasing leases")
        if isinstance(receiver, tuple):
            await receiver[0].stop(receiver[1])  # what it still holds goes to the inbox first
        await collector.stop()
    return EXIT_OK


async def _receiver(
    stack: contextlib.AsyncExitStack,
    collector: Collector,
    pairs: Sequence[tuple[Source, Mapping[str, str]]],
    webhooks: Webhooks | None,
) -> tuple[Receiver, asyncio.Task[None]] | bool | None:
    if webhooks is None or not webhooks.listen:
        return None
    sources = pushing_sources({s.name: s for s, _ in pairs})
    if not sources:
        return None
    host, _, port = webhooks.listen.rpartition(":")
    try:
        sock = bind(host.strip("[]"), int(port))
    except OSError as exc:
        print(f"callmon: webhooks: cannot listen on {webhooks.listen}: {exc.strerror or exc}", file=sys.stderr)
        return False
    try:
        key = webhook_key()
    except FileError as exc:
        sock.close()
        print(f"callmon: webhooks: {exc}", file=sys.stderr)
        return False
    receiver = Receiver(sources, key, collector.deliver, webhooks.public_url)
    receiver.address = url_of(sock)
    await stack.enter_async_context(serving(receiver.app(), sock))
    consumer = asyncio.create_task(receiver.run(), name="webhook-receiver")
    return receiver, consumer
