"""SVG snapshot tests (pytest-textual-snapshot's SVG extension, files in tests/snapshots/) of the main
screen, a DIV table and the help screen, on a seeded market run to completion before the app starts
(engine not started, wall clock frozen), so every run draws the same pixels. Update after an intended
change with `pytest tests/test_ui_snapshots.py --snapshot-update` and review the SVGs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pytest_textual_snapshot import SVGImageExtension
from test_ui_fixtures import make_runtime, warm
from textual._doc import take_svg_screenshot

from virtuoso_tui.ui.app import VirtuosoApp

FROZEN = 1_767_225_600.0
SIZE = (140, 40)


async def _open_help(pilot) -> None:
    """Open help and let the scrolling page finish its layout passes (its scrollbar depends on the
    final height; the screenshot would otherwise catch whichever pass came first)."""
    await pilot.press("f1")
    for _ in range(3):
        await pilot.pause(0.1)


class TestsSnapshots(SVGImageExtension):
    @classmethod
    def dirname(cls, *, test_location) -> str:
        return str(Path(test_location.filepath).parent / "snapshots" / Path(test_location.filepath).stem)


@pytest.fixture
def svg(snapshot):
    return snapshot.use_extension(TestsSnapshots)


def _app(tmp_path, theme="dark") -> VirtuosoApp:
    rt = make_runtime(tmp_path, seconds=1200, theme=theme)
    asyncio.run(warm(rt))
    return VirtuosoApp(rt, start_engine=False, clock=lambda: FROZEN)


def test_main_screen(tmp_path, svg):
    assert svg == take_svg_screenshot(_app(tmp_path), terminal_size=SIZE, press=["_"])


def test_div_table_of_a_face(tmp_path, svg):
    assert svg == take_svg_screenshot(_app(tmp_path), terminal_size=SIZE, press=["3", "_"])


def test_help_screen(tmp_path, svg):
    assert svg == take_svg_screenshot(_app(tmp_path), terminal_size=SIZE, run_before=_open_help)


def test_main_screen_light_theme_small_terminal(tmp_path, svg):
    assert svg == take_svg_screenshot(_app(tmp_path, theme="light"), terminal_size=(80, 24), press=["_"])
