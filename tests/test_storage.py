"""virtuoso_tui.storage: exact round trips on real market data, migrations, WAL, batching, retention,
replay order, and orders surviving kill -9."""

from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlite_utils import Database

from virtuoso_tui.model import (
    TIMEFRAMES,
    Alert,
    BookDelta,
    BookSnapshot,
    Candle,
    Fill,
    Funding,
    Liquidation,
    LongShortRatio,
    OpenInterest,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Ticker,
    Trade,
)
from virtuoso_tui.prism.face import FaceResult, Signal
from virtuoso_tui.storage import MIGRATIONS, SCHEMA_VERSION, Storage, StorageError

REPO = Path(__file__).parents[1]
DATA = REPO.parent / "shared" / "data"
H8 = 8 * 3_600_000


@pytest.fixture
def store():
    s = Storage(":memory:")
    yield s
    s.close()


def real_candles(n: int = 3000) -> tuple[pd.DataFrame, list[Candle]]:
    df = pd.read_feather(DATA / "ohlcv" / "freqtrade" / "UNITTEST_BTC-1m.feather").iloc[:n]
    ts = np.asarray((df["date"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1), dtype=np.int64)
    candles = [Candle("UNITTEST/BTC", "1m", int(t), o, h, lo, c, v)
               for t, o, h, lo, c, v in zip(ts, df["open"], df["high"], df["low"], df["close"], df["volume"],
                                            strict=True)]
    return df.assign(ts=ts), candles


def real_trades(n: int = 2000) -> list[Trade]:
    df = pd.read_feather(DATA / "trades" / "freqtrade" / "XRP_ETH-trades.feather").iloc[:n]
    return [Trade("XRP/ETH", int(t), float(p), float(a), s, str(i))
            for t, p, a, s, i in zip(df["timestamp"], df["price"], df["amount"], df["side"], df["id"], strict=True)]


def real_snapshots() -> list[BookSnapshot]:
    path = DATA / "orderbook" / "tardis-samples" / "binance-futures_book_snapshot_5_BTCUSDT.csv"
    out = []
    with path.open() as fh:
        for seq, row in enumerate(csv.DictReader(fh)):
            bids = tuple((float(row[f"bids[{i}].price"]), float(row[f"bids[{i}].amount"])) for i in range(5))
            asks = tuple((float(row[f"asks[{i}].price"]), float(row[f"asks[{i}].amount"])) for i in range(5))
            out.append(BookSnapshot("BTC/USDT:USDT", int(row["timestamp"]) // 1000, bids, asks, seq + 1000))
    return out


def real_funding() -> list[Funding]:
    df = pd.read_feather(DATA / "derivatives" / "freqtrade" / "XRP_USDT_USDT-8h-funding_rate.feather")
    ts = np.asarray((df["date"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1), dtype=np.int64)
    return [Funding("XRP/USDT:USDT", int(t), float(r), int(t) + H8, H8, None, True)
            for t, r in zip(ts, df["open"], strict=True)]


# ---------------------------------------------------------------- opening

def test_file_database_is_wal_and_current(tmp_path):
    with Storage(tmp_path / "sub" / "v.db") as s:
        assert s.journal_mode == "wal"
        assert s.conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert s.schema_version == SCHEMA_VERSION == len(MIGRATIONS) >= 2
    with Storage(tmp_path / "sub" / "v.db") as s:  # reopening applies nothing twice
        assert s.schema_version == SCHEMA_VERSION


def test_newer_database_is_refused(tmp_path):
    path = tmp_path / "new.db"
    Storage(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StorageError) as info:
        Storage(path)
    assert str(info.value) == (f"{path} was written by a newer Virtuoso (schema version {SCHEMA_VERSION + 1}; "
                               f"this version knows up to {SCHEMA_VERSION}): upgrade Virtuoso or set another "
                               f"[storage] path")


def test_not_a_database_is_one_clear_error(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match=r"junk.db: cannot be opened as a Virtuoso database"):
        Storage(path)


def test_empty_path_is_refused():
    with pytest.raises(ValueError, match="store nothing"):
        Storage("")


def test_migration_from_v1_keeps_data(tmp_path):
    path = tmp_path / "old.db"
    db = Database(str(path))
    db.create_table("meta", {"key": str, "value": str}, pk="key")
    MIGRATIONS[0](db)  # exactly what a v1 build created
    db["meta"].insert({"key": "schema_version", "value": "1"})
    db["funding"].insert({"symbol": "BTC/USDT:USDT", "ts": 1000, "rate": 0.0001, "next_funding_ts": 9000,
                          "mark": 50000.5, "settled": 1})
    db["long_short"].insert({"symbol": "BTC/USDT:USDT", "ts": 2000, "ratio": 1.25})
    db["orders"].insert({"client_id": "o1", "symbol": "BTC/USDT:USDT", "side": "buy", "type": "limit",
                         "amount": 0.5, "price": 100.0, "reduce_only": 0, "post_only": 1, "status": "submitted",
                         "filled": 0.0, "fee": 0.0, "executor": "paper", "origin": "keyboard", "created_ts": 5,
                         "updated_ts": 6, "reason": ""})
    db.conn.close()

    with Storage(path) as s:
        assert s.schema_version == SCHEMA_VERSION
        indexes = {r[0] for r in s.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"idx_trades_symbol_ts", "idx_funding_symbol_ts", "idx_fills_client"} <= indexes
        assert list(s.iter_recorded(kinds=["funding", "long_short"])) == [
            Funding("BTC/USDT:USDT", 1000, 0.0001, 9000, H8, 50000.5, True),   # v1 rows: 8 h interval
            LongShortRatio("BTC/USDT:USDT", 2000, 1.25, None),
        ]
        [order] = s.open_orders()
        assert (order.client_id, order.type, order.post_only, order.status) == (
            "o1", OrderType.LIMIT, True, OrderStatus.SUBMITTED)


def test_migration_v2_to_v3_adds_time_in_force(tmp_path):
    """A v2 database (orders without time in force) opens as v3: old orders read back as gtc with no
    expiry, and a gtt order written afterwards keeps its expiry across a reopen."""
    path = tmp_path / "v2.db"
    db = Database(str(path))
    db.create_table("meta", {"key": str, "value": str}, pk="key")
    MIGRATIONS[0](db)
    MIGRATIONS[1](db)  # exactly what a v2 build created
    db["meta"].insert({"key": "schema_version", "value": "2"})
    db["orders"].insert({"client_id": "o1", "symbol": "BTC/USDT", "side": "sell", "type": "limit",
                         "amount": 0.5, "price": 100.0, "reduce_only": 0, "post_only": 0, "status": "submitted",
                         "filled": 0.0, "fee": 0.0, "executor": "paper", "origin": "keyboard", "created_ts": 5,
                         "updated_ts": 6, "reason": ""})
    db.conn.close()
    with Storage(path) as s:
        assert s.schema_version == SCHEMA_VERSION  # through v3, then the later migrations
        cols = {r[1] for r in s.conn.execute("PRAGMA table_info(orders)")}
        assert {"time_in_force", "expire_ts"} <= cols
        [old] = s.open_orders()
        assert (old.client_id, old.time_in_force, old.expire_ts) == ("o1", "gtc", None)
        s.upsert_order(Order("o2", "BTC/USDT", "buy", OrderType.LIMIT, 1.0, 99.0, status=OrderStatus.SUBMITTED,
                             created_ts=7, updated_ts=7, time_in_force="gtt", expire_ts=600_007))
    with Storage(path) as s:
        assert [(o.client_id, o.time_in_force, o.expire_ts) for o in s.open_orders()] == [
            ("o1", "gtc", None), ("o2", "gtt", 600_007)]


def test_migration_v3_to_v4_adds_algos(tmp_path):
    """A v3 database (no algorithm table) opens as v4 with its orders intact; an algorithm's parent
    state written at start and updated per slice reads back exactly after a reopen."""
    path = tmp_path / "v3.db"
    db = Database(str(path))
    db.create_table("meta", {"key": str, "value": str}, pk="key")
    for migration in MIGRATIONS[:3]:
        migration(db)  # exactly what a v3 build created
    db["meta"].insert({"key": "schema_version", "value": "3"})
    db["orders"].insert({"client_id": "o1", "symbol": "BTC/USDT", "side": "buy", "type": "market",
                         "amount": 0.1, "reduce_only": 0, "post_only": 0, "status": "filled", "filled": 0.1,
                         "fee": 0.0, "executor": "paper", "origin": "algo:twap-1", "created_ts": 5,
                         "updated_ts": 6, "reason": "", "time_in_force": "gtc"})
    assert "algos" not in db.table_names()
    db.conn.close()
    state = {"id": "twap-1", "kind": "twap", "symbol": "BTC/USDT", "side": "buy", "amount": 1.0,
             "start_ts": 5, "arrival": 100.5, "executor": None, "filled": 0.0, "slices": 0, "next_ts": 5,
             "status": "running", "extra": {"next": 0, "rejections": []}}
    params = {"duration_ms": 600_000, "slices": 10, "weights": [0.1] * 10}
    with Storage(path) as s:
        assert s.schema_version == SCHEMA_VERSION == 4
        assert [o.origin for o in s.orders()] == ["algo:twap-1"]
        s.upsert_algo(state, params)
        s.upsert_algo({**state, "filled": 0.1, "slices": 1, "next_ts": 60_005,
                       "extra": {"next": 1, "rejections": []}})  # a slice: params stay as written
    with Storage(path) as s:
        [row] = s.algos()
        assert row == {**state, "filled": 0.1, "slices": 1, "next_ts": 60_005,
                       "extra": {"next": 1, "rejections": []}, "params": params}


# ---------------------------------------------------------------- market data round trips

def test_candles_round_trip_real_data(store):
    df, candles = real_candles()
    store.write_candles(candles)
    got = store.read_candles("UNITTEST/BTC", "1m")
    assert got["ts"].dtype == np.int64 and got["close"].dtype == np.float64
    np.testing.assert_array_equal(got["ts"], df["ts"].to_numpy())
    for col in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(got[col], df[col].to_numpy())
    assert np.isnan(got["buy_volume"]).all() and (got["trades"] == 0).all()
    # [start, end): the end candle is excluded
    t = got["ts"]
    part = store.read_candles("UNITTEST/BTC", "1m", start=int(t[10]), end=int(t[20]))
    np.testing.assert_array_equal(part["ts"], t[10:20])
    assert len(store.read_candles("UNITTEST/BTC", "5m")["ts"]) == 0


def test_candle_upsert_replaces(store):
    store.write_candles([Candle("X/USDT", "1m", 60_000, 1, 2, 0.5, 1.5, 10, 4.0, 7)])
    store.write_candles([Candle("X/USDT", "1m", 60_000, 1, 3, 0.5, 2.5, 12, 5.0, 9)])
    got = store.read_candles("X/USDT", "1m")
    assert got["close"].tolist() == [2.5] and got["buy_volume"].tolist() == [5.0] and got["trades"].tolist() == [9]


def test_every_market_record_round_trips(store):
    trades = real_trades()
    snapshots = real_snapshots()
    funding = real_funding()
    deltas = [BookDelta("BTC/USDT:USDT", snapshots[0].ts + 1, ((11657.07, 0.0), (11650.5, 3.25)),
                        ((11657.08, 2.0),), 2001, 2000),
              BookDelta("BTC/USDT:USDT", snapshots[0].ts + 2, (), ((11660.0, 0.001),), None, None)]
    others = [Funding("BTC/USDT:USDT", 5, -0.000125, None, 4 * 3_600_000, 61000.25, False),
              OpenInterest("BTC/USDT:USDT", 6, 81234.567, 5.1e9), OpenInterest("BTC/USDT:USDT", 7, 1.0, None),
              Liquidation("BTC/USDT:USDT", 8, "sell", 60999.5, 0.75),
              LongShortRatio("BTC/USDT:USDT", 9, 1.8, 0.6428571428571429)]
    store.write_trades(trades, source="replay")
    for rec in snapshots:
        store.write_book_snapshot(rec)
    for rec in deltas:
        store.write_book_delta(rec)
    for rec in funding + others[:1]:
        store.write_funding(rec)
    store.write_open_interest(others[1])
    store.write_open_interest(others[2])
    store.write_liquidation(others[3])
    store.write_long_short(others[4])
    assert list(store.iter_recorded(["XRP/ETH"], kinds=["trades"])) == trades
    assert list(store.iter_recorded(kinds=["books"])) == snapshots[:1] + deltas + snapshots[1:]
    assert list(store.iter_recorded(["XRP/USDT:USDT"], kinds=["funding"])) == funding
    assert list(store.iter_recorded(["BTC/USDT:USDT"], end=10)) == others
    assert store.conn.execute("SELECT DISTINCT source FROM trades").fetchall()[0][0] == "replay"


def test_iter_recorded_merges_in_time_order(store):
    sym = "BTC/USDT:USDT"
    snap = BookSnapshot(sym, 120_000, ((99.0, 1.0),), ((101.0, 1.0),), 1)
    delta = BookDelta(sym, 120_000, ((99.0, 2.0),), (), 2, 1)
    t_in = Trade(sym, 60_500, 100.0, 1.0, "buy", "a")           # inside the 1m candle opened at 60 000
    t_at = Trade(sym, 120_000, 100.5, 1.0, None, "b")           # same ms as the candle's close
    m1 = Candle(sym, "1m", 60_000, 100.0, 100.0, 100.0, 100.0, 1.0, 1.0, 1)   # known at 120 000
    m5 = Candle(sym, "5m", 0, 99.0, 101.0, 98.0, 100.0, 9.0, 4.0, 12)        # known at 300 000
    f = Funding(sym, 120_000, 0.0001)
    other = Trade("ETH/USDT:USDT", 90_000, 3000.0, 1.0, "sell", "c")
    # written in an order unlike the replay order
    store.write_candles([m5, m1])
    store.write_funding(f)
    store.write_trades([t_at, other, t_in])
    store.write_book_delta(delta)
    store.write_book_snapshot(snap)
    got = list(store.iter_recorded([sym]))
    assert got == [t_in, m1, snap, delta, t_at, f, m5]
    known_at = [r.ts + (TIMEFRAMES[r.timeframe] if isinstance(r, Candle) else 0) for r in got]
    assert known_at == sorted(known_at)
    assert list(store.iter_recorded([sym], start=120_000, end=300_000)) == [m1, snap, delta, t_at, f]
    assert other in list(store.iter_recorded())


# ---------------------------------------------------------------- analysis records

def test_signals_alerts_equity_round_trip(store):
    store.write_signal("BTC/USDT:USDT", 1000, 71.25, "LONG", 0.8, {"technical": 62.5, "sentiment": None})
    store.write_alert(Alert(1001, "warning", "daily loss 4%", "risk", "BTC/USDT:USDT", {"pct": 4.0}))
    store.write_alert(Alert(1002, "info", "started"))
    store.write_equity(1000, 100_000.0)
    store.write_equity(2000, 100_123.45)
    assert store.signals("BTC/USDT:USDT") == [{"symbol": "BTC/USDT:USDT", "ts": 1000, "score": 71.25, "side": "LONG",
                                               "confidence": 0.8,
                                               "faces": {"technical": 62.5, "sentiment": None}}]
    assert store.alerts() == [Alert(1001, "warning", "daily loss 4%", "risk", "BTC/USDT:USDT", {"pct": 4.0}),
                              Alert(1002, "info", "started", "", None, {})]
    ts, eq = store.equity()
    assert ts.tolist() == [1000, 2000] and eq.tolist() == [100_000.0, 100_123.45]


def test_record_dispatches_and_respects_kinds():
    s = Storage(":memory:", record=["trades", "signals", "orders"])
    sig = Signal("BTC/USDT:USDT", 5, 40.0, "NEUTRAL", 0.5,
                 {"volume": FaceResult("volume", "BTC/USDT:USDT", 5, None, 0.0, [])})
    assert s.record(Trade("BTC/USDT:USDT", 1, 10.0, 1.0, "buy", "1")) is True
    assert s.record(Candle("BTC/USDT:USDT", "1m", 0, 1, 1, 1, 1, 1)) is False       # not recorded
    assert s.record(Ticker("BTC/USDT:USDT", 1, 10.0)) is False                      # no table
    assert s.record(sig) is True
    assert s.record(Order("c1", "BTC/USDT:USDT", "buy", OrderType.MARKET, 1.0)) is True
    assert s.record(Fill("c1", "BTC/USDT:USDT", "buy", 2, 10.0, 1.0, 0.005, "taker", "f1")) is True
    assert s.record(Alert(3, "info", "x")) is False
    assert len(list(s.iter_recorded())) == 1
    assert s.signals("BTC/USDT:USDT")[0]["faces"] == {"volume": None}
    assert [o.client_id for o in s.orders()] == ["c1"] and len(s.fills()) == 1
    with pytest.raises(ValueError, match="unknown record kind 'tweets'"):
        Storage(":memory:", record=["tweets"])


# ---------------------------------------------------------------- the order path

def test_orders_events_fills_positions_account(store):
    o = Order("c1", "BTC/USDT:USDT", "buy", OrderType.STOP_LIMIT, 0.25, 50_000.5, 49_900.0, False, True,
              OrderStatus.NEW, 0.0, None, 0.0, None, "paper", "strategy:prism", 1000, 1000, "")
    store.upsert_order(o)
    store.append_order_event("c1", 1000, OrderStatus.NEW, 0.0, None)
    o2 = Order("c2", "ETH/USDT:USDT", "sell", OrderType.MARKET, 2.0, created_ts=1001, updated_ts=1001)
    store.upsert_order(o2)
    o.status, o.filled, o.average_price, o.fee, o.exchange_id, o.updated_ts = (
        OrderStatus.PARTIALLY_FILLED, 0.1, 50_000.25, 1.0000050, "X-9", 1500)
    store.upsert_order(o)
    store.append_order_event("c1", 1500, "partially_filled", 0.1, 50_000.25, "maker fill")
    o2.status, o2.reason = OrderStatus.REJECTED, "max_position: over 50000 notional"
    store.upsert_order(o2)
    assert store.orders() == [o, o2]
    assert store.open_orders() == [o]
    assert [(e.ts, e.status, e.filled, e.average_price, e.reason) for e in store.order_events("c1")] == [
        (1000, OrderStatus.NEW, 0.0, None, ""), (1500, OrderStatus.PARTIALLY_FILLED, 0.1, 50_000.25, "maker fill")]

    f1 = Fill("c1", "BTC/USDT:USDT", "buy", 1500, 50_000.25, 0.1, 1.000005, "maker", "t-1")
    assert store.insert_fill(f1) is True
    assert store.insert_fill(f1) is False                          # the same fill again is ignored
    assert store.insert_fill(Fill("c1", "BTC/USDT:USDT", "buy", 1600, 50_001.0, 0.05, 0.5)) is True
    fills = store.fills("c1")
    assert fills[0] == f1 and fills[1].fill_id == "c1:1600:1" and len(store.fills()) == 2

    pos = Position("BTC/USDT:USDT", -0.15, 50_000.5, -12.5, 1.5, -0.25, 3.0, 1500)
    store.upsert_position(pos, ts=1600)
    store.upsert_position(Position("ETH/USDT:USDT"), ts=1600)
    assert store.positions() == {"BTC/USDT:USDT": pos, "ETH/USDT:USDT": Position("ETH/USDT:USDT")}

    store.set_account("cash", 99_876.5)
    store.set_account("halt", "max_daily_loss: -5.2%")
    assert store.get_account("cash") == 99_876.5 and store.get_account("halt") == "max_daily_loss: -5.2%"
    assert store.get_account("missing", 0) == 0


@dataclass
class _BtTrade:
    entry_ts: int
    exit_ts: int | None
    side: str
    amount: float
    entry_price: float
    exit_price: float | None
    pnl: float | None
    fees: float


def test_backtest_run_round_trip(store):
    trades = [{"entry_ts": 1, "exit_ts": 5, "side": "buy", "amount": 1.5, "entry_price": 100.0,
               "exit_price": 110.0, "pnl": 15.0, "fees": 0.2},
              _BtTrade(6, None, "sell", 2.0, 111.0, None, None, 0.1)]
    ts = np.array([0, 60_000, 120_000], dtype=np.int64)
    eq = np.array([1e5, 1.0001e5, 99_990.5])
    run = store.save_backtest_run(kind="event", strategy="sma_cross", params={"fast": np.int64(10), "slow": 30},
                                  symbol="BTC/USDT", timeframe="1h", data="ohlcv/BTC_USDT-1h.feather",
                                  metrics={"sharpe": np.float64(1.25), "trades": 2}, trades=trades,
                                  equity={"ts": ts, "equity": eq}, created=123)
    second = store.save_backtest_run(kind="vector", strategy="x", params={}, symbol="S", timeframe="1m",
                                     data="", metrics={}, equity=[(1, 2.0)])
    got = store.backtest_run(run)
    assert (got["created"], got["kind"], got["params"], got["metrics"]) == (
        123, "event", {"fast": 10, "slow": 30}, {"sharpe": 1.25, "trades": 2})
    assert got["trades"] == [trades[0], {"entry_ts": 6, "exit_ts": None, "side": "sell", "amount": 2.0,
                                         "entry_price": 111.0, "exit_price": None, "pnl": None, "fees": 0.1}]
    np.testing.assert_array_equal(got["equity"]["ts"], ts)
    np.testing.assert_array_equal(got["equity"]["equity"], eq)
    assert [r["id"] for r in store.backtest_runs()] == [run, second]
    with pytest.raises(StorageError, match="no backtest run with id 99"):
        store.backtest_run(99)


# ---------------------------------------------------------------- batching and retention

def test_transaction_batches_market_data_but_not_orders(tmp_path):
    path = tmp_path / "b.db"
    s = Storage(path)
    reader = sqlite3.connect(path)
    count = lambda table: reader.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: E731
    with s.transaction():
        s.write_trades(real_trades(50))
        with s.transaction():  # nested blocks join the outer batch
            s.write_equity(1, 1.0)
        s.upsert_order(Order("c1", "X", "buy", OrderType.MARKET, 1.0))
        assert count("orders") == 1            # durable already
        assert count("trades") == 0 and count("equity") == 0
    assert count("trades") == 50 and count("equity") == 1
    with pytest.raises(RuntimeError), s.transaction():
        s.write_trades(real_trades(5))
        raise RuntimeError("tick failed")
    assert count("trades") == 50               # a failed batch writes nothing
    s.flush()
    assert count("trades") == 50
    reader.close()
    s.close()


def test_atomic_groups_order_path_writes(tmp_path):
    path = tmp_path / "a.db"
    s = Storage(path)
    reader = sqlite3.connect(path)
    fill = Fill("c1", "X", "buy", 5, 10.0, 1.0, 0.01, "taker", "f1")
    with s.atomic():
        s.upsert_order(Order("c1", "X", "buy", OrderType.MARKET, 1.0, status=OrderStatus.FILLED, filled=1.0))
        s.insert_fill(fill)
        s.upsert_position(Position("X", 1.0, 10.0), ts=5)
        assert reader.execute("SELECT COUNT(*) FROM fills").fetchone()[0] == 0   # not yet
    assert reader.execute("SELECT COUNT(*) FROM fills").fetchone()[0] == 1
    with pytest.raises(RuntimeError), s.atomic():
        s.insert_fill(Fill("c1", "X", "buy", 6, 10.0, 1.0, 0.01, "taker", "f2"))
        raise RuntimeError("position update failed")
    assert s.fills() == [fill] and list(s.positions()) == ["X"]
    reader.close()
    s.close()


def test_prune_deletes_old_market_data_only():
    day = 86_400_000
    now = 100 * day
    s = Storage(":memory:", retention_days=30)
    for ts in (now - 31 * day, now - 30 * day, now - day):
        s.write_candles([Candle("X", "1m", ts, 1, 1, 1, 1, 1)])
        s.write_trades([Trade("X", ts, 1.0, 1.0, "buy", str(ts))])
        s.write_funding(Funding("X", ts, 0.0001))
        s.write_equity(ts, 1.0)
    s.upsert_order(Order("old", "X", "buy", OrderType.MARKET, 1.0, created_ts=now - 40 * day))
    assert s.prune(now) == 3
    assert s.read_candles("X", "1m")["ts"].tolist() == [now - 30 * day, now - day]
    assert [r.ts for r in s.iter_recorded(kinds=["trades", "funding"])] == [now - 30 * day] * 2 + [now - day] * 2
    assert len(s.equity()[0]) == 3 and len(s.orders()) == 1
    keep = Storage(":memory:", retention_days=0)
    keep.write_trades([Trade("X", 0, 1.0, 1.0, "buy", "a")])
    assert keep.prune(now) == 0 and len(list(keep.iter_recorded())) == 1


# ---------------------------------------------------------------- kill -9

WRITER = textwrap.dedent("""
    import sys, time
    from virtuoso_tui.model import Fill, Order, OrderStatus, OrderType, Trade
    from virtuoso_tui.storage import Storage
    s = Storage(sys.argv[1])
    ticks = int(sys.argv[2])
    for i in range(ticks):
        with s.transaction():   # a tick's market data is batched; the order path commits at once
            s.write_trades([Trade("X", i, 1.0, 1.0, "buy", str(i))])
            o = Order(f"c{i}", "X", "buy", OrderType.LIMIT, 1.0, 100.0 + i, created_ts=i, updated_ts=i)
            s.upsert_order(o)
            s.append_order_event(o.client_id, i, OrderStatus.NEW, 0.0, None)
            s.insert_fill(Fill(o.client_id, "X", "buy", i, 100.0 + i, 0.5, 0.01, "maker", f"f{i}"))
            o.status, o.filled = OrderStatus.PARTIALLY_FILLED, 0.5
            s.upsert_order(o)
            print(i, flush=True)   # acknowledged: the order path of tick i has returned
            if i == ticks - 1:
                time.sleep(60)     # killed here, mid-tick, with the tick's market data still batched
""")


def test_orders_and_fills_survive_kill_9(tmp_path):
    path, ticks = tmp_path / "crash.db", 120
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(ticks)], stdout=subprocess.PIPE,
                            text=True, env=env)
    acknowledged = -1
    try:
        for line in proc.stdout:
            acknowledged = int(line)
            if acknowledged == ticks - 1:
                break
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL and acknowledged == ticks - 1
    with Storage(path) as s:
        assert s.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        orders = {o.client_id: o for o in s.orders()}
        fills = {f.fill_id for f in s.fills()}
        assert len(orders) == len(fills) == ticks
        for i in range(ticks):
            assert orders[f"c{i}"].status is OrderStatus.PARTIALLY_FILLED and orders[f"c{i}"].filled == 0.5
            assert orders[f"c{i}"].price == 100.0 + i
            assert f"f{i}" in fills
            assert [e.status for e in s.order_events(f"c{i}")] == [OrderStatus.NEW]
        # every finished tick's batch is there; the killed tick's batch is lost whole, not half-written
        assert [t.ts for t in s.iter_recorded(kinds=["trades"])] == list(range(ticks - 1))


def test_record_kinds_match_the_config():
    from virtuoso_tui import settings, storage

    assert settings.RECORD_KINDS == storage.RECORD_KINDS
