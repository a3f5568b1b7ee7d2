"""A simulator that speaks all five providers' wire formats: the demo's data and the tests' real HTTP."""

from __future__ import annotations

from typing import Any

from callmon.config import env_name
from callmon.providers import Source
from callmon.simulator.app import CLOUDAGENT_USER, DEMO_SECRETS, VOBIZ_AUTH_ID, Simulator, build_app
from callmon.simulator.faults import Faults, FaultSpecError, RateLimiter, parse_faults
from callmon.simulator.scenario import PROVIDERS, Clock, Scenario

__all__ = [
    "DEMO_SECRETS",
    "PROVIDERS",
    "Clock",
    "FaultSpecError",
    "Faults",
    "RateLimiter",
    "Scenario",
    "Simulator",
    "build_app",
    "config_text",
    "demo_sources",
    "parse_faults",
]


def demo_sources(scenario: Scenario, base_url: str, *, interval: float = 2.0) -> list[Source]:
    """One source per provider, pointed at a simulator served at `base_url` (no trailing slash)."""
    options: dict[str, dict[str, Any]] = {
        "dialgood": {"campaigns": [p.call_id for p in scenario.plans if p.provider == "dialgood"]},
        "dialgen": {"batches": scenario.campaigns("dialgen")},
        "cloudagent": {"user_name": CLOUDAGENT_USER},
        "velip": {},
        "vobiz": {"auth_id": VOBIZ_AUTH_ID},
    }
    prefix = {"vobiz": "/vobiz/api/v1"}
    return [
        Source(
            name=f"sim-{provider}",
            provider=provider,
            options=options[provider],
            base_url=base_url + prefix.get(provider, f"/{provider}"),
            interval=interval,
        )
        for provider in scenario.providers
    ]


def demo_secrets(sources: list[Source]) -> dict[str, dict[str, str]]:
    return {s.name: DEMO_SECRETS[s.provider] for s in sources}


def config_text(scenario: Scenario, base_url: str) -> str:
    """A ready config for a simulator served at `base_url`; its secrets are given as env exports to run."""
    sources = demo_sources(scenario, base_url)
    lines = ["# callmon config for the simulator at " + base_url, "# Secrets never go in a config file. Run:"]
    for source in sources:
        for field, value in DEMO_SECRETS[source.provider].items():
            lines.append(f"#   export {env_name(source.name, field)}={value}")
    lines.append("")
    for source in sources:
        lines += ["[[sources]]", f'name = "{source.name}"', f'provider = "{source.provider}"']
        lines.append(f'base_url = "{source.base_url}"')
        lines.append(f"interval = {source.interval:g}")
        for key, value in source.options.items():
            if isinstance(value, list):
                items = ", ".join(f'"{v}"' for v in value)
                lines.append(f"{key} = [{items}]")
            else:
                lines.append(f'{key} = "{value}"')
        lines.append("")
    return "\n".join(lines)
