"""What every provider adapter shares: the Adapter ABC, HTTP with bounds, auth headers, error mapping.

An adapter is the only place that knows a provider: its wire format, endpoints, budgets, secrets, time zone
and what it can do (capability flags). The engine decides when to call `list_calls` / `get_call`, and passes
a `gate` that every request waits on so the provider's budget holds.

Everything a provider sends is untrusted: every request has a total deadline (connect, headers and body) and
a cap on its decoded size, decompression is bounded as it goes, redirects are reported rather than followed,
JSON is read by `callmon.untrusted`, a record that cannot be built is skipped and counted (never raised), and
a scan stops on a page cap or a repeated cursor.
"""

from __future__ import annotations

import abc
import asyncio
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from datetime import time as day_time
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import httpx

from callmon import untrusted
from callmon.model import Call
from callmon.providers import parse
from callmon.providers.errors import (
    AuthError,
    BadRecord,
    BadRequest,
    BadResponse,
    NetworkError,
    NotFoundYet,
    ProviderError,
    RateLimited,
    ServerError,
)
from callmon.redact import scrub
from callmon.text import clean

Gate = Callable[[str], Awaitable[None]]
ADAPTERS: dict[str, type[Adapter]] = {}
_ROW_KEYS = ("data", "details", "records", "rows", "calls", "callDetails")
_ERROR_TEXT = 64 * 1024  # bytes of a non-JSON error body read for its message
# How long after midnight (the provider's zone) a source that watches "today" still looks at yesterday too.
ROLLOVER_GRACE = 2 * 3600.0


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
    low: int | None = None  # for numbers: the smallest and largest value allowed
    high: int | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    """How much one source's provider may cost callmon, whatever it sends (each a `[[sources]]` setting)."""

    timeout: float = 20.0  # seconds for a whole request: connect, headers and body
    max_response_mb: float = 32.0  # decoded size of one response
    max_pages: int = 1000  # pages in one scan of a list
    retry_after_max: float = 3600.0  # the longest Retry-After obeyed; longer waits are clamped

    @property
    def max_response(self) -> int:
        return int(self.max_response_mb * 1024 * 1024)


@dataclass(frozen=True, slots=True)
class Source:
    """One configured provider account and what to watch on it."""

    name: str
    provider: str
    options: Mapping[str, Any]
    base_url: str | None = None
    interval: float = 5.0
    filter: str | None = None
    limits: Limits = field(default_factory=Limits)


@dataclass(frozen=True, slots=True)
class Exchange:
    """What one request cost and how it went; the engine counts these for health and budgets."""

    kind: str
    seconds: float
    status_code: int | None


class Adapter(abc.ABC):
    """Base of every provider adapter. A subclass that names its `provider` registers itself in ADAPTERS."""

    provider: ClassVar[str]
    title: ClassVar[str]
    default_base_url: ClassVar[str]
    secret_fields: ClassVar[tuple[str, ...]]
    options: ClassVar[Mapping[str, Option]]
    # Request kinds and their budgets; "default" covers any kind not listed.
    budgets: ClassVar[Mapping[str, Budget]] = {"default": Budget(60, 60.0)}
    # The zone of the provider's local call times when the source's config names none (its `timezone`).
    default_timezone: ClassVar[str] = "UTC"
    # A [[sources]] table for this provider, as `callmon config init` writes it (commented out).
    example: ClassVar[str] = ""

    # -- capabilities: what the provider can do, so nothing outside this package tests a provider's name --------
    # It can deliver call records to callmon's webhook receiver (normalize_push reads them).
    pushes: ClassVar[bool] = False
    # It delivers only when asked, per request, to a callback URL (request_push asks).
    requests_push: ClassVar[bool] = False
    # A call's transcript can be read while the call is live (not only after it ends).
    live_transcript: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("provider")
        if isinstance(name, str) and not _abstract(cls):
            ADAPTERS[name] = cls

    def __init__(
        self,
        source: Source,
        secrets: Mapping[str, str] | None = None,
        client: httpx.AsyncClient | None = None,
        *,
        gate: Gate = _open_gate,
        observe: Callable[[Exchange], None] | None = None,
        callback_url: str | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.now = now  # the session's wall clock (epoch seconds): what "today" is
        self.secrets: Mapping[str, str] = secrets or {}
        self._client = client
        self.gate = gate
        self.observe = observe
        self.callback_url = callback_url
        self.limits = source.limits
        self.base_url = (source.base_url or self.default_base_url).rstrip("/")
        # What the caller already knows about this source's calls (call id -> Call), so an adapter can skip
        # lookups that cannot tell it anything new. Empty means "nothing known": look everything up.
        self.known: Mapping[str, Call] = {}
        self.tz = self.zone(source)
        # Records that could not be built since the caller last looked, and why the last one could not.
        self.skipped = 0
        self.skip_reason = ""
        # Why the last scan stopped before its end (a page cap, a repeated cursor), or None.
        self.cut_short: str | None = None

    # -- what the engine calls -------------------------------------------------------------------------------

    @abc.abstractmethod
    def list_calls(self, full: bool = True) -> AsyncIterator[list[Call]]:
        """Every call in the configured list scope (campaign, batch, day), one page at a time, to the last.

        `full=False` asks only for what can still change (live calls), where the provider has such a list;
        the engine does full scans at the slower discovery pace.
        """

    @property
    def has_list(self) -> bool:
        """Whether a list scope is configured at all (else only `targets` are watched)."""
        return True

    def targets(self) -> list[str]:
        """Call ids configured one by one; the engine looks each up until it has ended."""
        return [str(c) for c in self.option("call_ids") or []]

    @abc.abstractmethod
    async def get_call(self, call_id: str) -> Call:
        """One call's current state. Raises NotFoundYet while the provider does not know it (yet)."""

    async def get_detail(self, call: Call) -> Call:
        """The call with everything the detail pane shows (transcript...); by default a fresh get_call."""
        return await self.get_call(call.call_id)

    @abc.abstractmethod
    def normalize(self, raw: Mapping[str, Any]) -> Call:
        """One record of the provider's as a Call. Reads leniently: a field it cannot read becomes None."""

    def normalize_push(self, payload: Any) -> list[Call]:
        """The calls in one webhook delivery (a record, a list of them, or a list under a known key). Records
        that cannot be read are skipped and counted; BadRecord when none can."""
        calls = self.read_all(rows_of(payload))
        if not calls:
            raise BadRecord(self.provider, self.skip_reason or "no call records in the delivery")
        return calls

    async def request_push(self, callback_url: str) -> None:
        """Ask the provider to deliver its records to `callback_url` (providers with `requests_push`)."""
        raise NotImplementedError(f"{self.provider} delivers without being asked")

    # -- reading records ---------------------------------------------------------------------------------------

    def read(self, raw: Mapping[str, Any]) -> Call:
        """normalize() with the one rule for records: anything it raises, or a record with no call id, is a
        BadRecord (a typed provider error) saying why."""
        try:
            call = self.normalize(raw)
        except Exception as exc:  # a normalizer bug on hostile input must cost one record, never the source
            raise BadRecord(self.provider, f"unreadable record ({type(exc).__name__})") from None
        if not call.call_id or call.call_id == "?":
            raise BadRecord(self.provider, "a record without a call id")
        return call

    def read_all(self, rows: Iterable[Mapping[str, Any]]) -> list[Call]:
        """Every record that can be read; the rest are skipped and counted (`skipped`, `skip_reason`)."""
        calls = []
        for row in rows:
            try:
                calls.append(self.read(row))
            except BadRecord as exc:
                self.skipped += 1
                self.skip_reason = exc.message
        return calls

    # -- helpers for subclasses ------------------------------------------------------------------------------

    @classmethod
    def zone(cls, source: Source) -> tzinfo:
        """The time zone of a source's local call times: its config's, else the provider's. Polled and pushed
        records of one source must read alike."""
        return ZoneInfo(str(source.options.get("timezone") or cls.default_timezone))

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
        return self.watch_days()[-1]

    def watch_days(self) -> tuple[date, ...]:
        """The days a lookup covers, oldest first: the watch date; when that is today and today began less than
        ROLLOVER_GRACE ago in the provider's zone, yesterday too. A call dialed before midnight ends, and its
        record is written, after it: watching the new day alone, its outcome would never come."""
        value = self.option("date")
        if value and value != "today":
            return (date.fromisoformat(str(value)),)
        now = datetime.fromtimestamp(self.now(), UTC).astimezone(self.tz)
        today = now.date()
        midnight = datetime.combine(today, day_time.min, tzinfo=self.tz)
        if (now - midnight).total_seconds() < ROLLOVER_GRACE:
            return (today - timedelta(days=1), today)
        return (today,)

    def scan(self) -> Scan:
        """A new scan of a paginated list: it ends at the page cap or on a page or cursor seen before."""
        self.cut_short = None
        return Scan(self)

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError(f"{self.provider} adapter for {self.source.name!r} has no HTTP client")
        return self._client

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
        merged = {
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
            **self.auth_headers(),
            **(headers or {}),
        }
        deadline = self.limits.timeout
        started = time.perf_counter()
        status_code: int | None = None
        try:
            async with (
                asyncio.timeout(deadline),
                self.client.stream(
                    method,
                    self.base_url + path,
                    params=params,
                    json=json_body,
                    data=form,
                    headers=merged,
                    timeout=deadline,
                    follow_redirects=False,
                ) as response,
            ):
                status_code = response.status_code
                if response.is_redirect:
                    # Not cut here: ProviderError masks secrets first, then cuts (a cut secret is not masked).
                    where = response.headers.get("location", "nowhere")
                    raise BadResponse(self.provider, f"redirected to {where}", status_code=status_code)
                content = await _read_capped(response, self.limits.max_response, self.provider)
        except TimeoutError:
            raise NetworkError(self.provider, f"no complete answer within {deadline:g}s") from None
        except httpx.TimeoutException:
            raise NetworkError(self.provider, f"no complete answer within {deadline:g}s") from None
        except httpx.HTTPError as exc:
            raise NetworkError(self.provider, f"{type(exc).__name__}: {exc}") from None
        finally:
            if self.observe is not None:
                self.observe(Exchange(kind, time.perf_counter() - started, status_code))
        body = self.decode(response, content)
        self.check(response, body)
        return body

    def decode(self, response: httpx.Response, content: bytes) -> Any:
        if not content.strip():
            if response.is_success:
                raise BadResponse(self.provider, "empty body", status_code=response.status_code)
            return None
        try:
            return untrusted.loads(content)
        except untrusted.Malformed as exc:
            if response.is_success:
                raise BadResponse(self.provider, str(exc), status_code=response.status_code) from None
            # Far longer than the message ProviderError keeps: it masks secrets before it cuts, and a secret
            # cut short here, where that message ends, would not be masked.
            return {"message": content[:_ERROR_TEXT].decode("utf-8", "replace")}

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
            raise BadResponse(self.provider, f"{what}: expected a JSON object, got {_json_kind(body)}")
        return body

    def expect_list(self, value: Any, what: str) -> list[Mapping[str, Any]]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise BadResponse(self.provider, f"{what}: expected a list, got {_json_kind(value)}")
        return [row for row in value if isinstance(row, Mapping)]


class Scan:
    """One pass over a paginated list. A provider whose pages never end (a full page every time, `has_next`
    always true, a cursor that comes back) must not keep a scan going forever: it stops at the source's page
    cap, or at a cursor or page it has seen before, and says why in `Adapter.cut_short`."""

    def __init__(self, adapter: Adapter) -> None:
        self._adapter = adapter
        self._cursors: set[Hashable] = set()
        self._pages: set[frozenset[str]] = set()
        self.pages = 0

    def more(self, cursor: Hashable = None, page: Iterable[Call] = ()) -> bool:
        """Whether to fetch the page after one that returned `page` and pointed to `cursor` next."""
        self.pages += 1
        adapter = self._adapter
        ids = frozenset(call.call_id for call in page)
        if ids:
            if ids in self._pages:
                adapter.cut_short = f"the provider sent page {self.pages} again: scan stopped there"
                return False
            self._pages.add(ids)
        if cursor is not None:
            if cursor in self._cursors:
                adapter.cut_short = f"the provider's cursor came back to {str(cursor)[:40]!r}: scan stopped"
                return False
            self._cursors.add(cursor)
        if self.pages >= adapter.limits.max_pages:
            adapter.cut_short = f"scan stopped at {self.pages} pages (max_pages)"
            return False
        return True


def _abstract(cls: type) -> bool:
    """Whether a class being created has abstract methods. Its own `__abstractmethods__` is set by ABCMeta only
    after `__init_subclass__` has run, so this asks what ABCMeta will: does it declare one, or leave one it
    inherits abstract."""
    names = set(vars(cls)).union(*(getattr(base, "__abstractmethods__", ()) for base in cls.__mro__[1:]))
    return any(getattr(getattr(cls, name, None), "__isabstractmethod__", False) for name in names)


def rows_of(payload: Any) -> list[Mapping[str, Any]]:
    """The call records in a delivery or response: a list, a list under a known key, or one record."""
    if isinstance(payload, list):
        rows = payload
    elif isinstance(payload, Mapping):
        nested = next((payload[k] for k in _ROW_KEYS if isinstance(payload.get(k), list)), None)
        rows = nested if nested is not None else [payload]
    else:
        raise BadRecord("delivery", f"expected a JSON object or list, got {_json_kind(payload)}")
    return [r for r in rows if isinstance(r, Mapping)]


def _json_kind(value: Any) -> str:
    if value is None:
        return "nothing (null or an empty body)"
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__
    )


async def _read_capped(response: httpx.Response, cap: int, provider: str) -> bytes:
    """The body, decoded, but never more than `cap` bytes of it held: a 1 MB gzip bomb would otherwise
    inflate to gigabytes. Decompression is fed a bounded output size at each step."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise BadResponse(provider, f"response of {int(declared):,} bytes is over the {_mb(cap)} cap")
    if response.is_stream_consumed:  # an in-memory response (a test's transport): already read whole
        if len(response.content) > cap:
            raise BadResponse(provider, f"response over the {_mb(cap)} cap")
        return response.content
    encoding = response.headers.get("content-encoding", "").strip().lower()
    decoder: Any = None
    if encoding == "gzip" or encoding == "x-gzip":
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        decoder = _Deflate()
    elif encoding not in ("", "identity"):
        raise BadResponse(provider, f"unsupported content-encoding {scrub(clean(encoding))[:40]!r}")
    out = bytearray()
    try:
        async for chunk in response.aiter_raw():
            if decoder is None:
                out += chunk
            else:
                data = chunk
                while data:
                    room = cap + 1 - len(out)
                    if room <= 0:
                        break
                    out += decoder.decompress(data, room)
                    data = decoder.unconsumed_tail
                if decoder.eof:
                    # The encoded body ends here. What follows is ignored, as httpx would, but not read: zlib
                    # keeps bytes past the end (unused_data) and an endless trailer would grow it unbounded.
                    break
            if len(out) > cap:
                raise BadResponse(provider, f"response over the {_mb(cap)} cap (decoded)")
    except zlib.error:
        raise BadResponse(provider, f"response body is not valid {encoding}") from None
    return bytes(out)


class _Deflate:
    """HTTP's "deflate" is zlib-wrapped by the spec and raw deflate in practice: take either."""

    def __init__(self) -> None:
        self._inner: Any = None
        self._head = b""
        self.unconsumed_tail = b""

    def decompress(self, data: bytes, max_length: int) -> bytes:
        if self._inner is None:
            # Which it is shows in the first two bytes (a zlib header), and a chunk can be a single byte.
            data = self._head + data
            if len(data) < 2:
                self._head = data
                return b""
            wrapped = data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._inner = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        out: bytes = self._inner.decompress(data, max_length)
        self.unconsumed_tail = self._inner.unconsumed_tail
        return out

    @property
    def eof(self) -> bool:
        return self._inner is not None and bool(self._inner.eof)


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:g} MiB"


__all__ = [
    "ADAPTERS",
    "Adapter",
    "Budget",
    "Exchange",
    "Gate",
    "Limits",
    "Option",
    "ProviderError",
    "Scan",
    "Source",
    "rows_of",
]
