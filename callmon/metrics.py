"""Prometheus metrics (`--metrics HOST:PORT`, `[metrics] listen`): /metrics in the text format, through the
prometheus-client library, and /healthz (200 while every source is ok, 503 otherwise).

The numbers are read at scrape time from what the session keeps anyway (the running totals of
callmon/measures.py, each source's health, the alerts firing); only the status-change lag is observed as
changes arrive. Labels stay few whatever the providers send: campaigns beyond the busiest N are counted as
"other", reasons beyond the commonest N too, and no label holds a secret or a phone number.
"""

from __future__ import annotations

import heapq
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from callmon import __version__
from callmon.alerts import AlertEvaluator
from callmon.config import looks_like_secret
from callmon.health import SourceHealth, State
from callmon.measures import Groups, Tally, delivered
from callmon.model import ENDED, Call, Status
from callmon.redact import scrub
from callmon.store import CallStore, Change
from callmon.text import clean, cut
from callmon.timeline import last_change_at

OTHER = "other"
TOP_REASONS = 20
# A run of digits, with a phone number's separators, that may be a phone number or an account number: replaced
# when it holds PHONE_DIGITS digits or more. Fewer: a date ("lote-2026-01-15"), a batch number or a short id in
# a campaign's name, which must stay apart in the labels.
_DIGITS = re.compile(r"\+?\d[\d\s().-]*\d")
PHONE_DIGITS = 9
LAG_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)


def label(text: str | None) -> str:
    """A label value from provider text: one inert line, no secret (a known one masked, one that looks like
    a token hidden), no phone number (a run of 9 digits or more becomes "#"), not too long."""
    if not text:
        return ""
    value = scrub(clean(text))
    if looks_like_secret(value):
        return "(hidden)"
    return cut(_DIGITS.sub(_hide_number, value), 64)


def _hide_number(run: re.Match[str]) -> str:
    text = run.group()
    return "#" if sum(c.isdigit() for c in text) >= PHONE_DIGITS else text


class Metrics(Collector):
    """The session's numbers as Prometheus metrics, in a registry of their own."""

    def __init__(
        self,
        store: CallStore,
        health: Callable[[], list[SourceHealth]],
        alerts: AlertEvaluator | None = None,
        campaigns: int = 20,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.health = health
        self.alerts = alerts
        self.campaigns = campaigns
        self.clock = clock
        self.registry = CollectorRegistry(auto_describe=False)
        self.lag = Histogram(
            "callmon_status_change_lag_seconds",
            "From when a provider says a call's status changed to when callmon saw it",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        now = clock()
        calls = delivered(store)
        self.by_campaign = Groups("campaign")
        self.by_campaign.build(calls, now)
        self.by_source = Groups("source")
        self.by_source.build(calls, now)
        self.ended: Counter[tuple[Status, str]] = Counter(_ended_key(c) for c in calls if c.status in ENDED)
        self.registry.register(self)
        self.unsubscribe = store.subscribe(self.apply)

    def apply(self, batch: list[Change]) -> None:
        now = self.clock()
        self.by_campaign.apply(batch, now)
        self.by_source.apply(batch, now)
        ended = self.ended
        for change in batch:
            old, call = change.old, change.call
            if old is not None and old.status in ENDED:
                key = _ended_key(old)
                ended[key] -= 1
                if ended[key] <= 0:
                    del ended[key]
            if change.kind == "evicted":
                continue
            if call.status in ENDED:
                ended[_ended_key(call)] += 1
            # A call first seen already over (read back, or in a first poll's backlog) says how late callmon
            # started, not how late it sees changes.
            backlog = change.kind == "new" and call.status in ENDED
            if change.new_events and change.kind in ("new", "changed", "ended") and not backlog:
                lag = _lag(call)
                if lag is not None:
                    self.lag.observe(lag)

    def scrape(self) -> bytes:
        return generate_latest(self.registry)

    def ok(self) -> tuple[bool, str]:
        """Whether every source is ok, and a line per source saying its state."""
        health = self.health()
        lines = [f"{h.name} {h.state.value}" for h in health]
        return all(h.state is State.OK for h in health), "\n".join(lines) + "\n"

    # -- the collector ------------------------------------------------------------------------------------

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        health = self.health()
        provider_of = {h.name: h.provider for h in health}
        info = GaugeMetricFamily("callmon_info", "callmon's version", labels=["version"])
        info.add_metric([__version__], 1)
        yield info

        calls = GaugeMetricFamily(
            "callmon_calls",
            "Calls held now, by source, provider and status",
            labels=["source", "provider", "status"],
        )
        for source, tally in sorted(self.by_source.tallies.items()):
            for status, n in sorted(tally.statuses.items()):
                calls.add_metric([source, provider_of.get(source, ""), status.value], n)
        yield calls

        ended = GaugeMetricFamily(
            "callmon_calls_ended", "Ended calls held now, by status and reason (the commonest reasons)",
            labels=["status", "reason"],
        )  # fmt: skip
        counts_by_reason: Counter[str] = Counter()
        for (_, reason), n in self.ended.items():
            counts_by_reason[reason] += n
        top = {r for r, _ in counts_by_reason.most_common(TOP_REASONS)}
        merged: Counter[tuple[str, str]] = Counter()
        for (status, reason), n in self.ended.items():
            merged[(status.value, reason if reason in top else OTHER)] += n
        for (status_text, reason), n in sorted(merged.items()):
            ended.add_metric([status_text, reason], n)
        yield ended

        yield from self._campaigns()

        up = GaugeMetricFamily(
            "callmon_source_up", "1 while the source delivers calls", labels=["source", "provider"]
        )
        state = GaugeMetricFamily(
            "callmon_source_state",
            "The source's state (1 for the one it is in)",
            labels=["source", "provider", "state"],
        )
        requests = CounterMetricFamily(
            "callmon_source_requests", "Requests made to the provider", labels=["source", "provider"]
        )
        limited = CounterMetricFamily(
            "callmon_source_rate_limited", "Requests the provider answered 429", labels=["source", "provider"]
        )
        budget = GaugeMetricFamily(
            "callmon_source_budget_used_ratio", "Share of a request budget used in its current period",
            labels=["source", "provider", "kind"],
        )  # fmt: skip
        for h in health:
            ids = [h.name, h.provider]
            up.add_metric(ids, 0 if h.state.down else 1)
            for s in State:
                state.add_metric([*ids, s.value], 1 if s is h.state else 0)
            requests.add_metric(ids, h.requests)
            limited.add_metric(ids, h.rate_limited)
            for kind, (used, of, _) in sorted(h.budget.items()):
                budget.add_metric([*ids, kind], used / of if of else 0.0)
        yield from (up, state, requests, limited, budget)

        firing = GaugeMetricFamily("callmon_alerts_firing", "Alerts firing now, by rule", labels=["alert"])
        if self.alerts is not None:
            counts = Counter(f.rule for f in self.alerts.firing())
            for rule in self.alerts.rules:
                firing.add_metric([label(rule.name)], counts.get(rule.name, 0))
        yield firing

    def _campaigns(self) -> Iterator[Metric]:
        tallies = self.by_campaign.tallies
        busiest = heapq.nlargest(self.campaigns, tallies.items(), key=lambda item: (item[1].calls, item[0]))
        shown = {name for name, _ in busiest}
        other = Tally()
        for name, tally in tallies.items():
            if name not in shown:
                other.calls += tally.calls
                other.ended += tally.ended
                other.completed += tally.completed
                other.failures += tally.failures
        rows: list[tuple[str, Tally]] = [(label(name) or "(none)", tally) for name, tally in busiest]
        if other.calls:
            rows.append((OTHER, other))
        families = {
            "calls": GaugeMetricFamily(
                "callmon_campaign_calls", "Calls held now per campaign", labels=["campaign"]
            ),
            "ended": GaugeMetricFamily(
                "callmon_campaign_ended", "Ended calls per campaign", labels=["campaign"]
            ),
            "answer": GaugeMetricFamily(
                "callmon_campaign_answer_rate", "Completed of ended calls per campaign", labels=["campaign"]
            ),
            "failure": GaugeMetricFamily(
                "callmon_campaign_failure_rate",
                "Failed, busy, no-answer and canceled of ended calls per campaign",
                labels=["campaign"],
            ),
        }
        seen: set[str] = set()
        for name, tally in rows:
            if name in seen:  # two campaigns that read the same once cleaned: one series
                continue
            seen.add(name)
            families["calls"].add_metric([name], tally.calls)
            families["ended"].add_metric([name], tally.ended)
            if tally.answer_rate is not None:
                families["answer"].add_metric([name], tally.answer_rate)
            if tally.failure_rate is not None:
                families["failure"].add_metric([name], tally.failure_rate)
        yield from families.values()


def _ended_key(call: Call) -> tuple[Status, str]:
    return (call.status, label(call.why) or "(none)")


def _lag(call: Call) -> float | None:
    """Seconds from the provider's time of the call's current status to when callmon saw it."""
    seen = last_change_at(call.timeline)
    if seen is None:
        return None
    status = call.status
    at = (
        call.ended_at
        if status in ENDED
        else call.answered_at
        if status is Status.IN_PROGRESS
        else call.started_at
        if status is Status.RINGING
        else None
    )
    if at is None:
        return None
    lag = seen - at.timestamp()
    if not math.isfinite(lag) or lag > 86400:
        return None
    return max(0.0, lag)


def app(metrics: Metrics) -> Any:
    """The ASGI app: /metrics and /healthz."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    async def scrape(request: Request) -> Response:
        return Response(metrics.scrape(), media_type=CONTENT_TYPE_LATEST)

    async def healthz(request: Request) -> Response:
        ok, text = metrics.ok()
        return PlainTextResponse(text, status_code=200 if ok else 503)

    return Starlette(routes=[Route("/metrics", scrape), Route("/healthz", healthz)])
