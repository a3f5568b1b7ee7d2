"""Team-mode tests: one real redis-server for the session (each test under its own key prefix), and servers
of their own for the tests that restart, freeze or encrypt one."""

from __future__ import annotations

import faulthandler
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from callmon.team.settings import TeamSettings
from tests.integration.team.engine import RedisServer, require_binary


@pytest.fixture(autouse=True)
def no_hang() -> Iterator[None]:
    """A team test that hangs ends the run with every thread's stack, rather than CI's whole time."""
    faulthandler.dump_traceback_later(120, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(require_binary(), tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Servers of the test's own (to kill, freeze, restart); all stopped after it."""
    binary = require_binary()
    servers: list[RedisServer] = []

    def make(name: str = "own", **kwargs: object) -> RedisServer:
        server = RedisServer(binary, tmp_path / f"redis-{name}", **kwargs)  # type: ignore[arg-type]
        servers.append(server)
        return server

    try:
        yield make
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}:"


def settings_for(url: str, prefix: str, **kwargs: object) -> TeamSettings:
    """Short leases, as tests use them: TTL 1 s, renewed every 0.3 s."""
    values: dict[str, object] = {"lease_ttl": 1.0, "prefix": prefix}
    values.update(kwargs)
    return TeamSettings(url, **values)  # type: ignore[arg-type]
