"""The key table, read off the bindings: the help screen, the command palette and the README's table all come
from the same `BINDINGS`, so none of them can say a key does something it does not."""

from __future__ import annotations

from collections.abc import Iterable

from textual.binding import Binding, BindingType

# How keys read in the help screen and the README (Textual's names are for code).
_NAMES = {
    "slash": "/",
    "question_mark": "?",
    "escape": "esc",
    "enter": "enter",
    "space": "space",
    "pageup": "pgup",
    "pagedown": "pgdn",
    "up": "↑",
    "down": "↓",
    "left": "←",
    "right": "→",
    "tab": "tab",
    "home": "home",
    "end": "end",
    "ctrl+c": "ctrl+c",
    "ctrl+p": "ctrl+p",
}


def key_name(key: str) -> str:
    return _NAMES.get(key, key)


def bindings(items: Iterable[BindingType]) -> list[Binding]:
    out = []
    for item in items:
        if isinstance(item, Binding):
            out.append(item)
        else:
            key, action, *rest = item
            out.append(Binding(key, action, rest[0] if rest else ""))
    return out


def rows(items: Iterable[BindingType]) -> list[tuple[str, str]]:
    """(keys as a person types them, what they do) for every binding with a description (the longer
    tooltip where it has one: the footer shows the short one), keys that do the same thing on one row
    ("j ↓", "1 … 0")."""
    merged: dict[str, list[str]] = {}
    for binding in bindings(items):
        if not binding.description:
            continue
        keys = [key_name(k.strip()) for k in binding.key.split(",")]
        said = binding.tooltip or binding.description
        merged.setdefault(said, []).extend(k for k in keys if k not in merged.get(said, []))
    return [(" ".join(keys), description) for description, keys in merged.items()]


def markdown(sections: Iterable[tuple[str, Iterable[BindingType]]]) -> str:
    """The key tables as the README shows them, one per screen (scripts/readme_keys.py writes them there)."""
    out: list[str] = []
    for title, items in sections:
        out += [f"**{title}**", "", "| key | does |", "|---|---|"]
        out += [f"| {' '.join(f'`{k}`' for k in key.split(' '))} | {what} |" for key, what in rows(items)]
        out.append("")
    return "\n".join(out).rstrip() + "\n"
