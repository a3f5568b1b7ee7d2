"""Putting the pieces together for a live session: HTTP client, store, history, engine."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from callmon import __version__
from callmon.engine import Engine
from callmon.history import History, HistoryError
from callmon.providers import Source
from callmon.store import CallStore


@dataclass
class Session:
    store: CallStore
    engine: Engine
    sources: list[Source]
    problems: list[str] = field(default_factory=list)  # one line each, for the user


@contextlib.asynccontextmanager
async def live_session(
    pairs: Sequence[tuple[Source, Mapping[str, str]]],
    *,
    problems: Sequence[str] = (),
    transport: httpx.AsyncBaseTransport | None = None,
    history_path: Path | None = None,
    retention_days: float = 7.0,
    tick_hz: float = 4.0,
    on_notice: Callable[[str], None] | None = None,
    clock: Callable[[], float] | None = None,
) -> AsyncIterator[Session]:
    """Open everything, start polling, and close it all (history flushed) on the way out."""
    store = CallStore(clock) if clock else CallStore()
    notes = list(problems)
    history: History | None = None
    if history_path is not None:
        history = History(history_path, retention_days=retention_days)
        try:
            history.open()
            history.load_into(store, [s.name for s, _ in pairs])
        except HistoryError as exc:
            notes.append(str(exc))
            history = None
    async with httpx.AsyncClient(
        transport=transport, headers={"User-Agent": f"callmon/{__version__}"}, follow_redirects=False
    ) as client:
        engine = Engine(store, client, history=history, tick_hz=tick_hz, on_notice=on_notice)
        for source, secrets in pairs:
            engine.add(source, secrets)
        await engine.start()
        try:
            yield Session(store, engine, [s for s, _ in pairs], notes)
        finally:
            await engine.stop()
