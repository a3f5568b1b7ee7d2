"""One pass over every source: what `callmon watch --once` prints."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import httpx

from callmon.model import Call
from callmon.providers import ADAPTERS, Source
from callmon.providers.errors import ProviderError


@dataclass
class SourceResult:
    source: Source
    calls: list[Call] = field(default_factory=list)
    error: str | None = None


async def poll_source(source: Source, secrets: Mapping[str, str], client: httpx.AsyncClient) -> SourceResult:
    """Every call in the source's scope, all pages; a failure keeps what was read before it."""
    result = SourceResult(source)
    adapter = ADAPTERS[source.provider](source, secrets, client)
    try:
        async for page in adapter.list_calls():
            result.calls.extend(page)
    except ProviderError as exc:
        result.error = str(exc)
    return result


async def poll_all(
    sources: Sequence[tuple[Source, Mapping[str, str]]], client: httpx.AsyncClient
) -> list[SourceResult]:
    return list(await asyncio.gather(*(poll_source(s, secrets, client) for s, secrets in sources)))


def dedupe(calls: Sequence[Call]) -> list[Call]:
    """One row per (source, call id): a call seen on two pages, or live and then in the CDRs, keeps the last."""
    by_key: dict[tuple[str, str], Call] = {}
    for call in calls:
        by_key[call.key] = call
    return list(by_key.values())
