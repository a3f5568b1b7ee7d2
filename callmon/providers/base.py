"""What every provider adapter shares: HTTP over httpx, auth headers, error mapping, request budgets.

An adapter knows one provider's wire format and nothing about scheduling: the engine decides when to call
`list_calls` / `get_call`, and passes a `gate` that every request waits on so the provider's budget holds.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import httpx

from callmon.model import Call
from callmon.providers import parse
from callmon.providers.errors import (
    AuthError,
    BadRequest,
    BadResponse,
    NetworkError,
    NotFoundYet,
    RateLimited,
    ServerError,
)

Gate = Callable[[str], Awaitable[None]]


async def _open_gate(kind: str) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Budget:
    """At most `requests` per `per` seconds for one kind of request, shared by all work of an account."""

    requests: int
    per: float

    @property
    def interval(self) -> float:
        return self.per / self.requests


@dataclass(frozen=True, slots=True)
class Option:
    """One non-secret config key a provider takes in its `[[sources]]` table."""

    type: type | tuple[type, ...]
    help: str
    required: bool = False
    default: Any = None


@dataclass(frozen=True, slots=True)
class Source:
    """One configured provider account and what to watch on it."""

    name: str
    provider: str
    options: Mapping[str, Any]
    base_url: str | None = None
    interval: float = 5.0
    filter: str | None = None


@dataclass(frozen=True, slots=True)
class Exchange:
    """What one request cost and how it went; the engine counts these for health and budgets."""

    kind: str
    seconds: float
    status_code: int | None


class Adapter:
    """Base of the five provider adapters."""

    provider: ClassVar[str]
    title: ClassVar[str]
    default_base_url: ClassVar[str]
    secret_fields: ClassVar[tuple[str, ...]]
    options: ClassVar[Mapping[str, Option]]
    # Request kinds and their budgets; "default" covers any kind not listed.
    budgets: ClassVar[Mapping[str, Budget]] = {"default": Budget(60, 60.0)}
    # True when one list request refreshes many calls more cheaply than one request per call.
    list_refreshes: ClassVar[bool] = True
    # The zone of the provider's local call times when the source's config names none.
    default_timezone: ClassVar[str] = "UTC"
    timeout: ClassVar[float] = 15.0

    def __init__(
        self,
        source: Source,
        secrets: Mapping[str, str],
        client: httpx.AsyncClient,
        *,
        gate: Gate = _open_gate,
        observe: Callable[[Exchange], None] | None = None,
        callback_url: str | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.now = now  # the session's wall clock (epoch seconds): what "today" is
        self.secrets = secrets
        self.client = client
        self.gate = gate
        self.observe = observe
        self.callback_url = callback_url
        self.base_url = (source.base_url or self.default_base_url).rstrip("/")
        # What the caller already knows about this source's calls (call id -> Call), so an adapter can skip
        # lookups that cannot tell it anything new. Empty means "nothing known": look everything up.
        self.known: Mapping[str, Call] = {}
        self.tz = self.zone(source)

    # -- what the engine calls -------------------------------------------------------------------------------

    def list_calls(self, full: bool = True) -> AsyncIterator[list[Call]]:
        """Every call in the configured list scope (campaign, batch, day), one page at a time, to the last.

        `full=False` asks only for what can still change (live calls), where the provider has such a list;
        the engine does full scans at the slower discovery pace.
        """
        raise NotImplementedError

    @property
    def has_list(self) -> bool:
        """Whether a list scope is configured at all (else only `targets` are watched)."""
        return True

    def targets(self) -> list[str]:
        """Call ids configured one by one; the engine looks each up until it has ended."""
        return [str(c) for c in self.option("call_ids") or []]

    async def get_call(self, call_id: str) -> Call:
        """One call's current state. Raises NotFoundYet while the provider does not know it (yet)."""
        raise NotImplementedError

    async def get_detail(self, call: Call) -> Call:
        """The call with everything the detail pane shows (transcript...); by default a fresh get_call."""
        return await self.get_call(call.call_id)

    def normalize(self, raw: Mapping[str, Any]) -> Call:
        raise NotImplementedError

    # -- helpers for subclasses ------------------------------------------------------------------------------

    @classmethod
    def zone(cls, source: Source) -> tzinfo:
        """The time zone of a source's local call times: its config's, else the provider's. Polled and pushed
        records of one source must read alike."""
        return ZoneInfo(str(cls.option_of(source, "timezone") or cls.default_timezone))

    @classmethod
    def option_of(cls, source: Source, name: str) -> Any:
        """A source's option: its config's value, else the provider's default (None if it has none)."""
        if name in source.options:
            return source.options[name]
        spec = cls.options.get(name)
        return spec.default if spec else None

    def option(self, name: str) -> Any:
        return self.option_of(self.source, name)

    def secret(self, name: str) -> str:
        try:
            return self.secrets[name]
        except KeyError:
            raise AuthError(self.provider, f"no {name} for source {self.source.name!r}") from None

    def auth_headers(self) -> dict[str, str]:
        return {}

    def watch_date(self) -> date:
        """The day to watch in the provider's time zone: a fixed YYYY-MM-DD, or today."""
        value = self.option("date")
        if value and value != "today":
            return date.fromisoformat(str(value))
        return datetime.fromtimestamp(self.now(), UTC).astimezone(self.tz).date()

    async def request(
        self,
        method: str,
        path: str,
        *,
        kind: str = "default",
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        form: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request through the budget gate and return its decoded JSON body.

        Raises a ProviderError subclass for anything but a readable success.
        """
        await self.gate(kind)
        merged = {"Accept": "application/json", **self.auth_headers(), **(headers or {})}
        started = time.perf_counter()
        status_code: int | None = None
        try:
            response = await self.client.request(
                method,
                self.base_url + path,
                params=params,
                json=json_body,
                data=form,
                headers=merged,
                timeout=self.timeout,
            )
            status_code = response.status_code
        except httpx.TimeoutException:
            raise NetworkError(self.provider, f"no answer within {self.timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise NetworkError(self.provider, f"{type(exc).__name__}: {exc}") from None
        finally:
            if self.observe is not None:
                self.observe(Exchange(kind, time.perf_counter() - started, status_code))
        body = self.decode(response)
        self.check(response, body)
        return body

    def decode(self, response: httpx.Response) -> Any:
        content = response.content
        if not content.strip():
            if response.is_success:
                raise BadResponse(self.provider, "empty body", status_code=response.status_code)
            return None
        try:
            return json.loads(content)
        except ValueError as exc:
            if response.is_success:
                raise BadResponse(
                    self.provider, f"malformed JSON: {exc}", status_code=response.status_code
                ) from None
            return {"message": content[:200].decode("utf-8", "replace")}

    def error_message(self, body: Any) -> str | None:
        """The provider's own words from an error body; subclasses know their provider's shape."""
        if isinstance(body, Mapping):
            for key in ("message", "error", "detail", "status"):
                value = body.get(key)
                if isinstance(value, str) and value:
                    return value
                if isinstance(value, Mapping):
                    nested = self.error_message(value)
                    if nested:
                        return nested
        return None

    def check(self, response: httpx.Response, body: Any) -> None:
        """Map an HTTP error status onto the typed errors; subclasses add in-body error conventions."""
        status = response.status_code
        if status < 400:
            return
        message = self.error_message(body) or response.reason_phrase or f"HTTP {status}"
        if status in (401, 403):
            raise AuthError(self.provider, message, status_code=status)
        if status == 429:
            raise RateLimited(
                self.provider,
                message,
                retry_after=parse.retry_after(response.headers.get("Retry-After")),
                status_code=status,
            )
        if status == 404:
            raise NotFoundYet(self.provider, message, status_code=status)
        if status >= 500:
            raise ServerError(self.provider, message, status_code=status)
        raise BadRequest(self.provider, message, status_code=status)

    def expect_mapping(self, body: Any, what: str) -> Mapping[str, Any]:
        if not isinstance(body, Mapping):
            raise BadResponse(self.provider, f"{what}: expected a JSON object, got {type(body).__name__}")
        return body

    def expect_list(self, value: Any, what: str) -> list[Mapping[str, Any]]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise BadResponse(self.provider, f"{what}: expected a list, got {type(value).__name__}")
        return [row for row in value if isinstance(row, Mapping)]
