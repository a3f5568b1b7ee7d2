"""Benchmark data: calls as the engine would hold them, from the simulator's wire payloads through normalize().

Each call is the merge of the payloads the engine would have seen by mid-campaign: a live lookup while it was
talking (Dialgood and Dialgen carry the transcript so far) and then its current record (the CDR once ready).
So records carry what real ones do: provider details, transcripts, a raw payload, a timeline of 1-3 events.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from callmon.model import Call, revised
from callmon.packing import pack
from callmon.providers import cloudagent, dialgen, dialgood, velip, vobiz
from callmon.simulator import cloudagent as sim_cloudagent
from callmon.simulator import dialgen as sim_dialgen
from callmon.simulator import dialgood as sim_dialgood
from callmon.simulator import velip as sim_velip
from callmon.simulator import vobiz as sim_vobiz
from callmon.simulator.scenario import CallPlan, Clock, Scenario
from callmon.store import CallStore
from callmon.timeline import events as status_events
from callmon.timeline import of as timeline_of

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def _payloads(plan: CallPlan, t: float, clock: Clock) -> Iterator[tuple[str, dict[str, Any]]]:
    """(provider, payload) in the order the engine would have received them by scenario time t."""
    provider = plan.provider
    talking = plan.answered is not None and t > plan.answered
    mid = (plan.answered + min(t, plan.ended)) / 2 if plan.answered is not None and talking else t
    if provider == "dialgood":
        if talking:
            yield provider, sim_dialgood.live(plan, mid)
        yield provider, sim_dialgood.cdr(plan, clock) if plan.cdr_ready(t) else sim_dialgood.live(plan, t)
    elif provider == "dialgen":
        if talking:
            yield provider, sim_dialgen.persistent(plan, mid, clock)
        yield provider, sim_dialgen.status(plan, t, clock)
    elif provider == "cloudagent":
        yield provider, sim_cloudagent.row(plan, clock)  # its CDR rows are all callmon polls
    elif provider == "velip":
        yield provider, sim_velip.record(plan, t, clock)
    elif plan.cdr_ready(t):
        yield provider, sim_vobiz.cdr(plan, clock, "MA_BENCH")
    else:
        yield provider, sim_vobiz.queued(plan, clock) if t < plan.dialed else sim_vobiz.live(plan, t, clock)


# One name per source, as the engine has: each adapter reads every record with its Source's one name string.
SOURCE_NAMES = {p: f"acme-{p}" for p in ("dialgood", "dialgen", "cloudagent", "velip", "vobiz")}


def normalize(provider: str, raw: dict[str, Any]) -> Call:
    source = SOURCE_NAMES[provider]
    if provider == "dialgood":
        return dialgood.normalize(raw, source)
    if provider == "dialgen":
        return dialgen.normalize(raw, source)
    if provider == "cloudagent":
        return cloudagent.normalize(raw, source)
    if provider == "velip":
        return velip.normalize(raw, source)
    return vobiz.normalize(raw, source)


Payloads = list[tuple[str, dict[str, Any]]]


def payloads(n: int, seed: int = 42) -> Payloads:
    """What the engine would have received for n calls, most ended by now, some still live."""
    clock = Clock(real=lambda: 0.0, start_utc=START)
    scenario = Scenario(seed=seed, calls=n, span=n / 2, warmup=0.0, clock=clock)
    rng = random.Random(seed)
    out: Payloads = []
    for plan in scenario.plans:
        # Seen at a moment of its life: 3 in 4 ended, the rest queued, ringing or talking.
        done = plan.ended + plan.cdr_delay
        t = done + 1 if rng.random() < 0.75 else rng.uniform(plan.queued, plan.ended)
        out.extend(_payloads(plan, t, clock))
    return out


def fill(store: CallStore, received: Payloads) -> None:
    """Normalize and merge every payload, as the engine does."""
    for provider, raw in received:
        store.apply(normalize(provider, raw))
    store.take()


def calls(n: int, seed: int = 42) -> list[Call]:
    store = CallStore()
    fill(store, payloads(n, seed))
    return list(store.calls.values())


def many(n: int, seed: int = 42, templates: int = 20_000, day: float | None = None) -> list[Call]:
    """n calls as the engine would hold them, fast enough for a million: `templates` of them built the way
    calls() builds them (wire payloads through normalize()), the rest copies of those with their own call
    id, number, start time and first-seen time, and their own payload, packed again (so no two calls share
    the bytes of one, as no two real ones would). First seen one after another over `day` seconds."""
    base = calls(min(n, templates), seed)
    if n <= len(base):
        return base
    rng = random.Random(seed)
    span = 86_400.0 if day is None else day
    start = START.timestamp()
    out = list(base)
    for i in range(len(base), n):
        template = base[i % len(base)]
        at = start + span * i / n
        out.append(_copy(template, f"{template.call_id}-{i}", f"+9199{rng.randrange(10**8):08d}", at))
    return out


def _copy(template: Call, call_id: str, to: str, at: float) -> Call:
    raw = template.payload()
    for key, value in raw.items():
        if value == template.call_id:
            raw[key] = call_id
        elif value == template.to:
            raw[key] = to
    return revised(shifted(template, at), call_id=call_id, to=to, raw=pack(raw))


def shifted(call: Call, at: float) -> Call:
    """The call moved in time to be first seen at `at`, and placed (its provider's start) a second before:
    its timeline and its provider's times move with it."""
    events = status_events(call.timeline)
    shift = at - (events[0].at if events else at)
    timeline = timeline_of((e.at + shift, e.status, e.raw_status, e.via) for e in events)
    started = call.started_at or call.ended_at or call.updated_at
    # Whole seconds: a provider's times keep the resolution it sends them in (whole seconds for three of the
    # five), as a real call's would; callmon's own first-seen time is exact.
    by = timedelta(seconds=round(shift if started is None else at - 1.0 - started.timestamp()))
    moved = {
        name: value + by
        for name in ("started_at", "answered_at", "ended_at", "updated_at")
        if (value := getattr(call, name)) is not None
    }
    return revised(call, timeline=timeline, **moved)


def day(n: int, end: float, span: float = 86_400.0, seed: int = 42) -> list[Call]:
    """n calls first seen one after another over the `span` seconds before `end` (a dialer's day up to now),
    in arrival order."""
    return [shifted(call, end - span + span * i / n) for i, call in enumerate(many(n, seed))]
