"""Status history on disk (SQLite, WAL): each call as the store keeps it, for restarts and for history queries.

A row holds what the store holds, in a layout that reads back without re-parsing or re-packing: the record's
fields in columns (times as epoch seconds), the raw payload as the packed blob (`callmon.packing`, its shape
numbered by this file's `shapes` table), the status timeline as one JSON array. Read back, a row becomes a
Call directly, newest first, so a monitor restarted mid-campaign shows what it knew at once and takes in the
rest in batches while it runs.

One writer thread owns the connection, so the event loop never waits on disk. Each batch is one transaction:
after a kill -9, everything committed before it is there on the next start. One process writes a file at a
time (a lock): a second opens it read-only and says so. A file from an earlier release (schema 1: a JSON
record per call and an events table) is migrated when opened.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import json
import math
import os
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import platformdirs

from callmon import ownjson, packing, search
from callmon import timeline as timelines
from callmon.files import FileError, private_dir
from callmon.model import Call, Status, TranscriptLine, assemble, from_storage
from callmon.pools import shared_details, shared_lines
from callmon.query import Query
from callmon.store import CallStore, Change
from callmon.text import clean, cut

SCHEMA_VERSION = 2
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS shapes (id INTEGER PRIMARY KEY, names TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS calls (
    source TEXT NOT NULL,
    call_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    status TEXT NOT NULL,
    campaign TEXT,
    raw_status TEXT,
    reason TEXT,
    direction TEXT,
    from_number TEXT,
    to_number TEXT,
    started_at REAL,
    answered_at REAL,
    ended_at REAL,
    duration_s INTEGER,
    billable_s INTEGER,
    cost REAL,
    currency TEXT,
    recording_url TEXT,
    updated_at REAL,
    transcript TEXT,
    details TEXT,
    raw BLOB,
    timeline TEXT NOT NULL,
    first_seen REAL NOT NULL,
    written REAL NOT NULL,
    PRIMARY KEY (source, call_id)
);
CREATE INDEX IF NOT EXISTS calls_first_seen ON calls (first_seen, source, call_id);
CREATE INDEX IF NOT EXISTS calls_written ON calls (written);
CREATE INDEX IF NOT EXISTS calls_campaign ON calls (campaign, first_seen);
CREATE INDEX IF NOT EXISTS calls_status ON calls (status, first_seen);
CREATE INDEX IF NOT EXISTS calls_started ON calls (started_at);
CREATE INDEX IF NOT EXISTS calls_to ON calls (to_number);
CREATE TABLE IF NOT EXISTS vocabulary (field TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (field, value));
"""
VOCABULARY_LIMIT = 20_000  # distinct values a field may have and still be a vocabulary
SEARCH_SCAN_LIMIT = 2_000_000  # rows a search reads at most (then it says it stopped short)
_COLUMNS = (
    "source, call_id, provider, status, campaign, raw_status, reason, direction, from_number, to_number, "
    "started_at, answered_at, ended_at, duration_s, billable_s, cost, currency, recording_url, updated_at, "
    "transcript, details, raw, timeline, first_seen, written"
)
_INSERT = f"INSERT OR REPLACE INTO calls ({_COLUMNS}) VALUES ({', '.join('?' * 25)})"
# What a call is read back from: all but first_seen and written, which are the file's own (its order, pruning).
_SELECT = f"SELECT {_COLUMNS.removesuffix(', first_seen, written')} FROM calls"
# Reads of the newest calls walk this index. Without statistics, SQLite's planner prefers the primary key for
# `source IN (...)` (every row, when every source is asked for), then sorts them all for the newest few.
_BY_FIRST_SEEN = " INDEXED BY calls_first_seen"
_KEPT_LIMIT = 4096  # values of one kind History._call keeps to share (then it starts again)
BATCH = 10_000  # rows read back per step while the monitor runs
PRUNE_BATCH = 5_000  # rows deleted per transaction, so a prune never holds the file for long
_STATUS = {status.value: status for status in Status}
# What reading one damaged row can raise (a time out of range, JSON nested past the parser): that row is skipped.
# OSError: datetime.fromtimestamp past what the platform's time functions hold (EOVERFLOW, about 7e16 seconds).
_UNREADABLE = (ValueError, KeyError, TypeError, IndexError, OverflowError, RecursionError, OSError)
P = ParamSpec("P")
R = TypeVar("R")


class HistoryError(Exception):
    """The history database cannot be used; callmon carries on in memory. The message says why and where."""


def default_path() -> Path:
    return Path(platformdirs.user_data_dir("callmon")) / "history.sqlite3"


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _word(value: Any) -> Any:
    """A text of a field whose values repeat (a campaign, a cause), as the one string all calls share."""
    return sys.intern(value) if type(value) is str else value


class History:
    def __init__(self, path: Path, *, retention_days: float = 7.0) -> None:
        self.path = path
        self.retention_days = retention_days
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="callmon-history")
        self._db: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self.read_only = False  # another callmon writes this file: this one only reads it
        self.shared_with: str | None = None  # that process's pid
        self.migrated = 0  # calls moved over from an older file format when opened
        self.pruned = 0  # calls deleted past retention_days when opened
        # This file's shape ids <-> this process's shape numbers (see callmon.packing).
        self._shape_names: dict[int, tuple[str, ...]] = {}
        self._file_shape: dict[tuple[str, ...], int] = {}
        self._dictionary = packing.DICTIONARY
        # Values read back lately, by their form in the file, so that calls read back share them (history thread).
        self._moments: dict[float, datetime] = {}
        self._transcripts: dict[str, tuple[TranscriptLine, ...]] = {}
        self._renumbered: dict[int, int] = {}  # this file's shape -> this process's number for it
        # The vocabulary fields' distinct values, as the file keeps them; fields with too many are open.
        self._words: dict[str, set[str]] = {}
        self._open_fields: set[str] = set()

    def _submit(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        """fn on the history's thread, a damaged file's error as a HistoryError saying where and why."""

        def guarded() -> R:
            try:
                return fn(*args, **kwargs)
            except sqlite3.DatabaseError as exc:
                raise HistoryError(f"history {self.path}: {_why(exc)}") from None

        return self._executor.submit(guarded)

    # -- opening ----------------------------------------------------------------------------------------------

    def open(self) -> None:
        """Open (creating 0700 dir / 0600 file), migrate an older format; raises HistoryError with a
        one-line reason."""
        self._executor.submit(self._open).result()

    def _open(self) -> None:
        try:
            private_dir(self.path.parent)
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
            os.close(fd)
            self.read_only = not self._lock()
            if self.read_only:
                uri = self.path.resolve().as_uri() + "?mode=ro"
                db = sqlite3.connect(
                    uri, uri=True, timeout=2.0, isolation_level=None, check_same_thread=False
                )
            else:
                db = sqlite3.connect(self.path, timeout=2.0, isolation_level=None, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
            # Reads the schema only: a file that is not a database fails here. (A check of every page would
            # take as long as reading the whole file, at start-up.) Damage further in fails the read that meets it.
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            self._db = db
            if not self.read_only:
                old = "events" in self._tables() and "meta" not in self._tables()
                if old:
                    # Schema 1 kept its calls under the same name: out of the way first, then read over.
                    db.executescript(
                        "DROP INDEX IF EXISTS calls_updated; DROP INDEX IF EXISTS events_call; "
                        "ALTER TABLE calls RENAME TO calls_v1;"
                    )
                db.executescript(SCHEMA)
                if old:
                    self._migrate_v1()
                self._set_meta()
            elif "meta" not in self._tables():
                raise HistoryError(
                    f"history {self.path}: written by an older callmon that still runs (pid {self.shared_with}); "
                    "running without history"
                )
            self._read_meta()
        except sqlite3.DatabaseError as exc:
            raise HistoryError(f"history {self.path}: {_why(exc)}; running without history") from None
        except (OSError, FileError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise HistoryError(f"history {self.path}: {reason}; running without history") from None

    def _tables(self) -> set[str]:
        assert self._db is not None
        return {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

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

    def _set_meta(self) -> None:
        assert self._db is not None
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        stored = meta.get("dictionary")
        if stored is not None and stored != packing.DICTIONARY_ID:
            self._repack(bytes.fromhex(meta.get("dictionary_bytes", "")))
        with self._db:
            self._db.execute("BEGIN")
            for key, value in (
                ("schema", str(SCHEMA_VERSION)),
                ("dictionary", packing.DICTIONARY_ID),
                ("dictionary_bytes", packing.DICTIONARY.hex()),
            ):
                self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def _read_meta(self) -> None:
        assert self._db is not None
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        if int(meta.get("schema", "0")) > SCHEMA_VERSION:
            raise HistoryError(f"history {self.path}: written by a newer callmon; running without history")
        if meta.get("dictionary") != packing.DICTIONARY_ID:
            self._dictionary = bytes.fromhex(meta.get("dictionary_bytes", ""))  # read-only: unpack with it
        self._read_shapes()
        self._words = {}
        for field, value in self._db.execute("SELECT field, value FROM vocabulary"):
            self._words.setdefault(field, set()).add(value)
        self._open_fields = {field for field, held in self._words.items() if len(held) > VOCABULARY_LIMIT}

    def _read_shapes(self) -> None:
        assert self._db is not None
        self._shape_names = {
            number: tuple(json.loads(names))
            for number, names in self._db.execute("SELECT id, names FROM shapes")
        }
        self._file_shape = {names: number for number, names in self._shape_names.items()}

    def _repack(self, dictionary: bytes) -> None:
        """Payloads packed with another dictionary (another callmon version), packed again with this one."""
        assert self._db is not None
        self._read_shapes()
        rows = self._db.execute("SELECT source, call_id, raw FROM calls WHERE raw IS NOT NULL").fetchall()
        with self._db:
            self._db.execute("BEGIN")
            for source, call_id, raw in rows:
                names = self._shape_names.get(packing.shape_of(raw), ())
                adopted = packing.adopt(raw, names, dictionary)
                self._db.execute(
                    "UPDATE calls SET raw = ? WHERE source = ? AND call_id = ?",
                    (self._file_blob(adopted), source, call_id),
                )

    # -- the older format -------------------------------------------------------------------------------------

    def _migrate_v1(self) -> None:
        """A file from the release before: each call's JSON record and an events table. Read as untrusted
        (from_storage: that release stored secrets a provider echoed in clear), written in this format, the
        old tables dropped, in one transaction."""
        assert self._db is not None
        db = self._db
        timelines: dict[tuple[str, str], list[Any]] = {}
        for source, call_id, at, status, raw_status, via in db.execute(
            "SELECT source, call_id, at, status, raw_status, via FROM events ORDER BY at"
        ):
            timelines.setdefault((source, call_id), []).extend(
                (at, _STATUS.get(status, Status.UNKNOWN), raw_status, via)
            )
        rows = []
        for source, call_id, updated, record in db.execute(
            "SELECT source, call_id, updated, record FROM calls_v1"
        ):
            try:
                call = from_storage(json.loads(record), tuple(timelines.get((source, call_id), ())))
            except (ValueError, KeyError, TypeError):
                continue  # one unreadable row must not cost the rest
            rows.append(self._row(call, updated))
        with db:
            db.execute("BEGIN")
            db.executemany(_INSERT, rows)
            db.execute("DROP TABLE calls_v1")
            db.execute("DROP TABLE events")
        self.migrated = len(rows)

    @property
    def usable(self) -> bool:
        return self._db is not None

    def stats(self) -> Stats:
        return self._submit(self._stats).result()

    def _stats(self) -> Stats:
        assert self._db is not None
        rows, oldest = self._db.execute("SELECT count(*), min(first_seen) FROM calls").fetchone()
        per_source = self._db.execute(
            "SELECT source, count(*) FROM calls GROUP BY source ORDER BY source"
        ).fetchall()
        return Stats(int(rows), oldest if oldest is not None and math.isfinite(oldest) else None, per_source)

    # -- reading back -----------------------------------------------------------------------------------------

    def count(self, sources: Iterable[str] | None = None, since: float = -math.inf) -> int:
        return self.count_future(sources, since=since).result()

    def count_future(self, sources: Iterable[str] | None = None, *, since: float = -math.inf) -> Future[int]:
        return self._submit(self._count, _names(sources), since)

    def _count(self, sources: tuple[str, ...] | None, since: float = -math.inf) -> int:
        assert self._db is not None
        where, args = _where(sources, "first_seen >= ?" if since > -math.inf else None)
        if since > -math.inf:
            args = (*args, since)
        return int(self._db.execute(f"SELECT count(*) FROM calls{_BY_FIRST_SEEN}{where}", args).fetchone()[0])

    def newest(
        self, limit: int, sources: Iterable[str] | None = None, *, since: float = -math.inf
    ) -> list[Call]:
        """Up to `limit` calls first seen since `since`, newest first (blocking: use `read` in a loop)."""
        return self._submit(self._newest, limit, _names(sources), None, since).result()

    async def read(
        self, limit: int, sources: Iterable[str] | None = None, *, since: float = -math.inf
    ) -> list[Call]:
        return await asyncio.wrap_future(
            self._submit(self._newest, limit, _names(sources), None, since)
        )

    def _newest(
        self, limit: int, sources: tuple[str, ...] | None, after: Cursor | None, since: float
    ) -> list[Call]:
        """Newest first, ties in key order, from just past `after` (the last row of a previous read)."""
        assert self._db is not None
        clauses: list[str] = []
        args: list[Any] = []
        if after is not None:
            clauses.append("(first_seen, source, call_id) < (?, ?, ?)")
            args.extend(after)
        if since > -math.inf:
            clauses.append("first_seen >= ?")
            args.append(since)
        where, source_args = _where(sources, " AND ".join(clauses) or None)
        query = f"{_SELECT}{_BY_FIRST_SEEN}{where} ORDER BY first_seen DESC, source DESC, call_id DESC LIMIT ?"
        calls = []
        for row in self._db.execute(query, (*source_args, *args, limit)):
            try:
                calls.append(self._call(row))
            except _UNREADABLE:
                continue  # one unreadable row must not cost the rest
        self._forget_read()
        return calls

    def _forget_read(self) -> None:
        """Let go of the values kept to share while reading (a read's worth): kept for good, 4,096 transcripts'
        text held tens of MB after their calls were gone."""
        self._moments.clear()
        self._transcripts.clear()

    async def stream(
        self,
        sources: Iterable[str] | None = None,
        *,
        after: Call | None = None,
        batch: int = BATCH,
        since: float = -math.inf,
        limit: int | None = None,
    ) -> AsyncIterator[list[Call]]:
        """Every call first seen since `since` (at most `limit`), newest first, a batch at a time (each read on
        the history thread), from just past `after` (the last call of a previous read)."""
        names = _names(sources)
        cursor = None if after is None else _cursor(after)
        left = sys.maxsize if limit is None else limit
        while left > 0:
            size = min(batch, left)
            calls = await asyncio.wrap_future(self._submit(self._newest, size, names, cursor, since))
            if not calls:
                return
            yield calls
            left -= len(calls)
            cursor = _cursor(calls[-1])
            if len(calls) < size:
                return

    async def search(
        self,
        query: Query,
        sources: Iterable[str] | None = None,
        *,
        before: float = math.inf,
        limit: int = 10_000,
        now: float | None = None,
    ) -> Found:
        """The newest calls first seen before `before` (past the window in memory) that the filter matches,
        at most `limit`; read on the history thread, with the database's indexes where the filter allows."""
        at = time.time() if now is None else now
        return await asyncio.wrap_future(
            self._submit(self._search, query, _names(sources), before, limit, at)
        )

    def _search(
        self, query: Query, sources: tuple[str, ...] | None, before: float, limit: int, now: float
    ) -> Found:
        assert self._db is not None
        base: list[tuple[str, list[Any]]] = []
        if before < math.inf:
            base.append(("first_seen < ?", [before]))
        if sources is not None:
            base.append((f"source IN ({', '.join('?' * len(sources))})" if sources else "0", list(sources)))
        plan = search.plan(
            query,
            now,
            lambda field: None if field in self._open_fields else self._words.get(field, set()),
            base,
        )
        found = Found()
        if plan.empty:
            return found
        sql = f"{_SELECT} WHERE {plan.where} ORDER BY first_seen DESC, source DESC, call_id DESC"
        for row in self._db.execute(sql, plan.args):
            found.read += 1
            try:
                call = self._call(row, share=False)  # shown a while, never kept: nothing to save by sharing
            except _UNREADABLE:
                continue
            if query(call, now):
                found.calls.append(call)
                if len(found.calls) >= limit:
                    found.more = True
                    break
            if found.read >= SEARCH_SCAN_LIMIT:
                found.cut_short = True
                break
        self._forget_read()
        return found

    def load_into(self, store: CallStore, sources: Iterable[str] | None = None) -> int:
        """Put every remembered call (of `sources`, if given) back into the store; returns how many."""
        calls = self.newest(sys.maxsize, sources)
        for call in reversed(calls):
            store.load(call)
        return len(calls)

    async def load(self, store: CallStore, sources: Iterable[str] | None = None) -> int:
        """load_into without holding up the event loop while the file is read."""
        calls = await self.read(sys.maxsize, sources)
        for call in reversed(calls):
            store.load(call)
        return len(calls)

    def _call(self, row: Sequence[Any], *, share: bool = True) -> Call:
        """The row as a call; `share`: its values shared with the calls held (for a call the store keeps).

        Shared as it is read, from the row's own values (a time's float, a transcript's JSON text), rather
        than by pools.shared() once the call is built, which reads every field of it again: that was a
        quarter of reading history back."""
        (source, call_id, provider, status, campaign, raw_status, reason, direction, from_, to, started_at,
         answered_at, ended_at, duration_s, billable_s, cost, currency, recording_url, updated_at, transcript,
         details, raw, timeline) = row  # fmt: skip
        events = ownjson.read(timeline)
        del events[len(events) - len(events) % 4 :]
        if not timelines.plausible(events[0::4]):  # NaN, infinity or year 3e12 in a damaged row
            events = []
        events[1::4] = [_STATUS.get(name, Status.UNKNOWN) for name in events[1::4]]
        provider = sys.intern(provider)
        # A time read back lately is found in one step; one not (or none: None is never kept) in the next.
        kept, moment = self._moments.get, self._moment
        return assemble((
            sys.intern(source), provider, call_id, _STATUS.get(status, Status.UNKNOWN), _word(campaign),
            _word(raw_status), _word(reason), _word(direction), from_, to,
            kept(started_at) or moment(started_at), kept(answered_at) or moment(answered_at),
            kept(ended_at) or moment(ended_at), duration_s, billable_s, cost, _word(currency), recording_url,
            kept(updated_at) or moment(updated_at),
            self._transcript(transcript, share) if transcript else (),
            self._details(details, provider, share) if details else (),
            self._process_blob(raw) if raw else packing.EMPTY,
            tuple(events),
        ))  # fmt: skip

    def _moment(self, value: float | None) -> datetime | None:
        """The time, one object for each time read back lately: a call's end is its last update, and a busy
        dialer starts and ends calls in the same seconds (rows come newest first, so repeats are near)."""
        if value is None:
            return None
        kept = self._moments.get(value)
        if kept is None:
            if len(self._moments) >= _KEPT_LIMIT:
                self._moments.clear()
            kept = self._moments[value] = datetime.fromtimestamp(value, UTC)
        return kept

    def _transcript(self, text: str, share: bool) -> tuple[TranscriptLine, ...]:
        """The transcript, one tuple for each text read back lately (a voice agent's calls that went the same
        way have the same one)."""
        lines = self._transcripts.get(text)
        if lines is None:
            lines = tuple(TranscriptLine(role, said) for role, said in ownjson.read(text))
            if share:
                lines = shared_lines(lines)
                if len(self._transcripts) >= _KEPT_LIMIT:
                    self._transcripts.clear()
                self._transcripts[text] = lines
        return lines

    def _details(self, text: str, provider: str, share: bool) -> tuple[tuple[str, str], ...]:
        pairs: tuple[tuple[str, str], ...] = tuple(map(tuple, ownjson.read(text)))
        if not set(map(len, pairs)) <= {2}:
            raise ValueError("a detail that is not a label and a value")
        return shared_details(provider, pairs) if share else pairs

    def _process_blob(self, blob: bytes) -> packing.Packed:
        shape = packing.shape_of(packing.Packed(blob))
        number = self._renumbered.get(shape)
        if number is not None:  # this file's shape is one this process knows, by that number
            return packing.Packed(blob) if number == shape else packing.with_shape(blob, number)
        names = self._shape_names.get(shape, ())
        packed = packing.adopt(blob, names, self._dictionary)
        if names and self._dictionary == packing.DICTIONARY:
            known = packing.known_shape(names)
            if known is not None:
                self._renumbered[shape] = known
        return packed

    # -- writing ----------------------------------------------------------------------------------------------

    async def open_async(self) -> None:
        """open() without holding up the event loop (a migration can take seconds)."""
        await asyncio.wrap_future(self._executor.submit(self._open))

    async def write(self, batch: list[Change]) -> None:
        await asyncio.wrap_future(self._executor.submit(self._write, batch))

    def _write(self, batch: list[Change]) -> None:
        if self._db is None or not batch or self.read_only:
            return
        now = time.time()
        older = self._older_timelines([c for c in batch if c.kind == "new"])
        words = self._new_words(c.call for c in batch)
        try:
            with self._db:
                self._db.execute("BEGIN")
                rows = [self._row(c.call, now, older.get(c.key)) for c in batch]
                self._db.executemany(_INSERT, rows)
                if words:
                    self._db.executemany("INSERT OR IGNORE INTO vocabulary VALUES (?, ?)", words)
        except sqlite3.DatabaseError as exc:
            raise HistoryError(f"history {self.path}: {_why(exc)}") from None

    def _new_words(self, calls: Iterable[Call]) -> list[tuple[str, str]]:
        """Values of the vocabulary fields the file has not kept yet (a field past VOCABULARY_LIMIT is open:
        searches read it row by row)."""
        words = self._words
        new: set[tuple[str, str]] = set()
        for call in calls:
            for field in search.VOCABULARY:
                value = getattr(call, field)
                if (
                    value is not None
                    and field not in self._open_fields
                    and value not in words.setdefault(field, set())
                ):
                    new.add((field, value))
        for field, value in new:
            held = words[field]
            held.add(value)
            if len(held) > VOCABULARY_LIMIT:
                self._open_fields.add(field)
        return [(field, value) for field, value in new if field not in self._open_fields]

    def _older_timelines(self, new: list[Change]) -> dict[tuple[str, str], list[Any]]:
        """For calls new to this process that the file already knows (polled again before their row was read
        back, at start-up): the file's events from before this process saw them, to keep."""
        assert self._db is not None
        found: dict[tuple[str, str], list[Any]] = {}
        for change in new:
            row = self._db.execute(
                "SELECT timeline, first_seen FROM calls WHERE source = ? AND call_id = ?", change.key
            ).fetchone()
            if row is not None and row[1] < change.call.first_seen:
                events = json.loads(row[0])
                found[change.key] = [
                    value for i in range(0, len(events) - 3, 4) if events[i] < change.call.first_seen
                    for value in events[i : i + 4]
                ]  # fmt: skip
        return found

    def _row(self, call: Call, written: float, older: list[Any] | None = None) -> tuple[Any, ...]:
        timeline: list[Any] = list(older or ())
        timeline.extend(value.value if isinstance(value, Status) else value for value in call.timeline)
        return (
            call.source, call.call_id, call.provider, call.status.value, call.campaign, call.raw_status,
            call.reason, call.direction, call.from_, call.to, _epoch(call.started_at), _epoch(call.answered_at),
            _epoch(call.ended_at), call.duration_s, call.billable_s, call.cost, call.currency, call.recording_url,
            _epoch(call.updated_at),
            json.dumps([[t.role, t.text] for t in call.transcript], ensure_ascii=False) if call.transcript else None,
            json.dumps([list(d) for d in call.details], ensure_ascii=False) if call.details else None,
            self._file_blob(packing.pack(call.raw)) if call.raw else None,
            json.dumps(timeline, ensure_ascii=False),
            timeline[0] if timeline else call.first_seen,  # -inf with no timeline, as Call.first_seen says
            written,
        )  # fmt: skip

    def _file_blob(self, packed: packing.Packed) -> bytes:
        """A packed payload as this file numbers its shape (new shapes are added to the file)."""
        shape = packing.shape_of(packed)
        if not shape:
            return bytes(packed)
        names = packing.shape_names(shape)
        number = self._file_shape.get(names)
        if number is None:
            assert self._db is not None
            cursor = self._db.execute("INSERT INTO shapes (names) VALUES (?)", (json.dumps(list(names)),))
            number = int(cursor.lastrowid or 0)
            self._file_shape[names] = number
            self._shape_names[number] = names
        return bytes(packing.with_shape(packed, number))

    # -- retention --------------------------------------------------------------------------------------------

    def prune_now(self) -> int:
        """Delete the calls past retention_days now (blocking); how many went."""
        total = 0
        while (deleted := self._submit(self._prune_batch).result()) > 0:
            total += deleted
        self.pruned += total
        return total

    async def prune(self) -> int:
        """prune_now off the event loop, a bounded batch per transaction: writes go on between batches."""
        total = 0
        while (deleted := await asyncio.wrap_future(self._submit(self._prune_batch))) > 0:
            total += deleted
        self.pruned += total
        return total

    def _prune_batch(self) -> int:
        if self._db is None or self.read_only:
            return 0
        cutoff = time.time() - self.retention_days * 86400
        with self._db:
            self._db.execute("BEGIN")
            cursor = self._db.execute(
                "DELETE FROM calls WHERE rowid IN (SELECT rowid FROM calls WHERE written < ? LIMIT ?)",
                (cutoff, PRUNE_BATCH),
            )
        return max(0, cursor.rowcount)

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


Cursor = tuple[float, str, str]


@dataclass
class Stats:
    rows: int
    oldest: float | None  # first seen, epoch seconds
    per_source: list[tuple[str, int]]


@dataclass
class Found:
    """What a search of history found."""

    calls: list[Call] = dataclasses.field(default_factory=list)
    read: int = 0  # rows read to find them
    more: bool = False  # it stopped at its limit: there may be more
    cut_short: bool = False  # it stopped at SEARCH_SCAN_LIMIT rows read


def _cursor(call: Call) -> Cursor:
    return (call.first_seen, call.source, call.call_id)


def _names(sources: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if sources is None else tuple(sources)


def _where(sources: tuple[str, ...] | None, extra: str | None = None) -> tuple[str, tuple[Any, ...]]:
    clauses = []
    args: tuple[Any, ...] = ()
    if sources is not None:
        clauses.append(f"source IN ({', '.join('?' * len(sources))})" if sources else "0")
        args = sources
    if extra:
        clauses.append(extra)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def _why(exc: sqlite3.DatabaseError) -> str:
    text = str(exc)
    if "locked" in text:
        return "the database is locked by another process"
    if any(sign in text for sign in ("not a database", "malformed", "corrupt", "decode")):
        return "the file is not a readable database (corrupt?)"
    return cut(clean(text), 200)  # SQLite's message can quote what it read: one bounded, printable line
