"""Making untrusted text (provider payloads, webhook bodies, config) inert before it reaches a terminal.

One rule for every character that is not plainly printable: escape sequences are dropped whole; C0/C1
controls and line or paragraph separators become a space; format characters (zero-width spaces and joiners,
bidi marks and overrides, the byte-order mark, tag characters) are removed, since they exist to change how
text reads without being seen; lone surrogates, private-use and unassigned code points become U+FFFD.
"""

from __future__ import annotations

import json
import re
import unicodedata
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
REPLACEMENT = "\ufffd"
MORE = "… {n:,} more characters"


class _Inert(dict[int, str | None]):
    """str.translate table built lazily: what each non-printable code point becomes."""

    def __init__(self, keep_newlines: bool) -> None:
        super().__init__()
        self._keep_newlines = keep_newlines

    def __missing__(self, code: int) -> str | None:
        char = chr(code)
        if char.isprintable():
            out: str | None = char
        elif char == "\n" and self._keep_newlines:
            out = char
        else:
            category = unicodedata.category(char)
            if category in ("Cc", "Zl", "Zp", "Zs"):
                out = " "
            elif category == "Cf":
                out = None  # invisible by design: removed
            else:  # Cs (a lone surrogate), Co (private use), Cn (unassigned)
                out = REPLACEMENT
        self[code] = out
        return out


_ONE_LINE = _Inert(keep_newlines=False)
_MULTILINE = _Inert(keep_newlines=True)


def clean(value: str) -> str:
    """One line of display-safe text: escape sequences removed, controls turned into spaces, invisible
    characters removed."""
    if value.isprintable():
        return value
    return _ESCAPE_SEQUENCE.sub("", value).translate(_ONE_LINE)


def clean_multiline(value: str) -> str:
    """Like `clean`, but newlines survive (transcripts, messages)."""
    if value.isprintable():
        return value
    return _ESCAPE_SEQUENCE.sub("", value.replace("\r\n", "\n")).translate(_MULTILINE)


def cut(value: str, limit: int) -> str:
    """At most `limit` characters of `value`, saying how many more there were."""
    if len(value) <= limit:
        return value
    return value[:limit] + MORE.format(n=len(value) - limit)


def visible_escape(char: str) -> str:
    return f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}"


class _JsonInert(dict[int, str]):
    """str.translate table for JSON text: what json.dumps(ensure_ascii=False) leaves raw (it escapes C0 itself,
    and the only raw C0 characters in its output are the indentation's own newlines) shown as escapes."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        out = char if char == "\n" or char.isprintable() else visible_escape(char)
        self[code] = out
        return out


_JSON_INERT = _JsonInert()


def safe_json(value: Any, *, indent: int | None = 2) -> str:
    """JSON text that is safe to print: every non-printable character (C1 controls such as the 8-bit CSI
    \\x9b, bidi overrides, zero-width and tag characters, lone surrogates) is shown as a visible \\u escape,
    never written raw, and every secret callmon knows is masked."""
    text = json.dumps(value, indent=indent, ensure_ascii=False, sort_keys=False, default=str)
    return scrub(text.translate(_JSON_INERT))
