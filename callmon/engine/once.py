"""One pass over every source: what `callmon watch --once` prints.

A pass keeps to the same budgets as the live engine (a provider that allows 2 requests a minute gets 2 a
minute here too) and ends by a deadline: a source whose budget or pages would take it past the deadline is
cut short, and the result says which and why. Sources are isolated: whatever one raises is its own error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import httpx

from callmon.crash import one_line
from callmon.engine.budget import SlidingWindow
from callmon.model import Call
from callmon.providers import ADAPTERS, Adapter, Source
from callmon.providers.errors import NotFoundYet, ProviderError

DEFAULT_MAX_TIME = 120.0


class CutShort(Exception):
    """The pass must stop here to keep its budget and deadline; the message says why."""


@dataclass
class SourceResult:
    source: Source
    calls: list[Call] = field(default_factory=list)
    error: str | None = None
    cut_short: str | None = None  # why the pass over this source stopped before its end
    skipped: int = 0  # records that could not be read
    skip_reason: str = ""


async def poll_source(
    source: Source,
    secrets: Mapping[str, str],
    client: httpx.AsyncClient,
    *,
    max_time: float = DEFAULT_MAX_TIME,
) -> SourceResult:
    """Every call in the source's scope, all pages, within its budget and `max_time` seconds; a failure or a
    cut keeps what was read before it."""
    result = SourceResult(source)
    adapter_cls = ADAPTERS[source.provider]
    clock = time.monotonic
    deadline = clock() + max_time
    windows = {kind: SlidingWindow(budget, clock) for kind, budget in adapter_cls.budgets.items()}

    async def gate(kind: str) -> None:
        window = windows.get(kind) or windows.get("default")
        if window is None:
            return
        wait = window.wait_time()
        if clock() + wait > deadline:
            budget = window.budget
            raise CutShort(
                f"its budget ({budget.requests} {kind} requests per {budget.per:g}s) allows the next one in "
                f"{wait:.0f}s, past --max-time {max_time:g}s"
            )
        await window.acquire()

    adapter = adapter_cls(source, secrets, client, gate=gate)
    try:
        async with asyncio.timeout(max_time):
            await fetch_all(adapter, result.calls)
    except CutShort as exc:
        result.cut_short = str(exc)
    except TimeoutError:
        result.cut_short = f"not finished within --max-time {max_time:g}s"
    except ProviderError as exc:
        result.error = str(exc)
    except Exception as exc:  # one source's failure is its own, whatever it is
        result.error = one_line(exc)
    result.cut_short = result.cut_short or adapter.cut_short
    result.skipped, result.skip_reason = adapter.skipped, adapter.skip_reason
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
    sources: Sequence[tuple[Source, Mapping[str, str]]],
    client: httpx.AsyncClient,
    *,
    max_time: float = DEFAULT_MAX_TIME,
) -> list[SourceResult]:
    return list(
        await asyncio.gather(*(poll_source(s, secrets, client, max_time=max_time) for s, secrets in sources))
    )


def dedupe(calls: Sequence[Call]) -> list[Call]:
    """One row per (source, call id): a call seen on two pages, or live and then in the CDRs, keeps the last."""
    by_key: dict[tuple[str, str], Call] = {}
    for call in calls:
        by_key[call.key] = call
    return list(by_key.values())
