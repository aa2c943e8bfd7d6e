"""Time in force end to end: the command forms and their errors, the order manager's checks, paper IOC
and FOK against hand-built books, good-till-time expiry at the exact market-time event (paper desk and
backtest broker alike), a restart that restores a GTT order which still expires, the EXPIRED edges of
the state machine, and the live executor's ccxt mapping (against the local Binance order desk)."""

from __future__ import annotations

import pytest
from virtuoso_paper.matching import PaperExecutor

from virtuoso_tui.backtest.paper import PaperBroker
from virtuoso_tui.model import BookSnapshot, OrderIntent, OrderStatus, OrderType, Trade
from virtuoso_tui.storage import Storage
from virtuoso_tui.trading import commands as cmds
from virtuoso_tui.trading.bookview import ArrayBook
from virtuoso_tui.trading.commands import CommandError, parse
from virtuoso_tui.trading.desk import TradingDesk
from virtuoso_tui.trading.executor import Executor
from virtuoso_tui.trading.journal import SqliteJournal
from virtuoso_tui.trading.orders import TRANSITIONS, IllegalTransition, OrderManager, check_transition
from virtuoso_tui.trading.portfolio import Portfolio

S = OrderStatus
SYM = "BTC/USDT:USDT"
T0 = 1_700_000_000_000
TEN_MIN = 600_000
BOOK = BookSnapshot(SYM, T0, ((100.0, 5.0), (99.0, 5.0)), ((101.0, 1.0), (102.0, 1.0)), 1)


# ---------------------------------------------------------------- the command language

@pytest.mark.parametrize(("line", "tif", "after", "otype"), [
    ("buy 0.5 @ 64000", "gtc", None, OrderType.LIMIT),
    ("buy 0.5 @ 64000 ioc", "ioc", None, OrderType.LIMIT),
    ("sell 0.5 @64000 FOK", "fok", None, OrderType.LIMIT),
    ("buy 0.5 @ 64000 for 10m", "gtt", TEN_MIN, OrderType.LIMIT),
    ("buy 0.5 BTC/USDT for 1.5h @ 64000 reduce", "gtt", 5_400_000, OrderType.LIMIT),
    ("sell 1 stop 60000 for 30s", "gtt", 30_000, OrderType.STOP),
    ("sell 1 stop 60000 limit 59900 for 2m", "gtt", 120_000, OrderType.STOP_LIMIT),
    ("buy 1 @ 64000 post for 10m", "gtt", TEN_MIN, OrderType.LIMIT),
])
def test_time_in_force_forms(line, tif, after, otype):
    cmd = parse(line, "BTC/USDT")
    assert isinstance(cmd, cmds.PlaceOrder)
    assert (cmd.time_in_force, cmd.expire_after_ms, cmd.type) == (tif, after, otype)


@pytest.mark.parametrize(("line", "message"), [
    ("buy 1 ioc", "'ioc' applies only to limit orders; add '@ PRICE' (a market order already fills what "
                  "the book has and drops the rest)"),
    ("sell 1 fok", "'fok' applies only to limit orders; add '@ PRICE' (a market order already fills what "
                   "the book has and drops the rest)"),
    ("buy 1 stop 60000 limit 60100 ioc", "'ioc' applies only to limit orders, not to a stop-limit order"),
    ("buy 1 stop 60000 fok", "'fok' applies only to limit orders, not to a stop order"),
    ("buy 1 for 10m", "'for DURATION' applies only to orders that rest (limit, stop, stop-limit); a market "
                      "order fills at once"),
    ("buy 1 @ 100 for", "'buy' expects a duration like 10m after 'for'; usage: " + cmds.USAGE["buy"]),
    ("buy 1 @ 100 for 10", "the duration '10' needs a unit: s, m or h (e.g. 10m)"),
    ("buy 1 @ 100 for 10x", "the duration '10x' needs a unit: s, m or h (e.g. 10m)"),
    ("buy 1 @ 100 for 0m", "the duration must be a positive number, not '0'"),
    ("buy 1 @ 100 for soonm", "the duration must be a number, not 'soon'"),
    ("buy 1 @ 100 ioc fok", "give one time in force, not both 'ioc' and 'fok'"),
    ("buy 1 @ 100 fok for 1m", "give one time in force, not both 'fok' and 'for'"),
    ("buy 1 @ 100 ioc ioc", "give one time in force, not both 'ioc' and 'ioc'"),
    ("buy 1 @ 100 post ioc", "'post' and 'ioc' contradict each other: a post-only order must rest, an ioc "
                             "order never does"),
    ("sell 1 @ 100 fok post", "'post' and 'fok' contradict each other: a post-only order must rest, an fok "
                              "order never does"),
])
def test_time_in_force_errors_are_one_sentence(line, message):
    with pytest.raises(CommandError) as info:
        parse(line, SYM)
    assert str(info.value) == message


def test_help_documents_time_in_force():
    text = cmds.help_text("buy")
    assert "[ioc|fok|for DURATION]" in text and "'ioc'" in text and "'fok'" in text and "'for 10m'" in text
    assert "[ioc|fok|for DURATION]" in cmds.help_text()


# ---------------------------------------------------------------- the order manager's checks

def paper_manager(book=None, clock=None, journal=None):
    paper = PaperExecutor({"maker_fee": 0.0002, "taker_fee": 0.0005})
    clock = clock if clock is not None else [T0]
    om = OrderManager(journal or SqliteJournal(), Portfolio(10_000_000.0), {"paper": paper}, [], lambda: clock[0])
    if book is not None:
        paper.on_book(book)
    return om, paper


@pytest.mark.parametrize(("intent", "reason"), [
    (OrderIntent(SYM, "buy", 1.0, OrderType.LIMIT, 100.0, post_only=True, time_in_force="ioc"),
     "post-only and ioc contradict each other: a post-only order must rest, an ioc order never does"),
    (OrderIntent(SYM, "buy", 1.0, time_in_force="fok"), "fok applies only to limit orders, not to a market order"),
    (OrderIntent(SYM, "buy", 1.0, OrderType.STOP, stop_price=200.0, time_in_force="ioc"),
     "ioc applies only to limit orders, not to a stop order"),
    (OrderIntent(SYM, "buy", 1.0, time_in_force="gtt", expire_ts=T0 + 1),
     "good-till-time applies only to orders that rest (limit, stop, stop-limit), not to a market order"),
    (OrderIntent(SYM, "buy", 1.0, OrderType.LIMIT, 100.0, time_in_force="gtt"),
     "a good-till-time order needs an expiry time after the current market time"),
    (OrderIntent(SYM, "buy", 1.0, OrderType.LIMIT, 100.0, time_in_force="gtt", expire_ts=T0),
     "a good-till-time order needs an expiry time after the current market time"),
    (OrderIntent(SYM, "buy", 1.0, OrderType.LIMIT, 100.0, expire_ts=T0 + 5),
     "an expiry time needs time in force gtt, not gtc"),
    (OrderIntent(SYM, "buy", 1.0, OrderType.LIMIT, 100.0, time_in_force="day"),  # type: ignore[arg-type]
     "time in force must be one of gtc, ioc, fok, gtt, not 'day'"),
])
def test_manager_refuses_contradictory_time_in_force(intent, reason):
    om, paper = paper_manager(ArrayBook(SYM, BOOK.bids, BOOK.asks))
    o = om.submit(intent)
    assert o.status is S.REJECTED and o.reason == reason
    assert paper.open_ids() == set() and om.journal.fills() == []


# ---------------------------------------------------------------- paper IOC / FOK

def test_paper_ioc_fills_the_depth_there_is_and_expires_the_rest():
    # hand-built: only 1 @ 101 and 1 @ 102 offered; we ask for 3 up to 105
    om, paper = paper_manager(ArrayBook(SYM, BOOK.bids, BOOK.asks))
    o = om.submit(OrderIntent(SYM, "buy", 3.0, OrderType.LIMIT, 105.0, time_in_force="ioc"))
    assert o.status is S.EXPIRED and o.filled == pytest.approx(2.0)
    assert o.average_price == pytest.approx((101.0 + 102.0) / 2)
    assert o.fee == pytest.approx((101.0 + 102.0) * 0.0005)
    assert o.reason == "ioc: filled 2 of 3"
    assert [s for _, s, _ in om.journal.order_events(o.client_id)] == [
        "new", "submitted", "partially_filled", "expired"]
    assert paper.open_ids() == set() and o.client_id not in om.open      # nothing rests
    assert om.portfolio.positions[SYM].amount == pytest.approx(2.0)


def test_paper_ioc_stops_at_its_limit_and_expires_from_submitted_when_nothing_crosses():
    om, _ = paper_manager(ArrayBook(SYM, BOOK.bids, BOOK.asks))
    part = om.submit(OrderIntent(SYM, "buy", 3.0, OrderType.LIMIT, 101.0, time_in_force="ioc"))
    assert (part.status, part.filled, part.average_price) == (S.EXPIRED, 1.0, 101.0)  # not past 101
    none = om.submit(OrderIntent(SYM, "sell", 1.0, OrderType.LIMIT, 100.5, time_in_force="ioc"))
    assert (none.status, none.filled, none.reason) == (S.EXPIRED, 0.0, "ioc: filled 0 of 1")
    assert [s for _, s, _ in om.journal.order_events(none.client_id)] == ["new", "submitted", "expired"]


def test_paper_fok_fills_entirely_when_the_book_holds_it():
    om, paper = paper_manager(ArrayBook(SYM, BOOK.bids, BOOK.asks))
    o = om.submit(OrderIntent(SYM, "sell", 7.0, OrderType.LIMIT, 99.0, time_in_force="fok"))
    assert o.status is S.FILLED and o.filled == pytest.approx(7.0)
    assert o.average_price == pytest.approx((5 * 100.0 + 2 * 99.0) / 7)
    assert paper.open_ids() == set()


def test_paper_fok_expires_with_no_fill_and_takes_nothing_from_the_book():
    om, _ = paper_manager(ArrayBook(SYM, BOOK.bids, BOOK.asks))
    o = om.submit(OrderIntent(SYM, "buy", 2.5, OrderType.LIMIT, 102.0, time_in_force="fok"))
    assert (o.status, o.filled, o.average_price) == (S.EXPIRED, 0.0, None)
    assert o.reason == "fok: the book holds 2 of 2.5 up to 102"
    assert om.journal.fills() == [] and SYM not in om.portfolio.positions
    assert [s for _, s, _ in om.journal.order_events(o.client_id)] == ["new", "submitted", "expired"]
    # the dry run took nothing: the whole 2 is still there for the next order
    o2 = om.submit(OrderIntent(SYM, "buy", 2.0, OrderType.LIMIT, 102.0, time_in_force="fok"))
    assert o2.status is S.FILLED and o2.average_price == pytest.approx(101.5)


def test_cancel_reported_for_an_ioc_remainder_is_recorded_expired():
    """A venue that says "cancelled" for an IOC remainder (Bybit does) still ends the order EXPIRED."""

    class CancelsRemainder(Executor):
        name = "venue"

        def submit(self, order):
            self.sink.report_status(order.client_id, S.CANCELLED, "Cancelled at the exchange")

        def cancel(self, client_id):
            return False

        def open_ids(self):
            return set()

    om = OrderManager(SqliteJournal(), Portfolio(1e6), {"venue": CancelsRemainder()}, [], lambda: T0,
                      default_executor="venue")
    assert om.submit(OrderIntent(SYM, "buy", 1.0, OrderType.LIMIT, 100.0, time_in_force="ioc")).status is S.EXPIRED
    assert om.submit(OrderIntent(SYM, "buy", 1.0, OrderType.LIMIT, 100.0)).status is S.CANCELLED


# ---------------------------------------------------------------- good till time

def paper_desk(journal=None):
    clock = [T0]
    events: list = []
    desk = TradingDesk(journal if journal is not None else SqliteJournal(), {"paper": {"starting_balance": 1e6}},
                       {"paper": PaperExecutor({"taker_fee": 0.0, "maker_fee": 0.0})}, [], lambda: clock[0],
                       emit=lambda t, p: events.append((t, p)))

    def feed(ev):  # the engine's clock: market time only moves forward
        clock[0] = max(clock[0], ev.ts)
        desk.on_event(ev)

    return desk, clock, events, feed


def test_gtt_expires_at_the_first_event_reaching_its_market_time_before_it_is_matched():
    desk, clock, events, feed = paper_desk()
    desk.start()
    feed(BOOK)
    clock[0] = T0 + 5
    r = desk.execute("buy 1 @ 99 for 10m", SYM)
    oid = r.orders[0].client_id
    order = desk.manager.orders[oid]
    assert r.ok and (order.time_in_force, order.expire_ts) == ("gtt", T0 + 5 + TEN_MIN)
    assert "gtt until" in r.message
    feed(Trade(SYM, T0 + 5 + TEN_MIN - 1, 100.0, 1.0, "sell"))   # one ms before: still resting
    assert order.status is S.SUBMITTED
    # this trade goes THROUGH 99 and would fill the order, but the order expired first at this event
    feed(Trade(SYM, T0 + 5 + TEN_MIN, 98.0, 3.0, "sell"))
    assert order.status is S.EXPIRED and order.filled == 0.0 and order.updated_ts == T0 + 5 + TEN_MIN
    assert order.reason == f"good till {T0 + 5 + TEN_MIN}: expired"
    evs = desk.manager.journal.order_events(oid)
    assert [s for _, s, _ in evs] == ["new", "submitted", "submitted", "expired"]  # expiry due, then expired
    assert evs[-1][0] == T0 + 5 + TEN_MIN
    assert desk.manager.executors["paper"].open_ids() == set() and not [e for e in events if e[0] == "fill"]


def test_gtt_partially_filled_expires_and_a_filled_one_is_left_alone():
    desk, clock, _, feed = paper_desk()
    desk.start()
    feed(BOOK)
    part = desk.execute("sell 2 @ 101 for 1m", SYM).orders[0]     # joins 1.0 resting at 101
    done = desk.execute("buy 1 @ 99 for 30s", SYM).orders[0]
    feed(Trade(SYM, T0 + 10_000, 99.0, 6.0, "sell"))              # fills the buy at 99 (5 ahead, 1 left)
    feed(Trade(SYM, T0 + 20_000, 101.0, 2.0, "buy"))              # 1 ahead, then 1 of our 2
    assert desk.manager.orders[done.client_id].status is S.FILLED
    assert desk.manager.orders[part.client_id].status is S.PARTIALLY_FILLED
    feed(Trade(SYM, T0 + 40_000, 100.0, 1.0, "buy"))
    assert desk.manager.orders[done.client_id].status is S.FILLED
    feed(Trade(SYM, T0 + 60_000, 100.0, 1.0, "buy"))
    p = desk.manager.orders[part.client_id]
    assert (p.status, p.filled) == (S.EXPIRED, 1.0)


def test_gtt_stop_expires_untriggered():
    desk, _, _, feed = paper_desk()
    desk.start()
    feed(BOOK)
    o = desk.execute("sell 1 stop 90 for 30s", SYM).orders[0]
    feed(Trade(SYM, T0 + 30_000, 95.0, 1.0, "sell"))
    assert desk.manager.orders[o.client_id].status is S.EXPIRED
    feed(Trade(SYM, T0 + 40_000, 89.0, 1.0, "sell"))              # would have triggered it
    assert desk.manager.orders[o.client_id].filled == 0.0


def test_paper_desk_and_backtest_broker_expire_at_the_same_event():
    expire = T0 + 90_000
    tape = [BOOK, *[Trade(SYM, T0 + k * 25_000, 100.0, 0.5, "buy") for k in range(1, 7)]]
    intent = OrderIntent(SYM, "buy", 1.0, OrderType.LIMIT, 99.0, time_in_force="gtt", expire_ts=expire)

    desk, _, _, feed = paper_desk()
    desk.start()
    feed(tape[0])
    paper_order = desk.submit(intent)
    for ev in tape[1:]:
        feed(ev)

    broker = PaperBroker(SYM, capital=1e6)
    broker.on_market(tape[0], None)
    broker.submit(intent, T0)
    broker.fill_from_book(T0)
    for ev in tape[1:]:
        broker.on_market(ev, None)
    [bt_order] = broker.manager.orders.values()

    first_due = next(ev.ts for ev in tape if ev.ts >= expire)
    assert first_due == T0 + 100_000
    for om, order in ((desk.manager, paper_order), (broker.manager, bt_order)):
        assert om.orders[order.client_id].status is S.EXPIRED
        assert om.journal.order_events(order.client_id)[-1][:2] == (first_due, "expired")


def test_restart_restores_a_gtt_order_with_its_expiry_and_it_still_expires(tmp_path):
    path = tmp_path / "v.db"
    desk, _, _, feed = paper_desk(Storage(path))
    desk.start()
    feed(BOOK)
    oid = desk.execute("buy 1 @ 99 for 10m", SYM).orders[0].client_id
    feed(Trade(SYM, T0 + 60_000, 100.0, 1.0, "buy"))
    desk.manager.journal.conn.close()   # the process dies here; WAL keeps every committed write
    del desk

    desk2, _, _, feed2 = paper_desk(Storage(path))
    report = desk2.start()
    assert report["restored"]["open_orders"] == [oid] and report["reconcile"]["resubmitted"] == [oid]
    order = desk2.manager.orders[oid]
    assert (order.status, order.time_in_force, order.expire_ts) == (S.SUBMITTED, "gtt", T0 + TEN_MIN)
    assert desk2.manager.executors["paper"].open_ids() == {oid}
    feed2(BOOK.__class__(SYM, T0 + 120_000, BOOK.bids, BOOK.asks, 2))
    assert order.status is S.SUBMITTED
    feed2(Trade(SYM, T0 + TEN_MIN + 7, 100.0, 1.0, "buy"))
    assert order.status is S.EXPIRED and order.updated_ts == T0 + TEN_MIN + 7
    assert [o.client_id for o in desk2.manager.journal.open_orders()] == []
    assert desk2.manager.executors["paper"].open_ids() == set()


# ---------------------------------------------------------------- the state machine

def test_expired_is_reached_from_submitted_and_partially_filled_only():
    sources = {s for s, targets in TRANSITIONS.items() if S.EXPIRED in targets}
    assert sources == {S.SUBMITTED, S.PARTIALLY_FILLED}
    for s in S:
        if s in sources:
            check_transition(s, S.EXPIRED)
        else:
            with pytest.raises(IllegalTransition, match=f"cannot go from {s.value} to expired"):
                check_transition(s, S.EXPIRED)
    assert TRANSITIONS[S.EXPIRED] == frozenset()
    om, _ = paper_manager(ArrayBook(SYM, BOOK.bids, BOOK.asks))
    filled = om.submit(OrderIntent(SYM, "buy", 1.0))
    assert filled.status is S.FILLED
    with pytest.raises(IllegalTransition):
        om.report_status(filled.client_id, S.EXPIRED, "late")


# ---------------------------------------------------------------- the live executor's mapping

def test_live_order_request_maps_time_in_force():
    from virtuoso_ccxt.executor import order_request

    from virtuoso_tui.model import Order

    def req(tif, **kw):
        return order_request(Order("c1", "BTC/USDT", "buy", kw.pop("type", OrderType.LIMIT), 1.0, 100.0,
                                   time_in_force=tif, **kw))

    assert req("ioc") == ("limit", {"clientOrderId": "c1", "timeInForce": "IOC"})
    assert req("fok") == ("limit", {"clientOrderId": "c1", "timeInForce": "FOK"})
    assert req("gtc") == ("limit", {"clientOrderId": "c1"})
    # gtt goes as a plain resting order: the manager cancels it at expiry
    assert req("gtt", expire_ts=T0) == ("limit", {"clientOrderId": "c1"})


async def test_live_ioc_reaches_the_venue_and_gtt_is_cancelled_there_as_expired():
    from virtuoso_ccxt.executor import LiveExecutor

    from tests.exchange import RestServer
    from tests.exchange.order_desk import BinanceOrderDesk

    venue = BinanceOrderDesk()
    server = RestServer(desk=venue)
    await server.start()
    try:
        ex = LiveExecutor({"exchange": "binance", "base_url": server.url, "symbols": ["BTC/USDT"],
                           "api_key": "liveFAKEkey0123456789ABCDEFGH", "secret": "liveFAKEsecret9876543210zyxw",
                           "rate_limit_ms": 1})
        await ex.start()
        clock = [T0]
        om = OrderManager(SqliteJournal(), Portfolio(100_000.0), {"live": ex}, [], lambda: clock[0],
                          session="s1", default_executor="live")
        ioc = om.submit(OrderIntent("BTC/USDT", "buy", 0.01, OrderType.LIMIT, 60_000.0, time_in_force="ioc"))
        gtt = om.submit(OrderIntent("BTC/USDT", "buy", 0.02, OrderType.LIMIT, 59_000.0, time_in_force="gtt",
                                    expire_ts=T0 + TEN_MIN))
        await ex.drain()
        placed = {o["clientOrderId"]: o for o in venue.orders.values()}
        assert placed[ioc.client_id]["timeInForce"] == "IOC"
        assert placed[gtt.client_id]["timeInForce"] == "GTC"
        assert om.expire_due(T0 + TEN_MIN - 1) == []
        assert om.orders[gtt.client_id].status is S.SUBMITTED
        clock[0] = T0 + TEN_MIN
        assert [o.client_id for o in om.expire_due()] == [gtt.client_id]
        await ex.drain()
        assert om.orders[gtt.client_id].status is S.EXPIRED
        assert placed[gtt.client_id]["status"] == "CANCELED"
        await ex.close()
    finally:
        await server.stop()


def test_sqlite_journal_keeps_time_in_force_and_upgrades_an_old_file(tmp_path):
    import sqlite3

    from virtuoso_tui.model import Order, OrderStatus, OrderType
    from virtuoso_tui.trading.journal import SqliteJournal

    path = tmp_path / "old.journal"
    old = sqlite3.connect(path)  # a journal written before time in force existed
    old.executescript(
        "CREATE TABLE orders (client_id TEXT PRIMARY KEY, symbol TEXT, side TEXT, type TEXT, amount REAL, "
        "price REAL, stop_price REAL, reduce_only INTEGER, post_only INTEGER, status TEXT, filled REAL, "
        "average_price REAL, fee REAL, exchange_id TEXT, executor TEXT, origin TEXT, created_ts INTEGER, "
        "updated_ts INTEGER, reason TEXT);"
        "INSERT INTO orders VALUES ('vt-000001','BTC/USDT:USDT','buy','limit',1,60000,NULL,0,0,'submitted',0,"
        "NULL,0,NULL,'paper','keyboard',1,1,'');")
    old.commit()
    old.close()
    journal = SqliteJournal(path)
    (legacy,) = journal.open_orders()
    assert legacy.time_in_force == "gtc" and legacy.expire_ts is None
    gtt = Order("vt-000002", "BTC/USDT:USDT", "sell", OrderType.LIMIT, 0.5, price=70_000.0,
                status=OrderStatus.SUBMITTED, created_ts=5, updated_ts=5, time_in_force="gtt", expire_ts=600_005)
    journal.upsert_order(gtt)
    again = SqliteJournal(path)
    restored = {o.client_id: o for o in again.open_orders()}
    assert restored["vt-000002"].time_in_force == "gtt" and restored["vt-000002"].expire_ts == 600_005
