"""What the monitor, `watch` and metrics need from whatever feeds them calls: the seam between them and the
engine. The local engine (`callmon.engine.Engine`, polling providers itself) implements it; a team viewer
fed from a shared change stream implements it a second time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from callmon.health import SourceHealth
from callmon.model import Call
from callmon.store import CallStore, Key


@dataclass(frozen=True, slots=True)
class CredentialNeed:
    """A source that cannot poll until it is given a secret (missing, or rejected by the provider)."""

    source: str
    field: str
    reason: str


class Feed(Protocol):
    store: CallStore

    def health(self) -> list[SourceHealth]:
        """Every source's health, as of now (copies: the caller may keep them)."""
        ...

    def credentials_needed(self) -> list[CredentialNeed]:
        """Sources that need a secret before they can poll, the first missing field of each."""
        ...

    def set_secret(self, source: str, field: str, secret: str) -> None:
        """Use this secret for the source from now on, and poll again."""
        ...

    def retry(self, source: str, secrets: Mapping[str, str] | None = None) -> bool:
        """One more attempt for a source stopped by an auth failure (with fresh secrets, if given). False
        when the source is unknown or still lacks a secret."""
        ...

    async def detail(self, key: Key) -> Call | None:
        """Everything the detail pane shows for a call (transcript...), fetched now; errors become notices."""
        ...

    def status(self) -> str | None:
        """A line about the feed itself for the header (team mode: whether the shared engine is reachable,
        who leads each account), or None when there is nothing to say."""
        ...
