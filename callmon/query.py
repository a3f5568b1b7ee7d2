"""The filter language shared by `--filter`, per-source config filters and the monitor's filter bar.

    status:failed,busy  -provider:velip  to:+91*  dur>60  cost>=0.5  age<10m  is:active  timeout

Terms are ANDed. `field:a,b` is OR within a field; `-` negates a term; `*` is a wildcard. Text fields match
when they contain the value, or (with `*`) when the whole field matches the pattern. Free words match any
of id, campaign, from, to, reason, raw status, source, provider and status.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter

from callmon.model import ACTIVE, ENDED, Call, Status

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
    "reason": "reason",
    "raw": "raw_status",
}
_ALIASES = {"call": "id", "call_id": "id", "camp": "campaign", "dir": "direction", "raw_status": "raw"}
# comparison name -> (how to read it off a call, unit kind)
NUMERIC_FIELDS: dict[str, tuple[Callable[[Call, float], float | None], str]] = {
    "dur": (lambda c, now: c.duration_s, "time"),
    "bill": (lambda c, now: c.billable_s, "time"),
    "cost": (lambda c, now: c.cost, "number"),
    "age": (lambda c, now: _age(c, now), "time"),
}
_NUM_ALIASES = {"duration": "dur", "billable": "bill", "billsec": "bill"}
_IS = {
    "active": lambda c, now: c.status in ACTIVE,
    "ended": lambda c, now: c.status in ENDED,
    "live": lambda c, now: c.status in ACTIVE,
}
_EXACT_FIELDS = {"status", "provider", "direction"}
_COMPARISON = re.compile(r"^([a-z_]+)(>=|<=|!=|>|<|=)(.+)$")
_DANGLING = re.compile(r"^([a-z_]+)(>=|<=|!=|>|<|=)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_MEMO_LIMIT = 50_000
_FREE_FIELDS = ("call_id", "campaign", "from_", "to", "reason", "raw_status", "source", "provider")

PROVIDERS = ("dialgood", "dialgen", "cloudagent", "velip", "vobiz")


def _age(call: Call, now: float) -> float | None:
    anchor = call.started_at or call.updated_at
    return None if anchor is None else now - anchor.timestamp()


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    predicate: Predicate | None  # None: matches everything

    def __call__(self, call: Call, now: float | None = None) -> bool:
        if self.predicate is None:
            return True
        return self.predicate(call, time.time() if now is None else now)

    @property
    def empty(self) -> bool:
        return self.predicate is None


def compile_query(text: str | None) -> Query:
    text = (text or "").strip()
    if not text:
        return Query("", None)
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise QueryError(f"unbalanced quote ({exc})") from None
    predicates = [_term(token) for token in tokens if token]
    if not predicates:
        return Query(text, None)
    if len(predicates) == 1:
        return Query(text, predicates[0])
    if len(predicates) == 2:
        first, second = predicates
        return Query(text, lambda c, now: first(c, now) and second(c, now))
    return Query(text, lambda c, now: all(p(c, now) for p in predicates))


def _term(token: str) -> Predicate:
    negate = token.startswith("-") and len(token) > 1 and not token[1:2].isdigit()
    body = token[1:] if negate else token
    predicate = _positive(body)
    if negate:
        return lambda c, now: not predicate(c, now)
    return predicate


def _positive(body: str) -> Predicate:
    dangling = _DANGLING.match(body)
    if dangling:
        raise QueryError(f"{body!r}: needs a value after {dangling.group(2)}")
    comparison = _COMPARISON.match(body)
    if comparison and ":" not in comparison.group(1):
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
            return _IS[value.lower()]
        name = _ALIASES.get(name, name)
        if name in TEXT_FIELDS:
            return _field(name, value, body)
        if name in NUMERIC_FIELDS or name in _NUM_ALIASES:
            raise QueryError(f"{body!r}: compare numbers with > < = (e.g. {name}>60)")
        if name:
            raise QueryError(f"{body!r}: unknown field {name!r} (fields: {', '.join([*TEXT_FIELDS, 'is'])})")
    return _free(body)


def _field(name: str, value: str, body: str) -> Predicate:
    values = [v for v in value.split(",") if v]
    if not values:
        raise QueryError(f"{body!r}: {name}: needs a value")
    attr = TEXT_FIELDS[name]
    if name == "status":
        for v in values:
            if "*" not in v and v.lower() not in {s.value for s in Status}:
                raise QueryError(
                    f"{body!r}: unknown status {v!r} (one of: {', '.join(s.value for s in Status)})"
                )
    if name == "provider":
        for v in values:
            if "*" not in v and v.lower() not in PROVIDERS:
                raise QueryError(f"{body!r}: unknown provider {v!r} (one of: {', '.join(PROVIDERS)})")
    matchers = [_matcher(v, exact=name in _EXACT_FIELDS) for v in values]
    single = matchers[0] if len(matchers) == 1 else None
    if name == "status":
        # Nine members, known now: test membership by identity (an enum's hash is a Python call).
        wanted = tuple(s for s in Status if any(m(s.value) for m in matchers))
        return lambda call, now: call.status in wanted
    get = attrgetter(attr)
    # Field values repeat (statuses, sources, campaigns): remember each distinct value's answer.
    memo: dict[object, bool] = {}

    def predicate(call: Call, now: float) -> bool:
        field = get(call)
        if field is None:
            return False
        answer = memo.get(field)
        if answer is None:
            text = str(field).lower()
            answer = single(text) if single is not None else any(m(text) for m in matchers)
            if len(memo) < _MEMO_LIMIT:
                memo[field] = answer
        return answer

    return predicate


def _matcher(value: str, *, exact: bool) -> Callable[[str], bool]:
    value = value.lower()
    if "*" in value:
        pattern = re.compile("^" + ".*".join(re.escape(part) for part in value.split("*")) + "$", re.S)
        return lambda text: pattern.match(text) is not None
    if exact:
        return lambda text: text == value
    return lambda text: value in text


def _free(word: str) -> Predicate:
    name = word.lower()
    if name in TEXT_FIELDS or name in NUMERIC_FIELDS or name == "is":
        # Half-typed "status:..." (the table would flash empty on the way to a field term).
        raise QueryError(f"{word!r} is a field name: add ':' and a value" if name not in NUMERIC_FIELDS
                         else f"{word!r} is a field: compare it, e.g. {name}>60")  # fmt: skip
    match = _matcher(word, exact=False)

    def predicate(call: Call, now: float) -> bool:
        if match(call.status.value):
            return True
        for attr in _FREE_FIELDS:
            value = getattr(call, attr)
            if value is not None and match(value.lower()):
                return True
        return False

    return predicate


def _compare(name: str, op: str, raw_value: str, body: str) -> Predicate:
    read, kind = NUMERIC_FIELDS[name]
    value = _number(raw_value, kind, body)
    test: Callable[[float, float], bool] = {
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
    }[op]

    def predicate(call: Call, now: float) -> bool:
        actual = read(call, now)
        return actual is not None and test(actual, value)

    return predicate


def _number(text: str, kind: str, body: str) -> float:
    text = text.strip().lower()
    multiplier = 1
    if kind == "time" and text and text[-1] in _UNITS:
        multiplier = _UNITS[text[-1]]
        text = text[:-1]
    try:
        return float(text) * multiplier
    except ValueError:
        units = " (units: s, m, h, d)" if kind == "time" else ""
        raise QueryError(f"{body!r}: {text or 'nothing'!r} is not a number{units}") from None
