"""Writes callmon/data/payload-values.json: the values of the providers' documented example payloads.

    python scripts/payload_dictionary.py

The store deflates each raw payload's values against a preset dictionary (callmon.model.pack); values like
these (timestamps, hangup causes, id and URL patterns) are what payloads repeat from one call to the next.
Built from the vendors' examples in tests/data, never from the simulator, so the benchmark doesn't grade a
dictionary trained on its own data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def records(value: Any) -> list[list[Any]]:
    """Every record-like object's values (4 fields or more), depth first."""
    found: list[list[Any]] = []
    if isinstance(value, dict):
        if len(value) > 3:
            found.append(list(value.values()))
        for item in value.values():
            found.extend(records(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(records(item))
    return found


def main() -> None:
    values = [
        rec
        for path in sorted((ROOT / "tests" / "data").glob("*.json"))
        for rec in records(json.loads(path.read_text()))
    ]
    out = ROOT / "callmon" / "data" / "payload-values.json"
    out.write_text(json.dumps(values, separators=(",", ":"), ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{out.relative_to(ROOT)}: {len(values)} records, {out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
