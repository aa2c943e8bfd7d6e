"""The live executor with the REAL ccxt bybit client against the local Bybit v5 linear desk, driven by
the real OrderManager: place, fill, amend (in place, as Bybit does), cancel; fills found by polling,
each reported as the venue's execution (/v5/execution/list); and after a restart reconcile surfaces an
order and a position the venue holds that we did not make."""

from __future__ import annotations

import pytest
from virtuoso_ccxt.executor import LiveExecutor, LiveExecutorError

from tests.exchange import RestFault
from tests.exchange.bybit_desk import BybitOrderDesk
from tests.exchange.live import (
    assert_no_secret,
    check_outside_trade_is_surfaced,
    order_manager,
    serving,
    started,
)
from virtuoso_tui.model import OrderIntent, OrderStatus, OrderType
from virtuoso_tui.trading.journal import SqliteJournal

KEY, SECRET = "bybitFAKEkey0123456789ABCDEF", "bybitFAKEsecret9876543210zyxw"
BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
TAKER, MAKER = 0.0006, 0.0001  # the recorded BTCUSDT fee rates the desk charges


@pytest.fixture
async def venue():
    desk = BybitOrderDesk()
    async with serving(desk) as server:   # and every call ccxt made was answered
        yield server, desk


def executor(server, symbols=(BTC,)) -> LiveExecutor:
    return LiveExecutor({"exchange": "bybit", "base_url": server.url, "symbols": list(symbols),
                         "api_key": KEY, "secret": SECRET, "rate_limit_ms": 1})


def venue_order(desk: BybitOrderDesk, client_id: str) -> dict:
    return next(o for o in desk.orders.values() if o["orderLinkId"] == client_id)


def executions_asked(server) -> list[str]:
    """The orderId of each GET /v5/execution/list ccxt sent."""
    return [r.query["orderId"] for r in server.requests if r.path == "/v5/execution/list"]


async def test_place_fill_amend_cancel_and_reconcile_orders_and_positions_after_restart(venue, tmp_path):
    server, desk = venue
    path = tmp_path / "journal.db"
    alerts: list = []
    ex = executor(server)
    await ex.start()
    assert ex.positions() == {BTC: 0.0}  # flat at the venue: the recorded flat row
    om = order_manager(SqliteJournal(path), ex, alerts)

    market = om.submit(OrderIntent(BTC, "buy", 0.01, OrderType.MARKET))
    resting = om.submit(OrderIntent(BTC, "buy", 0.02, OrderType.LIMIT, price=50_000.0))
    await ex.drain()
    # Bybit answered the create with ids only: the fill came from fetching the order by id
    assert om.orders[market.client_id].status is OrderStatus.FILLED
    assert om.orders[market.client_id].average_price == pytest.approx(desk.last_price)
    assert {o["orderLinkId"] for o in desk.orders.values()} == {market.client_id, resting.client_id}
    [fill] = om.journal.fills()
    assert fill.fee == pytest.approx(0.01 * desk.last_price * TAKER)
    assert (fill.fill_id, fill.liquidity) == (f"bybit:{desk.executions[0]['execId']}", "taker")
    assert om.portfolio.positions[BTC].amount == pytest.approx(0.01) == desk.position("BTCUSDT")
    assert om.orders[resting.client_id].status is OrderStatus.SUBMITTED and ex.open_ids() == {resting.client_id}

    amended = await ex.amend_now(resting.client_id, price=50_500.0)
    # amended in place: the same venue order, same id, its total quantity unchanged
    assert amended["price"] == 50_500.0 and amended["clientOrderId"] == resting.client_id
    assert amended["id"] == venue_order(desk, resting.client_id)["orderId"]
    assert [(o["orderLinkId"], o["price"], o["qty"]) for o in desk.open_orders("BTCUSDT")] == [
        (resting.client_id, "50500", "0.02")]

    # the web UI places an order; then we crash and restart
    desk.seed("BTCUSDT", "Sell", 0.5, 90_000.0, "web_ui_order_1")
    await ex.close()
    alerts2: list = []
    ex2 = executor(server)
    await ex2.start()
    om2 = order_manager(SqliteJournal(path), ex2, alerts2)
    om2.restore()
    report = om2.reconcile()
    assert report.unknown == ["web_ui_order_1"] and report.missing == []
    assert report.positions == []  # the venue holds exactly what the journal filled
    assert any("web_ui_order_1" in a.message for a in alerts2)

    # someone buys 0.5 on the web UI: after a resync the venue's position is not the journal's
    await check_outside_trade_is_surfaced(ex2, om2, alerts2, lambda: desk.web_trade("BTCUSDT", "Buy", 0.5),
                                          BTC, venue=0.51, journal=0.01)
    assert desk.position("BTCUSDT") == pytest.approx(0.51)

    om2.cancel(resting.client_id)
    await ex2.drain()
    assert om2.orders[resting.client_id].status is OrderStatus.CANCELLED
    assert venue_order(desk, resting.client_id)["orderStatus"] == "Cancelled"
    assert [o["orderLinkId"] for o in desk.open_orders()] == ["web_ui_order_1"]  # never touched
    await ex2.close()


async def test_venue_fill_is_picked_up_by_poll_as_the_maker_execution_it_was(venue):
    server, desk = venue
    ex, om = await started(executor(server))
    o = om.submit(OrderIntent(BTC, "sell", 0.03, OrderType.LIMIT, price=80_000.0))
    await ex.drain()
    assert ex.open_ids() == {o.client_id} and desk.position("BTCUSDT") == 0.0
    desk.fill(venue_order(desk, o.client_id)["orderId"])
    await ex.poll()
    assert om.orders[o.client_id].status is OrderStatus.FILLED
    assert om.orders[o.client_id].average_price == 80_000.0
    [fill] = om.journal.fills()
    assert fill.fee == pytest.approx(0.03 * 80_000.0 * MAKER)
    [execution] = desk.executions
    assert (fill.fill_id, fill.liquidity, fill.ts) == (f"bybit:{execution['execId']}", "maker", int(execution["execTime"]))
    assert ex.open_ids() == set()
    await ex.resync()
    assert ex.positions() == {BTC: pytest.approx(-0.03)} and om.portfolio.positions[BTC].amount == pytest.approx(-0.03)
    assert om.reconcile().positions == []
    await ex.close()


async def test_an_acknowledged_order_that_cannot_be_fetched_is_polled_later(venue):
    """The create went through but the fetch behind Bybit's ids-only answer failed: the order is held
    open as sent, never reported rejected, and poll() finds its fill."""
    server, desk = venue
    ex, om = await started(executor(server))
    server.faults = [RestFault("/v5/order/realtime", "auth")]
    o = om.submit(OrderIntent(BTC, "buy", 0.01, OrderType.MARKET))
    await ex.drain()
    assert venue_order(desk, o.client_id)["orderStatus"] == "Filled"
    assert om.orders[o.client_id].status is OrderStatus.SUBMITTED and ex.open_ids() == {o.client_id}
    assert len(ex.errors) == 1 and ex.errors[0].startswith("fetch ") and KEY not in ex.errors[0]
    await ex.poll()
    assert om.orders[o.client_id].status is OrderStatus.FILLED and ex.open_ids() == set()
    assert om.portfolio.positions[BTC].amount == pytest.approx(0.01) == desk.position("BTCUSDT")
    await ex.close()


async def test_a_partial_fill_and_the_rest_across_polls_are_each_their_own_execution(venue):
    """Partly filled, polled twice (the second poll finds nothing new: no fill, no executions asked),
    then filled: two fills, each the venue's execution with its id and maker fee, none twice."""
    server, desk = venue
    ex, om = await started(executor(server))
    o = om.submit(OrderIntent(BTC, "sell", 0.03, OrderType.LIMIT, price=80_000.0))
    await ex.drain()
    order_id = venue_order(desk, o.client_id)["orderId"]
    desk.fill(order_id, 0.01)
    await ex.poll()
    await ex.poll()
    assert len(om.journal.fills()) == 1 and len(executions_asked(server)) == 1
    desk.fill(order_id)
    await ex.poll()
    fills = om.journal.fills()
    assert [(f.fill_id, f.liquidity) for f in fills] == [(f"bybit:{e['execId']}", "maker") for e in desk.executions]
    assert [f.amount for f in fills] == pytest.approx([0.01, 0.02])
    assert [f.fee for f in fills] == pytest.approx([0.01 * 80_000.0 * MAKER, 0.02 * 80_000.0 * MAKER])
    assert executions_asked(server) == [order_id] * 2
    assert om.orders[o.client_id].status is OrderStatus.FILLED and ex.errors == []
    await ex.close()


async def test_executions_that_cannot_be_fetched_leave_a_fill_from_the_order_and_an_error(venue):
    """The executions are refused: the fill is reported from the order's totals (its fee is the
    order's, its id made up, taker) and the reason kept without the key. The next fill comes with
    the executions: the one already covered is not reported again, the new one is, fee and all."""
    server, desk = venue
    ex, om = await started(executor(server))
    o = om.submit(OrderIntent(BTC, "sell", 0.03, OrderType.LIMIT, price=80_000.0))
    await ex.drain()
    order_id = venue_order(desk, o.client_id)["orderId"]
    server.faults = [RestFault("/v5/execution/list", "auth")]
    desk.fill(order_id, 0.01)
    await ex.poll()
    [fill] = om.journal.fills()
    assert (fill.fill_id, fill.liquidity, fill.price) == (f"bybit:{order_id}-0.01", "taker", 80_000.0)
    assert fill.fee == pytest.approx(0.01 * 80_000.0 * MAKER)
    assert len(ex.errors) == 1 and ex.errors[0].startswith(f"trades of {o.client_id}: ")
    assert KEY not in ex.errors[0] and SECRET not in ex.errors[0]
    desk.fill(order_id)
    await ex.poll()
    fills = om.journal.fills()
    assert [f.fill_id for f in fills] == [f"bybit:{order_id}-0.01", f"bybit:{desk.executions[1]['execId']}"]
    assert [f.amount for f in fills] == pytest.approx([0.01, 0.02])
    assert [f.fee for f in fills] == pytest.approx([0.01 * 80_000.0 * MAKER, 0.02 * 80_000.0 * MAKER])
    assert om.orders[o.client_id].status is OrderStatus.FILLED and om.orders[o.client_id].filled == pytest.approx(0.03)
    assert len(ex.errors) == 1
    await ex.close()


async def test_amend_after_a_partial_fill_keeps_the_fills_once(venue):
    """Bybit amends in place: the order keeps what it filled and `qty` stays its total, so nothing is
    carried over as on a cancel-replace venue, and no fill is counted twice."""
    server, desk = venue
    ex, om = await started(executor(server))
    o = om.submit(OrderIntent(BTC, "buy", 0.05, OrderType.LIMIT, price=50_000.0))
    await ex.drain()
    desk.fill(venue_order(desk, o.client_id)["orderId"], 0.02)
    await ex.poll()
    assert om.orders[o.client_id].status is OrderStatus.PARTIALLY_FILLED and om.orders[o.client_id].filled == pytest.approx(0.02)

    om.amend(o.client_id, price=50_200.0)
    await ex.drain()
    row = venue_order(desk, o.client_id)
    assert (row["price"], row["qty"], row["cumExecQty"], row["leavesQty"]) == ("50200", "0.05", "0.02", "0.03")
    assert (om.orders[o.client_id].price, om.orders[o.client_id].amount) == (50_200.0, 0.05)
    desk.fill(row["orderId"])
    await ex.poll()
    assert om.orders[o.client_id].status is OrderStatus.FILLED
    assert om.orders[o.client_id].filled == pytest.approx(0.05) == desk.position("BTCUSDT")
    fills = om.journal.fills()
    assert [f.amount for f in fills] == pytest.approx([0.02, 0.03])
    assert [f.fill_id for f in fills] == [f"bybit:{e['execId']}" for e in desk.executions]
    await ex.close()


async def test_positions_are_reconciled_per_symbol(venue):
    """Two linear symbols (Bybit answers one symbol a call): a web-UI trade shows on its symbol only."""
    server, desk = venue
    ex, om = await started(executor(server, (BTC, ETH)))
    om.submit(OrderIntent(BTC, "sell", 0.2, OrderType.MARKET))
    await ex.drain()
    desk.web_trade("ETHUSDT", "Sell", 1.5)
    await ex.resync()
    assert ex.positions() == {BTC: pytest.approx(-0.2), ETH: pytest.approx(-1.5)}
    assert om.reconcile().positions == ["ETH/USDT:USDT: venue -1.5, journal +0"]
    position_calls = [r.query["symbol"] for r in server.requests if r.path == "/v5/position/list"]
    assert position_calls == ["BTCUSDT", "ETHUSDT"] * 2  # start, then resync
    await ex.close()


async def test_refused_keys_never_appear_in_errors_logs_or_journal(venue, tmp_path, caplog):
    server, _ = venue
    caplog.set_level("DEBUG")
    # Bybit refuses the order; the server quotes the refused key back in retMsg (the worst case)
    server.faults = [RestFault("/v5/order/create", "auth")]
    ex = executor(server)
    await ex.start()
    journal = SqliteJournal(tmp_path / "journal.db")
    om = order_manager(journal, ex, [])
    o = om.submit(OrderIntent(BTC, "buy", 0.01, OrderType.MARKET))
    await ex.drain()
    order = om.orders[o.client_id]
    assert order.status is OrderStatus.REJECTED and "refused the order: AuthenticationError" in order.reason
    sent = [r for r in server.requests if r.path == "/v5/order/create"]
    assert sent[0].headers.get("X-BAPI-API-KEY") == KEY
    await ex.close()
    journal.close()

    # refused at start: one clean sentence
    server.faults = [RestFault("/v5/order/realtime", "auth")]
    with pytest.raises(LiveExecutorError, match="bybit refused the API credentials") as refused:
        await executor(server).start()
    assert_no_secret((KEY, SECRET), texts=[order.reason, str(refused.value), caplog.text, repr(ex), *ex.errors],
                     files=tmp_path)


async def test_positions_of_the_watched_symbols_are_reconciled_when_no_symbols_are_given(venue):
    """`--live` with [plugins.ccxt] symbols unset: open orders are fetched for every market, and the
    venue's positions for the linear contracts the console watches ([general] symbols)."""
    from virtuoso_tui.config import parse_config
    from virtuoso_tui.plugins import PluginHost
    from virtuoso_tui.trading.wiring import live_executor

    server, desk = venue
    text = f"""
[general]
symbols = ["{BTC}", "ETH/USDT"]
[sources.ccxt]
exchange = "bybit"
api_key = "{KEY}"
secret = "{SECRET}"
[plugins.ccxt]
base_url = "{server.url}"
rate_limit_ms = 1
[live]
enabled = true
sandbox = false
"""
    settings = parse_config(text, file="test.toml", env={})
    ex = live_executor(PluginHost.load(), settings)
    assert ex.symbols == [] and ex.contract_symbols() == [BTC]   # the spot symbol has no position
    await ex.start()
    assert ex.positions() == {BTC: 0.0}
    desk.web_trade("BTCUSDT", "Buy", 0.25)
    await ex.resync()
    assert ex.positions() == {BTC: 0.25}
    await ex.close()
