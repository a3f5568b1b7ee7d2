"""Untrusted text made inert: escape sequences, controls, invisible characters, surrogates, long strings."""

from __future__ import annotations

import json

import pytest

from callmon.text import clean, clean_multiline, cut, safe_json

INVISIBLE = [
    "\u200b",  # zero-width space
    "\u200c",  # zero-width non-joiner
    "\u200d",  # zero-width joiner
    "\u2060",  # word joiner
    "\ufeff",  # byte-order mark
    "\u061c",  # Arabic letter mark
    "\u200e",  # left-to-right mark
    "\u200f",  # right-to-left mark
    "\u202a",  # LRE
    "\u202e",  # RLO
    "\u2066",  # LRI
    "\u2069",  # PDI
    "\U000e0001",  # language tag
    "\U000e0041",  # tag latin capital A
    "\U000e007f",  # cancel tag
    "\u00ad",  # soft hyphen
]


def test_escape_sequences_are_dropped_whole_and_controls_become_spaces() -> None:
    hostile = "a\x1b[31mred\x1b[0m\x1b]0;title\x07\x9b2J\x07b\u202ec"
    assert clean(hostile) == "ared bc"
    rendered = safe_json({"k": hostile})
    for raw in ("\x1b", "\x9b", "\x07", "\u202e"):
        assert raw not in rendered
    assert "\\u001b" in rendered and "\\u009b" in rendered and "\\u202e" in rendered


@pytest.mark.parametrize("char", INVISIBLE)
def test_invisible_characters_are_removed_from_cells_and_shown_escaped_in_json(char: str) -> None:
    assert clean(f"ad{char}min") == "admin"
    assert clean_multiline(f"one{char}\ntwo") == "one\ntwo"
    rendered = safe_json({"name": f"ad{char}min"})
    assert char not in rendered
    escaped = f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}"
    assert escaped in rendered


@pytest.mark.parametrize(
    ("hostile", "shown"),
    [
        ("\ud800", "\ufffd"),  # a lone surrogate: it could not even be written as UTF-8
        ("x\udfffy", "x\ufffdy"),
        ("\ue000", "\ufffd"),  # private use
        ("\U0010fffe", "\ufffd"),  # a noncharacter, unassigned
        ("a\u2028b\u2029c", "a b c"),  # line and paragraph separators
        ("a\u00a0b", "a b"),  # no-break space
        ("tab\tnew\nline\r", "tab new line "),
        ("\x00\x7f\x85", "   "),
    ],
)
def test_other_non_printable_characters(hostile: str, shown: str) -> None:
    out = clean(hostile)
    assert out == shown
    assert out.isprintable()
    out.encode("utf-8")  # strict: no surrogate survives


def test_json_of_a_lone_surrogate_is_printable_utf8() -> None:
    rendered = safe_json({"\ud800": "x\udc00"})
    rendered.encode("utf-8")
    assert "\\ud800" in rendered and "\\udc00" in rendered
    assert json.loads(rendered.replace("\\ud800", "").replace("\\udc00", "")) == {"": "x"}


def test_printable_text_is_returned_as_it_is() -> None:
    for text in ("plain", "Hindi नमस्ते", "emoji 🙂", "Ünïcödé"):
        assert clean(text) is text


def test_cut_says_how_much_was_left_out() -> None:
    assert cut("abcdef", 6) == "abcdef"
    assert cut("abcdefgh", 3) == "abc… 5 more characters"
    assert cut("x" * 1_000_003, 1_000_000).endswith("… 3 more characters")
