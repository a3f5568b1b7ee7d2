"""Following the engine: an account's snapshot, then its change stream from the snapshot's last entry.

Like a Kubernetes informer: load the state, then watch from its version; when the watch cannot resume (the
stream was trimmed past us, the engine lost its data and made a new epoch, the sequence numbers jump), load
the state again. Each stream entry carries the call as it now is and a gapless sequence number; the snapshot
hash holds each call with the stream id of its last change (its version), so an entry older than what we
hold is skipped, and a call changed several times in one read is taken once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from callmon.heap import bulk
from callmon.model import Call
from callmon.store import CallStore, Change, ChangeKind, Key
from callmon.team import codec
from callmon.team.codec import Shapes, Unreadable
from callmon.team.connect import Engine
from callmon.team.keys import AccountKeys, Keys
from callmon.timeline import last_via

log = logging.getLogger("callmon.team")
Version = tuple[int, int]
SCAN_COUNT = 1000
READ_COUNT = 1000


def parse_id(value: bytes | str) -> Version:
    text = value.decode() if isinstance(value, bytes) else value
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def id_text(version: Version) -> str:
    return f"{version[0]}-{version[1]}"


@dataclass
class Followed:
    name: str
    keys: AccountKeys
    last: Version = (0, 0)  # the last stream entry taken in
    n: int = 0  # its sequence number
    ready: bool = False  # loaded, and following on from it
    loads: int = 0


@dataclass
class Follower:
    """Keeps `store` equal to the engine for the accounts it follows. `skip(account)`: entries of that
    account are counted but not applied (a collector leading it publishes them itself). `on_batch` gets the
    changes each step made (kind "loaded" for calls first seen in a full load)."""

    engine: Engine
    keys: Keys
    store: CallStore
    on_batch: Callable[[list[Change]], None]
    skip: Callable[[str], bool] = lambda name: False
    # (held, from the engine) -> keep ours: a collector's changes not published yet (made offline) that are
    # newer than the engine's copy.
    prefer_local: Callable[[Call, Call], bool] | None = None
    shapes: Shapes = field(default_factory=Shapes)
    versions: dict[Key, Version] = field(default_factory=dict)
    accounts: dict[str, Followed] = field(default_factory=dict)
    epoch: str | None = None
    on_epoch: Callable[[], None] | None = None  # the engine lost its data (whoever noticed first)
    resyncs: int = 0  # full loads after the first (trimmed stream, new epoch, a gap)
    # Whether a load's calls new to the store are announced (kind "loaded"): not while the first load of a
    # viewer that opens on the store's whole content anyway.
    announce_loads: bool = True
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    # -- what to follow ---------------------------------------------------------------------------------------

    async def check_epoch(self) -> bool:
        """Read the engine's epoch (making one if it has none); True when it changed since we last looked,
        which means the engine lost its data: every account is loaded again."""
        value = await self.engine.get(self.keys.epoch)
        if value is None:
            await self.engine.set(self.keys.epoch, secrets.token_hex(8), nx=True)
            value = await self.engine.get(self.keys.epoch)
        epoch = codec_text(value)
        changed = self.epoch is not None and epoch != self.epoch
        self.epoch = epoch
        if changed:
            log.warning("team engine's epoch changed (it lost its data): loading everything again")
            self.versions.clear()
            for followed in self.accounts.values():
                followed.ready = False
            if self.on_epoch is not None:
                self.on_epoch()
        return changed

    def follow(self, names: Iterable[str]) -> None:
        for name in names:
            if name not in self.accounts:
                self.accounts[name] = Followed(name, self.keys.account(name))

    async def discover(self) -> list[str]:
        """Accounts the collectors have announced, followed from now on."""
        names = sorted(codec_text(n) for n in await self.engine.hkeys(self.keys.accounts))
        self.follow(names)
        return names

    # -- loading ----------------------------------------------------------------------------------------------

    async def load(self, name: str) -> int:
        """The account's whole snapshot, then the stream from its last entry. Returns calls loaded."""
        followed = self.accounts[name]
        keys = followed.keys
        async with self._lock:
            # Not MULTI (a viewer's ACL has no transactions): an entry added between the two is seen twice.
            async with self.engine.pipeline(transaction=False) as pipe:
                pipe.xrevrange(keys.changes, count=1)
                pipe.get(keys.seq)
                top, seq = await pipe.execute()
            if top:
                last, fields = top[0]
                followed.last, followed.n = parse_id(last), int(fields.get(b"n", 0))
            else:
                followed.last, followed.n = (0, 0), int(seq or 0)
            await self.learn_all()
            count = 0
            cursor = 0
            # Every call of a big account built at once: see callmon.heap.
            with bulk():
                while True:
                    cursor, page = await self.engine.hscan(keys.calls, cursor, count=SCAN_COUNT)
                    if page:
                        count += await self._take(name, page.items(), full=True)
                    if not cursor:
                        break
            if followed.loads:
                self.resyncs += 1
            followed.loads += 1
            followed.ready = True
            return count

    async def catch_up(self, name: str) -> None:
        """Everything the account's stream holds past what we took in, now (a collector about to lead)."""
        followed = self.accounts[name]
        if not followed.ready:
            await self.load(name)
            return
        while True:
            async with self._lock:
                entries = await self.engine.xrange(
                    followed.keys.changes, min=f"({id_text(followed.last)}", count=READ_COUNT
                )
                gap = await self._entries(followed, entries, apply=True)
            if gap:
                await self.load(name)
                return
            if len(entries) < READ_COUNT:
                return

    async def read(self, block_ms: int, pace: float = 0.0) -> int:
        """One blocking read over every followed account's stream; returns how many entries it took.
        `pace`: seconds to let changes gather after a read that found some (fewer round trips, bigger
        batches, at most that much later)."""
        waiting = {f.keys.changes: id_text(f.last) for f in self.accounts.values() if f.ready}
        for followed in [f for f in self.accounts.values() if not f.ready]:
            await self.load(followed.name)
            waiting[followed.keys.changes] = id_text(followed.last)
        if not waiting:
            await asyncio.sleep(block_ms / 1000)
            return 0
        reply = await self.engine.xread(waiting, count=READ_COUNT, block=block_ms)
        taken = 0
        by_key = {f.keys.changes: f for f in self.accounts.values()}
        for stream, entries in reply or ():
            found = by_key.get(codec_text(stream))
            if found is None:
                continue
            async with self._lock:
                gap = await self._entries(found, entries, apply=not self.skip(found.name))
            taken += len(entries)
            if gap:
                await self.load(found.name)
        if taken and pace:
            await asyncio.sleep(pace)
        return taken

    async def resume(self) -> None:
        """After the engine was unreachable: load again what cannot be resumed from where we were."""
        await self.check_epoch()
        for followed in self.accounts.values():
            if not followed.ready:
                continue
            seq = int(await self.engine.get(followed.keys.seq) or 0)
            if seq <= followed.n:
                if seq < followed.n:
                    followed.ready = False  # the engine went back (restarted from an older file)
                continue
            after = await self.engine.xrange(followed.keys.changes, min=f"({id_text(followed.last)}", count=1)
            if not after or int(after[0][1].get(b"n", 0)) != followed.n + 1:
                followed.ready = False  # what we missed was trimmed

    # -- taking entries in ------------------------------------------------------------------------------------

    async def _entries(self, followed: Followed, entries: list[tuple[bytes, dict[bytes, bytes]]], *, apply: bool) -> bool:
        """Take stream entries in; True when they cannot follow on from what we had (load again)."""
        carried: dict[str, tuple[Version, bytes]] = {}  # call id -> its newest change here, with the call
        named: dict[str, Version] = {}  # entries without the call (an older collector's): read from the hash
        for raw_id, fields in entries:
            version = parse_id(raw_id)
            if version <= followed.last:
                continue
            n = int(fields.get(b"n", 0))
            if n <= followed.n:
                followed.last = version  # counted already (a load read the sequence after this was added)
            elif n != followed.n + 1:
                log.info("team: %s: stream entry %d after %d: loading it again", followed.name, n, followed.n)
                return True
            else:
                followed.last, followed.n = version, n
            call_id = codec_text(fields.get(b"k", b""))
            if not apply or version <= self.versions.get((followed.name, call_id), (0, 0)):
                continue
            value = fields.get(b"v")
            if value is None:
                named[call_id] = version
            else:
                carried[call_id] = (version, value)
        items = [(cid, f"{v[0]}-{v[1]}".encode() + b"\n" + value) for cid, (v, value) in carried.items()]
        if named:
            ids = list(named)
            values = await self.engine.hmget(followed.keys.calls, ids)
            items += [(i, v) for i, v in zip(ids, values, strict=True) if v is not None]
        if items:
            await self._take(followed.name, items)
        return False

    async def _take(self, name: str, items: Iterable[tuple[bytes | str, bytes]], *, full: bool = False) -> int:
        items = list(items)
        if not full:
            await self.learn(codec.version_of(value)[1] for _, value in items if b"\n" in value)
        changes: list[Change] = []
        store = self.store
        for raw_key, value in items:
            call_id = codec_text(raw_key)
            key = (name, call_id)
            try:
                version_bytes, data = codec.version_of(value)
                version = parse_id(version_bytes)
                if version <= self.versions.get(key, (0, 0)):
                    continue
                try:
                    call = codec.decode(data, self.shapes)
                except KeyError:
                    await self.learn([data])  # a shape written after the load began
                    call = codec.decode(data, self.shapes)
            except (Unreadable, ValueError, KeyError) as exc:
                log.warning("team: %s: call %s in the engine is unreadable (%s): skipped", name, call_id[:40], exc)
                continue
            if call.key != key:
                continue
            old = store.get(key)
            self.versions[key] = version
            if old is not None and self.prefer_local is not None and self.prefer_local(old, call):
                continue
            store.load(call)
            kind: ChangeKind
            if old is None:
                if full and not self.announce_loads:
                    continue
                kind = "loaded" if full else "new"
            elif call.ended and not old.ended:
                kind = "ended"
            else:
                kind = "changed"
            events = max(0, (len(call.timeline) - len(old.timeline)) // 4) if old is not None else 0
            changes.append(
                Change(key, call, old.status if old else None, kind, last_via(call.timeline) or "poll", events)
            )
        if changes:
            self.on_batch(changes)
        return len(changes)

    async def learn_all(self) -> None:
        """Every shape the engine knows (a few dozen): a full load then looks none up call by call."""
        for digest, names in (await self.engine.hgetall(self.keys.shapes)).items():
            self.shapes.names.setdefault(codec_text(digest), tuple(json.loads(names)))

    async def learn(self, values: Iterable[bytes]) -> None:
        """Fetch the shapes and dictionaries these encoded calls name that we do not know yet."""
        dictionaries: set[str] = set()
        digests: set[str] = set()
        for data in values:
            dictionary_id, digest = codec.needs(data, self.shapes)
            if dictionary_id:
                dictionaries.add(dictionary_id)
            if digest:
                digests.add(digest)
        if digests:
            names = list(digests)
            for digest, found in zip(names, await self.engine.hmget(self.keys.shapes, names), strict=True):
                if found is not None:
                    self.shapes.names[digest] = tuple(json.loads(found))
        if dictionaries:
            ids = list(dictionaries)
            for dictionary_id, found in zip(ids, await self.engine.hmget(self.keys.dictionaries, ids), strict=True):
                if found is not None:
                    self.shapes.dictionaries[dictionary_id] = bytes(found)


def codec_text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
