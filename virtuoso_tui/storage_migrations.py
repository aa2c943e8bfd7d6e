"""The database schema as numbered migrations: `MIGRATIONS[n-1]` takes a database at schema version
n-1 to version n, and `SCHEMA_VERSION` is the version the newest one leaves.

virtuoso_tui.storage's `Storage` runs the ones a file has not had yet, each in its own transaction,
and refuses a file from a newer Virtuoso; the readers and writers there rely on the tables made here.
A schema change is a new `_vN_...` function appended to `MIGRATIONS`, never an edit to an old one,
so every database already on disk reaches the same schema.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlite_utils import Database

_MARKET_KEYS = ("symbol", "ts")


def _v1_base_schema(db: Database) -> None:
    """The tables of docs/contracts-for-helpers.md."""
    t, i, f = str, int, float
    db.create_table("candles", {"symbol": t, "timeframe": t, "ts": i, "open": f, "high": f, "low": f,
                                "close": f, "volume": f, "buy_volume": f, "trades": i},
                    pk=("symbol", "timeframe", "ts"))
    db.create_table("trades", {"symbol": t, "ts": i, "price": f, "amount": f, "side": t, "trade_id": t,
                               "source": t})
    db.create_table("book_snapshots", {"symbol": t, "ts": i, "sequence": i, "bids": t, "asks": t})
    db.create_table("book_deltas", {"symbol": t, "ts": i, "sequence": i, "prev_sequence": i, "bids": t,
                                    "asks": t})
    db.create_table("funding", {"symbol": t, "ts": i, "rate": f, "next_funding_ts": i, "mark": f,
                                "settled": i})
    db.create_table("open_interest", {"symbol": t, "ts": i, "amount": f, "value": f})
    db.create_table("liquidations", {"symbol": t, "ts": i, "side": t, "price": f, "amount": f})
    db.create_table("long_short", {"symbol": t, "ts": i, "ratio": f})
    db.create_table("signals", {"symbol": t, "ts": i, "score": f, "side": t, "confidence": f, "faces": t})
    db.create_table("alerts", {"ts": i, "level": t, "message": t, "source": t, "symbol": t, "data": t})
    db.create_table("orders", {"client_id": t, "symbol": t, "side": t, "type": t, "amount": f, "price": f,
                               "stop_price": f, "reduce_only": i, "post_only": i, "status": t, "filled": f,
                               "average_price": f, "fee": f, "exchange_id": t, "executor": t, "origin": t,
                               "created_ts": i, "updated_ts": i, "reason": t}, pk="client_id")
    db.create_table("order_events", {"id": i, "client_id": t, "ts": i, "status": t, "filled": f,
                                     "average_price": f, "reason": t}, pk="id")
    db.create_table("fills", {"fill_id": t, "client_id": t, "symbol": t, "side": t, "ts": i, "price": f,
                              "amount": f, "fee": f, "liquidity": t}, pk="fill_id")
    db.create_table("positions", {"symbol": t, "amount": f, "entry_price": f, "realized_pnl": f, "fees": f,
                                  "funding": f, "leverage": f, "opened_ts": i, "updated_ts": i}, pk="symbol")
    db.create_table("account", {"key": t, "value": t}, pk="key")
    db.create_table("equity", {"ts": i, "equity": f})
    db.create_table("backtest_runs", {"id": i, "created": i, "kind": t, "strategy": t, "params": t,
                                      "symbol": t, "timeframe": t, "data": t, "metrics": t}, pk="id")
    db.create_table("backtest_trades", {"run_id": i, "entry_ts": i, "exit_ts": i, "side": t, "amount": f,
                                        "entry_price": f, "exit_price": f, "pnl": f, "fees": f})
    db.create_table("backtest_equity", {"run_id": i, "ts": i, "equity": f})


def _v2_indexes_and_exact_records(db: Database) -> None:
    """Range indexes for replay and retention; the two record fields v1 dropped (funding interval,
    long share) so a recording replays exactly. Old funding rows get the 8 h interval they assumed."""
    for table in ("trades", "book_snapshots", "book_deltas", "funding", "open_interest", "liquidations",
                  "long_short", "signals"):
        db[table].create_index(_MARKET_KEYS, index_name=f"idx_{table}_symbol_ts")
    db["equity"].create_index(["ts"], index_name="idx_equity_ts")
    db["alerts"].create_index(["ts"], index_name="idx_alerts_ts")
    db["order_events"].create_index(["client_id"], index_name="idx_order_events_client")
    db["fills"].create_index(["client_id"], index_name="idx_fills_client")
    db["backtest_trades"].create_index(["run_id"], index_name="idx_backtest_trades_run")
    db["backtest_equity"].create_index(["run_id"], index_name="idx_backtest_equity_run")
    db["funding"].add_column("interval_ms", int, not_null_default=8 * 3_600_000)
    db["long_short"].add_column("long_share", float)


def _v3_time_in_force(db: Database) -> None:
    """An order's time in force (gtc, ioc, fok, gtt) and, for gtt, its expiry in market time (ms), so
    a restart restores a good-till-time order that still expires. Orders from before were all gtc."""
    db["orders"].add_column("time_in_force", str, not_null_default="gtc")
    db["orders"].add_column("expire_ts", int)


def _v4_algos(db: Database) -> None:
    """Execution algorithms' parent state (trading.journal.ALGO_COLUMNS), so a restart resumes a
    TWAP, VWAP, iceberg or split where it stood; `params` and `extra` are JSON."""
    t, i, f = str, int, float
    db.create_table("algos", {"id": t, "kind": t, "symbol": t, "side": t, "amount": f, "start_ts": i,
                              "arrival": f, "executor": t, "params": t, "filled": f, "slices": i,
                              "next_ts": i, "status": t, "extra": t}, pk="id")


#: Migration n (1-based) takes a database at schema version n-1 to version n, in one transaction.
MIGRATIONS: list[Callable[[Database], None]] = [_v1_base_schema, _v2_indexes_and_exact_records,
                                                 _v3_time_in_force, _v4_algos]
SCHEMA_VERSION = len(MIGRATIONS)
