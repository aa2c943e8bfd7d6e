"""The event engine and the vectorised path: hand-worked fills, and identical trades on real data."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "plugins") not in sys.path:  # the built-in strategies package, before it is installed
    sys.path.insert(0, str(ROOT / "plugins"))

from virtuoso_strategies import DonchianBreakout, SmaCross  # noqa: E402

from virtuoso_tui.backtest.broker import CandleBroker, FixedSlippage  # noqa: E402
from virtuoso_tui.backtest.data import from_arrays, load_candles  # noqa: E402
from virtuoso_tui.backtest.engine import run_events  # noqa: E402
from virtuoso_tui.backtest.runner import run_backtest  # noqa: E402
from virtuoso_tui.model import OrderIntent, OrderType  # noqa: E402
from virtuoso_tui.trading.strategy import Strategy  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
OHLCV = DATA / "ohlcv"
H = 3_600_000


def tiny():
    # bar: open, close. SMA(1) = close, SMA(2) = mean of the last two closes.
    # bar 2: close 11 > sma2 10 after 9 <= 9.5 -> up, buy at bar 3 open 11.5
    # bar 4: close 10 < sma2 11 after 12 >= 11.5 -> down, sell at bar 5 open 10.5
    # bar 5: up again, but there is no bar 6 to fill it: dropped
    opens = [10, 10, 9, 11.5, 12, 10.5]
    closes = [10, 9, 11, 12, 10, 13]
    ts = np.arange(6, dtype=np.int64) * H + 1_700_000_000_000 - (1_700_000_000_000 % H)
    cols = {"open": opens, "high": np.maximum(opens, closes), "low": np.minimum(opens, closes), "close": closes,
            "volume": [1.0] * 6}
    return from_arrays(ts, cols, symbol="T/USD", timeframe="1h")


@pytest.mark.parametrize("mode", ["event", "vector"])
def test_sma_cross_hand_worked(mode):
    c = tiny()
    r = run_backtest(c, SmaCross, {"fast": 1, "slow": 2}, fee=0.01, slippage_bps=100, capital=1000.0, mode=mode)
    assert len(r.trades) == 1
    t = r.trades[0]
    entry, exit_ = 11.5 * 1.01, 10.5 * 0.99              # 100 bps against us each way
    units = 1000.0 / (entry * 1.01)                       # all equity, the 1% fee fits inside it
    assert (t["entry_bar"], t["exit_bar"]) == (3, 5)
    assert t["entry_time"] == c.ts[3] and t["exit_time"] == c.ts[5]
    assert t["entry_price"] == pytest.approx(entry) and t["exit_price"] == pytest.approx(exit_)
    assert t["size"] == pytest.approx(units)
    assert t["fees"] == pytest.approx(units * entry * 0.01 + units * exit_ * 0.01)
    assert t["pnl"] == pytest.approx(units * exit_ * 0.99 - 1000.0)
    np.testing.assert_allclose(r.equity, [1000, 1000, 1000, units * 12, units * 10, units * exit_ * 0.99])
    np.testing.assert_allclose(r.position, [0, 0, 0, units, units, 0])


class BuyAndHold(Strategy):
    name = "test_hold"
    params = {}

    def on_bar(self, ctx):
        if ctx.position.amount == 0 and len(ctx.state.candles[ctx.timeframe]) == 1:
            return [OrderIntent(ctx.symbol, "buy", 1.0, equity_fraction=1.0)]
        return []


def test_funding_paid_by_a_long_at_the_next_open():
    c = tiny()
    # funding at bar 2's open time (rate +0.1%) and between bars 3 and 4 (rate -0.2%); one before the data
    funding = (np.array([c.ts[0] - H, c.ts[2], c.ts[3] + H // 2]), np.array([0.5, 0.001, -0.002]))
    r = run_events(c, BuyAndHold(), fee=0.0, capital=1000.0, funding=funding)
    units = 1000.0 / 10.0                                    # bought at bar 1's open, 10
    paid = -units * 9 * 0.001 + units * 12 * 0.002          # marked at the open of the paying bar
    assert r.funding_paid == pytest.approx(paid)
    assert r.trades[0]["funding"] == pytest.approx(paid)
    assert r.equity[-1] == pytest.approx(units * 13 + paid)  # closed at the last close, no fee
    assert r.trades[0]["pnl"] == pytest.approx(units * (13 - 10) + paid)


def test_candle_broker_refuses_limit_orders_and_ignores_reduce_only_when_flat():
    b = CandleBroker("X", capital=100.0)
    with pytest.raises(ValueError, match="market orders only"):
        b.submit(OrderIntent("X", "buy", 1.0, type=OrderType.LIMIT, price=1.0), 0)
    b.submit(OrderIntent("X", "sell", 1.0, reduce_only=True), 0)
    assert b.on_open(1, 10.0) == [] and b.cash == 100.0
    assert FixedSlippage(10).price("buy", 100.0, 1) == pytest.approx(100.1)


def _key(trades):
    return [(t["entry_bar"], t["exit_bar"], t["side"], t["entry_price"], t["exit_price"], t["exit_reason"])
            for t in trades]


CASES = [
    ("binance-spot-2024/BTC_USDT-1h.feather", SmaCross, {"fast": 10, "slow": 30}),
    ("binance-spot-2024/BTC_USDT-1h.feather", SmaCross, {"fast": 20, "slow": 100}),
    ("binance-spot-2024/ETH_USDT-1h.feather", SmaCross, {"fast": 5, "slow": 50}),
    ("freqtrade/UNITTEST_BTC-1m.feather", SmaCross, {"fast": 3, "slow": 12}),   # flat stretches: SMA ties
    ("binance-spot-2024/BTC_USDT-4h.feather", DonchianBreakout, {"n": 20}),
    ("binance-spot-2024/ETH_USDT-4h.feather", DonchianBreakout, {"n": 10, "short": False}),
]


@pytest.mark.parametrize("rel,cls,params", CASES)
def test_event_and_vector_trade_identically_on_real_data(rel, cls, params):
    c = load_candles(OHLCV / rel, symbol="X/USDT")
    ev = run_backtest(c, cls, params, fee=0.001, slippage_bps=3, mode="event")
    vec = run_backtest(c, cls, params, fee=0.001, slippage_bps=3, mode="vector")
    assert len(ev.trades) > 10
    assert _key(ev.trades) == _key(vec.trades)     # same bars, sides and prices, exactly
    for a, b in zip(ev.trades, vec.trades, strict=True):
        assert a["entry_time"] == b["entry_time"] and a["exit_time"] == b["exit_time"]
        for k in ("size", "pnl", "fees"):
            assert a[k] == pytest.approx(b[k], rel=1e-9, abs=1e-9)
    np.testing.assert_allclose(ev.equity, vec.equity, rtol=1e-9)
    np.testing.assert_allclose(ev.position, vec.position, rtol=1e-9)


def test_market_state_feed_matches_the_replay_feed():
    c = load_candles(OHLCV / "binance-spot-2024" / "BTC_USDT-1h.feather", symbol="BTC/USDT").slice(0, 3000)
    a = run_events(c, SmaCross({"fast": 10, "slow": 30}), fee=0.001, feed="market")
    b = run_events(c, SmaCross({"fast": 10, "slow": 30}), fee=0.001, feed="replay")
    assert a.decisions == b.decisions and _key(a.trades) == _key(b.trades)
    np.testing.assert_array_equal(a.equity, b.equity)


# -- the paper path: a backtest and a paper run of the same strategy give the same trades -----------
#
# The paper path (backtest/paper.py) is the real TradingDesk: order manager (sizing, risk rules,
# journal), PaperExecutor matching against a book, margin-style Portfolio. Bars, sides, times and exit
# reasons must be identical. Prices, sizes and PnL are compared to 1e-12 relative only because the two
# paths do the same arithmetic in a different order: the executor reports cost / filled as the fill
# price (one rounding off the level's price) and the portfolio books cash as realized PnL rather than
# as notional paid — a convention mismatch would show as a whole-bar or whole-tick difference.

def _same_trades(a, b, *, times=True):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert (x["entry_bar"], x["exit_bar"], x["side"], x["exit_reason"]) == \
               (y["entry_bar"], y["exit_bar"], y["side"], y["exit_reason"])
        if times:
            assert (x["entry_time"], x["exit_time"]) == (y["entry_time"], y["exit_time"])
        for k in ("entry_price", "exit_price", "size", "fees"):
            assert y[k] == pytest.approx(x[k], rel=1e-12), k
        assert y["pnl"] == pytest.approx(x["pnl"], rel=1e-9, abs=1e-9)


PAPER_CASES = [
    ("binance-spot-2024/BTC_USDT-1h.feather", SmaCross, {"fast": 10, "slow": 30}, 3.0),
    ("freqtrade/UNITTEST_BTC-1m.feather", SmaCross, {"fast": 3, "slow": 12}, 0.0),   # SMA ties, no spread
    ("binance-spot-2024/ETH_USDT-4h.feather", DonchianBreakout, {"n": 20}, 5.0),      # long and short
]


@pytest.mark.parametrize("rel,cls,params,slip", PAPER_CASES)
def test_paper_path_trades_like_the_default_path_on_candles(rel, cls, params, slip):
    c = load_candles(OHLCV / rel, symbol="X/USDT")
    default = run_backtest(c, cls, params, fee=0.001, slippage_bps=slip)              # vectorised
    paper = run_backtest(c, cls, params, fee=0.001, slippage_bps=slip, broker="paper")
    assert default.mode == "vector" and paper.mode == "event" and len(default.trades) > 10
    _same_trades(default.trades, paper.trades)
    np.testing.assert_allclose(paper.equity, default.equity, rtol=1e-12)
    np.testing.assert_allclose(paper.position, default.position, rtol=1e-12)


def test_paper_path_hand_worked_on_the_synthetic_open():
    # the tiny() example of test_sma_cross_hand_worked through the desk: the open 11.5 is shown as a
    # trade and a book with ask 11.5 * 1.01, bid 11.5 * 0.99 (100 bps slippage as the spread)
    c = tiny()
    r = run_backtest(c, SmaCross, {"fast": 1, "slow": 2}, fee=0.01, slippage_bps=100, capital=1000.0, broker="paper")
    entry, exit_ = 11.5 * 1.01, 10.5 * 0.99
    units = 1000.0 / (entry * 1.01)
    (t,) = r.trades
    assert (t["entry_bar"], t["exit_bar"], t["entry_time"], t["exit_time"]) == (3, 5, c.ts[3], c.ts[5])
    assert t["entry_price"] == pytest.approx(entry, rel=1e-15) and t["exit_price"] == pytest.approx(exit_, rel=1e-15)
    assert t["size"] == pytest.approx(units, rel=1e-14)
    assert t["pnl"] == pytest.approx(units * exit_ * 0.99 - 1000.0, rel=1e-12)
    np.testing.assert_allclose(r.equity, [1000, 1000, 1000, units * 12, units * 10, units * exit_ * 0.99], rtol=1e-12)


def test_paper_path_applies_the_risk_rules():
    from virtuoso_risk.rules import MaxPosition

    c = load_candles(OHLCV / "binance-spot-2024" / "BTC_USDT-1h.feather", symbol="BTC/USDT").slice(0, 2000)
    free = run_backtest(c, SmaCross, {"fast": 10, "slow": 30}, fee=0.001, broker="paper")
    capped = run_backtest(c, SmaCross, {"fast": 10, "slow": 30}, fee=0.001, broker="paper",
                          rules=[MaxPosition({"notional": 2_500.0})])
    assert [t["entry_bar"] for t in capped.trades] == [t["entry_bar"] for t in free.trades]
    for t in capped.trades:   # resized at submit to 2,500 of notional at the price the rule sees
        assert t["size"] * t["entry_price"] == pytest.approx(2_500.0, rel=1e-3)
    assert all(t["size"] * t["entry_price"] > 9_000.0 for t in free.trades[:1])


def test_paper_path_settles_funding_like_the_candle_broker_on_a_perpetual():
    c = from_arrays(tiny().ts, {k: getattr(tiny(), k) for k in ("open", "high", "low", "close", "volume")},
                    symbol="T/USD:USD", timeframe="1h")
    funding = (np.array([c.ts[2], c.ts[3] + H // 2]), np.array([0.001, -0.002]))
    a = run_events(c, BuyAndHold(), fee=0.0, capital=1000.0, funding=funding)
    from virtuoso_tui.backtest.paper import PaperBroker

    b = run_events(c, BuyAndHold(), capital=1000.0, funding=funding, broker=PaperBroker("T/USD:USD", capital=1000.0))
    assert a.funding_paid == pytest.approx(-100 * 9 * 0.001 + 100 * 12 * 0.002)
    assert b.funding_paid == pytest.approx(a.funding_paid, rel=1e-12)
    assert b.trades[0]["funding"] == pytest.approx(a.trades[0]["funding"], rel=1e-12)
    np.testing.assert_allclose(b.equity, a.equity, rtol=1e-12)


@pytest.mark.parametrize("symbol,cls,params", [
    ("BTC/USDT:USDT", SmaCross, {"fast": 3, "slow": 8}),
    ("BTC/USDT", DonchianBreakout, {"n": 5}),
])
def test_paper_path_trades_like_the_book_broker_on_a_recorded_sim_session(symbol, cls, params):
    pytest.importorskip("virtuoso_sim")
    from virtuoso_tui.backtest.data import sim_events
    from virtuoso_tui.backtest.runner import run_recorded

    events = list(sim_events(symbol, 150 * 60, seed=5))      # trades, book snapshots and deltas, tickers
    book = run_recorded(events, cls, params, symbol=symbol, timeframe="1m", fee=0.0005)
    paper = run_recorded(events, cls, params, symbol=symbol, timeframe="1m", fee=0.0005, broker="paper")
    assert len(book.trades) > 5 and book.metrics["book_fills"] == 2 * len(book.trades) - (
        1 if book.trades[-1]["exit_reason"] == "end" else 0)
    assert [(d[0], d[1][0][:2]) for d in book.decisions] == [(d[0], d[1][0][:2]) for d in paper.decisions]
    _same_trades(book.trades, paper.trades)          # filled at the boundary, walking the recorded book
    np.testing.assert_array_equal(book.ts, paper.ts)
    np.testing.assert_allclose(paper.equity, book.equity, rtol=1e-12)


def test_cli_backtest_with_the_paper_broker(capsys, tmp_path):
    import json

    from virtuoso_tui.cli import main

    data = OHLCV / "binance-spot-2024" / "BTC_USDT-4h.feather"
    base = ["backtest", "--data", str(data), "--param", "fast=5", "--param", "slow=20", "--from", "2024-03-01",
            "--to", "2024-04-30", "--json"]
    assert main(base) == 0
    default = json.loads(capsys.readouterr().out)
    assert default["mode"] == "vector" and len(default["trades"]) > 3
    spans = [(t["entry_time"], t["exit_time"]) for t in default["trades"]]
    # the configured rules of paper trading apply: the default 5% daily loss limit halts trading
    # after the first losing trade, so the paper run keeps only the trades before the halt
    # the paper path trades with the paper desk's balance and fees unless told otherwise
    assert main([*base, "--broker", "paper"]) == 0
    assert json.loads(capsys.readouterr().out)["equity"][0]["equity"] == 100_000.0   # [paper] starting_balance
    base += ["--capital", "10000", "--fee", "0.001"]
    assert main([*base, "--broker", "paper"]) == 0
    halted = json.loads(capsys.readouterr().out)
    assert halted["mode"] == "event" and 0 < len(halted["trades"]) < len(spans)
    assert [(t["entry_time"], t["exit_time"]) for t in halted["trades"]] == spans[:len(halted["trades"])]
    assert any("max_daily_loss" in w and "halted" in w for w in halted["warnings"])
    # with the halting rules switched off in the config, the paper run makes every trade
    cfg = tmp_path / "v.toml"
    cfg.write_text("[risk.max_daily_loss]\nenabled = false\n[risk.max_drawdown]\nenabled = false\n")
    assert main([*base, "--broker", "paper", "--config", str(cfg)]) == 0
    paper = json.loads(capsys.readouterr().out)
    assert [(t["entry_time"], t["exit_time"]) for t in paper["trades"]] == spans and not paper["warnings"]
    assert main([*base, "--broker", "paper", "--mode", "vector"]) == 2


class Recorder(Strategy):
    """Buys all equity on bar 3, sells on bar 8, and records what the context says on every bar."""
    name = "test_recorder"

    def __init__(self, params=None):
        super().__init__(params)
        self.seen = []

    def on_bar(self, ctx):
        n = len(ctx.state.candles[ctx.timeframe])
        self.seen.append((ctx.now, ctx.equity, ctx.cash, ctx.position.amount))
        if n == 3:
            return [OrderIntent(ctx.symbol, "buy", 1.0, equity_fraction=1.0)]
        if n == 8 and ctx.position.amount > 0:
            return [OrderIntent(ctx.symbol, "sell", ctx.position.amount, reduce_only=True)]
        return []


def test_the_replay_context_derives_now_and_equity_exactly_as_the_market_feed_stores_them():
    from dataclasses import replace

    c = load_candles(OHLCV / "binance-spot-2024" / "BTC_USDT-1h.feather", symbol="BTC/USDT").slice(0, 12)
    a, b = Recorder(), Recorder()
    ra = run_events(c, a, fee=0.001, slippage=FixedSlippage(2), feed="replay")
    rb = run_events(c, b, fee=0.001, slippage=FixedSlippage(2), feed="market")
    assert a.seen == b.seen and len(a.seen) == 12               # bit for bit, bar by bar
    assert [s[0] for s in a.seen] == (c.ts + H).tolist()       # now = the end of the closed candle
    assert a.seen[5][1] != a.seen[5][2]                        # holding: equity moves with the close
    assert ra.decisions == rb.decisions and _key(ra.trades) == _key(rb.trades)

    class Peek(Strategy):
        name = "test_peek"

        def on_bar(self, ctx):
            if len(ctx.state.candles[ctx.timeframe]) == 2:
                with pytest.raises(AttributeError):
                    ctx.equity = 1.0                         # the replay owns it
                self.copy = replace(ctx, symbol="COPY")     # a copy keeps the values it was made with
            return []

    p = Peek()
    run_events(c, p)
    assert (p.copy.symbol, p.copy.now, p.copy.equity) == ("COPY", int(c.ts[1]) + H, 10_000.0)
