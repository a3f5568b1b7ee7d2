"""Snapshots of the main screens (pytest-textual-snapshot), on a frozen simulator so every run is identical,
at 80x24 (what an SSH session opens at) and 160x48.

Update them after a deliberate UI change with:
    pytest tests/integration/test_snapshots.py --snapshot-update
and look at what changed (the report shows both) before committing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from textual.pilot import Pilot

from callmon.alerts import AlertEvent
from callmon.health import SourceHealth, State
from callmon.model import Call, Status
from callmon.tui.app import CallmonApp
from callmon.tui.detail import DetailScreen
from callmon.tui.panels import HealthScreen
from callmon.tui.table import CallTable
from tests.tui_helpers import FROZEN_AT, build_app, loaded, wait_until

SnapCompare = Callable[..., bool]
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]


def frozen_app() -> CallmonApp:
    return build_app(seed=7, calls=120, frozen=True)


async def settle(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, CallmonApp)
    await loaded(pilot, app)
    table = app.query_one("#table", CallTable)
    table.marks.clear()  # change marks fade with time, which stands still here
    table.reset()
    await pilot.pause(0.1)


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


async def normal(pilot: Pilot[Any]) -> None:
    await settle(pilot)


async def paused(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    await pilot.press("p")
    await pilot.pause(0.1)


async def failures_only(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    await pilot.press("f")
    await pilot.pause(0.1)


async def new_above(pilot: Pilot[Any]) -> None:
    """Moved away from the top: three calls arrive above the screen and the header says so."""
    await settle(pilot)
    app = pilot.app
    assert isinstance(app, CallmonApp) and app.session is not None
    await pilot.press("j", "j", "j")
    for i in range(3):
        call = Call("sim-vobiz", "vobiz", f"new-{i}", Status.RINGING, campaign="vz-collections-1",
                    to="+919800000000", started_at=FROZEN_AT + timedelta(minutes=5, seconds=i))  # fmt: skip
        app.session.store.apply(call)
    await wait_until(pilot, lambda: app.monitor.table.new_above == 3)
    app.monitor.table.marks.clear()
    app.monitor.table.reset()
    await pilot.pause(0.1)


async def health(pilot: Pilot[Any]) -> None:
    """The health panel, on health as a source that is down and one near its budget would report it."""
    await settle(pilot)
    now = FROZEN_AT.timestamp()
    canned = [
        SourceHealth("sim-vobiz", "vobiz", State.OK, last_poll=now - 2, latency_ms=41.5, next_poll=now + 3,
                     requests=412, tracked=96, active=7, budget={"default": (37, 120, 60.0)}),
        SourceHealth("sim-velip", "velip", State.AUTH_FAILED, message="velip: auth failed (HTTP 401): Invalid "
                     "token (code 101)", last_error=now - 40, requests=1, budget={"list": (1, 200, 3600.0)}),
        SourceHealth("sim-cloudagent", "cloudagent", State.RATE_LIMITED, until=now + 24, last_poll=now - 70,
                     consecutive_errors=1, rate_limited=1, requests=9, tracked=31,
                     message="cloudagent: rate limited (HTTP 429): Rate limit exceeded",
                     note="scan stopped at 1000 pages (max_pages)", budget={"cdr": (2, 2, 60.0)}),
    ]  # fmt: skip
    pilot.app.push_screen(HealthScreen(lambda: canned, clock=lambda: now))
    await pilot.pause(0.2)


async def invalid_filter(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    await pilot.press("slash")
    # In one edit: typed key by key on a busy machine, a pause over the debounce applies a prefix ("dur", a
    # word nothing matches) that the invalid query then rightly leaves in place.
    app = pilot.app
    assert isinstance(app, CallmonApp)
    app.monitor.filter_bar.insert_text_at_cursor("dur>1x")
    await wait_until(pilot, lambda: bool(app.monitor.filter_error.display))  # said, however busy the machine
    await pilot.pause(0.2)


async def detail(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    await pilot.press("slash", *"provider:vobiz is:ended", "enter", "enter")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, DetailScreen))
    await pilot.pause(0.3)


async def groups(pilot: Pilot[Any]) -> None:
    """The group view, by campaign."""
    await settle(pilot)
    await pilot.press("g")
    await pilot.pause(0.2)


async def alert(pilot: Pilot[Any]) -> None:
    """An alert firing: the banner above the table, and the campaign marked in the group view."""
    await settle(pilot)
    app = pilot.app
    assert isinstance(app, CallmonApp)
    at = FROZEN_AT.timestamp() - 90
    app.monitor.alerts_arrived([
        AlertEvent("campaign failing", "measure", "Renewals1", "campaign", "firing", at, at,
                   "failure rate 92% > 80% over 2m (11 of 12 ended)", 0.92),
    ])  # fmt: skip
    await pilot.pause(0.2)


SCENES: dict[str, Callable[[Pilot[Any]], Awaitable[None]]] = {
    "normal": normal,
    "paused": paused,
    "failures_only": failures_only,
    "new_above": new_above,
    "health": health,
    "invalid_filter": invalid_filter,
    "detail": detail,
    "groups": groups,
    "alert": alert,
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("scene", list(SCENES))
def test_screen(snap_compare: SnapCompare, scene: str, size: tuple[int, int]) -> None:
    assert snap_compare(frozen_app(), terminal_size=size, run_before=SCENES[scene])


@pytest.mark.parametrize("size", SIZES)
def test_no_color(snap_compare: SnapCompare, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch) -> None:
    """NO_COLOR: the same screen without a colour (it crashed at start once)."""
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(frozen_app(), terminal_size=size, run_before=paused)


def test_help(snap_compare: SnapCompare) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.1)

    assert snap_compare(frozen_app(), terminal_size=(120, 48), run_before=run)
