"""Alert rules: how they are read (one clear line for each mistake), and how they fire and clear: once, after
their condition has held, and without flapping around the threshold."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callmon import output
from callmon.alerts import AlertEvaluator, AlertEvent, RuleError, describe, parse_rule
from callmon.config import ConfigError, parse
from callmon.health import SourceHealth, State
from callmon.model import Call, Status
from callmon.store import CallStore
from callmon.tui import notify

T0 = datetime(2026, 11, 30, 10, 0, 0, tzinfo=UTC).timestamp()


class World:
    """A store, a clock and sources' health to evaluate rules against, a few seconds at a time."""

    def __init__(self, rules: list[dict[str, Any]], health: list[SourceHealth] | None = None) -> None:
        self.now = T0
        self.store = CallStore(lambda: self.now)
        self.health = health or []
        self.alerts = AlertEvaluator([parse_rule(r) for r in rules], lambda: self.health, lambda: self.now)
        self.alerts.attach(self.store)
        self.events: list[AlertEvent] = []
        self.n = 0

    def calls(self, campaign: str, failed: int, completed: int = 0, active: int = 0) -> None:
        """Calls placed and (but `active`) ended now."""
        at = datetime.fromtimestamp(self.now, UTC)
        for status, count in ((Status.FAILED, failed), (Status.COMPLETED, completed), (Status.RINGING, active)):
            for _ in range(count):
                self.n += 1
                ended = at if status.ended else None
                self.store.apply(Call("s", "vobiz", f"c{self.n}", status, campaign=campaign, started_at=at,
                                      ended_at=ended, billable_s=30 if status is Status.COMPLETED else None))  # fmt: skip
        self.store.flush()

    def run(self, seconds: float, step: float = 1.0) -> list[AlertEvent]:
        out: list[AlertEvent] = []
        end = self.now + seconds
        while self.now < end:
            self.now += step
            out.extend(self.alerts.evaluate())
        self.events.extend(out)
        return out


FAILING = {"name": "failing", "when": "failure_rate > 0.5", "over": "5m", "min_calls": 10, "by": "campaign"}


def test_a_burst_fires_once_per_group_and_clears_once_it_is_over() -> None:
    world = World([FAILING])
    world.calls("A", failed=2, completed=8)
    world.calls("B", failed=3, completed=7)
    assert world.run(30) == []
    world.calls("A", failed=12)  # 14 of 22 failed
    fired = world.run(5)
    assert [(e.event, e.group) for e in fired] == [("firing", "A")]
    assert fired[0].message == "failure rate 64% > 50% over 5m (14 of 22 ended)"
    assert world.alerts.firing()[0].title() == "failing · A"
    for _ in range(5):  # the burst goes on: no new event
        world.calls("A", failed=2)
        assert world.run(30) == []
    world.run(6 * 60)  # the window rolls past the burst: too few calls to judge, then clear for a minute
    assert [(e.event, e.group) for e in world.events] == [("firing", "A"), ("cleared", "A")]
    cleared = world.events[-1]
    assert cleared.fired_at == fired[0].at and "too few calls" in cleared.message


def test_no_flapping_around_the_threshold() -> None:
    """Once firing, a rate hovering just under the threshold (inside the margin) does not clear it, and a
    clearing interrupted by a return over the threshold starts again."""
    world = World([{**FAILING, "margin": 0.2, "clear_after": "2m"}])
    world.calls("A", failed=12, completed=8)  # 60 %
    assert len(world.run(2)) == 1
    for i in range(20):
        # 45 % or 55 %, in turn: within 20 % of 0.5 below it, or over it.
        world.calls("A", failed=9 if i % 2 else 11, completed=11 if i % 2 else 9)
        world.run(20)
    assert [e.event for e in world.events] == ["firing"]


def test_min_calls_and_hold_time() -> None:
    world = World([{**FAILING, "for": "30s"}])
    world.calls("A", failed=9)  # 100 % of 9: too few to judge
    assert world.run(60) == []
    world.calls("A", failed=1)
    assert world.run(29) == []  # holding, not yet 30 s
    assert [e.event for e in world.run(3)] == ["firing"]


def test_a_rule_over_all_calls_and_a_filter() -> None:
    world = World([{"name": "answer", "when": "answer_rate < 40%", "over": "2m", "min_calls": 5,
                    "filter": "-campaign:B"}])  # fmt: skip
    world.calls("B", failed=20)  # filtered out
    assert world.run(5) == []
    world.calls("A", failed=4, completed=2)
    event = world.run(2)[0]
    assert (event.group, event.by, event.message) == (None, None, "answer rate 33% < 40% over 2m (2 of 6 ended)")


def test_source_down_for_longer_than_its_hold() -> None:
    health = [SourceHealth("a", "vobiz", State.OK), SourceHealth("b", "velip", State.OK)]
    world = World([{"name": "down", "kind": "source_down", "for": "1m", "sources": ["b"]}], health)
    health[0].state = State.ERROR  # not a source the rule watches
    health[1].state = State.AUTH_FAILED
    health[1].message = "velip: auth failed (HTTP 401)"
    assert world.run(59) == []
    event = world.run(2)[0]
    assert (event.event, event.group, event.by) == ("firing", "b", "source")
    assert event.message.startswith("auth failed for 1m") and event.message.endswith("(HTTP 401)")
    health[1].state = State.OK
    assert [e.event for e in world.run(61)] == ["cleared"]


def test_stuck_calls() -> None:
    world = World([{"name": "stuck", "kind": "stuck", "for": "10m", "clear_after": 0}])
    world.calls("A", failed=0, active=3)
    assert world.run(9 * 60) == []
    event = world.run(61)[0]
    assert event.message.startswith("3 calls active longer than 10m (the oldest: s/c1, 10m")
    for key in [("s", "c1"), ("s", "c2"), ("s", "c3")]:
        old = world.store.calls[key]
        world.store.apply(Call("s", "vobiz", key[1], Status.COMPLETED, campaign="A", started_at=old.started_at))
    world.store.flush()
    assert [e.event for e in world.run(2)] == ["cleared"]


def test_a_stalled_dialer() -> None:
    world = World([{"name": "stalled", "kind": "stalled", "for": "5m", "min_calls": 10}])
    for _ in range(6):
        world.calls("A", failed=1, completed=1)
        world.calls("B", failed=1)  # too few calls to count as a dialer that stopped
        world.run(60)
    events = world.run(6 * 60)
    assert [(e.event, e.group) for e in events] == [("firing", "A")]
    assert events[0].message.startswith("no calls placed for")
    world.calls("A", failed=0, completed=1)
    assert [(e.event, e.group) for e in world.run(90)] == [("cleared", "A")]


def test_alert_lines_for_watch() -> None:
    world = World([FAILING])
    world.calls("A", failed=12)
    event = world.run(2)[0]
    line = json.loads(output.alert_line(event))
    assert line == {"event": "firing", "alert": "failing", "kind": "measure", "by": "campaign", "group": "A",
                    "at": "2026-11-30T10:00:01Z", "fired_at": "2026-11-30T10:00:01Z", "value": 1.0,
                    "message": "failure rate 100% > 50% over 5m (12 of 12 ended)"}  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ({"name": "x"}, 'needs when = "failure_rate > 0.3"'),
        ({"name": "x", "when": "failure_rat > 0.3"}, "unknown measure 'failure_rat'"),
        ({"name": "x", "when": "failure_rate >> 0.3"}, 'is not "MEASURE OP NUMBER"'),
        ({"name": "x", "when": "failure_rate > 30"}, "a rate is from 0 to 1"),
        ({"name": "x", "when": "acd < 20%"}, "acd is not a rate"),
        ({"name": "x", "when": "failures > 3s"}, "failures is not a time"),
        ({"name": "x", "when": "failure_rate > 0.3", "over": "10s"}, "out of range (from 1m to 2h)"),
        ({"name": "x", "when": "failure_rate > 0.3", "over": "soon"}, "is not a span of time"),
        ({"name": "x", "when": "failure_rate > 0.3", "min_calls": 0}, "min_calls must be a whole number"),
        ({"name": "x", "when": "failure_rate > 0.3", "min_calls": True}, "min_calls must be a whole number"),
        ({"name": "x", "when": "failure_rate > 0.3", "by": "colour"}, "by must be one of campaign"),
        ({"name": "x", "when": "failure_rate > 0.3", "filter": "dur>"}, "bad filter"),
        ({"name": "x", "when": "failure_rate > 0.3", "filter": "age<5m"}, "age and dur change by the second"),
        ({"name": "x", "when": "failure_rate > 0.3", "margin": 1.5}, "margin must be a fraction"),
        ({"name": "x", "when": "failure_rate > 0.3", "sources": ["a"]}, "'sources' does not apply"),
        ({"name": "x", "kind": "stuck", "when": "acd < 3"}, "'when' does not apply to a stuck alert"),
        ({"name": "x", "kind": "stalled", "for": "3h"}, "out of range"),
        ({"name": "x", "kind": "nap"}, "unknown kind 'nap'"),
        ({"name": "x", "kind": "source_down", "sources": "a"}, "sources must be a list"),
        ({"name": "", "when": "failure_rate > 0.3"}, "alerts need a name"),
        ({"name": "x", "when": "failure_rate > 0.3", "colour": 1}, "unknown alert setting 'colour'"),
        ("x", "must be a table"),
    ],
)
def test_rule_mistakes_say_what_is_wrong(rule: Any, says: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_rule(rule, sources=["a"])
    assert says in str(caught.value)


def test_rules_in_the_config_with_line_numbers() -> None:
    text = """
[[sources]]
name = "a"
provider = "vobiz"
auth_id = "MA1"

[[alerts]]
name = "ok"
when = "failure_rate > 30%"

[[alerts]]
name = "down"
kind = "source_down"
sources = ["b"]
"""
    with pytest.raises(ConfigError) as caught:
        parse(text)
    assert str(caught.value) == "<config>:14: alert 'down': no source named 'b' (sources: a)"
    cfg = parse(text.replace('"b"', '"a"') + '\n[alerting]\nbell = false\ndesktop = "osc777"\n')
    assert [r.name for r in cfg.alerts] == ["ok", "down"] and cfg.alerts[0].when is not None
    assert cfg.alerts[0].when.threshold == pytest.approx(0.3)
    assert (cfg.alerting.bell, cfg.alerting.desktop) == (False, "osc777")
    assert describe(cfg.alerts[0]) == "failure rate > 30% · over 5m, at least 20 ended"
    with pytest.raises(ConfigError, match="duplicate alert name 'ok'"):
        parse(text.replace('"down"', '"ok"').replace('"b"', '"a"'))
    with pytest.raises(ConfigError, match=r"alerting\.desktop must be one of auto, osc9, osc777, off"):
        parse('[alerting]\ndesktop = "loud"\n')


def test_desktop_notifications_are_inert_and_fit_the_terminal() -> None:
    assert notify.kind_for("auto", {"TERM_PROGRAM": "iTerm.app"}) == "osc9"
    assert notify.kind_for("auto", {"LC_TERMINAL": "iTerm2", "TERM": "xterm-256color"}) == "osc9"
    assert notify.kind_for("auto", {"TERM": "foot"}) == "osc777"
    assert notify.kind_for("auto", {"VTE_VERSION": "7600", "TERM": "xterm-256color"}) == "osc777"
    assert notify.kind_for("auto", {"TERM": "xterm-256color"}) is None
    assert notify.kind_for("off", {"TERM_PROGRAM": "iTerm.app"}) is None
    assert notify.kind_for("osc9", {}) == "osc9"
    hostile = "Renewals\x1b]0;pwned\x07;\x9b2J\u202e"
    seq = notify.sequence("osc777", "callmon: x", hostile, {})
    assert seq.startswith("\x1b]777;notify;callmon: x;") and seq.endswith("\x1b\\")
    body = seq[len("\x1b]777;notify;callmon: x;") : -2]
    assert body.isprintable() and ";" not in body and "\x1b" not in body
    wrapped = notify.sequence("osc9", "t", "b", {"TMUX": "/tmp/tmux-0/default,1,0"})
    assert wrapped == "\x1bPtmux;\x1b\x1b]9;t: b\x1b\x1b\\\x1b\\"


def test_an_events_fired_time_survives_clearing() -> None:
    world = World([{**FAILING, "clear_after": "0s"}])
    world.calls("A", failed=12)
    world.run(2)
    world.now += 10 * 60
    world.calls("A", failed=0, completed=12)
    cleared = world.run(2)
    assert [e.event for e in cleared] == ["cleared"]
    assert cleared[0].fired_at == T0 + 1 and cleared[0].at > cleared[0].fired_at
    assert datetime.fromtimestamp(cleared[0].at, UTC) - datetime.fromtimestamp(T0, UTC) > timedelta(minutes=10)
