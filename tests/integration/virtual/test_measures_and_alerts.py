"""The measures and the alerts on a whole simulated scenario, polled by the real engine on virtual time: the
totals against the scenario's own plans, and a scripted failure burst that fires an alert for its campaign
(and no other) once it starts, which clears once it is over."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from callmon.alerts import AlertEvaluator, AlertEvent
from callmon.demo import demo_alerts
from callmon.engine import Engine
from callmon.measures import Groups
from callmon.model import ENDED, FAILURES, Status
from callmon.simulator import DEMO_SECRETS, SIM_PROVIDERS, Burst, Simulator, build_app
from callmon.store import CallStore
from tests.unit.engine.test_worker import sources, world

PROVIDERS = ("dialgood", "dialgen", "cloudagent", "velip", "vobiz")


async def run_scenario(sim: Simulator, alerts: bool) -> tuple[CallStore, list[AlertEvent], float]:
    """Poll the whole scenario until every call has its final status and ten quiet minutes have passed,
    evaluating the demo's alert rules once a (virtual) second. The store and the rules read the scenario's
    wall clock, as providers' times do."""
    scenario = sim.scenario
    start = scenario.clock.start_utc.timestamp()

    def wall() -> float:
        return start + scenario.clock.now()

    store = CallStore(clock=wall)
    events: list[AlertEvent] = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(sim))) as client:
        engine = Engine(store, client, tick_hz=4)
        for source in sources(sim, interval=5):
            engine.add(source, DEMO_SECRETS[source.provider])
        evaluator = AlertEvaluator(demo_alerts(), engine.health, wall) if alerts else None
        if evaluator is not None:
            evaluator.attach(store)
        await engine.start()
        try:
            while scenario.clock.now() < scenario.finished_at() + 600:
                await asyncio.sleep(1.0)
                if evaluator is not None:
                    events.extend(evaluator.evaluate())
        finally:
            await engine.stop()
    return store, events, start


async def test_measures_equal_what_the_scenario_planned() -> None:
    sim = world(7, 150, PROVIDERS)
    store, _, _ = await run_scenario(sim, alerts=False)
    plans = sim.scenario.plans
    assert len(store.calls) == len(plans)
    groups = Groups("provider")
    groups.build(store.calls.values(), store.clock())
    for provider in PROVIDERS:
        mine = [p for p in plans if p.provider == provider]
        tally = groups.tallies[provider]
        outcomes = Counter(p.outcome for p in mine)
        assert tally.calls == len(mine)
        assert tally.ended == sum(n for s, n in outcomes.items() if s in ENDED)
        assert tally.completed == outcomes[Status.COMPLETED]
        assert tally.failures == sum(n for s, n in outcomes.items() if s in FAILURES)
        assert tally.answer_rate == outcomes[Status.COMPLETED] / tally.ended
    # Seed 7, 150 calls, worked out from the plans once and kept: Vobiz's campaigns.
    by_campaign = Groups("campaign")
    by_campaign.build(store.calls.values(), store.clock())
    for name in sim.scenario.campaigns("vobiz"):
        planned = [p for p in plans if p.campaign == name]
        tally = by_campaign.tallies[name]
        assert (tally.calls, tally.completed) == (len(planned), sum(p.outcome is Status.COMPLETED for p in planned))


async def test_a_failure_burst_fires_an_alert_for_its_campaign_only_and_it_clears() -> None:
    sim = world(7, 300, PROVIDERS, burst=Burst.parse("2m+4m"))
    burst = sim.scenario.burst
    assert burst is not None and burst.campaign is not None
    assert not SIM_PROVIDERS[next(p.provider for p in sim.scenario.plans if p.campaign == burst.campaign)].campaign_per_call
    _, events, start = await run_scenario(sim, alerts=True)
    failing = [(e.event, e.group, round(e.at - start)) for e in events if e.rule == "campaign failing"]
    assert [(event, group) for event, group, _ in failing] == [("firing", burst.campaign), ("cleared", burst.campaign)]
    fired, cleared = failing[0][2], failing[1][2]
    # Fired while the burst went on (the rule needs 8 ended calls, over 80 % failed, for 10 s).
    assert burst.at < fired < burst.at + burst.length
    # Cleared once the burst's calls left the rule's two minutes.
    assert cleared > burst.at + burst.length
    assert not [e for e in events if e.rule != "campaign failing"], "no source went down, no call got stuck"
