"""Adapters against scripted HTTP (httpx.MockTransport): what each request was, and canned answers."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from callmon.model import Call
from callmon.providers import ADAPTERS, Source
from callmon.providers.base import Adapter, Limits

Handler = Callable[[httpx.Request], httpx.Response]
BASE = "https://api.test/base"


def make(
    provider: str,
    handler: Handler,
    secrets: Mapping[str, str],
    *,
    limits: Limits | None = None,
    known: Mapping[str, Call] | None = None,
    **options: Any,
) -> Adapter:
    source = Source(name="s", provider=provider, options=options, base_url=BASE, limits=limits or Limits())
    adapter = ADAPTERS[provider](
        source, dict(secrets), httpx.AsyncClient(transport=httpx.MockTransport(handler))
    )
    if known is not None:
        adapter.known = known
    return adapter


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None


def reply(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Handler:
    """A handler that gives every request the same answer."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    return handler


async def pages(adapter: Adapter, full: bool = True) -> list[list[Call]]:
    return [page async for page in adapter.list_calls(full)]


def ids(calls: list[Call]) -> list[str]:
    return [c.call_id for c in calls]
