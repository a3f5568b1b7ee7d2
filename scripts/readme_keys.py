"""Write the monitor's key tables into the README, between its `<!-- keys -->` markers, from the bindings
(the same ones the help screen and the command palette read). tests/integration/test_readme.py fails when the
README's tables are not what this writes.

    .venv/bin/python scripts/readme_keys.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

START, END = "<!-- keys: written by scripts/readme_keys.py -->", "<!-- /keys -->"


def tables() -> str:
    from callmon.tui.keys import markdown
    from callmon.tui.monitor import help_sections

    return markdown(help_sections())


def with_tables(readme: str) -> str:
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if not pattern.search(readme):
        raise SystemExit(f"README.md has no {START} … {END} block")
    return pattern.sub(lambda _: f"{START}\n{tables()}{END}", readme)


def main() -> int:
    path = ROOT / "README.md"
    path.write_text(with_tables(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
