"""A real redis-server for tests: started on a free loopback port with AOF in a temp dir, stopped by PID.
Never the system's 6379. Found as $CALLMON_TEST_REDIS, `redis-server` or `valkey-server`; missing, the tests
skip with the reason, or fail when CI=true (CI must run them)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest


def server_binary() -> str | None:
    named = os.environ.get("CALLMON_TEST_REDIS")
    if named:
        return named
    return shutil.which("redis-server") or shutil.which("valkey-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )


def require_binary() -> str:
    binary = server_binary()
    if binary is None:
        reason = "redis-server is not installed (scripts/test.sh installs it with apt)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: CI must run the team-mode tests")
        pytest.skip(reason)
    return binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class RedisServer:
    binary: str
    directory: Path
    port: int = 0
    aof: bool = True
    extra: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    tls_port: int = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> RedisServer:
        if not self.port:
            self.port = free_port()
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "yes" if self.aof else "no", "--appendfsync", "everysec",
            "--dir", str(self.directory), "--daemonize", "no", "--logfile", str(self.directory / "redis.log"),
            *self.extra,
        ]  # fmt: skip
        assert self.port != 6379
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = (self.directory / "redis.log").read_text(errors="replace")[-500:]
                raise RuntimeError(f"redis-server exited: {log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    reply = sock.recv(64)
                    if reply.startswith((b"+PONG", b"-NOAUTH")):
                        return self
            except OSError:
                time.sleep(0.01)
        raise RuntimeError("redis-server did not answer within 10 s")

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()
