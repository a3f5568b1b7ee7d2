"""Regenerate screenshots/: drive the monitor on the simulator and save each main view as SVG and PNG.

    .venv/bin/python scripts/screenshots.py

SVGs come from Textual itself; PNGs are rasterized with rsvg-convert (Debian: apt-get install librsvg2-bin).
The scenario is seeded and its clock stands still, so the pictures only change when the UI does.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from textual.pilot import Pilot  # noqa: E402

from callmon.tui.app import CallmonApp  # noqa: E402
from callmon.tui.detail import DetailScreen  # noqa: E402
from callmon.tui.table import CallTable  # noqa: E402
from tests.tui_helpers import build_app, loaded, wait_until  # noqa: E402

OUT = ROOT / "screenshots"
Step = Callable[[Pilot[object]], Awaitable[None]]


async def settle(pilot: Pilot[object]) -> None:
    app = pilot.app
    assert isinstance(app, CallmonApp)
    await loaded(pilot, app)
    table = app.query_one("#table", CallTable)
    table.marks.clear()
    table.reset()
    await pilot.pause(0.2)


async def main_view(pilot: Pilot[object]) -> None:
    await settle(pilot)


async def filtered(pilot: Pilot[object]) -> None:
    await settle(pilot)
    await pilot.press("slash", *"status:failed,busy,no-answer -provider:dialgood", "enter")
    await pilot.pause(0.2)


async def invalid(pilot: Pilot[object]) -> None:
    await settle(pilot)
    await pilot.press("slash", *"status:faild")
    await pilot.pause(0.2)


async def detail(pilot: Pilot[object]) -> None:
    await settle(pilot)
    await pilot.press("slash", *"provider:vobiz is:ended", "enter", "enter")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, DetailScreen))
    await pilot.pause(0.3)


async def transcript(pilot: Pilot[object]) -> None:
    await settle(pilot)
    await pilot.press("slash", *"provider:dialgood status:in-progress", "enter", "enter")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, DetailScreen))
    await pilot.pause(0.5)


async def help_view(pilot: Pilot[object]) -> None:
    await settle(pilot)
    await pilot.press("question_mark")
    await pilot.pause(0.2)


SHOTS: list[tuple[str, tuple[int, int], Step]] = [
    ("monitor", (160, 48), main_view),
    ("monitor-80x24", (80, 24), main_view),
    ("filter-failures", (160, 48), filtered),
    ("filter-invalid", (160, 48), invalid),
    ("detail", (160, 48), detail),
    ("detail-transcript", (160, 48), transcript),
    ("help", (120, 40), help_view),
]


async def shoot(name: str, size: tuple[int, int], step: Step) -> Path:
    app = build_app(seed=7, calls=120, frozen=True)
    async with app.run_test(size=size) as pilot:
        await step(pilot)
        svg = app.export_screenshot(title=f"callmon · {name}")
    path = OUT / f"{name}.svg"
    path.write_text(svg, encoding="utf-8")
    return path


def rasterize(svg: Path) -> Path | None:
    """PNG from the SVG. rsvg-convert mis-measures runs of &#160; (Textual's spaces), so it is handed a copy
    with plain spaces kept by xml:space="preserve"; the SVG in screenshots/ stays as Textual wrote it."""
    tool = shutil.which("rsvg-convert")
    if tool is None:
        return None
    png = svg.with_suffix(".png")
    text = (
        svg.read_text(encoding="utf-8")
        .replace("&#160;", " ")
        .replace("<svg ", '<svg xml:space="preserve" ', 1)
    )
    with tempfile.NamedTemporaryFile("w", suffix=".svg", encoding="utf-8") as copy:
        copy.write(text)
        copy.flush()
        subprocess.run([tool, "--zoom", "1", "-o", str(png), copy.name], check=True)
    return png


def main() -> int:
    os.environ["TZ"] = "UTC"
    time.tzset()
    OUT.mkdir(exist_ok=True)
    missing_tool = False
    for name, size, step in SHOTS:
        svg = asyncio.run(shoot(name, size, step))
        png = rasterize(svg)
        missing_tool |= png is None
        print(f"{svg.relative_to(ROOT)}" + (f"  {png.relative_to(ROOT)}" if png else ""))
    if missing_tool:
        print("no PNGs: install rsvg-convert (Debian: apt-get install librsvg2-bin)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
