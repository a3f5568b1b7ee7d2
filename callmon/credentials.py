"""Where secrets come from: `CALLMON_<SOURCE>_<FIELD>`, then the OS keyring. Never the config file.

Keyring calls can block forever (a Secret Service waiting on an unlock prompt nobody sees over SSH), so every
call runs in a daemon thread with a timeout. Only keyring's own backends are used unless the user names one
in PYTHON_KEYRING_BACKEND: a third-party plaintext backend is never picked up silently.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, Literal, TypeVar

from callmon import redact
from callmon.config import env_name
from callmon.providers import ADAPTERS, Source

SERVICE = "callmon"
UNAVAILABLE_FOR = 30.0  # seconds a missing keyring is taken as missing before it is looked for again


def _timeout() -> float:
    try:
        return max(0.1, float(os.environ.get("CALLMON_KEYRING_TIMEOUT", "5")))
    except ValueError:
        return 5.0


# keyring's own backends, best first; each tells whether it can work here by its `priority`.
_OWN_BACKENDS = (
    "keyring.backends.macOS:Keyring",
    "keyring.backends.Windows:WinVaultKeyring",
    "keyring.backends.SecretService:Keyring",
    "keyring.backends.libsecret:Keyring",
    "keyring.backends.kwallet:DBusKeyring",
)
HEADLESS_HELP = (
    "set the secret in the environment instead (CALLMON_<SOURCE>_<FIELD>), or start a keyring for this "
    "session: dbus-run-session -- sh -c 'echo -n PASSWORD | gnome-keyring-daemon --unlock "
    "--components=secrets; callmon ...'"
)

T = TypeVar("T")
Origin = Literal["env", "keyring"]


class CredentialError(Exception):
    """A secret could not be read or stored; the message says what is wrong and the ways out."""


class MissingSecret(CredentialError):
    """A source cannot run without a secret it does not have."""


def username(source: str, field: str) -> str:
    return f"{source}:{field}"


# -- the keyring backend ----------------------------------------------------------------------------------


def _load_backend() -> Any:
    """keyring's chosen backend when the user set PYTHON_KEYRING_BACKEND; else the best of its own."""
    named = os.environ.get("PYTHON_KEYRING_BACKEND")
    if named:
        import keyring.core

        try:
            return keyring.core.load_keyring(named)  # the user's explicit choice, whatever it is
        except Exception as exc:
            raise CredentialError(f"PYTHON_KEYRING_BACKEND={named!r} cannot be loaded: {exc}") from None
    reasons = []
    best: tuple[float, Any] | None = None
    for spec in _OWN_BACKENDS:
        module_name, _, class_name = spec.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
            priority = cls.priority  # raises when this backend cannot work on this machine
        except Exception as exc:
            reasons.append(str(exc))
            continue
        if priority > 0 and (best is None or priority > best[0]):
            best = (priority, cls())
    if best is None:
        why = next((r for r in reasons if "DBUS" in r or "dbus" in r.lower()), None) or "none found"
        raise CredentialError(f"no OS keyring is available ({why}); {HEADLESS_HELP}")
    return best[1]


def _call(fn: Callable[[], T], what: str, timeout: float) -> T:
    """Run a keyring call in a daemon thread: a hung Secret Service must not hang callmon, at exit either."""
    box: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)

    def run() -> None:
        try:
            box.put((True, fn()))
        except BaseException as exc:
            box.put((False, exc))

    threading.Thread(target=run, name="callmon-keyring", daemon=True).start()
    try:
        ok, value = box.get(timeout=timeout)
    except queue.Empty:
        raise CredentialError(
            f"the OS keyring did not answer within {timeout:g}s while trying to {what} (is it locked and "
            f"waiting for an unlock prompt?); {HEADLESS_HELP}"
        ) from None
    if ok:
        return value  # type: ignore[no-any-return]
    raise _explain(value, what)


def _explain(exc: BaseException, what: str) -> CredentialError:
    if isinstance(exc, CredentialError):
        return exc
    name = type(exc).__name__
    text = str(exc) or name
    if name == "KeyringLocked" or "locked" in text.lower() or "prompt dismissed" in text.lower():
        return CredentialError(
            f"the OS keyring is locked and cannot be unlocked here ({text}), so callmon could not {what}; "
            "unlock it (echo -n PASSWORD | gnome-keyring-daemon --replace --unlock --components=secrets) "
            "or set CALLMON_<SOURCE>_<FIELD>"
        )
    return CredentialError(f"the OS keyring failed to {what}: {text}; {HEADLESS_HELP}")


@dataclass
class Keyring:
    """The OS keyring, found lazily (so env-only users never touch D-Bus) and called with a timeout."""

    timeout: float = dataclass_field(default_factory=_timeout)
    _backend: Any = None
    # A keyring that could not be found is not looked for again for each secret of a run (each look can take
    # the whole timeout), but it is looked for again later, or in another session bus: it may have started.
    _unavailable: tuple[tuple[str, ...], float, CredentialError] | None = None

    def backend(self) -> Any:
        where = tuple(os.environ.get(name, "") for name in ("DBUS_SESSION_BUS_ADDRESS", "PYTHON_KEYRING_BACKEND"))
        failed = self._unavailable
        if failed is not None and failed[0] == where and time.monotonic() - failed[1] < UNAVAILABLE_FOR:
            raise failed[2]
        if self._backend is None:
            try:
                self._backend = _call(_load_backend, "find a keyring", self.timeout)
            except CredentialError as exc:
                self._unavailable = (where, time.monotonic(), exc)
                raise
        return self._backend

    def get(self, source: str, field: str) -> str | None:
        backend = self.backend()
        value = _call(
            lambda: backend.get_password(SERVICE, username(source, field)), "read a secret", self.timeout
        )
        return value or None

    def set(self, source: str, field: str, secret: str) -> None:
        backend = self.backend()
        _call(
            lambda: backend.set_password(SERVICE, username(source, field), secret),
            "store a secret",
            self.timeout,
        )
        # A backend can accept a secret and keep nothing (keyring's null backend, a fail-safe one): say so
        # now, not at the next start with "missing".
        if self.get(source, field) != secret:
            raise CredentialError(
                f"the OS keyring ({self.name}) did not keep the secret; use a keyring that stores secrets "
                f"(a Secret Service such as gnome-keyring) or set {env_name(source, field)}"
            )

    def delete(self, source: str, field: str) -> bool:
        backend = self.backend()

        def remove() -> bool:
            try:
                backend.delete_password(SERVICE, username(source, field))
            except Exception as exc:
                if type(exc).__name__ == "PasswordDeleteError":
                    return False  # there was nothing to delete
                raise
            return True

        return _call(remove, "delete a secret", self.timeout)

    @property
    def name(self) -> str:
        backend = self.backend()
        return f"{type(backend).__module__.removeprefix('keyring.backends.')}.{type(backend).__name__}"


_default = Keyring()


def default_keyring() -> Keyring:
    return _default


# -- lookups ----------------------------------------------------------------------------------------------


def from_env(source: str, field: str, environ: Mapping[str, str] | None = None) -> str | None:
    value = (environ if environ is not None else os.environ).get(env_name(source, field))
    return value or None


def lookup(
    source: str, field: str, *, environ: Mapping[str, str] | None = None, keyring: Keyring | None = None
) -> tuple[str, Origin] | None:
    """The secret and where it came from: the environment wins over the keyring."""
    value = from_env(source, field, environ)
    if value is not None:
        redact.register(value)
        return value, "env"
    if keyring is None:
        return None
    stored = keyring.get(source, field)
    if stored is None:
        return None
    redact.register(stored)
    return stored, "keyring"


def resolve(
    source: Source, *, environ: Mapping[str, str] | None = None, keyring: Keyring | None = None
) -> dict[str, str]:
    """Every secret the source's provider needs, or MissingSecret naming the first missing and the fix.

    `keyring=None` uses the OS keyring; a CredentialError from it is reported as the reason.
    """
    secrets, missing = resolve_partly(source, environ=environ, keyring=keyring)
    if missing is not None:
        raise MissingSecret(missing)
    return secrets


def resolve_partly(
    source: Source, *, environ: Mapping[str, str] | None = None, keyring: Keyring | None = None
) -> tuple[dict[str, str], str | None]:
    """The secrets that can be found, and what is wrong about the first one that cannot (None: all found).

    The monitor still shows a source with a secret missing, so its user can set it there."""
    store = keyring if keyring is not None else _default
    secrets: dict[str, str] = {}
    missing: str | None = None
    for field in ADAPTERS[source.provider].secret_fields:
        try:
            found = lookup(source.name, field, environ=environ, keyring=store)
        except CredentialError as exc:
            missing = missing or (
                f"source {source.name!r}: no {field}: set {env_name(source.name, field)}, or store it with "
                f"`callmon auth set {source.name} {field}` once a keyring works (now: {exc})"
            )
            continue
        if found is None:
            missing = missing or (
                f"source {source.name!r}: no {field}: run `callmon auth set {source.name} {field}` "
                f"or set {env_name(source.name, field)}"
            )
            continue
        secrets[field] = found[0]
    return secrets, missing


def resolve_all(
    sources: Sequence[Source], *, environ: Mapping[str, str] | None = None, keyring: Keyring | None = None
) -> tuple[list[tuple[Source, dict[str, str]]], list[str]]:
    """Every source with the secrets found for it, and what to tell the user about those missing: why the
    keyring cannot help, once, then one short line per source naming what to set."""
    store = keyring if keyring is not None else _default
    pairs: list[tuple[Source, dict[str, str]]] = []
    lines: list[str] = []
    keyring_problem: str | None = None
    for source in sources:
        secrets: dict[str, str] = {}
        for field in ADAPTERS[source.provider].secret_fields:
            try:
                found = lookup(source.name, field, environ=environ, keyring=store)
            except CredentialError as exc:
                keyring_problem = keyring_problem or str(exc)
                found = None
            if found is None:
                lines.append(
                    f"source {source.name!r}: no {field}: set {env_name(source.name, field)}"
                    + ("" if keyring_problem else f" or run `callmon auth set {source.name} {field}`")
                )
            else:
                secrets[field] = found[0]
        pairs.append((source, secrets))
    if keyring_problem and lines:
        lines.insert(0, keyring_problem)
    return pairs, lines


async def store_async(source: str, field: str, secret: str, keyring: Keyring | None = None) -> None:
    """Store a secret without blocking the event loop (the monitor's credential prompt)."""
    store = keyring if keyring is not None else _default
    redact.register(secret)
    await asyncio.to_thread(store.set, source, field, secret)
