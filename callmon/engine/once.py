"""One pass over every source: what `callmon watch --once` prints."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import httpx

from callmon.model import Call
from callmon.providers import ADAPTERS, Adapter, Source
from callmon.providers.errors import NotFoundYet, ProviderError


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
        await fetch_all(adapter, result.calls)
    except ProviderError as exc:
        result.error = str(exc)
    return result


async def fetch_all(adapter: Adapter, into: list[Call] | None = None) -> list[Call]:
    """The adapter's whole scope: every list page, then each configured call id. Fills `into` as it goes,
    so a failure part-way keeps what was read."""
    calls = [] if into is None else into
    if adapter.has_list:
        async for page in adapter.list_calls():
            calls.extend(page)
    for call_id in adapter.targets():
        try:
            calls.append(await adapter.get_call(call_id))
        except NotFoundYet:
            continue  # not placed yet: nothing to show
    return calls


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
