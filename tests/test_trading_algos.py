"""TWAP, VWAP, iceberg and impact-aware splitting completing with the expected slices, each slice
through the order manager (so risk applies per slice)."""

from __future__ import annotations

import numpy as np
import pytest
import virtuoso_paper
from virtuoso_paper.matching import PaperExecutor

from virtuoso_tui.model import OrderIntent, OrderType, RiskDecision, Trade
from virtuoso_tui.risk.rule import RiskRule
from virtuoso_tui.trading.algos import TWAP, VWAP, ExecutionAlgo, Iceberg, ImpactSplit, volume_profile
from virtuoso_tui.trading.bookview import ArrayBook
from virtuoso_tui.trading.journal import SqliteJournal
from virtuoso_tui.trading.orders import OrderManager
from virtuoso_tui.trading.portfolio import Portfolio

SYM = "BTC/USDT:USDT"
T0 = 1_700_000_000_000
MIN = 60_000


class RejectNth(RiskRule):
    name = "reject_nth"
    defaults = {"n": 0}

    def __init__(self, options=None):
        super().__init__(options)
        self.calls = 0

    def check(self, intent, ctx):
        self.calls += 1
        if self.calls == self.options["n"]:
            return RiskDecision.reject(self.name, "not this one")
        return RiskDecision.allow(self.name)


def setup(book, rules=()):
    clock = [T0]
    paper = PaperExecutor({"taker_fee": 0.0, "maker_fee": 0.0})
    om = OrderManager(SqliteJournal(), Portfolio(1e6), {"paper": paper}, list(rules), lambda: clock[0])
    paper.on_book(book)
    fills_by_algo = {}

    def route(fill, order):
        algo = fills_by_algo.get(order.origin[5:])
        if algo is not None:
            algo.on_fill(fill, order)

    om.fill_listeners.append(route)
    return om, paper, clock, fills_by_algo


DEEP = ArrayBook(SYM, [[99.0, 100.0]], [[101.0, 100.0]])


def children(om, algo):
    return [om.orders[c] for c in algo.children]


def test_twap_equal_slices_on_schedule():
    om, paper, clock, reg = setup(DEEP)
    algo = TWAP("twap-1", SYM, "buy", 1.0, T0, 100.0, om.submit, om.cancel, duration_ms=10 * MIN, slices=5)
    reg[algo.id] = algo
    for t in range(0, 10 * MIN, 30_000):
        clock[0] = T0 + t
        algo.on_tick(T0 + t, DEEP)
    kids = children(om, algo)
    assert [k.amount for k in kids] == pytest.approx([0.2] * 5)
    assert [k.created_ts - T0 for k in kids] == [0, 2 * MIN, 4 * MIN, 6 * MIN, 8 * MIN]
    assert all(k.origin == "algo:twap-1" and k.type is OrderType.MARKET for k in kids)
    p = algo.progress()
    assert p["done"] and p["progress"] == pytest.approx(1.0) and p["avg_price"] == 101.0
    assert p["slippage_bps"] == pytest.approx(100.0)  # 101 against an arrival of 100: 1% worse


def test_twap_default_slices_and_carry_after_a_refused_slice():
    rule = RejectNth({"n": 2})
    om, paper, clock, reg = setup(DEEP, [rule])
    algo = TWAP("twap-2", SYM, "sell", 3.0, T0, 100.0, om.submit, om.cancel, duration_ms=3 * MIN)
    reg[algo.id] = algo
    assert len(algo.times) == 3  # one slice per minute by default
    for t in (0, MIN, 2 * MIN):
        clock[0] = T0 + t
        algo.on_tick(T0 + t, DEEP)
    kids = children(om, algo)
    assert [k.amount for k in kids] == pytest.approx([1.0, 1.0, 2.0])  # the refused slice is carried
    assert kids[1].status.value == "rejected" and algo.rejections == ["reject_nth: not this one"]
    assert algo.done and algo.filled == pytest.approx(3.0)


def test_vwap_follows_the_profile():
    om, paper, clock, reg = setup(DEEP)
    algo = VWAP("vwap-1", SYM, "buy", 2.0, T0, 100.0, om.submit, om.cancel, duration_ms=3 * MIN, slices=3,
                profile=np.array([1.0, 2.0, 1.0]))
    reg[algo.id] = algo
    for t in (0, MIN, 2 * MIN):
        algo.on_tick(T0 + t, DEEP)
    assert [k.amount for k in children(om, algo)] == pytest.approx([0.5, 1.0, 0.5])
    assert algo.done


def test_volume_profile_from_candles_by_time_of_day():
    day = 86_400_000
    start = 10 * day + 3_600_000  # 01:00 on some day
    ts, vol = [], []
    for d in range(3):  # three days of 1m candles around 01:00 with volume 1, 3, 2 per 10-minute window
        for m in range(30):
            ts.append(d * day + 3_600_000 + m * MIN)
            vol.append([1.0, 3.0, 2.0][m // 10])
    w = volume_profile(np.array(ts), np.array(vol), start, 30 * MIN, 3)
    assert w == pytest.approx([1 / 6, 3 / 6, 2 / 6])
    with pytest.raises(ValueError, match="no volume history"):
        volume_profile(np.array(ts), np.array(vol), start + 2 * 3_600_000, 30 * MIN, 3)
    algo_om, _, _, _ = setup(DEEP)
    v = VWAP("v", SYM, "buy", 6.0, start, 100.0, algo_om.submit, algo_om.cancel, duration_ms=30 * MIN, slices=3,
             candles_ts=np.array(ts), candles_volume=np.array(vol))
    assert v.weights == pytest.approx([1 / 6, 3 / 6, 2 / 6])


def test_iceberg_shows_only_the_display_size():
    book = ArrayBook(SYM, [[100.0, 2.0]], [[101.0, 5.0]])
    om, paper, clock, reg = setup(book)
    algo = Iceberg("ice-1", SYM, "buy", 2.5, T0, 100.5, om.submit, om.cancel, price=100.0, display=1.0)
    reg[algo.id] = algo
    algo.on_tick(T0, book)
    algo.on_tick(T0 + 1, book)  # the clip is still working: nothing new
    assert len(algo.children) == 1 and paper._resting[algo.children[0]].ahead == 2.0
    paper.on_trade(Trade(SYM, T0 + 2, 100.0, 3.0, "sell"))  # 2 ahead, then our 1
    algo.on_tick(T0 + 3, book)
    paper.on_trade(Trade(SYM, T0 + 4, 99.5, 1.0, "sell"))  # through: the second clip fills
    algo.on_tick(T0 + 5, book)
    paper.on_trade(Trade(SYM, T0 + 6, 99.5, 1.0, "sell"))
    algo.on_tick(T0 + 7, book)
    kids = children(om, algo)
    assert [k.amount for k in kids] == pytest.approx([1.0, 1.0, 0.5])
    assert all(k.type is OrderType.LIMIT and k.price == 100.0 for k in kids)
    assert algo.done and algo.avg_price == 100.0
    assert algo.slippage_bps == pytest.approx((100.0 - 100.5) / 100.5 * 1e4)  # negative: better than arrival


def test_impact_split_keeps_each_slice_within_the_slippage_limit():
    book = ArrayBook(SYM, [[99.0, 1.0]], [[100.0, 1.0], [101.0, 1.0], [102.0, 10.0]])
    om, paper, clock, reg = setup(book)
    algo = ImpactSplit("split-1", SYM, "buy", 3.0, T0, 99.5, om.submit, om.cancel, max_bps=100.0, interval_ms=1000)
    reg[algo.id] = algo
    algo.on_tick(T0, book)
    algo.on_tick(T0 + 500, book)  # before the interval: nothing
    paper.on_book(book)  # fresh liquidity
    algo.on_tick(T0 + 1000, book)
    kids = children(om, algo)
    # hand-worked: the average may reach 99.5 * 1.01 = 100.495: 1 @ 100 + x @ 101 with x = 0.495 / 0.505
    x = 0.495 / 0.505
    assert [k.amount for k in kids] == pytest.approx([1 + x, 3 - 1 - x], rel=1e-6)
    assert algo.done
    for k in kids:
        assert (k.average_price - 99.5) / 99.5 * 1e4 <= 100.0 + 1e-6


def test_stop_cancels_working_children():
    book = ArrayBook(SYM, [[100.0, 2.0]], [[101.0, 5.0]])
    om, paper, clock, reg = setup(book)
    algo = Iceberg("ice-2", SYM, "buy", 5.0, T0, 100.5, om.submit, om.cancel, price=100.0, display=1.0)
    reg[algo.id] = algo
    algo.on_tick(T0, book)
    algo.stop()
    assert om.orders[algo.children[0]].status.value == "cancelled" and algo.done
    algo.on_tick(T0 + 1, book)
    assert len(algo.children) == 1


def test_bad_parameters_are_one_sentence():
    om, *_ = setup(DEEP)
    args = ("a", SYM, "buy", 1.0, T0, 100.0, om.submit, om.cancel)
    with pytest.raises(ValueError, match="needs a market price"):
        TWAP("a", SYM, "buy", 1.0, T0, float("nan"), om.submit, om.cancel, duration_ms=MIN)
    with pytest.raises(ValueError, match="positive amount"):
        TWAP("a", SYM, "buy", 0.0, T0, 100.0, om.submit, om.cancel, duration_ms=MIN)
    with pytest.raises(ValueError, match="weights must be 2"):
        VWAP(*args, duration_ms=MIN, slices=2, profile=np.array([1.0]))
    with pytest.raises(ValueError, match="needs a volume profile or candle history"):
        VWAP(*args, duration_ms=MIN)
    with pytest.raises(ValueError, match="positive price and display"):
        Iceberg(*args, price=0.0, display=1.0)


def test_registered_by_the_paper_plugin():
    contributed = virtuoso_paper.virtuoso_executors()
    assert contributed[0] is PaperExecutor
    algos = [c for c in contributed if issubclass(c, ExecutionAlgo)]
    assert {c.name for c in algos} == {"twap", "vwap", "iceberg", "split"}
    assert OrderIntent  # the algos speak the same intent type as everything else
