"""The TOML config: where it lives, what it may say, and one clear line when it says something wrong.

A config is untrusted input too: every string is checked for control and invisible characters (they would
reach the terminal), every number for its range, every date for being a real one, every URL for its form and
for credentials in it, and every value for looking like a secret (secrets never go in the file).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs

from callmon.alerts import Rule, RuleError, parse_rule
from callmon.providers import ADAPTERS, Limits, Option, Source
from callmon.team.settings import (
    OFFLINE_CHOICES,
    PASSWORD_SOURCE,
    TeamSettings,
    TeamUrlError,
    check_prefix,
    check_url,
)
from callmon.window import Window, WindowError

ENV_CONFIG = "CALLMON_CONFIG"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$")
_LIMITS = {
    # key: (low, high, whole number?)
    "timeout": (1, 300, False),
    "max_response_mb": (1, 1024, False),
    "max_pages": (1, 100_000, True),
    "retry_after_max": (1, 86_400, False),
}
_COMMON = {"name", "provider", "base_url", "interval", "filter", "enabled", "timezone", *_LIMITS}
_TOP = {
    "sources", "tick_hz", "retention_days", "webhooks", "columns", "utc", "mask_numbers", "window", "alerts",
    "alerting", "metrics", "team",
}  # fmt: skip
DESKTOP = ("auto", "osc9", "osc777", "off")
_TEAM = {"url", "user", "ca_file", "lease_ttl", "offline", "prefix"}
# Keys that look like a secret were put in the wrong place: secrets live in the keyring or env.
_SECRET_KEY = re.compile(r"(token|secret|password|passwd|api_?key|apikey|tsid|credential)", re.I)
# Values that look like one, whatever their key: well-known token formats...
_SECRET_VALUE = re.compile(
    r"(?:^|[^A-Za-z0-9])(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{8,}"
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"
    r"|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\."
    r"|^\s*(?:Bearer|Basic|Token)\s+\S{8,}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----",
)
# ...and long random-looking strings (an API key pasted as a campaign): letters of both cases and digits,
# no spaces, at least 32 characters, and the variety of random text (identifiers repeat their characters).
_TOKENISH = re.compile(r"^[A-Za-z0-9+/=_.-]{32,}$")
_UUIDISH = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_LISTEN = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9.-]+)):(?P<port>\d{1,5})$")


class ConfigError(Exception):
    """A config problem, already phrased as the one line the user sees."""


@dataclass(frozen=True, slots=True)
class Webhooks:
    listen: str | None = None
    public_url: str | None = None

    @property
    def address(self) -> tuple[str, int] | None:
        """(host, port) to listen on."""
        return _address(self.listen)


def _address(listen: str | None) -> tuple[str, int] | None:
    if listen is None:
        return None
    m = _LISTEN.match(listen)
    assert m is not None  # validated when the config was read
    return (m.group("v6") or m.group("host"), int(m.group("port")))


def check_listen(value: object) -> str:
    """A "host:port" to listen on, or ValueError saying what it must be."""
    m = _LISTEN.match(value) if isinstance(value, str) else None
    if m is None or not 1 <= int(m.group("port")) <= 65535:
        raise ValueError('must be "host:port" with a port from 1 to 65535 (e.g. "127.0.0.1:9464")')
    assert isinstance(value, str)
    return value


@dataclass(frozen=True, slots=True)
class Alerting:
    """How a firing alert reaches a person in the monitor (besides its banner)."""

    bell: bool = True  # ring the terminal bell once per alert that fires
    desktop: str = "auto"  # a desktop notification: OSC 9, OSC 777, auto (by the terminal), or off


@dataclass(frozen=True, slots=True)
class Metrics:
    listen: str | None = None  # "host:port" to serve Prometheus /metrics and /healthz on
    campaigns: int = 20  # campaigns labelled by name (the busiest); the rest are counted as "other"

    @property
    def address(self) -> tuple[str, int] | None:
        return _address(self.listen)


@dataclass(frozen=True, slots=True)
class Config:
    path: Path | None
    sources: tuple[Source, ...] = ()
    tick_hz: float = 4.0
    retention_days: float = 7.0
    webhooks: Webhooks = field(default_factory=Webhooks)
    columns: tuple[str, ...] | None = None  # the monitor's columns, in order (`C` in the monitor saves them)
    utc: bool = False  # show times in UTC rather than the local zone
    mask_numbers: bool = False  # show phone numbers masked (+9198•••••463)
    window: Window = field(default_factory=Window)  # which calls stay in memory (the rest stay in history)
    alerts: tuple[Rule, ...] = ()
    alerting: Alerting = field(default_factory=Alerting)
    metrics: Metrics = field(default_factory=Metrics)
    team: TeamSettings | None = None  # [team]: collectors (`callmon serve`) and viewers share an engine

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
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
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
        raise ConfigError(f"{where}{pos}: invalid TOML: {_safe(msg)}") from None
    except RecursionError:
        raise ConfigError(f"{where}: invalid TOML: nested too deeply") from None
    locate = _Locator(text, where)
    _check_strings(data, locate, None, ())
    unknown_top = set(data) - _TOP
    if unknown_top:
        key = sorted(unknown_top)[0]
        raise ConfigError(f"{locate.key(None, key)}: unknown setting {_safe(key)!r}")
    raw_sources = data.get("sources", [])
    if not isinstance(raw_sources, list):
        raise ConfigError(f"{locate.key(None, 'sources')}: sources must be [[sources]] tables")
    sources: list[Source] = []
    names: set[str] = set()
    for index, raw in enumerate(raw_sources):
        source = _source(raw, index, locate)
        if source.name in names:
            raise ConfigError(f"{locate.key(index, 'name')}: duplicate source name {source.name!r}")
        if source.name == PASSWORD_SOURCE:
            raise ConfigError(
                f"{locate.key(index, 'name')}: the source name {PASSWORD_SOURCE!r} is taken by team mode "
                "(`callmon auth set team` stores the team engine's password): rename the source"
            )
        names.add(source.name)
        if source.options.get("enabled", True):
            sources.append(source)
    tick = _number(data.get("tick_hz", 4.0), "tick_hz", locate, low=0.5, high=30)
    retention = _number(data.get("retention_days", 7.0), "retention_days", locate, low=0, high=3650)
    for key in ("utc", "mask_numbers"):
        if not isinstance(data.get(key, False), bool):
            raise ConfigError(f"{locate.key(None, key)}: {key} must be true or false")
    return Config(
        path=path,
        sources=tuple(sources),
        tick_hz=tick,
        retention_days=retention,
        webhooks=_webhooks(data, locate),
        columns=_columns(data.get("columns"), locate),
        window=_window(data.get("window"), locate),
        utc=data.get("utc", False),
        mask_numbers=data.get("mask_numbers", False),
        alerts=_alerts(data.get("alerts", []), [s.name for s in sources], _Locator(text, where, "alerts")),
        alerting=_alerting(data.get("alerting", {}), locate),
        metrics=_metrics(data.get("metrics", {}), locate),
        team=_team(data, locate),
    )


def _team(data: Mapping[str, Any], locate: _Locator) -> TeamSettings | None:
    table = data.get("team")
    if table is None:
        return None
    if not isinstance(table, Mapping):
        raise ConfigError(f"{locate.key(None, 'team')}: [team] must be a table")
    extra = set(table) - _TEAM
    if extra:
        key = sorted(extra)[0]
        if _SECRET_KEY.search(key):
            raise ConfigError(
                f"{locate.key(None, key)}: {key!r} looks like a secret; the team engine's password goes in "
                "CALLMON_TEAM_PASSWORD or the keyring (`callmon auth set team`), never in the config file"
            )
        raise ConfigError(
            f"{locate.key(None, key)}: unknown [team] setting {_safe(key)!r} (known: {', '.join(sorted(_TEAM))})"
        )
    url = table.get("url")
    if not isinstance(url, str):
        raise ConfigError(f"{locate.key(None, 'url')}: [team] needs url = \"redis://HOST:PORT\" (or rediss://)")
    try:
        check_url(url)
        prefix = check_prefix(table.get("prefix", "cm:")) if isinstance(table.get("prefix", "cm:"), str) else None
    except TeamUrlError as exc:
        raise ConfigError(f"{locate.key(None, 'url')}: {exc}") from None
    if prefix is None:
        raise ConfigError(f"{locate.key(None, 'prefix')}: team prefix must be a string like \"cm:\"")
    for key in ("user", "ca_file"):
        value = table.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"{locate.key(None, key)}: team {key} must be a non-empty string")
    ca_file = table.get("ca_file")
    if ca_file is not None and not url.startswith("rediss://"):
        raise ConfigError(f"{locate.key(None, 'ca_file')}: ca_file is for TLS: the url must start with rediss://")
    if ca_file is not None and not Path(ca_file).expanduser().is_file():
        raise ConfigError(f"{locate.key(None, 'ca_file')}: team ca_file {_safe(ca_file)!r} is not a readable file")
    offline = table.get("offline", "split")
    if offline not in OFFLINE_CHOICES:
        raise ConfigError(f"{locate.key(None, 'offline')}: team offline must be \"split\" or \"stop\"")
    ttl = _number(table.get("lease_ttl", 10), "lease_ttl", locate, low=1, high=600)
    return TeamSettings(
        url=url, user=table.get("user"), ca_file=ca_file, lease_ttl=ttl, offline=offline, prefix=prefix
    )


def _alerts(raw: Any, sources: list[str], locate: _Locator) -> tuple[Rule, ...]:
    if not isinstance(raw, list):
        raise ConfigError(f"{locate.key(None, 'alerts')}: alerts must be [[alerts]] tables")
    rules: list[Rule] = []
    for index, table in enumerate(raw):
        try:
            rule = parse_rule(table, sources)
        except RuleError as exc:
            where = locate.key(index, exc.key) if exc.key else locate.table(index)
            raise ConfigError(f"{where}: {_safe(str(exc), 300)}") from None
        if any(r.name == rule.name for r in rules):
            raise ConfigError(f"{locate.key(index, 'name')}: duplicate alert name {_safe(rule.name)!r}")
        rules.append(rule)
    return tuple(rules)


def _alerting(raw: Any, locate: _Locator) -> Alerting:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{locate.key(None, 'alerting')}: [alerting] must be a table")
    extra = sorted(set(raw) - {"bell", "desktop"})
    if extra:
        raise ConfigError(
            f"{locate.key(None, extra[0])}: unknown [alerting] setting {_safe(extra[0])!r} (bell, desktop)"
        )
    bell = raw.get("bell", True)
    if not isinstance(bell, bool):
        raise ConfigError(f"{locate.key(None, 'bell')}: alerting.bell must be true or false")
    desktop = raw.get("desktop", "auto")
    if desktop not in DESKTOP:
        raise ConfigError(
            f"{locate.key(None, 'desktop')}: alerting.desktop must be one of {', '.join(DESKTOP)}"
        )
    return Alerting(bell=bell, desktop=desktop)


def _metrics(raw: Any, locate: _Locator) -> Metrics:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{locate.key(None, 'metrics')}: [metrics] must be a table")
    extra = sorted(set(raw) - {"listen", "campaigns"})
    if extra:
        raise ConfigError(
            f"{locate.key(None, extra[0])}: unknown [metrics] setting {_safe(extra[0])!r} (listen, campaigns)"
        )
    listen = raw.get("listen")
    if listen is not None:
        try:
            check_listen(listen)
        except ValueError as exc:
            raise ConfigError(f"{locate.key(None, 'listen')}: metrics.listen {exc}") from None
    campaigns = raw.get("campaigns", 20)
    if isinstance(campaigns, bool) or not isinstance(campaigns, int) or not 1 <= campaigns <= 1000:
        raise ConfigError(
            f"{locate.key(None, 'campaigns')}: metrics.campaigns must be a whole number from 1 to 1000"
        )
    return Metrics(listen=listen, campaigns=campaigns)


def _window(value: Any, locate: _Locator) -> Window:
    try:
        return Window.parse(value)
    except WindowError as exc:
        raise ConfigError(f"{locate.key(None, 'window')}: {exc}") from None


def _columns(value: Any, locate: _Locator) -> tuple[str, ...] | None:
    if value is None:
        return None
    from callmon.columns import BY_NAME

    where = locate.key(None, "columns")
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: columns must be a list of column names ({', '.join(BY_NAME)})")
    unknown = [v for v in value if v not in BY_NAME]
    if unknown:
        raise ConfigError(f"{where}: unknown column {_safe(unknown[0])!r} (one of: {', '.join(BY_NAME)})")
    return ("status", *dict.fromkeys(v for v in value if v != "status"))


def with_columns(text: str, order: list[str]) -> str:
    """The config text with its top-level `columns = [...]` set to `order` (replaced, or added above the first
    table); every other line, comment and blank stays as it was."""
    line = "columns = [" + ", ".join(f'"{name}"' for name in order) + "]"
    lines = text.splitlines()
    first_table = next((i for i, row in enumerate(lines) if re.match(r"^\s*\[", row)), len(lines))
    for i in range(first_table):
        if re.match(r"^\s*columns\s*=", lines[i]):
            lines[i] = line
            break
    else:
        lines[first_table:first_table] = [line, ""] if first_table < len(lines) else [line]
    return "\n".join(lines) + "\n"


def _webhooks(data: Mapping[str, Any], locate: _Locator) -> Webhooks:
    hooks = data.get("webhooks", {})
    if not isinstance(hooks, Mapping):
        raise ConfigError(f"{locate.key(None, 'webhooks')}: [webhooks] must be a table")
    extra = set(hooks) - {"listen", "public_url"}
    if extra:
        key = sorted(extra)[0]
        raise ConfigError(f"{locate.key(None, key)}: unknown [webhooks] setting {_safe(key)!r}")
    listen = hooks.get("listen")
    if listen is not None:
        try:
            check_listen(listen)
        except ValueError as exc:
            raise ConfigError(f"{locate.key(None, 'listen')}: webhooks.listen {exc}") from None
    public = hooks.get("public_url")
    if public is not None:
        _url(public, "webhooks.public_url", locate.key(None, "public_url"))
    return Webhooks(listen=listen, public_url=public)


def _source(raw: Any, index: int, locate: _Locator) -> Source:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{locate.table(index)}: each [[sources]] entry must be a table")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        shown = _safe(name) if isinstance(name, str) else name
        raise ConfigError(
            f"{locate.key(index, 'name')}: sources need a name of letters, digits, '-' or '_' (got {shown!r})"
        )
    label = f"source {name!r}"
    provider = raw.get("provider")
    if not isinstance(provider, str) or provider not in ADAPTERS:
        shown = _safe(provider) if isinstance(provider, str) else provider
        raise ConfigError(
            f"{locate.key(index, 'provider')}: {label}: unknown provider {shown!r} "
            f"(one of: {', '.join(ADAPTERS)})"
        )
    adapter = ADAPTERS[provider]
    for key in raw:
        if key in _COMMON or key in adapter.options:
            continue
        if key in adapter.secret_fields or _SECRET_KEY.search(key):
            raise ConfigError(
                f"{locate.key(index, key)}: {label}: {key!r} looks like a secret; secrets never go in the "
                f"config file: run `callmon auth set {name}` or set {env_name(name, key)}"
            )
        raise ConfigError(
            f"{locate.key(index, key)}: {label}: unknown setting {_safe(key)!r} for {provider} "
            f"(known: {', '.join(sorted(_COMMON | set(adapter.options)))})"
        )
    options: dict[str, Any] = {}
    for key, spec in adapter.options.items():
        if key not in raw:
            if spec.required:
                raise ConfigError(f"{locate.table(index)}: {label}: {provider} needs {key!r} ({spec.help})")
            continue
        options[key] = _option(raw[key], key, spec, f"{locate.key(index, key)}: {label}")
    if "date" in options:
        options["date"] = _date(options["date"], f"{locate.key(index, 'date')}: {label}")
    timezone = raw.get("timezone")
    if timezone is not None:
        try:
            if not isinstance(timezone, str):
                raise ValueError
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            shown = _safe(timezone) if isinstance(timezone, str) else timezone
            raise ConfigError(
                f"{locate.key(index, 'timezone')}: {label}: unknown time zone {shown!r}"
            ) from None
        options["timezone"] = timezone
    base_url = raw.get("base_url")
    if base_url is not None:
        _url(base_url, "base_url", f"{locate.key(index, 'base_url')}: {label}")
    interval = _number(raw.get("interval", 5.0), "interval", locate, low=0.5, high=3600, index=index)
    limits: dict[str, Any] = {
        key: _number(raw[key], key, locate, low=low, high=high, index=index, whole=whole)
        for key, (low, high, whole) in _LIMITS.items()
        if key in raw
    }
    if "max_pages" in limits:
        limits["max_pages"] = int(limits["max_pages"])
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
        options["enabled"] = False
    return Source(
        name=name,
        provider=provider,
        options=options,
        base_url=base_url,
        interval=interval,
        filter=flt or None,
        limits=Limits(**limits),
    )


def _option(value: Any, key: str, spec: Option, where: str) -> Any:
    types = spec.type if isinstance(spec.type, tuple) else (spec.type,)
    if list in types:
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, (str, int)) for v in value):
            raise ConfigError(f"{where}: {key} must be a non-empty list of ids")
        if any(isinstance(v, bool) or not str(v).strip() or len(str(v)) > 256 for v in value):
            raise ConfigError(
                f"{where}: {key} must be a list of ids (non-empty, at most 256 characters each)"
            )
        return [str(v) for v in value]
    if bool in types:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: {key} must be true or false")
        return value
    if int in types:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: {key} must be a whole number")
        low = spec.low if spec.low is not None else -(2**53)
        high = spec.high if spec.high is not None else 2**53
        if not low <= value <= high:
            raise ConfigError(f"{where}: {key} must be from {low} to {high} (got {value})")
        return value
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: {key} must be a non-empty string")
    return value.strip()


def _date(value: str, where: str) -> str:
    """ "today", or a real calendar day YYYY-MM-DD from 2000 to 2100."""
    if value == "today":
        return value
    try:
        if not re.match(r"^\d{4}-\d{2}-\d{2}$", value):
            raise ValueError
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f'{where}: date must be "today" or a real day as YYYY-MM-DD (got {_safe(value)!r})'
        ) from None
    if not 2000 <= day.year <= 2100:
        raise ConfigError(f"{where}: date must be a day from 2000 to 2100 (got {value})")
    return value


def _url(value: Any, key: str, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {key} must be an http(s) URL")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ConfigError(f"{where}: {key} is not a valid URL (a bad port or address)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where}: {key} must be an http(s) URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            f"{where}: {key} has a user name or password in it; secrets never go in the config file "
            "(use `callmon auth set` or the CALLMON_<SOURCE>_<FIELD> environment variable)"
        )
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(f"{where}: {key} has a port out of range")
    if _SECRET_KEY.search(parts.query):
        raise ConfigError(
            f"{where}: {key} carries what looks like a credential in its query string; secrets never go in "
            "the config file (use `callmon auth set` or the CALLMON_<SOURCE>_<FIELD> environment variable)"
        )
    return value


def _number(
    value: Any,
    key: str,
    locate: _Locator,
    *,
    low: float,
    high: float,
    index: int | None = None,
    whole: bool = False,
) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not low <= value <= high
        or (whole and not float(value).is_integer())
    ):
        kind = "a whole number" if whole else "a number"
        raise ConfigError(f"{locate.key(index, key)}: {key} must be {kind} from {low:g} to {high:g}")
    return float(value)


def _check_strings(value: Any, locate: _Locator, index: int | None, path: tuple[str, ...]) -> None:
    """Every string in the file (keys too): no control or invisible characters, nothing that looks like a
    secret. Walks the parsed document; the line is that of the top key the string is under."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            at = (*path, str(key))
            sub_index = index
            if path == () and key == "sources" and isinstance(item, list):
                for i, table in enumerate(item):
                    _check_strings(table, locate, i, ())
                continue
            _check_string(str(key), locate, index, at, is_key=True)
            _check_strings(item, locate, sub_index, at)
    elif isinstance(value, list):
        for item in value:
            _check_strings(item, locate, index, path)
    elif isinstance(value, str):
        _check_string(value, locate, index, path, is_key=False)


def _check_string(
    text: str, locate: _Locator, index: int | None, path: tuple[str, ...], *, is_key: bool
) -> None:
    where = (
        locate.key(index, path[-1]) if path else locate.table(index) if index is not None else locate.where
    )
    what = ".".join(_safe(p) for p in path) or "a key"
    if not text.isprintable():
        bad = next(ch for ch in text if not ch.isprintable())
        raise ConfigError(
            f"{where}: {what}: {'the key' if is_key else 'the value'} holds a control or invisible character "
            f"(U+{ord(bad):04X}); remove it"
        )
    if not is_key and path and path[-1] not in ("name", "provider") and looks_like_secret(text):
        raise ConfigError(
            f"{where}: {what}: this value looks like a secret (an API key or token); secrets never go in the "
            "config file: use `callmon auth set SOURCE` or the CALLMON_<SOURCE>_<FIELD> environment variable"
        )


def looks_like_secret(text: str) -> bool:
    if _SECRET_VALUE.search(text):
        return True
    value = text.strip()
    if not _TOKENISH.match(value) or _UUIDISH.match(value) or value.startswith(("http://", "https://")):
        return False
    kinds = sum(any(test(c) for c in value) for test in (str.islower, str.isupper, str.isdigit))
    return kinds == 3 and len(set(value)) >= min(20, len(value) // 2)


def _safe(text: str, limit: int = 60) -> str:
    """A value from the file as it may be quoted in an error line: inert, and not too long."""
    from callmon.text import clean, cut

    return cut(clean(text), limit)


def env_name(source: str, field: str) -> str:
    """CALLMON_<SOURCE>_<FIELD>, with anything not a letter or digit turned into '_'."""
    return "CALLMON_" + re.sub(r"[^A-Z0-9]", "_", f"{source}_{field}".upper())


class _Locator:
    """Line numbers for semantic errors: tomllib parses, but does not say where a key was."""

    def __init__(self, text: str, where: str, array: str = "sources") -> None:
        self.where = where
        self.lines = text.splitlines()
        header = re.compile(rf"^\s*\[\[\s*{array}\s*\]\]")
        self.tables = [i for i, line in enumerate(self.lines) if header.match(line)]

    def table(self, index: int | None) -> str:
        if index is not None and index < len(self.tables):
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


def example() -> str:
    """A commented example config, with a [[sources]] block for every provider."""
    head = """\
# callmon configuration. Secrets (API keys, tokens) never go here: run `callmon auth set SOURCE`,
# or set CALLMON_<SOURCE>_<FIELD> in the environment.
#
# To start: uncomment one [[sources]] block below (remove the leading "# " of its lines), set its ids,
# then store its secret with `callmon auth set NAME` and run `callmon`.

# tick_hz = 4            # how often the monitor applies collected changes
# retention_days = 7     # status history kept on disk
# window = "today"       # calls kept in memory: "today", or the newest N (e.g. 200000); older ones stay
#                        # in history, where a filter still finds them

# [webhooks]             # for providers that push their calls to callmon
# listen = "127.0.0.1:8780"
# public_url = "https://callmon.example.com"

# [team]                 # team mode (docs/team.md): collectors run `callmon serve`, viewers `callmon`
# url = "rediss://callmon-redis.internal:6380"   # password: CALLMON_TEAM_PASSWORD or `callmon auth set team`
# user = "cm-viewer"     # cm-collector on the hosts that run `callmon serve`
# ca_file = "/etc/callmon/ca.pem"
# lease_ttl = 10         # seconds; a crashed collector's accounts are taken over within 1.2 x this
# offline = "split"      # engine unreachable: each collector polls alone within budget / N ("stop": none)
"""
    blocks = [
        "\n".join(f"# {line}" for line in ["[[sources]]", *adapter.example.splitlines()])
        for adapter in ADAPTERS.values()
        if adapter.example
    ]
    return head + "".join(f"\n{block}\n" for block in blocks)
