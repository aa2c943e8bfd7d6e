"""The live executor inside the running engine, end to end against the local Binance order desk: the
engine awaits the executor's start, the desk reconciles, commands place/amend/cancel at the venue,
the poll task picks up venue fills, a lost-and-regained venue is resynced and reconciled, and a
restart surfaces an order the exchange holds that we never placed. Also: `--live` without keys is
one clear error."""

from __future__ import annotations

import asyncio

import pytest

from tests.exchange import RestFault, RestServer
from tests.exchange.order_desk import BinanceOrderDesk
from virtuoso_tui.config import parse_config
from virtuoso_tui.model import OrderIntent, OrderStatus, OrderType
from virtuoso_tui.runtime import build_runtime
from virtuoso_tui.trading.desk import LiveUnavailable, build_desk

KEY, SECRET = "engineFAKEkey0123456789ABCDEF", "engineFAKEsecret9876543210zyx"
SYMBOL = "BTC/USDT"


def settings(base_url: str, db: str, *, enabled: bool = True, keys: bool = True):
    text = f"""
[general]
symbols = ["{SYMBOL}"]
[sources.ccxt]
exchange = "binance"
api_key = "${{VT_TEST_KEY:-}}"
secret = "${{VT_TEST_SECRET:-}}"
[plugins.ccxt]
base_url = "{base_url}"
symbols = ["{SYMBOL}"]
rate_limit_ms = 1
poll_interval_s = 0.05
retries = 0
[risk.price_band]
enabled = false
[storage]
path = "{db}"
[live]
enabled = {"true" if enabled else "false"}
sandbox = false
"""
    env = {"VT_TEST_KEY": KEY, "VT_TEST_SECRET": SECRET} if keys else {}
    return parse_config(text, file="test.toml", env=env)


def live_runtime(s, db: str):
    """build_runtime with the sim market and the desk built with live=True (what `--live` selects)."""
    rt = build_runtime(s, source="sim", speed=1.0, db_path=db, with_prism=False, with_trading=False, warm_up=False)
    desk = build_desk(host=rt.host, settings=s, storage=rt.storage, bus=rt.bus, now=lambda: rt.engine.now,
                      states=lambda: rt.engine.states, live=True)
    rt.engine.desk = rt.desk = desk
    return rt


@pytest.fixture
async def venue():
    desk = BinanceOrderDesk()
    server = RestServer(desk=desk)
    await server.start()
    yield server, desk
    await server.stop()


async def until(check, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not check():
        if loop.time() > end:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.02)


def collect(bus, topic: str) -> list:
    out: list = []
    bus.subscribe(topic, lambda _t, payload: out.append(payload))
    return out


async def test_engine_trades_live_and_reconciles_after_reconnect_and_restart(venue, tmp_path):
    server, exchange = venue
    db = str(tmp_path / "live.db")
    s = settings(server.url, db)

    # --- first session: place, amend, venue fill via poll, lost venue, reconnect reconcile ---------
    rt = live_runtime(s, db)
    alerts = collect(rt.bus, "alert")
    assert rt.desk.manager.default_executor == "live"
    run = asyncio.ensure_future(rt.engine.run(wall_seconds=30))
    live = rt.desk.manager.executors["live"]
    await until(lambda: live.exchange is not None and live.exchange.markets)
    await until(lambda: rt.engine.now > 0)

    resting = rt.engine.execute(f"buy 0.02 {SYMBOL} @ 60000").orders[0]
    market = rt.engine.execute(f"buy 0.01 {SYMBOL}").orders[0]
    om = rt.desk.manager
    await until(lambda: om.orders[market.client_id].status is OrderStatus.FILLED and resting.client_id in live.open)
    assert om.orders[market.client_id].average_price == exchange.last_price

    result = rt.engine.execute(f"amend {resting.client_id} @ 61000 0.03")
    assert result.ok, result.message
    assert om.orders[resting.client_id].price == 61000.0  # journalled before the venue answered
    await until(lambda: [(o["clientOrderId"], float(o["price"]), float(o["origQty"]))
                         for o in exchange.open_orders()] == [(resting.client_id, 61000.0, 0.03)])
    stored = rt.storage.orders()
    assert next(o for o in stored if o.client_id == resting.client_id).price == 61000.0

    # the venue loses contact (5xx on the order query), meanwhile someone trades from the web UI
    server.faults = [RestFault("/api/v3/order", "503", times=3)]
    await until(lambda: any("lost contact" in a.message for a in alerts))
    exchange.seed("BTCUSDT", "SELL", 0.5, 90_000.0, "web_ui_order_1")
    await until(lambda: any("reconciled after a reconnect" in a.message for a in alerts))
    assert any("web_ui_order_1" in a.message and a.source == "reconcile" for a in alerts)

    # a venue fill of our resting order is picked up by the poll task
    venue_order = next(o for o in exchange.open_orders() if o["clientOrderId"] == resting.client_id)
    venue_order.update(status="PARTIALLY_FILLED", executedQty="0.01000000", cummulativeQuoteQty="610.0")
    await until(lambda: om.orders[resting.client_id].filled == pytest.approx(0.01))
    assert om.orders[resting.client_id].status is OrderStatus.PARTIALLY_FILLED
    rt.engine.stop("test")
    await run
    assert live.exchange is None  # closed on shutdown
    rt.close()

    # --- restart: the journal has our open order; the exchange also holds the web UI's ---------------
    rt2 = live_runtime(s, db)
    alerts2 = collect(rt2.bus, "alert")
    run2 = asyncio.ensure_future(rt2.engine.run(wall_seconds=30))
    await until(lambda: any("web_ui_order_1" in a.message for a in alerts2))
    om2 = rt2.desk.manager
    assert om2.orders[resting.client_id].status is OrderStatus.PARTIALLY_FILLED
    assert om2.orders[resting.client_id].price == 61000.0
    assert not any(resting.client_id in a.message for a in alerts2)  # ours matched, not reported

    result = rt2.engine.execute(f"cancel {resting.client_id}")
    assert result.ok, result.message
    await until(lambda: om2.orders[resting.client_id].status is OrderStatus.CANCELLED)
    assert [o["clientOrderId"] for o in exchange.open_orders()] == ["web_ui_order_1"]  # never touched
    rt2.engine.stop("test")
    await run2
    rt2.close()
    log = (tmp_path / "live.db").read_bytes()
    assert KEY.encode() not in log and SECRET.encode() not in log


async def test_amend_refused_by_risk_or_executor_changes_nothing(venue, tmp_path):
    server, exchange = venue
    db = str(tmp_path / "a.db")
    rt = live_runtime(settings(server.url, db), db)
    run = asyncio.ensure_future(rt.engine.run(wall_seconds=30))
    await until(lambda: rt.engine.now > 0 and rt.desk.manager.executors["live"].exchange is not None)
    o = rt.engine.execute(f"buy 0.02 {SYMBOL} @ 60000").orders[0]
    await until(lambda: o.client_id in rt.desk.manager.executors["live"].open)
    # max_position (50,000 quote) refuses a 1 BTC order at 60,000: the venue order stays as it was
    refused = rt.engine.execute(f"amend {o.client_id} 1")
    assert not refused.ok and "max_position" in refused.message
    assert rt.desk.manager.orders[o.client_id].amount == 0.02
    assert float(exchange.open_orders()[0]["origQty"]) == 0.02
    assert not rt.engine.execute("amend nope @ 1").ok
    # a paper order cannot be amended: one sentence, nothing changes
    paper = rt.desk.submit(OrderIntent(SYMBOL, "buy", 0.001, OrderType.LIMIT, price=1000.0), executor="paper")
    assert paper.status.is_open, paper.reason
    r = rt.engine.execute(f"amend {paper.client_id} @ 1001")
    assert not r.ok and "cannot amend" in r.message
    assert rt.desk.manager.orders[paper.client_id].price == 1000.0
    rt.engine.stop("test")
    await run
    rt.close()


def test_live_without_keys_is_one_clear_error(tmp_path):
    s = settings("http://127.0.0.1:9", str(tmp_path / "k.db"), keys=False)
    with pytest.raises(LiveUnavailable, match="needs API keys for binance"):
        live_runtime(s, str(tmp_path / "k.db"))


def test_live_flag_needs_live_enabled(tmp_path):
    s = settings("http://127.0.0.1:9", str(tmp_path / "k.db"), enabled=False)
    with pytest.raises(LiveUnavailable, match=r"\[live\] enabled = true"):
        live_runtime(s, str(tmp_path / "k.db"))


async def test_refused_keys_stop_the_engine_with_one_error(venue, tmp_path):
    server, _ = venue
    server.faults = [RestFault("/api/v3/openOrders", "auth", times=5)]
    db = str(tmp_path / "r.db")
    rt = live_runtime(settings(server.url, db), db)
    errors = collect(rt.bus, "error")
    with pytest.raises(LiveUnavailable, match="refused the API credentials"):
        await rt.engine.run(wall_seconds=10)
    assert len(errors) == 1 and KEY not in errors[0]["message"]
    assert rt.desk.manager.executors["live"].exchange is None
    rt.close()


async def test_stream_reconnect_makes_the_desk_reconcile(tmp_path):
    """A websocket disconnect of the market feed: when it connects again, the live executor's open
    orders are refetched and reconciled, and an order placed at the venue meanwhile is surfaced."""
    from tests.exchange import Venue, WsFaults, binance_tape
    from tests.test_streams_binance import FUT, options

    exchange = BinanceOrderDesk()
    orders = RestServer(desk=exchange)
    await orders.start()
    tape = binance_tape(True)
    db = str(tmp_path / "ws.db")
    try:
        async with Venue.running(tape, WsFaults(at={700: "disconnect"}, delay_s=0.001)) as venue:
            s = settings(orders.url, db)
            rt = build_runtime(s, source="binance", symbols=list(FUT.values()), db_path=db, with_prism=False,
                               with_trading=False, warm_up=False, source_options=options(venue, streams=["depth"]))
            desk = build_desk(host=rt.host, settings=s, storage=rt.storage, bus=rt.bus, now=lambda: rt.engine.now,
                              states=lambda: rt.engine.states, live=True)
            rt.engine.desk = rt.desk = desk
            alerts, health = collect(rt.bus, "alert"), collect(rt.bus, "health")
            run = asyncio.ensure_future(rt.engine.run(wall_seconds=30))
            await until(lambda: rt.engine.now > 0)
            assert not any("reconcile" == a.source for a in alerts)  # nothing to report at start
            exchange.seed("BTCUSDT", "BUY", 0.1, 50_000.0, "web_ui_order_2")  # while we stream
            await until(lambda: any("reconciled after a reconnect" in a.message for a in alerts))
            rt.engine.stop("test")
            await run
            rt.close()
    finally:
        await orders.stop()
    assert tape.injected["disconnect"] == 1
    assert any(h.detail == "connected" and h.extra["reconnects"] for h in health)
    assert any("web_ui_order_2" in a.message and a.source == "reconcile" for a in alerts)
