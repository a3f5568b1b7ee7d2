"""The layers stay as DESIGN.md draws them: provider knowledge lives in callmon/providers (and the simulator,
which plays the providers), so a new provider is a new file there, not an edit everywhere."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import callmon
from callmon.providers import ADAPTERS

ROOT = Path(callmon.__file__).parent
ALLOWED = ("providers", "simulator")


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string nodes that are docstrings (prose about providers is fine)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def test_provider_names_appear_in_code_only_under_providers_and_simulator() -> None:
    names = re.compile(r"\b(" + "|".join(map(re.escape, ADAPTERS)) + r")\b", re.I)
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in ALLOWED:
            continue
        text = path.read_text(encoding="utf-8")
        if not names.search(text):
            continue  # no name anywhere, so none in a string: no need to parse
        tree = ast.parse(text)
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in skip
                and names.search(node.value)
            ):
                offenders.append(f"{relative}:{node.lineno}: {node.value[:60]!r}")
    assert not offenders, "provider knowledge outside callmon/providers:\n" + "\n".join(offenders)
