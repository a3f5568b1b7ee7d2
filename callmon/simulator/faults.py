"""Fault injection and the providers' documented rate limits, switchable per provider."""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from callmon.simulator.provider import SIM_PROVIDERS


def documented_limits() -> dict[tuple[str, str], tuple[int, float]]:
    """(provider, request kind) -> (requests, per seconds), as each registered provider documents them."""
    return {(p.name, kind): limit for p in SIM_PROVIDERS.values() for kind, limit in p.limits.items()}


class FaultSpecError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Faults:
    """What one provider's endpoints do wrong. Probabilities are per request."""

    ratelimit: bool = True
    error_rate: float = 0.0  # random 5xx
    slow: float = 0.0  # seconds added to every response
    malformed_rate: float = 0.0  # truncated JSON
    auth: bool = False  # reject every key


_NAMES = ("ratelimit", "5xx", "slow", "malformed", "auth")


def parse_faults(specs: list[str]) -> dict[str, Faults]:
    """`[provider:]name[=value]`, e.g. `5xx=0.1`, `velip:slow=2`, `vobiz:auth`, `all:ratelimit=off`."""
    providers = tuple(SIM_PROVIDERS)
    result = {p: Faults() for p in providers}
    for spec in specs:
        for item in filter(None, (s.strip() for s in spec.split(","))):
            target, _, rest = item.rpartition(":")
            targets = providers if target in ("", "all") else (target,)
            if any(t not in providers for t in targets):
                raise FaultSpecError(
                    f"unknown provider {target!r} in fault {item!r} (one of: {', '.join(providers)})"
                )
            name, _, value = rest.partition("=")
            if name not in _NAMES:
                raise FaultSpecError(f"unknown fault {name!r} in {item!r} (one of: {', '.join(_NAMES)})")
            for t in targets:
                result[t] = _apply(result[t], name, value, item)
    return result


def _apply(faults: Faults, name: str, value: str, item: str) -> Faults:
    if name in ("ratelimit", "auth"):
        flag = value.lower() not in ("off", "0", "false", "no")
        return replace(faults, **{name: flag})
    try:
        number = float(value) if value else (0.1 if name != "slow" else 1.0)
    except ValueError:
        raise FaultSpecError(f"{item!r}: {value!r} is not a number") from None
    if name == "slow":
        if not 0 <= number <= 60:
            raise FaultSpecError(f"{item!r}: slow takes 0 to 60 seconds")
        return replace(faults, slow=number)
    if not 0 <= number <= 1:
        raise FaultSpecError(f"{item!r}: {name} takes a probability from 0 to 1")
    if name == "5xx":
        return replace(faults, error_rate=number)
    return replace(faults, malformed_rate=number)


@dataclass
class RateLimiter:
    """Sliding windows per (provider, kind, credential), answering how long until a slot frees."""

    limits: dict[tuple[str, str], tuple[int, float]] = field(default_factory=documented_limits)
    clock: Callable[[], float] = time.monotonic
    _hits: dict[tuple[str, str, str], deque[float]] = field(default_factory=dict)
    counts: dict[tuple[str, str], int] = field(default_factory=dict)

    def hit(self, provider: str, kind: str, who: str) -> float | None:
        """Record one request; None if allowed, else seconds until it would be."""
        self.counts[(provider, kind)] = self.counts.get((provider, kind), 0) + 1
        limit = self.limits.get((provider, kind)) or self.limits.get((provider, "default"))
        if limit is None:
            return None
        count, per = limit
        now = self.clock()
        window = self._hits.setdefault((provider, kind, who), deque())
        while window and window[0] <= now - per:
            window.popleft()
        if len(window) >= count:
            return max(0.001, window[0] + per - now)
        window.append(now)
        return None


@dataclass
class Dice:
    """Seeded randomness for faults, so a failing test replays the same way."""

    seed: int = 0
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed ^ 0x5EED)

    def roll(self, probability: float) -> bool:
        return probability > 0 and self._rng.random() < probability
