"""The console on the real house: `build_runtime` with the seeded simulated market, the prism and the
paper trading desk, run at speed 0 for a fixed stretch of MARKET time before the app starts (engine not
restarted, wall clock frozen), so snapshots are stable across runs. Snapshots live in tests/snapshots/."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from pytest_textual_snapshot import SVGImageExtension
from textual._doc import take_svg_screenshot

from virtuoso_tui.runtime import build_runtime
from virtuoso_tui.ui.app import VirtuosoApp
from virtuoso_tui.ui.screens import ConfirmOrder
from virtuoso_tui.ui.widgets import Panel

FROZEN = 1_767_571_200.0
SIZE = (150, 44)
WARMUP_S = 1800  # market seconds: enough closed candles for every face to score


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


@pytest.fixture(scope="module")
def warmed():
    """One seeded market run for the snapshots: the apps never start the engine or trade, so they can
    share it (and the suite stays fast)."""
    rt = build_runtime(source="sim", seed=1, speed=0.0, db_path="")
    asyncio.run(rt.engine.run(market_seconds=WARMUP_S))
    return rt


def _app(rt) -> VirtuosoApp:
    return VirtuosoApp(rt, start_engine=False, clock=lambda: FROZEN)


def test_sim_main_screen(svg, warmed):
    assert svg == take_svg_screenshot(_app(warmed), terminal_size=SIZE, press=["_"])


def test_sim_div_table_orderflow(svg, warmed):
    assert svg == take_svg_screenshot(_app(warmed), terminal_size=SIZE, press=["3", "_"])


def test_sim_confluence_table(svg, warmed):
    assert svg == take_svg_screenshot(_app(warmed), terminal_size=SIZE, press=["0", "_"])


def test_sim_help_screen(svg, warmed):
    assert svg == take_svg_screenshot(_app(warmed), terminal_size=SIZE, run_before=_open_help)


def _text(app, panel_id):
    r = app.query_one(f"#{panel_id}", Panel).renderable
    return r.plain if hasattr(r, "plain") else str(r)


async def test_paper_trade_from_the_keyboard_shows_the_position_and_a_rejection():
    rt = build_runtime(source="sim", seed=1, speed=0.0, db_path="")
    await rt.engine.run(market_seconds=300)
    app = VirtuosoApp(rt, start_engine=False, clock=lambda: FROZEN)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("b")
        await pilot.pause(0.1)
        assert isinstance(app.screen, ConfirmOrder)
        await pilot.press("y")
        await pilot.pause(0.3)
        position = rt.desk.portfolio.position(app.selected)
        assert position.amount > 0  # $100 of BTC bought on the paper desk
        trading = _text(app, "trading")
        assert "LONG" in trading and "PnL" in trading
        assert "equity" in app.query_one("#trading").border_subtitle
        # a limit far from the mark is refused by the price band rule: an error, nothing resting
        await pilot.press("colon", *"sell 0.5 @ 90000", "enter")
        await pilot.pause(0.2)
        messages = [str(n.message) for n in app._notifications]
        assert any(re.search(r"rejected \(price_band", m) for m in messages), messages
        assert "sell 0.5 @ 90000: " in _text(app, "log")
        assert not rt.desk.manager.open


async def test_settings_view_shows_the_effective_configuration():
    rt = build_runtime(source="sim", seed=1, speed=0.0, db_path="", with_prism=False, with_trading=False)
    app = VirtuosoApp(rt, start_engine=False, clock=lambda: FROZEN)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("comma")
        await pilot.pause(0.1)
        from virtuoso_tui.ui.screens import SettingsScreen

        assert isinstance(app.screen, SettingsScreen)
        assert "configuration OK" in app.screen.text and "[ui]" in app.screen.text
