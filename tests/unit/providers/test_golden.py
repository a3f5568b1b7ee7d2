"""Golden records: every seed payload and every simulator payload shape, each beside the whole record callmon
must make of it (every JSON field, the details and the transcript), written by scripts/golden.py and reviewed
by hand. Nothing is regenerated here: a change in what normalize() makes of a payload fails until the file is
written again and the change read in its diff."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from callmon.model import RECORD_FIELDS, Call
from callmon.providers import cloudagent, dialgen, dialgood, names, velip, vobiz

GOLDEN = Path(__file__).parents[2] / "data" / "golden"
NORMALIZE: dict[str, Callable[..., Call]] = {
    "dialgood": dialgood.normalize,
    "dialgen": dialgen.normalize,
    "cloudagent": cloudagent.normalize,
    "velip": velip.normalize,
    "vobiz": vobiz.normalize,
}
FILES = sorted(GOLDEN.glob("*.json"))


def cases() -> list[Any]:
    found = []
    for path in FILES:
        doc = json.loads(path.read_text(encoding="utf-8"))
        for case in doc["cases"]:
            found.append(pytest.param(doc, case, id=f"{path.stem}[{case['name']}]"))
    return found


@pytest.mark.parametrize(("doc", "case"), cases())
def test_golden_record(doc: dict[str, Any], case: dict[str, Any]) -> None:
    call = NORMALIZE[doc["provider"]](case["input"], doc["source"])
    record = call.record()
    assert list(record) == list(RECORD_FIELDS)  # every field, in the record's order
    # Field by field first, so a failure names the field; then the whole, so nothing is left out.
    for name in RECORD_FIELDS:
        assert (name, record[name]) == (name, case["record"][name])
    assert record == case["record"]
    assert [list(pair) for pair in call.details] == case["details"]
    assert [[line.role, line.text] for line in call.transcript] == case["transcript"]
    assert call.payload() == case["input"]  # the raw payload kept whole


def test_every_provider_has_golden_records_of_every_status_it_reports() -> None:
    """The files cover each provider, and together they reach every status each provider's payloads can
    end in: a shape dropped from scripts/golden.py would leave a mapping with no whole-record check."""
    seen: dict[str, set[str]] = {}
    for path in FILES:
        doc = json.loads(path.read_text(encoding="utf-8"))
        seen.setdefault(doc["provider"], set()).update(c["record"]["status"] for c in doc["cases"])
    assert sorted(seen) == sorted(names())
    ended = {"completed", "no-answer", "busy", "failed", "canceled"}
    assert seen["dialgood"] >= ended | {"queued", "in-progress"}
    assert seen["dialgen"] >= ended - {"canceled"} | {"queued", "in-progress"}  # no word for canceled
    assert seen["cloudagent"] >= ended | {"ringing", "in-progress", "unknown"}
    assert seen["velip"] >= ended | {"queued", "ringing", "in-progress"}
    assert seen["vobiz"] >= ended | {"queued", "ringing", "in-progress"}
