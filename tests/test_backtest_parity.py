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

from virtuoso_tui.backtest.broker import CandleBroker, FixedSlippage, equity_tag  # noqa: E402
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
            return [OrderIntent(ctx.symbol, "buy", 1.0, tag=equity_tag(1.0))]
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
