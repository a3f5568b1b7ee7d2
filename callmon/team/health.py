"""An account's health as the leader publishes it, and the shared auth breaker's record: both scrubbed."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from callmon import redact
from callmon.health import SourceHealth, State

_STATES = {s.value: s for s in State}


def fingerprint(provider: str, secrets: Mapping[str, str]) -> str:
    """Names a set of secrets without revealing them: collectors with the same secret share an auth breaker."""
    text = json.dumps([provider, sorted(secrets.items())])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def dump(health: SourceHealth, leader: str, fence: int) -> str:
    data = dataclasses.asdict(health)
    data["state"] = health.state.value
    data["message"] = redact.scrub(health.message)
    data["note"] = redact.scrub(health.note)
    data["leader"] = leader
    data["fence"] = fence
    return redact.scrub(json.dumps(data, ensure_ascii=False))


def load(text: str | bytes) -> tuple[SourceHealth, str, int]:
    """(health, leader, fence) from `dump`; a value that is not one reads as an unknown state."""
    try:
        data: Any = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError
        fields = {f.name for f in dataclasses.fields(SourceHealth)}
        values = {k: v for k, v in data.items() if k in fields}
        values["state"] = _STATES.get(str(values.get("state")), State.ERROR)
        budget = values.get("budget") or {}
        values["budget"] = {
            str(k): (int(v[0]), int(v[1]), float(v[2])) for k, v in budget.items() if isinstance(v, list) and len(v) == 3
        }
        from callmon.text import clean

        for name in ("name", "provider", "message", "note"):
            values[name] = clean(str(values.get(name) or ""))[:300]
        health = SourceHealth(**values)
        return health, clean(str(data.get("leader") or "")), int(data.get("fence") or 0)
    except (ValueError, TypeError, KeyError):
        return SourceHealth("?", "?", State.ERROR, "unreadable health in the engine"), "", 0


def breaker(fingerprint: str, host: str, when: float) -> str:
    return f"{fingerprint} {when:.0f} {host}"


def read_breaker(value: str) -> tuple[str, float, str]:
    fp, _, rest = value.partition(" ")
    when, _, host = rest.partition(" ")
    try:
        at = float(when)
    except ValueError:
        at = 0.0
    return fp, at, host
