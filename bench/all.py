"""Every benchmark, one table: python bench/all.py  (about 13 minutes on 2 cores).

Runs bench/table.py (with the DataTable baseline), bench/engine.py, bench/terminal.py and bench/ssh.py
(skipped, its figures n/a, without openssh-server), prints each one's own table, then one summary of the
figures against the targets.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (label, script, the row's label, which number after the label (0-based), unit, target)
FIGURES = [
    ("load 100k + first frame", "table", "load 100k + first frame", 0, "ms", 250),
    ("tick of 1,000 changes", "table", "tick: 1,000 random changes", 0, "ms", 20),
    ("one visible change", "table", "one visible change", 0, "ms", 2),
    ("one visible change, bytes", "table", "one visible change", 1, "B", 1024),
    ("  Textual's floor: a one-cell refresh", "table", "(Textual's floor: a one-cell refresh)", 0, "ms", None),
    ("filter to 5 %", "table", "filter to 5%", 0, "ms", 100),
    ("clear filter", "table", "clear filter", 0, "ms", 50),
    ("sort by TO (distinct values)", "table", "sort by TO (distinct values)", 0, "ms", 150),
    ("sort by STATUS (ties everywhere)", "table", "sort by STATUS (ties everywhere)", 0, "ms", 150),
    ("memory per call", "table", "memory:", 0, "B", 1024),
    ("DataTable: load 100k + first frame", "table", "load 100k + first frame", 2, "ms", None),
    ("DataTable: tick of 1,000 changes", "table", "tick: 1,000 random changes", 2, "ms", None),
    ("DataTable: filter to 5 %", "table", "filter to 5%", 2, "ms", None),
    ("engine: requests per status change", "engine", "all", 2, "", None),
    ("engine: lag p50, simulator -> store", "engine", "all", 3, "s", None),
    ("pty: idle", "terminal", "idle (5,000 calls, nothing changes)", 0, "B/s", 0),
    ("pty: 50 visible changes/s", "terminal", "50 visible changes/s", 0, "B/s", 20_000),
    ("pty: 50 visible changes/s, CPU", "terminal", "50 visible changes/s", 1, "%", 15),
    ("pty: 50 visible changes/s, loop lag p99", "terminal", "50 visible changes/s", 2, "ms", 10),
    ("pty: 500 off-screen changes/s", "terminal", "500 off-screen changes/s", 0, "B/s", 1024),
    ("pty: --fps 2 --colors 256, 50 visible/s", "terminal", "50 visible changes/s, --fps 2 --colors 256", 0,
     "B/s", None),
    ("ssh: idle, wire", "ssh", "idle (5,000 calls, nothing changes)", 1, "B/s", 0),
    ("ssh: 50 visible changes/s, wire", "ssh", "50 visible changes/s", 1, "B/s", 20_000),
    ("ssh: 500 off-screen changes/s, wire", "ssh", "500 off-screen changes/s", 1, "B/s", 1024),
    ("ssh: --fps 2 --colors 256, 50 visible/s, wire", "ssh", "50 visible changes/s, --fps 2 --colors 256", 1,
     "B/s", None),
    ("ssh -C: 50 visible changes/s, wire", "ssh", "50 visible changes/s, ssh -C", 1, "B/s", None),
    ("end-to-end lag p50, simulator -> screen", "terminal", "callmon demo, simulator over loopback", 3, "s",
     None),
    ("end-to-end lag p95, simulator -> screen", "terminal", "callmon demo, simulator over loopback", 4, "s",
     None),
    ("pty: callmon demo, bytes/s", "terminal", "callmon demo, simulator over loopback", 0, "B/s", None),
]  # fmt: skip
_NUMBER = re.compile(r"(?<![\w.,])-?\d[\d,]*(?:\.\d+)?")  # not the 50 of "p50"


def run(script: str) -> str:
    result = subprocess.run([sys.executable, str(HERE / f"{script}.py")], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"bench/{script}.py failed: {result.stderr.strip().splitlines()[-1:]}")
    return result.stdout


def figure(output: str, label: str, index: int) -> float | None:
    """The index-th number after `label` on the line that starts with exactly that label."""
    for line in output.splitlines():
        if not line.startswith(label):
            continue
        rest = line[len(label) :]
        if rest[:1] not in (" ", ""):
            continue  # "50 visible changes/s" must not match "50 visible changes/s, --fps 2 ..."
        numbers = [float(n.replace(",", "")) for n in _NUMBER.findall(rest)]
        return numbers[index] if index < len(numbers) else None
    return None


def main() -> int:
    outputs = {}
    for script in ("table", "engine", "terminal", "ssh"):
        print(f"== bench/{script}.py", flush=True)
        outputs[script] = run(script)
        print(outputs[script], flush=True)
    print("== summary")
    header = f"{'figure':<44} {'measured':>12} {'target':>10}  met"
    print(header)
    print("-" * len(header))
    for label, script, marker, index, unit, target in FIGURES:
        value = figure(outputs[script], marker, index)
        shown = "n/a" if value is None else f"{value:,.1f} {unit}".strip()
        goal = "" if target is None else f"< {target:,} {unit}".strip() if target else f"{target} {unit}"
        met = "" if target is None or value is None else ("yes" if value <= target else "no")
        print(f"{label:<44} {shown:>12} {goal:>10}  {met}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
