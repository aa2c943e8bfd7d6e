"""The order journal: what the order manager writes before it acts, and reads back after a crash.

`OrderJournal` is the Protocol the OrderManager needs; virtuoso_tui.storage.Storage is meant to satisfy
it (same tables as docs/contracts-for-helpers.md: orders, order_events, fills, positions, account,
equity, and algos: execution algorithms' parent state). `SqliteJournal` is a small self-contained implementation of the same schema over sqlite3,
used by tests, benchmarks and whenever no Storage is given. WAL with synchronous=NORMAL survives a
killed process (kill -9): a committed transaction is in the WAL file even if the process dies.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from virtuoso_tui.model import Fill, Order, OrderStatus, OrderType, Position


class OrderJournal(Protocol):
    def upsert_order(self, order: Order) -> None: ...
    def append_order_event(self, client_id: str, ts: int, status: str, filled: float,
                           average_price: float | None, reason: str) -> None: ...
    def insert_fill(self, fill: Fill) -> None: ...
    def upsert_position(self, position: Position, ts: int) -> None: ...
    def set_account(self, key: str, value: Any) -> None: ...
    def get_account(self, key: str, default: Any = None) -> Any: ...
    def write_equity(self, ts: int, equity: float) -> None: ...
    def orders(self) -> list[Order]: ...
    def open_orders(self) -> list[Order]: ...
    def fills(self) -> list[Fill]: ...
    def positions(self) -> list[Position] | dict[str, Position]: ...
    def upsert_algo(self, state: dict[str, Any], params: dict[str, Any] | None = None) -> None: ...
    def algos(self) -> list[dict[str, Any]]: ...


def journal_atomic(journal: Any) -> contextlib.AbstractContextManager[Any]:
    """One transaction over several journal writes (a fill, its order state, its position, the cash):
    the journal's `atomic()`, else its sqlite-utils `db.atomic()` (virtuoso_tui.storage.Storage),
    else no grouping (each write is still durable on its own)."""
    if hasattr(journal, "atomic"):
        return journal.atomic()
    db = getattr(journal, "db", None)
    if db is not None and hasattr(db, "atomic"):
        return db.atomic()
    return contextlib.nullcontext()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (client_id TEXT PRIMARY KEY, symbol TEXT, side TEXT, type TEXT,
  amount REAL, price REAL, stop_price REAL, reduce_only INTEGER, post_only INTEGER, status TEXT,
  filled REAL, average_price REAL, fee REAL, exchange_id TEXT, executor TEXT, origin TEXT,
  created_ts INTEGER, updated_ts INTEGER, reason TEXT, time_in_force TEXT NOT NULL DEFAULT 'gtc',
  expire_ts INTEGER);
CREATE TABLE IF NOT EXISTS order_events (id INTEGER PRIMARY KEY AUTOINCREMENT, client_id TEXT,
  ts INTEGER, status TEXT, filled REAL, average_price REAL, reason TEXT);
CREATE TABLE IF NOT EXISTS fills (fill_id TEXT PRIMARY KEY, client_id TEXT, symbol TEXT, side TEXT,
  ts INTEGER, price REAL, amount REAL, fee REAL, liquidity TEXT);
CREATE TABLE IF NOT EXISTS positions (symbol TEXT PRIMARY KEY, amount REAL, entry_price REAL,
  realized_pnl REAL, fees REAL, funding REAL, leverage REAL, opened_ts INTEGER, updated_ts INTEGER);
CREATE TABLE IF NOT EXISTS account (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS equity (ts INTEGER, equity REAL);
CREATE TABLE IF NOT EXISTS algos (id TEXT PRIMARY KEY, kind TEXT, symbol TEXT, side TEXT, amount REAL,
  start_ts INTEGER, arrival REAL, executor TEXT, params TEXT, filled REAL, slices INTEGER,
  next_ts INTEGER, status TEXT, extra TEXT);
"""

#: Columns of the `algos` table (execution algorithms' parent state), shared with storage.py.
ALGO_COLUMNS = ("id", "kind", "symbol", "side", "amount", "start_ts", "arrival", "executor", "params",
                "filled", "slices", "next_ts", "status", "extra")
_ALGO_STATE = tuple(c for c in ALGO_COLUMNS if c not in ("id", "params", "extra"))


def algo_row(state: dict[str, Any], params: dict[str, Any] | None) -> tuple[tuple, str]:
    """(values, SQL) to write one algorithm: with `params` (at start) the whole row; without, the
    state columns of the existing row (params are written once)."""
    if params is not None:
        vals = tuple(json.dumps(params) if c == "params" else json.dumps(state.get(c, {})) if c == "extra"
                     else state.get(c) for c in ALGO_COLUMNS)
        return vals, (f"INSERT OR REPLACE INTO algos ({','.join(ALGO_COLUMNS)}) "
                      f"VALUES ({','.join('?' * len(ALGO_COLUMNS))})")
    sets = ", ".join(f"{c} = ?" for c in (*_ALGO_STATE, "extra"))
    vals = (*(state.get(c) for c in _ALGO_STATE), json.dumps(state.get("extra", {})), state["id"])
    return vals, f"UPDATE algos SET {sets} WHERE id = ?"


def algo_from_row(row: Any) -> dict[str, Any]:
    """A journaled algorithm as a state dict (`params` and `extra` decoded)."""
    d = dict(zip(ALGO_COLUMNS, tuple(row), strict=True))
    d["params"] = json.loads(d["params"] or "{}")
    d["extra"] = json.loads(d["extra"] or "{}")
    return d

_ORDER_COLS = ("client_id", "symbol", "side", "type", "amount", "price", "stop_price", "reduce_only",
               "post_only", "status", "filled", "average_price", "fee", "exchange_id", "executor",
               "origin", "created_ts", "updated_ts", "reason", "time_in_force", "expire_ts")
_OPEN = tuple(s.value for s in OrderStatus if s.is_open)


def order_from_row(row: tuple) -> Order:
    d = dict(zip(_ORDER_COLS, row, strict=True))
    d["type"] = OrderType(d["type"])
    d["status"] = OrderStatus(d["status"])
    d["reduce_only"] = bool(d["reduce_only"])
    d["post_only"] = bool(d["post_only"])
    return Order(**d)


class SqliteJournal:
    """OrderJournal over one sqlite3 file (":memory:" for tests). Autocommits unless inside atomic()."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        if self.path != ":memory:":
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(_SCHEMA)
        have = {row[1] for row in self.conn.execute("PRAGMA table_info(orders)")}
        if "time_in_force" not in have:  # a journal file from before time in force
            self.conn.execute("ALTER TABLE orders ADD COLUMN time_in_force TEXT NOT NULL DEFAULT 'gtc'")
            self.conn.execute("ALTER TABLE orders ADD COLUMN expire_ts INTEGER")
        self._depth = 0

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """One transaction for several writes (a fill, its position and its order event)."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.conn.execute("BEGIN")
        self._depth = 1
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")
        finally:
            self._depth = 0

    def upsert_order(self, order: Order) -> None:
        vals = (order.client_id, order.symbol, order.side, order.type.value, order.amount, order.price,
                order.stop_price, int(order.reduce_only), int(order.post_only), order.status.value,
                order.filled, order.average_price, order.fee, order.exchange_id, order.executor,
                order.origin, order.created_ts, order.updated_ts, order.reason, order.time_in_force,
                order.expire_ts)
        cols = ",".join(_ORDER_COLS)
        self.conn.execute(f"INSERT OR REPLACE INTO orders ({cols}) VALUES ({','.join('?' * len(vals))})", vals)

    def append_order_event(self, client_id: str, ts: int, status: str, filled: float,
                           average_price: float | None, reason: str) -> None:
        self.conn.execute("INSERT INTO order_events (client_id, ts, status, filled, average_price, reason) "
                          "VALUES (?,?,?,?,?,?)", (client_id, ts, status, filled, average_price, reason))

    def insert_fill(self, fill: Fill) -> None:
        # OR IGNORE: a fill reported twice (replayed venue report) is stored once.
        self.conn.execute("INSERT OR IGNORE INTO fills VALUES (?,?,?,?,?,?,?,?,?)",
                          (fill.fill_id, fill.client_id, fill.symbol, fill.side, fill.ts, fill.price,
                           fill.amount, fill.fee, fill.liquidity))

    def upsert_position(self, position: Position, ts: int) -> None:
        p = position
        self.conn.execute("INSERT OR REPLACE INTO positions VALUES (?,?,?,?,?,?,?,?,?)",
                          (p.symbol, p.amount, p.entry_price, p.realized_pnl, p.fees, p.funding,
                           p.leverage, p.opened_ts, ts))

    def set_account(self, key: str, value: Any) -> None:
        self.conn.execute("INSERT OR REPLACE INTO account VALUES (?, ?)", (key, json.dumps(value)))

    def get_account(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM account WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def write_equity(self, ts: int, equity: float) -> None:
        self.conn.execute("INSERT INTO equity VALUES (?, ?)", (ts, equity))

    def orders(self) -> list[Order]:
        rows = self.conn.execute(f"SELECT {','.join(_ORDER_COLS)} FROM orders ORDER BY created_ts, client_id")
        return [order_from_row(r) for r in rows]

    def open_orders(self) -> list[Order]:
        q = (f"SELECT {','.join(_ORDER_COLS)} FROM orders WHERE status IN ({','.join('?' * len(_OPEN))}) "
             "ORDER BY created_ts, client_id")
        return [order_from_row(r) for r in self.conn.execute(q, _OPEN)]

    def order_events(self, client_id: str) -> list[tuple[int, str, float]]:
        return list(self.conn.execute("SELECT ts, status, filled FROM order_events WHERE client_id = ? "
                                      "ORDER BY id", (client_id,)))

    def fills(self) -> list[Fill]:
        rows = self.conn.execute("SELECT client_id, symbol, side, ts, price, amount, fee, liquidity, fill_id "
                                 "FROM fills ORDER BY ts, rowid")
        return [Fill(*r) for r in rows]

    def positions(self) -> list[Position]:
        rows = self.conn.execute("SELECT symbol, amount, entry_price, realized_pnl, fees, funding, leverage, "
                                 "opened_ts FROM positions ORDER BY symbol")
        return [Position(*r) for r in rows]

    def upsert_algo(self, state: dict[str, Any], params: dict[str, Any] | None = None) -> None:
        """Write an algorithm's parent state (with `params` when it starts). Autocommits."""
        vals, sql = algo_row(state, params)
        self.conn.execute(sql, vals)

    def algos(self) -> list[dict[str, Any]]:
        """Every journaled algorithm, in start order."""
        rows = self.conn.execute(f"SELECT {','.join(ALGO_COLUMNS)} FROM algos ORDER BY start_ts, rowid")
        return [algo_from_row(r) for r in rows]

    def equity_curve(self) -> list[tuple[int, float]]:
        return list(self.conn.execute("SELECT ts, equity FROM equity ORDER BY rowid"))

    def close(self) -> None:
        self.conn.close()
