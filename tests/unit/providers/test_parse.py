"""The lenient value parsers every normalizer reads with: each bound at its edge and one past it, every form
a provider writes a number, a duration or a time in, and None for everything else."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callmon.providers import parse

IST = ZoneInfo("Asia/Kolkata")
BIG = 2**53


def check(function: Any, cases: list[tuple[Any, Any]]) -> None:
    wrong = [(value, got, expected) for value, expected in cases if (got := function(value)) != expected]
    assert wrong == []
    # The type too: 1 == 1.0 == True would hide a wrong one.
    assert [type(function(v)) for v, _ in cases] == [type(e) for _, e in cases]


def test_text() -> None:
    check(
        parse.text,
        [
            (None, None),
            ({}, None),
            ([], None),
            (True, None),
            (False, None),
            (math.nan, None),
            (math.inf, None),
            (-math.inf, None),
            (1.5, "1.5"),
            (5, "5"),
            (0, "0"),
            ("  x y ", "x y"),
            ("", None),
            ("   ", None),
        ],
    )


def test_first() -> None:
    raw = {"a": None, "b": "", "c": 0, "d": False, "e": "x"}
    assert parse.first(raw, "a", "b", "c", "e") == 0  # 0 is a value; None and "" are not
    assert parse.first(raw, "a", "d") is False
    assert parse.first(raw, "b", "e") == "x"
    assert parse.first(raw, "a", "b", "missing") is None
    assert parse.first(raw) is None


def test_number() -> None:
    check(
        parse.number,
        [
            (None, None),
            (True, None),
            ([1], None),
            ({}, None),
            (0, 0.0),
            (5, 5.0),
            (BIG, None),
            (BIG + 1, None),
            (-BIG - 1, None),
            (0.45, 0.45),
            (math.nan, None),
            (math.inf, None),
            (1e12, 1e12),
            (-1e12, -1e12),
            (1e12 + 1, None),
            (1.0000001e12, None),
            (-1.0000001e12, None),
            ("0,050", 0.05),
            ("1,25", 1.25),
            ("1,234.5", 1234.5),
            ("1.5", 1.5),
            (" 2 ", 2.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("+5", 5.0),
            ("-5", -5.0),
            ("1e3", 1000.0),
            ("1E-2", 0.01),
            ("1e999", None),
            ("1e", None),
            ("", None),
            ("  ", None),
            ("nan", None),
            ("inf", None),
            ("1_000", None),
            ("0x10", None),
            ("12abc", None),
            ("1,2,3", None),
            ("0" * 30, 0.0),
            ("0" * 31, None),
            ("1." + "0" * 30, 1.0),
            ("1." + "0" * 31, None),
            ("1" * 12, 111111111111.0),
            ("1e-999", 0.0),
            ("1e-1000", None),
            # 64 characters at most, whatever the pattern allows
            ("1" * 30 + "." + "1" * 29 + "e-20", float("1" * 30 + "." + "1" * 29 + "e-20")),
            ("1" * 30 + "." + "1" * 30 + "e-20", None),
        ],
    )


def test_integer() -> None:
    check(
        parse.integer,
        [
            (None, None),
            (True, None),
            ("x", None),
            (7, 7),
            ("7", 7),
            (2.5, 2),
            (3.5, 4),
            ("2,6", 3),
            (-4, -4),
            (BIG, BIG),
            (-BIG, -BIG),
            (BIG + 1, None),
            (9.1e15, None),
            (-9.1e15, None),
            (math.nan, None),  # a float NaN or infinity (JSON's NaN, Infinity) is no number at all
            (math.inf, None),
            (-math.inf, None),
            ("01:02:03", 3723),
            ("02:03", 123),
            (" 1:00:00 ", 3600),
        ],
    )


def test_hms() -> None:
    check(
        parse.hms,
        [
            (None, None),
            (True, None),
            (False, None),
            ("", None),
            ("abc", None),
            ([], None),
            ("00:00:05", 5),
            ("00:01:50", 110),
            ("01:02:03", 3723),
            ("01:02:03.999", 3723),
            ("1:2:3", 3723),
            ("12:34", 754),
            ("99:99", 6039),
            ("1234567:00:00", 1234567 * 3600),
            ("12345678:00:00", None),
            ("1:2", 62),
            ("1:234", None),
            (":12:00", None),
            ("00:00:05.123456789", 5),
            ("00:00:05.1234567891", None),
            ("00:00:05.", None),
            ("42", 42),
            ("4.6", 5),
            (4.4, 4),
            (-3, -3),
            (BIG, BIG),
            (BIG + 1, None),
            (1e300, None),
            (math.nan, None),
            (math.inf, None),
        ],
    )


def test_seconds() -> None:
    check(
        parse.seconds,
        [
            (None, None),
            ("00:02:05", 125),
            (0, 0),
            (10**7, 10**7),
            (10**7 + 1, None),
            (-1, None),
            ("-5", None),
            ("115:00:00", 414000),
            ("2778:00:00", None),
            ("x", None),
            (5.6, 6),
        ],
    )


def test_between() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse.between(start, start + timedelta(seconds=30.4)) == 30
    assert parse.between(start, start + timedelta(seconds=30.6)) == 31
    assert parse.between(start, start) == 0
    assert parse.between(start, start - timedelta(seconds=1)) is None
    assert parse.between(start, start - timedelta(seconds=0.4)) == 0
    assert parse.between(start, start + timedelta(seconds=10**7)) == 10**7
    assert parse.between(start, start + timedelta(seconds=10**7 + 1)) is None


EPOCH_2026 = 1772816713  # 2026-03-06T17:05:13Z


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (True, None),
        ([2026], None),
        (EPOCH_2026, "2026-03-06T17:05:13+00:00"),
        (float(EPOCH_2026), "2026-03-06T17:05:13+00:00"),
        (EPOCH_2026 * 1000 + 391, "2026-03-06T17:05:13.391000+00:00"),  # milliseconds
        (str(EPOCH_2026), "2026-03-06T17:05:13+00:00"),
        (str(EPOCH_2026 * 1000), "2026-03-06T17:05:13+00:00"),
        ("1" * 16, None),  # 16 digits: ms, past 2200
        ("1" * 17, None),
        ("000" + str(EPOCH_2026 * 1000), "2026-03-06T17:05:13+00:00"),  # 16 digits, zeros first
        ("0000" + str(EPOCH_2026 * 1000), None),  # 17: not read at all
        (0, "1970-01-01T00:00:00+00:00"),
        (-1, None),
        (10**11, None),  # seconds, past 2200
        (10**11 + 1, "1973-03-03T09:46:40.001000+00:00"),  # milliseconds
        (7258118399, "2199-12-31T23:59:59+00:00"),
        (7258118400, None),
        (math.nan, None),
        (math.inf, None),
        (10**400, None),  # past float's range: no OverflowError either
        ("2026-03-06T17:05:13.391Z", "2026-03-06T17:05:13.391000+00:00"),
        ("2026-03-06T17:05:13Z", "2026-03-06T17:05:13+00:00"),
        ("2026-03-06 17:05Z", "2026-03-06T17:05:00+00:00"),
        ("2026-03-06Z", None),  # a date has no zone: not "+00:00" read as a time of day
        ("2026-03-06T22:35:13+05:30", "2026-03-06T17:05:13+00:00"),
        ("2026-03-06 17:05:13", "2026-03-06T17:05:13+00:00"),  # naive: in the zone given, UTC by default
        ("  2026-03-06 17:05:13  ", "2026-03-06T17:05:13+00:00"),
        ("2026-03-06", "2026-03-06T00:00:00+00:00"),
        ("Fri, 06 Mar 2026 17:05:13 GMT", "2026-03-06T17:05:13+00:00"),
        ("0000-00-00 00:00:00", None),
        ("", None),
        ("   ", None),
        ("x" * 65, None),
        ("Fri, 06 Mar 2026 17:05:13" + " " * 36 + "GMT", "2026-03-06T17:05:13+00:00"),  # 64 characters
        ("Fri, 06 Mar 2026 17:05:13" + " " * 37 + "GMT", None),
        ("  2026-03-06T17:05:13" + " " * 60, "2026-03-06T17:05:13+00:00"),  # counted once stripped
        ("yesterday", None),
        ("1969-12-31T23:59:59Z", None),
        ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00+00:00"),
        ("2199-12-31T23:59:59Z", "2199-12-31T23:59:59+00:00"),
        ("2200-01-01T00:00:00Z", None),
        ("0001-01-01T00:00:00+05:00", None),  # before datetime's range once in UTC
        ("9999-12-31T23:59:59-05:00", None),
        ("2026-13-01", None),
    ],
)
def test_timestamp(value: Any, expected: str | None) -> None:
    got = parse.timestamp(value)
    assert (got.isoformat() if got else None) == expected
    if got is not None:
        assert got.tzinfo is UTC


def test_timestamp_reads_naive_times_in_the_zone_given() -> None:
    got = parse.timestamp("2026-03-06 10:00:00", IST)
    assert got == datetime(2026, 3, 6, 4, 30, tzinfo=UTC) and got.tzinfo is UTC
    # A time that says its zone keeps it.
    assert parse.timestamp("2026-03-06T10:00:00+00:00", IST) == datetime(2026, 3, 6, 10, tzinfo=UTC)
    assert parse.timestamp(EPOCH_2026, IST) == datetime(2026, 3, 6, 17, 5, 13, tzinfo=UTC)
    assert parse.timestamp(str(EPOCH_2026), timezone(timedelta(hours=5))) == datetime(
        2026, 3, 6, 17, 5, 13, tzinfo=UTC
    )


def test_local() -> None:
    assert parse.local("2026-05-06", "10:00:01", ZoneInfo("America/Sao_Paulo")) == datetime(
        2026, 5, 6, 13, 0, 1, tzinfo=UTC
    )
    for date, clock in (("2026-05-06", ""), ("", "10:00:01"), (None, "10:00:01"), ("2026-05-06", None)):
        assert parse.local(date, clock, UTC) is None
    assert parse.local("2026-05-06", "25:00:00", UTC) is None


def test_retry_after() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    cases: list[tuple[str | None, float | None]] = [
        (None, None),
        ("", None),
        ("42", 42.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        ("+5", 5.0),
        ("0", None),
        ("-5", None),
        ("0.0", None),
        ("nan", None),
        ("inf", None),
        ("1e999", None),  # a number past float's range: no wait, not an endless one
        ("soon", None),
        ("1" * 65, None),
        ("Thu, 01 Jan 2026 12:01:00 GMT", 60.0),
        ("Thu, 01 Jan 2026 11:59:00 GMT", None),
        ("Thu, 01 Jan 2026 12:00:00 GMT", None),
    ]
    wrong = [(v, got, e) for v, e in cases if (got := parse.retry_after(v, now)) != e]
    assert wrong == []
    # Without `now`, the real clock: a date long past is no wait.
    assert parse.retry_after("Mon, 01 Jan 2001 00:00:00 GMT") is None
    assert (parse.retry_after("Fri, 01 Jan 2100 00:00:00 GMT") or 0) > 0
