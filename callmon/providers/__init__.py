"""Provider adapters, one per provider, by the name used in config files (`provider = "vobiz"`)."""

from __future__ import annotations

from callmon.providers.base import Adapter, Budget, Option, Source
from callmon.providers.cloudagent import CloudAgentAdapter
from callmon.providers.dialgen import DialgenAdapter
from callmon.providers.dialgood import DialgoodAdapter
from callmon.providers.velip import VelipAdapter
from callmon.providers.vobiz import VobizAdapter

ADAPTERS: dict[str, type[Adapter]] = {
    cls.provider: cls
    for cls in (DialgoodAdapter, DialgenAdapter, CloudAgentAdapter, VelipAdapter, VobizAdapter)
}

__all__ = ["ADAPTERS", "Adapter", "Budget", "Option", "Source"]
