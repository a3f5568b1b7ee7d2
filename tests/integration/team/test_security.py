"""What the engine may see and who may write it: no secret ever reaches it, ACL roles, TLS."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from redis.exceptions import NoPermissionError, ResponseError

from callmon import packing, redact
from callmon.simulator import SIM_PROVIDERS, Clock, Scenario, Simulator, parse_faults
from callmon.team.codec import Shapes, decode, version_of
from callmon.team.connect import Refused, check, connect
from callmon.team.keys import Keys
from tests.conftest import serve_simulator
from tests.integration.team.conftest import settings_for
from tests.integration.team.engine import RedisServer, free_port
from tests.integration.team.harness import (
    pairs_for,
    published,
    start_collector,
    start_viewer,
    statuses,
    wait_for,
)

# The documented ACL lines (docs/team.md), as an operator would set them.
COLLECTOR_ACL = "on >{pw} ~{p}* -@all +@read +@write +@scripting +time +ping -@dangerous +info"
VIEWER_ACL = "on >{pw} %R~{p}* %W~{p}*:requests -@all +@read +xadd +ping +info"


async def test_no_secret_reaches_the_engine(
    redis_server: RedisServer, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Velip's secret is set to text its payloads carry (the route, "Mobile BR"): collectors mask it in every
    record, payload and health line they publish. Then every key of the engine is read back, each call
    decoded with its payload unpacked, and searched for every secret the collectors knew."""
    velip = SIM_PROVIDERS["velip"]
    monkeypatch.setattr(velip, "secrets", {"tsid": "Mobile BR"})
    settings = settings_for(redis_server.url, prefix)
    scenario = Scenario(seed=2, calls=25, clock=Clock(speed=30.0), providers=("velip", "dialgen"))
    sim = Simulator(scenario, faults=parse_faults(["ratelimit=off"]))
    async for served in serve_simulator(sim):
        async with httpx.AsyncClient() as client:
            pairs = pairs_for(scenario, served.url, 0.5)
            pairs = [(s, {"tsid": "Mobile BR"} if s.provider == "velip" else sec) for s, sec in pairs]
            secrets = [v for _, sec in pairs for v in sec.values()]
            a = await start_collector(settings, pairs, client)
            viewer = await start_viewer(settings)
            try:
                assert await wait_for(lambda: statuses(viewer.store.calls) == scenario.ground_truth(), 40)
                assert await published(a, "sim-velip")
                routes = [c.payload().get("route") for c in viewer.store.calls.values() if c.provider == "velip"]
                assert routes and set(routes) == {redact.MASK}  # the payloads did carry it, masked
            finally:
                await viewer.stop()
                await a.stop()
    engine = connect(settings, None)
    found: list[str] = []
    shapes = Shapes()
    try:
        texts: list[bytes] = []
        async for key in engine.scan_iter(match=f"{prefix}*"):
            if key == Keys(prefix).dictionaries.encode():
                continue  # callmon's own packing dictionary: the vendors' documented examples, "Mobile BR" among them
            kind = (await engine.type(key)).decode()
            if kind == "string":
                texts.append(await engine.get(key))
            elif kind == "hash":
                for field, value in (await engine.hgetall(key)).items():
                    texts += [field, value]
                    if key.endswith(b":calls"):
                        _, data = version_of(value)
                        if not shapes.names:
                            for digest, names in (await engine.hgetall(Keys(prefix).shapes)).items():
                                shapes.names[digest.decode()] = tuple(__import__("json").loads(names))
                        call = decode(data, shapes)
                        texts.append(repr(call.record(include_raw=True)).encode())
                        texts.append(repr(packing.unpack(call.raw)).encode())
            elif kind == "stream":
                for _, fields in await engine.xrange(key):
                    texts += [b for kv in fields.items() for b in kv]
            elif kind == "zset":
                texts += [m for m, _ in await engine.zrange(key, 0, -1, withscores=True)]
        assert len(texts) > 50
        for secret in secrets:
            found += [secret for text in texts if secret.encode() in text]
    finally:
        await engine.aclose()
    assert found == []


async def test_acl_roles_viewers_cannot_write_changes(
    redis_server: RedisServer, prefix: str
) -> None:
    admin = connect(settings_for(redis_server.url, prefix), None)
    names = (f"col-{prefix[:-1]}", f"view-{prefix[:-1]}")
    try:
        await admin.execute_command("ACL", "SETUSER", names[0], *COLLECTOR_ACL.format(pw="cpw", p=prefix).split())
        await admin.execute_command("ACL", "SETUSER", names[1], *VIEWER_ACL.format(pw="vpw", p=prefix).split())
        scenario = Scenario(seed=1, calls=10, clock=Clock(speed=30.0), providers=("dialgen",))
        sim = Simulator(scenario, faults=parse_faults(["ratelimit=off"]))
        async for served in serve_simulator(sim):
            async with httpx.AsyncClient() as client:
                collector = await start_collector(
                    settings_for(redis_server.url, prefix, user=names[0]), pairs_for(scenario, served.url), client, "cpw"
                )
                viewer_settings = settings_for(redis_server.url, prefix, user=names[1])
                viewer = await start_viewer(viewer_settings, "vpw")
                try:
                    assert await wait_for(lambda: len(viewer.store) > 3, 10)
                    key = next(iter(viewer.store.calls))
                    await asyncio.wait_for(viewer.detail(key), 20)  # XADD to requests: allowed
                finally:
                    await viewer.stop()
                    await collector.stop()
        as_viewer = connect(viewer_settings, "vpw")
        keys = Keys(prefix).account("sim-dialgen")
        try:
            for attempt in (
                as_viewer.xadd(keys.changes, {"k": "x", "n": 1}),
                as_viewer.hset(keys.calls, "x", "y"),
                as_viewer.eval("return 1", 0),
                as_viewer.set(keys.lease, "me"),
                as_viewer.flushall(),
            ):
                with pytest.raises((NoPermissionError, ResponseError), match=r"NOPERM|permission"):
                    await attempt
            as_collector = connect(settings_for(redis_server.url, prefix, user=names[0]), "cpw")
            with pytest.raises((NoPermissionError, ResponseError), match=r"NOPERM|permission"):
                await as_collector.flushall()
            await as_collector.aclose()
        finally:
            await as_viewer.aclose()
        wrong = connect(viewer_settings, "nope")
        with pytest.raises(Refused, match="wrong password"):
            await check(wrong, viewer_settings)
        await wrong.aclose()
    finally:
        await admin.execute_command("ACL", "DELUSER", *names)
        await admin.aclose()


def _certificates(directory: Path) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    files = {n: directory / f"{n}" for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem")}

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=callmon test CA",
        "-keyout", str(files["ca.key"]), "-out", str(files["ca.pem"]))  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", str(files["server.key"]),
        "-out", str(files["server.csr"]))  # fmt: skip
    ext = directory / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", str(files["server.csr"]), "-CA", str(files["ca.pem"]), "-CAkey", str(files["ca.key"]),
        "-CAcreateserial", "-days", "2", "-out", str(files["server.pem"]), "-extfile", str(ext))  # fmt: skip
    return files


async def test_tls_with_the_ca_and_refused_without(
    own_redis: Callable[..., RedisServer], prefix: str, tmp_path: Path
) -> None:
    certs = _certificates(tmp_path / "certs")
    tls_port = free_port()
    server = own_redis(
        "tls",
        extra=["--tls-port", str(tls_port), "--tls-cert-file", str(certs["server.pem"]),
               "--tls-key-file", str(certs["server.key"]), "--tls-ca-cert-file", str(certs["ca.pem"]),
               "--tls-auth-clients", "no"],
    ).start()
    url = f"rediss://127.0.0.1:{tls_port}"
    good = settings_for(url, prefix, ca_file=str(certs["ca.pem"]))
    engine = connect(good, None)
    try:
        assert (await check(engine, good)).startswith("redis 7")
    finally:
        await engine.aclose()
    bare = settings_for(url, prefix)
    engine = connect(bare, None)
    try:
        with pytest.raises(Refused, match=r"TLS failed.*ca_file"):
            await check(engine, bare)
    finally:
        await engine.aclose()
    plain = settings_for(f"redis://127.0.0.1:{tls_port}", prefix)
    engine = connect(plain, None)
    try:
        with pytest.raises(Exception):  # noqa: B017 (plaintext to a TLS port: refused, whatever it says)
            await check(engine, plain)
    finally:
        await engine.aclose()
    assert server.proc is not None and server.proc.poll() is None
