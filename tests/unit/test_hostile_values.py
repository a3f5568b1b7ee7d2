"""One hostile value at a time, through every provider's normalize() and every `watch` format (issue
findings 1, 6, 8 and 9): nothing raises, records stay inert, outputs stay valid and secret-free."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from callmon import output, redact, untrusted
from callmon.engine.once import fetch_all
from callmon.model import Call, Status
from callmon.providers import ADAPTERS, Source, parse, velip
from callmon.providers.errors import BadResponse, ProviderError
from tests.hostile import (
    FORMATS,
    INVISIBLE,
    NORMALIZE,
    TEMPLATES,
    check_call,
    check_output,
    deep,
    strict_json,
)

SECRET = "sk-hostile-9f8e7d6c5b4a"


@pytest.fixture
def secret() -> Iterator[str]:
    redact.register(SECRET)
    yield SECRET
    redact.forget_all()


def render_all(calls: list[Call], secrets: tuple[str, ...] = ()) -> None:
    for fmt in FORMATS:
        check_output(output.render(calls, fmt, raw=fmt in ("json", "ndjson")), fmt, secrets)
        if fmt != "json":  # a stream has no JSON array form
            check_output(output.stream_lines(calls, fmt, raw=fmt == "ndjson"), fmt, secrets)


def test_raw_payload_with_nan_prints_valid_json() -> None:
    """Finding 1: `watch --format json --raw` could print NaN (or raise: allow_nan=False) when a payload
    holding one reached output; the payload is made safe on its way out as well."""
    raw = {"uuid": "u1", "cost": math.nan, "mos": math.inf, "id": 10**30, "note": "a\ud800b"}
    call = NORMALIZE["vobiz"](raw)
    assert call.cost is None
    for fmt in ("json", "ndjson"):
        text = output.render([call], fmt, raw=True)
        check_output(text, fmt)
        assert "NaN" not in text and "Infinity" not in text


@pytest.mark.parametrize("value", ["²", "10²", "¹²³", "٣"])
def test_a_superscript_digit_time_is_no_time(value: str) -> None:
    """Finding 1: "²" passes str.isdigit() and int() rejects it; a time field holding it raised ValueError out
    of every provider's normalize()."""
    assert parse.timestamp(value) is None or value == "٣"
    for provider, field in (
        ("dialgood", "timestamp"),
        ("dialgen", "startTime"),
        ("cloudagent", "StartTime"),
        ("vobiz", "end_time"),
    ):
        check_call(NORMALIZE[provider]({**TEMPLATES[provider][0], field: value}))


@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, "NaN", "Infinity", "1e400", 10**30, "99999999999999999999", 1e300, 2**63],
)
def test_numbers_out_of_range_are_null(value: Any) -> None:
    raw = {**TEMPLATES["vobiz"][0]["data"], "total_cost": value, "duration": value, "billsec": value}
    rec = NORMALIZE["vobiz"](raw).record()
    assert rec["cost"] is None and rec["duration_s"] is None and rec["billable_s"] is None
    strict_json(output.render([NORMALIZE["vobiz"](raw)], "json"))


@pytest.mark.parametrize(
    "value",
    [
        10**30,
        -(10**30),
        10**15 * 253402300800,
        "99999999999999999999",
        "9999-12-31T23:59:59-05:00",
        "0001-01-01T00:00:00-05:00",
        "0001-01-01T00:00:00+05:00",
        "Fri, 31 Dec 9999 23:59:59 -0500",
        math.nan,
    ],
)
def test_times_out_of_range_are_null(value: Any) -> None:
    assert parse.timestamp(value) is None
    raw = {**TEMPLATES["vobiz"][0]["data"], "start_time": value, "end_time": value, "answer_time": value}
    call = NORMALIZE["vobiz"](raw)
    assert call.started_at is None and call.ended_at is None and call.answered_at is None
    render_all([call])


@pytest.mark.parametrize(
    "key",
    ["resp_²", "resp_" + "9" * 5000, "resp_٣", "resp_", "resp_-1", "resp_1e3"],
    ids=["superscript", "5000-digits", "arabic-indic", "empty", "negative", "exponent"],
)
def test_velip_odd_dtmf_keys(key: str) -> None:
    """Finding 1: Velip's resp_N keys are read by their number; a key that is no number is left out."""
    raw = {**TEMPLATES["velip"][0], key: "9"}
    call = velip.normalize(raw, "v")
    check_call(call)
    dtmf = dict(call.details)["DTMF"]
    assert dtmf == "resp_1=1 resp_2=12345 resp_3=0"


async def test_json_nested_past_any_recursion_limit_is_one_error() -> None:
    """Findings 1 and 3: nesting deeper than Python's recursion limit in a text too costly to cut is a Malformed
    (one line); from a provider it is that source's BadResponse, not a RecursionError. Shallower nesting is
    kept, cut at MAX_DEPTH."""
    text = "[" * untrusted.MAX_CUT_TOKENS + "]" * untrusted.MAX_CUT_TOKENS
    with pytest.raises(untrusted.Malformed):
        untrusted.loads(text)
    source = Source(name="v", provider="velip", options={"campaign": 1}, base_url="https://api.test")
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200, content=text.encode())))
    with pytest.raises(BadResponse, match="nested too deeply") as info:
        await fetch_all(ADAPTERS["velip"](source, {"tsid": "t"}, client))
    assert "\n" not in str(info.value)
    kept = untrusted.loads(json.dumps({"a": deep(900)}))
    depth = 0
    node: Any = kept["a"]
    while isinstance(node, list):
        node, depth = node[0], depth + 1
    assert depth < untrusted.MAX_DEPTH and node == untrusted.TOO_DEEP


def test_one_field_nested_past_the_recursion_limit_costs_only_that_field() -> None:
    """Finding 1: a record with one field nested 5,000 deep made the whole response unreadable (every record on
    the page lost); now that field is cut where sanitize() cuts, and every record is read."""
    deep_field = '{"d": ' * 5000 + "0" + "}" * 5000
    rows = [f'{{"uuid": "u{i}", "note": "[{{not a bracket", "extra": {deep_field}}}' for i in range(3)]
    page = untrusted.loads('{"data": [' + ", ".join(rows) + "]}")
    assert [row["uuid"] for row in page["data"]] == ["u0", "u1", "u2"]
    assert page["data"][0]["note"] == "[{not a bracket"
    node: Any = page["data"][0]["extra"]
    while isinstance(node, dict):
        node = node["d"]
    assert node == untrusted.TOO_DEEP
    with pytest.raises(untrusted.Malformed, match="nested too deeply"):
        untrusted.loads("[" * 200_000)  # never closed: nothing to cut, still one error


def test_untrusted_loads_turns_every_hostile_literal_safe() -> None:
    text = '{"a": NaN, "b": Infinity, "c": -Infinity, "d": 1e400, "e": 99999999999999999999, "f": "\\ud800"}'
    value = untrusted.loads(text)
    assert value == {"a": None, "b": None, "c": None, "d": None, "e": "99999999999999999999", "f": "\ufffd"}
    strict_json(json.dumps(value, allow_nan=False))


def test_invisible_characters_never_reach_a_record_or_output() -> None:
    """Finding 8: zero-width, BOM, Arabic letter mark, bidi controls and tags are removed from every field."""
    raw = {key: f"a{INVISIBLE}b" for key in TEMPLATES["vobiz"][0]["data"]}
    raw["uuid"] = f"id{INVISIBLE}1"
    call = NORMALIZE["vobiz"](raw)
    check_call(call)
    assert call.call_id == "id1" and call.reason == "ab"
    render_all([call])
    for fmt in ("table", "csv"):
        rendered = output.render([call], fmt)
        assert not any(ch in rendered for ch in INVISIBLE)


def test_invisible_characters_never_reach_an_error_line() -> None:
    """Finding 8: what a provider says in an error is printed on stderr and in the header: inert too."""
    error = ProviderError("vobiz", f"bad\x1b[2J{INVISIBLE}\u2028key")
    assert str(error).isprintable() and "bad key" in str(error)


def test_a_call_of_megabyte_strings_is_cut_to_size() -> None:
    """Finding 9: every text field 1 MB long; fields are cut to their limits, outputs stay small."""
    big = "x" * 1_000_000
    raw = {key: big for key in TEMPLATES["cloudagent"][0]}
    call = NORMALIZE["cloudagent"](raw)
    check_call(call)
    for fmt in FORMATS:
        assert len(output.render([call], fmt)) < 100_000


def test_a_secret_echoed_in_any_field_is_masked(secret: str) -> None:
    """Finding 6: a provider that echoes the key into a record field (whole, inside text, split by an invisible
    character, or as a key) never gets it into a record or any output."""
    for provider, templates in TEMPLATES.items():
        for template in templates:
            for key in template:
                for echoed in (secret, f"x{secret}y", f"{secret[:5]}\u200b{secret[5:]}"):
                    raw = {**template, key: echoed, echoed: echoed}
                    call = NORMALIZE[provider](raw)
                    check_call(call, (secret,))
                    for fmt in FORMATS:
                        check_output(output.render([call], fmt, raw=fmt != "table" and fmt != "csv"), fmt, (secret,))


def test_a_numeric_secret_echoed_as_a_number_keeps_json_valid() -> None:
    """Finding 6: a digits-only key the provider echoes as a JSON number: masked, and the JSON still parses."""
    redact.register("73019284")
    try:
        raw = untrusted.loads('{"uuid": "u1", "account": 73019284, "billsec": 73019284}')
        call = NORMALIZE["vobiz"](raw)
        for fmt in ("json", "ndjson"):
            check_output(output.render([call], fmt, raw=True), fmt, ("73019284",))
    finally:
        redact.forget_all()


def test_status_from_anything() -> None:
    call = Call(source="s", provider="p", call_id="c", status="\ud800")  # type: ignore[arg-type]
    assert call.status is Status.UNKNOWN


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_a_secret_spelled_by_a_json_escape_is_masked_and_the_json_stays_valid(fmt: str) -> None:
    """Findings 1 and 6: JSON writes "Þadbeef1234" as "\\u00deadbeef1234", which spells the key "deadbeef1234".
    Masking the output's text cut that escape in two ("\\u00••••": invalid JSON); the string is masked whole."""
    redact.register("deadbeef1234")
    try:
        call = NORMALIZE["vobiz"]({"uuid": "u1", "failure_reason": "xÞadbeef1234", "note": "Þadbeef1234"})
        text = output.render([call], fmt, raw=True)
        check_output(text, fmt, ("deadbeef1234",))
        record = strict_json(text.splitlines()[0] if fmt == "ndjson" else text)
        record = record if fmt == "ndjson" else record[0]
        assert record["reason"] == record["raw"]["note"] == "••••" and record["call_id"] == "u1"
    finally:
        redact.forget_all()


@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv", "table"])
@pytest.mark.parametrize("count", [0, 1, 3, 7])
def test_an_export_in_pieces_is_the_same_text(
    fmt: str, count: int, secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An export is written a slice of calls at a time; joined, the pieces are what one render writes, secrets
    masked and hostile values made safe the same."""
    monkeypatch.setattr(output, "EXPORT_SLICE", 2)  # slices of 2: one, several, and a last short one
    calls = [
        Call(
            source="s", provider="vobiz", call_id=f"c{i}", status=Status.COMPLETED, to=f"+9198{i}{secret}",
            campaign="Renew, \"spring\"", reason="line\nbreak",
            raw={"cost": math.nan, "echo": secret, "deep": {"k": [1, "\ud800"]}},
        )
        for i in range(count)
    ]  # fmt: skip
    joined = "".join(output.render_chunks(calls, fmt))
    assert joined == output.render(calls, fmt)
    assert secret not in joined
    if fmt == "json":
        assert len(json.loads(joined)) == count
