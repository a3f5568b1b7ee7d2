"""Snapshots of the main screens (pytest-textual-snapshot), on a frozen simulator so every run is identical.

Update them after a deliberate UI change with: pytest tests/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from callmon.tui.app import CallmonApp
from callmon.tui.screens import DetailScreen
from callmon.tui.table import CallTable
from tests.tui_helpers import build_app, loaded, wait_until

SnapCompare = Callable[..., bool]


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


def test_table(snap_compare: SnapCompare) -> None:
    assert snap_compare(frozen_app(), terminal_size=(160, 50), run_before=settle)


def test_table_80x24(snap_compare: SnapCompare) -> None:
    assert snap_compare(frozen_app(), terminal_size=(80, 24), run_before=settle)


def test_filtered_failures(snap_compare: SnapCompare) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("slash", *"status:failed,busy -provider:dialgood", "enter")
        await pilot.pause(0.1)

    assert snap_compare(frozen_app(), terminal_size=(160, 50), run_before=run)


def test_invalid_filter(snap_compare: SnapCompare) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("slash")
        # In one edit: typed key by key on a busy machine, a pause over the debounce applies a prefix
        # ("dur", a word nothing matches) that the invalid query then rightly leaves in place.
        app = pilot.app
        assert isinstance(app, CallmonApp)
        app.filter_bar.insert_text_at_cursor("dur>1x")
        await pilot.pause(0.4)

    assert snap_compare(frozen_app(), terminal_size=(160, 50), run_before=run)


def test_detail(snap_compare: SnapCompare) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("slash", *"provider:vobiz is:ended", "enter", "enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, DetailScreen))
        await pilot.pause(0.3)

    assert snap_compare(frozen_app(), terminal_size=(160, 50), run_before=run)


def test_help(snap_compare: SnapCompare) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.1)

    assert snap_compare(frozen_app(), terminal_size=(120, 40), run_before=run)
