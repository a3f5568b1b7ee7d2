"""The filter language shared by `--filter`, per-source config filters and the monitor's filter bar.

    status:failed,busy  -provider:velip  to:+91*  dur>60  cost>=0.5  age<10m  is:active  timeout

Terms are ANDed. `field:a,b` is OR within a field; `-` negates the term right after it (`-5`, a `-` then a
digit, is a word); `*` is a wildcard. Text fields match when they contain the value, or (with `*`) when the
whole field matches the pattern. Free words match any of id, campaign, from, to, reason, raw status, source,
provider and status. `dur` is what the table's DUR cell shows (live while a call is); `age` and a live `dur`
move with the clock (`Query.timed`).
"""

from __future__ import annotations

import operator
import re
import shlex
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from itertools import compress, repeat
from operator import attrgetter, contains, eq
from typing import Any

from callmon.columns import live_seconds
from callmon.model import ACTIVE, ENDED, Call, Status
from callmon.providers import names

Predicate = Callable[[Call, float], bool]


class QueryError(ValueError):
    """A query that cannot be compiled; the message names the offending term."""


# field name in the language -> attribute on Call
TEXT_FIELDS: dict[str, str] = {
    "status": "status",
    "provider": "provider",
    "source": "source",
    "campaign": "campaign",
    "id": "call_id",
    "from": "from_",
    "to": "to",
    "direction": "direction",
    "reason": "why",  # as REASON shows it: the reason, else the provider's status word
    "raw": "raw_status",
}
_ALIASES = {"call": "id", "call_id": "id", "camp": "campaign", "dir": "direction", "raw_status": "raw"}


_LIVE = tuple(ACTIVE)  # tested by identity: an enum's hash is a Python call


def _dur(call: Call, now: float) -> float | None:
    # Only a live call's duration needs the clock; most calls have ended.
    return live_seconds(call, now) if call.status in _LIVE else call.duration_s


def _age(call: Call, now: float) -> float | None:
    anchor = call.started_at or call.updated_at
    return None if anchor is None else now - anchor.timestamp()


# comparison name -> (how to read it off a call at a time, unit kind, whether the answer moves with the clock)
NUMERIC_FIELDS: dict[str, tuple[Callable[[Call, float], float | None], str, bool]] = {
    # What the DUR cell shows, so `is:active dur>30` finds the calls live for more than 30 s.
    "dur": (_dur, "time", True),
    "bill": (lambda c, now: c.billable_s, "time", False),
    "cost": (lambda c, now: c.cost, "number", False),
    "age": (_age, "time", True),
}
_NUM_ALIASES = {"duration": "dur", "billable": "bill", "billsec": "bill"}
_IS = {"active": ACTIVE, "ended": ENDED, "live": ACTIVE}
_EXACT_FIELDS = {"status", "provider", "direction"}
_COMPARISON = re.compile(r"^([a-z_]+)(>=|<=|!=|>|<|=)(.+)$")
_DANGLING = re.compile(r"^([a-z_]+)(>=|<=|!=|>|<|=)$")
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "=": operator.eq,
    "!=": operator.ne,
}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_MEMO_LIMIT = 50_000
# Status first: it is the cheapest to read.
_FREE_FIELDS = ("status", "call_id", "campaign", "from_", "to", "reason", "raw_status", "source", "provider")



Passing = Callable[[Collection[Any]], frozenset[Any]]


@dataclass(frozen=True, slots=True)
class _Term:
    """One term of a query. Most test a single field's value; those also say which field and which of its
    values pass, so a whole column of calls can be tested at once, each distinct value once (Query.select)."""

    predicate: Predicate
    # The one field the term reads (if it reads one and not the clock), and of some values of that field
    # those that pass: one pass in C over all of them, not a call per value.
    column: tuple[str, Passing] | None = None
    statuses: tuple[Status, ...] | None = None  # for status terms: the statuses that pass
    timed: bool = False  # its answer changes with the clock alone
    # For a comparison: (field, operator, value), so a search of history can ask its database first.
    compare: tuple[str, str, float] | None = None
    negative: bool = False  # a negated term

    def negated(self) -> _Term:
        predicate, column = self.predicate, self.column
        if column is not None:
            attr, passing = column
            column = (attr, lambda values: frozenset(values) - passing(values))
        return _Term(
            lambda c, now: not predicate(c, now),
            column,
            None if self.statuses is None else tuple(s for s in Status if s not in self.statuses),
            self.timed,
            self.compare,
            not self.negative,
        )


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    predicate: Predicate | None  # None: matches everything
    terms: tuple[_Term, ...] = ()

    def __call__(self, call: Call, now: float | None = None) -> bool:
        if self.predicate is None:
            return True
        return self.predicate(call, time.time() if now is None else now)

    @property
    def empty(self) -> bool:
        return self.predicate is None

    @property
    def timed(self) -> bool:
        """Whether the answer can change with the clock alone (`age`, `dur` of live calls), so whoever shows
        the calls it picks re-applies it now and then."""
        return any(term.timed for term in self.terms)

    def select(
        self, calls: Iterable[Call], now: float | None = None, statuses: Collection[Status] | None = None
    ) -> list[Call]:
        """The calls that match (and have one of `statuses`, if given), in the order given.

        The same answer as testing each call, found faster: a field term reads its field off every call still
        in the running in one pass, tests each distinct value once (a campaign's name, not its 5,000 calls),
        and keeps the calls whose value passed. Terms that need the whole call (free words, numbers) run last,
        on what is left. The passes are comprehensions over the calls alone: CPython runs them faster than a
        chain of C calls per call (attrgetter, compress), and carrying the keys along touched every key kept
        by every pass, a cache miss each (the caller makes keys for the few calls left at the end).
        """
        picked: Iterable[Call] = calls
        # Status tests first: a status is one of nine objects and its test a tuple lookup, the cheapest pass
        # there is, and the calls it drops are calls the field passes after it need not read.
        wanted: list[tuple[Status, ...]] = [] if statuses is None else [tuple(statuses)]
        fields: list[tuple[str, Passing]] = []
        rest: list[Predicate] = []
        for term in self.terms:
            if term.statuses is not None:
                wanted.append(term.statuses)
            elif term.column is not None:
                fields.append(term.column)
            else:
                rest.append(term.predicate)
        for members in wanted:
            picked = [call for call in picked if call.status in members]
        for attr, passing in fields:
            # Field values repeat (a campaign's name, not its 5,000 calls): each distinct one is tested once.
            good = passing({getattr(call, attr) for call in picked})
            picked = [call for call in picked if getattr(call, attr) in good]
        if rest:
            at = time.time() if now is None else now
            picked = [call for call in picked if all(p(call, at) for p in rest)]
        return list(picked)


def compile_query(text: str | None) -> Query:
    text = (text or "").strip()
    if not text:
        return Query("", None)
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise QueryError(f"unbalanced quote ({exc})") from None
    terms = tuple(_term(token) for token in tokens if token)
    predicates = [term.predicate for term in terms]
    if not predicates:
        return Query(text, None)
    if len(predicates) == 1:
        return Query(text, predicates[0], terms)
    if len(predicates) == 2:
        first, second = predicates
        return Query(text, lambda c, now: first(c, now) and second(c, now), terms)
    return Query(text, lambda c, now: all(p(c, now) for p in predicates), terms)


def _term(token: str) -> _Term:
    if not token.startswith("-") or token[1:2].isdigit():  # -5 is a word ("-5 dB"), not "not 5"
        return _positive(token)
    body = token[1:]
    if not body.strip() or body.startswith("-"):
        # Taken as a word, a lone "-" would match most ids and statuses: it is a negation missing its term.
        raise QueryError(f"{token!r}: - negates the term right after it (e.g. -status:failed)")
    return _positive(body).negated()


def _statuses(wanted: Collection[Status]) -> _Term:
    # Nine members, known now: test membership by identity (an enum's hash is a Python call).
    members = tuple(s for s in Status if s in wanted)
    return _Term(lambda call, now: call.status in members, statuses=members)


def _positive(body: str) -> _Term:
    dangling = _DANGLING.match(body)
    if dangling:
        raise QueryError(f"{body!r}: needs a value after {dangling.group(2)}")
    comparison = _COMPARISON.match(body)
    if comparison:
        name = _NUM_ALIASES.get(comparison.group(1), comparison.group(1))
        if name in NUMERIC_FIELDS:
            return _compare(name, comparison.group(2), comparison.group(3), body)
        if comparison.group(1) in TEXT_FIELDS or comparison.group(1) in _ALIASES:
            raise QueryError(f"{body!r}: use {comparison.group(1)}:value for text fields")
        raise QueryError(
            f"{body!r}: unknown field {comparison.group(1)!r} (compare one of: {', '.join(NUMERIC_FIELDS)})"
        )
    if ":" in body:
        name, _, value = body.partition(":")
        name = name.lower()
        if name == "is":
            if value.lower() not in _IS:
                raise QueryError(f"{body!r}: is: takes one of {', '.join(_IS)}")
            return _statuses(_IS[value.lower()])
        name = _ALIASES.get(name, name)
        if name in TEXT_FIELDS:
            return _field(name, value, body)
        if name in NUMERIC_FIELDS or name in _NUM_ALIASES:
            raise QueryError(f"{body!r}: compare numbers with > < = (e.g. {name}>60)")
        if name:
            raise QueryError(f"{body!r}: unknown field {name!r} (fields: {', '.join([*TEXT_FIELDS, 'is'])})")
    return _Term(_free(body))


def _field(name: str, value: str, body: str) -> _Term:
    values = [v for v in value.split(",") if v]
    if not values:
        raise QueryError(f"{body!r}: {name}: needs a value")
    attr = TEXT_FIELDS[name]
    for v in values:
        if v == "=":
            raise QueryError(f"{body!r}: {name}:= needs a value (the whole {name}, e.g. {name}:=Renewals)")
    if name == "status":
        for v in (v.removeprefix("=") for v in values):
            if "*" not in v and v.lower() not in {s.value for s in Status}:
                raise QueryError(
                    f"{body!r}: unknown status {v!r} (one of: {', '.join(s.value for s in Status)})"
                )
    if name == "provider":
        for v in (v.removeprefix("=") for v in values):
            if "*" not in v and v.lower() not in names():
                raise QueryError(f"{body!r}: unknown provider {v!r} (one of: {', '.join(names())})")
    # "=value": the whole field, not a part of it (what a group of the group view filters on).
    matchers = [
        _Matcher.of(v[1:], exact=True) if v.startswith("=") else _Matcher.of(v, exact=name in _EXACT_FIELDS)
        for v in values
    ]
    if name == "status":
        return _statuses([s for s in Status if any(m(s.value) for m in matchers)])
    get = attrgetter(attr)

    # Field values repeat (sources, campaigns): remember each distinct value's answer (up to a point: a
    # dict keeps what it has, an LRU cache would pay an eviction for every new phone number).
    memo: dict[str | None, bool] = {None: False}

    def accepts(field: str | None) -> bool:
        answer = memo.get(field)
        if answer is None:
            assert field is not None  # it is in the memo from the start
            answer = any(m(field.lower()) for m in matchers)
            if len(memo) < _MEMO_LIMIT:
                memo[field] = answer
        return answer

    def passing(fields: Collection[Any]) -> frozenset[Any]:
        present = [field for field in fields if field is not None]
        texts = list(map(str.lower, map(str, present)))
        found: set[Any] = set()
        for matcher in matchers:
            found.update(compress(present, matcher.many(texts)))
        return frozenset(found)

    return _Term(lambda call, now: accepts(get(call)), (attr, passing))


@dataclass(frozen=True, slots=True)
class _Matcher:
    """One value of a field term, tested against lowercase text: contained in it, equal to it (exact fields), or
    matching it whole when it has a `*`."""

    value: str = ""  # without a `*`: the text to find (or to equal, for an exact field)
    exact: bool = False
    # With a `*`: what the whole text must match. Text fields hold no line breaks (cleaned when a call is
    # built), so `.` needs no DOTALL.
    pattern: re.Pattern[str] | None = None

    @classmethod
    def of(cls, value: str, *, exact: bool = False) -> _Matcher:
        value = value.lower()
        if "*" in value:
            return cls(pattern=re.compile(".*".join(map(re.escape, value.split("*")))))
        return cls(value, exact)

    def __call__(self, text: str) -> bool:
        if self.pattern is not None:
            return self.pattern.fullmatch(text) is not None
        return text == self.value if self.exact else self.value in text

    def many(self, texts: list[str]) -> Iterable[object]:
        """Whether each text matches (truthy or not), in C: a Python call per text is most of a filter."""
        if self.pattern is not None:
            return map(self.pattern.fullmatch, texts)
        return map(eq if self.exact else contains, texts, repeat(self.value))


def _free(word: str) -> Predicate:
    name = word.lower()
    if name in TEXT_FIELDS or name in NUMERIC_FIELDS or name == "is":
        # Half-typed "status:..." (the table would flash empty on the way to a field term).
        raise QueryError(f"{word!r} is a field name: add ':' and a value" if name not in NUMERIC_FIELDS
                         else f"{word!r} is a field: compare it, e.g. {name}>60")  # fmt: skip
    match = _Matcher.of(word)

    def predicate(call: Call, now: float) -> bool:
        for attr in _FREE_FIELDS:
            value = getattr(call, attr)
            if value is not None and match(value.lower()):
                return True
        return False

    return predicate


def _compare(name: str, op: str, raw_value: str, body: str) -> _Term:
    read, kind, timed = NUMERIC_FIELDS[name]
    value = _number(raw_value, kind, body)
    test = _OPERATORS[op]

    def predicate(call: Call, now: float) -> bool:
        actual = read(call, now)
        return actual is not None and test(actual, value)

    return _Term(predicate, timed=timed, compare=(name, op, value))


def _number(text: str, kind: str, body: str) -> float:
    text = text.strip().lower()
    multiplier = 1
    if kind == "time" and text[-1:] in _UNITS:
        multiplier = _UNITS[text[-1]]
        text = text[:-1]
    try:
        return float(text) * multiplier
    except ValueError:
        units = f" (units: {', '.join(_UNITS)})" if kind == "time" else ""
        raise QueryError(f"{body!r}: {text or 'nothing'!r} is not a number{units}") from None
