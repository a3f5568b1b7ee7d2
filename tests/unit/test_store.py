"""The store: merging updates, dropping no-ops and stale ones, timelines, and batches folded per tick."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callmon.model import Call, Status
from callmon.store import CallStore


def test_store_merges_drops_noops_and_stale_updates_and_coalesces() -> None:
    store = CallStore()
    batches: list[list[object]] = []
    store.subscribe(lambda b: batches.append(list(b)))
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    base = Call("s", "vobiz", "c1", Status.RINGING, to="+1", updated_at=t0)
    assert store.apply(base) is not None
    assert store.apply(base) is None and store.stats.dropped_noop == 1
    live = base.with_changes(status=Status.IN_PROGRESS, to=None, updated_at=t0 + timedelta(seconds=5))
    store.apply(live)
    assert store.calls[("s", "c1")].to == "+1", "a field the update does not carry is kept"
    ended = live.with_changes(status=Status.COMPLETED, cost=0.45, updated_at=t0 + timedelta(seconds=60))
    store.apply(ended)
    assert store.apply(live) is None and store.stats.dropped_stale == 1, "an older update never wins"
    batch = store.flush()
    assert len(batch) == 1 and batch[0].kind == "new" and batch[0].call.status is Status.COMPLETED
    assert [e.status for e in store.timeline(("s", "c1"))] == [
        Status.RINGING,
        Status.IN_PROGRESS,
        Status.COMPLETED,
    ]
    assert store.flush() == [] and len(batches) == 1


def test_the_store_keeps_each_calls_status_timeline() -> None:
    ticks = iter(range(100))
    store = CallStore(clock=lambda: float(next(ticks)))
    call = Call(source="s", provider="vobiz", call_id="c1", status=Status.RINGING, raw_status="ringing")
    store.apply(call)
    store.apply(call.with_changes(reason="same status: no new event"))
    store.apply(call.with_changes(status=Status.COMPLETED, raw_status="NORMAL_CLEARING"), via="push")
    assert [tuple(e) for e in store.timeline(("s", "c1"))] == [
        (0.0, Status.RINGING, "ringing", "poll"),
        (1.0, Status.COMPLETED, "NORMAL_CLEARING", "push"),
    ]
    assert store.via(("s", "c1")) == "push"
    assert store.timeline(("s", "nope")) == () and store.via(("s", "nope")) is None


def test_held_batches_fold_as_one_tick_does() -> None:
    """The monitor folds the batches it holds while its display is paused with Change.then, as the store
    folds a tick's changes: a call that ended, then got its CDR a batch later, still shows as ended."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    ringing = Call("s", "vobiz", "c1", Status.RINGING, updated_at=t0)
    ended = ringing.with_changes(status=Status.COMPLETED, updated_at=t0 + timedelta(seconds=60))
    cdr = ended.with_changes(cost=0.45, updated_at=t0 + timedelta(seconds=65))
    one_tick = CallStore()
    one_tick.apply(ringing)
    one_tick.take()
    one_tick.apply(ended)
    one_tick.apply(cdr)
    [folded] = one_tick.take()
    batches = CallStore()
    batches.apply(ringing)
    batches.take()
    held = []
    for call in (ended, cdr):
        batches.apply(call)
        held.extend(batches.take())
    assert [c.kind for c in held] == ["ended", "changed"]
    assert held[0].then(held[1]) == folded
    assert folded.kind == "ended" and folded.previous is Status.RINGING and folded.new_events == 1


def test_equal_times_of_the_calls_kept_are_one_object_in_the_same_zone_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from zoneinfo import ZoneInfo

    from callmon import pools

    monkeypatch.setattr(pools, "_MOMENT_LIMIT", 64)

    store = CallStore()
    at = datetime(2026, 11, 30, 12, 0, 5, tzinfo=UTC)
    store.apply(Call("s", "vobiz", "a", Status.COMPLETED, started_at=at, ended_at=at + timedelta(seconds=30)))
    # The same instants, each a new object: one dialed the same second, its update the moment it ended.
    again = datetime.fromtimestamp(at.timestamp(), UTC)
    end = at + timedelta(seconds=30)
    store.apply(Call("s", "vobiz", "b", Status.COMPLETED, started_at=again, ended_at=end, updated_at=end))
    a, b = store.calls[("s", "a")], store.calls[("s", "b")]
    assert b.started_at is a.started_at and b.ended_at is a.ended_at and b.updated_at is a.ended_at
    # The same instant in India's zone shows differently: kept as it came.
    india = at.astimezone(ZoneInfo("Asia/Kolkata"))
    store.apply(Call("s", "vobiz", "c", Status.COMPLETED, started_at=india))
    c = store.calls[("s", "c")]
    assert c.started_at == at and c.started_at.tzinfo is india.tzinfo and c.started_at.hour == 17
    # However many distinct times go by, the pool stays within its bound.
    for i in range(pools._MOMENT_LIMIT + 10):
        store.apply(Call("s", "vobiz", f"n{i}", Status.QUEUED, started_at=at + timedelta(seconds=i)))
    assert len(pools._MOMENTS) <= pools._MOMENT_LIMIT


def test_oldest_is_the_earliest_first_seen_held_through_applies_loads_merges_and_evictions() -> None:
    ticks = iter([50.0, 40.0, 60.0, 70.0])
    store = CallStore(clock=lambda: next(ticks))
    assert store.oldest() == float("inf")
    calls = [Call("s", "vobiz", f"c{i}", Status.COMPLETED) for i in range(3)]
    for call in calls:
        store.apply(call)  # first seen at 50, 40, 60
    store.take()  # the tick delivered them: now they may go
    assert store.oldest() == 40.0
    store.evict([("s", "c0")])
    assert store.oldest() == 40.0, "a later one went"
    store.evict([("s", "c1")])
    assert store.oldest() == 60.0, "the earliest went: found again"
    from_history = Call("s", "vobiz", "c9", Status.FAILED, timeline=(30.0, Status.FAILED, None, "history"))
    store.load(from_history)
    assert store.oldest() == 30.0
    store.load(from_history.with_changes(timeline=(65.0, Status.FAILED, None, "history")))
    assert store.oldest() == 60.0, "the earliest was put back later: found again"
    earlier = calls[2].with_changes(timeline=(10.0, Status.RINGING, None, "history"))
    store.load_batch([earlier])
    assert store.oldest() == 10.0, "history's earlier events moved a held call's first sight back"


def test_oldest_follows_a_call_without_a_timeline_that_gets_its_first_event() -> None:
    """A call read back without status changes is first seen at -inf until its first event, which moves it to
    now: the window's edge moves with it (it stayed at -inf, and every search of history found nothing older)."""
    ticks = iter([100.0, 200.0])
    store = CallStore(clock=lambda: next(ticks))
    store.apply(Call("s", "vobiz", "a", Status.COMPLETED))
    store.take()
    store.load(Call("s", "vobiz", "b", Status.IN_PROGRESS))
    assert store.oldest() == float("-inf")
    store.apply(Call("s", "vobiz", "b", Status.COMPLETED))
    assert store.oldest() == 100.0


def test_apply_all_takes_a_page_as_apply_does_and_counts_what_changed() -> None:
    import gc

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    one, two = CallStore(), CallStore()
    page = [
        Call("s", "vobiz", "c1", Status.RINGING, updated_at=t0),
        Call("s", "vobiz", "c1", Status.RINGING, updated_at=t0),  # polled again: no change
        Call("s", "vobiz", "c2", Status.UNKNOWN, updated_at=t0),
        Call("s", "vobiz", "c1", Status.COMPLETED, updated_at=t0 + timedelta(seconds=9)),
        Call("s", "vobiz", "c3", Status.QUEUED, updated_at=t0),
    ]
    for call in page:
        one.apply(call)
    enabled = gc.isenabled()
    assert two.apply_all(page) == 4
    assert gc.isenabled() == enabled
    assert one.calls == two.calls and one.stats == two.stats
    assert [(c.key, c.kind, c.previous) for c in one.take()] == [(c.key, c.kind, c.previous) for c in two.take()]
    assert two.active == {"s": {"c3"}} and two.unknown == {"s": {"c2"}}
    two.apply(page[2].with_changes(status=Status.FAILED, updated_at=t0 + timedelta(seconds=5)))
    assert two.unknown == {"s": set()} and two.active == {"s": {"c3"}}


def test_a_change_cannot_be_altered_once_made() -> None:
    from dataclasses import FrozenInstanceError

    store = CallStore()
    change = store.apply(Call("s", "vobiz", "c1", Status.RINGING))
    assert change is not None and change.kind == "new" and change.previous is None and change.new_events == 1
    with pytest.raises(FrozenInstanceError):
        change.kind = "changed"  # type: ignore[misc]


def test_the_times_a_status_change_can_have_are_those_of_a_call() -> None:
    from callmon import model, timeline

    assert model.EARLIEST.timestamp() == timeline.EARLIEST_AT and model.LATEST.timestamp() == timeline.LATEST_AT
    assert timeline.plausible([0.0, 1.8e9, 7258118399.5])
    for bad in (float("nan"), float("inf"), -1.0, 1e17, "1", None, True):
        assert not timeline.plausible([1.0, bad]), bad
