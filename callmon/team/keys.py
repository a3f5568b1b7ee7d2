"""The engine's key names. An account's keys share `{name}` (a Redis Cluster hash tag), so one script can
touch all of them; viewers may write only keys that end in `:requests` (see docs/team.md for the ACLs)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AccountKeys:
    name: str
    base: str

    @property
    def lease(self) -> str:
        return self.base + "lease"  # the leader's id, expiring after the TTL

    @property
    def fence(self) -> str:
        return self.base + "fence"  # how many times the lease was taken: the leader's fencing token

    @property
    def changes(self) -> str:
        return self.base + "changes"  # stream: k = call id, n = sequence number (gapless), v = the call

    @property
    def seq(self) -> str:
        return self.base + "seq"

    @property
    def calls(self) -> str:
        return self.base + "calls"  # hash: call id -> "<stream id>\n<call>" (the snapshot, the history)

    @property
    def written(self) -> str:
        return self.base + "written"  # zset: call id -> when it was last published (ms), for retention

    @property
    def health(self) -> str:
        return self.base + "health"

    @property
    def auth(self) -> str:
        return self.base + "auth"  # the shared auth breaker: "<fingerprint> <when> <host>"

    @property
    def inbox(self) -> str:
        return self.base + "inbox"  # stream of webhook deliveries, from any collector

    @property
    def inbox_pos(self) -> str:
        return self.base + "inbox:pos"  # the last delivery the leader applied and published

    @property
    def requests(self) -> str:
        return self.base + "requests"  # stream of viewers' detail requests, served by the leader

    def budget(self, kind: str) -> str:
        return f"{self.base}budget:{kind}"  # zset: the sliding-window log, scored by the engine's clock


class Keys:
    def __init__(self, prefix: str = "cm:") -> None:
        self.prefix = prefix
        self.epoch = prefix + "epoch"  # made once; another value means the engine lost its data
        self.members = prefix + "members"  # collector id -> JSON (host, pid, version, accounts, seen)
        self.accounts = prefix + "accounts"  # account name -> provider
        self.handover = prefix + "handover"  # stream: a lease was released, take it now
        self.janitor = prefix + "janitor"  # the lease of the collector that prunes past retention
        self.shapes = prefix + "shapes"  # payload shape digest -> its field names (JSON)
        self.dictionaries = prefix + "dictionaries"  # packing dictionary id -> its bytes

    def account(self, name: str) -> AccountKeys:
        return AccountKeys(name, f"{self.prefix}{{{name}}}:")
