"""Status history on disk (SQLite, WAL): every status change, and each call's latest record for restarts.

One writer thread owns the connection, so the event loop never waits on disk. Each batch is one transaction:
after a kill -9, everything committed before it is there on the next start.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import platformdirs

from callmon.files import FileError, private_dir
from callmon.model import Status, from_storage, to_storage
from callmon.store import CallStore, Change
from callmon.timeline import newest

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    source TEXT NOT NULL,
    call_id TEXT NOT NULL,
    updated REAL NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (source, call_id)
);
CREATE TABLE IF NOT EXISTS events (
    source TEXT NOT NULL,
    call_id TEXT NOT NULL,
    at REAL NOT NULL,
    status TEXT NOT NULL,
    raw_status TEXT,
    via TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_call ON events (source, call_id, at);
CREATE INDEX IF NOT EXISTS calls_updated ON calls (updated);
"""


class HistoryError(Exception):
    """The history database cannot be used; callmon carries on in memory. The message says why and where."""


def default_path() -> Path:
    return Path(platformdirs.user_data_dir("callmon")) / "history.sqlite3"


class History:
    def __init__(self, path: Path, *, retention_days: float = 7.0) -> None:
        self.path = path
        self.retention_days = retention_days
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="callmon-history")
        self._db: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self.read_only = False  # another callmon writes this file: this one only reads it
        self.shared_with: str | None = None  # that process's pid

    # -- opening ----------------------------------------------------------------------------------------------

    def open(self) -> None:
        """Open (creating 0700 dir / 0600 file) and prune; raises HistoryError with a one-line reason.

        One process writes a history file at a time (else every status change is recorded twice): the first
        holds a lock on it, and a second opens it read-only (`read_only`, `shared_with` say so)."""
        self._executor.submit(self._open).result()

    def _open(self) -> None:
        try:
            private_dir(self.path.parent)
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
            os.close(fd)
            self.read_only = not self._lock()
            if self.read_only:
                uri = self.path.resolve().as_uri() + "?mode=ro"
                db = sqlite3.connect(uri, uri=True, timeout=2.0, isolation_level=None, check_same_thread=False)
            else:
                db = sqlite3.connect(self.path, timeout=2.0, isolation_level=None, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA quick_check").fetchone()
            if not self.read_only:
                db.executescript(SCHEMA)
            self._db = db
            if not self.read_only:
                self._prune()
        except sqlite3.DatabaseError as exc:
            raise HistoryError(f"history {self.path}: {_why(exc)}; running without history") from None
        except (OSError, FileError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise HistoryError(f"history {self.path}: {reason}; running without history") from None

    def _lock(self) -> bool:
        """Take the history's writer lock (held until close); False when another process holds it."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                self.shared_with = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
            finally:
                os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd
        return True

    def _prune(self) -> None:
        assert self._db is not None
        cutoff = time.time() - self.retention_days * 86400
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM events WHERE at < ?", (cutoff,))
            self._db.execute("DELETE FROM calls WHERE updated < ?", (cutoff,))

    # -- reading back -----------------------------------------------------------------------------------------

    def load_into(self, store: CallStore, sources: Iterable[str] | None = None) -> int:
        """Put every remembered call (of `sources`, if given) back into the store; returns how many."""
        return self._submit_load(store, sources).result()

    async def load(self, store: CallStore, sources: Iterable[str] | None = None) -> int:
        """load_into without holding up the event loop: 100k calls take seconds to read back, and the
        monitor keeps drawing meanwhile. Nothing else may touch the store until this returns."""
        return await asyncio.wrap_future(self._submit_load(store, sources))

    def _submit_load(self, store: CallStore, sources: Iterable[str] | None) -> Future[int]:
        return self._executor.submit(self._load_into, store, set(sources) if sources is not None else None)

    def _load_into(self, store: CallStore, sources: set[str] | None) -> int:
        assert self._db is not None
        # Each call's timeline as Call.timeline holds it: (at, status, raw status, via) flattened, oldest first.
        timelines: dict[tuple[str, str], list[object]] = {}
        for source, call_id, at, status, raw_status, via in self._db.execute(
            "SELECT source, call_id, at, status, raw_status, via FROM events ORDER BY at"
        ):
            if sources is not None and source not in sources:
                continue
            try:
                state = Status(status)
            except ValueError:
                state = Status.UNKNOWN
            timelines.setdefault((source, call_id), []).extend((at, state, raw_status, via))
        count = 0
        rows = self._db.execute("SELECT source, call_id, record FROM calls ORDER BY source, call_id")
        for source, call_id, record in rows:
            if sources is not None and source not in sources:
                continue
            try:
                # Built once with its timeline: a second, with_changes() copy cost a fifth of the read-back.
                call = from_storage(json.loads(record), tuple(timelines.get((source, call_id), ())))
            except (ValueError, KeyError, TypeError):
                continue  # one unreadable row must not cost the rest
            store.load(call)
            count += 1
        # Here, on this thread, rather than at the monitor's first sort, on the event loop.
        store.hold_in_arrival_order()
        return count

    # -- writing ----------------------------------------------------------------------------------------------

    async def write(self, batch: list[Change]) -> None:
        await asyncio.wrap_future(self._executor.submit(self._write, batch))

    def _write(self, batch: list[Change]) -> None:
        if self._db is None or not batch or self.read_only:
            return
        now = time.time()
        calls = [(c.key[0], c.key[1], now, json.dumps(to_storage(c.call), default=str)) for c in batch]
        events = [
            (c.key[0], c.key[1], event.at, event.status.value, event.raw_status, event.via)
            for c in batch
            if c.new_events
            for event in newest(c.call.timeline, c.new_events)
        ]
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?)", calls)
                self._db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", events)
        except sqlite3.DatabaseError as exc:
            raise HistoryError(f"history {self.path}: {_why(exc)}") from None

    def close(self) -> None:
        def _close() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the lock
                self._lock_fd = None

        self._executor.submit(_close).result()
        self._executor.shutdown(wait=True)


def _why(exc: sqlite3.DatabaseError) -> str:
    text = str(exc)
    if "locked" in text:
        return "the database is locked by another process"
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return "the file is not a readable database (corrupt?)"
    return text
