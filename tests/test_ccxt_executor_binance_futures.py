"""The live executor with the REAL ccxt binance client against the local Binance USDⓈ-M futures desk,
driven by the real OrderManager: place, fill (fees from the order's trades, as futures orders carry
none), amend in place, cancel; fills found by polling; and after a restart reconcile surfaces an order
and a position the venue holds that we did not make."""

from __future__ import annotations

import pytest
from virtuoso_ccxt.executor import LiveExecutor, LiveExecutorError

from tests.exchange import RestFault
from tests.exchange.binance_futures_desk import BinanceFuturesDesk
from tests.exchange.live import (
    assert_no_secret,
    check_outside_trade_is_surfaced,
    order_manager,
    serving,
    started,
)
from virtuoso_tui.model import OrderIntent, OrderStatus, OrderType
from virtuoso_tui.trading.journal import SqliteJournal

KEY, SECRET = "bnfutFAKEkey0123456789ABCDEF", "bnfutFAKEsecret9876543210zyxw"
BTC = "BTC/USDT:USDT"
TAKER, MAKER = 0.0005, 0.0002  # the recorded BTCUSDT commission rates the desk charges


@pytest.fixture
async def venue():
    desk = BinanceFuturesDesk()
    async with serving(desk) as server:   # and every call ccxt made was answered
        yield server, desk


def executor(server, exchange: str = "binance") -> LiveExecutor:
    return LiveExecutor({"exchange": exchange, "base_url": server.url, "symbols": [BTC],
                         "api_key": KEY, "secret": SECRET, "rate_limit_ms": 1})


def venue_order(desk: BinanceFuturesDesk, client_id: str) -> dict:
    return next(o for o in desk.orders.values() if o["clientOrderId"] == client_id)


def sent(server, path: str) -> list[dict]:
    """What ccxt sent to `path` (query and form body)."""
    return [r.query for r in server.requests if r.path == path]


@pytest.mark.parametrize("exchange", ["binance", "binanceusdm"])
async def test_place_fill_amend_cancel_and_reconcile_orders_and_positions_after_restart(venue, tmp_path, exchange):
    server, desk = venue
    path = tmp_path / "journal.db"
    alerts: list = []
    ex = executor(server, exchange)
    await ex.start()
    assert ex.positions() == {BTC: 0.0}  # flat: v3 positionRisk lists no row at all
    # ccxt loads the leverage brackets before its first positionRisk call
    assert [r.path for r in server.requests if r.path in ("/fapi/v1/leverageBracket", "/fapi/v3/positionRisk")] == [
        "/fapi/v1/leverageBracket", "/fapi/v3/positionRisk"]
    om = order_manager(SqliteJournal(path), ex, alerts)

    market = om.submit(OrderIntent(BTC, "buy", 0.01, OrderType.MARKET))
    resting = om.submit(OrderIntent(BTC, "buy", 0.02, OrderType.LIMIT, price=11_000.0))
    await ex.drain()
    # ccxt asks for the RESULT answer, which shows the market order filled; its fee came from its trade
    assert {q["newOrderRespType"] for q in sent(server, "/fapi/v1/order")} == {"RESULT"}
    assert om.orders[market.client_id].status is OrderStatus.FILLED
    assert om.orders[market.client_id].average_price == pytest.approx(desk.last_price)
    assert {o["clientOrderId"] for o in desk.orders.values()} == {market.client_id, resting.client_id}
    [fill] = om.journal.fills()
    assert fill.fee == pytest.approx(0.01 * desk.last_price * TAKER)
    assert (fill.fill_id, fill.liquidity) == (f"{exchange}:{desk.trades[0]['id']}", "taker")
    assert [q["orderId"] for q in sent(server, "/fapi/v1/userTrades")] == [str(venue_order(desk, market.client_id)["orderId"])]
    assert om.portfolio.positions[BTC].amount == pytest.approx(0.01) == desk.position("BTCUSDT")
    assert om.orders[resting.client_id].status is OrderStatus.SUBMITTED and ex.open_ids() == {resting.client_id}

    amended = await ex.amend_now(resting.client_id, price=11_100.0)
    # amended in place (PUT /fapi/v1/order): the same venue order, its total quantity unchanged
    assert amended["price"] == 11_100.0 and amended["clientOrderId"] == resting.client_id
    assert amended["id"] == str(venue_order(desk, resting.client_id)["orderId"])
    assert [(o["clientOrderId"], o["price"], o["origQty"]) for o in desk.open_orders("BTCUSDT")] == [
        (resting.client_id, "11100.00", "0.020")]
    assert len(desk.orders) == 2

    # the web UI places an order; then we crash and restart
    desk.seed("BTCUSDT", "SELL", 0.5, 12_500.0, "web_ui_order_1")
    await ex.close()
    alerts2: list = []
    ex2 = executor(server, exchange)
    await ex2.start()
    assert ex2.positions() == {BTC: pytest.approx(0.01)}
    om2 = order_manager(SqliteJournal(path), ex2, alerts2)
    om2.restore()
    report = om2.reconcile()
    assert report.unknown == ["web_ui_order_1"] and report.missing == []
    assert report.positions == []  # the venue holds exactly what the journal filled
    assert any("web_ui_order_1" in a.message for a in alerts2)

    # someone buys 0.5 on the web UI: after a resync the venue's position is not the journal's
    await check_outside_trade_is_surfaced(ex2, om2, alerts2, lambda: desk.web_trade("BTCUSDT", "BUY", 0.5),
                                          BTC, venue=0.51, journal=0.01)
    assert desk.position("BTCUSDT") == pytest.approx(0.51)

    om2.cancel(resting.client_id)
    await ex2.drain()
    assert om2.orders[resting.client_id].status is OrderStatus.CANCELLED
    assert venue_order(desk, resting.client_id)["status"] == "CANCELED"
    assert [o["clientOrderId"] for o in desk.open_orders()] == ["web_ui_order_1"]  # never touched
    await ex2.close()


async def test_venue_fill_is_picked_up_by_poll_as_the_maker_trade_it_was(venue):
    server, desk = venue
    ex, om = await started(executor(server))
    o = om.submit(OrderIntent(BTC, "sell", 0.03, OrderType.LIMIT, price=12_500.0))
    await ex.drain()
    assert ex.open_ids() == {o.client_id} and desk.position("BTCUSDT") == 0.0
    assert sent(server, "/fapi/v1/userTrades") == []  # nothing filled, nothing to ask
    desk.fill(venue_order(desk, o.client_id)["orderId"])
    await ex.poll()
    assert om.orders[o.client_id].status is OrderStatus.FILLED
    assert om.orders[o.client_id].average_price == 12_500.0
    [fill] = om.journal.fills()
    assert fill.fee == pytest.approx(0.03 * 12_500.0 * MAKER)
    assert (fill.fill_id, fill.liquidity, fill.ts) == (f"binance:{desk.trades[0]['id']}", "maker", desk.trades[0]["time"])
    assert ex.open_ids() == set()
    await ex.resync()
    assert ex.positions() == {BTC: pytest.approx(-0.03)} and om.portfolio.positions[BTC].amount == pytest.approx(-0.03)
    assert om.reconcile().positions == []
    await ex.close()


async def test_a_partial_fill_and_the_rest_across_polls_are_each_their_own_trade(venue):
    """Partly filled, polled twice (the second poll finds nothing new: no fill, no trades asked), then
    filled: two fills, each the venue's trade with its id and maker fee, none twice."""
    server, desk = venue
    ex, om = await started(executor(server))
    o = om.submit(OrderIntent(BTC, "sell", 0.03, OrderType.LIMIT, price=12_500.0))
    await ex.drain()
    order_id = venue_order(desk, o.client_id)["orderId"]
    desk.fill(order_id, 0.01)
    await ex.poll()
    await ex.poll()
    assert len(om.journal.fills()) == 1 and len(sent(server, "/fapi/v1/userTrades")) == 1
    assert om.orders[o.client_id].status is OrderStatus.PARTIALLY_FILLED
    desk.fill(order_id)
    await ex.poll()
    fills = om.journal.fills()
    assert [(f.fill_id, f.liquidity) for f in fills] == [(f"binance:{t['id']}", "maker") for t in desk.trades]
    assert [f.amount for f in fills] == pytest.approx([0.01, 0.02])
    assert [f.fee for f in fills] == pytest.approx([0.01 * 12_500.0 * MAKER, 0.02 * 12_500.0 * MAKER])
    assert [q["orderId"] for q in sent(server, "/fapi/v1/userTrades")] == [str(order_id)] * 2
    assert om.orders[o.client_id].status is OrderStatus.FILLED and ex.errors == []
    await ex.close()


async def test_amend_after_a_partial_fill_keeps_the_fills_once(venue):
    """Binance futures modifies in place: the order keeps what it filled and `quantity` is its new
    total, so nothing is carried over as on spot's cancel-replace, and no fill or fee counts twice."""
    server, desk = venue
    ex, om = await started(executor(server))
    o = om.submit(OrderIntent(BTC, "buy", 0.05, OrderType.LIMIT, price=11_000.0))
    await ex.drain()
    desk.fill(venue_order(desk, o.client_id)["orderId"], 0.02)
    await ex.poll()
    assert om.orders[o.client_id].status is OrderStatus.PARTIALLY_FILLED and om.orders[o.client_id].filled == pytest.approx(0.02)

    om.amend(o.client_id, price=11_200.0, amount=0.04)
    await ex.drain()
    row = venue_order(desk, o.client_id)
    assert (row["price"], row["origQty"], row["executedQty"], row["status"]) == ("11200.00", "0.040", "0.020", "PARTIALLY_FILLED")
    assert sent(server, "/fapi/v1/order")[-1]["quantity"] == "0.04"  # the new total, not what is left
    assert (om.orders[o.client_id].price, om.orders[o.client_id].amount) == (11_200.0, 0.04)
    desk.fill(row["orderId"])
    await ex.poll()
    assert om.orders[o.client_id].status is OrderStatus.FILLED
    assert om.orders[o.client_id].filled == pytest.approx(0.04) == desk.position("BTCUSDT")
    fills = om.journal.fills()
    assert [f.amount for f in fills] == pytest.approx([0.02, 0.02])
    assert [f.fill_id for f in fills] == [f"binance:{t['id']}" for t in desk.trades]
    assert sum(f.fee for f in fills) == pytest.approx((0.02 * 11_000.0 + 0.02 * 11_200.0) * MAKER)
    await ex.close()


async def test_an_amend_that_crosses_fills_at_once_as_a_taker(venue):
    server, desk = venue
    ex, om = await started(executor(server))
    o = om.submit(OrderIntent(BTC, "buy", 0.02, OrderType.LIMIT, price=11_000.0))
    await ex.drain()
    om.amend(o.client_id, price=12_000.0)  # above the desk's last price
    await ex.drain()
    assert om.orders[o.client_id].status is OrderStatus.FILLED and ex.open_ids() == set()
    assert om.orders[o.client_id].average_price == pytest.approx(desk.last_price)
    assert om.journal.fills()[0].fee == pytest.approx(0.02 * desk.last_price * TAKER)
    assert om.portfolio.positions[BTC].amount == pytest.approx(0.02) == desk.position("BTCUSDT")
    await ex.close()


async def test_an_amend_that_changes_nothing_is_refused_and_the_order_stays(venue):
    """Binance refuses a modify that changes nothing (-5027): the refusal is kept as an error, the
    order stays open here and at the venue as it was."""
    server, desk = venue
    ex, om = await started(executor(server))
    o = om.submit(OrderIntent(BTC, "buy", 0.02, OrderType.LIMIT, price=11_000.0))
    await ex.drain()
    om.amend(o.client_id, price=11_000.0)
    await ex.drain()
    assert len(ex.errors) == 1 and "No need to modify the order" in ex.errors[0]
    assert om.orders[o.client_id].status is OrderStatus.SUBMITTED and ex.open_ids() == {o.client_id}
    assert (om.orders[o.client_id].price, om.orders[o.client_id].amount) == (11_000.0, 0.02)
    assert [(r["price"], r["origQty"]) for r in desk.open_orders()] == [("11000.00", "0.020")]
    await ex.close()


async def test_a_market_order_answered_as_accepted_only_is_fetched_at_once(venue):
    """An answer that shows a market order NEW with nothing filled (Binance's ACK) cannot be the
    order's state for long, as a market order does not rest: it is fetched once, straight away."""
    server, desk = venue
    desk.ack_only = True
    ex, om = await started(executor(server))
    o = om.submit(OrderIntent(BTC, "buy", 0.01, OrderType.MARKET))
    await ex.drain()
    assert om.orders[o.client_id].status is OrderStatus.FILLED and ex.open_ids() == set()
    assert len(sent(server, "/fapi/v1/order")) == 2  # the create and one fetch, no poll
    assert om.journal.fills()[0].fee == pytest.approx(0.01 * desk.last_price * TAKER)
    assert om.portfolio.positions[BTC].amount == pytest.approx(0.01) == desk.position("BTCUSDT")
    await ex.close()


async def test_an_accepted_only_market_order_the_venue_cannot_show_yet_is_filled_by_poll(venue, monkeypatch):
    """The fetch right after an ACK fails (the venue does not know the order yet): the answer stands,
    the order stays open here, and poll() finds it filled."""
    server, desk = venue
    desk.ack_only = True
    answer = desk.answer
    refused: list = []

    def not_yet(method: str, path: str, q: dict):
        if method == "GET" and path == "/fapi/v1/order" and not refused:
            refused.append(q)
            return 400, {"code": -2013, "msg": "Order does not exist."}
        return answer(method, path, q)

    monkeypatch.setattr(desk, "answer", not_yet)
    ex, om = await started(executor(server))
    o = om.submit(OrderIntent(BTC, "buy", 0.01, OrderType.MARKET))
    await ex.drain()
    assert len(refused) == 1 and len(ex.errors) == 1 and "Order does not exist" in ex.errors[0]
    assert om.orders[o.client_id].status is OrderStatus.SUBMITTED and ex.open_ids() == {o.client_id}
    await ex.poll()
    assert om.orders[o.client_id].status is OrderStatus.FILLED and ex.open_ids() == set()
    assert om.journal.fills()[0].fee == pytest.approx(0.01 * desk.last_price * TAKER)
    await ex.close()


async def test_an_ioc_that_does_not_cross_and_a_post_only_that_would_expire(venue):
    server, desk = venue
    ex, om = await started(executor(server))
    ioc = om.submit(OrderIntent(BTC, "buy", 0.01, OrderType.LIMIT, price=11_000.0, time_in_force="ioc"))
    post = om.submit(OrderIntent(BTC, "buy", 0.01, OrderType.LIMIT, price=12_000.0, post_only=True))
    await ex.drain()
    assert sorted(q["timeInForce"] for q in sent(server, "/fapi/v1/order")) == ["GTX", "IOC"]
    for o in (ioc, post):
        assert venue_order(desk, o.client_id)["status"] == "EXPIRED"
        assert om.orders[o.client_id].status is OrderStatus.EXPIRED
    assert om.journal.fills() == [] and desk.position("BTCUSDT") == 0.0
    await ex.close()


async def test_trades_that_cannot_be_fetched_leave_a_fill_at_the_average_and_an_error(venue):
    """The order filled but its trades are refused: the fill is reported from the order's totals (the
    order is the truth) with a made-up id, as a taker, its fee unknown, and the reason kept without
    the key."""
    server, desk = venue
    ex, om = await started(executor(server))
    server.faults = [RestFault("/fapi/v1/userTrades", "auth")]
    o = om.submit(OrderIntent(BTC, "buy", 0.01, OrderType.MARKET))
    await ex.drain()
    [fill] = om.journal.fills()
    assert om.orders[o.client_id].status is OrderStatus.FILLED and fill.fee == 0.0
    order_id = venue_order(desk, o.client_id)["orderId"]
    assert (fill.fill_id, fill.liquidity, fill.price) == (f"binance:{order_id}-0.01", "taker", pytest.approx(desk.last_price))
    assert om.portfolio.positions[BTC].amount == pytest.approx(0.01) == desk.position("BTCUSDT")
    assert len(ex.errors) == 1 and ex.errors[0].startswith(f"trades of {o.client_id}: ") and KEY not in ex.errors[0]
    await ex.close()


async def test_refused_keys_never_appear_in_errors_logs_or_journal(venue, tmp_path, caplog):
    server, _ = venue
    caplog.set_level("DEBUG")
    # Binance refuses the order; the server quotes the refused key back in msg (the worst case)
    server.faults = [RestFault("/fapi/v1/order", "auth")]
    ex = executor(server)
    await ex.start()
    journal = SqliteJournal(tmp_path / "journal.db")
    om = order_manager(journal, ex, [])
    o = om.submit(OrderIntent(BTC, "buy", 0.01, OrderType.MARKET))
    await ex.drain()
    order = om.orders[o.client_id]
    assert order.status is OrderStatus.REJECTED and "refused the order: AuthenticationError" in order.reason
    assert [r.headers.get("X-MBX-APIKEY") for r in server.requests if r.path == "/fapi/v1/order"] == [KEY]
    await ex.close()
    journal.close()

    # refused at start: one clean sentence
    server.faults = [RestFault("/fapi/v1/openOrders", "auth")]
    with pytest.raises(LiveExecutorError, match="binance refused the API credentials") as refused:
        await executor(server).start()
    assert_no_secret((KEY, SECRET), texts=[order.reason, str(refused.value), caplog.text, repr(ex), *ex.errors],
                     files=tmp_path)
