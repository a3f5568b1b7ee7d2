"""The monitor over a real `ssh localhost` session: bytes on the wire, as a user on a slow link pays them.

    python bench/ssh.py [--seconds 10]

Starts its own sshd (openssh-server) on a loopback port with throwaway keys, in a temporary directory (the
system's sshd and its configuration are not touched), and runs bench/terminal.py's scenarios through
`ssh -tt` in a 160x50 pseudo-terminal. A counting relay between the client and sshd measures what crosses
the connection each way: the terminal's bytes plus SSH's framing, padding and MACs. The bytes the ssh client
writes to its terminal are counted too, so the table shows what SSH adds, and what `ssh -C` saves.

Needs `sshd` (Debian: `apt-get install openssh-server`) and `ssh`; without them it says so and exits.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import terminal

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)


@dataclass
class Wire:
    """Bytes relayed each way, and the counts when the measured window opened and closed."""

    down: int = 0  # sshd -> client: what a user's downlink carries
    up: int = 0
    opened: tuple[int, int, float] = (0, 0, 0.0)
    closed: tuple[int, int, float] = (0, 0, 0.0)

    def window(self, opening: bool) -> None:
        mark = (self.down, self.up, time.monotonic())
        if opening:
            self.opened = mark
        else:
            self.closed = mark

    def per_second(self) -> tuple[float, float]:
        """Bytes a second down and up, over the window."""
        seconds = self.closed[2] - self.opened[2]
        return (self.closed[0] - self.opened[0]) / seconds, (self.closed[1] - self.opened[1]) / seconds


class Relay:
    """A TCP relay on loopback that counts the bytes it passes, one connection at a time."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.wire = Wire()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for src, dst, down in ((upstream, client, True), (client, upstream, False)):
                threading.Thread(target=self._pump, args=(src, dst, down), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, down: bool) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if down:
                    self.wire.down += len(data)
                else:
                    self.wire.up += len(data)
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._server.close()


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def sshd(directory: Path) -> Iterator[tuple[int, Path]]:
    """A private sshd on loopback that lets this user in with a key of its own: (port, the client's key)."""
    assert SSHD is not None
    for name in ("host", "client"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(directory / name)], check=True
        )
    (directory / "authorized_keys").write_text((directory / "client.pub").read_text())
    port = free_port()
    config = directory / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {directory / 'host'}\n"
        f"AuthorizedKeysFile {directory / 'authorized_keys'}\nPidFile {directory / 'sshd.pid'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
        "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nPrintMotd no\nPrintLastLog no\n"
    )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation, when run as root
    log = (directory / "sshd.log").open("w")
    daemon = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"bench/ssh.py: sshd did not start: {why(directory)}")
            time.sleep(0.1)
        yield port, directory / "client"
    finally:
        daemon.terminate()
        daemon.wait(10)
        log.close()


def why(directory: Path) -> str:
    """sshd's reason, from its log: the last line that says something failed, else its last line."""
    lines = (directory / "sshd.log").read_text().strip().splitlines() or ["sshd said nothing"]
    failed = [line for line in lines if any(w in line.lower() for w in ("fail", "fatal", "error", "denied"))]
    reason = (failed or lines)[-1]
    if os.geteuid() != 0 and "chown(/dev/pts" in reason:
        reason += " (run it as root: here a non-root sshd cannot give the session a terminal)"
    return reason


def through_ssh(port: int, key: Path, compress: bool) -> Callable[[list[str]], list[str]]:
    def wrap(command: list[str]) -> list[str]:
        # sshd gives the remote command a fresh environment: TERM comes with the pty request, the rest here.
        remote = shlex.join(["env", "COLORTERM=truecolor", *command])
        options = ["StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "LogLevel=ERROR", "BatchMode=yes",
                   f"Compression={'yes' if compress else 'no'}"]  # fmt: skip
        flags = [arg for option in options for arg in ("-o", option)]
        return ["ssh", "-F", "/dev/null", "-p", str(port), "-i", str(key), *flags, "-tt", "127.0.0.1", remote]

    return wrap


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    if SSHD is None or shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        print("ssh bench: skipped, sshd or ssh not found (Debian: apt-get install openssh-server)")
        return 0
    scenarios = [(name, extra, False) for name, extra in terminal.SCENARIOS]
    scenarios.append(("50 visible changes/s, ssh -C", terminal.SCENARIOS[1][1], True))
    rows = []
    with tempfile.TemporaryDirectory() as tmp, sshd(Path(tmp)) as (port, key):
        for name, extra, compress in scenarios:
            relay = Relay(port)
            try:
                outcome = terminal.run(
                    name,
                    args.seconds,
                    extra,
                    wrap=through_ssh(relay.port, key, compress),
                    window=relay.wire.window,
                )
            finally:
                relay.close()
            if outcome.lag_p99_ms != outcome.lag_p99_ms:  # NaN: the monitor never wrote its report
                raise SystemExit(f"bench/ssh.py: the monitor did not run over ssh ({name}): {why(Path(tmp))}")
            down, up = relay.wire.per_second()
            rows.append((name, outcome.bytes_per_s, down, up, outcome.lag_p99_ms))
    print(
        f"ssh bench: the monitor over ssh to 127.0.0.1 (a private sshd), {terminal.COLUMNS}x{terminal.LINES}, "
        f"{args.seconds:g} s per scenario after {terminal.WARMUP:g} s of warm-up; wire: both directions of the "
        "TCP connection, SSH's framing, padding and MACs included"
    )
    print()
    header = f"{'scenario':<46} {'terminal B/s':>12} {'wire down B/s':>14} {'wire up B/s':>12} {'loop lag p99':>13}"
    print(header)
    print("-" * len(header))
    for name, screen, down, up, lag in rows:
        print(f"{name:<46} {screen:>12,.0f} {down:>14,.0f} {up:>12,.0f} {lag:>10.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
