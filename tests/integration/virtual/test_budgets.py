"""Every provider's real, documented budgets over a simulated hour and more: the five sources polled by the
real engine on virtual time until every call has its final status, and no provider ever had to say 429.
Three simulated hours of polling: too long for the unit tier."""

from __future__ import annotations

from callmon.simulator.faults import documented_limits
from tests.unit.engine.test_worker import max_in_window, running, sources, until, world


async def test_every_provider_reaches_ground_truth_within_its_documented_budgets() -> None:
    """Real budgets (CloudAgent's 2/min, Velip's 200/h, Vobiz's 120/min) over a simulated hour and more."""
    sim = world(21, 60, ("dialgood", "dialgen", "cloudagent", "velip", "vobiz"), span=600)
    truth = sim.scenario.ground_truth()
    async with running(sim, sources(sim, interval=5)) as run:

        def done() -> bool:
            return {(c.provider, c.call_id): c.status for c in run.store.calls.values()} == truth

        assert await until(done, 3 * 3600), "every call at its final status"
    assert not [h for h in sim.hits if h.status == 429], "no provider ever had to say 429"
    for (provider, kind), (count, per) in documented_limits().items():
        times = [h.at for h in sim.hits if h.provider == provider and h.kind == kind]
        assert max_in_window(times, per) <= count, (provider, kind)
