"""Printing calls for `callmon watch`: an aligned table, JSON, NDJSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from callmon import display, untrusted
from callmon.alerts import AlertEvent
from callmon.measures import GROUP_COLUMNS, GROUP_TITLE, Groups, ordered, rows
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
        return display.wall_clock(value)
    if attr in ("to", "from_"):
        return display.number(value) or "-"
    return clean(str(value))


def _headers() -> list[str]:
    # The zone the table's times are in is named once, in its header.
    return [
        f"{title} ({display.zone_short()})" if attr == "started_at" else title
        for attr, title in TABLE_COLUMNS
    ]


# Widths for a streamed table, where rows arrive over time and cannot be measured together.
STREAM_WIDTHS = (11, 16, 36, 18, 15, 19, 5, 40)


def record(call: Call, *, raw: bool = False) -> dict[str, object]:
    """The JSON record as printed and exported: phone numbers masked when masking is on."""
    out = call.record(include_raw=raw)
    if display.current().mask_numbers:
        numbers = {call.to, call.from_} - {None}
        out["to"], out["from"] = display.number(call.to), display.number(call.from_)
        if raw and numbers:
            text = json.dumps(out["raw"], ensure_ascii=False)
            for number in numbers:
                assert number is not None
                text = text.replace(number, display.mask_number(number))
            out["raw"] = json.loads(text)
    return out


def table(calls: Sequence[Call], *, max_width: int = 40, fixed: bool = False) -> str:
    rows = [[_cell(c, attr)[:max_width] for attr, _ in TABLE_COLUMNS] for c in calls]
    headers = _headers()
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
    out: dict[str, Any] = untrusted.sanitize(record(call, raw=raw))
    return out


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


EXPORT_SLICE = 1_000  # calls rendered per chunk: no single step holds the interpreter for long


def render_chunks(calls: Sequence[Call], fmt: str, *, raw: bool = False) -> Iterator[str]:
    """`render`'s text in pieces of EXPORT_SLICE calls (joined, the same text): an export of 100k calls
    on a thread then never holds the interpreter, and with it the event loop, for one long C call (a
    whole-file join, mask or encode)."""
    if fmt == "table" or not calls:
        yield render(calls, fmt, raw=raw)
        return
    slices = [calls[i : i + EXPORT_SLICE] for i in range(0, len(calls), EXPORT_SLICE)]
    if fmt == "json":
        yield "[\n"
        for n, part in enumerate(slices):
            # Each record as json.dumps(list, indent=2) would write it: indented one level (JSON strings
            # hold no raw newline), records separated by ",\n".
            text = ",\n".join("  " + _dumps(_record(c, raw), indent=2).replace("\n", "\n  ") for c in part)
            yield text if n == 0 else ",\n" + text
        yield "\n]\n"
    elif fmt == "ndjson":
        for part in slices:
            yield "".join(json_line(c, raw=raw) + "\n" for c in part)
    elif fmt == "csv":
        yield scrub(csv_text([]))
        for part in slices:
            yield scrub(csv_text(part).split("\n", 1)[1])
    else:
        raise ValueError(f"unknown format {fmt!r}")


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
        row = record(call)
        writer.writerow(["" if row[f] is None else _csv_safe(row[f]) for f in RECORD_FIELDS])
    return buffer.getvalue()


def _csv_safe(value: object) -> object:
    """Provider text opened in a spreadsheet must not run as a formula (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") and not _is_number_like(value):
        return "'" + value
    return value


def _is_number_like(value: str) -> bool:
    # Phone numbers like +14155550123 and negative amounts are data, not formulas.
    return value[1:].replace(".", "", 1).replace(" ", "").isdigit()


def alert_line(event: AlertEvent) -> str:
    """One alert firing or clearing, as `watch --alerts` prints it."""
    return _dumps(untrusted.sanitize(event.record())) + "\n"


# -- `watch --once --group-by`: the group view's measures ----------------------------------------------------

GROUP_FIELDS = (
    "calls", "active", "completed", "ended", "failures", "answer_rate", "failure_rate", "acd_s",
    "calls_per_min", "failures_per_min", "top_reason",
)  # fmt: skip


def render_groups(groups: Groups, fmt: str, now: float) -> str:
    """Each group's measures (biggest group first) in a format: the table as the group view shows it, the
    records with every number (per-minute counts oldest first, the current minute last)."""
    if fmt == "table":
        return scrub(_group_table(groups, now))
    records = [untrusted.sanitize(r) for r in rows(groups, now)]
    if fmt == "json":
        return _dumps(records, indent=2) + "\n"  # masked value by value (see _dumps)
    if fmt == "ndjson":
        return "".join(_dumps(r) + "\n" for r in records)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([groups.dimension, *GROUP_FIELDS])
        for record_ in records:
            cells = [record_[groups.dimension], *(record_[f] for f in GROUP_FIELDS)]
            writer.writerow(["" if v is None else _csv_safe(" ".join(map(str, v)) if isinstance(v, list) else v)
                             for v in cells])  # fmt: skip
        return scrub(buffer.getvalue())
    raise ValueError(f"unknown format {fmt!r}")


def _group_table(groups: Groups, now: float) -> str:
    headers = [GROUP_TITLE[groups.dimension], *(c.title for c in GROUP_COLUMNS)]
    table_rows = [
        [clean(name), *(c.text(groups.tallies[name], now) for c in GROUP_COLUMNS)]
        for name in ordered(groups, "calls", True, now)
    ]
    right = [False, *(c.right for c in GROUP_COLUMNS)]
    widths = [max([len(h), *(len(r[i]) for r in table_rows)]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(cells, widths, right, strict=True)
        ).rstrip()

    return "\n".join([line(headers), *(line(r) for r in table_rows)]) + "\n"
