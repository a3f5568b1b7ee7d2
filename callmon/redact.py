"""Every secret callmon has read is remembered here so that no output can carry it: logs, error messages,
the raw-payload view, exports. A provider that echoes a key back in an error or a payload is not rare."""

from __future__ import annotations

import logging
import threading

MASK = "••••"
_MIN_LENGTH = 4  # shorter values are too likely to be ordinary text
_secrets: set[str] = set()
_lock = threading.Lock()


def register(secret: str) -> None:
    if len(secret) >= _MIN_LENGTH:
        with _lock:
            _secrets.add(secret)


def scrub(text: str) -> str:
    if not _secrets:
        return text
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def active() -> bool:
    return bool(_secrets)


def forget_all() -> None:
    """For tests."""
    with _lock:
        _secrets.clear()


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
