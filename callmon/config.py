"""The TOML config: where it lives, what it may say, and one clear line when it says something wrong."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs

from callmon.providers import ADAPTERS, Option, Source

ENV_CONFIG = "CALLMON_CONFIG"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$")
_COMMON = {"name", "provider", "base_url", "interval", "filter", "enabled"}
# Keys that look like a secret were put in the wrong place: secrets live in the keyring or env.
_SECRET_LOOKING = re.compile(r"(token|secret|password|passwd|api_?key|apikey|tsid|credential)", re.I)


class ConfigError(Exception):
    """A config problem, already phrased as the one line the user sees."""


@dataclass(frozen=True, slots=True)
class Webhooks:
    listen: str | None = None
    public_url: str | None = None


@dataclass(frozen=True, slots=True)
class Config:
    path: Path | None
    sources: tuple[Source, ...] = ()
    tick_hz: float = 4.0
    retention_days: float = 7.0
    webhooks: Webhooks = field(default_factory=Webhooks)

    def source(self, name: str) -> Source:
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources) or "none configured"
        raise ConfigError(f"no source named {name!r} (sources: {known})")


def default_path() -> Path:
    return Path(platformdirs.user_config_dir("callmon")) / "config.toml"


def resolve_path(flag: str | None) -> Path:
    """--config beats CALLMON_CONFIG beats the platform default."""
    if flag:
        return Path(flag).expanduser()
    env = os.environ.get(ENV_CONFIG)
    if env:
        return Path(env).expanduser()
    return default_path()


def load(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no config file here (create one with `callmon config init`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse(text, path)


def parse(text: str, path: Path | None = None) -> Config:
    where = str(path) if path else "<config>"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib puts the position at the end: "Invalid value (at line 3, column 8)"
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        msg = re.sub(r"\s*\(at line .*\)$", "", str(exc))
        pos = f":{m.group(1)}:{m.group(2)}" if m else ""
        raise ConfigError(f"{where}{pos}: invalid TOML: {msg}") from None
    locate = _Locator(text, where)
    unknown_top = set(data) - {"sources", "tick_hz", "retention_days", "webhooks"}
    if unknown_top:
        key = sorted(unknown_top)[0]
        raise ConfigError(f"{locate.key(None, key)}: unknown setting {key!r}")
    raw_sources = data.get("sources", [])
    if not isinstance(raw_sources, list):
        raise ConfigError(f"{locate.key(None, 'sources')}: sources must be [[sources]] tables")
    sources: list[Source] = []
    for index, raw in enumerate(raw_sources):
        source = _source(raw, index, locate)
        if any(s.name == source.name for s in sources):
            raise ConfigError(f"{locate.key(index, 'name')}: duplicate source name {source.name!r}")
        if source is not _DISABLED:
            sources.append(source)
    tick = _number(data.get("tick_hz", 4.0), "tick_hz", locate, low=0.5, high=30)
    retention = _number(data.get("retention_days", 7.0), "retention_days", locate, low=0, high=3650)
    hooks = data.get("webhooks", {})
    if not isinstance(hooks, Mapping):
        raise ConfigError(f"{locate.key(None, 'webhooks')}: [webhooks] must be a table")
    extra = set(hooks) - {"listen", "public_url"}
    if extra:
        raise ConfigError(f"{locate.key(None, sorted(extra)[0])}: unknown [webhooks] setting")
    listen = hooks.get("listen")
    if listen is not None and (
        not isinstance(listen, str) or not re.match(r"^[\w.\[\]:-]+:\d{1,5}$", listen)
    ):
        raise ConfigError(f'{locate.key(None, "listen")}: webhooks.listen must be "host:port"')
    public = hooks.get("public_url")
    if public is not None and (not isinstance(public, str) or not public.startswith(("http://", "https://"))):
        raise ConfigError(f"{locate.key(None, 'public_url')}: webhooks.public_url must be an http(s) URL")
    return Config(
        path=path,
        sources=tuple(sources),
        tick_hz=tick,
        retention_days=retention,
        webhooks=Webhooks(listen=listen, public_url=public),
    )


_DISABLED = Source(name="", provider="", options={})


def _source(raw: Any, index: int, locate: _Locator) -> Source:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{locate.table(index)}: each [[sources]] entry must be a table")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"{locate.key(index, 'name')}: sources need a name of letters, digits, '-' or '_' (got {name!r})"
        )
    label = f"source {name!r}"
    provider = raw.get("provider")
    if provider not in ADAPTERS:
        raise ConfigError(
            f"{locate.key(index, 'provider')}: {label}: unknown provider {provider!r} "
            f"(one of: {', '.join(ADAPTERS)})"
        )
    adapter = ADAPTERS[provider]
    for key in raw:
        if key in _COMMON or key in adapter.options:
            continue
        if key in adapter.secret_fields or _SECRET_LOOKING.search(key):
            raise ConfigError(
                f"{locate.key(index, key)}: {label}: {key!r} looks like a secret; secrets never go in the "
                f"config file: run `callmon auth set {name}` or set {env_name(name, key)}"
            )
        raise ConfigError(
            f"{locate.key(index, key)}: {label}: unknown setting {key!r} for {provider} "
            f"(known: {', '.join(sorted(_COMMON | set(adapter.options)))})"
        )
    options: dict[str, Any] = {}
    for key, spec in adapter.options.items():
        if key not in raw:
            if spec.required:
                raise ConfigError(f"{locate.table(index)}: {label}: {provider} needs {key!r} ({spec.help})")
            continue
        options[key] = _option(raw[key], key, spec, f"{locate.key(index, key)}: {label}")
    if "timezone" in options:
        try:
            ZoneInfo(options["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"{locate.key(index, 'timezone')}: {label}: unknown time zone {options['timezone']!r}"
            ) from None
    if (
        "date" in options
        and options["date"] != "today"
        and not re.match(r"^\d{4}-\d{2}-\d{2}$", options["date"])
    ):
        raise ConfigError(f'{locate.key(index, "date")}: {label}: date must be "today" or YYYY-MM-DD')
    base_url = raw.get("base_url")
    if base_url is not None and (
        not isinstance(base_url, str) or not base_url.startswith(("http://", "https://"))
    ):
        raise ConfigError(f"{locate.key(index, 'base_url')}: {label}: base_url must be an http(s) URL")
    interval = _number(raw.get("interval", 5.0), "interval", locate, low=0.5, high=3600, index=index)
    flt = raw.get("filter")
    if flt is not None and not isinstance(flt, str):
        raise ConfigError(f"{locate.key(index, 'filter')}: {label}: filter must be a string")
    if flt:
        from callmon.query import QueryError, compile_query

        try:
            compile_query(flt)
        except QueryError as exc:
            raise ConfigError(f"{locate.key(index, 'filter')}: {label}: bad filter: {exc}") from None
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{locate.key(index, 'enabled')}: {label}: enabled must be true or false")
    if not enabled:
        return _DISABLED
    return Source(
        name=name,
        provider=provider,
        options=options,
        base_url=base_url,
        interval=interval,
        filter=flt or None,
    )


def _option(value: Any, key: str, spec: Option, where: str) -> Any:
    types = spec.type if isinstance(spec.type, tuple) else (spec.type,)
    if list in types:
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, (str, int)) for v in value):
            raise ConfigError(f"{where}: {key} must be a non-empty list of ids")
        return [str(v) for v in value]
    if bool in types:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: {key} must be true or false")
        return value
    if int in types:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: {key} must be a whole number")
        return value
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: {key} must be a non-empty string")
    return value.strip()


def _number(
    value: Any, key: str, locate: _Locator, *, low: float, high: float, index: int | None = None
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(f"{locate.key(index, key)}: {key} must be a number from {low:g} to {high:g}")
    return float(value)


def env_name(source: str, field: str) -> str:
    """CALLMON_<SOURCE>_<FIELD>, with anything not a letter or digit turned into '_'."""
    return "CALLMON_" + re.sub(r"[^A-Z0-9]", "_", f"{source}_{field}".upper())


class _Locator:
    """Line numbers for semantic errors: tomllib parses, but does not say where a key was."""

    def __init__(self, text: str, where: str) -> None:
        self.where = where
        self.lines = text.splitlines()
        self.tables = [i for i, line in enumerate(self.lines) if re.match(r"^\s*\[\[\s*sources\s*\]\]", line)]

    def table(self, index: int) -> str:
        if index < len(self.tables):
            return f"{self.where}:{self.tables[index] + 1}"
        return self.where

    def key(self, index: int | None, key: str) -> str:
        if index is None:
            start, end = 0, len(self.lines)
        elif index < len(self.tables):
            start = self.tables[index]
            end = self.tables[index + 1] if index + 1 < len(self.tables) else len(self.lines)
        else:
            return self.where
        pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
        for i in range(start, end):
            if pattern.match(self.lines[i]):
                return f"{self.where}:{i + 1}"
        return self.table(index) if index is not None else self.where


EXAMPLE = """\
# callmon configuration. Secrets (API keys, tokens) never go here: run `callmon auth set SOURCE`,
# or set CALLMON_<SOURCE>_<FIELD> in the environment.

# tick_hz = 4            # how often the monitor applies collected changes
# retention_days = 7     # status history kept on disk

# [webhooks]             # for providers that push (CloudAgent dial status, Dialgen, Velip, Vobiz)
# listen = "127.0.0.1:8780"
# public_url = "https://callmon.example.com"

# [[sources]]
# name = "sales-vobiz"
# provider = "vobiz"
# auth_id = "MA_XXXXXXXX"
# date = "today"

# [[sources]]
# name = "ops-velip"
# provider = "velip"
# campaign = 555

# [[sources]]
# name = "bot-dialgen"
# provider = "dialgen"
# batches = ["batch_123"]

# [[sources]]
# name = "bot-dialgood"
# provider = "dialgood"
# campaigns = ["camp_7f84b3f8"]

# [[sources]]
# name = "india-cloudagent"
# provider = "cloudagent"
# user_name = "acme"
# campaign = "Renewals"
"""
