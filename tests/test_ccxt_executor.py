"""The live executor with the REAL ccxt client against the local Binance order desk, driven by the
real OrderManager: place, fill, amend, cancel; and after a restart, reconcile surfaces an order the
exchange holds that we never placed."""

from __future__ import annotations

import pytest
from virtuoso_ccxt.executor import LiveExecutor, LiveExecutorError

from tests.exchange import RestFault
from tests.exchange.live import assert_no_secret, order_manager, serving, started
from tests.exchange.order_desk import FEE_RATE, BinanceOrderDesk
from virtuoso_tui.model import OrderIntent, OrderStatus, OrderType
from virtuoso_tui.trading.journal import SqliteJournal

KEY, SECRET = "liveFAKEkey0123456789ABCDEFGH", "liveFAKEsecret9876543210zyxw"


@pytest.fixture
async def venue():
    desk = BinanceOrderDesk()
    async with serving(desk) as server:
        yield server, desk


def executor(server) -> LiveExecutor:
    return LiveExecutor({"exchange": "binance", "base_url": server.url, "symbols": ["BTC/USDT"],
                         "api_key": KEY, "secret": SECRET, "rate_limit_ms": 1})


def venue_order(desk: BinanceOrderDesk, client_id: str) -> dict:
    """The venue order carrying `client_id`: the latest, as a cancel-replace amend keeps the id."""
    return [o for o in desk.orders.values() if o["clientOrderId"] == client_id][-1]


def trades_asked(server) -> list[str]:
    """The orderId of each GET /api/v3/myTrades ccxt sent."""
    return [r.query["orderId"] for r in server.requests if r.path == "/api/v3/myTrades"]


async def test_place_fill_amend_cancel_and_reconcile_after_restart(venue, tmp_path):
    server, desk = venue
    path = tmp_path / "journal.db"
    alerts: list = []
    ex = executor(server)
    await ex.start()
    om = order_manager(SqliteJournal(path), ex, alerts)

    market = om.submit(OrderIntent("BTC/USDT", "buy", 0.01, OrderType.MARKET))
    resting = om.submit(OrderIntent("BTC/USDT", "buy", 0.02, OrderType.LIMIT, price=60_000.0))
    await ex.drain()
    # the market order filled at the desk's price; its client id went to the exchange
    assert om.orders[market.client_id].status is OrderStatus.FILLED
    assert om.orders[market.client_id].average_price == desk.last_price
    placed = {o["clientOrderId"]: o for o in desk.orders.values()}
    assert set(placed) == {market.client_id, resting.client_id}
    [fill] = om.journal.fills()
    assert fill.fee == pytest.approx(0.01 * desk.last_price * 0.001)
    # the FULL answer to the create lists the order's trades: reported as they are, nothing more asked
    assert fill.fill_id == f"binance:{desk.trades[0]['id']}" and trades_asked(server) == []
    assert om.portfolio.positions["BTC/USDT"].amount == pytest.approx(0.01)
    assert om.orders[resting.client_id].status is OrderStatus.SUBMITTED and ex.open_ids() == {resting.client_id}

    amended = await ex.amend_now(resting.client_id, price=61_000.0)
    assert amended["price"] == 61_000.0 and amended["clientOrderId"] == resting.client_id
    live = desk.open_orders("BTCUSDT")
    assert [(o["clientOrderId"], float(o["price"])) for o in live] == [(resting.client_id, 61_000.0)]

    # someone places an order from the web UI; then we crash and restart
    desk.seed("BTCUSDT", "SELL", 0.5, 90_000.0, "web_ui_order_1")
    await ex.close()
    alerts2: list = []
    ex2 = executor(server)
    await ex2.start()
    om2 = order_manager(SqliteJournal(path), ex2, alerts2)
    om2.restore()
    report = om2.reconcile()
    assert report.unknown == ["web_ui_order_1"] and report.missing == []
    assert any("web_ui_order_1" in a.message for a in alerts2)

    om2.cancel(resting.client_id)
    await ex2.drain()
    assert om2.orders[resting.client_id].status is OrderStatus.CANCELLED
    assert [o["clientOrderId"] for o in desk.open_orders()] == ["web_ui_order_1"]  # never touched
    await ex2.close()


async def test_venue_fill_is_picked_up_by_poll_as_the_venue_trades_it(venue):
    """Binance's order query carries no fills or commission: a resting order found filled by poll has
    its trades fetched (myTrades by orderId), and each trade is journalled as it was made: the venue's
    trade id, time, fee and maker flag. A poll that finds nothing new reports and asks nothing."""
    server, desk = venue
    ex, om = await started(executor(server))
    o = om.submit(OrderIntent("BTC/USDT", "sell", 0.03, OrderType.LIMIT, price=80_000.0))
    await ex.drain()
    assert [r for r in server.requests if r.path == "/api/v3/myTrades"] == []  # nothing filled, nothing to ask
    order_id = venue_order(desk, o.client_id)["orderId"]
    desk.fill(order_id, 0.01)
    await ex.poll()
    assert om.orders[o.client_id].status is OrderStatus.PARTIALLY_FILLED and ex.open_ids() == {o.client_id}
    await ex.poll()  # nothing new at the venue
    assert len(om.journal.fills()) == 1 and len(trades_asked(server)) == 1
    desk.fill(order_id)
    await ex.poll()
    assert om.orders[o.client_id].status is OrderStatus.FILLED
    assert om.orders[o.client_id].average_price == 80_000.0
    fills = om.journal.fills()
    assert [f.amount for f in fills] == pytest.approx([0.01, 0.02])
    assert [f.fee for f in fills] == pytest.approx([0.01 * 80_000.0 * FEE_RATE, 0.02 * 80_000.0 * FEE_RATE])
    assert [(f.fill_id, f.ts, f.liquidity) for f in fills] == [(f"binance:{t['id']}", t["time"], "maker") for t in desk.trades]
    assert trades_asked(server) == [str(order_id)] * 2
    assert ex.open_ids() == set() and ex.errors == [] and server.unknown == []
    await ex.close()


async def test_a_trade_made_after_the_order_was_read_waits_for_the_next_poll(venue, monkeypatch):
    """The order query shows 0.01 filled; by the time its trades are fetched it has traded 0.005 more.
    Only what the order showed is reported (never more than the venue says filled); the newer trade
    comes with the next poll, which shows it in the order's totals."""
    server, desk = venue
    ex, om = await started(executor(server))
    o = om.submit(OrderIntent("BTC/USDT", "sell", 0.03, OrderType.LIMIT, price=80_000.0))
    await ex.drain()
    order_id = venue_order(desk, o.client_id)["orderId"]
    desk.fill(order_id, 0.01)
    answer = desk.answer

    def trades_meanwhile(method: str, path: str, q: dict):
        if path == "/api/v3/myTrades" and len(desk.trades) == 1:
            desk.fill(order_id, 0.005)
        return answer(method, path, q)

    monkeypatch.setattr(desk, "answer", trades_meanwhile)
    await ex.poll()
    assert [f.amount for f in om.journal.fills()] == pytest.approx([0.01])
    assert om.orders[o.client_id].filled == pytest.approx(0.01) and len(desk.trades) == 2
    await ex.poll()
    desk.fill(order_id)
    await ex.poll()
    fills = om.journal.fills()
    assert [f.amount for f in fills] == pytest.approx([0.01, 0.005, 0.015])
    assert [f.fill_id for f in fills] == [f"binance:{t['id']}" for t in desk.trades]
    assert om.orders[o.client_id].status is OrderStatus.FILLED and om.orders[o.client_id].filled == pytest.approx(0.03)
    assert ex.errors == []
    await ex.close()


async def test_trades_that_cannot_be_fetched_leave_a_fill_at_the_average_and_an_error(venue):
    """The order query shows a fill but its trades are refused: the fill is reported from the order's
    totals (made-up id, taker, no fee) and the reason kept without the key. When the trades come with
    the next fill, the trade that fill covered is not reported again; the new one is, as it was made."""
    server, desk = venue
    ex, om = await started(executor(server))
    o = om.submit(OrderIntent("BTC/USDT", "sell", 0.03, OrderType.LIMIT, price=80_000.0))
    await ex.drain()
    order_id = venue_order(desk, o.client_id)["orderId"]
    # after a successful sign-in ccxt takes Binance's -2015 for a temporary ban and retries: refuse each try
    server.faults = [RestFault("/api/v3/myTrades", "auth", times=1 + ex.policy.retries)]
    desk.fill(order_id, 0.01)
    await ex.poll()
    [fill] = om.journal.fills()
    assert (fill.fill_id, fill.amount, fill.price, fill.fee, fill.liquidity) == (
        f"binance:{order_id}-0.01", pytest.approx(0.01), 80_000.0, 0.0, "taker")
    assert len(ex.errors) == 1 and ex.errors[0].startswith(f"trades of {o.client_id}: ")
    assert KEY not in ex.errors[0] and SECRET not in ex.errors[0]
    desk.fill(order_id)
    await ex.poll()
    fills = om.journal.fills()
    assert [f.fill_id for f in fills] == [f"binance:{order_id}-0.01", f"binance:{desk.trades[1]['id']}"]
    assert [f.amount for f in fills] == pytest.approx([0.01, 0.02])
    assert [f.liquidity for f in fills] == ["taker", "maker"] and fills[1].fee == pytest.approx(0.02 * 80_000.0 * FEE_RATE)
    assert om.orders[o.client_id].status is OrderStatus.FILLED and om.orders[o.client_id].filled == pytest.approx(0.03)
    assert len(ex.errors) == 1
    await ex.close()


async def test_fills_before_and_after_a_cancel_replace_amend_are_the_venue_trades(venue):
    """Binance spot amends by cancel-replace: the replacing order starts at 0 filled. Its trades are
    fetched by its own id, and the fills of both venue orders are journalled once each, by trade."""
    server, desk = venue
    ex, om = await started(executor(server))
    o = om.submit(OrderIntent("BTC/USDT", "sell", 0.03, OrderType.LIMIT, price=80_000.0))
    await ex.drain()
    first = venue_order(desk, o.client_id)["orderId"]
    desk.fill(first, 0.01)
    await ex.poll()
    await ex.amend_now(o.client_id, price=81_000.0)
    second = venue_order(desk, o.client_id)["orderId"]
    assert second != first and float(desk.orders[second]["origQty"]) == pytest.approx(0.02)
    desk.fill(second)
    await ex.poll()
    fills = om.journal.fills()
    assert [(f.fill_id, f.price, f.liquidity) for f in fills] == [
        (f"binance:{desk.trades[0]['id']}", 80_000.0, "maker"), (f"binance:{desk.trades[1]['id']}", 81_000.0, "maker")]
    assert [f.amount for f in fills] == pytest.approx([0.01, 0.02])
    assert om.orders[o.client_id].status is OrderStatus.FILLED and om.orders[o.client_id].filled == pytest.approx(0.03)
    assert trades_asked(server) == [str(first), str(second)] and ex.errors == []
    await ex.close()


async def test_a_fee_in_bnb_counts_as_zero_without_an_error(venue):
    """A commission in an asset that is neither base nor quote (BNB) has no value in our quote
    currency: the fill is journalled with fee 0, as for a fill in the create's FULL answer."""
    server, desk = venue
    desk.bnb_price = 600.0
    ex, om = await started(executor(server))
    o = om.submit(OrderIntent("BTC/USDT", "buy", 0.02, OrderType.LIMIT, price=60_000.0))
    await ex.drain()
    desk.fill(venue_order(desk, o.client_id)["orderId"])
    await ex.poll()
    assert om.orders[o.client_id].status is OrderStatus.FILLED
    assert [(t["commissionAsset"], float(t["commission"])) for t in desk.trades] == [
        ("BNB", pytest.approx(0.02 * 60_000.0 * FEE_RATE / 600.0))]
    assert [f.fee for f in om.journal.fills()] == [0.0] and ex.errors == []
    await ex.close()


async def test_refused_order_is_rejected_with_a_clean_reason(venue, tmp_path, caplog):
    server, _ = venue
    caplog.set_level("DEBUG")
    server.faults = [RestFault("/api/v3/order", "auth")]
    ex = executor(server)
    await ex.start()
    journal = SqliteJournal(tmp_path / "journal.db")
    om = order_manager(journal, ex, [])
    o = om.submit(OrderIntent("BTC/USDT", "buy", 0.01, OrderType.MARKET))
    await ex.drain()
    order = om.orders[o.client_id]
    assert order.status is OrderStatus.REJECTED and "refused the order" in order.reason
    # the desk quoted the key back in its error body: it must be in none of our outputs
    sent = [r for r in server.requests if r.path == "/api/v3/order"]
    assert sent[0].headers.get("X-MBX-APIKEY") == KEY
    await ex.close()
    journal.close()
    assert_no_secret((KEY, SECRET), texts=[order.reason, repr(ex), caplog.text], files=tmp_path)


async def test_no_keys_is_one_clear_error():
    with pytest.raises(LiveExecutorError, match="needs API keys"):
        await LiveExecutor({"exchange": "binance"}).start()
