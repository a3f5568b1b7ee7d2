"""Typed provider errors: every adapter maps its wire-level failures onto these."""

from __future__ import annotations

from callmon.redact import scrub
from callmon.text import clean, cut


class ProviderError(Exception):
    """A provider request failed; `message` is the provider's own words where it gave any."""

    kind = "error"

    def __init__(self, provider: str, message: str, *, status_code: int | None = None) -> None:
        self.provider = provider
        # Masked before it is cut, and again once invisible characters are gone (they could split a secret).
        self.message = cut(scrub(clean(scrub(message))), 300) or "no message"
        self.status_code = status_code
        super().__init__(str(self))

    def __str__(self) -> str:
        code = f" (HTTP {self.status_code})" if self.status_code else ""
        return f"{self.provider}: {self.kind}{code}: {self.message}"


class AuthError(ProviderError):
    """Credentials rejected. Never retried automatically: Velip blocks an IP after repeated failures."""

    kind = "auth failed"


class RateLimited(ProviderError):
    kind = "rate limited"

    def __init__(
        self, provider: str, message: str, *, retry_after: float | None, status_code: int | None = None
    ) -> None:
        self.retry_after = retry_after
        super().__init__(provider, message, status_code=status_code)

    def __str__(self) -> str:
        after = f", retry after {self.retry_after:g}s" if self.retry_after is not None else ""
        return super().__str__() + after


class NotFoundYet(ProviderError):
    """The call is not (or not yet) known: several providers 404 until the CDR is written."""

    kind = "not found"


class BadRequest(ProviderError):
    kind = "bad request"


class ServerError(ProviderError):
    kind = "server error"


class BadResponse(ProviderError):
    """The provider answered, but not with anything we can read (empty body, malformed JSON, wrong shape)."""

    kind = "bad response"


class NetworkError(ProviderError):
    """No answer: connection refused, DNS, TLS or a timeout."""

    kind = "network error"


class BadRecord(ProviderError):
    """One record the provider sent cannot be read: it is skipped and counted, the rest are kept."""

    kind = "unreadable record"
