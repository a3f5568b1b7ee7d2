"""The monitor as an on-call engineer uses it at 3 a.m.: keys typed fast over SSH, 80 columns, a paused or
followed table, the health of each source, times named with their zone, masked numbers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from textual import events

from callmon import display
from callmon.model import Call, Status
from callmon.store import Change
from callmon.tui.app import CallmonApp
from callmon.tui.detail import DetailScreen, RawView
from callmon.tui.panels import ExportScreen, HealthScreen
from callmon.tui.table import CallTable
from callmon.tui.widgets import ErrorLine, HealthBar
from callmon.view import CallView
from tests.tui_helpers import FROZEN_AT, build_app, loaded, rows, text_of, type_path, wait_until


def header(app: CallmonApp) -> str:
    return text_of(app.query_one("#health", HealthBar))


def type_in_one_read(app: CallmonApp, text: str) -> None:
    """Keys as a fast typist's one write over SSH arrives: all queued before the first is handled."""
    names = {"/": "slash", " ": "space", ":": "colon", ",": "comma", "-": "minus", "?": "question_mark"}
    for ch in text:
        app.post_message(events.Key(names.get(ch, ch), ch))


@pytest.fixture
def people() -> Iterator[None]:
    yield
    display.configure(display.Display())



async def test_keys_typed_right_after_slash_go_to_the_filter_in_order(tmp_path: Path) -> None:
    app = build_app(tmp_path=tmp_path, calls=40)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, app)
        type_in_one_read(app, "/zzq")  # q would quit, were it taken by the table
        await pilot.pause(0.3)
        assert app.is_running and app.monitor.filter_bar.value == "zzq"
        app.post_message(events.Key("escape", None))
        type_in_one_read(app, "jjp")  # back on the table: these are the table's again
        await pilot.pause(0.3)
        assert app.focused is app.monitor.table
        assert app.monitor.paused and app.monitor.filter_bar.value == "zzq"
        type_in_one_read(app, "/failed")  # "f" and "e" are table keys too (failures only, export)
        await pilot.pause(0.3)
        assert app.monitor.filter_bar.value == "failed"
        assert not app.monitor.view.failures_only and not isinstance(app.screen, ExportScreen)


async def test_enter_never_takes_an_invalid_filter_and_esc_clears_one(tmp_path: Path) -> None:
    app = build_app(tmp_path=tmp_path, calls=40)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, app)
        await pilot.press("slash", *"status:failed")
        await pilot.pause(0.3)
        good = app.monitor.view.all_keys()
        await pilot.press(*"x", "enter")  # "status:failedx" is not a status
        await pilot.pause(0.3)
        error = app.query_one("#filter-error", ErrorLine)
        assert error.display and "not applied" in text_of(error)
        assert app.focused is app.monitor.filter_bar, "enter on an invalid filter keeps you in the bar"
        assert app.monitor.query_text == "status:failed" and app.monitor.view.all_keys() == good
        assert "status:failedx" not in app.recent
        await pilot.press("backspace", "enter", "escape")  # kept, back to the table, then cleared
        await pilot.pause(0.2)
        assert app.monitor.query_text == "" and app.monitor.filter_bar.value == ""
        assert app.recent[-1] == "status:failed"


async def test_enter_opens_the_row_the_cursor_is_drawn_on(tmp_path: Path) -> None:
    app = build_app(tmp_path=tmp_path, calls=60)
    async with app.run_test(size=(160, 40)) as pilot:
        await loaded(pilot, app)
        await pilot.press("p", "j", "j", "j")
        table = app.monitor.table
        chosen = table.cursor_key
        assert chosen is not None
        provider = app.monitor.view.calls[chosen].provider
        other = next(p for p in ("vobiz", "velip", "dialgen") if p != provider)
        await pilot.press("slash", *f"provider:{other}", "enter")
        await pilot.pause(0.3)
        assert chosen not in app.monitor.view
        drawn = table.highlight
        assert drawn is not None and drawn != chosen
        row = app.monitor.view.index(drawn)
        assert row is not None
        assert drawn[1][:15] in table.render_line(row - round(table.scroll_y)).text
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))
        assert isinstance(app.screen, DetailScreen) and app.screen.key == drawn


async def test_80_columns_show_paused_shown_of_and_failures_only_first(tmp_path: Path) -> None:
    app = build_app(tmp_path=tmp_path, calls=80, speed=20.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, app)
        await pilot.press("f", "p")
        await wait_until(pilot, lambda: len(app.monitor.held) > 0, 10)
        app.monitor.show_health()
        first = header(app).splitlines()[0].strip()
        assert first.startswith("⏸ PAUSED +")
        assert re.search(r"\d+ shown of \d+", first) and "[failures only]" in first
        # the columns that matter fit: STATUS, AGE, CAMPAIGN, TO, REASON
        titles = app.query_one("#table-header").render_line(0).text
        assert [t.rstrip("▲▼") for t in titles.split()[:5]] == ["STATUS", "AGE", "CAMPAIGN", "TO", "REASON"]


async def test_sideways_a_screenful_at_a_time_with_status_frozen(tmp_path: Path) -> None:
    app = build_app(tmp_path=tmp_path, calls=40)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, app)
        await pilot.press("p")
        table = app.monitor.table
        titles = app.query_one("#table-header")
        before = [p.column.name for p in table.placed]
        await pilot.press("right")
        after = [p.column.name for p in table.placed]
        assert after[0] == "status" and not set(after[1:]) & {n for n in before[1:] if n != before[-1]}
        assert titles.render_line(0).text.split()[0].startswith("STATUS")
        shown = titles.render_line(0).text
        assert all(p.column.title in shown for p in table.placed[:-1]), "titles follow at once"
        await pilot.press("j", "k", "j")
        assert [p.column.name for p in table.placed] == after, "moving the cursor keeps the columns"
        await pilot.press("left")
        assert [p.column.name for p in table.placed] == before


async def test_follow_mode_and_new_calls_above(tmp_path: Path) -> None:
    app = build_app(tmp_path=tmp_path, calls=40)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, app)
        session = app.session
        assert session is not None
        table = app.monitor.table

        def arrive(n: int) -> list[Call]:
            newest = max((c.started_at for c in session.store.calls.values() if c.started_at), default=FROZEN_AT)
            calls = [
                Call("sim-vobiz", "vobiz", f"new-{n}-{i}", Status.RINGING, started_at=newest + timedelta(seconds=i + 1))
                for i in range(3)
            ]
            for call in calls:
                session.store.apply(call)
            return calls

        await pilot.press("home")  # the top row: following, like tail -f
        assert table.following
        newest = arrive(1)[-1]
        await wait_until(pilot, lambda: newest.key in app.monitor.view)
        assert table.cursor_key == newest.key and table.cursor_row == 0, "the cursor stays on the top row"
        await pilot.press("j", "j", "j")
        watched = table.cursor_key
        arrive(2)
        await wait_until(pilot, lambda: table.new_above == 3)
        assert table.cursor_key == watched
        assert "▲ 3 new (home)" in header(app)
        await pilot.press("home")
        assert table.new_above == 0 and table.cursor_row == 0


async def test_ages_tick_on_ended_rows_too(tmp_path: Path) -> None:
    now = [FROZEN_AT.timestamp()]
    ended = Call("s", "vobiz", "done-1", Status.COMPLETED, started_at=FROZEN_AT - timedelta(seconds=20),
                 duration_s=12)  # fmt: skip
    live = Call("s", "vobiz", "live-1", Status.IN_PROGRESS, started_at=FROZEN_AT - timedelta(seconds=5),
                answered_at=FROZEN_AT - timedelta(seconds=5))  # fmt: skip
    view = CallView({c.key: c for c in (ended, live)}, clock=lambda: now[0])
    from textual.app import App, ComposeResult

    class TableApp(App[None]):
        def compose(self) -> ComposeResult:
            yield CallTable(view, clock=lambda: now[0], id="table")

    app = TableApp()
    async with app.run_test(size=(120, 6)) as pilot:
        table = app.query_one(CallTable)
        def lines() -> dict[str, str]:
            drawn = [table.render_line(y).text for y in range(2)]
            return {cid: next(line for line in drawn if cid in line) for cid in ("done-1", "live-1")}

        assert " 20s " in lines()["done-1"] and "0:05" in lines()["live-1"]
        now[0] += 30
        redrawn: list[tuple[int, int, int]] = []
        table._refresh_spans = redrawn.extend  # type: ignore[method-assign,assignment]
        table.tick()
        assert {y for y, _, _ in redrawn} == {0, 1}, "both rows' clocks moved on"
        await pilot.pause()
        assert " 50s " in lines()["done-1"] and "0:35" in lines()["live-1"]


async def test_dur_sorts_live_calls_by_how_long_they_have_been_live(tmp_path: Path) -> None:
    now = FROZEN_AT.timestamp()
    calls = [
        Call("s", "vobiz", "short-ended", Status.COMPLETED, duration_s=10),
        Call("s", "vobiz", "long-live", Status.IN_PROGRESS, answered_at=FROZEN_AT - timedelta(minutes=4)),
        Call("s", "vobiz", "longer-ended", Status.COMPLETED, duration_s=120),
        Call("s", "vobiz", "short-live", Status.IN_PROGRESS, answered_at=FROZEN_AT - timedelta(seconds=46)),
    ]
    view = CallView({c.key: c for c in calls}, sort="dur", reverse=True, clock=lambda: now)
    assert [k[1] for k in view.all_keys()] == ["long-live", "longer-ended", "short-live", "short-ended"]


async def test_health_panel_says_what_is_wrong_and_retries_an_auth_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from callmon.health import State

    app = build_app(tmp_path=tmp_path, calls=40, without_secret="sim-velip")
    async with app.run_test(size=(160, 40)) as pilot:
        await loaded_but(pilot, app, "sim-velip")
        session = app.session
        assert session is not None
        from callmon.simulator import Faults

        app.simulator.faults["vobiz"] = Faults(ratelimit=False, error_rate=1.0)  # type: ignore[attr-defined]
        await wait_until(pilot, lambda: next(h for h in session.engine.health() if h.name == "sim-vobiz").state
                         is State.RETRYING, 20)  # fmt: skip
        app.monitor.show_health()
        await pilot.pause(0.1)
        await pilot.press("slash", *"source:sim-vobiz", "enter")
        await pilot.pause(0.3)
        assert rows(app) and all(r[1] == "≈" for r in rows(app)), "rows of a source that is down read as stale"
        await pilot.press("h")
        await wait_until(pilot, lambda: isinstance(app.screen, HealthScreen))
        panel = text_of(app.screen.query_one("#health-table"))
        assert "sim-velip" in panel and "no credentials" in panel and "retrying" in panel
        assert "last error" in panel and "server error (HTTP 500)" in panel
        assert re.search(r"list \d+/200 per 3600s", panel), "the budget used in its window"
        # The secret appears (in the environment, as a person would fix it) and r tries once more.
        from callmon.simulator import DEMO_SECRETS

        app.resolve_secrets = lambda name: {"tsid": DEMO_SECRETS["velip"]["tsid"]}
        await pilot.press("r")
        await wait_until(pilot, lambda: next(h for h in session.engine.health() if h.name == "sim-velip").state
                         is State.OK, 15)  # fmt: skip
        await wait_until(pilot, lambda: any(c.provider == "velip" for c in session.store.calls.values()), 15)


async def loaded_but(pilot: object, app: CallmonApp, stopped: str) -> None:
    from textual.pilot import Pilot

    assert isinstance(pilot, Pilot)

    def ready() -> bool:
        session = app.session
        return session is not None and all(
            h.last_poll is not None for h in session.engine.health() if h.name != stopped
        )

    await wait_until(pilot, ready, 15)
    await pilot.pause(0.2)
    app.monitor.show_health()
    await pilot.pause(0.05)


async def test_times_are_local_with_the_zone_named_once_and_utc_on_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, people: None
) -> None:
    import time

    monkeypatch.setenv("TZ", "IST-5:30")
    time.tzset()
    try:
        app = build_app(tmp_path=tmp_path, calls=40)
        async with app.run_test(size=(160, 40)) as pilot:
            await loaded(pilot, app)
            assert "times: IST (UTC+05:30)" in header(app)
            await pilot.press("p", "enter")
            await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))
            cdr = text_of(app.screen.query_one("#cdr"))
            assert re.search(r"started\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d IST \(\d\d:\d\d:\d\d UTC\)", cdr)
        display.configure(display.Display(utc=True))
        app = build_app(tmp_path=tmp_path, calls=40)
        async with app.run_test(size=(160, 40)) as pilot:
            await loaded(pilot, app)
            assert "times: UTC" in header(app)
    finally:
        monkeypatch.undo()
        time.tzset()


async def test_masked_numbers_in_table_detail_and_export(tmp_path: Path, people: None) -> None:
    display.configure(display.Display(mask_numbers=True))
    app = build_app(tmp_path=tmp_path, calls=40)
    async with app.run_test(size=(160, 40)) as pilot:
        await loaded(pilot, app)
        await pilot.press("p")
        calls = [app.monitor.view.calls[k] for k in app.monitor.view.all_keys()]
        numbers = {c.to for c in calls if c.to}
        shown = "\n".join(rows(app))
        assert "•" in shown and not any(n in shown for n in numbers)
        target = numbers.pop()
        await pilot.press("slash", *f"to:{target}", "enter")  # the filter matches the real number
        await pilot.pause(0.3)
        assert len(app.monitor.view) >= 1
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        raw = "\n".join(screen.query_one("#raw", RawView).lines)
        assert target not in raw and target not in text_of(screen.query_one("#cdr"))
        await pilot.press("escape", "e")
        await wait_until(pilot, lambda: isinstance(app.screen, ExportScreen))
        out = tmp_path / "masked.csv"
        await type_path(pilot, out)
        await wait_until(pilot, out.exists)
        assert target not in out.read_text() and "•" in out.read_text()


async def test_export_writes_what_it_says_and_asks_before_overwriting(tmp_path: Path) -> None:
    app = build_app(tmp_path=tmp_path, calls=40)
    target = tmp_path / "calls.ndjson"
    target.write_text("keep me\n")
    async with app.run_test(size=(160, 40)) as pilot:
        await loaded(pilot, app)
        await pilot.press("p", "e")
        await wait_until(pilot, lambda: isinstance(app.screen, ExportScreen))
        screen = app.screen
        assert isinstance(screen, ExportScreen)
        said = screen.count
        await type_path(pilot, target)
        await pilot.pause(0.2)
        assert isinstance(app.screen, ExportScreen) and target.read_text() == "keep me\n"
        assert "exists" in text_of(screen.query_one("#export-error"))
        await pilot.press("enter")
        await wait_until(pilot, lambda: target.read_text() != "keep me\n")
        await pilot.pause(0.2)
    assert len(target.read_text().splitlines()) == said == len(app.monitor.view)


async def test_a_failing_session_is_said_not_hidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import contextlib
    from collections.abc import AsyncIterator, Callable

    from callmon.runtime import Session

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))

    @contextlib.asynccontextmanager
    async def opener(notice: Callable[[str], None]) -> AsyncIterator[Session]:
        raise PermissionError(13, "Permission denied", "/data/callmon")
        yield  # type: ignore[unreachable]

    app = CallmonApp(opener)
    async with app.run_test(size=(200, 24)) as pilot:
        await wait_until(pilot, lambda: app.failure is not None)
        await pilot.pause(0.2)
        app.monitor.show_health()
        assert "the session: unexpected error: PermissionError" in header(app)
        assert "details in" in header(app)
    logs = list((tmp_path / "state" / "callmon" / "log").glob("crash-*.log"))
    assert len(logs) == 1 and oct(logs[0].stat().st_mode & 0o777) == "0o600"
    assert "Traceback" in logs[0].read_text()


async def test_changes_after_a_batch_do_not_reorder_ties_when_descending() -> None:
    """Ties (equal STARTED) show newest first in a descending sort, as the rest of it reads."""
    t = FROZEN_AT
    calls = [Call("s", "vobiz", f"c{i}", Status.COMPLETED, started_at=t) for i in range(4)]
    view = CallView({}, sort="started", reverse=True)
    for i, call in enumerate(calls):
        stamped = call.with_changes(timeline=(1000.0 + i, Status.COMPLETED, None, "poll"))
        view.apply([Change(stamped.key, stamped, None, "new", "poll")])
    assert [k[1] for k in view.all_keys()] == ["c3", "c2", "c1", "c0"]


# -- the group view and alerts --------------------------------------------------------------------------------


async def test_group_view_cycles_sorts_and_enter_filters_the_calls_to_a_group(tmp_path: Path) -> None:
    from callmon.measures import Groups
    from callmon.tui.groups import GroupTable

    app = build_app(tmp_path=tmp_path, calls=200)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, app)
        type_in_one_read(app, "gj")  # the group view, then the cursor down one: in one read
        await pilot.pause(0.3)
        groups = app.query_one(GroupTable)
        assert app.focused is groups and app.monitor.grouping == "campaign"
        fresh = Groups("campaign")
        fresh.build(app.monitor.view.calls.values(), app.monitor.clock())
        assert groups.groups is not None
        assert {n: t.calls for n, t in groups.groups.tallies.items()} == {n: t.calls for n, t in fresh.tallies.items()}
        assert groups.names[:2] == sorted(fresh.tallies, key=lambda n: (-fresh.tallies[n].calls, n))[:2]
        await pilot.press("1")  # the first column: the campaign's name, A to Z
        await pilot.pause(0.1)
        assert groups.names == sorted(groups.names)
        chosen = groups.highlight
        assert chosen is not None
        await pilot.press("enter")
        await pilot.pause(0.4)
        assert grouping_of(app) is None and focus_of(app) is app.monitor.table
        assert app.monitor.query_text.startswith("campaign:=") or app.monitor.query_text.startswith("'campaign:=")
        shown = [app.monitor.view.calls[k] for k in app.monitor.view.all_keys()]
        assert shown and {c.campaign for c in shown} == {chosen}
        await pilot.press("escape", "g", "g", "g", "g")  # provider, source, reason
        await pilot.pause(0.2)
        assert app.monitor.grouping == "reason"
        await pilot.press("g")
        await pilot.pause(0.2)
        assert grouping_of(app) is None and focus_of(app) is app.monitor.table


def focus_of(app: CallmonApp) -> object:
    return app.focused


def grouping_of(app: CallmonApp) -> str | None:
    return app.monitor.grouping


async def test_an_alert_fires_a_banner_until_acknowledged_the_bell_once_and_a_desktop_notification(
    tmp_path: Path,
) -> None:
    from textual.widgets import Static

    from callmon.alerts import parse_rule
    from callmon.tui.monitor import Settings
    from callmon.tui.panels import AlertsScreen
    from callmon.tui.widgets import AlertBanner

    rule = parse_rule({"name": "any failure", "when": "failures >= 1", "over": "15m", "clear_after": "0s"})
    app = build_app(tmp_path=tmp_path, calls=120, alerts=[rule], settings=Settings(desktop="osc9"))
    rings: list[str] = []
    sent: list[str] = []
    app.bell = lambda: rings.append("bell")  # type: ignore[method-assign]
    app.send_to_terminal = sent.append  # type: ignore[method-assign,assignment]
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, app)
        banner = app.query_one(AlertBanner)
        await wait_until(pilot, lambda: banner.display)
        await pilot.pause(0.2)  # laid out
        said = text_of(banner.query_one("#alert-text"))
        assert said.strip().startswith("⚠ ALERT") and "any failure" in said
        # 80 columns: the keys in short, so the measure that fired has the room
        assert str(banner.query_one("#alert-keys", Static).render()) == "a/A"
        assert rings == ["bell"] and len(sent) == 1 and sent[0].startswith("\x1b]9;callmon: any failure")
        await pilot.pause(1.5)  # evaluated again: still firing, no second bell
        assert rings == ["bell"]
        await pilot.press("A")
        await pilot.pause(0.2)
        assert isinstance(app.screen, AlertsScreen)
        await pilot.press("a", "escape")
        await pilot.pause(0.2)
        assert not banner.display, "acknowledged: the banner goes"
        assert app.session is not None and app.session.alerts is not None
        assert [f.rule for f in app.session.alerts.firing()] == ["any failure"], "still firing, though"


async def test_the_column_chooser_toggles_moves_and_keeps(tmp_path: Path) -> None:
    from callmon.tui.panels import ColumnsScreen

    app = build_app(tmp_path=tmp_path, calls=20, speed=20.0)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, app)
        before = list(app.monitor.table.order)
        assert before[:3] == ["status", "age", "campaign"]
        await pilot.press("C")
        await wait_until(pilot, lambda: isinstance(app.screen, ColumnsScreen), 5)
        # home: AGE, the first that can change (STATUS is always first); AGE off; CAMPAIGN moved above it
        # (and down and up again); K on the second row cannot pass STATUS.
        await pilot.press("home", "space", "down", "K", "J", "K", "K")
        await pilot.press("enter")  # keeps (the list's own enter would toggle the highlighted column)
        await wait_until(pilot, lambda: not isinstance(app.screen, ColumnsScreen), 5)
        after = list(app.monitor.table.order)
        assert after[0] == "status" and "age" not in after
        assert after[1] == "campaign" and after[2:] == [n for n in before if n not in ("status", "age", "campaign")]
        assert [p.column.name for p in app.monitor.table.placed][:2] == ["status", "campaign"]
        await pilot.press("C")
        await wait_until(pilot, lambda: isinstance(app.screen, ColumnsScreen), 5)
        await pilot.press("space", "escape")  # cancelled: nothing changes
        await wait_until(pilot, lambda: not isinstance(app.screen, ColumnsScreen), 5)
        assert list(app.monitor.table.order) == after
