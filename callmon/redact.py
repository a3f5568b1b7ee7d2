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
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None
_lock = threading.Lock()


def register(secret: str) -> None:
    global _pattern
    if len(secret) >= _MIN_LENGTH and secret not in _secrets:
        with _lock:
            _secrets.add(secret)
            # Longest first: a secret that contains another is masked whole.
            ordered = sorted(_secrets, key=len, reverse=True)
            _pattern = re.compile("|".join(map(re.escape, ordered)))


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
