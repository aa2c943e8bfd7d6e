"""Unit tests of the console's pure parts: the rich renderers (gauge, chart, ladder, tape, watchlist),
the bus collector, themes and key remapping — checked against hand-worked layouts, no terminal."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest

from virtuoso_tui.bus import EventBus
from virtuoso_tui.model import Order, OrderStatus, OrderType, Position, Trade
from virtuoso_tui.ui.keys import KEY_ACTIONS, KeyMapError, key_for, remap
from virtuoso_tui.ui.model import ConsoleModel
from virtuoso_tui.ui.render import (
    fmt_price,
    gauge,
    render_book,
    render_chart,
    render_tape,
    render_trading,
    render_watchlist,
)
from virtuoso_tui.ui.themes import Palette, UnknownThemeError, available_themes, load_theme

P = Palette()


def _styles_at(text, index):
    return [str(text.style)] + [str(span.style) for span in text.spans if span.start <= index < span.end]


def test_gauge_fill_is_proportional_and_coloured_by_band():
    for score, filled in ((0, 0), (50, 10), (65, 13), (100, 20), (34.9, 7)):
        g = gauge(score, 20, P)
        assert g.plain.count("▓") == filled and len(g.plain) == 20
    assert P.up in _styles_at(gauge(80, 20, P), 0)
    assert P.down in _styles_at(gauge(20, 20, P), 0)
    assert gauge(None, 20, P).plain == "·" * 20  # n/a: nothing filled


def test_chart_scales_candles_between_lowest_low_and_highest_high():
    # three candles: up 10->12 (wick 9..13), down 12->11, up 11->14 (wick 10..15)
    o, h = np.array([10.0, 12, 11]), np.array([13.0, 12.5, 15])
    lo, c = np.array([9.0, 10.5, 10]), np.array([12.0, 11, 14])
    height, width = 7, 3 + 11
    lines = render_chart(o, h, lo, c, width=width, height=height, palette=P).plain.split("\n")
    assert len(lines) == height
    cols = ["".join(line[i] for line in lines) for i in range(3)]
    # price 15 is row 0, 9 is row 6: one row per 1.0
    assert cols[2][0] in "│█" and cols[0][6] in "│█"  # highest high top, lowest low bottom
    assert cols[0][:2] == "  " and cols[0][2] == "│"  # candle 1: wick at 13 (row 2), body 12..10 rows 3..5
    assert cols[0][3:6] == "███"
    assert cols[2][1:5] == "████" and cols[2][5] == "│"  # candle 3 body 14..11 rows 1..4, wick down to 10
    assert "◀" in lines[1] and "14.000" in lines[1]  # the last close marked on the axis
    assert "15.000" in lines[0] and "9.0000" in lines[6]


def test_chart_marks_the_signal_and_waits_without_data():
    o = h = lo = c = np.array([])
    assert "waiting" in render_chart(o, h, lo, c, width=40, height=10, palette=P).plain
    o, h, lo, c = (np.array([1.0, 2.0]), np.array([2.0, 3.0]), np.array([0.5, 1.5]), np.array([2.0, 2.5]))
    assert "▲" in render_chart(o, h, lo, c, width=30, height=8, palette=P, side="LONG").plain
    assert "▼" in render_chart(o, h, lo, c, width=30, height=8, palette=P, side="SHORT").plain


def test_book_ladder_puts_best_prices_at_the_spread_and_bars_grow_with_depth():
    bids = np.array([[99.0, 1.0], [98.0, 2.0], [97.0, 3.0]])
    asks = np.array([[101.0, 1.0], [102.0, 1.0], [103.0, 4.0]])
    lines = render_book(bids, asks, levels=3, width=40, palette=P, spread=2.0,
                        spread_bps=200.0).plain.split("\n")
    prices = [line.split()[0] for line in lines if "spread" not in line]
    assert prices == ["103.000", "102.000", "101.000", "99.000", "98.000", "97.000"]
    assert "spread" in lines[3] and "200.0 bps" in lines[3]  # 2 / 100 mid
    bars = [line.count("█") for line in lines if "spread" not in line]
    assert bars[0] == max(bars) and bars[-1] == max(bars)  # deepest cumulative size at the outside
    assert bars[3] < bars[4] < bars[5] and bars[2] < bars[1] < bars[0]
    assert "invalid" in render_book(bids, asks, levels=3, width=40, palette=P, valid=False, reason="gap").plain


def test_tape_colours_by_aggressor_and_never_guesses_unknown():
    trades = [Trade("X", 1_000, 10.0, 1.0, "buy"), Trade("X", 2_000, 9.0, 1.0, "sell"),
              Trade("X", 3_000, 9.5, 1.0, None)]
    text = render_tape(trades, P, rows=3)
    lines = text.plain.split("\n")
    assert [line[-1] for line in lines] == ["▲", "▼", "·"]
    starts = [text.plain.index(line) for line in lines]
    assert P.up in _styles_at(text, starts[0] + 12)
    assert P.down in _styles_at(text, starts[1] + 12)
    assert P.neutral in _styles_at(text, starts[2] + 12)
    assert len(render_tape(trades, P, rows=2).plain.split("\n")) == 2


def test_watchlist_marks_the_selected_symbol_and_na_scores():
    sig = SimpleNamespace(score=71.2, side="LONG")
    text = render_watchlist([("BTC/USDT", 65000.0, 1.5, sig), ("ETH/USDT", None, None, None)], "ETH/USDT", P)
    lines = text.plain.split("\n")
    assert lines[1].startswith(" BTC/USDT") and "71.2" in lines[1] and "LONG" in lines[1] and "+1.50" in lines[1]
    assert lines[2].startswith("▶ETH/USDT") and "n/a" in lines[2] and "—" in lines[2]


def test_trading_panel_unrealised_pnl_at_the_mark():
    pos = Position("BTC/USDT", amount=0.5, entry_price=60_000, realized_pnl=12.5)
    order = Order("abc12345", "BTC/USDT", "buy", OrderType.LIMIT, 1.0, price=59_000, status=OrderStatus.SUBMITTED)
    text = render_trading([pos], [order], {"BTC/USDT": 61_000.0}, P).plain
    assert "LONG" in text and re.search(r"u +\+500\.00", text)  # (61000 - 60000) * 0.5
    assert "limit" in text and "59,000.00" in text and "submitted" in text
    assert "unrealised +500.00" in text and "realised +12.50" in text
    # a narrow panel: two lines per row, never a number cut by wrapping
    for width in (32, 34, 40):
        narrow = render_trading([pos], [order], {"BTC/USDT": 61_000.0}, P, width=width).plain.split("\n")
        assert all(len(line) <= width for line in narrow), (width, narrow)
        assert narrow[0].split() == ["BTC/USDT", "LONG", "0.5000", "@", "60,000.00"]
        assert narrow[1].split() == ["u", "+500.00", "r", "+12.50"]
        assert narrow[2].split() == ["abc12345", "buy", "limit", "submitted"]
        assert narrow[3].split() == ["0.0000/1.000", "@", "59,000.00"]
        assert narrow[4:] == ["PnL unrealised +500.00", "    realised +12.50"]


def test_price_format_by_magnitude():
    assert fmt_price(65000.123) == "65,000.12"
    assert fmt_price(3.14159) == "3.1416"
    assert fmt_price(0.000123456) == "0.000123456"
    assert fmt_price(None) == "—" and fmt_price(float("nan")) == "—"


def test_collector_marks_only_what_changed_and_bounds_its_buffers():
    bus = EventBus()
    engine = SimpleNamespace(symbols=["A/USDT", "B/USDT"], states={}, signals={}, now=5_000)
    model = ConsoleModel(engine, tape_size=3)
    model.attach(bus)
    model.take_dirty()
    for i in range(5):
        bus.publish("trade", Trade("A/USDT", i, 1.0 + i, 1.0, "buy"))
    assert model.take_dirty() == {"tape:A/USDT", "watch", "header"}  # the chart draws closed candles only
    assert [t.price for t in model.tape["A/USDT"]] == [5.0, 4.0, 3.0]  # newest first, bounded
    bus.publish("book", SimpleNamespace(symbol="B/USDT"))
    assert model.take_dirty() == {"book:B/USDT", "header"}
    for i in range(30):
        bus.publish("error", {"message": f"e{i}"})
    assert len(model.take_notices()) == 3 and len(model.notices) <= 20  # a burst never floods the screen
    assert model.log[-1] == (5_000, "error", "e29")
    order = Order("o1", "A/USDT", "buy", OrderType.LIMIT, 1.0, price=1.0, status=OrderStatus.SUBMITTED)
    bus.publish("order", order)
    assert "o1" in model.orders
    bus.publish("order", Order("o1", "A/USDT", "buy", OrderType.LIMIT, 1.0, status=OrderStatus.CANCELLED))
    assert "o1" not in model.orders
    model.detach()
    bus.publish("trade", Trade("A/USDT", 9, 9.0, 1.0, "sell"))
    assert model.tape["A/USDT"][0].price == 5.0


def test_themes_are_listed_and_an_unknown_one_names_them():
    assert available_themes() == ["dark", "high-contrast", "light"]
    for name in available_themes():
        theme = load_theme(name)
        assert theme.palette.up.startswith("#") and theme.palette.up != theme.palette.down
    assert load_theme(None).name == "dark"
    with pytest.raises(UnknownThemeError, match=r"unknown theme 'solarized' \(available: dark, high-contrast, light\)"):
        load_theme("solarized")
    with pytest.raises(UnknownThemeError):
        load_theme("../pyproject")


def test_key_remap_validates_ids():
    assert remap({"buy": "B", "quit": "ctrl+q, x"}) == {"buy": "B", "quit": "ctrl+q,x"}
    assert key_for("buy", {"buy": "B"}) == "B" and key_for("sell", {}) == "s"
    with pytest.raises(KeyMapError, match="unknown key action 'byu'"):
        remap({"byu": "b"})
    with pytest.raises(KeyMapError, match="must be a key name"):
        remap({"buy": " "})
    ids = [k.id for k in KEY_ACTIONS]
    assert len(ids) == len(set(ids))


def test_line_chart_and_time_axis():
    c = np.array([1.0, 3.0, 2.0])
    ts = np.array([0, 60_000, 120_000]) + 1_767_225_600_000  # 00:00, 00:01, 00:02 UTC
    text = render_chart(c, c, c, c, width=11 + 12, height=6, palette=P, line=True, ts=ts)
    lines = text.plain.split("\n")
    assert len(lines) == 6  # five rows of chart (two price units per row) and the time axis
    grid = lines[:5]
    cols = ["".join(row[9 + i] for row in grid) for i in range(3)]  # 9 columns of padding before 3 candles
    # 1 on the bottom row, 3 on the top row joined by a rising stroke, 2 in the middle joined down
    assert cols[0] == "    •" and cols[1] == "•│││ " and cols[2] == " │•  "
    assert lines[-1].rstrip().endswith("00:02") and len(lines[-1].rstrip()) == 9 + 3  # too narrow for both
    wide = render_chart(c, c, c, c, width=11 + 12, height=6, palette=P, ts=ts).plain.split("\n")[-1]
    assert "00:02" in wide
    many = np.arange(20, dtype=float) + 1
    tsm = np.arange(20) * 60_000 + 1_767_225_600_000
    axis = render_chart(many, many, many, many, width=11 + 20, height=6, palette=P, ts=tsm).plain.split("\n")[-1]
    assert axis.startswith("00:00") and axis.rstrip().endswith("00:19")


def test_gauges_fit_the_panel_and_always_show_the_side():
    from virtuoso_tui.ui.render import render_gauges

    face = SimpleNamespace(score=55.0, confidence=0.8)
    signal = SimpleNamespace(score=52.5, side="NEUTRAL", confidence=0.53, faces={"technical": face, "volume": None})
    for width in (28, 36, 48, 60, 90):
        lines = render_gauges(signal, ["technical", "volume"], None, P, width=width).plain.split("\n")
        assert all(len(line) <= width for line in lines), (width, lines)
        assert "NEUTRAL" in lines[-1] and "52.5" in lines[-1]
        assert "n/a" in lines[1]  # a face without a result is n/a, never 50
    assert "c0.53" in render_gauges(signal, ["technical"], None, P, width=90).plain
    waiting = SimpleNamespace(**{**vars(signal), "score": 66.0, "pending": ("LONG", 12.0, 30.0)})
    for width in (48, 60, 90):
        last = render_gauges(waiting, ["technical"], None, P, width=width).plain.split("\n")[-1]
        assert len(last) <= width and "NEUTRAL" in last
        assert "→LONG 18s" in last, (width, last)   # 30 s needed, 12 s held
    for width in (28, 36):   # no room: the side wins
        narrow = render_gauges(waiting, ["technical"], None, P, width=width).plain.split("\n")[-1]
        assert "NEUTRAL" in narrow and "→LONG" not in narrow and len(narrow) <= width


def test_watchlist_window_follows_the_selection():
    from virtuoso_tui.ui.render import watchlist_window

    assert watchlist_window(5, 4, 10, 0) == 0  # everything fits
    assert watchlist_window(20, 3, 5, 0) == 0  # inside the window: no scroll
    assert watchlist_window(20, 5, 5, 0) == 1  # one below: scroll by one
    assert watchlist_window(20, 19, 5, 1) == 15  # jump to the end
    assert watchlist_window(20, 0, 5, 15) == 0  # wrap back to the top
    assert watchlist_window(20, 12, 5, 10) == 10


def test_header_shows_mode_health_latency_and_both_clocks():
    from virtuoso_tui.model.market import SourceHealth
    from virtuoso_tui.ui.render import render_header

    up = SourceHealth("binance", 0, True, latency_ms=41.6, messages_per_s=850.0)
    text = render_header(source="binance", symbols=20, mode="LIVE", health=up, market_ts=1_767_225_661_000,
                         wall_ts=1_767_225_600.0, lifecycle="running", palette=P)
    plain = text.plain
    assert " LIVE " in plain and "● connected 42ms 850/s" in plain
    assert "mkt 00:01:01" in plain and "00:00:00 UTC" in plain
    live_at = plain.index(" LIVE ")
    assert any("blink" in s and P.live in s for s in _styles_at(text, live_at + 1))  # unmistakable
    down = SourceHealth("binance", 0, False, detail="reconnecting in 2s")
    plain = render_header(source="binance", symbols=20, mode="PAPER", health=down, market_ts=0, wall_ts=0,
                          lifecycle="running", palette=P).plain
    assert " PAPER " in plain and "● down reconnecting in 2s" in plain and "mkt --:--:--" in plain


def test_log_lines_show_market_time_level_and_message():
    from virtuoso_tui.ui.render import render_log

    entries = [(60_000, "info", "one"), (125_000, "warning", "order vt-1 rejected"), (3_600_000, "error", "boom")]
    lines = render_log(entries, P, rows=2).plain.split("\n")
    assert lines == ["00:02:05 warn  order vt-1 rejected", "01:00:00 error boom"]   # the newest two
