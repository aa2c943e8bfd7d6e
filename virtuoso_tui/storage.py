"""The SQLite database: WAL, batching, retention, writers and replay reads; the schema itself is the
numbered migrations of virtuoso_tui.storage_migrations, which `Storage` runs on open.

One file (path from `[storage] path`, or ":memory:"), opened through sqlite-utils. The engine's
recorder calls `record(event)` (or the `write_*` methods) and batches a tick with `transaction()`;
the order manager calls `upsert_order`, `append_order_event`, `insert_fill`, `upsert_position` and
`set_account` (and the desk `upsert_algo`, an execution algorithm's parent state), which commit
before they return, also inside a batch, so an order's intent is on disk before it is sent and a
kill -9 loses nothing that was acknowledged. The replay source reads
`iter_recorded`, the backtester and research tools `read_candles` and `save_backtest_run`. Nothing
here takes configuration objects, so secrets cannot reach the database.
"""

from __future__ import annotations

import heapq
import json
import math
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
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
    Trade,
)
from virtuoso_tui.storage_migrations import MIGRATIONS, SCHEMA_VERSION
from virtuoso_tui.trading.journal import ALGO_COLUMNS, algo_from_row, algo_row


class StorageError(Exception):
    """The database cannot be used as asked (newer schema, unreadable file). One sentence."""


# ---------------------------------------------------------------- tables

# Tables `prune` empties of old rows, with the record kind each belongs to.
MARKET_TABLES = ("candles", "trades", "book_snapshots", "book_deltas", "funding", "open_interest",
                 "liquidations", "long_short")
RECORD_KINDS = ("candles", "trades", "books", "funding", "open_interest", "liquidations", "long_short",
                "signals", "alerts", "orders", "equity")


# ---------------------------------------------------------------- row <-> record

def _levels(levels: Sequence[Sequence[float]]) -> str:
    return json.dumps([[float(p), float(s)] for p, s in levels])


def _unlevels(text: str) -> tuple[tuple[float, float], ...]:
    return tuple((p, s) for p, s in json.loads(text))


def _opt(x: Any, cast: Callable[[Any], Any] = float) -> Any:
    return None if x is None else cast(x)


def _nan(x: float | None) -> float:
    return math.nan if x is None else x


@dataclass(frozen=True, slots=True)
class _Kind:
    """How one market-data record type is stored and read back."""

    table: str
    columns: tuple[str, ...]
    to_row: Callable[[Any, str], tuple]
    from_row: Callable[[tuple], Any]
    upsert: bool = False

    @property
    def insert_sql(self) -> str:
        return _insert(self.table, self.columns, "INSERT OR REPLACE" if self.upsert else "INSERT")


_KINDS: dict[type, _Kind] = {
    Candle: _Kind(
        "candles", ("symbol", "timeframe", "ts", "open", "high", "low", "close", "volume", "buy_volume",
                    "trades"),
        lambda c, _: (c.symbol, c.timeframe, int(c.ts), float(c.open), float(c.high), float(c.low),
                      float(c.close), float(c.volume), None if math.isnan(c.buy_volume) else float(c.buy_volume),
                      int(c.trades)),
        lambda r: Candle(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], _nan(r[8]), r[9]),
        upsert=True),
    Trade: _Kind(
        "trades", ("symbol", "ts", "price", "amount", "side", "trade_id", "source"),
        lambda t, src: (t.symbol, int(t.ts), float(t.price), float(t.amount), t.side, t.id, src),
        lambda r: Trade(r[0], r[1], r[2], r[3], r[4], r[5])),
    BookSnapshot: _Kind(
        "book_snapshots", ("symbol", "ts", "sequence", "bids", "asks"),
        lambda b, _: (b.symbol, int(b.ts), _opt(b.sequence, int), _levels(b.bids), _levels(b.asks)),
        lambda r: BookSnapshot(r[0], r[1], _unlevels(r[3]), _unlevels(r[4]), r[2])),
    BookDelta: _Kind(
        "book_deltas", ("symbol", "ts", "sequence", "prev_sequence", "bids", "asks"),
        lambda b, _: (b.symbol, int(b.ts), _opt(b.sequence, int), _opt(b.prev_sequence, int),
                      _levels(b.bids), _levels(b.asks)),
        lambda r: BookDelta(r[0], r[1], _unlevels(r[4]), _unlevels(r[5]), r[2], r[3])),
    Funding: _Kind(
        "funding", ("symbol", "ts", "rate", "next_funding_ts", "mark", "settled", "interval_ms"),
        lambda f, _: (f.symbol, int(f.ts), float(f.rate), _opt(f.next_funding_ts, int), _opt(f.mark),
                      int(bool(f.settled)), int(f.interval_ms)),
        lambda r: Funding(r[0], r[1], r[2], r[3], r[6], r[4], bool(r[5]))),
    OpenInterest: _Kind(
        "open_interest", ("symbol", "ts", "amount", "value"),
        lambda o, _: (o.symbol, int(o.ts), float(o.amount), _opt(o.value)),
        lambda r: OpenInterest(r[0], r[1], r[2], r[3])),
    Liquidation: _Kind(
        "liquidations", ("symbol", "ts", "side", "price", "amount"),
        lambda q, _: (q.symbol, int(q.ts), q.side, float(q.price), float(q.amount)),
        lambda r: Liquidation(r[0], r[1], r[2], r[3], r[4])),
    LongShortRatio: _Kind(
        "long_short", ("symbol", "ts", "ratio", "long_share"),
        lambda x, _: (x.symbol, int(x.ts), float(x.ratio), _opt(x.long_share)),
        lambda r: LongShortRatio(r[0], r[1], r[2], r[3])),
}
_KIND_NAME = {Candle: "candles", Trade: "trades", BookSnapshot: "books", BookDelta: "books",
              Funding: "funding", OpenInterest: "open_interest", Liquidation: "liquidations",
              LongShortRatio: "long_short"}
# Replay order among records with the same timestamp: a closed candle first (it was known at its
# close), a snapshot before the deltas that follow it, then trades and the slower feeds.
_REPLAY_ORDER = (Candle, BookSnapshot, BookDelta, Trade, Funding, OpenInterest, Liquidation, LongShortRatio)

_ORDER_COLUMNS = ("client_id", "symbol", "side", "type", "amount", "price", "stop_price", "reduce_only",
                  "post_only", "status", "filled", "average_price", "fee", "exchange_id", "executor",
                  "origin", "created_ts", "updated_ts", "reason", "time_in_force", "expire_ts")
_FILL_COLUMNS = ("fill_id", "client_id", "symbol", "side", "ts", "price", "amount", "fee", "liquidity")
_POSITION_COLUMNS = ("symbol", "amount", "entry_price", "realized_pnl", "fees", "funding", "leverage",
                     "opened_ts", "updated_ts")
_BT_TRADE_COLUMNS = ("entry_ts", "exit_ts", "side", "amount", "entry_price", "exit_price", "pnl", "fees")


def _insert(table: str, columns: Sequence[str], verb: str = "INSERT") -> str:
    return f"{verb} INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def _order_from_row(r: sqlite3.Row) -> Order:
    return Order(client_id=r["client_id"], symbol=r["symbol"], side=r["side"], type=OrderType(r["type"]),
                 amount=r["amount"], price=r["price"], stop_price=r["stop_price"],
                 reduce_only=bool(r["reduce_only"]), post_only=bool(r["post_only"]),
                 status=OrderStatus(r["status"]), filled=r["filled"], average_price=r["average_price"],
                 fee=r["fee"], exchange_id=r["exchange_id"], executor=r["executor"], origin=r["origin"],
                 created_ts=r["created_ts"], updated_ts=r["updated_ts"], reason=r["reason"],
                 time_in_force=r["time_in_force"], expire_ts=r["expire_ts"])


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"cannot store {type(x).__name__} as JSON")


def _dumps(x: Any) -> str:
    return json.dumps(x, default=_json_default)


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One state change of an order, as the order manager recorded it."""

    client_id: str
    ts: int
    status: OrderStatus
    filled: float
    average_price: float | None
    reason: str


# ---------------------------------------------------------------- the database

class Storage:
    """The Virtuoso database. `Storage(":memory:")` for tests and throwaway runs.

    `retention_days` bounds market data kept by `prune` (0 = forever); `record` names the kinds
    `record(event)` stores (RECORD_KINDS; None = all). Direct `write_*` calls always write.
    """

    def __init__(self, path: str | Path = ":memory:", *, retention_days: int = 30,
                 record: Iterable[str] | None = None) -> None:
        self.path = str(path)
        if not self.path:
            raise ValueError('an empty storage path means "store nothing": check StorageSettings.enabled first')
        self.retention_days = retention_days
        self.kinds = frozenset(RECORD_KINDS if record is None else record)
        unknown = self.kinds - set(RECORD_KINDS)
        if unknown:
            raise ValueError(f"unknown record kind {sorted(unknown)[0]!r} (known: {', '.join(RECORD_KINDS)})")
        if self.path != ":memory:":
            Path(self.path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        try:
            # isolation_level=None: no implicit transactions; every commit point is explicit below.
            conn = sqlite3.connect(self.path if self.path == ":memory:" else str(Path(self.path).expanduser()),
                                   isolation_level=None)
            conn.row_factory = sqlite3.Row
            self.db = Database(conn)
            self.conn = conn
            if self.path != ":memory:":
                self.db.enable_wal()
            conn.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable on commit against a process crash
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{self.path}: cannot be opened as a Virtuoso database ({exc})") from None
        self._pending: dict[str, list[tuple]] = {}
        self._depth = 0

    # -- lifecycle

    @property
    def schema_version(self) -> int:
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    @property
    def journal_mode(self) -> str:
        return self.conn.execute("PRAGMA journal_mode").fetchone()[0]

    def _migrate(self) -> None:
        self.db.create_table("meta", {"key": str, "value": str}, pk="key", if_not_exists=True)
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"{self.path} was written by a newer Virtuoso (schema version {version}; this version "
                f"knows up to {SCHEMA_VERSION}): upgrade Virtuoso or set another [storage] path")
        for number in range(version + 1, SCHEMA_VERSION + 1):
            with self.db.atomic():
                MIGRATIONS[number - 1](self.db)
                self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                                  (str(number),))

    def close(self) -> None:
        self.flush()
        self.conn.close()

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- batching

    @contextmanager
    def transaction(self) -> Iterator[Storage]:
        """Batch market-data, signal, alert and equity writes: they are written together, in one
        transaction, when the outermost block ends (and dropped if it raises). Order, fill, position
        and account writes inside the block still commit at once. Readers see flushed data only."""
        self._depth += 1
        try:
            yield self
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self._pending.clear()
            raise
        self._depth -= 1
        if self._depth == 0:
            self.flush()

    @contextmanager
    def atomic(self) -> Iterator[Storage]:
        """One database transaction over several order-path writes (a fill, its order state, its
        position, the cash), as trading.journal.journal_atomic expects: all are durable at the end
        of the block, or none if it raises. Nested blocks become savepoints."""
        with self.db.atomic():
            yield self

    def flush(self) -> None:
        """Write every batched row in one transaction."""
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        with self.db.atomic():
            for sql, rows in pending.items():
                self.conn.executemany(sql, rows)

    def _write(self, sql: str, rows: list[tuple]) -> None:
        if not rows:
            return
        if self._depth:
            self._pending.setdefault(sql, []).extend(rows)
            return
        with self.db.atomic():
            self.conn.executemany(sql, rows)

    def _commit_now(self, sql: str, row: tuple) -> sqlite3.Cursor:
        # Autocommit connection and no open transaction: this statement is durable when it returns.
        return self.conn.execute(sql, row)

    # -- market data and analysis writers

    def _write_records(self, records: Iterable[Any], source: str = "") -> None:
        by_kind: dict[_Kind, list[tuple]] = {}
        for rec in records:
            kind = _KINDS[type(rec)]
            by_kind.setdefault(kind, []).append(kind.to_row(rec, source))
        for kind, rows in by_kind.items():
            self._write(kind.insert_sql, rows)

    def write_candles(self, candles: Iterable[Candle]) -> None:
        """Upsert candles by (symbol, timeframe, ts): a re-fetched candle replaces the old one."""
        self._write_records(candles)

    def write_trades(self, trades: Iterable[Trade], source: str = "") -> None:
        self._write_records(trades, source)

    def write_book_snapshot(self, snapshot: BookSnapshot) -> None:
        self._write_records([snapshot])

    def write_book_delta(self, delta: BookDelta) -> None:
        self._write_records([delta])

    def write_funding(self, funding: Funding) -> None:
        self._write_records([funding])

    def write_open_interest(self, oi: OpenInterest) -> None:
        self._write_records([oi])

    def write_liquidation(self, liquidation: Liquidation) -> None:
        self._write_records([liquidation])

    def write_long_short(self, ratio: LongShortRatio) -> None:
        self._write_records([ratio])

    def write_signal(self, symbol: str, ts: int, score: float | None, side: str, confidence: float,
                     faces: Mapping[str, float | None]) -> None:
        """A confluence signal; `faces` maps face name to its score (None = n/a)."""
        self._write(_insert("signals", ("symbol", "ts", "score", "side", "confidence", "faces")),
                    [(symbol, int(ts), _opt(score), side, float(confidence),
                      _dumps({k: _opt(v) for k, v in faces.items()}))])

    def write_alert(self, alert: Alert) -> None:
        self._write(_insert("alerts", ("ts", "level", "message", "source", "symbol", "data")),
                    [(int(alert.ts), alert.level, alert.message, alert.source, alert.symbol,
                      _dumps(alert.data))])

    def write_equity(self, ts: int, equity: float) -> None:
        self._write(_insert("equity", ("ts", "equity")), [(int(ts), float(equity))])

    # -- order path: committed before returning

    def upsert_order(self, order: Order) -> None:
        """Insert or replace the order's current state; durable on return."""
        o = order
        self._commit_now(_insert("orders", _ORDER_COLUMNS, "INSERT OR REPLACE"), (
            o.client_id, o.symbol, o.side, OrderType(o.type).value, float(o.amount), _opt(o.price),
            _opt(o.stop_price), int(o.reduce_only), int(o.post_only), OrderStatus(o.status).value,
            float(o.filled), _opt(o.average_price), float(o.fee), o.exchange_id, o.executor, o.origin,
            int(o.created_ts), int(o.updated_ts), o.reason, o.time_in_force, _opt(o.expire_ts, int)))

    def append_order_event(self, client_id: str, ts: int, status: OrderStatus | str, filled: float,
                           average_price: float | None, reason: str = "") -> int:
        """Record one state change of an order; returns the event id. Durable on return."""
        cur = self._commit_now(_insert("order_events", ("client_id", "ts", "status", "filled",
                                                        "average_price", "reason")),
                               (client_id, int(ts), OrderStatus(status).value, float(filled),
                                _opt(average_price), reason))
        return int(cur.lastrowid)

    def insert_fill(self, fill: Fill) -> bool:
        """Store a fill once: a fill seen again (same fill_id, e.g. after a reconnect) is ignored and
        False returned. A fill without an id gets `<client_id>:<ts>:<n>`. Durable on return."""
        fill_id = fill.fill_id
        if not fill_id:
            n = self.conn.execute("SELECT COUNT(*) FROM fills WHERE client_id = ?", (fill.client_id,)).fetchone()[0]
            fill_id = f"{fill.client_id}:{fill.ts}:{n}"
        cur = self._commit_now(_insert("fills", _FILL_COLUMNS, "INSERT OR IGNORE"), (
            fill_id, fill.client_id, fill.symbol, fill.side, int(fill.ts), float(fill.price),
            float(fill.amount), float(fill.fee), fill.liquidity))
        return cur.rowcount == 1

    def upsert_position(self, position: Position, ts: int) -> None:
        p = position
        self._commit_now(_insert("positions", _POSITION_COLUMNS, "INSERT OR REPLACE"), (
            p.symbol, float(p.amount), float(p.entry_price), float(p.realized_pnl), float(p.fees),
            float(p.funding), float(p.leverage), int(p.opened_ts), int(ts)))

    def set_account(self, key: str, value: Any) -> None:
        """Cash balance, start-of-day equity, halt reason...: any JSON value. Durable on return."""
        self._commit_now("INSERT OR REPLACE INTO account (key, value) VALUES (?, ?)", (key, _dumps(value)))

    def get_account(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM account WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def upsert_algo(self, state: dict[str, Any], params: dict[str, Any] | None = None) -> None:
        """An execution algorithm's parent state (with its `params` when it starts); durable on return."""
        vals, sql = algo_row(state, params)
        self._commit_now(sql, vals)

    def algos(self) -> list[dict[str, Any]]:
        """Every journaled algorithm as a state dict (`params`, `extra` decoded), in start order."""
        rows = self.conn.execute(f"SELECT {', '.join(ALGO_COLUMNS)} FROM algos ORDER BY start_ts, rowid")
        return [algo_from_row(r) for r in rows]

    # -- the recorder's entry point

    def record(self, event: Any, *, source: str = "") -> bool:
        """Store any model record if its kind is being recorded; False when skipped or unstorable
        (tickers have no table). Signals are taken from `virtuoso_tui.prism.face.Signal`."""
        kind = _KIND_NAME.get(type(event))
        if kind is not None:
            if kind in self.kinds:
                self._write_records([event], source)
                return True
            return False
        if isinstance(event, Alert):
            if "alerts" in self.kinds:
                self.write_alert(event)
                return True
            return False
        if isinstance(event, (Order, Fill)):
            if "orders" not in self.kinds:
                return False
            if isinstance(event, Order):
                self.upsert_order(event)
            else:
                self.insert_fill(event)
            return True
        if type(event).__name__ == "Signal" and hasattr(event, "faces"):
            if "signals" not in self.kinds:
                return False
            faces = {name: getattr(result, "score", result) for name, result in event.faces.items()}
            self.write_signal(event.symbol, event.ts, event.score, event.side, event.confidence, faces)
            return True
        return False

    # -- readers

    def read_candles(self, symbol: str, timeframe: str, start: int | None = None,
                     end: int | None = None) -> dict[str, np.ndarray]:
        """Candles with open time in [start, end) ms, oldest first: `ts` and `trades` int64; open,
        high, low, close, volume, buy_volume float64 (NaN where unknown). No rows -> empty arrays."""
        sql = ("SELECT ts, open, high, low, close, volume, buy_volume, trades FROM candles "
               "WHERE symbol = ? AND timeframe = ?")
        args: list[Any] = [symbol, timeframe]
        if start is not None:
            sql += " AND ts >= ?"
            args.append(int(start))
        if end is not None:
            sql += " AND ts < ?"
            args.append(int(end))
        rows = [tuple(r) for r in self.conn.execute(sql + " ORDER BY ts", args)]
        names = ("ts", "open", "high", "low", "close", "volume", "buy_volume", "trades")
        if not rows:
            return {n: np.empty(0, np.int64 if n in ("ts", "trades") else np.float64) for n in names}
        cols = list(zip(*rows, strict=True))
        out = {n: np.array(c, dtype=np.float64) for n, c in zip(names[1:-1], cols[1:-1], strict=True)}
        out["ts"] = np.array(cols[0], dtype=np.int64)
        out["trades"] = np.array(cols[-1], dtype=np.int64)
        return {n: out[n] for n in names}

    def iter_recorded(self, symbols: Sequence[str] | None = None, start: int | None = None,
                      end: int | None = None, kinds: Iterable[str] | None = None) -> Iterator[Any]:
        """Recorded market records in [start, end) ms, merged across tables in timestamp order, for
        replay. A candle is placed at its CLOSE time (open ts + timeframe), when it became known, so
        a replay never shows a candle before the trades inside it. `kinds` limits the record kinds
        (RECORD_KINDS names; None = every market kind). Same-ts ties: candles, book snapshots, book
        deltas, trades, funding, OI, liquidations, long/short; then insertion order."""
        wanted = set(kinds) if kinds is not None else set(_KIND_NAME.values())
        streams = []
        for rank, cls in enumerate(_REPLAY_ORDER):
            if _KIND_NAME[cls] not in wanted:
                continue
            if cls is Candle:
                for tf in self._timeframes(symbols):
                    streams.append(self._stream(_KINDS[cls], rank, symbols, start, end, tf))
            else:
                streams.append(self._stream(_KINDS[cls], rank, symbols, start, end))
        for _, record in heapq.merge(*streams, key=lambda item: item[0]):
            yield record

    def _timeframes(self, symbols: Sequence[str] | None) -> list[str]:
        sql, args = "SELECT DISTINCT timeframe FROM candles", []
        if symbols is not None:
            sql += f" WHERE symbol IN ({', '.join('?' * len(symbols))})"
            args = list(symbols)
        return [r[0] for r in self.conn.execute(sql, args)]

    def _stream(self, kind: _Kind, rank: int, symbols: Sequence[str] | None, start: int | None,
                end: int | None, timeframe: str | None = None) -> Iterator[tuple[tuple, Any]]:
        shift = TIMEFRAMES.get(timeframe, 0) if timeframe else 0
        where, args = [], []
        if timeframe is not None:
            where.append("timeframe = ?")
            args.append(timeframe)
        if symbols is not None:
            where.append(f"symbol IN ({', '.join('?' * len(symbols))})")
            args.extend(symbols)
        if start is not None:
            where.append("ts >= ?")
            args.append(int(start) - shift)
        if end is not None:
            where.append("ts < ?")
            args.append(int(end) - shift)
        sql = f"SELECT rowid, {', '.join(kind.columns)} FROM {kind.table}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        for row in self.conn.execute(sql + " ORDER BY ts, rowid", args):
            record = kind.from_row(tuple(row)[1:])
            yield (record.ts + shift, rank, shift, row[0]), record

    def orders(self, symbol: str | None = None) -> list[Order]:
        sql, args = "SELECT * FROM orders", []
        if symbol is not None:
            sql, args = sql + " WHERE symbol = ?", [symbol]
        return [_order_from_row(r) for r in self.conn.execute(sql + " ORDER BY created_ts, rowid", args)]

    def open_orders(self) -> list[Order]:
        """Orders not yet filled, cancelled, rejected or expired: what a restart must reconcile."""
        return [o for o in self.orders() if o.status.is_open]

    def order_events(self, client_id: str) -> list[OrderEvent]:
        rows = self.conn.execute("SELECT client_id, ts, status, filled, average_price, reason FROM order_events "
                                 "WHERE client_id = ? ORDER BY id", (client_id,))
        return [OrderEvent(r[0], r[1], OrderStatus(r[2]), r[3], r[4], r[5]) for r in rows]

    def fills(self, client_id: str | None = None) -> list[Fill]:
        sql, args = f"SELECT {', '.join(_FILL_COLUMNS)} FROM fills", []
        if client_id is not None:
            sql, args = sql + " WHERE client_id = ?", [client_id]
        return [Fill(client_id=r[1], symbol=r[2], side=r[3], ts=r[4], price=r[5], amount=r[6], fee=r[7],
                     liquidity=r[8], fill_id=r[0]) for r in self.conn.execute(sql + " ORDER BY ts, rowid", args)]

    def positions(self) -> dict[str, Position]:
        rows = self.conn.execute(f"SELECT {', '.join(_POSITION_COLUMNS)} FROM positions ORDER BY symbol")
        return {r[0]: Position(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows}

    def signals(self, symbol: str, start: int | None = None, end: int | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT symbol, ts, score, side, confidence, faces FROM signals WHERE symbol = ?", [symbol]
        if start is not None:
            sql, args = sql + " AND ts >= ?", [*args, int(start)]
        if end is not None:
            sql, args = sql + " AND ts < ?", [*args, int(end)]
        return [{**dict(r), "faces": json.loads(r["faces"])} for r in self.conn.execute(sql + " ORDER BY ts, rowid", args)]

    def alerts(self, limit: int = 100) -> list[Alert]:
        rows = self.conn.execute("SELECT ts, level, message, source, symbol, data FROM alerts "
                                 "ORDER BY ts DESC, rowid DESC LIMIT ?", (limit,))
        return [Alert(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows][::-1]

    def equity(self) -> tuple[np.ndarray, np.ndarray]:
        rows = self.conn.execute("SELECT ts, equity FROM equity ORDER BY ts, rowid").fetchall()
        return (np.array([r[0] for r in rows], dtype=np.int64), np.array([r[1] for r in rows], dtype=np.float64))

    # -- backtests

    def save_backtest_run(self, *, kind: str, strategy: str, params: Mapping[str, Any], symbol: str,
                          timeframe: str, data: str, metrics: Mapping[str, Any],
                          trades: Iterable[Any] = (), equity: Any = (), created: int | None = None) -> int:
        """Store a run with its trades (mappings or objects with the backtest_trades fields) and its
        equity curve ((ts, equity) pairs, or a mapping with `ts` and `equity` arrays), in one
        transaction; returns the run id. `created` in ms, default now."""
        if isinstance(equity, Mapping):
            equity = zip(equity["ts"], equity["equity"], strict=True)
        created = int(time.time() * 1000) if created is None else int(created)
        with self.db.atomic():
            cur = self.conn.execute(
                _insert("backtest_runs", ("created", "kind", "strategy", "params", "symbol", "timeframe",
                                          "data", "metrics")),
                (created, kind, strategy, _dumps(dict(params)), symbol, timeframe, data, _dumps(dict(metrics))))
            run_id = int(cur.lastrowid)
            rows = []
            for t in trades:
                get = t.get if isinstance(t, Mapping) else (lambda name, t=t: getattr(t, name))
                rows.append((run_id, int(get("entry_ts")), _opt(get("exit_ts"), int), get("side"),
                             float(get("amount")), float(get("entry_price")), _opt(get("exit_price")),
                             _opt(get("pnl")), float(get("fees") or 0.0)))
            self.conn.executemany(_insert("backtest_trades", ("run_id", *_BT_TRADE_COLUMNS)), rows)
            self.conn.executemany(_insert("backtest_equity", ("run_id", "ts", "equity")),
                                  [(run_id, int(ts), float(eq)) for ts, eq in equity])
        return run_id

    def backtest_runs(self) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT * FROM backtest_runs ORDER BY id")
        return [{**dict(r), "params": json.loads(r["params"]), "metrics": json.loads(r["metrics"])} for r in rows]

    def backtest_run(self, run_id: int) -> dict[str, Any]:
        """One run with `trades` (list of dicts) and `equity` ({"ts": int64, "equity": float64})."""
        runs = [r for r in self.backtest_runs() if r["id"] == run_id]
        if not runs:
            raise StorageError(f"no backtest run with id {run_id}")
        run = runs[0]
        run["trades"] = [dict(zip(_BT_TRADE_COLUMNS, tuple(r), strict=True)) for r in self.conn.execute(
            f"SELECT {', '.join(_BT_TRADE_COLUMNS)} FROM backtest_trades WHERE run_id = ? ORDER BY rowid",
            (run_id,))]
        eq = self.conn.execute("SELECT ts, equity FROM backtest_equity WHERE run_id = ? ORDER BY rowid",
                               (run_id,)).fetchall()
        run["equity"] = {"ts": np.array([r[0] for r in eq], dtype=np.int64),
                         "equity": np.array([r[1] for r in eq], dtype=np.float64)}
        return run

    # -- retention

    def prune(self, now_ms: int) -> int:
        """Delete market data (candles, trades, books, funding, OI, liquidations, long/short) older
        than `retention_days` before `now_ms`; orders, fills, positions, signals, alerts, equity and
        backtests are kept. Returns rows deleted; retention_days 0 keeps everything."""
        if self.retention_days <= 0:
            return 0
        cutoff = int(now_ms) - self.retention_days * 86_400_000
        deleted = 0
        with self.db.atomic():
            for table in MARKET_TABLES:
                deleted += self.conn.execute(f"DELETE FROM {table} WHERE ts < ?", (cutoff,)).rowcount
        return deleted
