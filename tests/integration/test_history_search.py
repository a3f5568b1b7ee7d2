"""A filter over history, past the window in memory: the same answer as the filter over every call, found
with the database's indexes; the monitor shows what it finds and says where it came from; the window lets
old calls go; `callmon history` and `watch --once --since`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from callmon.cli import main
from callmon.engine import Engine
from callmon.history import History
from callmon.model import Call, Status
from callmon.query import compile_query
from callmon.store import CallStore
from callmon.window import Window
from tests.unit.test_query import NOW, T, queries

SOURCES = ("acme-vobiz", "bot", "ops")


def old_calls(n: int, seed: int = 5) -> list[Call]:
    """Calls of the last days with every field the filter reads, first seen in order."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        started = NOW - timedelta(seconds=rng.randint(0, 7 * 86400))
        status = rng.choice(list(Status))
        call = Call(
            source=rng.choice(SOURCES),
            provider=rng.choice(("vobiz", "velip", "dialgen")),
            call_id=f"c{i:05d}",
            status=status,
            campaign=rng.choice((None, "Renewals", "Winback", "batch_9")),
            raw_status=rng.choice((None, "NORMAL_CLEARING", "USER_BUSY")),
            reason=rng.choice((None, "busy here", "normal")),
            direction=rng.choice((None, "outbound", "inbound")),
            to=rng.choice((None, "+919812345678", "+15550001111", "+5511999990000")),
            started_at=started,
            answered_at=started + timedelta(seconds=5) if rng.random() < 0.5 else None,
            duration_s=rng.choice((None, rng.randint(0, 300))),
            billable_s=rng.choice((None, rng.randint(0, 300))),
            cost=rng.choice((None, 0.0, 0.45, 1.0)),
            timeline=(started.timestamp(), status, None, "poll"),
        )
        out.append(call)
    return out


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[History, list[Call]]:
    from callmon.store import Change

    path = tmp_path_factory.mktemp("h") / "history.sqlite3"
    calls = old_calls(600)
    h = History(path, retention_days=36500)
    h.open()
    asyncio.run(h.write([Change(c.key, c, None, "new", "poll") for c in calls]))
    return h, calls


def newest_first(calls: list[Call]) -> list[tuple[str, str]]:
    return [c.key for c in sorted(calls, key=lambda c: (c.first_seen, c.source, c.call_id), reverse=True)]


@settings(max_examples=80, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(queries)
def test_a_search_of_history_is_the_filter_over_every_call(history: tuple[History, list[Call]], text: str) -> None:
    h, calls = history
    query = compile_query(text)
    found = asyncio.run(h.search(query, now=T))
    assert [c.key for c in found.calls] == newest_first([c for c in calls if query(c, T)])


@pytest.mark.parametrize(
    "text",
    ["campaign:renew", "source:bot status:failed", "-campaign:renew", "provider:velip dur>100", "age>3d",
     "cost>=0.45 -source:ops", "campaign:nothing-like-it", "is:active", "to:+91*"],
)  # fmt: skip
def test_search_bounds_and_sources(history: tuple[History, list[Call]], text: str) -> None:
    h, calls = history
    query = compile_query(text)
    cutoff = sorted(c.first_seen for c in calls)[300]
    found = asyncio.run(h.search(query, ["bot", "ops"], before=cutoff, limit=20, now=T))
    expected = newest_first([c for c in calls if query(c, T) and c.source in ("bot", "ops") and c.first_seen < cutoff])
    assert [c.key for c in found.calls] == expected[:20]
    assert found.more == (len(expected) > 20)


def test_a_filter_on_a_campaign_history_never_held_reads_nothing(history: tuple[History, list[Call]]) -> None:
    h, _ = history
    found = asyncio.run(h.search(compile_query("campaign:Renewals-W47"), now=T))
    assert found.calls == [] and found.read == 0, "the vocabulary says so without reading a row"


async def test_the_window_lets_old_calls_go_and_keeps_live_ones() -> None:
    store = CallStore()
    t0 = 1_000_000.0
    for i in range(5_000):
        status = Status.IN_PROGRESS if i % 1000 == 0 else Status.COMPLETED
        store.apply(Call("s", "vobiz", f"c{i:05d}", status).with_changes(timeline=()), "poll")
    store.take()
    # first seen one per second
    for i, key in enumerate(list(store.calls)):
        store.calls[key] = store.calls[key].with_changes(timeline=(t0 + i, store.calls[key].status, None, "poll"))
    seen: list[str] = []
    store.subscribe(lambda batch: seen.extend(c.kind for c in batch))
    engine = Engine(store, None, window=Window(last=2_000))  # type: ignore[arg-type]
    while await engine.evict_some(now=t0 + 10_000):
        pass
    left = sorted(store.calls)
    assert len(left) == 2_000 + 3, "the newest 2,000, and the live calls older than them"
    assert all(store.calls[k].status.active for k in left if int(k[1][1:]) < 3_000)
    assert seen.count("evicted") == 5_000 - len(left)


def test_history_command_says_size_rows_and_oldest_and_prunes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from callmon.history import default_path
    from callmon.store import Change

    config = tmp_path / "c.toml"
    config.write_text("retention_days = 3\n")
    h = History(default_path(), retention_days=36500)
    h.open()
    calls = old_calls(50)
    asyncio.run(h.write([Change(c.key, c, None, "new", "poll") for c in calls]))
    assert h._db is not None
    # Half of them were written 5 days ago.
    h._db.execute("UPDATE calls SET written = ? WHERE rowid % 2 = 0", (time.time() - 5 * 86400,))
    h.close()
    assert main(["history", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "calls:   50" in out and "MiB" in out and "oldest:" in out
    assert main(["history", "prune", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "pruned 25 calls older than 3 days; 25 left" in out
    assert main(["history", "prune", "--older-than", "nope", "--config", str(config)]) == 2
    assert "'nope' is not a span of time" in capsys.readouterr().err


def test_watch_once_since_adds_what_history_holds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from callmon.history import default_path
    from callmon.store import Change

    now = datetime.now(UTC)
    recent = Call("acme-x", "vobiz", "recent-1", Status.COMPLETED, campaign="Renewals",
                  timeline=((now - timedelta(hours=2)).timestamp(), Status.COMPLETED, None, "poll"))  # fmt: skip
    old = Call("acme-x", "vobiz", "old-1", Status.FAILED, campaign="Renewals",
               timeline=((now - timedelta(days=3)).timestamp(), Status.FAILED, None, "poll"))  # fmt: skip
    h = History(default_path(), retention_days=36500)
    h.open()
    asyncio.run(h.write([Change(c.key, c, None, "new", "poll") for c in (recent, old)]))
    h.close()
    config = tmp_path / "c.toml"
    config.write_text(
        '[[sources]]\nname = "acme-x"\nprovider = "vobiz"\nauth_id = "MA_X"\nbase_url = "http://127.0.0.1:9"\n'
        "timeout = 1\n"
    )
    import os

    os.environ["CALLMON_ACME_X_AUTH_TOKEN"] = "token-for-the-test"
    try:
        main(["watch", "--once", "--since", "1d", "--format", "json", "--config", str(config)])
        printed = {r["call_id"] for r in json.loads(capsys.readouterr().out)}
        assert printed == {"recent-1"}
        main(["watch", "--once", "--since", "4d", "--filter", "status:failed", "--format", "json",
              "--config", str(config)])  # fmt: skip
        assert {r["call_id"] for r in json.loads(capsys.readouterr().out)} == {"old-1"}
    finally:
        del os.environ["CALLMON_ACME_X_AUTH_TOKEN"]


async def test_the_monitor_finds_last_weeks_campaign_in_history(tmp_path: Path) -> None:
    """Past the window (today): a filter brings the old calls in from history, and the header says so."""
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager

    from callmon.demo import make_demo
    from callmon.runtime import Session, live_session
    from callmon.store import Change
    from callmon.tui.app import CallmonApp
    from tests.tui_helpers import rows, text_of, wait_until

    path = tmp_path / "history.sqlite3"
    week_ago = datetime.now(UTC) - timedelta(days=6)
    old = [
        Call("sim-vobiz", "vobiz", f"old-{i}", Status.COMPLETED, campaign="vz-last-week", to="+919800000000",
             started_at=week_ago, timeline=(week_ago.timestamp() + i, Status.COMPLETED, None, "poll"))
        for i in range(40)
    ]  # fmt: skip
    h = History(path, retention_days=36500)
    h.open()
    await h.write([Change(c.key, c, None, "new", "poll") for c in old])
    h.close()
    world = make_demo(calls=40)
    pairs = [(s, world.secrets[s.name]) for s in world.sources]

    def opener(notice: Callable[[str], None]) -> AbstractAsyncContextManager[Session]:
        return live_session(pairs, transport=world.transport(), history_path=path, retention_days=36500,
                            window=Window(), on_notice=notice)  # fmt: skip

    app = CallmonApp(opener)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_until(pilot, lambda: app.session is not None and len(app.session.store) > 10, 15)
        session = app.session
        assert session is not None
        assert not any(k[1].startswith("old-") for k in session.store.calls), "last week stays on disk"
        await pilot.press("slash", *"campaign:last-week", "enter")
        await wait_until(pilot, lambda: len(app.monitor.view) == 40, 10)
        app.monitor.show_health()
        assert "40 from history" in text_of(app.query_one("#health"))
        assert all("vz-last-week" in r for r in rows(app))
        assert not any(k[1].startswith("old-") for k in session.store.calls), "shown, not kept"
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert not any(k[1].startswith("old-") for k in app.monitor.view.calls)


def test_the_newest_calls_are_read_by_their_index_not_by_a_scan(history: tuple[History, list[Call]]) -> None:
    """Reading back the newest calls must not walk every row (at 7M rows a scan took 7 s a read)."""
    import sqlite3

    h, _calls = history
    db = sqlite3.connect(h.path)
    try:
        names = tuple(SOURCES)
        marks = ", ".join("?" * len(names))
        for sql, args in (
            (f"SELECT count(*) FROM calls INDEXED BY calls_first_seen WHERE source IN ({marks}) AND first_seen >= ?",
             (*names, 0.0)),
            (f"SELECT * FROM calls INDEXED BY calls_first_seen WHERE source IN ({marks}) "
             "ORDER BY first_seen DESC, source DESC, call_id DESC LIMIT 5", names),
        ):  # fmt: skip
            plan = " ".join(row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, args))
            assert "calls_first_seen" in plan and "TEMP B-TREE" not in plan, plan
    finally:
        db.close()
    # The same statements as History runs them: its reads name the index.
    source = Path(__file__).parents[2].joinpath("callmon", "history.py").read_text()
    assert source.count("{_BY_FIRST_SEEN}") == 2


def test_a_file_damaged_past_its_schema_opens_and_its_reads_say_so(tmp_path: Path) -> None:
    from callmon.history import HistoryError
    from callmon.store import Change

    path = tmp_path / "history.sqlite3"
    h = History(path, retention_days=36500)
    h.open()
    calls = old_calls(3000)
    asyncio.run(h.write([Change(c.key, c, None, "new", "poll") for c in calls]))
    h.close()
    data = bytearray(path.read_bytes())
    half = len(data) // 2 // 4096 * 4096
    data[half:] = b"\xa5" * (len(data) - half)  # the schema survives (page 1), the newer rows do not
    path.write_bytes(bytes(data))
    damaged = History(path, retention_days=36500)
    try:
        try:
            damaged.open()  # cheap: the schema only (start-up must not read a 5 GB file through)
            with pytest.raises(HistoryError) as info:
                damaged.newest(5000)
            with pytest.raises(HistoryError):
                damaged.count()
        except HistoryError as exc:  # what it met when opening was damaged: as good, if it says so
            info = pytest.ExceptionInfo.from_exception(exc)
        line = str(info.value)
        assert line.startswith(f"history {path}: ") and line.isprintable() and len(line) < 400, line
    finally:
        damaged.close()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("details", '[["codec", "PCMU", "extra"]]'),  # not label/value pairs: the details pane would fail
        ("details", '[["codec", "PCMU"]] trailing'),
        ("timeline", '[1.0, "ringing", null, "poll"]]'),
        ("transcript", "[[1, 2]"),
        ("started_at", 1e20),  # past any date a platform can hold
        ("ended_at", float("inf")),
        ("details", "[" * 5000 + "]" * 5000),  # past the JSON parser's depth
    ],
    ids=["triples", "trailing", "extra-bracket", "unclosed", "year-3e12", "inf", "deep"],
)
def test_one_damaged_row_is_skipped_and_every_other_row_read(tmp_path: Path, column: str, value: object) -> None:
    with damaged_row(tmp_path, 20, "c00007", column, value) as (h, calls):
        read = h.newest(100)
        assert sorted(c.call_id for c in read) == sorted(c.call_id for c in calls if c.call_id != "c00007")


@contextlib.contextmanager
def damaged_row(
    tmp_path: Path, count: int, call_id: str, column: str, value: object
) -> Iterator[tuple[History, list[Call]]]:
    """A history of `count` old calls, one row's `column` then overwritten with `value`."""
    from callmon.store import Change

    h = History(tmp_path / "history.sqlite3", retention_days=36500)
    h.open()
    try:
        calls = old_calls(count)
        asyncio.run(h.write([Change(c.key, c, None, "new", "poll") for c in calls]))
        assert h._db is not None
        h._db.execute(f"UPDATE calls SET {column} = ? WHERE call_id = ?", (value, call_id))
        yield h, calls
    finally:
        h.close()


@pytest.mark.parametrize(
    "timeline",
    [
        '[NaN, "ringing", null, "poll"]',
        '[1.0, "ringing", null, "poll", Infinity, "completed", null, "poll"]',
        '[1e17, "ringing", null, "poll"]',  # past the platform's time functions: the detail screen raised OSError
    ],
)
def test_a_row_whose_times_are_not_numbers_comes_back_without_its_timeline(tmp_path: Path, timeline: str) -> None:
    """A first-seen time of NaN would hold the window's edge for good (no comparison moves it): such a row's
    status changes are dropped, the call itself kept."""
    with damaged_row(tmp_path, 5, "c00002", "timeline", timeline) as (h, calls):
        read = {c.call_id: c for c in h.newest(100)}
    assert sorted(read) == sorted(c.call_id for c in calls)
    assert read["c00002"].timeline == () and read["c00002"].first_seen == float("-inf")
    store = CallStore()
    for call in read.values():
        store.load(call)
    assert store.oldest() == float("-inf")


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=12,
)
_CELL = (
    st.builds(json.dumps, _JSONISH)
    | st.text(max_size=30)
    | st.floats()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.binary(max_size=12)
    | st.none()
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["details", "transcript", "timeline", "started_at", "updated_at", "campaign"]), _CELL)
@example("started_at", 6.77680361916768e16)  # past the platform's time functions: OSError, not ValueError
def test_whatever_a_row_holds_it_is_read_back_as_a_call_or_skipped(tmp_path: Path, column: str, value: object) -> None:
    """A hostile or damaged value in any column a call is read from: the read never raises, every other row
    comes back, and the damaged one comes back (twice: the second read meets what the first kept to share) with
    values of the record's own types, or not at all."""
    from callmon.model import TranscriptLine

    # The schema itself refuses a timeline of NULL (SQLite stores NaN as NULL).
    assume(not (column == "timeline" and (value is None or (isinstance(value, float) and math.isnan(value)))))
    with damaged_row(tmp_path, 6, "c00003", column, value) as (h, calls):
        for _ in range(2):
            read = {c.call_id: c for c in h.newest(100)}
            assert set(read) - {"c00003"} == {c.call_id for c in calls} - {"c00003"}
            call = read.get("c00003")
            if call is None:
                continue
            assert all(len(pair) == 2 for pair in call.details)
            assert all(type(line) is TranscriptLine for line in call.transcript)
            assert call.started_at is None or isinstance(call.started_at, datetime)
            assert call.updated_at is None or isinstance(call.updated_at, datetime)
            assert len(call.timeline) % 4 == 0 and all(0 <= at < 7258118400 for at in call.timeline[0::4])
            assert call.status in Status
