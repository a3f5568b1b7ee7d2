"""JSON that callmon wrote itself (compact, one value), read with the C scanner alone.

json.loads's Python layers around the scanner (the whitespace skips, the checks of what follows) cost as much
again as the scan for the short texts callmon keeps: a row's timeline, a call's details and transcript, a
record in the team engine. Anything else in the text is an error, as it is for json.loads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

_SCAN: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def read(text: str) -> Any:
    """The one JSON value `text` is; ValueError when it is not exactly one (RecursionError when nested past
    the parser)."""
    try:
        value, end = _SCAN(text, 0)
    except StopIteration:
        raise ValueError("not JSON") from None
    if end != len(text):
        raise ValueError("more than one JSON value")
    return value
