"""Connecting to the engine, and what its errors mean in one line."""

from __future__ import annotations

import asyncio
import os
import ssl
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    NoPermissionError,
    RedisError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from callmon import redact
from callmon.team.settings import TeamSettings

# redis-py annotates its sync and asyncio clients together (results typed as `Awaitable[T] | T`, replies as
# unions of every RESP shape), which strict typing cannot use: replies are checked where they are read.
Engine = Any
MIN_VERSION = (7, 0)


class EngineError(Exception):
    """The team engine cannot be used as asked; the message is one line."""


class Unreachable(EngineError):
    """The engine does not answer (down, frozen, unreachable): worth trying again."""


class Refused(EngineError):
    """The engine answers but refuses us (password, ACL, TLS, version): trying again will not help."""


def connect(settings: TeamSettings, password: str | None, *, blocking: float = 0.0) -> Engine:
    """A client (no connection is made until the first command). `blocking`: the longest BLOCK this client's
    commands use, added to its read timeout."""
    if password:
        redact.register(password)
    kwargs: dict[str, Any] = {
        "username": settings.user,
        "password": password,
        "socket_timeout": settings.timeout + blocking,
        "socket_connect_timeout": settings.timeout,
        # One attempt per command: a lease renewal retried for seconds would outlive the lease.
        "retry": Retry(NoBackoff(), 0),
        "driver_info": None,  # no CLIENT SETINFO: the viewer's ACL need not allow it
    }
    if settings.url.startswith("rediss://"):
        kwargs["ssl_cert_reqs"] = "required"
        if settings.ca_file:
            kwargs["ssl_ca_certs"] = os.path.expanduser(settings.ca_file)
    return aioredis.Redis.from_url(settings.url, **kwargs)


def explain(exc: BaseException, settings: TeamSettings) -> EngineError:
    """An engine error as one line naming the engine (never its password)."""
    where = f"team engine {settings.shown}"
    if isinstance(exc, EngineError):
        return exc
    if isinstance(exc, AuthenticationError) or "WRONGPASS" in str(exc) or "NOAUTH" in str(exc):
        who = f"user {settings.user!r}" if settings.user else "the default user"
        return Refused(
            f"{where}: wrong password or unknown user ({who}); set CALLMON_TEAM_PASSWORD or run "
            "`callmon auth set team`"
        )
    if isinstance(exc, (NoPermissionError, AuthorizationError)) or "NOPERM" in str(exc):
        return Refused(f"{where}: not allowed: {_first(exc)} (see the ACL lines in docs/team.md)")
    if isinstance(exc, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(exc) or "SSL" in str(exc):
        hint = " (set [team] ca_file to the CA that signed the engine's certificate)" if not settings.ca_file else ""
        return Refused(f"{where}: TLS failed: {_first(exc)}{hint}")
    if isinstance(exc, (RedisTimeoutError, TimeoutError)):
        return Unreachable(f"{where}: no answer within {settings.timeout:g}s")
    if isinstance(exc, (RedisConnectionError, OSError)):
        return Unreachable(f"{where}: unreachable: {_first(exc)}")
    if isinstance(exc, ResponseError):
        return Refused(f"{where}: {_first(exc)}")
    if isinstance(exc, RedisError):
        return Unreachable(f"{where}: {_first(exc)}")
    return EngineError(f"{where}: {type(exc).__name__}: {_first(exc)}")


ENGINE_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError, ssl.SSLError)


def _first(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return redact.scrub(text)[:200]


async def check(engine: Engine, settings: TeamSettings) -> str:
    """PING the engine and read its version; EngineError (one line) when it cannot be used."""
    try:
        await engine.ping()
        info = await engine.info("server")
    except ENGINE_ERRORS as exc:
        raise explain(exc, settings) from None
    version = str(info.get("valkey_version") or info.get("redis_version") or "0")
    numbers = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    if numbers < MIN_VERSION:
        raise Refused(f"team engine {settings.shown}: Redis {version} is too old (7.0 or later, or Valkey)")
    name = "valkey" if info.get("valkey_version") or info.get("server_name") == "valkey" else "redis"
    return f"{name} {version}"


def still_running() -> None:
    """CancelledError when the current task is being cancelled. Loops that catch engine errors call it: a
    cancel that arrives inside the client can come out as a connection error, which must not keep the loop
    going (a stop would wait on it forever)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
