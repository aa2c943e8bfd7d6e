"""Sizing (fixed, % risk, ATR, Kelly, portfolio cap) and every stop/exit type."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from virtuoso_tui.model import OrderIntent, Position
from virtuoso_tui.risk.rule import RiskContext
from virtuoso_tui.trading.portfolio import TradeStats
from virtuoso_tui.trading.sizing import Sizer, SizingError, atr_size, kelly_fraction, percent_risk_size
from virtuoso_tui.trading.stops import ExitPlan, atr

SYM = "BTC/USDT"


def wilder_atr(high, low, close, n):
    """Independent reference: Wilder's ATR written out longhand."""
    tr = [max(high[i] - low[i], abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1])) for i in range(1, len(close))]
    a = sum(tr[:n]) / n
    for x in tr[n:]:
        a = (a * (n - 1) + x) / n
    return a


def test_atr_matches_wilder_on_real_candles(shared_data):
    df = pd.read_feather(shared_data / "ohlcv" / "binance-spot-2024" / "BTC_USDT-1h.feather").iloc[:200]
    h, lo, c = (df[k].to_numpy() for k in ("high", "low", "close"))
    assert atr(h, lo, c, 14) == pytest.approx(wilder_atr(h, lo, c, 14), rel=1e-9)
    assert np.isnan(atr(h[:10], lo[:10], c[:10], 14))


def test_percent_risk_and_atr_sizes():
    assert percent_risk_size(10_000, 0.01, 100.0, 95.0) == pytest.approx(20.0)  # 100 at risk / 5 per unit
    assert atr_size(10_000, 0.01, 2.5, 2.0) == pytest.approx(20.0)
    with pytest.raises(SizingError, match="no risk distance"):
        percent_risk_size(10_000, 0.01, 100.0, 100.0)
    with pytest.raises(SizingError, match="positive ATR"):
        atr_size(10_000, 0.01, float("nan"), 2.0)


def test_kelly_fraction_hand_worked_and_capped():
    assert kelly_fraction(0.6, 1.5, cap=1.0) == pytest.approx(0.6 - 0.4 / 1.5)
    assert kelly_fraction(0.6, 1.5, cap=1.0, multiplier=0.5) == pytest.approx((0.6 - 0.4 / 1.5) / 2)
    assert kelly_fraction(0.6, 1.5, cap=0.25) == 0.25
    assert kelly_fraction(0.3, 1.0) == 0.0  # negative edge: no bet
    with pytest.raises(SizingError):
        kelly_fraction(float("nan"), 1.0)


def test_sizer_methods():
    assert Sizer({"method": "fixed", "notional": 500}).amount(100.0, 0) == 5.0
    assert Sizer({"method": "fixed", "amount": 0.3}).amount(100.0, 0) == 0.3
    assert Sizer({"method": "risk", "risk_pct": 1}).amount(100.0, 10_000, stop=98.0) == pytest.approx(50.0)
    assert Sizer({"method": "atr", "risk_pct": 2, "atr_multiple": 3}).amount(100.0, 10_000, atr=2.0) == pytest.approx(200 / 6)
    stats = TradeStats()
    for pnl in [30, 30, 30, -20, -20] * 4:  # p = 0.6, b = 1.5
        stats.record(pnl)
    k = Sizer({"method": "kelly", "kelly_fraction": 0.5, "kelly_cap": 0.25, "min_trades": 20})
    assert k.amount(100.0, 10_000, stats=stats) == pytest.approx(10_000 * (0.6 - 0.4 / 1.5) / 2 / 100)
    with pytest.raises(SizingError, match="needs 20 recorded trades, have 5"):
        few = TradeStats()
        for pnl in [1, 1, 1, -1, -1]:
            few.record(pnl)
        k.amount(100.0, 10_000, stats=few)
    with pytest.raises(ValueError, match="method must be one of"):
        Sizer({"method": "martingale"})
    with pytest.raises(ValueError, match="no option 'size'"):
        Sizer({"size": 1})


def test_portfolio_cap():
    s = Sizer({"max_position_fraction": 0.5})
    ctx = RiskContext(0, 10_000.0, 10_000.0, 10_000.0, {SYM: Position(SYM, 20.0, 100.0)}, {SYM: 100.0})
    assert s(OrderIntent(SYM, "buy", 100.0), ctx).amount == pytest.approx(30.0)  # 50 max - 20 held
    assert s(OrderIntent(SYM, "sell", 100.0), ctx).amount == 100.0  # reducing/flipping is left to risk
    assert Sizer({})(OrderIntent(SYM, "buy", 1e9), ctx).amount == 1e9  # cap off by default


def test_fixed_stop_long_and_short():
    p = ExitPlan(SYM, "buy", 100.0, 2.0, 0, stop=95.0)
    assert p.update(96.0, 1) == []
    (e,) = p.update(94.0, 2)
    assert (e.amount, e.reason, e.price) == (2.0, "stop", 95.0) and p.done
    s = ExitPlan(SYM, "sell", 100.0, 1.0, 0, stop=105.0)
    assert s.update(104.0, 1) == [] and s.update(100.0, 2, high=105.5, low=99.0)[0].reason == "stop"


def test_atr_stop_placement():
    p = ExitPlan.from_atr(SYM, "buy", 100.0, 1.0, 0, atr_value=2.0, mult=1.5)
    assert p.stop == 97.0
    s = ExitPlan.from_atr(SYM, "sell", 100.0, 1.0, 0, atr_value=2.0, mult=1.5)
    assert s.stop == 103.0
    with pytest.raises(ValueError, match="ATR must be positive"):
        ExitPlan.from_atr(SYM, "buy", 100.0, 1.0, 0, atr_value=0.0)


def test_trailing_stop_follows_the_best_price():
    p = ExitPlan(SYM, "buy", 100.0, 1.0, 0, trail=5.0)
    assert p.stop == 95.0
    for price in (104.0, 110.0, 108.0):
        assert p.update(price, 1) == []
    assert p.stop == 105.0  # 110 - 5, never loosened by the dip to 108
    (e,) = p.update(104.9, 2)
    assert e.reason == "trailing stop" and e.price == 105.0


def test_break_even_move():
    p = ExitPlan(SYM, "buy", 100.0, 1.0, 0, stop=95.0, breakeven_at=3.0)
    p.update(102.0, 1)
    assert p.stop == 95.0
    p.update(103.0, 2)
    assert p.stop == 100.0 and p.stop_kind == "break-even stop"
    assert p.update(99.9, 3)[0].reason == "break-even stop"


def test_time_stop():
    p = ExitPlan(SYM, "sell", 100.0, 1.0, 1_000, time_stop_ms=60_000)
    assert p.update(100.0, 60_999) == []
    (e,) = p.update(99.0, 61_000)
    assert e.reason == "time stop" and e.amount == 1.0


def test_partial_take_profits_then_stop_closes_the_rest():
    p = ExitPlan(SYM, "buy", 100.0, 4.0, 0, stop=90.0, take_profits=[(110.0, 0.25), (120.0, 0.5)])
    (a,) = p.update(111.0, 1)
    assert (a.amount, a.reason, a.price) == (1.0, "take profit", 110.0)
    (b,) = p.update(125.0, 2)
    assert b.amount == 2.0 and p.remaining == 1.0
    (c,) = p.update(89.0, 3)
    assert c.amount == 1.0 and c.reason == "stop"
    with pytest.raises(ValueError, match="more than the whole position"):
        ExitPlan(SYM, "buy", 100.0, 1.0, 0, take_profits=[(110.0, 0.7), (120.0, 0.5)])


def test_candle_checks_the_old_stop_before_take_profits():
    """A candle touching both the stop and a target: the stop (conservative) wins."""
    p = ExitPlan(SYM, "buy", 100.0, 1.0, 0, stop=95.0, take_profits=[(110.0, 1.0)])
    (e,) = p.update(100.0, 1, high=111.0, low=94.0)
    assert e.reason == "stop"
