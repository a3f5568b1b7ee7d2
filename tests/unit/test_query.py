"""The filter language: fields, OR, negation, wildcards, comparisons, is:, free words, and its errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callmon.model import Call, Status
from callmon.query import QueryError, compile_query

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def call(**kw: object) -> Call:
    base: dict[str, object] = {
        "source": "acme-vobiz",
        "provider": "vobiz",
        "call_id": "abc-123",
        "status": Status.COMPLETED,
        "campaign": "Renewals",
        "to": "+919812345678",
        "from_": "+14155550000",
        "reason": "Normal Hangup",
        "direction": "outbound",
        "duration_s": 75,
        "billable_s": 70,
        "cost": 0.45,
        "started_at": NOW - timedelta(minutes=5),
    }
    base.update(kw)
    return Call(**base)  # type: ignore[arg-type]


CALLS = [
    call(),
    call(call_id="x-1", status=Status.FAILED, provider="velip", source="ops-velip", reason="congestion",
         duration_s=3, cost=0.0, to="5511999990000", started_at=NOW - timedelta(minutes=30)),
    call(call_id="x-2", status=Status.IN_PROGRESS, provider="dialgen", source="bot", campaign="batch_9",
         duration_s=None, cost=None, to="+15550001111", reason=None),
    call(call_id="x-3", status=Status.BUSY, provider="dialgood", source="dg", campaign=None, to=None,
         duration_s=None, cost=None, reason=None, started_at=NOW - timedelta(hours=2)),
]  # fmt: skip


def ids(query: str) -> list[str]:
    """The calls the query matches, asked both ways: one call at a time (the live table's changes, `watch`),
    and a whole set at once (the table's filter, column by column); both must agree."""
    q = compile_query(query)
    one_by_one = [c.call_id for c in CALLS if q(c, NOW.timestamp())]
    assert [c.call_id for c in q.select(CALLS, NOW.timestamp())] == one_by_one
    return one_by_one


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["abc-123", "x-1", "x-2", "x-3"]),
        ("status:failed", ["x-1"]),
        ("status:failed,busy", ["x-1", "x-3"]),
        ("-status:completed", ["x-1", "x-2", "x-3"]),
        ("provider:vel*", ["x-1"]),
        ("to:+91*", ["abc-123"]),
        ("to:0001111", ["x-2"]),
        ("campaign:renew", ["abc-123", "x-1"]),
        ("id:x-*", ["x-1", "x-2", "x-3"]),
        ("dur>60", ["abc-123"]),
        ("dur<=3", ["x-1"]),
        ("duration>=1m", ["abc-123"]),
        ("cost>=0.45", ["abc-123"]),
        ("cost<0.1", ["x-1"]),
        ("age<10m", ["abc-123", "x-2"]),
        ("age>20m", ["x-1", "x-3"]),
        ("is:active", ["x-2"]),
        ("is:ended", ["abc-123", "x-1", "x-3"]),
        ("congestion", ["x-1"]),
        ("RENEWALS -status:failed", ["abc-123"]),
        ('reason:"normal hangup"', ["abc-123"]),
        ("source:bot status:in-progress", ["x-2"]),
        ("direction:outbound provider:dialgood", ["x-3"]),
        ("-campaign:renew", ["x-2", "x-3"]),
        ("-is:active -to:+1*", ["abc-123", "x-1", "x-3"]),
        ("-congestion campaign:renew* cost>0", ["abc-123"]),
        ("status:fail*,bus* age>1h", ["x-3"]),
        ("campaign:renew,batch*", ["abc-123", "x-1", "x-2"]),
        ("-campaign:renew,*_9", ["x-3"]),
        ("provider:VOBIZ,dialgen", ["abc-123", "x-2"]),
        ("direction:out", []),  # an exact field: a part of the value is not enough
        ("to:+91*,*1111 status:completed,in-progress", ["abc-123", "x-2"]),
        ("status:failed campaign:renew", ["x-1"]),
    ],
)
def test_queries(query: str, expected: list[str]) -> None:
    assert ids(query) == expected


def test_select_narrows_to_statuses_too() -> None:
    picked = compile_query("").select(CALLS, statuses={Status.BUSY, Status.FAILED})
    assert [c.call_id for c in picked] == ["x-1", "x-3"]
    picked = compile_query("campaign:renew").select(CALLS, statuses={Status.FAILED})
    assert [c.call_id for c in picked] == ["x-1"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status:fialed", "unknown status 'fialed'"),
        ("provider:twilio", "unknown provider 'twilio'"),
        ("colour:red", "unknown field 'colour'"),
        ("dur>abc", "'abc' is not a number"),
        ("speed>3", "unknown field 'speed'"),
        ("is:weird", "is: takes one of"),
        ('reason:"open', "unbalanced quote"),
        ("status:", "needs a value"),
        ("dur:60", "compare numbers"),
        ("to>5", "use to:value"),
        ("dur>", "needs a value after >"),
        ("status", "is a field name"),
        ("dur", "compare it"),
        ("cost>=", "needs a value after >="),
    ],
)
def test_query_errors_name_the_term(query: str, message: str) -> None:
    with pytest.raises(QueryError, match=message.replace("(", r"\(")):
        compile_query(query)
