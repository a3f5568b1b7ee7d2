"""The filter language: every field and alias, every comparison at its boundary, units, negation, wildcards,
free words on every field they search, `is:`, the clock, and the errors.

Each query is asked both ways (`ids`): one call at a time, and a whole set at once by `Query.select`, which
tests a column at a time; both must agree. The calls are laid out so that each test has one reason to pass:
a free word found in only one field of one call, numbers one apart on each side of a boundary.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import callmon.query as query_module
from callmon.model import Call, Status, trusted
from callmon.providers import names
from callmon.query import Query, QueryError, _Term, compile_query

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
T = NOW.timestamp()
ALL = ["abc-123", "x-1", "x-2", "x-3", "q-9", "f-7"]


def call(**kw: Any) -> Call:
    base: dict[str, Any] = {
        "source": "acme-vobiz",
        "provider": "vobiz",
        "call_id": "abc-123",
        "status": Status.COMPLETED,
        "campaign": "Renewals",
        "raw_status": "ANSWER",
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
    return Call(**base)


CALLS = [
    # ended 75 s, billed 70, age 300 s
    call(),
    # ended 3 s, billed 0, cost 0, age 30 min; a reason with a colon in it
    call(call_id="x-1", status=Status.FAILED, provider="velip", source="ops-velip", raw_status="sip-503",
         reason="congestion: no circuit", from_="+14155551111", to="5511999990000", duration_s=3,
         billable_s=0, cost=0.0, started_at=NOW - timedelta(minutes=30)),
    # live: answered 90 s ago (the provider's stale count says 5), age 120 s
    call(call_id="x-2", status=Status.IN_PROGRESS, provider="dialgen", source="bot", campaign="batch_9",
         raw_status="in-call", reason=None, direction=None, from_="+14155551111", to="+15550001111",
         duration_s=5, billable_s=None, cost=None, started_at=NOW - timedelta(minutes=2),
         answered_at=NOW - timedelta(seconds=90)),
    # ended without a duration, nothing billed, age 2 h; no campaign, no number
    call(call_id="x-3", status=Status.BUSY, provider="dialgood", source="dg", campaign=None,
         raw_status="USER_BUSY", reason=None, from_=None, to=None, duration_s=None, billable_s=None,
         cost=None, started_at=NOW - timedelta(hours=2)),
    # live: ringing for 40 s, not answered; inbound
    call(call_id="q-9", status=Status.RINGING, provider="cloudagent", source="ca-main", campaign="Winback",
         raw_status="DIALING", reason=None, direction="inbound", from_="+14155551111", to="+442071234567",
         duration_s=None, billable_s=None, cost=None, started_at=NOW - timedelta(seconds=40)),
    # queued: no start time yet, last heard of 10 min ago (its age), no live duration
    call(call_id="f-7", status=Status.QUEUED, campaign="Winback", raw_status=None, reason=None,
         from_="+14155551111", to="+919800000000", duration_s=None, billable_s=None, cost=None,
         started_at=None, updated_at=NOW - timedelta(minutes=10)),
]  # fmt: skip


@pytest.fixture(autouse=True, scope="module")
def clock() -> Iterator[None]:
    """The filter's own clock reads NOW: a query asked without `now` must give the same answer. Once for the
    module's two hundred tests."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(query_module, "time", types.SimpleNamespace(time=lambda: T))
        yield


def ids(query: str) -> list[str]:
    """The calls the query matches, asked one call at a time (the live table's changes, `watch`) and as a
    whole set (the table's filter, column by column), each with `now` and on the filter's own clock."""
    q = compile_query(query)
    one_by_one = [c.call_id for c in CALLS if q(c, T)]
    assert [c.call_id for c in CALLS if q(c)] == one_by_one
    assert [c.call_id for c in q.select(CALLS, T)] == one_by_one
    assert [c.call_id for c in q.select(CALLS)] == one_by_one
    return one_by_one


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ALL),
        ('""', ALL),
        # status: exact, validated, OR, wildcards, any case
        ("status:failed", ["x-1"]),
        ("status:FAILED", ["x-1"]),
        ("status:failed,busy", ["x-1", "x-3"]),
        ("status:failed,", ["x-1"]),
        ("status:fail*,bus*", ["x-1", "x-3"]),
        ("status:*ing", ["q-9"]),
        ("-status:completed", ["x-1", "x-2", "x-3", "q-9", "f-7"]),
        # provider: exact, validated
        ("provider:velip", ["x-1"]),
        ("provider:vel*", ["x-1"]),
        ("provider:dialg*", ["x-2", "x-3"]),
        ("provider:VOBIZ,dialgen", ["abc-123", "x-2", "f-7"]),
        ("-provider:vobiz", ["x-1", "x-2", "x-3", "q-9"]),
        # direction: exact, so a part of the value is not enough
        ("direction:outbound", ["abc-123", "x-1", "x-3", "f-7"]),
        ("direction:out", []),
        ("dir:inbound", ["q-9"]),
        ("direction:*bound", ["abc-123", "x-1", "x-3", "q-9", "f-7"]),
        ("-dir:outbound", ["x-2", "q-9"]),
        # text fields match when they contain the value
        ("source:velip", ["x-1"]),
        ("source:acme-vobiz", ["abc-123", "f-7"]),
        ("source:o*", ["x-1"]),
        ("campaign:renew", ["abc-123", "x-1"]),
        ("campaign:RENEW", ["abc-123", "x-1"]),
        ("camp:batch", ["x-2"]),
        ("campaign:renew,batch*", ["abc-123", "x-1", "x-2"]),
        ("-campaign:renew", ["x-2", "x-3", "q-9", "f-7"]),
        ("-campaign:renew,*_9", ["x-3", "q-9", "f-7"]),
        ("id:x-*", ["x-1", "x-2", "x-3"]),
        ("id:*-1", ["x-1"]),  # the whole field: not "abc-123"
        ("id:X-3", ["x-3"]),
        ("call:abc", ["abc-123"]),
        ("call_id:bc-12", ["abc-123"]),
        ("from:5550000", ["abc-123"]),
        ("from:+1415555*", ["abc-123", "x-1", "x-2", "q-9", "f-7"]),
        ("to:+91*", ["abc-123", "f-7"]),
        ("to:0001111", ["x-2"]),
        ("-to:+1*", ["abc-123", "x-1", "x-3", "q-9", "f-7"]),
        ('reason:"normal hangup"', ["abc-123"]),
        ("reason:HANG", ["abc-123"]),
        ('reason:"congestion: no"', ["x-1"]),
        ("raw:503", ["x-1"]),
        ("raw:ANSWER", ["abc-123"]),
        ("raw:*ing", ["q-9"]),
        ("raw_status:user_busy", ["x-3"]),
        # dur: the provider's duration once ended, the live one while active (the stale 5 is not it)
        ("dur>75", ["x-2"]),
        ("dur>74", ["abc-123", "x-2"]),
        ("dur>=75", ["abc-123", "x-2"]),
        ("dur>=76", ["x-2"]),
        ("dur<75", ["x-1", "q-9"]),
        ("dur<76", ["abc-123", "x-1", "q-9"]),
        ("dur<=75", ["abc-123", "x-1", "q-9"]),
        ("dur<=74", ["x-1", "q-9"]),
        ("dur=75", ["abc-123"]),
        ("dur=90", ["x-2"]),
        ("dur=5", []),
        ("dur!=75", ["x-1", "x-2", "q-9"]),
        ("dur>1.5m", []),
        ("duration>=1.5m", ["x-2"]),
        ("-dur>60", ["x-1", "x-3", "q-9", "f-7"]),
        ("is:active dur>30", ["x-2", "q-9"]),
        ("is:active dur>40", ["x-2"]),
        # bill
        ("bill=70", ["abc-123"]),
        ("bill>69", ["abc-123"]),
        ("bill>70", []),
        ("bill>=70", ["abc-123"]),
        ("bill<70", ["x-1"]),
        ("bill<=70", ["abc-123", "x-1"]),
        ("bill!=70", ["x-1"]),
        ("billsec>=70", ["abc-123"]),
        ("billable<1", ["x-1"]),
        ("bill>1m", ["abc-123"]),
        # cost: a number, no units
        ("cost=0.45", ["abc-123"]),
        ("cost!=0.45", ["x-1"]),
        ("cost>0", ["abc-123"]),
        ("cost>=0", ["abc-123", "x-1"]),
        ("cost<0.45", ["x-1"]),
        ("cost<=0.45", ["abc-123", "x-1"]),
        ("cost>0.45", []),
        # age: since the start, or since the last update when the start is unknown; s m h d
        ("age=300", ["abc-123"]),
        ("age=5m", ["abc-123"]),
        ("age<5m", ["x-2", "q-9"]),
        ("age<=5m", ["abc-123", "x-2", "q-9"]),
        ("age>5m", ["x-1", "x-3", "f-7"]),
        ("age>=5m", ["abc-123", "x-1", "x-3", "f-7"]),
        ("age!=5m", ["x-1", "x-2", "x-3", "q-9", "f-7"]),
        ("age>10m", ["x-1", "x-3"]),
        ("age>=10m", ["x-1", "x-3", "f-7"]),
        ("age<=40s", ["q-9"]),
        ("age<40s", []),
        ("age>0.5h", ["x-3"]),
        ("age>=0.5h", ["x-1", "x-3"]),
        ("age>=2h", ["x-3"]),
        ("age<1d", ALL),
        ("age>1d", []),
        ("-age<10m", ["x-1", "x-3", "f-7"]),
        # is:
        ("is:active", ["x-2", "q-9", "f-7"]),
        ("is:live", ["x-2", "q-9", "f-7"]),
        ("is:ended", ["abc-123", "x-1", "x-3"]),
        ("IS:ENDED", ["abc-123", "x-1", "x-3"]),
        ("-is:active", ["abc-123", "x-1", "x-3"]),
        # free words: part of a value, any case, on each field they search (each word is in one field only)
        ("renew", ["abc-123", "x-1"]),
        ("RENEWALS", ["abc-123", "x-1"]),
        ("ring", ["q-9"]),  # status
        ("progress", ["x-2"]),  # status
        ("abc", ["abc-123"]),  # id
        ("batch", ["x-2"]),  # campaign
        ("5550000", ["abc-123"]),  # from
        ("98123", ["abc-123"]),  # to
        ("circuit", ["x-1"]),  # reason
        ("503", ["x-1"]),  # raw status
        ("ops", ["x-1"]),  # source
        ("cloud", ["q-9"]),  # provider
        ("inbound", []),  # direction is not searched
        ("x-*", ["x-1", "x-2", "x-3"]),  # a wildcard matches a whole field
        # "-" and a digit is a word, not a negation
        ("-1", ["abc-123", "x-1"]),
        ("-5s", []),
        # negation, down to one character
        ("-x", ["abc-123", "q-9", "f-7"]),
        ("-congestion", ["abc-123", "x-2", "x-3", "q-9", "f-7"]),
        # terms are ANDed, whatever comes first (a clock term first too)
        ("RENEWALS -status:failed", ["abc-123"]),
        ("source:bot status:in-progress", ["x-2"]),
        ("source:acme status:queued", ["f-7"]),
        ("direction:outbound provider:dialgood", ["x-3"]),
        ("age<10m status:in-progress", ["x-2"]),
        ("dur>30 is:active", ["x-2", "q-9"]),
        ("age<10m is:active dur>30", ["x-2", "q-9"]),
        ("age>1m -status:completed campaign:renew", ["x-1"]),
        ("-is:active -to:+1*", ["abc-123", "x-1", "x-3"]),
        ("-congestion campaign:renew* cost>0", ["abc-123"]),
        ("status:fail*,bus* age>1h", ["x-3"]),
        ("to:+91*,*1111 status:completed,in-progress", ["abc-123", "x-2"]),
        ("status:failed campaign:renew", ["x-1"]),
        ("renew acme cost>0.1 age<6m", ["abc-123"]),
        ("renew acme cost>0.1 age<6m bill<70", []),
    ],
)
def test_queries(query: str, expected: list[str]) -> None:
    assert ids(query) == expected


def test_now_given_wins_over_the_clock() -> None:
    q = compile_query("age<10m")
    assert q(CALLS[0]) and q(CALLS[0], T)
    assert not q(CALLS[0], T + 3600)
    assert q.select(CALLS[:1], T + 3600) == []
    q = compile_query("age<10m campaign:renew")
    assert q(CALLS[0]) and not q(CALLS[0], T + 3600)
    q = compile_query("-age>10m")
    assert q(CALLS[0]) and not q(CALLS[0], T + 3600)


def test_a_query_says_whether_its_answer_moves_with_the_clock() -> None:
    timed = [
        "age<10m",
        "dur>30",
        "-age>1h",
        "-dur<5",
        "duration>5",
        "status:failed age<1h",
        "age<1h status:failed",
    ]
    for text in timed:
        assert compile_query(text).timed, text
    for text in [
        "",
        "status:failed",
        "bill>5",
        "billsec>5",
        "cost>1",
        "-cost>1",
        "renew",
        "campaign:x",
        "is:active",
    ]:
        assert not compile_query(text).timed, text


@pytest.mark.parametrize(
    ("query", "seconds"),
    [("age=1d", 86400), ("age=24h", 86400), ("age=1440m", 86400), ("age=86400s", 86400), ("age=86400", 86400),
     ("age=1h", 3600), ("age=60m", 3600), ("age=1m", 60), ("age=60s", 60), ("age=1s", 1), ("age=1", 1),
     ("age=1.5m", 90), ("age=0.5d", 43200), ("age=0s", 0)],
)  # fmt: skip
def test_each_unit_is_its_number_of_seconds(query: str, seconds: int) -> None:
    q = compile_query(query)
    for age in (seconds - 1, seconds, seconds + 1):
        assert q(call(started_at=NOW - timedelta(seconds=age)), T) == (age == seconds), age


def test_a_call_without_times_has_no_age_and_no_live_duration() -> None:
    timeless = [call(status=status, started_at=None, answered_at=None, updated_at=None, duration_s=None)
                for status in (Status.RINGING, Status.COMPLETED)]  # fmt: skip
    for text in ["age<1d", "age>=0", "age!=5", "dur>=0", "dur!=5"]:
        q = compile_query(text)
        assert q.select(timeless, T) == [] and not any(q(c, T) for c in timeless), text
        assert compile_query("-" + text).select(timeless, T) == timeless, text


def test_a_field_value_is_tested_once_per_query(monkeypatch: pytest.MonkeyPatch) -> None:
    lowered: list[str] = []

    class Counted(str):
        """A field value that says when it is lowered: each distinct value should be, once."""

        def lower(self) -> str:
            lowered.append(str(self))
            return str.lower(self)

    def counted(name: str) -> Call:
        # Built as a trusted record: the untrusted-value rule would make the field a plain str again.
        return trusted(source="s", provider="vobiz", call_id="c", status=Status.COMPLETED, campaign=Counted(name))

    q = compile_query("campaign:renew")
    picked = [q(counted(name), T) for name in ["Renewals", "Winback", "Renewals", "Winback"]]
    assert picked == [True, False, True, False]
    assert lowered == ["Renewals", "Winback"]
    # Up to a point: past the limit, a new value is tested each time it comes (and not kept).
    monkeypatch.setattr(query_module, "_MEMO_LIMIT", 2)
    lowered.clear()
    q = compile_query("campaign:renew")
    for name in ["a", "b", "a", "b"]:
        q(counted(name), T)
    assert lowered == ["a", "b", "b"]


def test_select_narrows_to_statuses_too() -> None:
    picked = compile_query("").select(CALLS, statuses={Status.BUSY, Status.FAILED})
    assert [c.call_id for c in picked] == ["x-1", "x-3"]
    picked = compile_query("campaign:renew").select(CALLS, statuses={Status.FAILED})
    assert [c.call_id for c in picked] == ["x-1"]
    picked = compile_query("-status:failed").select(CALLS, T, statuses={Status.FAILED, Status.BUSY})
    assert [c.call_id for c in picked] == ["x-3"]


def test_the_query_keeps_its_text() -> None:
    for text in ["status:failed", "status:failed   renew", "renew age<1h -x", "-x"]:
        assert compile_query(f"  {text} ").text == text
    assert compile_query(None).text == "" and compile_query(None).empty
    assert compile_query("   ").text == "" and compile_query("   ").empty
    quoted = compile_query('""')
    assert quoted.text == '""' and quoted.empty and quoted(CALLS[0])
    assert not compile_query("renew").empty


def how(term: _Term) -> object:
    if term.statuses is not None:
        return set(term.statuses)
    if term.column is not None:
        return term.column[0]
    return "per call"


ENDED_OR_UNKNOWN = {
    Status.COMPLETED,
    Status.NO_ANSWER,
    Status.BUSY,
    Status.FAILED,
    Status.CANCELED,
    Status.UNKNOWN,
}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status:failed", {Status.FAILED}),
        ("status:*ing", {Status.RINGING}),
        ("-status:failed", set(Status) - {Status.FAILED}),
        ("is:active", {Status.QUEUED, Status.RINGING, Status.IN_PROGRESS}),
        ("-is:active", ENDED_OR_UNKNOWN),
        ("campaign:renew", "campaign"),
        ("-campaign:renew", "campaign"),
        ("id:x*", "call_id"),
        ("from:+1", "from_"),
        ("dir:in", "direction"),
        ("raw:503", "raw_status"),
        ("provider:velip", "provider"),
        ("renew", "per call"),
        ("-renew", "per call"),
        ("dur>5", "per call"),
        ("-age<5m", "per call"),
    ],
)
def test_status_and_field_terms_are_tested_a_column_at_a_time(query: str, expected: object) -> None:
    (term,) = compile_query(query).terms
    assert how(term) == expected


def test_select_tests_each_distinct_value_once_and_column_terms_never_per_call() -> None:
    seen: list[set[object]] = []

    def renewals(values: Any) -> frozenset[Any]:
        seen.append(set(values))
        return frozenset(v for v in values if v == "Renewals")

    def never(c: Call, now: float) -> bool:
        raise AssertionError("ran per call")

    asked: list[tuple[str, float]] = []

    def not_x2(c: Call, now: float) -> bool:
        asked.append((c.call_id, now))
        return c.call_id != "x-2"

    terms = (_Term(never, statuses=(Status.FAILED, Status.COMPLETED)), _Term(never, ("campaign", renewals)))
    q = Query("test", never, terms)
    assert [c.call_id for c in q.select(CALLS, T)] == ["abc-123", "x-1"]
    assert seen == [{"Renewals"}]  # the statuses went first: only the calls they kept were read
    seen.clear()
    q = Query("test", never, (_Term(never, ("campaign", renewals)), _Term(not_x2)))
    assert [c.call_id for c in q.select(CALLS, T + 1)] == ["abc-123", "x-1"]
    assert seen == [{"Renewals", "batch_9", "Winback", None}]
    assert asked == [("abc-123", T + 1), ("x-1", T + 1)]  # per-call terms last, on what is left


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status:fialed", "'status:fialed': unknown status 'fialed' (one of: queued, ringing, in-progress, "
                          "completed, no-answer, busy, failed, canceled, unknown)"),
        ("-provider:twilio", "'provider:twilio': unknown provider 'twilio' (one of: dialgood, dialgen, "
                             "cloudagent, velip, vobiz)"),
        ("provider:twilio", "'provider:twilio': unknown provider 'twilio' (one of: dialgood, dialgen, "
                            "cloudagent, velip, vobiz)"),
        ("colour:red", "'colour:red': unknown field 'colour' (fields: status, provider, source, campaign, id, "
                       "from, to, direction, reason, raw, is)"),
        ("dur>abc", "'dur>abc': 'abc' is not a number (units: s, m, h, d)"),
        ("age<1x", "'age<1x': '1x' is not a number (units: s, m, h, d)"),
        ("dur>m", "'dur>m': 'nothing' is not a number (units: s, m, h, d)"),
        ('"dur> "', "'dur> ': 'nothing' is not a number (units: s, m, h, d)"),
        ("cost>5m", "'cost>5m': '5m' is not a number"),
        ("speed>3", "'speed>3': unknown field 'speed' (compare one of: dur, bill, cost, age)"),
        ("is:weird", "'is:weird': is: takes one of active, ended, live"),
        ('reason:"open', "unbalanced quote (No closing quotation)"),
        ("status:", "'status:': status: needs a value"),
        ("camp:,", "'camp:,': campaign: needs a value"),
        ("dur:60", "'dur:60': compare numbers with > < = (e.g. dur>60)"),
        ("billsec:5", "'billsec:5': compare numbers with > < = (e.g. billsec>60)"),
        ("to>5", "'to>5': use to:value for text fields"),
        ("camp>5", "'camp>5': use camp:value for text fields"),
        ("dur>", "'dur>': needs a value after >"),
        ("cost>=", "'cost>=': needs a value after >="),
        ("status", "'status' is a field name: add ':' and a value"),
        ("is", "'is' is a field name: add ':' and a value"),
        ("dur", "'dur' is a field: compare it, e.g. dur>60"),
        ("-", "'-': - negates the term right after it (e.g. -status:failed)"),
        ("- status:failed", "'-': - negates the term right after it (e.g. -status:failed)"),
        ("renew -", "'-': - negates the term right after it (e.g. -status:failed)"),
        ("--", "'--': - negates the term right after it (e.g. -status:failed)"),
        ("--x", "'--x': - negates the term right after it (e.g. -status:failed)"),
        ('"- "', "'- ': - negates the term right after it (e.g. -status:failed)"),
    ],
)  # fmt: skip
def test_query_errors_name_the_term(query: str, message: str) -> None:
    with pytest.raises(QueryError) as raised:
        compile_query(query)
    assert str(raised.value) == message


# -- property: select() is the per-call predicate, for any query of the grammar over any small set of calls ----

WORDS = ["renew", "Renewals", "x-*", "*1", "+91*", "acme", "bot", "in", "out*", "busy", "9", "-1", "*", "a*b"]
TEXT_NAMES = ["source", "campaign", "camp", "id", "call", "call_id", "from", "to", "direction", "dir", "reason",
              "raw", "raw_status"]  # fmt: skip
STATUS_VALUES = [s.value for s in Status] + ["fail*", "*ing", "*"]
PROVIDER_VALUES = [*list(names()), "dial*", "v*"]
TIME_NAMES = ["dur", "duration", "bill", "billable", "billsec", "age"]
OPERATORS = [">", ">=", "<", "<=", "=", "!="]


def values(choices: list[str]) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(choices), min_size=1, max_size=2).map(",".join)


terms = st.one_of(
    st.builds("{}:{}".format, st.sampled_from(TEXT_NAMES), values(WORDS)),
    st.builds("status:{}".format, values(STATUS_VALUES)),
    st.builds("provider:{}".format, values(PROVIDER_VALUES)),
    st.builds("{}{}{}{}".format, st.sampled_from(TIME_NAMES), st.sampled_from(OPERATORS),
              st.integers(0, 130), st.sampled_from(["", "s", "m"])),
    st.builds("cost{}{}".format, st.sampled_from(OPERATORS), st.sampled_from([0, 0.45, 1])),
    st.builds("is:{}".format, st.sampled_from(["active", "ended", "live"])),
    st.sampled_from(WORDS),
)  # fmt: skip
queries = st.lists(st.tuples(st.booleans(), terms), min_size=1, max_size=4).map(
    # "--1" is a mistake, not "not -1": a "-" negates only a term that does not start with one.
    lambda ts: " ".join(("-" if negate and term[0] != "-" else "") + term for negate, term in ts)
)
seconds_ago = st.one_of(st.none(), st.integers(0, 300).map(lambda s: NOW - timedelta(seconds=s)))
calls = st.lists(
    st.builds(
        Call,
        source=st.sampled_from(["acme-vobiz", "bot", "ops"]),
        provider=st.sampled_from(list(names())),
        call_id=st.sampled_from(["x-1", "x-2", "abc-123", "a1b"]),
        status=st.sampled_from(list(Status)),
        campaign=st.sampled_from([None, "Renewals", "batch_9"]),
        raw_status=st.sampled_from([None, "in-call", "USER_BUSY"]),
        reason=st.sampled_from([None, "busy here", "normal"]),
        direction=st.sampled_from([None, "outbound", "inbound"]),
        from_=st.sampled_from([None, "+14155550000"]),
        to=st.sampled_from([None, "+919812345678", "+15550001111"]),
        started_at=seconds_ago,
        answered_at=seconds_ago,
        updated_at=seconds_ago,
        duration_s=st.one_of(st.none(), st.integers(0, 130)),
        billable_s=st.one_of(st.none(), st.integers(0, 130)),
        cost=st.sampled_from([None, 0.0, 0.45, 1.0]),
    ),
    max_size=6,
)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(queries, calls, st.one_of(st.none(), st.sets(st.sampled_from(list(Status)), max_size=3)))
def test_select_is_the_per_call_predicate(text: str, some: list[Call], statuses: set[Status] | None) -> None:
    q = compile_query(text)
    expected = [c for c in some if q(c, T) and (statuses is None or c.status in statuses)]
    assert q.select(some, T, statuses) == expected
