"""The incremental view always equals a brute-force filter-and-sort of the same calls."""

from __future__ import annotations

import functools
import gc
import itertools
import random
import weakref
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from callmon.columns import BY_NAME, COLUMNS
from callmon.model import Call, Status
from callmon.query import compile_query
from callmon.store import CallStore
from callmon.view import CallView

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def random_call(rng: random.Random, i: int) -> Call:
    return Call(
        source=rng.choice(("a", "b", "c")),
        provider=rng.choice(("vobiz", "velip")),
        call_id=f"c{i:04d}",
        status=rng.choice(list(Status)),
        campaign=rng.choice((None, "x", "y")),
        to=rng.choice((None, "+911", "+912", "+55")),
        started_at=rng.choice((None, T0 + timedelta(seconds=rng.randint(0, 500)))),
        duration_s=rng.choice((None, rng.randint(0, 300))),
        cost=rng.choice((None, round(rng.random(), 2))),
        reason=rng.choice((None, "busy", "ok")),
    )


def expected(view: CallView, calls: dict[tuple[str, str], Call]) -> list[tuple[str, str]]:
    """Brute force: filter, then sort with unknown values last on screen, ties by key in display order."""
    matching = [c for c in calls.values() if (not view.failures_only or c.status.name in
                ("FAILED", "BUSY", "NO_ANSWER", "CANCELED")) and view.query(c)]  # fmt: skip
    entry = BY_NAME[view.sort_column].entry(view.reverse, now=view.epoch)
    ordered = sorted(matching, key=lambda c: entry(c, c.key))
    if view.reverse:
        ordered.reverse()
    return [c.key for c in ordered]


@pytest.mark.parametrize("seed", range(6))
def test_view_matches_brute_force_through_random_changes(seed: int) -> None:
    rng = random.Random(seed)
    store = CallStore()
    for i in range(200):
        store.apply(random_call(rng, i))
    store.take()
    view = CallView(store.calls)
    queries = ["", "status:failed,busy", "-provider:velip", "to:+91*", "dur>100", "x", "is:active"]
    for step in range(60):
        action = rng.random()
        if action < 0.15:
            view.set_query(compile_query(rng.choice(queries)))
        elif action < 0.25:
            view.set_sort(rng.choice(COLUMNS).name, rng.random() < 0.5)
        elif action < 0.3:
            view.set_failures_only(not view.failures_only)
        else:
            for _ in range(rng.randint(1, 30)):
                i = rng.randrange(260)  # some new calls, mostly changes
                store.apply(random_call(rng, i))
            view.apply(store.take())
        assert view.all_keys() == expected(view, store.calls), f"step {step}"
        shown = [store.calls[k] for k in view.all_keys()]
        assert +view.counts == Counter(c.status for c in shown)
        for index, key in enumerate(view.all_keys()[:20]):
            assert view.index(key) == index and view.key_at(index) == key


def test_a_rebuild_between_ticks_stays_consistent() -> None:
    """The store takes in changes between ticks; a filter or sort in between must not disagree with them."""
    rng = random.Random(3)
    store = CallStore()
    for i in range(50):
        store.apply(random_call(rng, i))
    view = CallView(store.calls)
    store.take()
    for i in range(20):
        store.apply(random_call(rng, i))  # pending, not delivered
    view.set_sort("to", False)
    view.set_query(compile_query("-status:queued"))
    view.apply(store.take())
    assert view.all_keys() == expected(view, store.calls)


@functools.cache
def _shuffled_calls() -> dict[tuple[str, str], Call]:
    """2,500 calls (three of the SortedList's sublists of 1,000), their keys out of order. Built once: the
    calls are immutable and each sort test only reads them."""
    rng = random.Random(2500)
    calls = {}
    for i in rng.sample(range(2500), 2500):
        call = random_call(rng, i)
        calls[call.key] = call
    return calls


@pytest.mark.parametrize("column", [c.name for c in COLUMNS])
def test_every_sort_builds_a_sound_sorted_list(column: str) -> None:
    """Rows sorted on values alone, handed to the SortedList without a re-sort: its own invariant check must
    hold, and the rows must be what a plain sort of whole rows gives. These calls have no timeline (all seen
    at the same unknown time, so ties go by key) and are held out of key order: the view re-orders them."""
    calls = _shuffled_calls()
    view = CallView(calls)
    for reverse in (False, True):
        view.set_sort(column, reverse)
        entry = BY_NAME[column].entry(reverse, now=view.epoch)  # unknown values past every value: how they show
        view._master._check()
        assert [row[-1] for row in view._master] == [
            row[-1] for row in sorted(entry(c, k) for k, c in calls.items())
        ]
        # and the view's own rows (unknown values as the sentinel it picked) are what changes will look for
        assert list(view._master) == sorted(view._entry(c, k) for k, c in calls.items())
        view.set_query(compile_query("-status:queued"))  # most rows: picked out of the master in order
        view._rows._check()
        assert view.all_keys() == expected(view, calls)
        view.set_query(compile_query(""))


def _ticking(start: float = 1000.0, step: float = 1.0) -> Callable[[], float]:
    now = [start]

    def clock() -> float:
        now[0] += step
        return now[0]

    return clock


def test_ties_go_in_the_order_calls_were_first_seen() -> None:
    """A call's place among equal values is where it arrived, not where its id sorts; calls held in that
    order (as the store holds them) are sorted as they are, with no re-ordering first."""
    rng = random.Random(5)
    store = CallStore(clock=_ticking())
    for i in rng.sample(range(300), 300):
        store.apply(random_call(rng, i))
    store.take()
    view = CallView(store.calls)
    assert view._in_order and list(view.calls) == list(store.calls)
    arrival = {key: n for n, key in enumerate(store.calls)}
    for column, reverse in (("campaign", False), ("status", True), ("to", False)):
        view.set_sort(column, reverse)
        shown = view.all_keys()
        entry = BY_NAME[column].entry(reverse)
        for a, b in itertools.pairwise(shown):
            if entry(store.calls[a], a)[0] == entry(store.calls[b], b)[0]:
                assert (arrival[a] < arrival[b]) != reverse, (column, a, b)
        assert shown == expected(view, store.calls)


@pytest.mark.parametrize("step", [0.0, -1.0], ids=["clock stands still", "clock runs back"])
def test_a_clock_that_stands_still_or_runs_back_keeps_the_view_sound(step: float) -> None:
    """New calls then arrive out of first-seen order: the view notices, re-orders once, and stays exact."""
    rng = random.Random(int(step))
    store = CallStore(clock=_ticking(step=step))
    for i in range(100):
        store.apply(random_call(rng, i))
    store.take()
    view = CallView(store.calls)
    for step_no in range(12):
        for _ in range(15):
            store.apply(random_call(rng, rng.randrange(300)))
        view.apply(store.take())
        if step_no % 3 == 0:
            view.set_sort(rng.choice(COLUMNS).name, rng.random() < 0.5)
        if step_no % 4 == 1:
            view.set_query(compile_query(rng.choice(["", "to:+91*", "-status:queued"])))
        view._master._check()
        assert view.all_keys() == expected(view, store.calls), step_no



@pytest.mark.parametrize(
    ("column", "beyond"),
    [("campaign", "अभियान"), ("reason", "\xff" * 20), ("dur", 10**7)],
    ids=["Hindi text", "text past the Latin-1 sentinel", "longest duration"],
)
def test_unknown_values_show_last_when_a_value_lies_past_the_preferred_sentinel(
    column: str, beyond: object
) -> None:
    """Unknown values sort as a sentinel of the values' own kind, which lies past ordinary values only: with a
    value past it, they must still show last (and stay exact through changes) whichever way the order goes."""
    rng = random.Random(column)
    store = CallStore(clock=_ticking())
    for i in range(300):
        store.apply(random_call(rng, i))
    name = "duration_s" if column == "dur" else column
    odd = random_call(rng, 300).with_changes(**{name: beyond})
    store.apply(odd)
    store.apply(random_call(rng, 301).with_changes(**{name: None}))
    store.take()
    view = CallView(store.calls)
    for reverse in (False, True):
        view.set_sort(column, reverse)
        view._master._check()
        shown = view.all_keys()
        assert shown == expected(view, store.calls)
        values = [BY_NAME[column].value_at(view.epoch)(store.calls[key]) for key in shown]
        first_unknown = values.index(None)
        assert all(v is None for v in values[first_unknown:]), (reverse, values[first_unknown - 2 :])
        for i in rng.sample(range(302), 40):  # changes into and out of unknown, with the odd value kept
            store.apply(random_call(rng, i))
        view.apply(store.take())
        view._master._check()
        assert view.all_keys() == expected(view, store.calls)


def test_sorting_and_filtering_leave_garbage_collectable() -> None:
    """The view pauses the cyclic GC while it builds 100k rows. Whatever was alive meanwhile must still be
    collected once it becomes garbage (freezing it, to keep collections short, leaked what the app let go of:
    events, messages, screens)."""
    rng = random.Random(5)
    calls = [random_call(rng, i) for i in range(200)]
    view = CallView({c.key: c for c in calls})

    class Node:
        def __init__(self) -> None:
            self.me = self  # a cycle: only the cyclic GC can free it

    node = Node()
    alive = weakref.ref(node)
    view.set_sort("to", False)
    view.set_query(compile_query("status:completed,busy"))
    view.set_failures_only(True)
    del node
    gc.collect()
    assert alive() is None


def test_start_times_are_shown_in_the_zone_of_the_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Formatted start times are kept for reuse; a change of the local zone (TZ and tzset) must not be hidden
    by them."""
    import time

    from callmon.display import clock

    try:
        for zone, shown in (("UTC0", "08:00:00"), ("IST-5:30", "13:30:00"), ("UTC0", "08:00:00")):
            monkeypatch.setenv("TZ", zone)
            time.tzset()
            assert clock(T0, now=T0.timestamp()) == shown
    finally:
        monkeypatch.undo()
        time.tzset()
