"""The README says what the program does: its key tables are the bindings', and its commands exist."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_key_tables_are_the_bindings() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from readme_keys import with_tables
    finally:
        sys.path.pop(0)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert with_tables(readme) == readme, "run scripts/readme_keys.py: the README's keys are not the bindings'"


def test_every_command_the_readme_names_exists(capsys: pytest.CaptureFixture[str]) -> None:
    from callmon.cli import main

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = set(re.findall(r"`callmon ([a-z]+)[ `]", readme)) - {"demo"}
    assert {"watch", "history", "auth", "sources", "simulate", "config"} <= commands
    for command in sorted(commands):
        try:
            code = main([command, "--help"])
        except SystemExit as done:
            code = done.code  # type: ignore[assignment]
        assert code == 0, command
    capsys.readouterr()
