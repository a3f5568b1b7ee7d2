"""Alerts that page a person: rules from the config's `[[alerts]]`, evaluated in the engine's process (never
in a widget) on the same running totals the group view shows (callmon/measures.py).

Four kinds of rule:

- measure: a measure over a recent span crosses a threshold (`when = "failure_rate > 0.3"`, `over = "5m"`,
  `min_calls = 20`), for the calls a filter picks, as a whole or per group (`by = "campaign"`);
- source_down: a source down (erroring, auth failed, no credentials) for longer than `for`;
- stalled: no call placed for `for` in a group (a campaign, by default) that placed at least `min_calls` in
  the hour before: a dialer that stopped;
- stuck: calls active (queued, ringing, in progress) for longer than `for`.

Hysteresis, so that an alert does not flap: a measure alert fires once its condition has held for `for`
(default at once), and clears only once the measure is back past the threshold by `margin` (10 % of it, by
default) and has stayed there for `clear_after` (1 minute by default). The other kinds clear once their
condition has been false for `clear_after`.
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from sortedcontainers import SortedList

from callmon import durations
from callmon.health import SourceHealth
from callmon.measures import ALL, DIMENSIONS, MINUTES, Groups, Tally, delivered, placed_at
from callmon.model import Call
from callmon.query import Query, QueryError, compile_query
from callmon.store import CallStore, Change, Key

Kind = Literal["measure", "source_down", "stalled", "stuck"]
KINDS: tuple[Kind, ...] = ("measure", "source_down", "stalled", "stuck")
# measure -> (how it reads, whether it is a rate of ended calls (min_calls applies), its unit)
MEASURES: dict[str, tuple[str, bool, str]] = {
    "failure_rate": ("failure rate", True, "%"),
    "answer_rate": ("answer rate", True, "%"),
    "acd": ("ACD", True, "s"),
    "calls_per_min": ("calls/min", False, ""),
    "failures_per_min": ("failures/min", False, ""),
    "failures": ("failures", False, ""),
    "ended": ("ended calls", False, ""),
}
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}
_WHEN = re.compile(r"^\s*([a-z_/]+)\s*(>=|<=|>|<)\s*([0-9]*\.?[0-9]+)\s*(%|s|m)?\s*$")
_KEYS = {
    "name",
    "kind",
    "filter",
    "when",
    "over",
    "min_calls",
    "by",
    "for",
    "clear_after",
    "margin",
    "sources",
}
# What each kind needs, and what it takes: a rule with a key its kind does not use is a mistake worth a line.
_KIND_KEYS: dict[str, set[str]] = {
    "measure": {"name", "kind", "filter", "when", "over", "min_calls", "by", "for", "clear_after", "margin"},
    "source_down": {"name", "kind", "for", "clear_after", "sources"},
    "stalled": {"name", "kind", "filter", "by", "for", "min_calls", "clear_after"},
    "stuck": {"name", "kind", "filter", "for", "clear_after"},
}
_DEFAULT_FOR = {"measure": 0.0, "source_down": 120.0, "stalled": 600.0, "stuck": 1800.0}
STALLED_LOOKBACK = 3600.0  # a stalled group placed calls in this long before the silence
HISTORY = 1000  # alert events kept for the alerts panel


class RuleError(ValueError):
    """A rule that cannot be used: `key` is the setting at fault (for the config's line number)."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True, slots=True)
class Condition:
    measure: str
    op: str
    threshold: float

    def holds(self, value: float) -> bool:
        return _OPS[self.op](value, self.threshold)

    def clear(self, value: float, margin: float) -> bool:
        """Back past the threshold by the margin (a fraction of the threshold, at least a hair past it)."""
        gap = abs(self.threshold) * margin
        if self.op in (">", ">="):
            return value < self.threshold - gap or (gap == 0 and not self.holds(value))
        return value > self.threshold + gap or (gap == 0 and not self.holds(value))

    def text(self) -> str:
        name, _, unit = MEASURES[self.measure]
        return f"{name} {self.op} {_value_text(self.threshold, unit)}"


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    kind: Kind
    query: Query = field(default_factory=lambda: compile_query(""))
    when: Condition | None = None
    over: float = 300.0
    min_calls: int = 20
    by: str | None = None
    hold: float = 0.0  # `for`
    clear_after: float = 60.0
    margin: float = 0.1
    sources: tuple[str, ...] = ()


def parse_rule(raw: object, sources: Sequence[str] | None = None) -> Rule:
    """One `[[alerts]]` table as a rule; RuleError names what is wrong (and the key at fault). `sources`: the
    configured sources' names, to check a source_down rule's list against (None: not checked)."""
    if not isinstance(raw, Mapping):
        raise RuleError("each [[alerts]] entry must be a table")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise RuleError(
            f"unknown alert setting {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})", unknown[0]
        )
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 80:
        raise RuleError("alerts need a name (text, at most 80 characters)", "name")
    label = f"alert {name!r}"
    kind = raw.get("kind", "measure" if "when" in raw else None)
    if kind not in KINDS:
        if kind is None:
            raise RuleError(f"{label}: needs when = \"failure_rate > 0.3\" (or a kind: {', '.join(KINDS[1:])})",
                            "name")  # fmt: skip
        raise RuleError(f"{label}: unknown kind {kind!r} (one of: {', '.join(KINDS)})", "kind")
    extra = sorted(set(raw) - _KIND_KEYS[kind])
    if extra:
        raise RuleError(f"{label}: {extra[0]!r} does not apply to a {kind} alert", extra[0])

    def span(key: str, default: float, low: float, high: float, zero: bool = False) -> float:
        if key not in raw:
            return default
        try:
            return durations.parse(raw[key], low=low, high=high, zero=zero)
        except durations.DurationError as exc:
            raise RuleError(f"{label}: {key}: {exc}", key) from None

    query = compile_query("")
    if "filter" in raw:
        if not isinstance(raw["filter"], str):
            raise RuleError(f"{label}: filter must be a string (the filter language)", "filter")
        try:
            query = compile_query(raw["filter"])
        except QueryError as exc:
            raise RuleError(f"{label}: bad filter: {exc}", "filter") from None
        if query.timed:
            raise RuleError(f"{label}: filter: age and dur change by the second; alert on a measure instead",
                            "filter")  # fmt: skip
    when = None
    if kind == "measure":
        when = _condition(raw.get("when"), label)
    by = raw.get("by", "campaign" if kind == "stalled" else None)
    if by is not None and by not in DIMENSIONS:
        raise RuleError(f"{label}: by must be one of {', '.join(DIMENSIONS)}", "by")
    min_calls = raw.get("min_calls", 20 if kind == "measure" else 10)
    if isinstance(min_calls, bool) or not isinstance(min_calls, int) or not 1 <= min_calls <= 1_000_000:
        raise RuleError(f"{label}: min_calls must be a whole number from 1 to 1000000", "min_calls")
    margin = raw.get("margin", 0.1)
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 <= margin < 1:
        raise RuleError(f"{label}: margin must be a fraction of the threshold from 0 to 0.99", "margin")
    wanted: tuple[str, ...] = ()
    if "sources" in raw:
        names = raw["sources"]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise RuleError(f"{label}: sources must be a list of source names", "sources")
        unknown_sources = [n for n in names if sources is not None and n not in sources]
        if unknown_sources:
            known = ", ".join(sources or ()) or "none configured"
            raise RuleError(f"{label}: no source named {unknown_sources[0]!r} (sources: {known})", "sources")
        wanted = tuple(names)
    kept = MINUTES * 60.0
    hold_high = kept - STALLED_LOOKBACK if kind == "stalled" else 7 * 86400.0
    return Rule(
        name=name.strip(),
        kind=kind,
        query=query,
        when=when,
        over=span("over", 300.0, 60.0, kept),
        min_calls=min_calls,
        by=by,
        hold=span(
            "for", _DEFAULT_FOR[kind], 0.0 if kind == "measure" else 1.0, hold_high, zero=kind == "measure"
        ),
        clear_after=span("clear_after", 60.0, 0.0, 86400.0, zero=True),
        margin=float(margin),
        sources=wanted,
    )


def _condition(value: object, label: str) -> Condition:
    measures = ", ".join(MEASURES)
    if not isinstance(value, str):
        raise RuleError(f'{label}: when must be a condition like "failure_rate > 0.3" ({measures})', "when")
    m = _WHEN.match(value)
    if m is None:
        raise RuleError(f'{label}: when {value[:60]!r} is not "MEASURE OP NUMBER" (e.g. "failure_rate > 0.3")',
                        "when")  # fmt: skip
    measure, op, number, unit = m.groups()
    if measure not in MEASURES:
        raise RuleError(f"{label}: when: unknown measure {measure!r} (one of: {measures})", "when")
    threshold = float(number)
    kind_unit = MEASURES[measure][2]
    if unit == "%":
        if kind_unit != "%":
            raise RuleError(f"{label}: when: {measure} is not a rate (no %)", "when")
        threshold /= 100
    elif unit in ("s", "m"):
        if kind_unit != "s":
            raise RuleError(f"{label}: when: {measure} is not a time (no {unit})", "when")
        threshold *= 60 if unit == "m" else 1
    if kind_unit == "%" and not 0 <= threshold <= 1:
        raise RuleError(f"{label}: when: a rate is from 0 to 1 (or 0% to 100%)", "when")
    return Condition(measure, op, threshold)


# -- alerts as they happen ----------------------------------------------------------------------------------

State = Literal["pending", "firing", "clearing"]


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """An alert firing or clearing: what the banner, the bell, `watch --alerts` and metrics hear."""

    rule: str
    kind: Kind
    group: str | None  # the group (campaign...) of a per-group rule, the source of source_down, else None
    by: str | None
    event: Literal["firing", "cleared"]
    at: float
    fired_at: float
    message: str
    value: float | None = None

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.rule, self.group)

    def title(self) -> str:
        return self.rule if self.group is None else f"{self.rule} · {self.group}"

    def record(self) -> dict[str, object]:
        """The ndjson line of `watch --alerts`."""
        return {
            "event": self.event,
            "alert": self.rule,
            "kind": self.kind,
            "by": self.by,
            "group": self.group,
            "at": _iso(self.at),
            "fired_at": _iso(self.fired_at),
            "value": None if self.value is None or not math.isfinite(self.value) else round(self.value, 4),
            "message": self.message,
        }


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(slots=True)
class _Instance:
    """One alert's state: one per rule, or per group of a per-group rule."""

    state: State
    since: float  # pending since, firing since, or clearing since
    fired_at: float = 0.0
    message: str = ""
    value: float | None = None


@dataclass(frozen=True, slots=True)
class Firing:
    """An alert firing now (for the banner, the panel, metrics)."""

    rule: str
    kind: Kind
    group: str | None
    by: str | None
    fired_at: float
    message: str

    def title(self) -> str:
        return self.rule if self.group is None else f"{self.rule} · {self.group}"


class AlertEvaluator:
    """Every rule's alerts, kept current from the store's batches and evaluated once a second."""

    def __init__(
        self,
        rules: Sequence[Rule],
        health: Callable[[], list[SourceHealth]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rules = list(rules)
        self.health = health
        self.clock = clock
        # Per measure or stalled rule, running totals of the calls its filter picks, by its group.
        self._groups: dict[str, Groups] = {}
        self._stuck: dict[str, _Active] = {}
        self._instances: dict[tuple[str, str | None], _Instance] = {}
        self._down_since: dict[str, float] = {}
        self._minute = -1
        self._next_full = 0.0
        self.events: deque[AlertEvent] = deque(maxlen=HISTORY)
        self._listeners: list[Callable[[list[AlertEvent]], None]] = []

    # -- wiring ---------------------------------------------------------------------------------------------

    def attach(self, store: CallStore) -> Callable[[], None]:
        """Count the store's calls now, then follow its batches. Returns the unsubscribe."""
        now = self.clock()
        calls = delivered(store)
        for rule in self.rules:
            if rule.kind in ("measure", "stalled"):
                groups = Groups(rule.by or ALL, None if rule.query.empty else rule.query)
                groups.build(calls, now)
                groups.touched = set(groups.tallies) if rule.by else set()
                self._groups[rule.name] = groups
            elif rule.kind == "stuck":
                active = self._stuck[rule.name] = _Active(rule.query)
                active.update(calls, ())
        return store.subscribe(self.apply)

    def apply(self, batch: list[Change]) -> None:
        now = self.clock()
        for groups in self._groups.values():
            groups.apply(batch, now)
        if self._stuck:
            came = [c.call for c in batch if c.kind != "evicted"]
            gone = [c.key for c in batch if c.kind == "evicted"]
            for active in self._stuck.values():
                active.update(came, gone)

    def subscribe(self, listener: Callable[[list[AlertEvent]], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # -- reading --------------------------------------------------------------------------------------------

    def firing(self) -> list[Firing]:
        """The alerts firing now (clearing ones too: not cleared yet), oldest first."""
        by_name = {r.name: r for r in self.rules}
        out = [
            Firing(rule, by_name[rule].kind, group, _by(by_name[rule]), inst.fired_at, inst.message)
            for (rule, group), inst in self._instances.items()
            if inst.state in ("firing", "clearing")
        ]
        return sorted(out, key=lambda f: (f.fired_at, f.rule, f.group or ""))

    # -- evaluating -----------------------------------------------------------------------------------------

    def evaluate(self, now: float | None = None) -> list[AlertEvent]:
        """Every rule, as of now; the events (fired, cleared) go to the listeners too."""
        now = self.clock() if now is None else now
        minute = int(now // 60)
        # Rates over a span move when a minute rolls out of it, for every group: then (and every 15 s, for
        # silences and durations) every group is looked at; in between, only the groups a batch touched.
        full = minute != self._minute or now >= self._next_full
        if full:
            self._minute = minute
            self._next_full = now + 15.0
        events: list[AlertEvent] = []
        for rule in self.rules:
            if rule.kind == "measure":
                self._measure(rule, now, full, events)
            elif rule.kind == "stalled":
                if full:
                    self._stalled(rule, now, events)
            elif rule.kind == "stuck":
                self._stuck_calls(rule, now, events)
            else:
                self._source_down(rule, now, events)
        if events:
            self.events.extend(events)
            for listener in list(self._listeners):
                listener(events)
        return events

    def _step(
        self,
        rule: Rule,
        group: str | None,
        now: float,
        bad: bool,
        good: bool,
        message: str,
        value: float | None,
        events: list[AlertEvent],
        hold: float = 0.0,
    ) -> None:
        """Move one alert on. `bad`: its condition holds (it fires once that has lasted `hold`); `good`: it
        clearly does not (it clears once that has lasted the rule's clear_after); neither: it stays put."""
        key = (rule.name, group)
        inst = self._instances.get(key)
        if inst is None:
            if not bad:
                return
            inst = self._instances[key] = _Instance("pending", now)
        if bad:
            inst.message, inst.value = message, value
            if inst.state == "clearing":
                inst.state, inst.since = "firing", inst.fired_at
            elif inst.state == "pending" and now - inst.since >= hold:
                inst.state, inst.since, inst.fired_at = "firing", now, now
                events.append(self._event(rule, group, "firing", now, inst))
            return
        if inst.state == "pending":
            del self._instances[key]
            return
        if not good:
            if inst.state == "clearing":  # back inside the margin: not clearing after all
                inst.state, inst.since = "firing", inst.fired_at
            return
        if inst.state == "firing":
            inst.state, inst.since = "clearing", now
        if now - inst.since >= rule.clear_after:
            del self._instances[key]
            inst.message, inst.value = message, value
            events.append(self._event(rule, group, "cleared", now, inst))

    def _event(self, rule: Rule, group: str | None, event: Literal["firing", "cleared"], now: float,
               inst: _Instance) -> AlertEvent:  # fmt: skip
        return AlertEvent(rule.name, rule.kind, group, _by(rule), event, now, inst.fired_at, inst.message,
                          inst.value)  # fmt: skip

    def _measure(self, rule: Rule, now: float, full: bool, events: list[AlertEvent]) -> None:
        groups = self._groups[rule.name]
        assert rule.when is not None
        if rule.by is None:
            self._judge(rule, None, groups.tallies.get(ALL, Tally()), now, events)
            return
        names: Iterable[str]
        if full:
            names = set(groups.tallies) | {
                g for (r, g) in self._instances if r == rule.name and g is not None
            }
        else:
            names = groups.touched | {g for (r, g) in self._instances if r == rule.name and g is not None}
        groups.touched = set()
        empty = Tally()
        for name in names:
            self._judge(rule, name, groups.tallies.get(name, empty), now, events)

    def _judge(
        self, rule: Rule, group: str | None, tally: Tally, now: float, events: list[AlertEvent]
    ) -> None:
        when = rule.when
        assert when is not None
        recent = tally.over(now, rule.over)
        label, rate, unit = MEASURES[when.measure]
        value: float | None = getattr(recent, when.measure)
        counted = recent.billed if when.measure == "acd" else recent.ended
        known = (rule.name, group) in self._instances
        if value is None or (rate and counted < rule.min_calls):
            if known:  # the message is written only for an alert that has a state to move on
                message = f"{label}: too few calls to judge ({counted} of min_calls {rule.min_calls} in {_span(rule.over)})"
                self._step(rule, group, now, False, True, message, None, events)
            return
        bad = when.holds(value)
        if not bad and not known:
            return  # the common case, a group that is fine: nothing to say
        good = when.clear(value, rule.margin)
        span = _span(rule.over)
        detail = f" ({recent.failures} of {recent.ended} ended)" if when.measure == "failure_rate" else (
            f" ({recent.completed} of {recent.ended} ended)" if when.measure == "answer_rate" else "")  # fmt: skip
        message = f"{label} {_value_text(value, unit)} {when.op} {_value_text(when.threshold, unit)} over {span}{detail}"
        self._step(rule, group, now, bad, good, message, value, events, hold=rule.hold)

    def _stalled(self, rule: Rule, now: float, events: list[AlertEvent]) -> None:
        groups = self._groups[rule.name]
        this_minute = int(now // 60)
        silence_minutes = math.ceil(rule.hold / 60)
        lookback = int(STALLED_LOOKBACK // 60)
        seen = set()
        for name, tally in groups.tallies.items():
            recent = [m for m, counts in tally.minutes.items() if counts[0] > 0 and m <= this_minute]
            if not recent:
                continue
            last = max(recent)
            silent = this_minute - last > silence_minutes
            before = sum(
                tally.minutes[m][0] for m in recent if last - lookback < m <= last
            ) if silent else 0  # fmt: skip
            seen.add(name)
            quiet_for = now - (last + 1) * 60
            message = (
                f"no calls placed for {_span(max(60.0, quiet_for))} ({before} in the hour before)"
                if silent
                else "calls placed again"
            )
            self._step(
                rule, name, now, silent and before >= rule.min_calls, not silent, message, None, events
            )
        for rule_name, group in list(self._instances):
            if rule_name == rule.name and group not in seen:
                # Its calls left the minutes kept: over two hours without one, the campaign is over.
                self._step(
                    rule, group, now, False, True, "no calls for two hours: taken as finished", None, events
                )

    def _stuck_calls(self, rule: Rule, now: float, events: list[AlertEvent]) -> None:
        active = self._stuck[rule.name]
        stuck, oldest = active.older_than(now - rule.hold)
        if stuck:
            assert oldest is not None
            since, key = oldest
            message = (
                f"{stuck:,} call{'s' if stuck != 1 else ''} active longer than {_span(rule.hold)} "
                f"(the oldest: {key[0]}/{key[1]}, {_span(round(now - since))})"
            )
        else:
            message = f"no call active longer than {_span(rule.hold)}"
        self._step(rule, None, now, stuck > 0, stuck == 0, message, float(stuck), events)

    def _source_down(self, rule: Rule, now: float, events: list[AlertEvent]) -> None:
        for health in self.health():
            if rule.sources and health.name not in rule.sources:
                continue
            if health.state.down:
                since = self._down_since.setdefault(health.name, now)
                message = f"{health.state.value} for {_span(max(1.0, round(now - since)))}" + (
                    f": {health.message}" if health.message else "")  # fmt: skip
                self._step(rule, health.name, now, True, False, message, None, events, hold=rule.hold)
            else:
                self._down_since.pop(health.name, None)
                self._step(rule, health.name, now, False, True, f"{health.state.value} again", None, events)


class _Active:
    """The calls a filter picks that are active, oldest placed first: how many are older than a moment is a
    search, not a walk over them."""

    def __init__(self, query: Query) -> None:
        self.query = query
        self.since: dict[Key, float] = {}
        self.order: SortedList = SortedList()

    def update(self, came: Iterable[Call], gone: Iterable[Key]) -> None:
        query = self.query
        for key in gone:
            self._drop(key)
        for call in came:
            key = call.key
            if call.status.active and (query.empty or query(call)):
                placed = placed_at(call)
                since = placed if placed is not None else time.time()
                if self.since.get(key) != since:
                    self._drop(key)
                    self.since[key] = since
                    self.order.add((since, key))
            else:
                self._drop(key)

    def _drop(self, key: Key) -> None:
        since = self.since.pop(key, None)
        if since is not None:
            self.order.discard((since, key))

    def older_than(self, moment: float) -> tuple[int, tuple[float, Key] | None]:
        count = self.order.bisect_left((moment,))
        return count, (self.order[0] if count else None)


def _by(rule: Rule) -> str | None:
    return "source" if rule.kind == "source_down" else rule.by


def _span(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m" + (f"{seconds % 60:02d}s" if seconds % 60 and seconds < 600 else "")
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}"


def _value_text(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value * 100:.0f}%"
    if unit == "s":
        return f"{value:.0f}s"
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


def describe(rule: Rule) -> str:
    """One line about a rule, as `config check` lists it."""
    parts = [rule.kind if rule.kind != "measure" else (rule.when.text() if rule.when else "")]
    if rule.kind == "measure":
        parts.append(f"over {_span(rule.over)}, at least {rule.min_calls} ended")
    elif rule.kind in ("source_down", "stuck", "stalled"):
        parts.append(f"for {_span(rule.hold)}")
    if rule.by:
        parts.append(f"per {rule.by}")
    if not rule.query.empty:
        parts.append(f"filter {rule.query.text}")
    return " · ".join(p for p in parts if p)
