"""What callmon does with an error nobody expected: one scrubbed line for the user, the traceback (without
local variables, which can hold a request's Authorization header) in a private log file."""

from __future__ import annotations

import datetime
import traceback
from pathlib import Path

import platformdirs

from callmon.files import FileError, write_private
from callmon.providers.errors import ProviderError
from callmon.redact import scrub
from callmon.text import clean, clean_multiline, cut


def one_line(exc: BaseException) -> str:
    """An exception as one scrubbed line."""
    if isinstance(exc, ProviderError):
        return str(exc)
    return cut(scrub(clean(f"{type(exc).__name__}: {exc}")), 200)


def log_dir() -> Path:
    return Path(platformdirs.user_state_dir("callmon")) / "log"


def report(exc: BaseException, where: str = "callmon") -> str:
    """Write the traceback (scrubbed, no locals) to a new 0600 log file; the line to show the user."""
    text = "".join(traceback.format_exception(exc))
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    path = log_dir() / f"crash-{stamp}.log"
    try:
        write_private(path, scrub(clean_multiline(text)))
    except FileError as error:
        return f"{where}: unexpected error: {one_line(exc)} (and no log written: {error})"
    return f"{where}: unexpected error: {one_line(exc)}; details in {path}"
