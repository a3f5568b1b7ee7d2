"""Every secret callmon has read is remembered here so that no output can carry it: logs, error messages,
records, history, the raw-payload view, exports, copies. A provider that echoes a key back in an error or a
payload is not rare. Records are masked when they are built, before anything can truncate them (a cut-off
key would no longer match)."""

from __future__ import annotations

import logging
import re
import threading

MASK = "••••"
_MIN_LENGTH = 4  # shorter values are too likely to be ordinary text
SLOT_SIZE = 4  # values of one slot (a session token) kept masked: the current one and a few it replaced
_secrets: set[str] = set()
_slots: dict[str, list[str]] = {}
_pattern: re.Pattern[str] | None = None
_lock = threading.Lock()


def register(secret: str, *, slot: str | None = None) -> None:
    """Mask `secret` from now on. A `slot` names a credential that replaces itself (a session token): only its
    last SLOT_SIZE values stay masked, so a provider that hands out a new token again and again cannot grow the
    mask (and the cost of rebuilding it on every new value) without bound."""
    if len(secret) < _MIN_LENGTH:
        return
    with _lock:
        if slot is None:
            if secret in _secrets:
                return
            _secrets.add(secret)
        else:
            values = _slots.setdefault(slot, [])
            if secret in values:
                return
            values.append(secret)
            del values[:-SLOT_SIZE]
        _compile()


def _compile() -> None:
    global _pattern
    every = _secrets.union(*_slots.values())
    # Longest first: a secret that contains another is masked whole.
    ordered = sorted(every, key=len, reverse=True)
    _pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None


def scrub(text: str) -> str:
    pattern = _pattern
    if pattern is None or pattern.search(text) is None:
        return text
    return pattern.sub(MASK, text)


def contains_secret(text: str) -> bool:
    pattern = _pattern
    return pattern is not None and pattern.search(text) is not None


def active() -> bool:
    return _pattern is not None


def forget_all() -> None:
    """For tests."""
    global _pattern
    with _lock:
        _secrets.clear()
        _slots.clear()
        _pattern = None


class RedactingFilter(logging.Filter):
    """Scrubs every log record's final text (httpx logs full URLs; providers echo keys in errors)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install_log_filter() -> None:
    for handler in logging.getLogger().handlers or []:
        handler.addFilter(RedactingFilter())
    logging.getLogger().addFilter(RedactingFilter())
    logging.getLogger("httpx").addFilter(RedactingFilter())
