"""The monitor driven with Textual's pilot against the simulator, asserting on what the screen shows."""

from __future__ import annotations

import json
from pathlib import Path

from textual.app import App, ComposeResult
from textual.geometry import Region

from callmon.model import Call, Status
from callmon.store import Change
from callmon.tui.detail import DetailScreen, RawView
from callmon.tui.panels import ExportScreen, HelpScreen
from callmon.tui.table import CallTable, TableHeader
from callmon.tui.widgets import ErrorLine, HealthBar
from callmon.view import CallView
from tests.tui_helpers import FROZEN_AT, build_app, loaded, rows, text_of, type_path, wait_until

STATUS_WORDS = (
    "queued",
    "ringing",
    "in-progress",
    "completed",
    "no-answer",
    "busy",
    "failed",
    "canceled",
    "unknown",
)


def status_of(row: str) -> str:
    return next(word for word in row.split() if word in STATUS_WORDS)


def ids(app: object) -> list[str]:
    """The CALL ID column of the visible rows, read off the rendered text."""
    from callmon.tui.app import CallmonApp

    assert isinstance(app, CallmonApp)
    place = next(p for p in app.monitor.table.placed if p.column.name == "id")
    return [r[place.x : place.x + place.width].strip() for r in rows(app)]


def health_text(app: object) -> str:
    from callmon.tui.app import CallmonApp

    assert isinstance(app, CallmonApp)
    return text_of(app.query_one("#health", HealthBar))



async def test_rows_appear_with_health_and_counts(tmp_path: Path) -> None:
    app = build_app(tmp_path=tmp_path)
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(pilot, app)
        shown = rows(app)
        assert len(shown) > 10
        assert all(status_of(r) for r in shown)
        text = health_text(app)
        assert "sim-vobiz ok" in text and "shown of" in text


async def test_filter_as_you_type_and_invalid_keeps_the_table(tmp_path: Path) -> None:
    app = build_app(tmp_path=tmp_path)
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(pilot, app)
        await pilot.press("slash", *"status:failed,busy")
        await pilot.pause(0.4)  # applied once typing pauses
        filtered = ids(app)
        assert filtered and {status_of(r) for r in rows(app)} <= {"failed", "busy"}
        await pilot.press(*"x")  # now "busyx": not a status
        await pilot.pause(0.4)
        error = app.query_one("#filter-error", ErrorLine)
        assert error.display and "unknown status 'busyx'" in text_of(error)
        assert ids(app) == filtered, "an invalid filter leaves the table as it was"
        await pilot.press("backspace", "enter")
        assert not app.query_one("#filter-error", ErrorLine).display
        assert app.focused is app.query_one("#table", CallTable)
        assert app.recent[-1] == "status:failed,busy"
        saved = tmp_path / "recent.json"
        await wait_until(pilot, saved.exists)
        assert json.loads(saved.read_text()) == ["status:failed,busy"]


async def test_recent_filters_recall_with_up(tmp_path: Path) -> None:
    app = build_app(tmp_path=tmp_path)
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(pilot, app)
        for query in ("provider:velip", "is:ended"):
            await pilot.press("slash", "ctrl+a", "ctrl+k", *query, "enter")
        await pilot.press("slash", "ctrl+a", "ctrl+k", "up")
        assert app.query_one("#filter").value == "is:ended"  # type: ignore[attr-defined]
        await pilot.press("up")
        assert app.query_one("#filter").value == "provider:velip"  # type: ignore[attr-defined]


async def test_sort_by_key_and_header_click_reversible(tmp_path: Path) -> None:
    app = build_app(tmp_path=tmp_path)
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(pilot, app)
        position = app.monitor.table.order.index("source")
        await pilot.press(str(position + 1))  # SOURCE, ascending
        keys = [app.view.calls[k].source for k in app.view.keys(0, len(app.view))]
        assert keys == sorted(keys)
        assert "SOURCE▲" in app.query_one("#table-header", TableHeader).render_line(0).text
        await pilot.press(str(position + 1))
        keys = [app.view.calls[k].source for k in app.view.keys(0, len(app.view))]
        assert keys == sorted(keys, reverse=True)
        header = app.query_one("#table-header", TableHeader)
        place = next(p for p in header.placed if p.column.name == "id")
        await pilot.click("#table-header", offset=(place.x + 1, 0))
        assert app.view.sort_column == "id" and "CALL ID▲" in header.render_line(0).text


async def test_cursor_stays_on_its_call_through_filter_and_back(tmp_path: Path) -> None:
    app = build_app(tmp_path=tmp_path)
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(pilot, app)
        await pilot.press("p")  # hold live changes so the rows stand still for the assertions
        await pilot.press("down", "down", "down")
        table = app.query_one("#table", CallTable)
        key = table.cursor_key
        assert key is not None
        call = app.view.calls[key]
        other = "dialgen" if call.provider != "dialgen" else "velip"
        await pilot.press("slash", *f"provider:{other}")
        await pilot.pause(0.4)
        assert key not in app.view
        await pilot.press("ctrl+a", "ctrl+k", "escape")
        await pilot.pause(0.4)
        assert table.cursor_key == key and table.cursor_row == app.view.index(key)
        selected = table.render_line(table.cursor_row - round(table.scroll_y)).text
        assert call.call_id[:20] in selected


async def test_detail_screen_shows_cdr_raw_json_and_timeline(tmp_path: Path) -> None:
    app = build_app(tmp_path=tmp_path)
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(pilot, app)
        await pilot.press("slash", *"provider:vobiz is:ended", "enter")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        call = app.view.calls[screen.key]
        raw = "\n".join(screen.query_one("#raw", RawView).lines)
        assert f'"uuid": "{call.call_id}"' in raw and '"hangup_cause_code"' in raw
        cdr = text_of(screen.query_one("#cdr"))
        assert call.call_id in cdr and call.status.value in cdr
        assert call.status.value in text_of(screen.query_one("#timeline"))
        await pilot.press("escape")
        assert not isinstance(app.screen, DetailScreen)


async def test_live_dialgood_transcript_grows_in_the_detail_screen(tmp_path: Path) -> None:
    app = build_app(tmp_path=tmp_path, speed=10.0, calls=60)
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(pilot, app)
        await pilot.press("slash", *"provider:dialgood status:in-progress", "enter")
        await wait_until(pilot, lambda: len(app.view) > 0)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        first = len(screen.call.transcript)
        for _ in range(30):  # the call talks on (10x speed); r fetches it now rather than at the next 5 s
            await pilot.pause(0.3)
            await pilot.press("r")
            if len(screen.call.transcript) > first or screen.call.ended:
                break
        await wait_until(pilot, lambda: len(screen.call.transcript) > first or screen.call.ended, 5)
        assert "agent:" in text_of(screen.query_one("#transcript")).lower()


async def test_pause_holds_changes_and_counts_them(tmp_path: Path) -> None:
    app = build_app(tmp_path=tmp_path, speed=20.0)
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(pilot, app)
        await pilot.press("p")
        frozen = [status_of(r) for r in rows(app)]
        keys = app.view.all_keys()
        await wait_until(pilot, lambda: len(app.monitor.held) >= 3, 15)
        assert "PAUSED +" in health_text(app)
        assert app.view.all_keys() == keys and [status_of(r) for r in rows(app)] == frozen
        total_before = len(app.view)
        await pilot.press("p")
        assert not app.monitor.held and "PAUSED" not in health_text(app)
        assert len(app.view) >= total_before


async def test_failures_only_and_jump_to_next_failure(tmp_path: Path) -> None:
    app = build_app(tmp_path=tmp_path)
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(pilot, app)
        await pilot.press("n")
        table = app.query_one("#table", CallTable)
        assert table.cursor_key is not None
        assert app.view.calls[table.cursor_key].status in (
            Status.FAILED,
            Status.BUSY,
            Status.NO_ANSWER,
            Status.CANCELED,
        )
        await pilot.press("f")
        assert {status_of(r) for r in rows(app)} <= {"failed", "busy", "no-answer", "canceled"}
        assert "failures only" in health_text(app)
        await pilot.press("f")
        assert "failures only" not in health_text(app)


async def test_export_what_is_shown(tmp_path: Path) -> None:
    app = build_app(tmp_path=tmp_path)
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(pilot, app)
        await pilot.press("slash", *"provider:velip", "enter", "p")
        expected = {app.view.calls[k].call_id for k in app.view.all_keys()}
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, ExportScreen))
        target = tmp_path / "out.json"
        await type_path(pilot, target)
        await wait_until(pilot, target.exists)
        await pilot.pause(0.2)
    records = json.loads(target.read_text())
    assert {r["call_id"] for r in records} == expected
    assert oct(target.stat().st_mode & 0o777) == "0o600"


async def test_help_and_command_palette_cover_the_actions(tmp_path: Path) -> None:
    app = build_app(tmp_path=tmp_path)
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(pilot, app)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "Filter language" in text_of(app.screen.query_one("Static"))
        await pilot.press("escape")
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Filter", "Pause", "Failures", "Next failure", "Export", "Health", "Help",
                "Sort by status"} <= titles  # fmt: skip


async def test_hostile_payload_is_shown_inert(tmp_path: Path) -> None:
    app = build_app(tmp_path=tmp_path)
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(pilot, app)
        evil = "\x1b]52;c;ZXZpbA==\x07\x1b[2J\x9b31m\u202eboom"
        call = Call("sim-vobiz", "vobiz", "evil-1", Status.FAILED, reason=evil, to=evil, campaign=evil,
                    raw={"hangup_cause": evil, "nested": [evil]})  # fmt: skip
        assert app.session is not None
        app.session.store.apply(call)
        await pilot.press("slash", *"id:evil-1", "enter")
        await wait_until(pilot, lambda: len(app.view) == 1)
        shown = "".join(rows(app))
        for bad in ("\x1b", "\x9b", "\x07", "\u202e"):
            assert bad not in shown
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))
        screen = app.screen
        raw = "\n".join(screen.query_one("#raw", RawView).lines)
        for rendered in (raw, text_of(screen.query_one("#cdr"))):
            for bad in ("\x1b", "\x9b", "\x07", "\u202e"):
                assert bad not in rendered
        assert "\\u001b" in raw


async def test_works_at_80x24(tmp_path: Path) -> None:
    app = build_app(tmp_path=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, app)
        assert len(rows(app)) >= 15
        assert "5 sources: 5 ok" in health_text(app)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen))


async def test_the_clock_keeps_running_under_other_screens(tmp_path: Path) -> None:
    """The once-a-second update must not look for the table's widgets on whatever screen is on top."""
    app = build_app(tmp_path=tmp_path)
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(pilot, app)
        for key, screen_type in (("question_mark", HelpScreen), ("enter", DetailScreen), ("e", ExportScreen)):
            await pilot.press(key)
            await wait_until(pilot, lambda: isinstance(app.screen, screen_type))
            # What the once-a-second timers run, run now (waiting for them cost seconds of the suite).
            app.monitor.each_second()
            app._each_second()
            await pilot.pause(0.05)
            assert isinstance(app.screen, screen_type)
            await pilot.press("escape")
            await wait_until(pilot, lambda: len(app.screen_stack) == 1)
        assert "shown of" in health_text(app)


async def test_a_missing_credential_is_set_from_the_monitor(tmp_path: Path, monkeypatch: object) -> None:
    import pytest

    from callmon.health import SourceHealth, State
    from callmon.simulator import DEMO_SECRETS
    from callmon.tui.panels import CredentialScreen

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)  # no keyring: used for this session only
    app = build_app(tmp_path=tmp_path, without_secret="sim-velip")
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_until(pilot, lambda: app.session is not None)
        engine = app.session.engine  # type: ignore[union-attr]

        def velip() -> SourceHealth:
            return next(h for h in engine.health() if h.name == "sim-velip")

        await pilot.pause(0.5)
        assert velip().state == State.NO_CREDENTIALS and velip().requests == 0
        assert "sim-velip no credentials" in health_text(app)
        await pilot.press("K")
        await wait_until(pilot, lambda: isinstance(app.screen, CredentialScreen))
        secret = DEMO_SECRETS["velip"]["tsid"]
        await pilot.press(*secret)
        assert secret not in text_of(app.screen.query_one("#secret"))  # never echoed
        await pilot.press("enter")
        await wait_until(pilot, lambda: velip().state == State.OK, 15)
        await wait_until(pilot, lambda: any(c.provider == "velip" for c in app.view.calls.values()), 15)


async def test_rows_are_redrawn_in_a_new_theme(tmp_path: Path) -> None:
    """The table keeps its drawn rows and its style between frames; a theme change (from the command
    palette) must redraw them in the new one, not leave old colours behind the visible rows."""
    app = build_app(tmp_path=tmp_path)
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(pilot, app)
        table = app.query_one("#table", CallTable)

        def backgrounds() -> set[object]:
            strips = [table.render_line(y) for y in range(5)]
            return {segment.style.bgcolor for strip in strips for segment in strip if segment.style}

        before = backgrounds()
        app.theme = "textual-light" if app.theme != "textual-light" else "nord"
        await pilot.pause()
        await pilot.pause()
        after = backgrounds()
        assert after and not (after & before), (before, after)


class _TableApp(App[None]):
    """The table alone on a view, with the clock stopped."""

    def __init__(self, view: CallView) -> None:
        super().__init__()
        self.view = view

    def compose(self) -> ComposeResult:
        yield CallTable(self.view, clock=lambda: FROZEN_AT.timestamp(), id="table")


def _ended_calls(n: int) -> dict[tuple[str, str], Call]:
    calls = [
        Call(
            source="acme",
            provider="vobiz",
            call_id=f"call-{i:03d}",
            status=Status.COMPLETED,
            to=f"+9198{i:08d}",
            reason=f"reason number {i}",
            started_at=FROZEN_AT,
            duration_s=i,
        )
        for i in range(n)
    ]
    return {call.key: call for call in calls}


def _replaced(view: CallView, call: Call) -> Change:
    return Change(call.key, call, view.calls[call.key].status, "changed", "poll")


async def test_a_row_is_never_drawn_from_an_older_version_of_its_call() -> None:
    """Drawn rows are kept for reuse. A newer version of a call that the allocator puts where an older one lay
    (same id()) must still be drawn from what it holds, not get the older version's row."""
    first = next(iter(_ended_calls(1).values()))
    view = CallView({first.key: first})
    app = _TableApp(view)
    async with app.run_test(size=(160, 10)):
        table = app.query_one(CallTable)
        assert "reason number 0" in table.render_line(0).text
        old_id = id(first)
        second = first.with_changes(reason="second version")
        table.rows_changed(view.apply([_replaced(view, second)]))
        del first  # nothing but the table's row cache may still know it
        # Keep every candidate alive, so the allocator moves on, until one lands where the first version was.
        candidates = [second.with_changes(reason="third version")]
        while id(candidates[-1]) != old_id and len(candidates) < 1000:
            candidates.append(second.with_changes(reason="third version"))
        third = candidates[-1]
        table.rows_changed(view.apply([_replaced(view, third)]))
        assert "third version" in table.render_line(0).text


async def test_rendering_a_frame_draws_each_line_as_drawing_it_alone_does() -> None:
    """A frame works out what its lines share once (render_lines); each line must come out as render_line
    draws it alone, scrolled sideways on a narrow terminal as well."""
    view = CallView(_ended_calls(40), sort="id", reverse=False)
    app = _TableApp(view)
    async with app.run_test(size=(70, 12)) as pilot:
        table = app.query_one(CallTable)
        table.move_to(3)
        table.scroll_to(y=2, animate=False, immediate=True)
        while not any(p.column.name == "id" and p.width == p.column.width for p in table.placed):
            table.action_columns(1)  # a screenful of columns to the right: STATUS stays
        await pilot.pause()
        height = table.scrollable_content_region.height
        frame = [s.text for s in table.render_lines(Region(0, 0, table.size.width, height))]
        table._cache.clear()
        alone = [table.render_line(y).text for y in range(height)]
        width = table.scrollable_content_region.width
        assert [line[:width] for line in frame] == alone
        assert all(len(line) == width for line in alone)
        assert all("completed" in line for line in alone[:3])  # STATUS is frozen
        # Scrolled sideways and 2 rows down: the top line is call-002's row, its CALL ID on screen.
        place = next(p for p in table.placed if p.column.name == "id")
        assert [line[place.x : place.x + place.width].strip() for line in alone[:3]] == [
            "call-002",
            "call-003",
            "call-004",
        ]


async def test_a_batch_redraws_the_changed_cells_of_its_visible_rows_only() -> None:
    """A few changed calls are found one by one, many by listing the screenful of rows: both ways must redraw
    exactly the changed cells (and the gutter) of the changed rows on screen, and nothing for the rest."""
    from callmon.tui.table import GUTTER

    view = CallView(_ended_calls(40), sort="id", reverse=False)
    app = _TableApp(view)
    async with app.run_test(size=(160, 12)) as pilot:
        table = app.query_one(CallTable)
        table.scroll_to(y=5, animate=False, immediate=True)
        await pilot.pause()
        top, bottom = table.visible_range()
        assert (top, bottom) == (5, 5 + table.scrollable_content_region.height)
        reason = next(p for p in table.placed if p.column.name == "reason")
        redrawn: list[tuple[int, int, int]] = []
        table._refresh_spans = redrawn.extend  # type: ignore[method-assign,assignment]
        for batch, rows_changed in enumerate(([2, 6, 8], [0, 4, *range(top, bottom), 39])):
            redrawn.clear()
            keys = [view.key_at(row) for row in rows_changed]
            changes = [_replaced(view, view.calls[key].with_changes(reason=f"batch {batch}")) for key in keys]
            table.rows_changed(view.apply(changes))
            on_screen = sorted(row for row in rows_changed if top <= row < bottom)
            assert sorted(redrawn) == sorted(
                span
                for row in on_screen
                for span in ((row, 0, GUTTER), (row, reason.x, reason.width))
            )


async def test_a_new_status_redraws_its_own_cell_not_the_whole_row() -> None:
    """The status colours only its own cell: a status change redraws the gutter, STATUS and the cells whose
    text changed (DUR here), not the row end to end (that doubled the bytes a visible change cost)."""
    from callmon.tui.table import GUTTER

    view = CallView(_ended_calls(10), sort="id", reverse=False)
    app = _TableApp(view)
    async with app.run_test(size=(160, 12)) as pilot:
        table = app.query_one(CallTable)
        await pilot.pause()
        place = {p.column.name: p for p in table.placed}
        redrawn: list[tuple[int, int, int]] = []
        table._refresh_spans = redrawn.extend  # type: ignore[method-assign,assignment]
        key = view.key_at(3)
        old = view.calls[key]
        table.rows_changed(view.apply([_replaced(view, old.with_changes(status=Status.BUSY,
                                                                         duration_s=90))]))  # fmt: skip
        assert sorted(redrawn) == sorted(
            [(3, 0, GUTTER), (3, place["status"].x, place["status"].width), (3, place["dur"].x, place["dur"].width)]
        )
        await pilot.pause()
        assert "busy" in table.render_line(3).text


def test_a_partial_frame_writes_each_span_from_its_own_start() -> None:
    """Textual writes a dirty span from its widget's left edge; the app's frames start where the span does, and
    never inside a wide character."""
    import io

    from rich.console import Console
    from rich.segment import Segment
    from textual._compositor import ChopsUpdate
    from textual.strip import Strip

    from callmon.tui.chops import SpanUpdate, char_end, char_start

    line = Strip([Segment("ab"), Segment("日本"), Segment("cdefgh")])  # cells: a b 日日 本本 c d e f g h
    assert [char_start(line, cut) for cut in range(8)] == [0, 1, 2, 2, 4, 4, 6, 7]
    assert [char_end(line, cut) for cut in range(8)] == [0, 1, 2, 4, 4, 6, 6, 7]
    console = Console(file=io.StringIO(), width=20, color_system=None, force_terminal=True)
    chops = [{0: line}]
    update = ChopsUpdate(chops, [(0, 7, 9), (0, 3, 5)], [[12]])
    text = SpanUpdate.of(update).render_segments(console)
    # Cursor to (x+1, y+1), then only the cells of each span: 7-8, then 3-4 widened to 2-5 (日 and 本 whole).
    assert text == "\x1b[1;8Hde\x1b[1;3H日本"
    # What Textual 8 writes: each span from the line's start, and half of 本 as a space.
    assert update.render_segments(console) == "\x1b[1;1Hab日本cde\x1b[1;1Hab日 "


async def test_the_header_redraws_only_the_line_that_reads_differently() -> None:
    """The counts move each second under load; the sources line under them is not rewritten for that."""
    from collections import Counter

    from callmon.tui.widgets import ViewState

    class BarApp(App[None]):
        def compose(self) -> ComposeResult:
            yield HealthBar(id="health")

    app = BarApp()
    async with app.run_test(size=(120, 4)) as pilot:
        bar = app.query_one(HealthBar)
        bar.show(ViewState(3, 3, Counter({Status.COMPLETED: 3})), [], zone="UTC")
        await pilot.pause()
        refreshed: list[tuple[Region, ...]] = []
        refresh = bar.refresh
        bar.refresh = lambda *regions, **kw: refreshed.append(regions) or refresh(*regions, **kw)  # type: ignore[method-assign,func-returns-value]
        bar.show(ViewState(3, 3, Counter({Status.COMPLETED: 3})), [], zone="UTC")
        assert refreshed == [], "nothing reads differently: nothing is redrawn"
        bar.show(ViewState(4, 4, Counter({Status.COMPLETED: 3, Status.BUSY: 1})), [], zone="UTC")
        assert [{r.y for r in regions} for regions in refreshed] == [{0}]
        await pilot.pause()
        assert text_of(bar).splitlines()[0].strip().startswith("4 shown of 4")
        assert "no sources yet" in text_of(bar).splitlines()[1]
