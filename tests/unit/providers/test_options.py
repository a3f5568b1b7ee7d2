"""What each provider takes in its [[sources]] table (docs/providers.md, "Watch"), read through the config
parser: every option accepted with its type, the required ones required, the defaults, the one secret each
request needs, and the documented budgets."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from callmon import config
from callmon.providers import ADAPTERS, Source, names
from callmon.providers.base import Budget
from callmon.providers.errors import AuthError

# provider -> option -> (a valid value in the config, what the source keeps), in the adapter's order
OPTIONS: dict[str, dict[str, tuple[Any, Any]]] = {
    "dialgood": {"campaigns": (["camp_1", 2], ["camp_1", "2"])},
    "dialgen": {"batches": ("b1", ["b1"]), "call_ids": (["c1"], ["c1"])},
    "cloudagent": {
        "user_name": (" acme ", "acme"),
        "campaign": ("Renewals", "Renewals"),
        "date": ("2026-11-20", "2026-11-20"),
        "dial_status_path": ("/x/y", "/x/y"),
    },
    "velip": {
        "campaign": (555, 555),
        "cpid": ("lote-1", "lote-1"),
        "call_ids": (["42_1"], ["42_1"]),
        "date": ("today", "today"),
        "page_size": (5000, 5000),
    },
    "vobiz": {
        "auth_id": ("MA_1", "MA_1"),
        "date": ("2026-03-25", "2026-03-25"),
        "call_ids": ("u1", ["u1"]),
        "live": (False, False),
    },
}
REQUIRED: dict[str, set[str]] = {
    "dialgood": {"campaigns"},
    "dialgen": set(),
    "cloudagent": {"user_name"},
    "velip": set(),
    "vobiz": {"auth_id"},
}
DEFAULTS: dict[str, dict[str, Any]] = {
    "dialgood": {"campaigns": None},
    "dialgen": {"batches": None, "call_ids": None},
    "cloudagent": {
        "user_name": None,
        "campaign": None,
        "date": "today",
        "dial_status_path": "/ca_apis/campaignDialStatus",
    },
    "velip": {"campaign": None, "cpid": None, "call_ids": None, "date": None, "page_size": 1000},
    "vobiz": {"auth_id": None, "date": "today", "call_ids": None, "live": True},
}
# A value of the wrong type for each option.
WRONG = {list: {"a": 1}, str: 5, int: "5", bool: "yes"}
SECRETS = {
    "dialgood": "api_token",
    "dialgen": "api_key",
    "cloudagent": "api_key",
    "velip": "tsid",
    "vobiz": "auth_token",
}
# maxreg: Velip caps it at 5000.
BOUNDS = {"velip": {"page_size": (1, 5000)}}
# As docs/providers.md documents them.
BUDGETS = {
    "dialgood": {"default": Budget(400, 60.0)},
    "dialgen": {"default": Budget(120, 60.0)},
    "cloudagent": {"cdr": Budget(2, 60.0), "dial_status": Budget(10, 60.0), "token": Budget(10, 60.0)},
    "velip": {"list": Budget(200, 3600.0), "call": Budget(60, 3600.0)},
    "vobiz": {"default": Budget(120, 60.0)},
}


def table(provider: str, **values: Any) -> str:
    lines = ["[[sources]]", 'name = "s"', f'provider = "{provider}"']
    lines += [f"{key} = {toml(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml(v)}" for k, v in value.items()) + "}"
    return str(value)


def required(provider: str) -> dict[str, Any]:
    return {key: OPTIONS[provider][key][0] for key in REQUIRED[provider]}


def test_the_tables_cover_every_provider() -> None:
    assert sorted(OPTIONS) == sorted(REQUIRED) == sorted(DEFAULTS) == sorted(SECRETS) == sorted(names())


@pytest.mark.parametrize("provider", names())
def test_every_option_is_taken_with_its_type(provider: str) -> None:
    values = {key: value for key, (value, _) in OPTIONS[provider].items()}
    (source,) = config.parse(table(provider, **values)).sources
    assert dict(source.options) == {key: kept for key, (_, kept) in OPTIONS[provider].items()}
    assert list(ADAPTERS[provider].options) == list(OPTIONS[provider])
    for key in OPTIONS[provider]:
        spec = ADAPTERS[provider].options[key]
        kind = spec.type if isinstance(spec.type, type) else spec.type[0]
        with pytest.raises(config.ConfigError, match=re.escape(key)):
            config.parse(table(provider, **{**required(provider), key: WRONG[kind]}))
        assert spec.help  # what `config init` and the errors say it is


@pytest.mark.parametrize("provider", names())
def test_required_options_and_defaults(provider: str) -> None:
    for key in REQUIRED[provider]:
        others = {k: v for k, v in required(provider).items() if k != key}
        with pytest.raises(config.ConfigError, match=f"{provider} needs {key!r}"):
            config.parse(table(provider, **others))
    (source,) = config.parse(table(provider, **required(provider))).sources
    adapter = ADAPTERS[provider]
    assert {key: adapter.option_of(source, key) for key in DEFAULTS[provider]} == {
        **DEFAULTS[provider],
        **source.options,
    }


@pytest.mark.parametrize("provider", names())
async def test_the_declared_secret_is_the_one_a_request_needs(provider: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request may leave without its secret")

    source = Source(name="s", provider=provider, options={**required(provider), "call_ids": ["c"]})
    adapter = ADAPTERS[provider](source, {}, httpx.AsyncClient(transport=httpx.MockTransport(handler)))
    with pytest.raises(AuthError) as info:
        await adapter.get_call("c")
    needed = re.fullmatch(r"no (\w+) for source 's'", info.value.message)
    assert needed is not None
    assert ADAPTERS[provider].secret_fields == (needed.group(1),) == (SECRETS[provider],)
    # And the config file refuses it, as every secret.
    with pytest.raises(config.ConfigError, match="looks like a secret"):
        config.parse(table(provider, **required(provider), **{SECRETS[provider]: "x"}))


@pytest.mark.parametrize("provider", names())
def test_number_options_at_their_bounds(provider: str) -> None:
    bounded = {
        k: spec for k, spec in ADAPTERS[provider].options.items() if (spec.low, spec.high) != (None, None)
    }
    for key, spec in bounded.items():
        assert spec.low is not None and spec.high is not None
        for value in (spec.low, spec.high):
            (source,) = config.parse(table(provider, **required(provider), **{key: value})).sources
            assert source.options[key] == value
        for value in (spec.low - 1, spec.high + 1):
            with pytest.raises(config.ConfigError, match=f"{key} must be from {spec.low} to {spec.high}"):
                config.parse(table(provider, **required(provider), **{key: value}))
    assert {k: (s.low, s.high) for k, s in bounded.items()} == BOUNDS.get(provider, {})


@pytest.mark.parametrize("provider", names())
def test_the_documented_budgets(provider: str) -> None:
    assert dict(ADAPTERS[provider].budgets) == BUDGETS[provider]
