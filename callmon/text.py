"""Making untrusted text (provider payloads, webhook bodies) inert before it reaches a terminal."""

from __future__ import annotations

import json
import re
from typing import Any

from callmon.redact import scrub

# A whole escape sequence is dropped, not just its ESC byte: "\x1b[2J" minus ESC still prints "[2J".
_ESCAPE_SEQUENCE = re.compile(
    r"""
    (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]                  # CSI ... final byte (7-bit and 8-bit introducers)
    | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c|$)  # OSC/DCS/SOS/PM/APC ... terminator
    | \x1b[ -/]*[0-~]                                 # two-byte and nF escapes
    """,
    re.VERBOSE | re.DOTALL,
)
# C0 and C1 controls, DEL, and the bidi overrides that can make text read differently than it is.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
# What json.dumps(ensure_ascii=False) leaves raw inside strings: it escapes C0 itself, and the only raw C0
# characters in its output are the indentation's own newlines.
_JSON_UNSAFE = re.compile(r"[\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
_LINE_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def clean(value: str) -> str:
    """One line of display-safe text: escape sequences removed, other controls turned into spaces."""
    if value.isprintable():
        return value
    value = _ESCAPE_SEQUENCE.sub("", value)
    return _CONTROL.sub(" ", value)


def clean_multiline(value: str) -> str:
    """Like `clean`, but newlines survive (transcripts, messages)."""
    if value.isprintable():
        return value
    value = _ESCAPE_SEQUENCE.sub("", value.replace("\r\n", "\n"))
    return _LINE_CONTROL.sub(" ", value)


def safe_json(value: Any, *, indent: int | None = 2) -> str:
    """JSON text that is safe to print: every control character is a \\u escape, never a raw byte.

    `json.dumps` already escapes C0 controls, but with ensure_ascii=False it lets C1 controls (such as the
    8-bit CSI \\x9b) and bidi overrides through; those are escaped here too.
    """
    text = json.dumps(value, indent=indent, ensure_ascii=False, sort_keys=False, default=str)
    return scrub(_JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text))
