"""The TradingDesk facade end to end: command lines in, order/fill/position/error events out, market
events driving matching, funding, stops and the optional signal strategy; wiring from the plugin host."""

from __future__ import annotations

import pandas as pd
import pytest
from virtuoso_paper.matching import PaperExecutor
from virtuoso_risk.rules import build_rules

from virtuoso_tui.market.state import MarketState
from virtuoso_tui.model import BookSnapshot, Candle, Funding, OrderStatus, Trade
from virtuoso_tui.prism.face import Signal
from virtuoso_tui.trading.commands import Command, CommandError
from virtuoso_tui.trading.desk import TradingDesk, build_desk
from virtuoso_tui.trading.journal import SqliteJournal
from virtuoso_tui.trading.stops import ExitPlan

SYM = "BTC/USDT:USDT"
T0 = 1_700_000_000_000
BOOK = BookSnapshot(SYM, T0, ((100.0, 5.0), (99.0, 5.0)), ((101.0, 5.0), (102.0, 5.0)), 1)


class Flip(Command):
    verb = "flip"
    usage = "flip"
    help = "buy one unit through the desk"

    def run(self, args, ctx):
        if args:
            raise CommandError("'flip' takes no arguments")
        from virtuoso_tui.model import OrderIntent

        o = ctx.submit(OrderIntent(SYM, "buy", 1.0, origin="plugin:flip"))
        return f"flipped {o.status.value}"


@pytest.fixture
def env():
    clock = [T0]
    events = []
    journal = SqliteJournal()
    state = MarketState(SYM)
    desk = TradingDesk(journal, {"paper": {"starting_balance": 10_000.0, "leverage": 3.0}},
                       {"paper": PaperExecutor({"taker_fee": 0.001, "maker_fee": 0.0})},
                       build_rules({"max_order_rate": {"enabled": False}}), lambda: clock[0],
                       emit=lambda t, p: events.append((t, p)), plugin_commands=[Flip()],
                       states=lambda: {SYM: state})
    desk.start()

    def feed(ev):
        if ev.ts > clock[0]:
            clock[0] = ev.ts
        state.apply(ev)
        desk.on_event(ev, state)

    feed(BOOK)
    return desk, journal, clock, events, feed, state


def topics(events):
    return [t for t, _ in events]


def test_buy_emits_order_fill_position_and_persists(env):
    desk, journal, clock, events, feed, _ = env
    r = desk.execute("buy 0.01", SYM)
    assert r.ok and "filled 0.01 @ 101" in r.message
    assert {"order", "fill", "position"} <= set(topics(events))
    assert journal.positions()[0].amount == pytest.approx(0.01)
    assert journal.fills()[0].fee == pytest.approx(0.01 * 101 * 0.001)


def test_quote_and_percent_sizes_use_the_mid_and_equity(env):
    desk, *_ = env
    a = desk.execute("buy $201", SYM).orders[0]
    assert a.amount == pytest.approx(201 / 100.5)
    eq = desk.portfolio.equity()
    b = desk.execute("sell 0.5%", SYM).orders[0]
    assert b.amount == pytest.approx(eq * 0.005 / 100.5)
    c = desk.execute("sell 50% reduce", SYM).orders[0]  # more than is held: clamped to the position
    assert c.reduce_only and c.amount == pytest.approx(a.amount - b.amount)


def test_refused_command_emits_one_error_and_no_order(env):
    desk, journal, clock, events, *_ = env
    events.clear()
    r = desk.execute("buy 1 @", SYM)
    assert not r.ok and r.message == "'buy' expects a price after '@'; usage: " + \
        "buy SIZE [SYMBOL] [@ PRICE] [stop PRICE [limit PRICE]] [reduce] [post] [ioc|fok|for DURATION]"
    assert events == [("error", {"message": r.message, "command": "buy 1 @"})]
    assert journal.orders() == []


def test_risk_refusal_is_reported_and_nothing_reaches_the_book(env):
    desk, journal, clock, events, *_ = env
    r = desk.execute("buy 1 @ 150", SYM)  # 49% from the mark: fat finger
    assert not r.ok and "price_band" in r.message and r.orders[0].status is OrderStatus.REJECTED
    assert desk.manager.executors["paper"].open_ids() == set()
    assert any(t == "error" and "price_band" in p["message"] for t, p in events)


def test_limit_rests_then_fills_on_trades_and_cancel(env):
    desk, journal, clock, events, feed, _ = env
    o = desk.execute("buy 1 @ 99.5", SYM).orders[0]
    c = desk.execute("sell 1 @ 101.5", SYM).orders[0]
    feed(Trade(SYM, T0 + 1000, 99.4, 2.0, "sell"))
    assert o.status is OrderStatus.FILLED
    assert desk.snapshot()["orders"][0]["client_id"] == c.client_id
    r = desk.execute(f"cancel {c.client_id}", SYM)
    assert r.ok and c.status is OrderStatus.CANCELLED
    assert not desk.execute("cancel vt-999999", SYM).ok
    assert "already cancelled" in desk.execute(f"cancel {c.client_id}", SYM).message


def test_close_kill_and_cancel_all(env):
    desk, journal, clock, events, feed, _ = env
    desk.execute("buy 2", SYM)
    desk.execute("buy 1 @ 99", SYM)
    assert "no open ETH/USDT position" in desk.execute("close ETH/USDT", SYM).message
    r = desk.execute("close", SYM)
    assert r.ok and desk.portfolio.positions[SYM].amount == 0
    desk.execute("buy 2", SYM)
    r = desk.execute("kill", SYM)
    assert r.ok and desk.portfolio.positions[SYM].amount == 0 and not desk.manager.open
    assert desk.execute("close all", SYM).message == "no open positions"
    desk.execute("buy 1 @ 99", SYM)
    assert desk.execute("cancel all", SYM).message == "cancelled 1 orders"


def test_risk_show_and_reset(env):
    desk, *_ = env
    r = desk.execute("risk", SYM)
    assert r.ok and "price_band: 2% from the mark" in r.message and "VaR95" in r.message
    desk.manager.set_halt("max_daily_loss: test")
    assert "HALTED" in desk.execute("risk", SYM).message
    assert "trading is halted" in desk.execute("buy 1", SYM).message
    assert desk.execute("risk reset", SYM).message.startswith("trading resumed")
    assert desk.execute("buy 1", SYM).ok


def test_help_and_plugin_verbs(env):
    desk, journal, *_ = env
    assert "flip" in desk.execute("help", SYM).message
    assert desk.execute("flip", SYM).message == "flipped filled"
    assert journal.orders()[0].origin == "plugin:flip"
    r = desk.execute("flip now", SYM)
    assert not r.ok and r.message == "'flip' takes no arguments"


def test_funding_through_market_events(env):
    desk, journal, clock, events, feed, _ = env
    desk.execute("buy 2", SYM)
    cash = desk.portfolio.cash
    feed(Funding(SYM, T0 + 8 * 3_600_000, 0.0001, mark=100.0, settled=True))
    assert desk.portfolio.cash == pytest.approx(cash - 0.02)
    assert journal.positions()[0].funding == pytest.approx(0.02)


def test_attached_stop_sends_a_reduce_only_exit(env):
    desk, journal, clock, events, feed, _ = env
    desk.execute("buy 2", SYM)
    desk.attach_exit(ExitPlan(SYM, "buy", 101.0, 2.0, T0, stop=98.0, take_profits=[(104.0, 0.5)]))
    feed(Trade(SYM, T0 + 1, 104.5, 1.0, "buy"))
    assert desk.portfolio.positions[SYM].amount == pytest.approx(1.0)
    feed(Trade(SYM, T0 + 2, 97.5, 1.0, "sell"))
    assert desk.portfolio.positions[SYM].amount == 0 and SYM not in desk.exits
    exits = [o for o in desk.manager.orders.values() if o.origin.startswith("exit:")]
    assert [o.origin for o in exits] == ["exit:take profit", "exit:stop"] and all(o.reduce_only for o in exits)


def test_twap_through_the_desk_and_vwap_without_history(env):
    desk, journal, clock, events, feed, _ = env
    r = desk.execute("twap buy 1 over 2m slices 2", SYM)
    assert r.ok and r.data["slices"] == 1
    feed(BookSnapshot(SYM, T0 + 60_000, BOOK.bids, BOOK.asks, 2))
    algo = desk.algos["twap-1"]
    assert algo.done and algo.filled == pytest.approx(1.0)
    assert any(t == "alert" and "twap-1" in p.message and p.source == "algo" for t, p in events)
    r = desk.execute("vwap buy 1 over 10m", SYM)
    assert not r.ok and "vwap needs" in r.message


def test_signal_strategy_enters_with_sizing_and_attaches_stops(shared_data):
    clock = [T0]
    state = MarketState(SYM)
    desk = TradingDesk(SqliteJournal(), {"paper": {"starting_balance": 10_000.0, "leverage": 3.0},
                                         "strategy": {"enabled": True, "name": "prism", "timeframe": "15m",
                                                      "sizing": {"method": "atr", "risk_pct": 1.0,
                                                                 "atr_multiple": 2.0}}},
                       {"paper": PaperExecutor({})}, [], lambda: clock[0], states=lambda: {SYM: state})
    df = pd.read_feather(shared_data / "ohlcv" / "binance-spot-2024" / "BTC_USDT-15m.feather").iloc[:30]
    for row in df.itertuples():
        state.apply(Candle(SYM, "15m", int(row.date.value // 1_000_000), row.open, row.high, row.low, row.close,
                           row.volume))
    last = float(df.close.iloc[-1])
    snap = BookSnapshot(SYM, T0, ((last - 1, 100.0),), ((last + 1, 100.0),), 1)
    state.apply(snap)
    desk.on_event(snap, state)
    neutral = Signal(SYM, T0, 50.0, "NEUTRAL", 1.0, {}, changed=True)
    assert desk.on_signal(neutral, state) == []
    orders = desk.on_signal(Signal(SYM, T0, 80.0, "LONG", 1.0, {}, changed=True), state)
    assert len(orders) == 1 and orders[0].status is OrderStatus.FILLED and orders[0].origin == "strategy:prism"
    a = desk.strategy._atr[SYM]
    assert orders[0].amount == pytest.approx(10_000 * 0.01 / (2 * a))
    plan = desk.exits[SYM]
    assert plan.stop == pytest.approx(orders[0].average_price - 2 * a)
    # SHORT closes the long (shorting is off by default)
    orders = desk.on_signal(Signal(SYM, T0, 20.0, "SHORT", 1.0, {}, changed=True), state)
    assert len(orders) == 1 and orders[0].reduce_only and desk.portfolio.positions[SYM].amount == 0


def test_prism_strategy_decides_at_closes_and_watches_its_stops_on_every_trade():
    """The desk runs the prism strategy as its backtest does: decisions at closed candles only, its
    stops checked by the strategy itself on every trade (`on_trade`), so an exit never waits for the
    close and the desk adds no second plan."""
    from virtuoso_strategies.prism import PrismStrategy

    from virtuoso_tui.model import OrderIntent, Trade

    clock = [T0]
    state = MarketState(SYM)
    desk = TradingDesk(SqliteJournal(), {"paper": {"starting_balance": 10_000.0},
                                         "strategy": {"enabled": True, "name": "prism", "timeframe": "15m"}},
                       {"paper": PaperExecutor({})}, [], lambda: clock[0], states=lambda: {SYM: state},
                       strategy_cls=PrismStrategy)
    assert desk.bar_driven and not desk.desk_stops and desk.strategy.manage_exits
    assert desk.on_signal(Signal(SYM, T0, 90.0, "LONG", 1.0, {}, changed=True), state) == []  # closes only
    snap = BookSnapshot(SYM, T0, ((64_999.0, 100.0),), ((65_001.0, 100.0),), 1)
    state.apply(snap)
    desk.on_event(snap, state)
    desk.strategy._atr[SYM] = 200.0   # what its entry decision measured
    entry = desk.manager.submit(OrderIntent(SYM, "buy", 0.1, origin="strategy:prism"))
    assert entry.status is OrderStatus.FILLED and SYM not in desk.exits   # no desk plan: the strategy's
    above = Trade(SYM, T0 + 1_000, 64_900.0, 0.01, "sell")   # inside the 2-ATR stop: nothing
    state.apply(above)
    desk.on_event(above, state)
    assert desk.portfolio.positions[SYM].amount == pytest.approx(0.1)
    through = Trade(SYM, T0 + 2_000, entry.average_price - 401.0, 0.01, "sell")   # through the stop
    state.apply(through)
    desk.on_event(through, state)
    exits = [o for o in desk.manager.orders.values() if o.reduce_only]
    assert len(exits) == 1 and exits[0].status is OrderStatus.FILLED and exits[0].created_ts == T0
    assert desk.portfolio.positions[SYM].amount == pytest.approx(0.0)


def test_build_desk_from_the_plugin_host():
    from virtuoso_tui.bus import EventBus
    from virtuoso_tui.config import Settings
    from virtuoso_tui.runtime import build_host

    settings = Settings()
    desk = build_desk(host=build_host(settings), settings=settings, storage=None, bus=EventBus(), now=lambda: T0)
    assert set(desk.manager.executors) == {"paper"}
    assert {"twap", "vwap", "iceberg", "split"} <= set(desk.algo_classes)
    assert {r.name for r in desk.manager.rules} >= {"max_position", "price_band", "max_daily_loss"}
    assert desk.portfolio.cash == settings.paper.starting_balance


def test_strategy_is_off_by_default_and_on_with_config():
    from virtuoso_tui.bus import EventBus
    from virtuoso_tui.config import Settings, parse_config
    from virtuoso_tui.runtime import build_host

    host = build_host(Settings())
    off = build_desk(host=host, settings=Settings(), storage=None, bus=EventBus(), now=lambda: T0)
    assert off.strategy is None
    on_settings = parse_config('[strategy]\nenabled = true\n[strategy.sizing]\nmethod = "atr"\n')
    on = build_desk(host=host, settings=on_settings, storage=None, bus=EventBus(), now=lambda: T0)
    assert on.strategy is not None and on.strategy.sizer.s["method"] == "atr"


def test_live_client_ids_get_a_per_database_prefix(tmp_path):
    from virtuoso_tui.storage import Storage
    from virtuoso_tui.trading.desk import session_prefix

    a, b = Storage(str(tmp_path / "a.db")), Storage(str(tmp_path / "b.db"))
    try:
        first = session_prefix(a, live=True)
        assert first.startswith("vt") and len(first) == 8
        assert session_prefix(a, live=True) == first  # kept in the database across restarts
        assert session_prefix(b, live=True) != first  # a fresh database draws its own
        assert session_prefix(a, live=False) == "vt"  # paper and backtests stay reproducible
    finally:
        a.close()
        b.close()
