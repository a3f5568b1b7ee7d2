"""Where secrets come from: the environment first (`CALLMON_<SOURCE>_<FIELD>`). Never the config file."""

from __future__ import annotations

import os
from collections.abc import Mapping

from callmon.config import env_name
from callmon.providers import ADAPTERS, Source


class MissingSecret(Exception):
    """A source cannot run without a secret it does not have; the message says how to provide it."""


def lookup(source: str, field: str, environ: Mapping[str, str] | None = None) -> str | None:
    value = (environ if environ is not None else os.environ).get(env_name(source, field))
    return value or None


def resolve(source: Source, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every secret the source's provider needs, or MissingSecret naming the first one missing."""
    secrets: dict[str, str] = {}
    for field in ADAPTERS[source.provider].secret_fields:
        value = lookup(source.name, field, environ)
        if value is None:
            raise MissingSecret(
                f"source {source.name!r}: no {field}: set {env_name(source.name, field)} "
                f"or run `callmon auth set {source.name} {field}`"
            )
        secrets[field] = value
    return secrets
