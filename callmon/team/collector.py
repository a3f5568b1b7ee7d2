"""`callmon serve`: a collector. It holds provider secrets, polls an account only while it leads it, publishes
every change of the accounts it leads, keeps the others in step from the engine (a hot standby), and takes
webhook deliveries for every account into the engine's inbox, which the leader applies.

While the engine cannot be reached for a whole lease TTL, `offline = "split"` polls every account alone at a
share of each budget (`callmon.team.budget`) and keeps what it learns locally; it is published when this
collector leads again. `offline = "stop"` polls nothing meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from callmon import __version__, packing, redact
from callmon.crash import one_line
from callmon.engine.worker import Preempted, SourceWorker
from callmon.health import State
from callmon.history import History, HistoryError
from callmon.model import Call
from callmon.providers import ADAPTERS, Budget, Source
from callmon.store import CallStore, Change
from callmon.team import codec
from callmon.team import health as team_health
from callmon.team.budget import Split, TeamLimiter
from callmon.team.connect import ENGINE_ERRORS, Refused, check, connect, explain, still_running
from callmon.team.follow import Follower, Version, codec_text, parse_id
from callmon.team.keys import AccountKeys, Keys
from callmon.team.lease import Leases
from callmon.team.scripts import NOT_LEADER, Scripts, text
from callmon.team.settings import TeamSettings

log = logging.getLogger("callmon.team")
PUBLISH_CHUNK = 300  # changes per publish script: each run holds the engine for well under a millisecond
INBOX_MAX = 100_000
HEALTH_EVERY = 1.0
JANITOR_EVERY = 60.0
DETAIL_AGAIN = 2.0  # a call's detail is fetched at most this often, however many viewers ask
SECRETS_AGAIN = 30.0  # a collector stopped by the shared breaker reads its secret again this often


def collector_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Account:
    source: Source
    keys: AccountKeys
    worker: SourceWorker
    limiter: TeamLimiter
    fingerprint: str
    dirty: set[str] = field(default_factory=set)  # call ids changed here and not in the engine yet
    inbox_read: str = "0-0"
    inbox_applied: str | None = None  # the last delivery applied, published with the changes it made
    requests_read: str = "0-0"
    detail_at: dict[str, float] = field(default_factory=dict)
    health_sent: float = 0.0
    auth_reported: bool = False
    breaker: str | None = None  # the breaker's value as last read
    secrets_read: float = 0.0


class Collector:
    def __init__(
        self,
        settings: TeamSettings,
        password: str | None,
        pairs: Sequence[tuple[Source, Mapping[str, str]]],
        client: httpx.AsyncClient,
        *,
        history: History | None = None,
        retention_days: float = 7.0,
        tick_hz: float = 4.0,
        budgets: Mapping[str, Mapping[str, Budget]] | None = None,
        resolve: Callable[[Source], dict[str, str]] | None = None,
        owner: str | None = None,
    ) -> None:
        self.settings = settings
        self.owner = owner or collector_id()
        self.keys = Keys(settings.prefix)
        self.engine = connect(settings, password)
        self.blocking = connect(settings, password, blocking=2.0)
        self.scripts = Scripts(self.engine)
        self.store = CallStore()
        self.history = history
        self.retention_days = retention_days
        self.tick_hz = tick_hz
        self.resolve = resolve
        self.split = Split()
        self.follower = Follower(
            self.blocking, self.keys, self.store, self._loaded, skip=self._leads, prefer_local=self._prefer_local
        )
        self.leases = Leases(
            self.engine, self.blocking, self.scripts, self.keys, settings, self.owner,
            [s.name for s, _ in pairs], on_gain=self._gained, on_loss=self._lost, on_round=self._round,
        )  # fmt: skip
        self.accounts: dict[str, Account] = {}
        for source, secrets in pairs:
            for secret in secrets.values():
                redact.register(secret)  # whatever gave it to us: nothing published may carry it
            keys = self.keys.account(source.name)
            lease = self.leases[source.name]
            chosen = (budgets or {}).get(source.name) or ADAPTERS[source.provider].budgets
            limiter = TeamLimiter(lease, keys, chosen, self.engine, self.scripts, self.owner, self.split)
            worker = SourceWorker(
                source, secrets, client, self.store, limiter=limiter, may_poll=self._may_poll(source.name)
            )
            self.accounts[source.name] = Account(
                source, keys, worker, limiter, team_health.fingerprint(source.provider, secrets)
            )
        self.follower.follow(self.accounts)
        self.follower.on_epoch = self._epoch_changed
        self._lost_data = False
        self.version = ""
        self._tasks: list[asyncio.Task[None]] = []
        self._details: set[asyncio.Task[None]] = set()
        self._inbox: asyncio.Queue[tuple[str, Call]] = asyncio.Queue(10_000)
        self._stopped = False
        self.publish_failures = 0

    # -- starting and stopping --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and start everything. Refused (one line) when the engine refuses us: a wrong password or
        ACL, TLS, a version too old. An engine that does not answer is not fatal: leases are asked for again
        and, after a TTL, `offline` applies."""
        try:
            self.version = await check(self.engine, self.settings)
            await self._register()
        except Refused:
            raise
        except ENGINE_ERRORS as exc:
            error = explain(exc, self.settings)
            if isinstance(error, Refused):
                raise error from None
            log.warning("%s; polling waits for it (offline = %s)", error, self.settings.offline)
            self.leases.reachable = False
            self.leases.unreachable_since = time.time()
            if self.history is not None:
                await self.history.load(self.store, list(self.accounts))
        for name, account in self.accounts.items():
            self._tasks.append(asyncio.create_task(account.worker.run(), name=f"poll:{name}"))
        self._tasks += [
            asyncio.create_task(self.leases.run(), name="team-leases"),
            asyncio.create_task(self._follow(), name="team-follow"),
            asyncio.create_task(self._ticker(), name="team-ticker"),
            asyncio.create_task(self._lead(), name="team-lead"),
            asyncio.create_task(self._inbox_writer(), name="team-inbox"),
            asyncio.create_task(self._offline_watch(), name="team-offline"),
            asyncio.create_task(self._janitor(), name="team-janitor"),
        ]

    async def _register(self) -> None:
        await self.follower.check_epoch()
        async with self.engine.pipeline(transaction=False) as pipe:
            pipe.hset(self.keys.accounts, mapping={n: a.source.provider for n, a in self.accounts.items()})
            pipe.hsetnx(self.keys.dictionaries, packing.DICTIONARY_ID, packing.DICTIONARY)
            pipe.hset(self.keys.members, self.owner, self._member())
            await pipe.execute()

    def _member(self) -> str:
        host, pid, _ = self.owner.split(":", 2)
        leads = sorted(n for n in self.accounts if self.leases[n].held())
        return json.dumps({"host": host, "pid": int(pid), "version": __version__, "accounts": sorted(self.accounts),
                           "leads": leads, "seen": time.time()})  # fmt: skip

    async def stop(self) -> None:
        """A clean stop (SIGTERM): what is pending is published, every lease released at once."""
        if self._stopped:
            return
        self._stopped = True
        first = [t for t in self._tasks if t.get_name().startswith("poll:") or t.get_name() == "team-leases"]
        first += self._details
        for task in first:
            task.cancel()
        if first:
            await asyncio.wait(first, timeout=self.settings.timeout + 1)
        with contextlib.suppress(*ENGINE_ERRORS):
            await asyncio.wait_for(self._drain_inbox(), self.settings.timeout)
        with contextlib.suppress(*ENGINE_ERRORS, TimeoutError):
            await asyncio.wait_for(self.tick(), self.settings.timeout * 2)
        await self.leases.release_all()
        for task in self._tasks:
            task.cancel()
        # Loops also stop on _stopped: a cancel that races the client's own read timeout can be swallowed.
        await asyncio.wait(self._tasks, timeout=self.settings.timeout + 3)
        with contextlib.suppress(*ENGINE_ERRORS):
            await self.engine.hdel(self.keys.members, self.owner)
        if self.history is not None:
            with contextlib.suppress(Exception):
                self.history.close()
        for engine in (self.engine, self.blocking):
            with contextlib.suppress(*ENGINE_ERRORS):
                await engine.aclose()

    # -- leases -----------------------------------------------------------------------------------------------

    def _leads(self, name: str) -> bool:
        lease = self.leases[name]
        return lease.held() and not self.split.active

    def _may_poll(self, name: str) -> Callable[[], Any]:
        async def wait() -> None:
            while True:
                lease = self.leases[name]
                if lease.blocked is None and (lease.usable() or self.split.active):
                    return
                changed = asyncio.ensure_future(lease.changed.wait())
                await asyncio.wait([changed], timeout=0.5)
                changed.cancel()

        return wait

    async def _gained(self, name: str) -> None:
        """Before polling an account just taken: everything the engine knows of it, its inbox position, and
        its request stream from now."""
        account = self.accounts[name]
        await self.follower.catch_up(name)
        pos, last = await asyncio.gather(
            self.engine.get(account.keys.inbox_pos), self.engine.xrevrange(account.keys.requests, count=1)
        )
        account.inbox_read = codec_text(pos) if pos else "0-0"
        account.inbox_applied = None
        account.requests_read = codec_text(last[0][0]) if last else "0-0"
        account.worker.wake()

    def _lost(self, name: str) -> None:
        self.accounts[name].inbox_applied = None

    def _prefer_local(self, held: Call, engine: Call) -> bool:
        account = self.accounts.get(held.source)
        if account is None or held.call_id not in account.dirty:
            return False
        if held.updated_at and engine.updated_at and held.updated_at != engine.updated_at:
            return held.updated_at > engine.updated_at
        return held.ended and not engine.ended

    async def _round(self) -> None:
        """With each lease round: our heartbeat, the epoch, who else collects, breakers, budget logs."""
        if self.split.active:
            for account in self.accounts.values():
                await account.limiter.write_offline()
            self.split.end()
            log.warning("team engine %s reachable again: back to leases", self.settings.shown)
        await self.follower.check_epoch()
        if self._lost_data:
            self._lost_data = False
            await self._register()
        kinds = [(a, kind) for a in self.accounts.values() for kind in a.limiter.budgets]
        async with self.engine.pipeline(transaction=False) as pipe:
            pipe.time()
            pipe.hset(self.keys.members, self.owner, self._member())
            pipe.hgetall(self.keys.members)
            for account in self.accounts.values():
                pipe.get(account.keys.auth)
            for account, kind in kinds:
                pipe.zrange(account.keys.budget(kind), 0, -1, withscores=True)
            replies = await pipe.execute()
        seconds, micros = replies[0]
        server_ms = seconds * 1000 + micros / 1000
        members = replies[2]
        self._count_collectors(members)
        auths = replies[3 : 3 + len(self.accounts)]
        for account, value in zip(self.accounts.values(), auths, strict=True):
            await self._check_breaker(account, codec_text(value) if value else None)
        for (account, kind), log_ in zip(kinds, replies[3 + len(self.accounts) :], strict=True):
            account.limiter.observe(kind, [score for _, score in log_], server_ms)

    def _epoch_changed(self) -> None:
        """The engine lost its data: everything we hold is published again as each account is led."""
        self._lost_data = True
        for name, account in self.accounts.items():
            account.dirty.update(self.store.source_calls(name))

    def _count_collectors(self, members: Mapping[bytes, bytes]) -> None:
        now = time.time()
        alive = []
        for member, value in members.items():
            try:
                seen = float(json.loads(value).get("seen", 0))
            except (ValueError, AttributeError):
                continue
            if now - seen < 3 * self.settings.lease_ttl:
                alive.append(codec_text(member))
        if self.owner not in alive:
            alive.append(self.owner)
        alive.sort()
        self.split.collectors, self.split.rank = len(alive), alive.index(self.owner)

    async def _check_breaker(self, account: Account, value: str | None) -> None:
        """The shared auth breaker: a secret one collector saw rejected is never tried by another."""
        account.breaker = value
        lease = self.leases[account.source.name]
        if value is None:
            lease.blocked = None
            return
        fp, when, host = team_health.read_breaker(value)
        if fp != account.fingerprint:
            lease.blocked = None  # our secret is another one: worth one try
            return
        if time.monotonic() - account.secrets_read > SECRETS_AGAIN and self.resolve is not None:
            account.secrets_read = time.monotonic()
            fresh = await asyncio.to_thread(self.resolve, account.source)
            if fresh and team_health.fingerprint(account.source.provider, fresh) != fp:
                account.fingerprint = team_health.fingerprint(account.source.provider, fresh)
                account.auth_reported = False
                account.worker.resume(fresh)
                log.warning("%s: a new secret was found: trying it", account.source.name)
                lease.blocked = None
                return
        when_text = time.strftime("%H:%M:%S", time.localtime(when)) if when else "?"
        reason = (
            f"secret rejected by the provider (on {host} at {when_text}): not tried again; "
            f"set a new one with `callmon auth set {account.source.name}` on the collectors"
        )
        if lease.blocked is None:
            log.warning("%s: %s", account.source.name, reason)
        lease.blocked = reason
        health = account.worker.health
        health.state, health.message = State.AUTH_FAILED, reason
        if lease.held():
            await self.leases.release(account.source.name, "its secret was rejected")

    async def _offline_watch(self) -> None:
        """Polling alone once the engine has been unreachable for a whole TTL (no lease of ours is left)."""
        while not self._stopped:
            await asyncio.sleep(self.settings.retry_every / 2)
            if self.split.active or self.leases.reachable or self.settings.offline != "split":
                continue
            if time.monotonic() - self.leases.last_contact < self.settings.lease_ttl:
                continue
            self.split.start()
            log.warning(
                "team engine unreachable since %s: polling every account alone, within 1/%d of each budget",
                time.strftime("%H:%M:%S", time.localtime(self.leases.unreachable_since or time.time())),
                self.split.collectors,
            )
            for lease in self.leases.leases.values():
                lease.poke()

    # -- following the accounts we do not lead ----------------------------------------------------------------

    def _loaded(self, batch: list[Change]) -> None:
        if self.history is not None and batch:
            task = asyncio.create_task(self._write_history(batch))
            self._details.add(task)
            task.add_done_callback(self._details.discard)

    async def _write_history(self, batch: list[Change]) -> None:
        if self.history is None:
            return
        try:
            await self.history.write(batch)
        except HistoryError as exc:
            log.warning("%s; carrying on without it", exc)
            self.history = None

    async def _follow(self) -> None:
        failed = False
        while not self._stopped:
            try:
                if failed:
                    await self.follower.resume()
                    failed = False
                await self.follower.read(1000)
            except ENGINE_ERRORS:
                still_running()
                failed = True
                await asyncio.sleep(self.settings.retry_every)
            except Exception as exc:  # a bug on one entry must not stop following every account
                still_running()
                log.warning("team: following the engine failed: %s", one_line(exc), exc_info=True)
                failed = True
                await asyncio.sleep(self.settings.retry_every)

    # -- publishing -------------------------------------------------------------------------------------------

    async def _ticker(self) -> None:
        while not self._stopped:
            await asyncio.sleep(1.0 / self.tick_hz)
            try:
                await self.tick()
            except Exception as exc:  # the ticker must outlive any one batch
                still_running()
                log.warning("team: a tick failed: %s", one_line(exc), exc_info=True)

    async def tick(self) -> None:
        """Take the store's changes and publish those of the accounts we lead (the rest wait, dirty)."""
        applied = {name: a.inbox_applied for name, a in self.accounts.items()}
        batch = self.store.take()
        if batch:
            await self._write_history(batch)
        for change in batch:
            account = self.accounts.get(change.key[0])
            if account is not None:
                account.dirty.add(change.key[1])
        now = time.monotonic()
        for name, account in self.accounts.items():
            self._report_auth(account)
            lease = self.leases[name]
            if not lease.usable() or self.split.active:
                continue
            due = now - account.health_sent >= HEALTH_EVERY
            if account.dirty or due or applied[name]:
                await self._publish(account, applied[name], health=due)

    def _report_auth(self, account: Account) -> None:
        health = account.worker.health
        if health.state is State.AUTH_FAILED and not account.auth_reported and account.breaker is None:
            account.auth_reported = True
            value = team_health.breaker(account.fingerprint, socket.gethostname(), time.time())
            task = asyncio.create_task(self._set_breaker(account, value))
            self._details.add(task)
            task.add_done_callback(self._details.discard)
        elif health.state is State.OK and account.breaker and account.auth_reported is False:
            # Another secret was rejected before; ours works: the breaker is lifted for everyone.
            value = account.breaker
            account.breaker = None
            task = asyncio.create_task(self._lift_breaker(account, value))
            self._details.add(task)
            task.add_done_callback(self._details.discard)

    async def _set_breaker(self, account: Account, value: str) -> None:
        with contextlib.suppress(*ENGINE_ERRORS):
            await self.engine.set(account.keys.auth, value)
            account.breaker = value
            await self._check_breaker(account, value)

    async def _lift_breaker(self, account: Account, value: str) -> None:
        with contextlib.suppress(*ENGINE_ERRORS):
            await self.scripts.lift(keys=[account.keys.auth], args=[value])

    async def _publish(self, account: Account, inbox_pos: str | None, *, health: bool) -> None:
        name = account.source.name
        lease = self.leases[name]
        ids = sorted(account.dirty)
        calls = [(cid, self.store.get((name, cid))) for cid in ids]
        shapes = self.follower.shapes
        values = [(cid, codec.encode(call, shapes)) for cid, call in calls if call is not None]
        health_text = ""
        if health:
            account.health_sent = time.monotonic()
            health_text = team_health.dump(account.worker.health_now(), self.owner, lease.fence)
        try:
            await self._write_shapes()
            chunks = [values[i : i + PUBLISH_CHUNK] for i in range(0, len(values), PUBLISH_CHUNK)] or [[]]
            for index, chunk in enumerate(chunks):
                last = index == len(chunks) - 1
                args: list[Any] = [
                    self.owner, self.settings.stream_max, (inbox_pos or "") if last else "",
                    health_text if last else "",
                ]  # fmt: skip
                for cid, value in chunk:
                    args += [cid, value]
                reply = await self.scripts.publish(
                    keys=[account.keys.lease, account.keys.changes, account.keys.seq, account.keys.calls,
                          account.keys.written, account.keys.inbox_pos, account.keys.health],
                    args=args,
                )  # fmt: skip
                if reply == NOT_LEADER:
                    self.publish_failures += 1
                    log.info("%s: not published: this collector no longer leads it", name)
                    return
                for (cid, _), stream_id in zip(chunk, reply, strict=True):
                    self.follower.versions[(name, cid)] = parse_id(stream_id)
                    account.dirty.discard(cid)
        except ENGINE_ERRORS as exc:
            self.publish_failures += 1
            log.info("%s: not published yet: %s", name, explain(exc, self.settings))
            return
        if inbox_pos is not None and account.inbox_applied == inbox_pos:
            account.inbox_applied = None

    # -- leading: webhook inbox and viewers' detail requests ---------------------------------------------------

    async def _lead(self) -> None:
        while not self._stopped:
            led = [a for n, a in self.accounts.items() if self.leases[n].usable() and not self.split.active]
            if not led:
                await asyncio.sleep(0.1)
                continue
            streams: dict[str, str] = {}
            for account in led:
                streams[account.keys.inbox] = account.inbox_read
                streams[account.keys.requests] = account.requests_read
            try:
                reply = await self.blocking.xread(streams, count=500, block=500)
            except ENGINE_ERRORS:
                still_running()
                await asyncio.sleep(self.settings.retry_every)
                continue
            by_key = {}
            for account in led:
                by_key[account.keys.inbox] = (account, True)
                by_key[account.keys.requests] = (account, False)
            for stream, entries in reply or ():
                account, inbox = by_key[codec_text(stream)]
                if not self.leases[account.source.name].usable():
                    continue
                if inbox:
                    await self._apply_inbox(account, entries)
                else:
                    self._requests(account, entries)

    async def _apply_inbox(self, account: Account, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        await self.follower.learn(fields.get(b"v", b"") for _, fields in entries)
        for entry_id, fields in entries:
            try:
                call = codec.decode(fields.get(b"v", b""), self.follower.shapes)
            except (codec.Unreadable, KeyError, ValueError) as exc:
                log.warning("%s: an inbox delivery is unreadable (%s): skipped", account.source.name, exc)
                call = None
            if call is not None and call.source == account.source.name:
                self.store.apply(call, "push")
            account.inbox_read = account.inbox_applied = text(entry_id)

    def _requests(self, account: Account, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        now = time.monotonic()
        for entry_id, fields in entries:
            account.requests_read = text(entry_id)
            call_id = codec_text(fields.get(b"k"))
            if not call_id or now - account.detail_at.get(call_id, -1e9) < DETAIL_AGAIN:
                continue
            account.detail_at[call_id] = now
            task = asyncio.create_task(self._detail(account, call_id))
            self._details.add(task)
            task.add_done_callback(self._details.discard)
        if len(account.detail_at) > 10_000:
            account.detail_at = {k: v for k, v in account.detail_at.items() if now - v < DETAIL_AGAIN}

    async def _detail(self, account: Account, call_id: str) -> None:
        try:
            await account.worker.detail((account.source.name, call_id))
        except asyncio.CancelledError:
            raise
        except Preempted:
            pass
        except Exception as exc:  # a viewer's request costs that request, never the collector
            log.info("%s: detail for %s: %s", account.source.name, call_id[:40], redact.scrub(one_line(exc)))

    # -- webhooks: any collector takes them, the leader applies them -------------------------------------------

    def deliver(self, call: Call) -> None:
        """The webhook receiver's sink: into the engine's inbox (soon), whoever leads the account."""
        try:
            self._inbox.put_nowait((call.source, call))
        except asyncio.QueueFull:
            self.store.apply(call, "push")  # kept here, published when this collector leads

    async def _inbox_writer(self) -> None:
        while not self._stopped:
            first = await self._inbox.get()
            items = [first]
            while not self._inbox.empty() and len(items) < 500:
                items.append(self._inbox.get_nowait())
            await self._write_inbox(items)

    async def _drain_inbox(self) -> None:
        items = []
        while not self._inbox.empty():
            items.append(self._inbox.get_nowait())
        if items:
            await self._write_inbox(items)

    async def _write_inbox(self, items: list[tuple[str, Call]]) -> None:
        shapes = self.follower.shapes
        encoded = [(name, codec.encode(call, shapes)) for name, call in items]
        try:
            await self._write_shapes()
            async with self.engine.pipeline(transaction=False) as pipe:
                for name, value in encoded:
                    keys = self.accounts[name].keys if name in self.accounts else self.keys.account(name)
                    pipe.xadd(keys.inbox, {"v": value}, maxlen=INBOX_MAX, approximate=True)
                await pipe.execute()
        except ENGINE_ERRORS as exc:
            # The design's choice while the engine is down: keep them here (202 was said) and publish later.
            log.info("webhooks: inbox unreachable (%s): %d deliveries kept here", explain(exc, self.settings), len(items))
            for _, call in items:
                self.store.apply(call, "push")

    async def _write_shapes(self) -> None:
        """Payload shapes named by what is about to be written, into the engine first (readers look them up)."""
        unsent = self.follower.shapes.unsent
        if not unsent:
            return
        pending = dict(unsent)
        await self.engine.hset(self.keys.shapes, mapping=pending)
        for digest in pending:
            unsent.pop(digest, None)  # others may have been added while this was written: they stay

    # -- retention --------------------------------------------------------------------------------------------

    async def _janitor(self) -> None:
        """One collector at a time (its own small lease) prunes every account past retention_days."""
        while not self._stopped:
            await asyncio.sleep(JANITOR_EVERY)
            try:
                await self.prune()
            except ENGINE_ERRORS:
                still_running()

    async def prune(self) -> int:
        ttl = int(JANITOR_EVERY * 2000)
        took = await self.engine.set(self.keys.janitor, self.owner, nx=True, px=ttl)
        if not took:
            if codec_text(await self.engine.get(self.keys.janitor)) != self.owner:
                return 0
            await self.engine.pexpire(self.keys.janitor, ttl)
        seconds, micros = await self.engine.time()
        cutoff = int((seconds + micros / 1e6 - self.retention_days * 86400) * 1000)
        pruned = 0
        for name in await self.engine.hkeys(self.keys.accounts):
            keys = self.keys.account(codec_text(name))
            while True:
                count = int(await self.scripts.prune(keys=[keys.calls, keys.written, keys.changes], args=[cutoff, 1000]))
                pruned += count
                if count < 1000:
                    break
        if pruned:
            log.info("pruned %d calls past retention (%g days)", pruned, self.retention_days)
        return pruned

    # -- for tests and `team status` ---------------------------------------------------------------------------

    def leading(self) -> list[str]:
        return [name for name in self.accounts if self.leases[name].usable()]

    def versions_of(self, name: str) -> dict[str, Version]:
        return {cid: v for (src, cid), v in self.follower.versions.items() if src == name}
