"""Portfolio accounting and risk metrics on hand-worked examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from virtuoso_tui.model import Fill
from virtuoso_tui.risk import metrics
from virtuoso_tui.trading.portfolio import Portfolio, liquidation_price

SYM = "BTC/USDT:USDT"


def fill(side, amount, price, fee=0.0, ts=0, sym=SYM):
    return Fill("c", sym, side, ts, price, amount, fee)


def test_average_entry_realized_pnl_flip_and_fees():
    pf = Portfolio(1_000.0)
    pf.apply_fill(fill("buy", 2, 100, fee=0.2, ts=1))
    pf.apply_fill(fill("buy", 1, 130, fee=0.13, ts=2))
    p = pf.positions[SYM]
    assert (p.amount, p.entry_price, p.opened_ts) == (3, pytest.approx(110.0), 1)
    assert pf.apply_fill(fill("sell", 1, 120, ts=3)) == pytest.approx(10.0)
    assert pf.apply_fill(fill("sell", 3, 90, ts=4)) == pytest.approx(-40.0)  # closes 2 at -20 each, opens short 1
    assert (p.amount, p.entry_price, p.opened_ts) == (-1, 90.0, 4)
    pf.mark(SYM, 85.0)
    assert pf.unrealized() == pytest.approx(5.0)
    assert pf.apply_fill(fill("buy", 1, 80, ts=5)) == pytest.approx(10.0)
    assert p.amount == 0 and p.realized_pnl == pytest.approx(-20.0) and p.fees == pytest.approx(0.33)
    assert pf.cash == pytest.approx(1_000.0 - 20.0 - 0.33) and pf.equity() == pf.cash
    assert (pf.stats.wins, pf.stats.losses) == (2, 1)
    assert pf.stats.win_rate == pytest.approx(2 / 3) and pf.stats.win_loss_ratio == pytest.approx(10 / 40)


def test_funding_long_pays_short_receives():
    pf = Portfolio(1_000.0)
    pf.apply_fill(fill("buy", 2, 100))
    assert pf.apply_funding(SYM, 0.0001, 105.0) == pytest.approx(0.021)
    assert pf.cash == pytest.approx(999.979)
    pf.apply_fill(fill("sell", 4, 100))  # now short 2
    assert pf.apply_funding(SYM, 0.0001, 100.0) == pytest.approx(-0.02)
    assert pf.positions[SYM].funding == pytest.approx(0.001)
    assert pf.apply_funding("ETH/USDT:USDT", 0.01, 10.0) == 0.0


def test_equity_exposure_margin_and_liquidation_price():
    pf = Portfolio(1_000.0, leverage=5.0)
    pf.apply_fill(fill("buy", 1, 100))
    pf.apply_fill(fill("sell", 2, 50, sym="ETH/USDT:USDT"))
    pf.mark(SYM, 110.0)
    pf.mark("ETH/USDT:USDT", 40.0)
    assert pf.equity() == pytest.approx(1_000 + 10 + 20)
    assert pf.exposure() == pytest.approx((190.0, 30.0, 190.0 / 1030.0))
    assert pf.margin_used() == pytest.approx(190.0 / 5)
    assert liquidation_price(100.0, 1.0, 5.0, 0.0) == pytest.approx(80.0)   # no maintenance: lose 1/L
    assert liquidation_price(100.0, -1.0, 5.0, 0.0) == pytest.approx(120.0)
    assert liquidation_price(100.0, 0.0, 5.0) is None


R = np.array([-0.05, -0.02, 0.01, 0.03, -0.01, 0.02, 0.00, -0.03, 0.04, 0.01])


def test_historical_var_and_es_hand_worked():
    # sorted: -.05 -.03 -.02 -.01 0 .01 .01 .02 .03 .04; the 5% quantile sits 0.45 of the way from -.05 to -.03
    assert metrics.historical_var(R, 0.95) == pytest.approx(0.041)
    assert metrics.historical_var(R, 0.99) == pytest.approx(0.0482)
    assert metrics.expected_shortfall(R, 0.95) == pytest.approx(0.05)
    assert metrics.expected_shortfall(R, 0.99) == pytest.approx(0.05)
    # properties: ES >= VaR, VaR scales with the returns, too little data is NaN
    rng = np.random.default_rng(7)
    x = rng.normal(0, 0.01, 500)
    for lvl in metrics.VAR_LEVELS:
        assert metrics.expected_shortfall(x, lvl) >= metrics.historical_var(x, lvl)
        assert metrics.historical_var(3 * x, lvl) == pytest.approx(3 * metrics.historical_var(x, lvl))
    assert np.isnan(metrics.historical_var(np.array([0.1]))) and np.isnan(metrics.expected_shortfall(np.array([])))


def test_drawdown_and_max_drawdown():
    eq = np.array([100.0, 120.0, 90.0, 130.0, 65.0])
    assert metrics.drawdown(eq) == pytest.approx([0, 0, 0.25, 0, 0.5])
    assert metrics.max_drawdown(eq) == pytest.approx(0.5)
    assert metrics.max_drawdown(np.array([1.0, 2.0, 3.0])) == 0.0
    assert np.isnan(metrics.max_drawdown(np.array([])))


def test_correlation_matches_pandas():
    rng = np.random.default_rng(3)
    a = rng.normal(size=200)
    b = 0.8 * a + 0.2 * rng.normal(size=200)
    c = rng.normal(size=200)
    m = metrics.correlation(np.column_stack([a, b, c]))
    ref = pd.DataFrame({"a": a, "b": b, "c": c}).corr().to_numpy()
    assert m == pytest.approx(ref)
    assert np.isnan(metrics.correlation(np.ones((2, 2)))).all()


def test_portfolio_curve_metrics_and_symbol_correlation():
    pf = Portfolio(1_000.0)
    pf.apply_fill(fill("buy", 1, 100))
    pf.apply_fill(fill("buy", 1, 10, sym="ETH/USDT:USDT"))
    prices = 100 + np.cumsum(np.tile([1.0, -2.0, 1.5], 10))
    for i, p in enumerate(prices):
        pf.mark(SYM, p)
        pf.mark("ETH/USDT:USDT", p / 10)
        pf.record_equity(i)
    ts, eq = pf.equity_curve
    assert len(ts) == 30 and eq[-1] == pytest.approx(pf.equity())
    corr = pf.correlation([SYM, "ETH/USDT:USDT"])
    assert corr[0, 1] == pytest.approx(1.0)
    m = pf.risk_metrics()
    assert m["max_drawdown"] == pytest.approx(metrics.max_drawdown(eq))
    assert m["var95"] == pytest.approx(metrics.historical_var(metrics.simple_returns(eq), 0.95))


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

fills_strategy = st.lists(
    st.tuples(st.sampled_from(["buy", "sell"]), st.floats(0.001, 10.0), st.floats(1.0, 1000.0), st.floats(0.0, 1.0)),
    min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(fills_strategy, st.floats(1.0, 1000.0))
def test_average_entry_accounting_equals_cash_flow_accounting(fills, mark):
    """Equity by average-entry bookkeeping (cash + realized - fees + unrealized) must equal plain cash
    flows: start - sum(signed amount * price) - fees + position * mark."""
    pf = Portfolio(5_000.0)
    flow, held = 5_000.0, 0.0
    for side, amount, price, fee in fills:
        pf.apply_fill(fill(side, amount, price, fee=fee))
        signed = amount if side == "buy" else -amount
        flow -= signed * price + fee
        held += signed
    pf.mark(SYM, mark)
    assert pf.positions[SYM].amount == pytest.approx(held, abs=1e-9)
    assert pf.equity() == pytest.approx(flow + held * mark, rel=1e-9, abs=1e-6)
