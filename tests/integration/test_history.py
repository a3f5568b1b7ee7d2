"""History keeps what the store saw: every status change, at the time the store saw it."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from callmon.history import History
from callmon.model import Call, Status
from callmon.store import CallStore


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
