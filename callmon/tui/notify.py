"""Desktop notifications through the terminal: OSC 9 (iTerm2, WezTerm, kitty, Windows Terminal, ghostty) or
OSC 777 (foot, urxvt, VTE terminals such as GNOME Terminal), chosen from what the terminal says it is, or
as configured (`[alerting] desktop`). Inside tmux the sequence is passed through (tmux needs
`set -g allow-passthrough on`). The text is an alert's, from provider data: nothing in it may end the
sequence early or start another one."""

from __future__ import annotations

from collections.abc import Mapping

from callmon.text import clean, cut

_OSC9_PROGRAMS = {"iterm.app", "wezterm", "ghostty", "vscode", "tabby", "hyper"}


def kind_for(mode: str, environ: Mapping[str, str]) -> str | None:
    """Which sequence to send: "osc9", "osc777", or None (none, or a terminal not known to show one)."""
    if mode in ("osc9", "osc777"):
        return mode
    if mode != "auto":
        return None
    term = environ.get("TERM", "").lower()
    program = environ.get("TERM_PROGRAM", "").lower()
    if (
        program in _OSC9_PROGRAMS
        or environ.get("LC_TERMINAL", "").lower() == "iterm2"  # forwarded over SSH, unlike TERM_PROGRAM
        or term == "xterm-kitty"
        or "WT_SESSION" in environ
    ):
        return "osc9"
    if term.startswith(("foot", "rxvt")) or "VTE_VERSION" in environ:
        return "osc777"
    return None


def _inert(text: str, limit: int) -> str:
    # clean() turns controls (ESC, BEL, C1) into spaces; ";" separates OSC 777's fields.
    return cut(clean(text).replace(";", ","), limit)


def sequence(kind: str, title: str, body: str, environ: Mapping[str, str]) -> str:
    """The escape sequence that shows (title, body) as a desktop notification."""
    if kind == "osc777":
        seq = f"\x1b]777;notify;{_inert(title, 80)};{_inert(body, 200)}\x1b\\"
    else:
        seq = f"\x1b]9;{_inert(title, 80)}: {_inert(body, 200)}\x1b\\"
    if "TMUX" in environ:
        seq = "\x1bPtmux;" + seq.replace("\x1b", "\x1b\x1b") + "\x1b\\"
    return seq
