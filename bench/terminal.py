"""The monitor in a real pseudo-terminal (160x50): bytes written per second, CPU, event-loop lag p99.

    python bench/terminal.py [--seconds 10]

Scenarios: idle; 50 visible status changes a second; 500 a second to off-screen rows; the visible load
again in the low-bandwidth mode (--fps 2 --colors 256); and `callmon demo` itself with the simulator in its
own process on a loopback socket, where the end-to-end lag is measured: from the moment the simulator's
clock passed a call's status change to the frame that shows it on the terminal (polling intervals, rate
limits, CDR delays and the engine's tick included). Bytes are counted after a warm-up that covers the
first full paint.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
COLUMNS, LINES = 160, 50
WARMUP = 3.0
TICKS = os.sysconf("SC_CLK_TCK")


SCENARIOS = [
    ("idle (5,000 calls, nothing changes)", []),
    ("50 visible changes/s", ["--rate", "50", "--where", "visible"]),
    ("500 off-screen changes/s", ["--rate", "500", "--where", "offscreen"]),
    ("50 visible changes/s, --fps 2 --colors 256", ["--rate", "50", "--where", "visible", "--fps", "2",
                                                     "--colors", "256"]),
]  # fmt: skip


@dataclass
class Outcome:
    name: str
    bytes_per_s: float
    cpu_percent: float
    lag_p99_ms: float
    e2e: str = ""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def run(
    name: str,
    seconds: float,
    extra: list[str],
    wrap: Callable[[list[str]], list[str]] | None = None,
    window: Callable[[bool], None] | None = None,
) -> Outcome:
    """One scenario. `wrap` turns the monitor's command line into the one the pty runs (bench/ssh.py runs it
    through ssh); `window` is told when the counted window opens (True) and closes (False)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        env = {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor", "COLUMNS": str(COLUMNS),
               "LINES": str(LINES)}  # fmt: skip
        command = [sys.executable, str(HERE / "pty_child.py"), "--seconds", str(seconds + WARMUP),
                   "--report", str(report), *extra]  # fmt: skip
        proc = subprocess.Popen(
            wrap(command) if wrap else command,
            stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True, start_new_session=True,
        )  # fmt: skip
        os.close(slave)
        start = time.monotonic()
        counted = 0
        cpu_start = None
        window_start = 0.0
        while True:
            ready, _, _ = select.select([master], [], [], 0.1)
            now = time.monotonic()
            if cpu_start is None and now - start >= WARMUP:
                cpu_start, window_start = cpu_seconds(proc.pid), now
                if window:
                    window(True)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    break
                if not data:
                    break
                if cpu_start is not None:
                    counted += len(data)
            if proc.poll() is not None:
                break
            if cpu_start is not None and now - window_start >= seconds:
                break
        elapsed = time.monotonic() - window_start
        if window:
            window(False)
        cpu = cpu_seconds(proc.pid) - (cpu_start or 0) if proc.poll() is None else float("nan")
        # Let it finish on its own so it writes its lag report (it exits after its own timer).
        while proc.poll() is None:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    os.read(master, 65536)
                except OSError:
                    break
        proc.wait(10)
        os.close(master)
        got = json.loads(report.read_text()) if report.exists() else {}
    e2e = ""
    if "e2e_p50_s" in got:
        e2e = f"p50 {got['e2e_p50_s']:.1f} s, p95 {got['e2e_p95_s']:.1f} s ({got['e2e_samples']} changes)"
    return Outcome(name, counted / elapsed, 100 * cpu / elapsed, got.get("lag_p99_ms", float("nan")), e2e)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--demo-seconds", type=float, default=60.0, help="the end-to-end scenario's length")
    args = parser.parse_args()
    results = [run(name, args.seconds, extra) for name, extra in SCENARIOS]
    results.append(run("callmon demo, simulator over loopback", args.demo_seconds, ["--demo"]))
    print(f"pty bench: the monitor in a {COLUMNS}x{LINES} pseudo-terminal, {args.seconds:g} s per scenario "
          f"after {WARMUP:g} s of warm-up")  # fmt: skip
    print()
    header = f"{'scenario':<46} {'bytes/s':>9} {'CPU %':>6} {'loop lag p99':>13}   end-to-end lag"
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r.name:<46} {r.bytes_per_s:>9,.0f} {r.cpu_percent:>6.1f} {r.lag_p99_ms:>10.1f} ms   {r.e2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
