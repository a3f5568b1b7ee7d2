"""A simulator that speaks the providers' wire formats: the demo's data and the tests' real HTTP.

Each provider is one module declaring a `SimProvider` subclass; importing it registers it.
"""

from __future__ import annotations

from callmon.config import env_name
from callmon.providers import Source
from callmon.simulator.app import Simulator, build_app
from callmon.simulator.faults import Faults, FaultSpecError, RateLimiter, documented_limits, parse_faults
from callmon.simulator.provider import SIM_PROVIDERS, SimProvider
from callmon.simulator.scenario import Burst, Clock, Scenario

# isort: off
# The order of registration is the order a scenario's calls take turns in, so every seed depends on it.
from callmon.simulator import dialgood as dialgood
from callmon.simulator import dialgen as dialgen
from callmon.simulator import cloudagent as cloudagent
from callmon.simulator import velip as velip
from callmon.simulator import vobiz as vobiz
# isort: on

PROVIDERS = tuple(SIM_PROVIDERS)
DEMO_SECRETS: dict[str, dict[str, str]] = {name: dict(p.secrets) for name, p in SIM_PROVIDERS.items()}
DOCUMENTED_LIMITS = documented_limits()

__all__ = [
    "DEMO_SECRETS",
    "DOCUMENTED_LIMITS",
    "PROVIDERS",
    "SIM_PROVIDERS",
    "Burst",
    "Clock",
    "FaultSpecError",
    "Faults",
    "RateLimiter",
    "Scenario",
    "SimProvider",
    "Simulator",
    "build_app",
    "config_text",
    "demo_sources",
    "parse_faults",
]


def demo_sources(scenario: Scenario, base_url: str, *, interval: float = 2.0) -> list[Source]:
    """One source per provider of the scenario, pointed at a simulator served at `base_url` (no trailing
    slash)."""
    return [
        Source(
            name=f"sim-{name}",
            provider=name,
            options=SIM_PROVIDERS[name].source_options(scenario),
            base_url=base_url + SIM_PROVIDERS[name].prefix,
            interval=interval,
        )
        for name in scenario.providers
    ]


def demo_secrets(sources: list[Source]) -> dict[str, dict[str, str]]:
    return {s.name: dict(SIM_PROVIDERS[s.provider].secrets) for s in sources}


def config_text(scenario: Scenario, base_url: str) -> str:
    """A ready config for a simulator served at `base_url`; its secrets are given as env exports to run."""
    sources = demo_sources(scenario, base_url)
    lines = ["# callmon config for the simulator at " + base_url, "# Secrets never go in a config file. Run:"]
    for source in sources:
        for field, value in SIM_PROVIDERS[source.provider].secrets.items():
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
