"""Keeping Python's cycle collector off the calls callmon builds in bulk.

A call, and every part of one, is an immutable value that never refers back to what holds it: reference
counting frees it the moment nothing holds it (replaced by a newer version, gone with the window). The cycle
collector cannot know that and walks such objects anyway: a young collection every few hundred allocations
walks the ones built since, and a full collection, due each time the objects that outlived the young ones
grow by a quarter, walks every object the process holds. Reading 100k calls back from history, it walked each
about seven times, a third of the read-back; a full collection at a million calls holds the event loop for
over a second.

So what builds many of them at once (the table's rows, a team account's calls, the history read back at start,
a large scenario's plans) does it in `bulk()`: the collector paused, then what was built handed on unwalked.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_depth = 0  # bulk() sections open, in any thread: the collector runs again when the last one ends
_enabled = False  # whether the collector ran before the first of them
_keep = False  # whether one of them asked to keep what it built for good
_kept = False  # whether anything was frozen for good: gc.unfreeze() would let it go again


@contextlib.contextmanager
def bulk(*, keep: bool = False) -> Iterator[None]:
    """The collector paused while the block builds many long-lived, acyclic objects.

    Then (when the last open section ends) what was built goes to the oldest generation unwalked: frozen and
    unfrozen at once (gc.freeze, gc.unfreeze), an O(1) move, so only the next full collection walks it. Not
    left frozen: everything alive at that moment would be, and in a live app some of it (footer keys, strips,
    messages) soon becomes garbage in cycles that nothing would collect again (a filter keystroke leaked some
    2,000 objects that way).

    `keep`: built once for the life of the process (the history a session starts with), so it stays frozen:
    never walked again. First a young collection (it walks what was built, once) takes what died in cycles
    meanwhile, so all that is frozen is alive; what then dies in a cycle among it (the app's widgets alive at
    that moment) is kept too: a bounded, one-off cost, not one per use. After that, other sections only
    pause the collector (CPython cannot unfreeze some objects and not others).
    """
    global _depth, _enabled, _keep, _kept
    with _lock:
        if _depth == 0:
            _enabled = gc.isenabled()
            if _enabled:
                # Empty the young generations first, the usual way (counted, so full collections still come
                # when due): then the move at the end takes what was built and little that is about to die.
                gc.collect(1)
            gc.disable()
            _keep = False
        _depth += 1
        _keep = _keep or keep
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                if _keep:
                    gc.collect(0)
                    gc.freeze()
                    _kept = True
                elif not _kept:  # once something is frozen for good, unfreezing would walk it again
                    gc.freeze()
                    gc.unfreeze()
                if _enabled:
                    gc.enable()
