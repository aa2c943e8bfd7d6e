"""Pilot tests of the console on a seeded, pre-run market (tests/test_ui_fixtures.py): symbol selection,
faces 1-6 and 0, timeframes, the command bar (valid, invalid, history, completion), the order
confirmation dialog (typed in LIVE mode), the plugins screen with a failed plugin, themes, key remaps,
errors as notifications and a clean quit."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from test_ui_fixtures import BAD_PANEL_PLUGIN, FACES, PANEL_PLUGIN, SYMBOLS, make_runtime, warm

from virtuoso_tui.ui.app import VirtuosoApp, run_app
from virtuoso_tui.ui.keys import KeyMapError
from virtuoso_tui.ui.render import fmt_price
from virtuoso_tui.ui.screens import ConfirmOrder, HelpScreen, PluginsScreen
from virtuoso_tui.ui.themes import UnknownThemeError
from virtuoso_tui.ui.widgets import CommandBar, Panel

FROZEN = 1_767_225_600.0
SIZE = (140, 40)


async def _app(tmp_path, **kw):
    rt = make_runtime(tmp_path, seconds=kw.pop("seconds", 900), **kw)
    await warm(rt)
    return rt, VirtuosoApp(rt, start_engine=False, clock=lambda: FROZEN)


def _text(app, panel_id: str) -> str:
    r = app.query_one(f"#{panel_id}", Panel).renderable
    return r.plain if hasattr(r, "plain") else str(r)


def _messages(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_selecting_symbols_drives_every_panel(tmp_path):
    rt, app = await _app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        assert app.selected == "BTC/USDT"
        assert "▶BTC/USDT" in _text(app, "watchlist")
        btc_tape = _text(app, "tape")
        await pilot.press("j")
        await pilot.pause(0.2)
        assert app.selected == "ETH/USDT"
        assert "▶ETH/USDT" in _text(app, "watchlist") and "▶BTC/USDT" not in _text(app, "watchlist")
        assert app.query_one("#chart").border_title.startswith("ETH/USDT")
        eth_last = rt.engine.states["ETH/USDT"].trades.price[-1]
        assert fmt_price(eth_last) in _text(app, "tape") and _text(app, "tape") != btc_tape
        await pilot.press("k", "k")  # wraps around to the last symbol
        await pilot.pause(0.2)
        assert app.selected == SYMBOLS[-1]


async def test_faces_one_to_six_and_confluence(tmp_path):
    rt, app = await _app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.1)
        for i, name in enumerate(FACES, start=1):
            await pilot.press(str(i))
            await pilot.pause(0.15)
            assert app.view == name
            assert app.query_one("#div").display and not app.query_one("#chart").display
            assert f"▶{i} {name.replace('_', ' ')}" in _text(app, "prism")
        await pilot.press("0")
        await pilot.pause(0.15)
        assert app.view == "confluence" and "▶0 CONFLUENCE" in _text(app, "prism")
        await pilot.press("c")
        await pilot.pause(0.15)
        assert app.view == "chart" and app.query_one("#chart").display and not app.query_one("#div").display


async def test_timeframe_keys_switch_the_chart(tmp_path):
    rt, app = await _app(tmp_path, seconds=1800)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        one_minute = _text(app, "chart")
        assert app.timeframe == "1m"
        await pilot.press("t")
        await pilot.pause(0.2)
        assert app.timeframe == "5m" and "· 5m" in app.query_one("#chart").border_title
        # 30 minutes of data: six closed 5m candles, drawn one column each, so the picture differs
        assert len(rt.engine.states["BTC/USDT"].candles["5m"]) == 5
        assert _text(app, "chart") != one_minute
        await pilot.press("T")
        await pilot.pause(0.2)
        assert app.timeframe == "1m"
        await pilot.press("l")
        await pilot.pause(0.2)
        assert app.line_chart and "•" in _text(app, "chart") and "█" not in _text(app, "chart")
        await pilot.press("l")
        await pilot.pause(0.2)
        assert not app.line_chart and "█" in _text(app, "chart")


async def test_valid_and_invalid_commands(tmp_path):
    rt, app = await _app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("colon")
        assert isinstance(app.focused, CommandBar)
        await pilot.press(*"buy 0.01", "enter")
        await pilot.pause(0.2)
        assert rt.engine.desk.executed == ["buy 0.01"]
        assert any("accepted placeorder on BTC/USDT" in m for m in _messages(app))
        await pilot.press(*"bogus 1", "enter")
        await pilot.pause(0.2)
        assert rt.engine.desk.executed == ["buy 0.01"]  # nothing sent
        assert any("unknown command 'bogus'" in m for m in _messages(app))
        assert "error" in _text(app, "log") and "bogus 1: unknown command" in _text(app, "log")
        # ':' typed again inside the focused bar (vim habit) is the prompt, not part of the command
        await pilot.press("colon", *"sell 0.5", "enter")
        await pilot.pause(0.2)
        assert rt.engine.desk.executed == ["buy 0.01", "sell 0.5"]
        # history: up recalls the last line, twice the one before
        await pilot.press("up")
        assert app.focused.value == "sell 0.5"
        await pilot.press("up")
        assert app.focused.value == "bogus 1"
        # completion: Tab completes a verb, then a symbol
        app.focused.value = ""
        await pilot.press(*"tw")
        await pilot.pause(0.1)
        await pilot.press("tab")
        assert app.focused.value == "twap"
        app.focused.value = ""
        await pilot.press(*"close ET")
        await pilot.pause(0.1)
        await pilot.press("tab")
        assert app.focused.value == "close ETH/USDT"
        await pilot.press("escape")
        assert app.focused is None


async def test_quick_order_asks_for_confirmation(tmp_path):
    rt, app = await _app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("b")
        await pilot.pause(0.1)
        assert isinstance(app.screen, ConfirmOrder)
        await pilot.press("n")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ConfirmOrder) and rt.engine.desk.executed == []
        await pilot.press("s")
        await pilot.pause(0.1)
        await pilot.press("y")
        await pilot.pause(0.1)
        assert rt.engine.desk.executed == ["sell $100 BTC/USDT"]


async def test_live_mode_needs_the_side_typed(tmp_path):
    rt, app = await _app(tmp_path, mode="LIVE")
    async with app.run_test(size=SIZE) as pilot:
        assert app.has_class("live")
        await pilot.press("b")
        await pilot.pause(0.1)
        dialog = app.screen
        assert isinstance(dialog, ConfirmOrder) and dialog.live
        assert dialog.query_one("#yes").disabled
        await pilot.press("y", "enter")  # a stray y is not a confirmation
        await pilot.pause(0.1)
        assert rt.engine.desk.executed == [] and isinstance(app.screen, ConfirmOrder)
        await pilot.press("backspace", *"buy")
        assert not dialog.query_one("#yes").disabled
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert rt.engine.desk.executed == ["buy $100 BTC/USDT"]


async def test_plugins_screen_shows_the_failed_plugin_and_why(tmp_path):
    rt, app = await _app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("p")
        await pilot.pause(0.2)
        assert isinstance(app.screen, PluginsScreen)
        table = app.screen.query_one("DataTable")
        row = table.get_row("broken_panel")
        assert str(row[3]) == "failed"
        assert "no_such_module_for_virtuoso_tests" in row[5]
        await pilot.press("escape")
        assert not isinstance(app.screen, PluginsScreen)


async def test_help_lists_every_binding_and_verb(tmp_path):
    rt, app = await _app(tmp_path, keys={"buy": "B"})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await pilot.pause(0.1)
        assert isinstance(app.screen, HelpScreen)
        keys, cmds = app.screen.tables
        ids = [str(c) for c in keys.columns[0].cells]
        assert {"quit", "buy", "sell", "face_6", "next_timeframe"} <= set(ids)
        assert str(list(keys.columns[1].cells)[ids.index("buy")]) == "B"  # the remap shows
        assert {"buy", "sell", "close", "cancel", "twap"} <= {str(c) for c in cmds.columns[0].cells}


async def test_key_remap_moves_the_action(tmp_path):
    rt, app = await _app(tmp_path, keys={"buy": "B"})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("b")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ConfirmOrder)
        await pilot.press("B")
        await pilot.pause(0.1)
        assert isinstance(app.screen, ConfirmOrder)


async def test_unknown_key_action_is_one_clear_error(tmp_path):
    rt = make_runtime(tmp_path, keys={"buyy": "B"})
    with pytest.raises(KeyMapError, match="unknown key action 'buyy'.*actions: quit"):
        VirtuosoApp(rt)


async def test_theme_switching_and_unknown_theme(tmp_path):
    rt, app = await _app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        dark_bg = app.screen.styles.background
        assert app.theme_name == "dark"
        app.apply_theme("light")
        await pilot.pause(0.2)
        assert app.theme_name == "light" and app.theme == "textual-light"
        assert app.screen.styles.background != dark_bg
        assert app.palette.up == "#00796b"
        await pilot.press("ctrl+t")  # cycles: dark, high-contrast, light -> dark
        await pilot.pause(0.2)
        assert app.theme_name == "dark" and app.screen.styles.background == dark_bg
        app.apply_theme("neon")
        await pilot.pause(0.1)
        assert app.theme_name == "dark"
        assert any("unknown theme 'neon' (available: dark, high-contrast, light)" in m for m in _messages(app))


def test_run_app_rejects_an_unknown_theme_before_taking_the_screen(tmp_path, capsys):
    rt = make_runtime(tmp_path, theme="neon")
    with pytest.raises(UnknownThemeError):
        VirtuosoApp(rt)
    assert run_app(rt) == 2
    assert "unknown theme 'neon' (available: dark, high-contrast, light)" in capsys.readouterr().err


async def test_engine_errors_become_notifications_not_tracebacks(tmp_path):
    rt, app = await _app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        rt.bus.publish("error", {"message": "storage write failed: disk full", "source": "storage"})
        await pilot.pause(0.3)
        assert any("disk full" in m for m in _messages(app))
        assert "storage: storage write failed: disk full" in _text(app, "log")


async def test_quit_stops_a_running_engine_cleanly(tmp_path):
    rt = make_runtime(tmp_path, seconds=10**6)
    app = VirtuosoApp(rt, clock=lambda: FROZEN)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.5)
        assert rt.engine.events_seen > 0 and not rt.engine.stopping
        await pilot.press("q")
        await pilot.pause(0.2)
    assert rt.engine.stopping and rt.engine.stopped_reason == "quit from the console"
    assert app._engine_task.done() and app._engine_task.exception() is None
    assert app.return_code == 0


def test_the_core_never_imports_textual():
    code = ("import sys, virtuoso_tui.engine, virtuoso_tui.runtime, virtuoso_tui.cli, virtuoso_tui.headless, "
            "virtuoso_tui.plugins, virtuoso_tui.market.state, virtuoso_tui.prism.engine; "
            "print('textual' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


async def test_ui_keeps_up_while_the_market_streams(tmp_path):
    """With the engine running flat out (speed 0) in the same loop, a key is acted on within a few
    milliseconds and the frame timer keeps ticking."""
    rt = make_runtime(tmp_path, seconds=10**6, symbols=SYMBOLS)
    app = VirtuosoApp(rt, clock=lambda: FROZEN)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.sleep(0.3)
        loop = asyncio.get_running_loop()
        latencies = []
        for _ in range(4):
            before, started = app.selected, loop.time()
            app.simulate_key("j")
            while app.selected == before and loop.time() - started < 2:
                await asyncio.sleep(0)
            latencies.append(loop.time() - started)
        frames, events = len(app.frame_times), rt.engine.events_seen
        await asyncio.sleep(0.5)
        assert max(latencies) < 0.25, latencies  # typically ~5 ms; slack for a shared, busy machine
        assert len(app.frame_times) - frames >= 2  # ~5 expected at 10 fps; the timer is not starved
        assert rt.engine.events_seen - events > 1000  # and the market really was streaming
        await pilot.press("q")


async def test_plugin_panels_and_commands_join_the_console(tmp_path):
    rt, app = await _app(tmp_path, plugins={"funding_heat": PANEL_PLUGIN, "bad_panel": BAD_PANEL_PLUGIN})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        panel = app.query_one("#funding-heat")
        assert panel.has_class("panel") and "funding heat: calm" in str(panel.render())
        # the panel that raised is reported, the console carries on
        assert rt.host.infos["bad_panel"].status == "failed" and "panel exploded" in rt.host.infos["bad_panel"].error
        assert any("panel exploded" in m for m in _messages(app))
        # the plugin verb completes in the command bar, is listed in help and in the palette
        assert ("funding_heat", "ping", "ping [N]") in app.command_verbs()
        await pilot.press("colon", "p", "i")
        await pilot.pause(0.1)
        await pilot.press("tab")
        assert app.focused.value == "ping"
        await pilot.press("escape", "f1")
        await pilot.pause(0.1)
        assert "ping" in [str(c) for c in app.screen.tables[1].columns[0].cells]


async def test_command_palette_lists_actions_and_plugin_commands(tmp_path):
    from virtuoso_tui.ui.palette import VirtuosoCommands

    rt, app = await _app(tmp_path, plugins={"funding_heat": PANEL_PLUGIN})
    async with app.run_test(size=SIZE) as pilot:
        provider = VirtuosoCommands(app.screen)
        titles = [str(hit.text) async for hit in provider.discover()]
        assert {"Buy", "Sell", "Plugins", "Theme", "Command: buy", "Command: ping"} <= set(titles)
        hits = [hit async for hit in provider.search("plugins")]
        assert hits and str(hits[0].text) == "Plugins"
        app.call_later(hits[0].command)  # as the palette does with a chosen hit
        await pilot.pause(0.2)
        assert isinstance(app.screen, PluginsScreen)


async def test_plugins_screen_disables_and_reenables_a_plugin(tmp_path):
    rt, app = await _app(tmp_path, plugins={"funding_heat": PANEL_PLUGIN})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("p")
        await pilot.pause(0.2)
        table = app.screen.query_one("DataTable")
        table.move_cursor(row=table.get_row_index("funding_heat"))
        await pilot.press("d")
        await pilot.pause(0.1)
        assert rt.host.infos["funding_heat"].status == "disabled"
        assert rt.host.collect("virtuoso_commands") == []  # its hooks are no longer called
        await pilot.press("d")
        await pilot.pause(0.1)
        assert rt.host.infos["funding_heat"].status == "ok"
        assert [c.verb for _, c in rt.host.collect("virtuoso_commands")] == ["ping"]
        table.move_cursor(row=table.get_row_index("broken_panel"))
        await pilot.press("d")
        await pilot.pause(0.1)
        assert any("only a loaded plugin can be disabled" in m for m in _messages(app))


async def test_a_plugin_failing_at_run_time_is_announced(tmp_path):
    rt, app = await _app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        assert any("plugins failed to load: broken_panel" in m for m in _messages(app))
        rt.host.add(object(), "late_plugin")
        rt.host.mark_failed("late_plugin", "virtuoso_on_signal raised ValueError: bad")
        app._last_header_second = -1  # the next frame is a new second
        await pilot.pause(0.3)
        assert any("plugin late_plugin failed: virtuoso_on_signal raised ValueError: bad" in m
                   for m in _messages(app))


async def test_clicking_a_watchlist_row_selects_it(tmp_path):
    rt, app = await _app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.1)
        # border line, column header line, then BTC, ETH, SOL
        await pilot.click("#watchlist", offset=(4, 4))
        await pilot.pause(0.1)
        assert app.selected == "SOL/USDT"
        await pilot.click("#watchlist", offset=(4, 1))  # the header row selects nothing
        assert app.selected == "SOL/USDT"


async def test_backtest_results_screen_lists_stored_runs(tmp_path):
    from virtuoso_tui.storage import Storage
    from virtuoso_tui.ui.screens import BacktestScreen

    rt, app = await _app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")  # no database: a warning, no screen
        await pilot.pause(0.1)
        assert not isinstance(app.screen, BacktestScreen)
        assert any("no database" in m for m in _messages(app))
    storage = Storage(":memory:")
    ts = [1_767_225_600_000 + i * 3_600_000 for i in range(30)]
    storage.save_backtest_run(kind="event", strategy="sma_cross", params={"fast": 10}, symbol="BTC/USDT",
                              timeframe="1h", data="sim", metrics={"total_return": 0.0425, "trades": 7},
                              equity=list(zip(ts, [10_000 + 15 * i for i in range(30)], strict=True)))
    rt.storage = storage
    app = VirtuosoApp(rt, start_engine=False, clock=lambda: FROZEN)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await pilot.pause(0.2)
        assert isinstance(app.screen, BacktestScreen)
        row = app.screen.query_one("DataTable").get_row("1")
        assert row[:5] == ["1", "event", "sma_cross", "BTC/USDT", "1h"] and row[5] == "0.0425" and row[8] == "7"
        detail = str(app.screen.query_one("#run-detail").render())
        assert "run 1 · sma_cross" in detail and "•" in detail and "10,435.00" in detail  # last equity
    storage.close()



async def test_a_long_watchlist_scrolls_with_the_selection(tmp_path):
    symbols = tuple(f"C{i:02d}/USDT" for i in range(25))
    rt, app = await _app(tmp_path, symbols=symbols, seconds=120)
    async with app.run_test(size=(140, 30)) as pilot:
        await pilot.pause(0.2)
        assert "C24/USDT" not in _text(app, "watchlist")
        await pilot.press("k")  # wraps to the last symbol: the window follows
        await pilot.pause(0.2)
        text = _text(app, "watchlist")
        assert "▶C24/USDT" in text and " C00/USDT" not in text
        assert app.query_one("#watchlist").border_subtitle == "25/25"
        await pilot.click("#watchlist", offset=(4, 2))  # the first row shown, not C00
        await pilot.pause(0.1)
        assert app.selected == symbols[app.query_one("#watchlist").first]
        assert app.selected != "C00/USDT"
