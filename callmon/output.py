"""Printing calls for `callmon watch`: an aligned table, JSON, NDJSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from callmon import untrusted
from callmon.model import RECORD_FIELDS, Call
from callmon.redact import MASK, contains_secret, scrub
from callmon.text import clean

FORMATS = ("table", "json", "ndjson", "csv")
TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("status", "STATUS"),
    ("source", "SOURCE"),
    ("call_id", "CALL"),
    ("campaign", "CAMPAIGN"),
    ("to", "TO"),
    ("started_at", "STARTED"),
    ("duration_s", "DUR"),
    ("reason", "REASON"),
)


def _cell(call: Call, attr: str) -> str:
    value = getattr(call, attr)
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return clean(str(value))


# Widths for a streamed table, where rows arrive over time and cannot be measured together.
STREAM_WIDTHS = (11, 16, 36, 18, 15, 19, 5, 40)


def table(calls: Sequence[Call], *, max_width: int = 40, fixed: bool = False) -> str:
    rows = [[_cell(c, attr)[:max_width] for attr, _ in TABLE_COLUMNS] for c in calls]
    headers = [title for _, title in TABLE_COLUMNS]
    if fixed:
        widths = list(STREAM_WIDTHS)
        rows = [[v[:w] for v, w in zip(r, widths, strict=True)] for r in rows]
    else:
        widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines) + "\n"


def _record(call: Call, raw: bool) -> dict[str, Any]:
    """The call's JSON record, payload included, read as untrusted: a payload that did not come through
    callmon.untrusted (normalize() called on parsed data, anything built in-process) may still hold NaN, a lone surrogate or a secret as a
    number, and a JSON output must stay valid JSON whatever a payload holds."""
    record: dict[str, Any] = untrusted.sanitize(call.record(include_raw=raw))
    return record


def _dumps(value: Any, indent: int | None = None) -> str:
    # allow_nan=False: a record never holds NaN or an infinity (callmon.model, callmon.untrusted), and if one
    # ever did, valid JSON out matters more than this line.
    text = json.dumps(value, ensure_ascii=True, indent=indent, default=str, allow_nan=False)
    if contains_secret(text):
        # Values are masked already (`_record`), so only an escape can spell a secret here: "Þadbeef…" is
        # written "\u00deadbeef…". Such strings are masked whole; masking the text would cut the escape in two
        # and leave invalid JSON.
        text = json.dumps(_escapes_masked(value), ensure_ascii=True, indent=indent, default=str, allow_nan=False)
    return text


def _escapes_masked(value: Any) -> Any:
    if isinstance(value, str):
        return MASK if contains_secret(json.dumps(value)) else value
    if isinstance(value, dict):
        return {_escapes_masked(k): _escapes_masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escapes_masked(v) for v in value]
    return value


def json_line(call: Call, *, raw: bool = False) -> str:
    return _dumps(_record(call, raw))


def render(calls: Sequence[Call], fmt: str, *, raw: bool = False) -> str:
    """The calls in a format, with any secret callmon knows masked (a payload may echo a key)."""
    return _masked(_render(calls, fmt, raw=raw), fmt)


def _masked(text: str, fmt: str) -> str:
    # JSON is masked value by value (`_record`, `_dumps`): masking its text could cut an escape in two.
    return text if fmt in ("json", "ndjson") else scrub(text)


def _render(calls: Sequence[Call], fmt: str, *, raw: bool = False) -> str:
    if fmt == "table":
        return table(calls)
    if fmt == "json":
        return _dumps([_record(c, raw) for c in calls], indent=2) + "\n"
    if fmt == "ndjson":
        return "".join(json_line(c, raw=raw) + "\n" for c in calls)
    if fmt == "csv":
        return csv_text(calls)
    raise ValueError(f"unknown format {fmt!r}")


def header(fmt: str) -> str:
    """What a stream in `fmt` starts with (column names), or nothing."""
    if fmt == "csv":
        return csv_text([])
    if fmt == "table":
        return table([], fixed=True)
    return ""


def stream_lines(calls: Sequence[Call], fmt: str, *, raw: bool = False) -> str:
    """The lines a stream in `fmt` prints for these calls (after its header), secrets masked."""
    if fmt == "csv":
        text = csv_text(calls).split("\n", 1)[1]
    elif fmt == "table":
        text = table(calls, fixed=True).split("\n", 1)[1]
    else:
        text = "".join(json_line(c, raw=raw) + "\n" for c in calls)
        fmt = "ndjson"
    return _masked(text, fmt)


def csv_text(calls: Iterable[Call]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(RECORD_FIELDS)
    for call in calls:
        record = call.record()
        writer.writerow(["" if record[f] is None else _csv_safe(record[f]) for f in RECORD_FIELDS])
    return buffer.getvalue()


def _csv_safe(value: object) -> object:
    """Provider text opened in a spreadsheet must not run as a formula (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") and not _is_number_like(value):
        return "'" + value
    return value


def _is_number_like(value: str) -> bool:
    # Phone numbers like +14155550123 and negative amounts are data, not formulas.
    return value[1:].replace(".", "", 1).replace(" ", "").isdigit()
