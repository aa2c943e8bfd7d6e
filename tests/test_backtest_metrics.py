"""Metrics on hand-worked equity curves: every expected number is derived in the comments."""

from __future__ import annotations

import math

import numpy as np
import pytest

from virtuoso_tui.backtest import metrics as m

# Curve A: 100 -> 110 -> 99 -> 121, daily bars (365 per year).
# returns r = [+0.1, -0.1, +22/99 = 0.2222...]
EQ_A = np.array([100.0, 110.0, 99.0, 121.0])


def test_returns_and_total():
    np.testing.assert_allclose(m.bar_returns(EQ_A), [0.1, -0.1, 2 / 9])
    assert m.total_return(EQ_A) == pytest.approx(0.21)  # 121 / 100 - 1
    # 3 bars elapsed: 1.21 ** (365 / 3) - 1
    assert m.annualised_return(EQ_A, 365) == pytest.approx(1.21 ** (365 / 3) - 1)


def test_sharpe_by_hand():
    # mean = (0.1 - 0.1 + 2/9) / 3 = 2/27; deviations 0.1-2/27 = 0.7/27, -0.1-2/27 = -4.7/27, 2/9-2/27 = 4/27
    # sample variance = ((0.7/27)^2 + (4.7/27)^2 + (4/27)^2) / 2 = (0.49 + 22.09 + 16) / 729 / 2
    var = (0.49 + 22.09 + 16.0) / 729 / 2
    expected = (2 / 27) / math.sqrt(var) * math.sqrt(365)
    assert m.sharpe_ratio(m.bar_returns(EQ_A), 365) == pytest.approx(expected)
    assert expected == pytest.approx(8.6998, abs=1e-3)


def test_sortino_by_hand():
    # downside deviation = sqrt(mean([0, 0.01, 0])) = sqrt(0.01 / 3)
    expected = (2 / 27) / math.sqrt(0.01 / 3) * math.sqrt(365)
    assert m.sortino_ratio(m.bar_returns(EQ_A), 365) == pytest.approx(expected)
    assert m.sortino_ratio(np.array([0.01, 0.02]), 365) == math.inf  # nothing lost


def test_drawdown_and_duration_by_hand():
    # peak 110, trough 99: 11/110 = 10%; one bar under the peak before the new high 121
    assert m.max_drawdown(EQ_A) == pytest.approx(0.1)
    np.testing.assert_allclose(m.drawdown(EQ_A), [0.0, 0.0, 0.1, 0.0])
    assert m.max_drawdown_duration(EQ_A) == 1
    # runs under the peak: bars 1-2 (2 bars), then bars 5-7 still open at the end (3 bars)
    assert m.max_drawdown_duration(np.array([100, 90, 95, 100, 101, 98, 99, 97.0])) == 3
    assert m.max_drawdown_duration(np.array([1.0, 2.0, 3.0])) == 0


def test_var_and_expected_shortfall_by_hand():
    r = m.bar_returns(EQ_A)  # sorted: -0.1, 0.1, 0.2222
    # 5% quantile, linear: position 0.05 * (3 - 1) = 0.1 between -0.1 and 0.1 -> -0.1 + 0.1 * 0.2 = -0.08
    assert m.value_at_risk(r) == pytest.approx(0.08)
    assert m.expected_shortfall(r) == pytest.approx(0.1)  # mean of returns <= -0.08: just -0.1


def test_compute_metrics_whole_dict():
    trades = [
        {"pnl": 10.0, "fees": 0.2, "entry_price": 50.0, "size": 2.0},   # +10 on 100 notional: +10%
        {"pnl": -5.0, "fees": 0.2, "entry_price": 25.0, "size": 4.0},   # -5%
        {"pnl": 20.0, "fees": 0.3, "entry_price": 100.0, "size": 1.0},  # +20%
        {"pnl": -5.0, "fees": 0.3, "entry_price": 10.0, "size": 10.0},  # -5%
    ]
    out = m.compute_metrics(EQ_A, trades, timeframe="1d", exposure=np.array([0, 1, 1, 0.0]),
                            close=np.array([10.0, 11.0, 9.0, 12.0]))
    assert out["trades"] == 4
    assert out["win_rate"] == 0.5
    assert out["profit_factor"] == pytest.approx(30 / 10)
    assert out["expectancy"] == pytest.approx(5.0)           # (10 - 5 + 20 - 5) / 4
    assert out["avg_trade"] == pytest.approx(0.05)           # (0.10 - 0.05 + 0.20 - 0.05) / 4
    assert out["fees_paid"] == pytest.approx(1.0)
    assert out["exposure"] == 0.5
    assert out["buy_and_hold_return"] == pytest.approx(0.2)  # 12 / 10 - 1
    assert out["recovery_factor"] == pytest.approx(21 / 11)  # net profit 21 / worst drop 110 -> 99
    assert out["calmar"] == pytest.approx(out["annualised_return"] / 0.1)
    assert out["max_drawdown_ms"] == 86_400_000
    assert out["start_equity"] == 100.0 and out["end_equity"] == 121.0


def test_undefined_ratios_are_nan_or_inf_never_zero():
    flat = np.full(5, 100.0)
    out = m.compute_metrics(flat, [], timeframe="1h")
    assert math.isnan(out["sharpe"]) and math.isnan(out["win_rate"]) and math.isnan(out["profit_factor"])
    assert out["trades"] == 0 and out["max_drawdown"] == 0.0 and math.isnan(out["calmar"])
    wins = m.trade_stats([{"pnl": 1.0, "fees": 0.0, "entry_price": 1.0, "size": 1.0}])
    assert wins["profit_factor"] == math.inf
    assert math.isnan(m.sharpe_ratio(np.array([0.1]), 365))
    assert m.annualised_return(np.array([100.0, 0.0]), 365) == -1.0
    with pytest.raises(ValueError):
        m.periods_per_year("7m")


def test_metrics_are_scale_invariant():
    # equity in cents instead of dollars: every ratio the same
    a = m.compute_metrics(EQ_A, [], timeframe="1d")
    b = m.compute_metrics(EQ_A * 100, [], timeframe="1d")
    for key in ("total_return", "sharpe", "sortino", "max_drawdown", "var_95", "es_95", "recovery_factor"):
        assert a[key] == pytest.approx(b[key])
