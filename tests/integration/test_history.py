"""History keeps what the store saw: every status change, at the time the store saw it."""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from callmon.history import History
from callmon.model import Call, Status, TranscriptLine
from callmon.store import CallStore
from callmon.view import CallView
from tests.unit.test_view import T0, _ticking, random_call


def test_changes_folded_into_one_tick_are_all_written_at_the_times_seen(tmp_path: Path) -> None:
    now = [100.0]

    def clock() -> float:
        now[0] += 0.25
        return now[0]

    store = CallStore(clock=clock)
    call = Call(source="a", provider="vobiz", call_id="1", status=Status.QUEUED, raw_status="queued")
    store.apply(call)
    store.apply(replace(call, status=Status.RINGING, raw_status="ringing"))
    store.apply(replace(call, status=Status.IN_PROGRESS, raw_status="answered"), via="push")
    first = store.take()
    assert [c.new_events for c in first] == [3]
    store.apply(replace(call, status=Status.COMPLETED, raw_status="completed", duration_s=30))
    store.apply(replace(call, status=Status.COMPLETED, raw_status="completed", duration_s=31))  # no new event
    second = store.take()
    assert [c.new_events for c in second] == [1]

    history = History(tmp_path / "h.sqlite3")
    history.open()
    try:
        asyncio.run(history.write(first))
        asyncio.run(history.write(second))
        fresh = CallStore()
        history.load_into(fresh)
    finally:
        history.close()
    assert fresh.timeline(call.key) == store.timeline(call.key)
    assert [e.at for e in fresh.timeline(call.key)] == [100.25, 100.5, 100.75, 101.0]
    assert [e.via for e in fresh.timeline(call.key)] == ["poll", "poll", "push", "poll"]
    assert fresh.calls[call.key].first_seen == 100.25  # ties sort in arrival order after a restart too


def test_history_gives_calls_back_in_the_order_they_were_first_seen(tmp_path: Path) -> None:
    """Reloaded, the calls are held as they were before the restart, so the first sort needs no re-order;
    a call whose timeline was lost counts as seen first, as Call.first_seen says."""
    rng = random.Random(8)
    store = CallStore(clock=_ticking())
    for i in rng.sample(range(200), 200):
        store.apply(random_call(rng, i))
    history = History(tmp_path / "h.sqlite3")
    history.open()
    try:
        asyncio.run(history.write(store.take()))
        lost = list(store.calls)[57]
        assert history._db is not None
        history._db.execute(
            "UPDATE calls SET timeline = '[]', first_seen = ? WHERE source = ? AND call_id = ?", (-math.inf, *lost)
        )
        fresh = CallStore()
        assert history.load_into(fresh) == len(store.calls)
    finally:
        history.close()
    assert list(fresh.calls) == [lost, *(key for key in store.calls if key != lost)]
    assert fresh.calls[lost].first_seen == -math.inf
    view = CallView(fresh.calls)
    assert view._in_order and list(view.calls) == list(fresh.calls)


def test_calls_read_back_share_their_repeated_values(tmp_path: Path) -> None:
    """A campaign, a time that is both a call's end and its last update, a transcript two calls had: one
    object each among the calls read back, equal to what was written."""
    end = T0 + timedelta(seconds=90)
    said = (TranscriptLine("agent", "Hello, this is Acme"), TranscriptLine("callee", "Not now"))
    store = CallStore(clock=_ticking())
    for i in range(2):
        store.apply(
            Call(
                source="acme",
                provider="velip",
                call_id=f"c{i}",
                status=Status.COMPLETED,
                campaign="".join(["renew", "als"]),  # built, so not the same object as any literal
                started_at=T0,
                ended_at=end,
                updated_at=end,
                transcript=tuple(TranscriptLine(line.role, line.text + "") for line in said),
                details=(("codec", "PCMU"), ("MOS", f"4.{i}")),
            )
        )
    written = dict(store.calls)
    history = History(tmp_path / "h.sqlite3")
    history.open()
    try:
        asyncio.run(history.write(store.take()))
        first, second = reversed(history.newest(10))
    finally:
        history.close()
    for call in (first, second):
        assert call == written[call.key]
        assert call.ended_at is call.updated_at
    assert first.campaign is second.campaign
    assert first.started_at is second.started_at
    assert first.transcript is second.transcript
    assert first.details[0] is second.details[0]


def test_what_a_read_kept_to_share_is_let_go_with_its_calls(tmp_path: Path) -> None:
    """Transcripts read back are shared while they are read, not kept after: 2,000 calls of 40 long lines each,
    read and dropped, leave the History holding next to nothing (it held 41 MB)."""
    import gc
    import tracemalloc

    store = CallStore()
    for i in range(2000):
        lines = tuple(TranscriptLine("agent", f"call {i} line {j} " + "x" * 150) for j in range(40))
        store.apply(Call("s", "vobiz", f"c{i}", Status.COMPLETED, started_at=T0, transcript=lines))
    history = History(tmp_path / "h.sqlite3")
    history.open()
    try:
        asyncio.run(history.write(store.take()))
        del store
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            calls = history.newest(10_000)
            assert len(calls) == 2000
            del calls
            gc.collect()
            kept = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    finally:
        history.close()
    assert kept < 2_000_000, f"{kept / 1e6:.1f} MB held after the calls are gone"


FIXTURE = Path(__file__).parents[1] / "data" / "history-v1.sqlite3"  # written by the release before (2f44f47)


def test_a_file_from_the_release_before_is_migrated_secrets_masked(tmp_path: Path) -> None:
    import shutil

    from callmon import redact

    path = tmp_path / "history.sqlite3"
    shutil.copy(FIXTURE, path)
    redact.register("sk_live_fixture_secret_0001")
    try:
        history = History(path, retention_days=36500)
        history.open()
        assert history.migrated == 61 and history.count() == 61
        store = CallStore()
        assert history.load_into(store) == 61
        history.close()
        leaky = store.calls[("acme-vobiz", "leaky-1")]
        # That release stored a key a provider echoed in clear; the migrated file holds it masked.
        assert "sk_live" not in (leaky.reason or "") and "sk_live" not in str(leaky.payload())
        assert [e.status for e in store.timeline(leaky.key)] == [Status.FAILED, Status.COMPLETED]
        assert b"sk_live_fixture_secret_0001" not in path.read_bytes()
        assert all(store.timeline(key) for key in store.calls)
        # Opened again: already this version's format, nothing to migrate, the same calls.
        again = History(path, retention_days=36500)
        again.open()
        assert again.migrated == 0 and again.count() == 61
        again.close()
    finally:
        redact.forget_all()


def test_payload_shapes_are_renumbered_for_the_process_that_reads_them(tmp_path: Path) -> None:
    """A packed payload names its shape by the writing process's number; another process numbers its shapes
    in the order it meets them. Written by one process, read by a second that met other shapes first."""
    import subprocess
    import sys
    import textwrap

    path = tmp_path / "h.sqlite3"
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from callmon.history import History
        from callmon.model import Call, Status, TranscriptLine
        from callmon.packing import pack
        from callmon.store import CallStore
        for i in range(int(sys.argv[1])):
            pack({{f"other_shape_{{i}}": 1}})  # this process met other shapes first
        history = History(__import__("pathlib").Path({str(path)!r}), retention_days=36500)
        history.open()
        store = CallStore()
        if sys.argv[2] == "write":
            store.apply(Call("a", "vobiz", "c1", Status.COMPLETED, raw={{"uuid": "c1", "billsec": 7}}))
            store.apply(Call("a", "vobiz", "c2", Status.FAILED, raw={{"cd_id": "c2", "dur": 0}}))
            store.apply(Call("a", "vobiz", "c3", Status.COMPLETED, raw={{"uuid": "c3", "billsec": 9}}))
            asyncio.run(history.write(store.take()))
        else:
            history.load_into(store)
            print(*(store.calls[("a", c)].payload() for c in ("c1", "c2", "c3")))
        history.close()
        """
    )
    subprocess.run([sys.executable, "-c", script, "0", "write"], check=True)
    for others in ("5", "0"):  # a number of its own for each shape; the same numbers as the writer's
        out = subprocess.run([sys.executable, "-c", script, others, "read"], check=True, capture_output=True, text=True)
        assert out.stdout.strip() == (
            "{'uuid': 'c1', 'billsec': 7} {'cd_id': 'c2', 'dur': 0} {'uuid': 'c3', 'billsec': 9}"
        )


def test_a_second_process_reads_the_file_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    first = History(path)
    first.open()
    store = CallStore()
    store.apply(Call("a", "vobiz", "c1", Status.RINGING))
    asyncio.run(first.write(store.take()))
    second = History(path)
    second.open()
    try:
        assert second.read_only and second.shared_with is not None
        store.apply(Call("a", "vobiz", "c1", Status.COMPLETED))
        asyncio.run(second.write(store.take()))  # nothing: the first process writes this file
        fresh = CallStore()
        second.load_into(fresh)
        assert fresh.calls[("a", "c1")].status is Status.RINGING
    finally:
        second.close()
        first.close()


async def test_a_running_session_takes_in_the_rest_of_history_newest_first(tmp_path: Path) -> None:
    """Start-up: the newest calls before the first frame, the rest in batches while the session runs; a call
    polled again before its row was read back keeps its earlier status changes (in memory and on disk)."""
    from callmon import runtime
    from callmon.runtime import live_session

    path = tmp_path / "h.sqlite3"
    store = CallStore(clock=_ticking(1000.0))
    for i in range(2_500):
        store.apply(Call("a", "vobiz", f"c{i:05d}", Status.RINGING))
        store.apply(Call("a", "vobiz", f"c{i:05d}", Status.IN_PROGRESS))
    history = History(path)
    history.open()
    await history.write(store.take())
    history.close()
    runtime.FIRST_SCREENS, first_screens = 100, runtime.FIRST_SCREENS
    seen: list[str] = []
    try:
        from callmon.providers import Source

        dead = Source("a", "vobiz", {"auth_id": "MA_X"}, base_url="http://127.0.0.1:9")
        async with live_session([(dead, {"auth_token": "t"})], history_path=path) as session:
            assert len(session.store) == 100, "the newest, before anything else"
            assert min(c.call_id for c in session.store.calls.values()) == "c02400"
            # c00000 is polled again (completed) before its row is read back.
            session.store.apply(Call("a", "vobiz", "c00000", Status.COMPLETED))
            session.store.subscribe(lambda batch: seen.extend(c.kind for c in batch))
            from callmon.engine import Engine

            assert isinstance(session.engine, Engine)
            await session.engine.tick()
            for _ in range(1000):
                if session.loading.finished:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            assert len(session.store) == 2_500
            assert [e.status for e in session.store.timeline(("a", "c00000"))] == [
                Status.RINGING, Status.IN_PROGRESS, Status.COMPLETED,
            ]  # fmt: skip
    finally:
        runtime.FIRST_SCREENS = first_screens
    assert seen.count("loaded") >= 2_399 and "new" in seen
    again = History(path)
    again.open()
    fresh = CallStore()
    again.load_into(fresh)
    again.close()
    assert [e.status for e in fresh.timeline(("a", "c00000"))] == [
        Status.RINGING, Status.IN_PROGRESS, Status.COMPLETED,
    ], "the file kept the earlier changes too"  # fmt: skip


_LOADER = r"""
import asyncio, sys
from pathlib import Path
from callmon import history as history_module, runtime
from callmon.providers import Source
from callmon.runtime import live_session

# Many small batches, so that a kill lands in the middle of the load.
history_module.History.stream.__kwdefaults__["batch"] = 500
runtime.FIRST_SCREENS = 100

async def main() -> None:
    dead = Source("a", "vobiz", {"auth_id": "MA_X"}, base_url="http://127.0.0.1:9")
    async with live_session([(dead, {"auth_token": "t"})], history_path=Path(sys.argv[1])) as session:
        while session.loading.done < 1_000:
            await asyncio.sleep(0)
        print("loading", session.loading.done, session.loading.total, flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


def test_kill_9_during_the_background_load_loses_nothing(tmp_path: Path) -> None:
    """The rest of history is read back while the monitor runs; a process killed with -9 in the middle of it
    leaves the file whole: every call and every status change, readable by the next start."""
    import os
    import subprocess
    import sys

    path = tmp_path / "h.sqlite3"
    store = CallStore(clock=_ticking(1000.0))
    for i in range(6_000):
        store.apply(Call("a", "vobiz", f"c{i:05d}", Status.RINGING))
        store.apply(Call("a", "vobiz", f"c{i:05d}", Status.COMPLETED if i % 2 else Status.IN_PROGRESS))
    history = History(path)
    history.open()
    asyncio.run(history.write(store.take()))
    history.close()
    before = {k: [e.status for e in store.timeline(k)] for k in store.calls}

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    child = subprocess.Popen(
        [sys.executable, "-c", _LOADER, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.startswith("loading"), child.stderr.read() if child.stderr else line
        done, total = map(int, line.split()[1:])
        assert 1_000 <= done < total == 6_000, "killed in the middle of the load"
        child.kill()  # SIGKILL: no cleanup of any kind
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    again = History(path)
    again.open()
    try:
        assert not again.read_only, "the dead process's writer lock went with it"
        fresh = CallStore()
        assert again.load_into(fresh) == 6_000
        assert {k: [e.status for e in fresh.timeline(k)] for k in fresh.calls} == before
    finally:
        again.close()
