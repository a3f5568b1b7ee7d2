"""`callmon team status`: what the engine holds and who does what, in a few lines."""

from __future__ import annotations

import json
import time

from callmon.team.connect import ENGINE_ERRORS, check, connect, explain
from callmon.team.follow import codec_text
from callmon.team.keys import Keys
from callmon.team.settings import TeamSettings

WARN_AT = 0.8  # of maxmemory


async def report(settings: TeamSettings, password: str | None) -> tuple[list[str], list[str]]:
    """(lines for stdout, warnings for stderr). EngineError (one line) when the engine cannot be read."""
    engine = connect(settings, password)
    keys = Keys(settings.prefix)
    try:
        version = await check(engine, settings)
        return await _report(engine, keys, settings, version)
    except ENGINE_ERRORS as exc:
        raise explain(exc, settings) from None
    finally:
        await engine.aclose()


async def _report(engine: object, keys: Keys, settings: TeamSettings, version: str) -> tuple[list[str], list[str]]:
    from typing import Any

    r: Any = engine
    lines = [f"engine: {settings.shown}, {version}"]
    warnings: list[str] = []
    memory = await r.info("memory")
    used, limit = int(memory.get("used_memory", 0)), int(memory.get("maxmemory", 0))
    policy = str(memory.get("maxmemory_policy", "?"))
    lines.append(
        f"memory: {_mb(used)} used" + (f" of {_mb(limit)} ({100 * used / limit:.0f} %)" if limit else ", no maxmemory")
        + f", policy {policy}"
    )
    if limit and used >= WARN_AT * limit:
        warnings.append(f"the engine uses {100 * used / limit:.0f} % of its maxmemory: lower retention_days or raise it")
    if policy != "noeviction":
        warnings.append(f"maxmemory-policy is {policy}: calls may be evicted silently; set it to noeviction")
    epoch = await r.get(keys.epoch)
    lines.append(f"epoch: {codec_text(epoch) or 'none yet'}")
    members = await r.hgetall(keys.members)
    now = time.time()
    lines.append(f"collectors: {len(members)}")
    for member, value in sorted(members.items()):
        try:
            info = json.loads(value)
            seen = now - float(info.get("seen", 0))
            leads = ", ".join(info.get("leads") or []) or "nothing"
            lines.append(
                f"  {codec_text(member)}  callmon {info.get('version', '?')}  seen {seen:.0f}s ago  leads {leads}"
            )
            if seen > 3 * settings.lease_ttl:
                warnings.append(f"collector {codec_text(member)} was last seen {seen:.0f}s ago")
        except (ValueError, TypeError, AttributeError):
            lines.append(f"  {codec_text(member)}  (unreadable)")
    accounts = await r.hgetall(keys.accounts)
    lines.append(f"accounts: {len(accounts)}")
    lines.append("  account\tprovider\tleader\tfence\tlease left\tstream\tcalls\tmemory\tauth")
    for name_raw, provider in sorted(accounts.items()):
        name = codec_text(name_raw)
        k = keys.account(name)
        async with r.pipeline(transaction=False) as pipe:
            pipe.get(k.lease)
            pipe.get(k.fence)
            pipe.pttl(k.lease)
            pipe.xlen(k.changes)
            pipe.hlen(k.calls)
            for key in (k.changes, k.calls, k.written):
                pipe.memory_usage(key)
            pipe.get(k.auth)
            lease, fence, pttl, length, count, m1, m2, m3, auth = await pipe.execute()
        size = sum(int(m or 0) for m in (m1, m2, m3))
        per_call = f" ({size / count:,.0f} B/call)" if count else ""
        left = f"{int(pttl) / 1000:.1f}s" if lease and int(pttl) > 0 else "-"
        lines.append(
            f"  {name}\t{codec_text(provider)}\t{codec_text(lease) or 'none'}\t{int(fence or 0)}\t{left}\t"
            f"{length}\t{count}\t{_mb(size)}{per_call}\t{'rejected' if auth else 'ok'}"
        )
        if not lease:
            warnings.append(f"{name}: no collector leads it")
    return lines, warnings


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:,.1f} MiB"
