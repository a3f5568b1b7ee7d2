"""A filter over history: the filter language as SQL that narrows what the database reads (with its indexes),
then the filter itself on each row read, so the answer is exactly the filter's.

The SQL is only ever wider than the filter, never narrower: a term it cannot say (a free word, a part of a
phone number) narrows nothing and is left to the filter. A field whose few distinct values the file keeps
(`vocabulary` table: sources, campaigns, providers, directions, raw statuses) is tested the way the monitor
tests it in memory: each distinct value once, then an indexed `IN (...)`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from callmon.model import ACTIVE
from callmon.query import Query

# A Call attribute and the history column that holds it.
COLUMNS = {
    "source": "source",
    "provider": "provider",
    "call_id": "call_id",
    "campaign": "campaign",
    "direction": "direction",
    "from_": "from_number",
    "to": "to_number",
    "reason": "reason",
    "raw_status": "raw_status",
}
# Fields whose distinct values the file keeps, while they are few enough to be a vocabulary.
VOCABULARY = ("source", "provider", "campaign", "direction", "raw_status")
_NUMERIC = {"bill": "billable_s", "cost": "cost"}
_FLIPPED = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "=": "=", "!=": "!="}
_SQL_OPERATORS = {">": ">", ">=": ">=", "<": "<", "<=": "<=", "=": "=", "!=": "<>"}


@dataclass(frozen=True, slots=True)
class Plan:
    where: str  # SQL, without "WHERE"
    args: tuple[Any, ...]
    empty: bool = False  # the filter can match nothing in the file (a campaign it never held)


def plan(
    query: Query,
    now: float,
    vocabulary: Callable[[str], Collection[str] | None],
    base: Sequence[tuple[str, Sequence[Any]]] = (),
) -> Plan:
    """SQL that every row the filter matches satisfies. `vocabulary(field)` gives a field's distinct values
    in the file, or None when they are too many to keep."""
    clauses = [clause for clause, _ in base]
    args: list[Any] = [arg for _, values in base for arg in values]
    for term in query.terms:
        if term.statuses is not None:
            if not term.statuses:
                return Plan("0", (), empty=True)
            clauses.append(f"status IN ({', '.join('?' * len(term.statuses))})")
            args.extend(s.value for s in term.statuses)
        elif term.column is not None:
            attr, passing = term.column
            values = vocabulary(attr) if attr in VOCABULARY else None
            if values is None:
                continue
            good = sorted(passing(values))
            column = COLUMNS[attr]
            held = f"{column} IN ({', '.join('?' * len(good))})" if good else "0"
            # A negated term also matches calls with no value at all (NULL is in no IN list).
            clauses.append(f"({held} OR {column} IS NULL)" if term.negative else held)
            args.extend(good)
            if not good and not term.negative:
                return Plan("0", (), empty=True)
        elif term.compare is not None and not term.negative:
            name, op, value = term.compare
            sql_op = _SQL_OPERATORS[op]
            if name in _NUMERIC:
                clauses.append(f"{_NUMERIC[name]} {sql_op} ?")
                args.append(value)
            elif name == "dur":
                # A live call's duration is the clock's: only an ended one's is in its row.
                live = ", ".join("?" * len(ACTIVE))
                clauses.append(f"(duration_s {sql_op} ? OR status IN ({live}))")
                args.extend((value, *(s.value for s in ACTIVE)))
            elif name == "age":
                # age OP x: the start (or last update) lies on the other side of now - x.
                clauses.append(f"COALESCE(started_at, updated_at) {_SQL_OPERATORS[_FLIPPED[op]]} ?")
                args.append(now - value)
    return Plan(" AND ".join(clauses) or "1", tuple(args))
