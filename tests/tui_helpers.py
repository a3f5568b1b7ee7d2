"""Building the monitor on the in-process simulator for pilot and snapshot tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from textual.geometry import Region
from textual.pilot import Pilot
from textual.widget import Widget

from callmon.alerts import Rule
from callmon.demo import make_demo
from callmon.runtime import Session, live_session
from callmon.simulator import Clock
from callmon.tui.app import CallmonApp
from callmon.tui.monitor import Settings
from callmon.tui.table import CallTable

FROZEN_AT = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def build_app(
    *,
    seed: int = 7,
    calls: int = 120,
    speed: float = 1.0,
    frozen: bool = False,
    tmp_path: Path | None = None,
    initial_filter: str = "",
    without_secret: str | None = None,
    alerts: Sequence[Rule] = (),
    settings: Settings | None = None,
) -> CallmonApp:
    """The monitor on the simulator. `frozen`: the scenario and the table's clock stand still (snapshots)."""
    clock = Clock(speed=speed, real=lambda: 0.0, start_utc=FROZEN_AT) if frozen else Clock(speed=speed)
    world = make_demo(seed=seed, calls=calls, clock=clock, faults=["ratelimit=off"] if frozen else None)
    pairs = [(s, {} if s.name == without_secret else world.secrets[s.name]) for s in world.sources]

    table_clock: Callable[[], float] | None = (lambda: FROZEN_AT.timestamp()) if frozen else None

    def opener(notice: Callable[[str], None]) -> AbstractAsyncContextManager[Session]:
        return live_session(
            pairs, transport=world.transport(), on_notice=notice, tick_hz=10, clock=table_clock, alerts=alerts
        )

    kwargs: dict[str, object] = {}
    if table_clock is not None:
        kwargs["clock"] = table_clock
    app = CallmonApp(
        opener,
        initial_filter=initial_filter,
        title="callmon test",
        recent_path=(tmp_path / "recent.json") if tmp_path else None,
        export_dir=tmp_path,
        settings=settings,
        **kwargs,  # type: ignore[arg-type]
    )
    app.simulator = world.simulator  # type: ignore[attr-defined]
    return app


def text_of(widget: Widget) -> str:
    """Everything a widget renders, as plain text (all of it, scrolled out of view or not)."""
    region = Region(0, 0, widget.size.width, widget.size.height)
    return "\n".join(strip.text for strip in widget.render_lines(region))


def rows(app: CallmonApp) -> list[str]:
    """The table's visible rows as text, exactly as rendered."""
    table = app.query_one("#table", CallTable)
    height = table.scrollable_content_region.height
    out = []
    for y in range(height):
        text = table.render_line(y).text
        if text.strip():
            out.append(text)
    return out


async def wait_until(pilot: Pilot[Any], predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting for the monitor")
        await pilot.pause(0.05)


async def loaded(pilot: Pilot[Any], app: CallmonApp, count: int | None = None) -> None:
    """Wait for the first scan of every source (and, if given, for `count` calls)."""

    def ready() -> bool:
        session = app.session
        if session is None:
            return False
        health = session.engine.health()
        if any(h.last_poll is None for h in health):
            return False
        return count is None or len(session.store) >= count

    await wait_until(pilot, ready, 15)
    await pilot.pause(0.2)
    app.monitor.show_health()  # what the once-a-second timer does, without waiting for it
    await pilot.pause(0.05)


async def type_path(pilot: Pilot[Any], path: Path) -> None:
    """A path into the export prompt as a paste arrives (one edit), then enter: typed a key at a time, a
    temporary directory's path took seconds of the suite."""
    from textual.widgets import Input

    field = pilot.app.screen.query_one("#export-path", Input)
    field.value = str(path)
    await pilot.press("end", "enter")
