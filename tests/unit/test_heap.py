"""callmon.heap: the cycle collector paused while calls are built in bulk, and nothing it should free kept."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator

import pytest

from callmon import heap
from callmon.heap import bulk


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cycle collector can free it


@pytest.fixture(autouse=True)
def _collector_as_it_was() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.enable()
    yield
    gc.unfreeze()  # what a test froze is not the next test's business
    heap._kept = False
    if not enabled:
        gc.disable()


def test_the_collector_is_paused_until_the_last_open_section_ends() -> None:
    with bulk():
        assert not gc.isenabled()
        with bulk(keep=True):
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_off_before_stays_off() -> None:
    gc.disable()
    with bulk():
        pass
    assert not gc.isenabled()


def test_a_section_open_in_another_thread_keeps_the_collector_paused() -> None:
    entered, leave = threading.Event(), threading.Event()

    def other() -> None:
        with bulk():
            entered.set()
            leave.wait(5)

    thread = threading.Thread(target=other)
    thread.start()
    assert entered.wait(5)
    with bulk():
        pass
    assert not gc.isenabled()  # the other thread's section is still open
    leave.set()
    thread.join(5)
    assert gc.isenabled()


def test_what_became_garbage_in_a_cycle_meanwhile_is_still_collected() -> None:
    """Not frozen for good: handed to the oldest generation, which a full collection still walks."""
    with bulk():
        node = Node()
        gone = weakref.ref(node)
        del node
    assert gone() is not None  # not walked on the way out
    gc.collect()
    assert gone() is None


def test_keep_freezes_what_was_built_and_only_what_is_alive() -> None:
    before = gc.get_freeze_count()
    with bulk(keep=True):
        built = [Node() for _ in range(100)]
        dropped = Node()
        gone = weakref.ref(dropped)
        del dropped
    assert gone() is None  # collected on the way out, not frozen
    assert gc.get_freeze_count() >= before + len(built)
    tracked = {id(o) for o in gc.get_objects()}
    assert not any(id(node) in tracked for node in built)  # never walked again
    del built[0].me  # frozen objects are still freed by reference counting
    first = weakref.ref(built.pop(0))
    assert first() is None


def test_what_keep_froze_stays_frozen_through_later_sections() -> None:
    """The history read back at start is frozen for good; the engine's next list page (another bulk()) must
    not unfreeze it (gc.unfreeze() lets go of everything frozen)."""
    with bulk(keep=True):
        built = [Node() for _ in range(1000)]
    frozen = gc.get_freeze_count()
    assert frozen >= len(built)
    with bulk():
        pass
    assert gc.get_freeze_count() >= frozen
