"""The simulated world: campaigns of calls with fixed plans, read at any moment of a scenario clock.

Every call's whole life is decided up front from the seed (when it is queued, rings, is answered, ends, and
how), so the state "now" is a pure function of the plan and the clock: deterministic, and the ground truth
for tests is simply each plan's final status.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Container, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from operator import attrgetter

from callmon.heap import bulk
from callmon.model import Status
from callmon.simulator.provider import SIM_PROVIDERS, SimProvider

# Realistic outbound outcomes: most calls connect, a fifth go unanswered, the rest busy/failed/abandoned.
_OUTCOMES = (
    (Status.COMPLETED, 0.56),
    (Status.NO_ANSWER, 0.20),
    (Status.BUSY, 0.09),
    (Status.FAILED, 0.09),
    (Status.CANCELED, 0.06),
)
# Summed once: random.choices given plain weights sums them into these same floats on every call.
_OUTCOME_STATUSES = [o for o, _ in _OUTCOMES]
_OUTCOME_CUM_WEIGHTS = list(itertools.accumulate(w for _, w in _OUTCOMES))
# A provider that draws this many taken ids in a row has too few for the scenario: fail rather than spin.
_MAX_DRAWS = 1000
_AGENT_LINES = (
    "Hello, this is Maya calling from Acme Energy.",
    "Am I speaking with the account holder?",
    "I'm calling about your plan renewal next month.",
    "We can lock in your current rate for another year.",
    "Would you like me to send the details by SMS?",
    "Great, I've noted that. Is there anything else?",
    "Thank you for your time, have a good day.",
)
_USER_LINES = (
    "Yes, speaking.",
    "Oh, okay. What is this about?",
    "How much would it be?",
    "Sure, send it over.",
    "No, that's all. Thanks.",
    "Can you call back later?",
)


@dataclass(frozen=True, slots=True)
class CallPlan:
    """One call's life. Offsets are seconds from the scenario's start; None where the step never happens."""

    provider: str
    call_id: str
    campaign: str
    index: int
    to: str
    from_: str
    queued: float
    dialed: float
    answered: float | None
    ended: float
    outcome: Status
    cdr_delay: float
    cost_per_min: float
    transcript: tuple[tuple[float, str, str], ...] = ()  # (offset after answer, role, text)
    amd: str = "HM"
    dtmf: tuple[str, ...] = ()

    def status_at(self, t: float) -> Status | None:
        """Status at scenario time t, or None before the call exists."""
        if t < self.queued:
            return None
        if t < self.dialed:
            return Status.QUEUED
        if t >= self.ended:
            return self.outcome
        if self.answered is not None and t >= self.answered:
            return Status.IN_PROGRESS
        return Status.RINGING

    def cdr_ready(self, t: float) -> bool:
        return t >= self.ended + self.cdr_delay

    @property
    def talk_seconds(self) -> int:
        return 0 if self.answered is None else round(self.ended - self.answered)

    @property
    def total_seconds(self) -> int:
        return round(self.ended - self.dialed)

    @property
    def cost(self) -> float:
        minutes = -(-self.talk_seconds // 60)  # billed per started minute
        return round(minutes * self.cost_per_min, 4)

    def transcript_at(self, t: float) -> list[tuple[str, str]]:
        if self.answered is None or t < self.answered:
            return []
        return [(role, text) for offset, role, text in self.transcript if self.answered + offset <= t]


@dataclass(frozen=True, slots=True)
class Burst:
    """A scripted failure burst: from `at` seconds into the scenario, for `length` seconds, one campaign's
    calls all fail, and it dials `extra` times as many (a dialer retrying numbers that keep failing)."""

    at: float
    length: float = 240.0
    campaign: str | None = None  # None: the busiest campaign the scenario has
    extra: float = 2.0

    @classmethod
    def parse(cls, text: str) -> Burst:
        """ "AT[+LENGTH][@CAMPAIGN]", times as in "90s", "2m" (e.g. "1m+4m@Renewals1")."""
        from callmon.durations import DurationError
        from callmon.durations import parse as span

        spec, _, campaign = text.partition("@")
        at, _, length = spec.partition("+")
        try:
            start = span(at.strip(), low=0.0, high=86400.0, zero=True)
            size = span(length.strip(), low=1.0, high=86400.0) if length.strip() else 240.0
        except DurationError as exc:
            raise ValueError(f"burst {text!r}: {exc} (AT[+LENGTH][@CAMPAIGN], e.g. 1m+4m)") from None
        return cls(start, size, campaign.strip() or None)

    def covers(self, t: float) -> bool:
        return self.at <= t < self.at + self.length


@dataclass
class Clock:
    """Scenario seconds since start: real time scaled by `speed`, from an anchor in real UTC time."""

    speed: float = 1.0
    real: Callable[[], float] = time.monotonic
    start_utc: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    _t0: float = field(init=False)
    _offset: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self._t0 = self.real()

    def now(self) -> float:
        return self._offset + (self.real() - self._t0) * self.speed

    def advance(self, seconds: float) -> None:
        """Jump ahead (tests use it instead of waiting)."""
        self._offset += seconds

    def utc(self, offset: float) -> datetime:
        return self.start_utc + timedelta(seconds=offset)


class Scenario:
    """Campaigns across the providers, every registered one unless `providers` names some. Deterministic
    for a seed."""

    def __init__(
        self,
        *,
        seed: int = 7,
        calls: int = 300,
        span: float | None = None,
        warmup: float = 0.35,
        clock: Clock | None = None,
        providers: Sequence[str] | None = None,
        burst: Burst | None = None,
    ) -> None:
        if calls < 1:
            raise ValueError("calls must be at least 1")
        names = tuple(SIM_PROVIDERS) if providers is None else tuple(providers)
        if not names:
            raise ValueError("a scenario needs at least one provider")
        for name in names:
            if name not in SIM_PROVIDERS:
                raise ValueError(f"unknown provider {name!r} (one of: {', '.join(SIM_PROVIDERS)})")
        self.seed = seed
        self.clock = clock or Clock()
        self.providers = names
        self.span = span if span is not None else max(60.0, calls * 2.0)
        rng = random.Random(seed)
        chosen = [SIM_PROVIDERS[name] for name in names]
        self.plans: list[CallPlan] = []
        self._by_id: dict[str, dict[str, CallPlan]] = {name: {} for name in names}
        # Every call of a campaign shares its name's one string.
        self._campaign_names = {p.name: (p.campaign(1), p.campaign(2)) for p in chosen}
        with bulk():
            # A monitor opened mid-campaign: `warmup` of the calls started before the clock's zero.
            for i in range(calls):
                provider = chosen[i % len(chosen)]
                start = rng.uniform(-self.span * warmup, self.span * (1 - warmup))
                plan = self._plan(rng, provider, i, start)
                self.plans.append(plan)
                self._by_id[provider.name][plan.call_id] = plan
        self.burst = self._burst(burst) if burst is not None else None
        self.plans.sort(key=attrgetter("queued"))

    def _burst(self, burst: Burst) -> Burst:
        """Script the burst into the plans: the campaign's calls in it fail, and more of them are placed."""
        campaign = burst.campaign or self.busiest_campaign()
        burst = replace(burst, campaign=campaign)
        inside = [
            (i, p) for i, p in enumerate(self.plans) if p.campaign == campaign and burst.covers(p.queued)
        ]
        if not any(p.campaign == campaign for p in self.plans):
            known = ", ".join(sorted({p.campaign for p in self.plans}))
            raise ValueError(f"burst: no campaign {campaign!r} in this scenario (campaigns: {known})")
        rng = random.Random(self.seed * 7919 + 1)  # its own draws: the other calls stay as the seed made them
        for i, plan in inside:
            self.plans[i] = _failed(plan, rng)
        provider_name = next(p.provider for p in self.plans if p.campaign == campaign)
        provider = SIM_PROVIDERS[provider_name]
        extra = round(max(1, len(inside)) * burst.extra)
        index = len(self.plans)
        for n in range(extra):
            start = burst.at + rng.uniform(0, burst.length)
            plan = self._plan(rng, provider, index + n, start)
            plan = _failed(replace(plan, campaign=campaign), rng)
            self.plans.append(plan)
            self._by_id[provider.name][plan.call_id] = plan
        return burst

    def busiest_campaign(self) -> str:
        """The campaign with the most calls (of providers whose campaigns are more than one call)."""
        counts: dict[str, int] = {}
        for plan in self.plans:
            if not SIM_PROVIDERS[plan.provider].campaign_per_call:
                counts[plan.campaign] = counts.get(plan.campaign, 0) + 1
        if not counts:
            raise ValueError("burst: this scenario has no campaign of several calls")
        return min(counts, key=lambda c: (-counts[c], c))

    def _plan(self, rng: random.Random, provider: SimProvider, index: int, start: float) -> CallPlan:
        outcome = provider.outcome(rng.choices(_OUTCOME_STATUSES, cum_weights=_OUTCOME_CUM_WEIGHTS)[0])
        queued = start
        dialed = queued + rng.uniform(0.5, 8)
        ring = rng.uniform(2, 25)
        answered: float | None = None
        if outcome is Status.COMPLETED:
            answered = dialed + ring
            ended = answered + min(600.0, rng.lognormvariate(3.9, 0.7))
        elif outcome is Status.NO_ANSWER:
            ended = dialed + rng.uniform(25, 45)
        elif outcome is Status.BUSY:
            ended = dialed + rng.uniform(1, 4)
        elif outcome is Status.FAILED:
            ended = dialed + rng.uniform(0.5, 6)
        else:
            ended = dialed + rng.uniform(3, ring)
        campaign = self._campaign_names[provider.name][(index // len(self.providers)) % 2]
        transcript = (
            _transcript(index, ended - answered) if answered is not None and provider.has_transcript else ()
        )
        # Keyword arguments are evaluated in order: this is the order of the rng draws a seed fixes.
        return CallPlan(
            provider=provider.name,
            call_id=new_call_id(provider, index, rng, self._by_id[provider.name]),
            campaign=campaign,
            index=index,
            to=provider.phone(rng),
            from_=provider.phone(rng),
            queued=queued,
            dialed=dialed,
            answered=answered,
            ended=ended,
            outcome=outcome,
            cdr_delay=provider.cdr_delay(rng),
            cost_per_min=provider.cost_per_min,
            transcript=transcript,
            amd=rng.choice(("HM", "HM", "HM", "MA", "ND")) if answered is not None else "ND",
            dtmf=tuple([str(rng.randint(0, 9)) for _ in range(rng.randint(0, 3))]) if answered else (),
        )

    # -- reading the world ------------------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock.now()

    def visible(self, provider: str, t: float | None = None) -> Iterator[CallPlan]:
        t = self.now() if t is None else t
        for plan in self.plans:
            if plan.provider == provider and plan.queued <= t:
                yield plan

    def find(self, provider: str, call_id: str) -> CallPlan | None:
        calls = self._by_id.get(provider)
        return None if calls is None else calls.get(call_id)

    def campaigns(self, provider: str) -> list[str]:
        return sorted({p.campaign for p in self.plans if p.provider == provider})

    def ground_truth(self) -> dict[tuple[str, str], Status]:
        """(provider, call id as callmon keys it) -> final status."""
        return {(p.provider, p.call_id): p.outcome for p in self.plans}

    def finished_at(self) -> float:
        """Scenario time when every call has ended and every CDR is written."""
        return max(p.ended + p.cdr_delay for p in self.plans)


def _failed(plan: CallPlan, rng: random.Random) -> CallPlan:
    """The plan with the call failing: never answered, over within seconds of its dial."""
    outcome = SIM_PROVIDERS[plan.provider].outcome(Status.FAILED)
    return replace(plan, outcome=outcome, answered=None, ended=plan.dialed + rng.uniform(0.5, 6), transcript=(),
                   amd="ND", dtmf=())  # fmt: skip


def new_call_id(provider: SimProvider, index: int, rng: random.Random, taken: Container[str]) -> str:
    """The provider's id for a new call, drawn again while it is `taken`: unique at any scenario size, and
    the same ids as before for every seed whose draws never repeat."""
    for _ in range(_MAX_DRAWS):
        call_id = provider.call_id(index, rng)
        if call_id not in taken:
            return call_id
    raise ValueError(f"{provider.name}: {_MAX_DRAWS} call ids in a row were taken, too few for this scenario")


def _transcript(index: int, talk: float) -> tuple[tuple[float, str, str], ...]:
    lines = []
    steps = max(2, min(12, int(talk // 6)))
    agent_turns = (steps + 1) // 2
    # The agent opens and closes in order; the callee's answers vary from call to call.
    agent = [*_AGENT_LINES[: agent_turns - 1], _AGENT_LINES[-1]]
    for k in range(steps):
        if k % 2 == 0:
            role, said = "Agent", agent[k // 2]
        else:
            role, said = "User", _USER_LINES[(k // 2 + index) % len(_USER_LINES)]
        lines.append((talk * k / steps, role, said))
    return tuple(lines)
