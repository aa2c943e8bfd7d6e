"""The paper broker and OrderIntent.equity_fraction: sizing at the price the order will meet, in the
order manager (paper/live) and in every backtest broker, with one formula."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

from virtuoso_paper.matching import PaperExecutor  # noqa: E402

from virtuoso_tui.backtest.broker import CandleBroker, FixedSlippage  # noqa: E402
from virtuoso_tui.backtest.data import from_arrays  # noqa: E402
from virtuoso_tui.backtest.engine import run_events  # noqa: E402
from virtuoso_tui.backtest.paper import PaperBroker  # noqa: E402
from virtuoso_tui.model import OrderIntent, OrderStatus  # noqa: E402
from virtuoso_tui.risk.rule import RiskContext  # noqa: E402
from virtuoso_tui.trading.bookview import ArrayBook  # noqa: E402
from virtuoso_tui.trading.journal import SqliteJournal  # noqa: E402
from virtuoso_tui.trading.orders import OrderManager  # noqa: E402
from virtuoso_tui.trading.portfolio import Portfolio  # noqa: E402
from virtuoso_tui.trading.sizing import Sizer, SizingError, equity_fraction_amount  # noqa: E402
from virtuoso_tui.trading.strategy import Strategy  # noqa: E402

H = 3_600_000


def test_equity_fraction_amount_hand_worked_and_bad_inputs():
    # half of 10,000 at 100 with a 0.1% fee inside: 5000 / 100.1
    assert equity_fraction_amount(0.5, 10_000.0, 100.0, 0.001) == pytest.approx(5000.0 / 100.1, rel=1e-15)
    assert equity_fraction_amount(1.0, 10_000.0, 100.0) == 100.0
    for args in ((0.0, 1e4, 100.0), (float("nan"), 1e4, 100.0), (1.0, 1e4, None), (1.0, 1e4, 0.0),
                 (1.0, -5.0, 100.0), (1.0, float("inf"), 100.0)):
        with pytest.raises(SizingError):
            equity_fraction_amount(*args)


def _manager(quote: bool):
    pf = Portfolio(10_000.0)
    paper = PaperExecutor({"taker_fee": 0.001, "maker_fee": 0.0})
    book = ArrayBook("X/USD", [(99.0, 500.0)], [(101.0, 500.0)])
    m = OrderManager(SqliteJournal(), pf, {"paper": paper}, [], lambda: 1_000, sizer=Sizer())
    paper.on_book(book)
    pf.mark("X/USD", 100.0)
    if quote:
        m.quote = lambda symbol, side: book.best_ask if side == "buy" else book.best_bid
    return m, pf


def test_order_manager_sizes_equity_fraction_at_the_touch_with_the_taker_fee():
    m, pf = _manager(quote=True)
    order = m.submit(OrderIntent("X/USD", "buy", 0.0, origin="strategy:t", equity_fraction=1.0))
    units = 10_000.0 / (101.0 * 1.001)
    assert order.status is OrderStatus.FILLED and order.amount == pytest.approx(units, rel=1e-15)
    assert order.average_price == pytest.approx(101.0, rel=1e-15)
    assert pf.cash == pytest.approx(10_000.0 - units * 101.0 * 0.001)      # margin-style: only the fee
    # a reduce-only sell of "all equity" is clamped to the position
    close = m.submit(OrderIntent("X/USD", "sell", 0.0, reduce_only=True, equity_fraction=1.0))
    assert close.status is OrderStatus.FILLED and close.amount == pytest.approx(units, rel=1e-15)
    assert pf.positions["X/USD"].amount == 0.0


def test_without_a_quote_the_manager_sizes_at_the_mark_and_the_margin_check_catches_it():
    m, _ = _manager(quote=False)
    order = m.submit(OrderIntent("X/USD", "buy", 0.0, equity_fraction=1.0))
    # 10,000 / (100 * 1.001) units cost 100.9 each at the ask: more than the account holds
    assert order.amount == pytest.approx(10_000.0 / 100.1, rel=1e-15)
    assert order.status is OrderStatus.REJECTED and "insufficient margin" in order.reason
    half = m.submit(OrderIntent("X/USD", "buy", 0.0, equity_fraction=0.5))
    assert half.status is OrderStatus.FILLED and half.amount == pytest.approx(5_000.0 / 100.1, rel=1e-15)


def test_equity_fraction_without_any_price_is_rejected_with_the_reason():
    pf = Portfolio(1_000.0)
    m = OrderManager(SqliteJournal(), pf, {"paper": PaperExecutor()}, [], lambda: 0)
    order = m.submit(OrderIntent("Y/USD", "buy", 1.0, equity_fraction=0.5))
    assert order.status is OrderStatus.REJECTED and "no usable price" in order.reason


def test_sizer_resolves_a_left_over_equity_fraction_at_the_mark():
    ctx = RiskContext(0, 2_000.0, 2_000.0, 2_000.0, {}, {"X/USD": 50.0})
    out = Sizer({"max_position_fraction": 0.5})(OrderIntent("X/USD", "buy", 0.0, equity_fraction=1.0), ctx)
    assert out.equity_fraction is None and out.amount == pytest.approx(20.0)   # capped to half of 40


class Pyramid(Strategy):
    """Half the equity in at bar 1, a quarter more at bar 3 (with a position held), all out at bar 5."""
    name = "test_pyramid"

    def on_bar(self, ctx):
        n = len(ctx.state.candles[ctx.timeframe])
        if n in (1, 3):
            return [OrderIntent(ctx.symbol, "buy", 1.0, equity_fraction=0.5 if n == 1 else 0.25)]
        if n == 5 and ctx.position.amount > 0:
            return [OrderIntent(ctx.symbol, "sell", ctx.position.amount, reduce_only=True)]
        return []


def _bars():
    opens = [10.0, 10.2, 9.8, 11.0, 11.4, 12.0, 11.7]
    closes = [10.1, 9.9, 10.8, 11.3, 12.1, 11.6, 11.9]
    ts = np.arange(7, dtype=np.int64) * H + 1_700_000_000_000 - 1_700_000_000_000 % H
    return from_arrays(ts, {"open": opens, "high": np.maximum(opens, closes), "low": np.minimum(opens, closes),
                            "close": closes, "volume": [1.0] * 7}, symbol="P/USD", timeframe="1h")


def test_adding_to_a_position_sizes_on_equity_marked_at_the_open_in_both_brokers():
    c = _bars()
    slip = FixedSlippage(50)
    a = run_events(c, Pyramid(), broker=CandleBroker("P/USD", capital=1000.0, fee=0.002, slippage=slip))
    paper = PaperBroker("P/USD", capital=1000.0, fee=0.002, slippage=slip)
    b = run_events(c, Pyramid(), broker=paper)
    # hand-worked: bar 1 buys 500 / (10.2*1.005 * 1.002); bar 3 marks the position at the open 11.0
    p1, p3 = 10.2 * 1.005, 11.0 * 1.005
    u1 = 500.0 / (p1 * 1.002)
    cash = 1000.0 - u1 * p1 * 1.002
    u3 = 0.25 * (cash + u1 * 11.0) / (p3 * 1.002)
    for r in (a, b):
        assert [f.amount for f in r.fills[:2]] == pytest.approx([u1, u3], rel=1e-12)
        assert [f.price for f in r.fills] == pytest.approx([p1, p3, 12.0 * 0.995], rel=1e-15)
    assert len(a.trades) == len(b.trades) == 1 and paper.rejected == []
    np.testing.assert_allclose(b.equity, a.equity, rtol=1e-12)
    assert paper.position.amount == 0.0 and paper.manager.open == {}


def test_paper_broker_cash_marks_the_portfolio_equity():
    b = PaperBroker("Z/USD", capital=500.0, fee=0.001)
    b.submit(OrderIntent("Z/USD", "buy", 2.0), 0)
    (fill,) = b.on_open(60_000, 100.0)
    assert fill.price == 100.0 and fill.amount == 2.0 and fill.ts == 60_000
    b.on_open(120_000, 110.0)    # the next open marks the portfolio at 110
    assert b.cash + b.position.amount * 110.0 == pytest.approx(b.portfolio.equity(), rel=1e-15)
    assert b.portfolio.equity() == pytest.approx(500.0 - 0.2 + 20.0)
    assert b.close_all(180_000, 90.0)[0].price == 90.0 and b.position.amount == 0.0
