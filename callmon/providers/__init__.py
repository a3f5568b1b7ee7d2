"""Provider adapters, one per provider, by the name used in config files (`provider = "vobiz"`).

Each adapter registers itself in ADAPTERS when its module is imported (see `Adapter.__init_subclass__`), so
a new provider is one module here (and one in the simulator); everything else reads the registry: the names
a config may use, which providers push, what the filter language accepts.
"""

from __future__ import annotations

from callmon.providers import cloudagent, dialgen, dialgood, velip, vobiz
from callmon.providers.base import ADAPTERS, Adapter, Budget, Limits, Option, Source

# Listed in this order wherever providers are listed (registration follows import order, which is alphabetical).
for _module in (dialgood, dialgen, cloudagent, velip, vobiz):
    ADAPTERS[_module.PROVIDER] = ADAPTERS.pop(_module.PROVIDER)


def names() -> tuple[str, ...]:
    """Every registered provider, in registration order."""
    return tuple(ADAPTERS)


def pushing() -> frozenset[str]:
    """Providers that can deliver records to the webhook receiver."""
    return frozenset(name for name, adapter in ADAPTERS.items() if adapter.pushes)


__all__ = ["ADAPTERS", "Adapter", "Budget", "Limits", "Option", "Source", "names", "pushing"]
