"""Writes the golden records in tests/data/golden/: each provider payload beside the record callmon makes of it.

    python scripts/golden.py            # write every file
    python scripts/golden.py --check    # say which files would change, write nothing

One file per seed payload (the vendors' examples in tests/data) and per simulator payload shape (built by the
callmon.simulator builders for a fixed seed on a frozen clock). Each case holds the input payload and the
expected `Call.record()`, `details` and `transcript`; tests/unit/providers/test_golden.py feeds each input to its
provider's normalize() and compares. The test never regenerates anything: a file written here is a claim
about what callmon should make of that payload, so review every value by hand (against
/work/shared/providers/README.md, docs/providers.md) before committing it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from callmon.model import Call, Status  # noqa: E402
from callmon.providers import cloudagent, dialgen, dialgood, velip, vobiz  # noqa: E402
from callmon.simulator import Clock, Scenario  # noqa: E402
from callmon.simulator import cloudagent as sim_cloudagent  # noqa: E402
from callmon.simulator import dialgen as sim_dialgen  # noqa: E402
from callmon.simulator import dialgood as sim_dialgood  # noqa: E402
from callmon.simulator import velip as sim_velip  # noqa: E402
from callmon.simulator import vobiz as sim_vobiz  # noqa: E402
from callmon.simulator.provider import SIM_PROVIDERS  # noqa: E402
from callmon.simulator.scenario import CallPlan  # noqa: E402

DATA = ROOT / "tests" / "data"
GOLDEN = DATA / "golden"
SOURCE = "golden"
SEED = 3
CALLS = 300
START = datetime(2026, 5, 6, 12, 0, tzinfo=UTC)
NORMALIZE: dict[str, Callable[..., Call]] = {
    "dialgood": dialgood.normalize,
    "dialgen": dialgen.normalize,
    "cloudagent": cloudagent.normalize,
    "velip": velip.normalize,
    "vobiz": vobiz.normalize,
}
ENDED = (Status.COMPLETED, Status.NO_ANSWER, Status.BUSY, Status.FAILED, Status.CANCELED)

Case = tuple[str, dict[str, Any]]  # name, input payload


def expected(provider: str, payload: dict[str, Any]) -> dict[str, Any]:
    call = NORMALIZE[provider](payload, SOURCE)
    return {
        "record": call.record(),
        "details": [list(pair) for pair in call.details],
        "transcript": [[line.role, line.text] for line in call.transcript],
    }


def document(provider: str, shape: str, made_by: str, cases: Iterable[Case]) -> dict[str, Any]:
    return {
        "provider": provider,
        "shape": shape,
        "made_by": made_by,
        "source": SOURCE,
        "cases": [{"name": name, "input": payload, **expected(provider, payload)} for name, payload in cases],
    }


def seed(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def seeds() -> Iterator[tuple[str, dict[str, Any]]]:
    yield (
        "seed_dialgood_cdr",
        document(
            "dialgood",
            "cdr",
            "tests/data/dialgood_cdr.json (seed 000)",
            [("seed", seed("dialgood_cdr.json"))],
        ),
    )
    yield (
        "seed_dialgen_status",
        document(
            "dialgen",
            "status",
            "tests/data/dialgen_status.json (seed 001)",
            [("seed", seed("dialgen_status.json"))],
        ),
    )
    yield (
        "seed_dialgen_webhook",
        document(
            "dialgen",
            "webhook",
            "tests/data/dialgen_webhook.json (seed 001)",
            [("seed", seed("dialgen_webhook.json"))],
        ),
    )
    yield (
        "seed_velip_record",
        document(
            "velip",
            "record",
            "tests/data/velip_calls.json (seed 003), its one record",
            [("seed", seed("velip_calls.json")["calls"][0])],
        ),
    )
    yield (
        "seed_vobiz_cdr",
        document("vobiz", "cdr", "tests/data/vobiz_cdr.json (seed 004)", [("seed", seed("vobiz_cdr.json"))]),
    )


class World:
    """The scenario every simulator shape is drawn from, and the first plan that fits each case."""

    def __init__(self) -> None:
        self.clock = Clock(real=lambda: 0.0, start_utc=START)
        self.scenario = Scenario(seed=SEED, calls=CALLS, clock=self.clock)
        self.made_by = f"seed {SEED}, {CALLS} calls, clock frozen at {START.isoformat()}"

    def plan(
        self, provider: str, outcome: Status, test: Callable[[CallPlan], bool] = lambda p: True
    ) -> CallPlan:
        for plan in self.scenario.plans:
            if plan.provider == provider and plan.outcome is outcome and test(plan):
                return plan
        raise LookupError(f"no {provider} call ending {outcome.value} in the scenario")

    def outcomes(self, provider: str) -> list[tuple[Status, CallPlan]]:
        # Every outcome the provider has a word for (Dialgen reports a canceled call as MISSED).
        reported = [o for o in ENDED if SIM_PROVIDERS[provider].outcome(o) is o]
        return [(outcome, self.plan(provider, outcome)) for outcome in reported]


def simulated(world: World) -> Iterator[tuple[str, dict[str, Any]]]:
    clock = world.clock
    answered = world.plan("dialgood", Status.COMPLETED)
    assert answered.answered is not None
    yield (
        "sim_dialgood_cdr",
        document(
            "dialgood",
            "cdr",
            f"callmon.simulator.dialgood.cdr(plan, clock); {world.made_by}",
            [(o.value, sim_dialgood.cdr(p, clock)) for o, p in world.outcomes("dialgood")],
        ),
    )
    yield (
        "sim_dialgood_live",
        document(
            "dialgood",
            "live",
            f"callmon.simulator.dialgood.live(plan, t); {world.made_by}",
            [
                ("pending", sim_dialgood.live(answered, answered.dialed + 0.1)),
                ("available", sim_dialgood.live(answered, answered.answered + 20)),
            ],
        ),
    )

    live = world.plan("dialgen", Status.COMPLETED)
    assert live.answered is not None
    yield (
        "sim_dialgen_status",
        document(
            "dialgen",
            "status",
            f"callmon.simulator.dialgen.status(plan, t, clock); {world.made_by}",
            [
                ("scheduled", sim_dialgen.status(live, live.queued + 0.1, clock)),
                ("ringing", sim_dialgen.status(live, live.dialed + 0.1, clock)),
                ("talking", sim_dialgen.status(live, live.answered + 1, clock)),
                *((o.value, sim_dialgen.status(p, p.ended + 1, clock)) for o, p in world.outcomes("dialgen")),
            ],
        ),
    )
    yield (
        "sim_dialgen_batch",
        document(
            "dialgen",
            "batch row",
            f"callmon.simulator.dialgen.status(plan, t, clock, batch=True); {world.made_by}",
            [
                ("talking", sim_dialgen.status(live, live.answered + 1, clock, batch=True)),
                ("completed", sim_dialgen.status(live, live.ended + 1, clock, batch=True)),
            ],
        ),
    )
    yield (
        "sim_dialgen_persistent",
        document(
            "dialgen",
            "check-status",
            f"callmon.simulator.dialgen.persistent(plan, t, clock); {world.made_by}",
            [
                ("talking", sim_dialgen.persistent(live, live.answered + 13, clock)),
                *(
                    (o.value, sim_dialgen.persistent(p, p.ended + 1, clock))
                    for o, p in world.outcomes("dialgen")
                ),
            ],
        ),
    )
    yield (
        "sim_dialgen_webhook",
        document(
            "dialgen",
            "onCallComplete",
            f"callmon.simulator.dialgen.webhook(plan, clock); {world.made_by}",
            [(o.value, sim_dialgen.webhook(p, clock)) for o, p in world.outcomes("dialgen")],
        ),
    )

    talking = world.plan("cloudagent", Status.COMPLETED)
    assert talking.answered is not None
    yield (
        "sim_cloudagent_row",
        document(
            "cloudagent",
            "CDR row",
            f"callmon.simulator.cloudagent.row(plan, clock); {world.made_by}",
            [(o.value, sim_cloudagent.row(p, clock)) for o, p in world.outcomes("cloudagent")],
        ),
    )
    yield (
        "sim_cloudagent_event",
        document(
            "cloudagent",
            "Subscribe event",
            f"callmon.simulator.cloudagent.event(plan, action, at, clock); {world.made_by}",
            [
                ("calling", sim_cloudagent.event(talking, "Calling", talking.dialed, clock)),
                ("answered", sim_cloudagent.event(talking, "Answered", talking.answered, clock)),
                ("disconnect", sim_cloudagent.event(talking, "Disconnect", talking.ended, clock)),
            ],
        ),
    )

    human = world.plan("velip", Status.COMPLETED, lambda p: p.amd == "HM" and len(p.dtmf) > 1)
    machine = world.plan("velip", Status.COMPLETED, lambda p: p.amd == "MA")
    congestion = world.plan("velip", Status.FAILED, lambda p: p.index % 2 == 1)
    unavailable = world.plan("velip", Status.FAILED, lambda p: p.index % 2 == 0)
    assert human.answered is not None
    ended = [(o.value, p) for o, p in world.outcomes("velip") if o is not Status.FAILED]
    yield (
        "sim_velip_record",
        document(
            "velip",
            "record",
            f"callmon.simulator.velip.record(plan, t, clock); {world.made_by}",
            [
                ("queued", sim_velip.record(human, human.queued + 0.1, clock)),
                ("ringing", sim_velip.record(human, human.dialed + 0.1, clock)),
                ("talking", sim_velip.record(human, human.answered + 1, clock)),
                *((name, sim_velip.record(p, p.ended + 1, clock)) for name, p in ended),
                ("completed by a machine", sim_velip.record(machine, machine.ended + 1, clock)),
                ("failed: congestion", sim_velip.record(congestion, congestion.ended + 1, clock)),
                ("failed: channel unavailable", sim_velip.record(unavailable, unavailable.ended + 1, clock)),
            ],
        ),
    )
    yield (
        "sim_velip_webhook",
        document(
            "velip",
            "rurl delivery",
            f"callmon.simulator.velip.webhook(plan, clock); {world.made_by}",
            [(o.value, sim_velip.webhook(p, clock)) for o, p in world.outcomes("velip")],
        ),
    )

    ringing = world.plan("vobiz", Status.COMPLETED)
    rejected = world.plan("vobiz", Status.FAILED, lambda p: p.index % 2 == 0)
    unavailable = world.plan("vobiz", Status.FAILED, lambda p: p.index % 2 == 1)
    assert ringing.answered is not None
    ended = [(o.value, p) for o, p in world.outcomes("vobiz") if o is not Status.FAILED]
    ended += [("failed: rejected", rejected), ("failed: service unavailable", unavailable)]
    yield (
        "sim_vobiz_cdr",
        document(
            "vobiz",
            "cdr",
            f"callmon.simulator.vobiz.cdr(plan, clock, auth_id); {world.made_by}",
            [(name, sim_vobiz.cdr(p, clock, sim_vobiz.AUTH_ID)) for name, p in ended],
        ),
    )
    yield (
        "sim_vobiz_live",
        document(
            "vobiz",
            "live and queued call",
            f"callmon.simulator.vobiz.live(plan, t, clock), queued(plan, clock); {world.made_by}",
            [
                ("queued", sim_vobiz.queued(ringing, clock)),
                ("ringing", sim_vobiz.live(ringing, ringing.dialed + 0.1, clock)),
                ("in-progress", sim_vobiz.live(ringing, ringing.answered + 1, clock)),
            ],
        ),
    )
    yield (
        "sim_vobiz_hangup",
        document(
            "vobiz",
            "hangup callback",
            f"callmon.simulator.vobiz.hangup(plan, clock); {world.made_by}",
            [(name, sim_vobiz.hangup(p, clock)) for name, p in ended],
        ),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="say which files would change, write nothing")
    args = parser.parse_args(argv)
    GOLDEN.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, doc in [*seeds(), *simulated(World())]:
        path = GOLDEN / f"{name}.json"
        text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
        old = path.read_text(encoding="utf-8") if path.exists() else None
        if old != text:
            changed.append(path.relative_to(ROOT).as_posix())
            if not args.check:
                path.write_text(text, encoding="utf-8")
    for name in changed:
        print(("would change: " if args.check else "wrote: ") + name)
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
