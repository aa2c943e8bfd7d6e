"""Paper matching against hand-built and real books (../shared/data): walking the book, partial fills,
queue position, fees, post-only, stops, funding and liquidation."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from virtuoso_paper.matching import PaperExecutor

from virtuoso_tui.market.book import OrderBook
from virtuoso_tui.model import BookDelta, BookSnapshot, Funding, OrderIntent, OrderStatus, OrderType, Trade
from virtuoso_tui.trading.bookview import ArrayBook
from virtuoso_tui.trading.journal import SqliteJournal
from virtuoso_tui.trading.orders import OrderManager
from virtuoso_tui.trading.portfolio import Portfolio

S = OrderStatus
SYM = "BTC/USDT:USDT"
T0 = 1_700_000_000_000


def desk(book=None, **opts):
    paper = PaperExecutor({"maker_fee": 0.0002, "taker_fee": 0.0005, **opts})
    om = OrderManager(SqliteJournal(), Portfolio(10_000_000.0), {"paper": paper}, [], lambda: T0)
    if book is not None:
        paper.on_book(book)
    return om, paper


def binance_bids(shared_data):
    path = shared_data / "orderbook" / "nautilus" / "binance_btcusdt-depth-snap.csv"
    with open(path) as f:
        rows = [r for r in csv.DictReader(f) if r["side"] == "b"]
    return [(float(r["price"]), float(r["qty"])) for r in rows]


def ccxt_book(shared_data, description):
    path = shared_data / "exchange-payloads" / "binance" / "ccxt" / "ccxt_static_response_binance_subset.json"
    entries = json.loads(path.read_text())["methods"]["fetchOrderBook"]
    return next(e for e in entries if e["description"] == description)["parsedResponse"]


def test_market_sell_walks_the_real_binance_book(shared_data):
    bids = binance_bids(shared_data)
    assert bids[:4] == [(20377.0, 1.77), (20376.9, 0.001), (20376.8, 0.009), (20376.7, 1.216)]
    book = OrderBook(SYM)  # the market's own book type, fed the real snapshot
    book.apply_snapshot(BookSnapshot(SYM, T0, tuple(bids), ()))
    om, _ = desk(book)
    o = om.submit(OrderIntent(SYM, "sell", 2.0))
    # hand-worked: 1.77@20377 + 0.001@20376.9 + 0.009@20376.8 + 0.22@20376.7
    cost = 1.77 * 20377.0 + 0.001 * 20376.9 + 0.009 * 20376.8 + 0.22 * 20376.7
    assert o.status is S.FILLED
    assert o.average_price == pytest.approx(cost / 2.0, rel=1e-12)
    assert o.fee == pytest.approx(cost * 0.0005, rel=1e-12)
    # a bid joining a real level queues behind the size resting there
    lvl_price, lvl_size = bids[5]
    q = om.submit(OrderIntent(SYM, "buy", 0.5, OrderType.LIMIT, price=lvl_price))
    assert om.executors["paper"]._resting[q.client_id].ahead == lvl_size
    # no asks in that snapshot: a buy cannot fill and is rejected with the reason
    b = om.submit(OrderIntent(SYM, "buy", 1.0))
    assert b.status is S.REJECTED and "no asks in the book" in b.reason


def test_partial_fill_when_depth_runs_out_on_the_ccxt_swap_book(shared_data):
    payload = ccxt_book(shared_data, "swap orderbook")
    om, _ = desk(ArrayBook.from_ccxt(payload))
    depth = sum(s for _, s in payload["asks"])
    o = om.submit(OrderIntent(SYM, "buy", 40.0))
    assert o.status is S.CANCELLED and o.filled == pytest.approx(depth)
    assert "book depth exhausted" in o.reason
    vwap = sum(p * s for p, s in payload["asks"]) / depth
    assert o.average_price == pytest.approx(vwap, rel=1e-12)
    assert om.portfolio.positions[SYM].amount == pytest.approx(depth)


def test_market_remainder_can_rest_instead(shared_data):
    payload = ccxt_book(shared_data, "spot orderbook")
    om, paper = desk(ArrayBook.from_ccxt(payload), market_remainder="rest")
    o = om.submit(OrderIntent("BTC/USDT", "buy", 0.02))
    assert o.status is S.PARTIALLY_FILLED and o.filled == pytest.approx(0.0087 + 0.00893)
    assert paper.open_ids() == {o.client_id}


def test_paper_fills_remember_liquidity_taken_until_the_next_book():
    book = ArrayBook(SYM, [[99.0, 1.0]], [[100.0, 1.0], [101.0, 1.0]])
    om, paper = desk(book)
    a = om.submit(OrderIntent(SYM, "buy", 1.0))
    b = om.submit(OrderIntent(SYM, "buy", 1.0))
    assert a.average_price == 100.0 and b.average_price == 101.0
    paper.on_book(book)  # a fresh book: the level is back
    assert om.submit(OrderIntent(SYM, "buy", 1.0)).average_price == 100.0


def test_queue_position_trades_cancellations_and_trade_through():
    om, paper = desk(ArrayBook(SYM, [[100.0, 5.0], [99.0, 1.0]], [[101.0, 1.0]]))
    o = om.submit(OrderIntent(SYM, "buy", 1.0, OrderType.LIMIT, price=100.0))
    r = paper._resting[o.client_id]
    assert r.ahead == 5.0  # joins the back of the 5.0 at 100
    paper.on_trade(Trade(SYM, T0 + 1, 100.0, 2.0, "sell"))
    assert r.ahead == 3.0 and o.filled == 0
    paper.on_book(ArrayBook(SYM, [[100.0, 3.0]], [[101.0, 1.0]]))  # the traded 2.0 left the level
    assert r.ahead == 3.0
    paper.on_book(ArrayBook(SYM, [[100.0, 5.0]], [[101.0, 1.0]]))  # 2.0 joined behind us
    assert r.ahead == 3.0
    paper.on_book(ArrayBook(SYM, [[100.0, 4.0]], [[101.0, 1.0]]))  # 1.0 cancelled: pro rata 3/5 ahead
    assert r.ahead == pytest.approx(3.0 - 1.0 * 3.0 / 5.0)
    paper.on_trade(Trade(SYM, T0 + 2, 100.0, 2.9, "sell"))  # 2.4 ahead, 0.5 reaches us
    assert o.filled == pytest.approx(0.5) and o.status is S.PARTIALLY_FILLED
    paper.on_trade(Trade(SYM, T0 + 3, 100.0, 1.0, "buy"))  # a buyer lifting: does not touch bids
    assert o.filled == pytest.approx(0.5)
    paper.on_trade(Trade(SYM, T0 + 4, 99.9, 0.01, "sell"))  # traded through our price: level cleared
    assert o.status is S.FILLED and o.average_price == 100.0
    assert o.fee == pytest.approx(100.0 * 1.0 * 0.0002)  # maker fee on both fills
    assert paper.open_ids() == set()


def test_worst_case_queue_ignores_cancellations_but_not_shrinking_levels():
    om, paper = desk(ArrayBook(SYM, [[100.0, 5.0]], [[101.0, 1.0]]), queue_model="worst_case")
    o = om.submit(OrderIntent(SYM, "buy", 1.0, OrderType.LIMIT, price=100.0))
    r = paper._resting[o.client_id]
    paper.on_book(ArrayBook(SYM, [[100.0, 4.0]], [[101.0, 1.0]]))
    assert r.ahead == 4.0  # cannot have more ahead than the level holds
    paper.on_book(ArrayBook(SYM, [[100.0, 7.0]], [[101.0, 1.0]]))
    paper.on_book(ArrayBook(SYM, [[100.0, 6.0]], [[101.0, 1.0]]))
    assert r.ahead == 4.0


def test_marketable_limit_takes_then_rests_and_post_only_is_rejected():
    om, paper = desk(ArrayBook(SYM, [[100.0, 1.0]], [[100.5, 1.0], [101.0, 2.0]]))
    p = om.submit(OrderIntent(SYM, "buy", 1.0, OrderType.LIMIT, price=100.5, post_only=True))
    assert p.status is S.REJECTED and "would cross" in p.reason
    o = om.submit(OrderIntent(SYM, "buy", 2.0, OrderType.LIMIT, price=100.75))
    assert o.filled == 1.0 and o.average_price == 100.5 and o.fee == pytest.approx(100.5 * 0.0005)
    assert paper._resting[o.client_id].ahead == 0.0  # nobody else at 100.75
    paper.on_trade(Trade(SYM, T0 + 1, 100.75, 0.4, "sell"))
    assert o.filled == pytest.approx(1.4)
    q = om.submit(OrderIntent(SYM, "sell", 1.0, OrderType.LIMIT, price=101.0, post_only=True))
    assert q.status is S.SUBMITTED


def test_stop_market_and_stop_limit_trigger_on_trades():
    om, paper = desk(ArrayBook(SYM, [[99.0, 3.0], [98.0, 3.0]], [[101.0, 3.0], [102.0, 3.0]]))
    paper.on_trade(Trade(SYM, T0, 100.0, 1.0, "buy"))
    bad = om.submit(OrderIntent(SYM, "buy", 1.0, OrderType.STOP, stop_price=99.0))
    assert bad.status is S.REJECTED and "would trigger at once" in bad.reason
    stop = om.submit(OrderIntent(SYM, "buy", 4.0, OrderType.STOP, stop_price=100.8))
    sl = om.submit(OrderIntent(SYM, "sell", 1.0, OrderType.STOP_LIMIT, price=98.5, stop_price=99.2))
    paper.on_trade(Trade(SYM, T0 + 1, 100.7, 1.0, "buy"))
    assert stop.filled == 0 and sl.filled == 0
    paper.on_trade(Trade(SYM, T0 + 2, 100.8, 1.0, "buy"))
    assert stop.status is S.FILLED and stop.average_price == pytest.approx((3 * 101.0 + 1 * 102.0) / 4)
    paper.on_trade(Trade(SYM, T0 + 3, 99.2, 1.0, "sell"))  # triggers: limit 98.5 crosses the 99 bid
    assert sl.status is S.FILLED and sl.average_price == 99.0


def test_stop_limit_rests_when_not_marketable():
    om, paper = desk(ArrayBook(SYM, [[99.0, 3.0]], [[101.0, 3.0]]))
    sl = om.submit(OrderIntent(SYM, "sell", 1.0, OrderType.STOP_LIMIT, price=99.5, stop_price=99.6))
    paper.on_trade(Trade(SYM, T0 + 1, 99.6, 1.0, "sell"))
    assert sl.status is S.SUBMITTED and paper.open_ids() == {sl.client_id}
    paper.on_trade(Trade(SYM, T0 + 2, 99.7, 1.0, "buy"))  # trades through the resting sell at 99.5
    assert sl.status is S.FILLED and sl.average_price == 99.5


def test_funding_settles_on_perpetuals_only():
    om, paper = desk(ArrayBook(SYM, [[99.0, 10.0]], [[100.0, 10.0]]))
    om.submit(OrderIntent(SYM, "buy", 2.0))
    cash = om.portfolio.cash
    paper.on_funding(Funding(SYM, T0 + 1, 0.0001, mark=105.0, settled=False))  # an estimate: no payment
    assert om.portfolio.cash == cash
    paper.on_funding(Funding(SYM, T0 + 2, 0.0001, mark=105.0, settled=True))
    assert om.portfolio.cash == pytest.approx(cash - 2 * 105.0 * 0.0001)  # the long pays
    assert om.portfolio.positions[SYM].funding == pytest.approx(0.021)
    paper.on_funding(Funding(SYM, T0 + 3, -0.0002, mark=100.0, settled=True))  # negative rate: long receives
    assert om.portfolio.positions[SYM].funding == pytest.approx(0.021 - 0.04)
    spot_om, spot = desk(ArrayBook("BTC/USDT", [[99.0, 10.0]], [[100.0, 10.0]]))
    spot_om.submit(OrderIntent("BTC/USDT", "buy", 2.0))
    c = spot_om.portfolio.cash
    spot.on_funding(Funding("BTC/USDT", T0, 0.0001, mark=100.0, settled=True))
    assert spot_om.portfolio.cash == c


def test_liquidation_closes_a_leveraged_long_at_its_liquidation_price():
    paper = PaperExecutor({"taker_fee": 0.0, "mmr": 0.004})
    pf = Portfolio(1_000.0, leverage=10.0)
    om = OrderManager(SqliteJournal(), pf, {"paper": paper}, [], lambda: T0)
    paper.on_book(ArrayBook(SYM, [[99.0, 10.0]], [[100.0, 10.0]]))
    om.submit(OrderIntent(SYM, "buy", 1.0))
    liq = 100.0 * (1 - 1 / 10) / (1 - 0.004)  # hand-worked isolated-margin formula
    assert pf.liquidation_price(SYM) == pytest.approx(liq)
    paper.on_trade(Trade(SYM, T0 + 1, liq + 0.01, 1.0, "sell"))
    assert pf.positions[SYM].amount == 1.0
    paper.on_trade(Trade(SYM, T0 + 2, 90.0, 1.0, "sell"))
    assert pf.positions[SYM].amount == 0.0
    assert pf.positions[SYM].realized_pnl == pytest.approx(liq - 100.0)
    liquidation = [o for o in om.orders.values() if o.origin == "liquidation"]
    assert len(liquidation) == 1 and liquidation[0].status is S.FILLED


def test_cancel_and_open_ids():
    om, paper = desk(ArrayBook(SYM, [[99.0, 1.0]], [[101.0, 1.0]]))
    o = om.submit(OrderIntent(SYM, "buy", 1.0, OrderType.LIMIT, price=99.0))
    assert paper.open_ids() == {o.client_id}
    om.cancel(o.client_id)
    assert o.status is S.CANCELLED and paper.open_ids() == set()
    assert paper.cancel("nope") is False


def test_bad_options_are_one_sentence():
    with pytest.raises(ValueError, match="queue_model must be"):
        PaperExecutor({"queue_model": "fifo"})
    with pytest.raises(ValueError, match="market_remainder must be"):
        PaperExecutor({"market_remainder": "keep"})


def test_market_order_without_a_book_is_rejected():
    om, _ = desk()
    o = om.submit(OrderIntent(SYM, "buy", 1.0))
    assert o.status is S.REJECTED and "no order book" in o.reason


def _bybit_messages(shared_data):
    path = shared_data / "orderbook" / "nautilus" / "bybit_2024-12-01_XRPUSDT_ob500.data"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _levels(rows):
    return tuple((float(p), float(s)) for p, s in rows)


@pytest.mark.parametrize("model", ["pro_rata", "worst_case"])
def test_queue_position_through_real_bybit_deltas(shared_data, model):
    """A resting bid at the best level of a real Bybit XRPUSDT book, walked through 49 real deltas with
    the market's OrderBook; the queue ahead is checked against the model worked out from the raw
    messages (no trades in this dump, so every size decrease is a cancellation)."""
    sym = "XRP/USDT:USDT"
    msgs = _bybit_messages(shared_data)
    snap = msgs[0]["data"]
    book = OrderBook(sym)
    book.apply_snapshot(BookSnapshot(sym, msgs[0]["ts"], _levels(snap["b"]), _levels(snap["a"]), snap["u"]))
    price = float(snap["b"][0][0])
    om, paper = desk(book, queue_model=model)
    o = om.submit(OrderIntent(sym, "buy", 100.0, OrderType.LIMIT, price=price))
    ahead = seen = float(snap["b"][0][1])
    assert paper._resting[o.client_id].ahead == ahead
    changes = 0
    for m in msgs[1:]:
        d = m["data"]
        book.apply_delta(BookDelta(sym, m["ts"], _levels(d["b"]), _levels(d["a"]), d["u"]))
        paper.on_book(book)
        size = next((float(s) for p, s in d["b"] if float(p) == price), seen)  # unchanged unless in the delta
        if size < seen and model == "pro_rata":
            ahead -= (seen - size) * ahead / seen
        ahead = min(ahead, size)
        changes += size != seen
        seen = size
        assert paper._resting[o.client_id].ahead == pytest.approx(ahead, rel=1e-12)
    assert changes >= 3  # the level really moved in this recording
    assert o.filled == 0  # book changes alone never fill: only trades do


def test_initial_margin_is_checked_with_leverage():
    paper = PaperExecutor({})
    pf = Portfolio(1_000.0, leverage=3.0)
    om = OrderManager(SqliteJournal(), pf, {"paper": paper}, [], lambda: T0)
    paper.on_book(ArrayBook(SYM, [[99.0, 100.0]], [[100.0, 100.0]]))
    big = om.submit(OrderIntent(SYM, "buy", 40.0))  # 4000 notional needs 1333 at 3x
    assert big.status is S.REJECTED and "insufficient margin" in big.reason
    ok = om.submit(OrderIntent(SYM, "buy", 25.0))  # 2500 needs 833
    assert ok.status is S.FILLED
    assert om.submit(OrderIntent(SYM, "sell", 25.0)).status is S.FILLED  # reducing needs none
    spot = om.submit(OrderIntent("BTC/USDT", "buy", 12.0, OrderType.LIMIT, price=100.0))  # spot is 1x
    assert spot.status is S.REJECTED and "insufficient margin" in spot.reason


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

levels_strategy = st.lists(st.tuples(st.floats(0.01, 5.0), st.floats(0.001, 3.0)), min_size=1, max_size=20)


@settings(max_examples=100, deadline=None)
@given(levels_strategy, st.floats(0.001, 40.0), st.sampled_from(["buy", "sell"]))
def test_market_fill_bounds(raw, amount, side):
    """Whatever the book: never more than ordered or than the depth, the average between the best and
    the worst level touched, and the taker fee exactly rate * notional."""
    mid = 1000.0
    steps = np.cumsum([g for g, _ in raw])
    asks = [[mid + s, z] for s, (_, z) in zip(steps, raw, strict=True)]
    bids = [[mid - s, z] for s, (_, z) in zip(steps, raw, strict=True)]
    om, _ = desk(ArrayBook(SYM, bids, asks))
    o = om.submit(OrderIntent(SYM, side, amount))
    levels = asks if side == "buy" else bids
    depth = sum(z for _, z in levels)
    assert o.filled == pytest.approx(min(amount, depth), rel=1e-9)
    prices = [p for p, _ in levels]
    assert min(prices) - 1e-9 <= o.average_price <= max(prices) + 1e-9
    assert o.fee == pytest.approx(o.filled * o.average_price * 0.0005, rel=1e-9)
    assert (o.status is S.FILLED) == (amount <= depth * (1 + 1e-9))
