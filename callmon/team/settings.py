"""What team mode is told: the engine's address, who we are to it, and how leases are timed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

Offline = Literal["split", "stop"]
OFFLINE_CHOICES: tuple[Offline, ...] = ("split", "stop")
PASSWORD_SOURCE = "team"  # CALLMON_TEAM_PASSWORD, or the keyring's "team:password"
PASSWORD_FIELD = "password"
_PREFIX = re.compile(r"^[A-Za-z0-9_.:-]{1,32}$")
SCHEMES = ("redis", "rediss", "unix")


class TeamUrlError(ValueError):
    """A team URL callmon will not use; the message is one line."""


def check_url(url: str) -> str:
    """The URL as given, or TeamUrlError saying what is wrong with it. A password never goes in it (shell
    history, `ps`, config files): CALLMON_TEAM_PASSWORD or the keyring."""
    if not isinstance(url, str) or not url.strip() or url != url.strip():
        raise TeamUrlError("the team URL must be redis://HOST:PORT, rediss://HOST:PORT or unix:///PATH")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TeamUrlError(f"the team URL is not a URL ({exc})") from None
    if parts.scheme not in SCHEMES:
        raise TeamUrlError(
            f"the team URL must start with redis://, rediss:// (TLS) or unix:// (got {parts.scheme or 'none'!r})"
        )
    query = dict(parse_qsl(parts.query))
    if parts.password is not None or "password" in query:
        raise TeamUrlError(
            "the team URL holds a password: remove it, and give it in CALLMON_TEAM_PASSWORD or with "
            "`callmon auth set team`"
        )
    if parts.scheme == "unix":
        if not parts.path:
            raise TeamUrlError("a unix:// team URL needs the socket's path (unix:///run/redis.sock)")
        return url
    if not parts.hostname:
        raise TeamUrlError("the team URL names no host (redis://HOST:PORT)")
    if port == 0:
        raise TeamUrlError("the team URL's port must be from 1 to 65535")
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise TeamUrlError(f"the team URL's path must be a database number (got {db[:20]!r})")
    return url


def redacted(url: str) -> str:
    """The URL as it may be shown: scheme, host, port (and database)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path if parts.path not in ('', '/') else ''}"


@dataclass(frozen=True, slots=True)
class TeamSettings:
    """`[team]` in the config, or `--team URL`. Lease timing follows the TTL: renewed every 30 % of it (three
    chances before it runs out), a standby asks every 20 % (so a crashed leader's account is taken over
    within 1.2 TTL), and a leader stops 10 % before the TTL counted from when its last renewal was sent (so
    it has stopped before the engine can hand the lease to anyone else, whatever the network did)."""

    url: str
    user: str | None = None
    ca_file: str | None = None
    lease_ttl: float = 10.0
    offline: Offline = "split"
    prefix: str = "cm:"
    # Change entries kept per account (each carries its call): 100 s of catch-up at 200 changes a second; a
    # viewer further behind loads the snapshot again instead.
    stream_max: int = 20_000

    @property
    def renew_every(self) -> float:
        return self.lease_ttl * 0.3

    @property
    def retry_every(self) -> float:
        return self.lease_ttl * 0.2

    @property
    def margin(self) -> float:
        return self.lease_ttl * 0.1

    @property
    def timeout(self) -> float:
        """For one command: shorter than the time between renewals, so a hung engine costs one round."""
        return max(0.2, min(5.0, self.lease_ttl * 0.2))

    @property
    def shown(self) -> str:
        return redacted(self.url)


def check_prefix(prefix: str) -> str:
    if not _PREFIX.match(prefix):
        raise TeamUrlError("team prefix must be 1 to 32 letters, digits or _ . : - (like \"cm:\")")
    return prefix
