"""The `replay` source: plays recorded market data back through the engine.

What it reads (`[sources.replay] path = ...` or `--source replay` with `path` in the options):
- a Virtuoso SQLite database (`.db`, `.sqlite`): everything `virtuoso record` or a live session stored —
  trades, book snapshots and deltas, candles, funding, open interest, liquidations, long/short — merged in
  timestamp order, so the full prism (orderflow and orderbook included) can be replayed and backtested;
- a candle file (feather, CSV, JSON, JSON.gz in the layouts of ../shared/data), played as closed candles of
  its timeframe;
- a trades file (freqtrade trades feather/CSV: timestamp, id, side, price, amount), played as trades with
  their aggressor side.
Pacing: `speed` 1 = as recorded, 10 = ten times faster, 0 = as fast as possible. Records of symbols not
asked for are skipped. A file that cannot be read is one clear SourceError.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from virtuoso_tui import hookimpl
from virtuoso_tui.market.source import Source, SourceError
from virtuoso_tui.model import Candle, Trade

__version__ = "0.1.0"

_DB_SUFFIXES = {".db", ".sqlite", ".sqlite3"}


def _trade_records(path: Path, symbol: str) -> Iterator[Trade]:
    import pandas as pd

    try:
        frame = pd.read_feather(path) if path.suffix == ".feather" else pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure is the same user error
        raise SourceError(f"cannot read trades file {path}: {exc}") from None
    missing = {"timestamp", "side", "price", "amount"} - set(frame.columns)
    if missing:
        raise SourceError(f"trades file {path} has no column {sorted(missing)[0]!r}")
    ts = frame["timestamp"].to_numpy(dtype=np.int64)
    price = frame["price"].to_numpy(dtype=np.float64)
    amount = frame["amount"].to_numpy(dtype=np.float64)
    sides = frame["side"].astype(str).str.lower().to_numpy()
    ids = frame["id"].astype(str).to_numpy() if "id" in frame.columns else [None] * len(frame)
    for i in range(len(frame)):
        side = sides[i] if sides[i] in ("buy", "sell") else None
        yield Trade(symbol, int(ts[i]), float(price[i]), float(amount[i]), side, ids[i])


def _candle_records(path: Path, symbol: str, timeframe: str) -> Iterator[Candle]:
    from virtuoso_tui.backtest.data import DataError, load_candles

    try:
        data = load_candles(path, symbol=symbol, timeframe=timeframe)
    except DataError as exc:
        raise SourceError(str(exc)) from None
    tf = data.timeframe
    bv = data.buy_volume if getattr(data, "buy_volume", None) is not None else np.full(len(data), np.nan)
    for i in range(len(data)):
        yield Candle(symbol, tf, int(data.ts[i]), float(data.open[i]), float(data.high[i]), float(data.low[i]),
                     float(data.close[i]), float(data.volume[i]), float(bv[i]))


def _looks_like_trades(path: Path) -> bool:
    return "trades" in path.name.lower()


class ReplaySource(Source):
    name = "replay"
    provides = frozenset({"trades", "book", "candles", "ticker", "funding", "open_interest", "liquidations",
                          "long_short"})

    def __init__(self, symbols, options: dict[str, Any] | None = None) -> None:
        super().__init__(symbols, options)
        path = self.options.get("path")
        if not path:
            raise SourceError("the replay source needs a path: [sources.replay] path = \"recording.db\"")
        self.path = Path(str(path)).expanduser()
        if not self.path.exists():
            raise SourceError(f"replay file {self.path} does not exist")
        self.speed = float(self.options.get("speed", 0.0))
        self.start = self.options.get("start")
        self.end = self.options.get("end")
        self._storage = None

    def records(self) -> Iterator[Any]:
        """All records in timestamp order, unpaced (the backtester uses this directly)."""
        if self.path.suffix in _DB_SUFFIXES:
            from virtuoso_tui.storage import Storage

            self._storage = Storage(str(self.path))
            yield from self._storage.iter_recorded(self.symbols, self.start, self.end)
            return
        symbol = self.symbols[0] if self.symbols else self.path.stem
        if _looks_like_trades(self.path):
            yield from _trade_records(self.path, symbol)
        else:
            yield from _candle_records(self.path, symbol, str(self.options.get("timeframe", "")))

    async def events(self) -> AsyncIterator[Any]:
        first_ts: int | None = None
        t0 = time.monotonic()
        for n, record in enumerate(self.records()):
            if self.symbols and record.symbol not in self.symbols:
                continue
            if self.speed > 0:
                if first_ts is None:
                    first_ts = record.ts
                due = (record.ts - first_ts) / 1000.0 / self.speed
                delay = due - (time.monotonic() - t0)
                if delay > 0:
                    await asyncio.sleep(delay)
            elif n % 512 == 0:
                await asyncio.sleep(0)
            yield record

    async def close(self) -> None:
        if self._storage is not None:
            self._storage.close()
            self._storage = None


@hookimpl
def virtuoso_sources(config):
    return [ReplaySource]
