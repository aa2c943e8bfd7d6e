"""Candles in: files in the layouts found in ../shared/data, the SQLite store, and the simulated market.

The simulated market comes two ways: `from_sim` draws candles from the sim's candle-level model
(virtuoso_sim.history, vectorised: thousands of candles in milliseconds; optionally at a base timeframe
folded up, so all timeframes show one market), and `sim_events` streams the tick-level market's records
(trades, books, funding ...) lazily for recording backtests (`--events`), with `from_sim_ticks` folding
that stream into candles in bounded memory.

Every loader returns `Candles`: numpy columns (ts int64 ms UTC of the candle's OPEN, float64 open, high,
low, close, volume) sorted by time, plus the `DataWarning`s found on the way. Gaps and duplicate
timestamps are reported, never filled: a duplicate keeps its first row, a gap stays a gap, a row whose
price is missing is dropped and named. A file that cannot be read raises one `DataError` naming the
file and why. Pandas is used here to parse files (never on a backtest's hot path); the engine
(engine.py) and the vectorised path (vector.py) only see the arrays.

Layouts recognised (`detect_layout` names them):
  freqtrade-feather  columns date (tz-aware), open, high, low, close, volume
  freqtrade-json     [[ts_ms, o, h, l, c, v], ...] in .json or .json.gz
  records-json       [{"time"|"date"|"timestamp": ..., "open": ..., ...}, ...] (poloniex: unix seconds)
  csv-header         any order of open/high/low/close/volume plus a time column named
                     timestamp/date/time/datetime/open_time (nautilus, finta, ...)
  binance-kline-csv  the headerless 12-column data.binance.vision kline layout
"""

from __future__ import annotations

import gzip
import json
import logging
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from virtuoso_tui.model import TIMEFRAMES

log = logging.getLogger(__name__)

PRICE_COLUMNS = ("open", "high", "low", "close")
TIME_COLUMNS = ("date", "timestamp", "time", "datetime", "open_time", "ts")
#: Integer epochs below this are seconds, below _US_FROM milliseconds, else microseconds.
_MS_FROM = 10**11
_US_FROM = 10**14


class DataError(Exception):
    """A candle source that cannot be read; the message names the file (or source) and why."""


@dataclass(frozen=True, slots=True)
class DataWarning:
    """Something odd in the data that the backtest runs through rather than hides.

    kind: "gap" (missing candles between ts and ts + span_ms), "duplicate" (rows sharing ts; the
    first kept), "missing_price" (a row without a price, dropped), "unsorted" (rows re-ordered).
    """

    kind: str
    ts: int
    count: int
    message: str


@dataclass(slots=True)
class Candles:
    """Whole-history OHLCV columns of one market; ts is the candle open time, int64 ms UTC."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    symbol: str = ""
    timeframe: str = ""
    source: str = ""
    warnings: list[DataWarning] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    def slice(self, start: int, stop: int | None = None) -> Candles:
        """Rows [start, stop) as a new Candles sharing memory (warnings are not carried)."""
        s = np.s_[start:stop]
        return Candles(self.ts[s], self.open[s], self.high[s], self.low[s], self.close[s],
                       self.volume[s], self.symbol, self.timeframe, self.source)

    def between(self, start_ms: int | None = None, end_ms: int | None = None) -> Candles:
        """Candles whose open time is in [start_ms, end_ms] (either bound optional)."""
        lo = 0 if start_ms is None else int(np.searchsorted(self.ts, start_ms, side="left"))
        hi = len(self) if end_ms is None else int(np.searchsorted(self.ts, end_ms, side="right"))
        out = self.slice(lo, hi)
        out.warnings = [w for w in self.warnings
                        if (start_ms is None or w.ts >= start_ms) and (end_ms is None or w.ts <= end_ms)]
        return out


def parse_time(text: str) -> int:
    """A --from/--to value (ISO date or datetime, naive = UTC, or epoch ms) -> int ms UTC."""
    text = text.strip()
    if text.lstrip("-").isdigit():
        value = int(text)
        return _epoch_to_ms(np.array([value], dtype=np.int64))[0].item()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise DataError(f"cannot read the time {text!r}: use an ISO date like 2024-03-01 or 2024-03-01T12:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _epoch_to_ms(values: np.ndarray) -> np.ndarray:
    """Integer or float epochs in s, ms or µs (decided by magnitude of the first value) -> int64 ms."""
    if values.size == 0:
        return values.astype(np.int64)
    first = abs(float(values[0]))
    if first < _MS_FROM:
        return np.round(values.astype(np.float64) * 1000.0).astype(np.int64)
    if first < _US_FROM:
        return values.astype(np.int64)
    return (values.astype(np.int64) // 1000).astype(np.int64)


def _frame_time_ms(col) -> np.ndarray:
    """A pandas Series of datetimes, date strings or epochs -> int64 ms UTC."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(col):
        return _epoch_to_ms(col.to_numpy())
    stamps = pd.to_datetime(col, utc=True)
    return stamps.to_numpy(dtype="datetime64[ms]").astype(np.int64)


def detect_layout(path: Path) -> str:
    """Name the layout of a candle file (see the module docstring); DataError when none fits."""
    name = path.name.lower()
    if name.endswith((".feather", ".arrow")):
        return "freqtrade-feather"
    if name.endswith((".parquet",)):
        return "parquet"
    if name.endswith((".json", ".json.gz")):
        head = _read_text(path, 4096).lstrip()
        if head.startswith("[["):
            return "freqtrade-json"
        if head.startswith("[{") or head.startswith("["):
            return "records-json"
        raise DataError(f"{path}: JSON candles must be a list of [ts, o, h, l, c, v] rows or of objects")
    if name.endswith((".csv", ".csv.gz", ".txt")):
        first = _read_text(path, 4096).splitlines()[:1]
        if not first:
            raise DataError(f"{path}: the file is empty")
        cells = [c.strip().lower() for c in first[0].split(",")]
        if cells and cells[0].replace(".", "", 1).isdigit():
            if len(cells) >= 12:
                return "binance-kline-csv"
            if len(cells) >= 6:
                return "headerless-ohlcv-csv"
            raise DataError(f"{path}: a headerless CSV needs at least ts,open,high,low,close,volume columns")
        return "csv-header"
    raise DataError(f"{path}: unknown candle file type (expected .csv, .json, .json.gz, .feather or .parquet)")


def _read_text(path: Path, limit: int | None = None) -> str:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            return fh.read(limit) if limit else fh.read()
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise DataError(f"{path}: cannot read the file ({exc})") from exc


def load_candles(path: str | Path, *, symbol: str = "", timeframe: str = "",
                 start_ms: int | None = None, end_ms: int | None = None) -> Candles:
    """Load a candle file in any recognised layout, check it, and cut it to [start_ms, end_ms].

    The timeframe, when not given, is inferred from the most common spacing of the timestamps.
    Raises DataError (naming the file) when the file is missing, unreadable, lacks a price column or
    holds no candle.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    layout = detect_layout(path)
    try:
        ts, cols = _LOADERS[layout](path)
    except DataError:
        raise
    except Exception as exc:  # pandas/pyarrow/json raise many types; the user needs one sentence
        raise DataError(f"{path}: cannot read it as {layout} ({type(exc).__name__}: {exc})") from exc
    candles = from_arrays(ts, cols, symbol=symbol, timeframe=timeframe, source=str(path))
    if not len(candles):
        raise DataError(f"{path}: holds no candle")
    return candles.between(start_ms, end_ms)


def _load_frame(path: Path, layout: str):
    import pandas as pd

    if layout == "freqtrade-feather":
        return pd.read_feather(path)
    if layout == "parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path)


def _columns_from_frame(frame, path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    lower = {str(c).strip().lower(): c for c in frame.columns}
    missing = [c for c in PRICE_COLUMNS if c not in lower]
    if missing:
        raise DataError(f"{path}: no {missing[0]!r} column (columns: {', '.join(map(str, frame.columns))})")
    time_col = next((lower[c] for c in TIME_COLUMNS if c in lower), None)
    if time_col is None:
        raise DataError(f"{path}: no time column (looked for {', '.join(TIME_COLUMNS)})")
    ts = _frame_time_ms(frame[time_col])
    cols = {c: frame[lower[c]].to_numpy(dtype=np.float64) for c in PRICE_COLUMNS}
    cols["volume"] = (frame[lower["volume"]].to_numpy(dtype=np.float64) if "volume" in lower
                      else np.full(len(frame), np.nan))
    return ts, cols


def _load_table(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    return _columns_from_frame(_load_frame(path, detect_layout(path)), path)


def _load_list_json(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rows = json.loads(_read_text(path))
    if not isinstance(rows, list):
        raise DataError(f"{path}: expected a JSON list of candles")
    if rows and isinstance(rows[0], dict):
        import pandas as pd

        return _columns_from_frame(pd.DataFrame.from_records(rows), path)
    table = np.asarray(rows, dtype=np.float64)
    if table.ndim != 2 or table.shape[1] < 6:
        raise DataError(f"{path}: candle rows must be [ts, open, high, low, close, volume]")
    return _epoch_to_ms(table[:, 0].astype(np.int64)), {
        "open": table[:, 1], "high": table[:, 2], "low": table[:, 3], "close": table[:, 4],
        "volume": table[:, 5]}


def _load_headerless(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    table = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    return _epoch_to_ms(table[:, 0].astype(np.int64)), {
        "open": table[:, 1], "high": table[:, 2], "low": table[:, 3], "close": table[:, 4],
        "volume": table[:, 5]}


_LOADERS = {
    "freqtrade-feather": _load_table,
    "parquet": _load_table,
    "csv-header": _load_table,
    "freqtrade-json": _load_list_json,
    "records-json": _load_list_json,
    "binance-kline-csv": _load_headerless,
    "headerless-ohlcv-csv": _load_headerless,
}


def infer_timeframe(ts: np.ndarray) -> str:
    """The timeframe whose length is the most common spacing of `ts` ("" when none matches)."""
    if ts.shape[0] < 2:
        return ""
    steps, counts = np.unique(np.diff(ts), return_counts=True)
    step = int(steps[np.argmax(counts)])
    return next((name for name, ms in TIMEFRAMES.items() if ms == step), "")


def from_arrays(ts: np.ndarray, cols: dict[str, np.ndarray], *, symbol: str = "", timeframe: str = "",
                source: str = "") -> Candles:
    """Check and assemble raw columns: sort, drop rows without a price, keep the first of duplicates,
    report gaps. Every change made is returned as a DataWarning and logged."""
    ts = np.asarray(ts, dtype=np.int64)
    cols = {k: np.asarray(cols[k], dtype=np.float64) for k in (*PRICE_COLUMNS, "volume")}
    warnings: list[DataWarning] = []
    where = source or symbol or "candles"

    def warn(kind: str, at: int, count: int, message: str, *, quiet: bool = False) -> None:
        warnings.append(DataWarning(kind, at, count, message))
        if not quiet:
            log.warning("%s: %s", where, message)

    bad = np.zeros(ts.shape[0], dtype=bool)
    for name in PRICE_COLUMNS:
        bad |= ~np.isfinite(cols[name])
    if bad.any():
        first = int(ts[np.argmax(bad)])
        warn("missing_price", first, int(bad.sum()),
             f"{int(bad.sum())} rows without a price dropped (first at {_iso(first)})")
        keep = ~bad
        ts = ts[keep]
        cols = {k: v[keep] for k, v in cols.items()}
    if ts.shape[0] > 1 and np.any(np.diff(ts) < 0):
        order = np.argsort(ts, kind="stable")
        ts = ts[order]
        cols = {k: v[order] for k, v in cols.items()}
        warn("unsorted", int(ts[0]), int(ts.shape[0]), "rows were not in time order; sorted")
    if ts.shape[0] > 1:
        dup = np.concatenate(([False], ts[1:] == ts[:-1]))
        if dup.any():
            first = int(ts[np.argmax(dup)])
            warn("duplicate", first, int(dup.sum()),
                 f"{int(dup.sum())} duplicate timestamps, first kept (first at {_iso(first)})")
            keep = ~dup
            ts = ts[keep]
            cols = {k: v[keep] for k, v in cols.items()}
    timeframe = timeframe or infer_timeframe(ts)
    if timeframe and ts.shape[0] > 1:
        step = TIMEFRAMES.get(timeframe)
        if step:
            spacing = np.diff(ts)
            holes = np.nonzero(spacing > step)[0]
            for i in holes[:50]:
                missing = int(spacing[i] // step) - 1
                warn("gap", int(ts[i]), missing,
                     f"gap of {missing} {timeframe} candles after {_iso(int(ts[i]))}", quiet=True)
            if holes.shape[0] > 50:
                warn("gap", int(ts[holes[50]]), int(holes.shape[0] - 50),
                     f"{holes.shape[0] - 50} more gaps not listed", quiet=True)
            if holes.shape[0]:
                log.warning("%s: %d gaps in the %s candles (first after %s); not filled", where,
                            holes.shape[0], timeframe, _iso(int(ts[holes[0]])))
    return Candles(ts, cols["open"], cols["high"], cols["low"], cols["close"], cols["volume"],
                   symbol, timeframe, source, warnings)


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def from_storage(storage, symbol: str, timeframe: str, *, start_ms: int | None = None,
                 end_ms: int | None = None) -> Candles:
    """Candles from the SQLite store through `Storage.read_candles` (storage.py).

    Accepts the reply as a dict of arrays/lists or as a sequence of Candle records. DataError when the
    store holds none for the symbol and timeframe.
    """
    # the store's end bound is exclusive; --to is inclusive
    reply = storage.read_candles(symbol, timeframe, start_ms, None if end_ms is None else end_ms + 1)
    if isinstance(reply, dict):
        ts = np.asarray(reply["ts"], dtype=np.int64)
        cols = {k: np.asarray(reply[k], dtype=np.float64) for k in (*PRICE_COLUMNS, "volume")}
    else:
        rows = list(reply)
        ts = np.array([r.ts for r in rows], dtype=np.int64)
        cols = {k: np.array([getattr(r, k) for r in rows], dtype=np.float64) for k in (*PRICE_COLUMNS, "volume")}
    if ts.shape[0] == 0:
        raise DataError(f"the store holds no {timeframe} candles for {symbol}")
    return from_arrays(ts, cols, symbol=symbol, timeframe=timeframe, source="storage").between(start_ms, end_ms)


def from_candle_records(records, *, symbol: str = "", timeframe: str = "", source: str = "") -> Candles:
    """Closed Candle records (a source's output) -> Candles; forming candles are skipped."""
    rows = [r for r in records if getattr(r, "closed", True)]
    ts = np.array([r.ts for r in rows], dtype=np.int64)
    cols = {k: np.array([getattr(r, k) for r in rows], dtype=np.float64) for k in (*PRICE_COLUMNS, "volume")}
    return from_arrays(ts, cols, symbol=symbol, timeframe=timeframe, source=source)


def sim_events(symbol: str, seconds: float, *, seed: int = 7) -> Iterator[Any]:
    """The seeded simulated market's records (trades, book, tickers, funding ...) for `seconds` of
    market time, streamed: a generator drawing each 100 ms step only when it is read, so a consumer
    (replay.run_recording, `from_sim_ticks`) holds what it keeps and never the whole session.
    DataError when virtuoso_sim is missing or cannot run the symbol."""
    try:
        from virtuoso_sim import SimMarket
    except ImportError as exc:
        raise DataError("the simulated market (virtuoso_sim) is not installed") from exc
    try:
        market = SimMarket([symbol], seed=seed)
    except ValueError as exc:
        raise DataError(f"the simulated market cannot run {symbol!r}: {exc}") from exc
    return market.run(seconds)


def from_sim(symbol: str, timeframe: str, *, bars: int = 1000, seed: int = 7, base: str | None = None,
             end_ts: int | None = None, price: float | None = None) -> Candles:
    """`bars` closed candles of the seeded simulated market from its candle-level model
    (virtuoso_sim.history: regimes, GARCH volatility, fat tails and jumps drawn per candle, vectorised;
    thousands of candles in milliseconds), ending at `end_ts` (ms; default the live sim's start).

    base: draw the history at this lower timeframe and aggregate it to `timeframe`
    (market/candles.resample, whole buckets only), so every timeframe built on one base shows the same
    market (a 1h run's candles are exactly the 15m run's candles folded by four). None draws `timeframe`
    directly. Identical arguments give identical candles. DataError when virtuoso_sim is missing or the
    arguments are refused. `from_sim_ticks` builds candles from the tick-level market instead.
    """
    from virtuoso_tui.model import timeframe_ms

    try:
        from virtuoso_sim import history
    except ImportError as exc:
        raise DataError("the simulated market (virtuoso_sim) is not installed") from exc
    period = timeframe_ms(timeframe)
    draw_tf, ratio = timeframe, 1
    if base is not None and base != timeframe:
        base_ms = timeframe_ms(base)
        if base_ms > period or period % base_ms:
            raise DataError(f"the sim base timeframe {base} must divide {timeframe}")
        draw_tf, ratio = base, period // base_ms
    if end_ts is None:
        from virtuoso_sim.profiles import DEFAULT_START_TS

        end_ts = DEFAULT_START_TS
    # end on a `timeframe` boundary, so the base candles fill whole buckets and none is dropped
    end_ts = int(end_ts) - int(end_ts) % period
    try:
        raw = history(symbol, draw_tf, bars * ratio if isinstance(bars, int) else bars, seed, end_ts, price)
    except ValueError as exc:
        raise DataError(f"the simulated market cannot draw {bars!r} {timeframe} candles of {symbol!r}: {exc}") \
            from exc
    if ratio > 1:
        from virtuoso_tui.market.candles import resample

        raw = resample(raw["ts"], raw["open"], raw["high"], raw["low"], raw["close"], raw["volume"], period,
                       from_ms=timeframe_ms(draw_tf))
    where = f"sim(seed={seed}" + (f", base={base})" if ratio > 1 else ")")
    return from_arrays(raw["ts"], raw, symbol=symbol, timeframe=timeframe, source=where)


#: Trades gathered before the completed candles among them are folded (bounds from_sim_ticks' memory
#: to one chunk plus the trades of one candle period).
TICK_CHUNK = 65_536


def from_sim_ticks(symbol: str, timeframe: str, *, bars: int = 1000, seed: int = 7) -> Candles:
    """Candles folded from the tick-level simulated market's trades over `bars` periods of market time
    (market/candles.candles_from_trades), streamed: trades are read from `sim_events` in chunks and every
    candle is folded from all its trades at once, so the result equals folding the whole session in one
    call while memory stays at one chunk plus one period's trades. Slow (the order book is stepped every
    100 ms): `from_sim` is the way to get many candles; this one matches a `--events` replay of the same
    seed candle for candle. A period without trades has no candle (reported as a gap)."""
    from virtuoso_tui.market.candles import candles_from_trades
    from virtuoso_tui.model import Trade, timeframe_ms

    period = timeframe_ms(timeframe)
    parts: list[dict[str, np.ndarray]] = []
    t_ts: list[int] = []
    t_px: list[float] = []
    t_amt: list[float] = []

    def fold(upto: int) -> None:
        """Fold the first `upto` gathered trades (whole candles) and drop them."""
        parts.append(candles_from_trades(np.array(t_ts[:upto], dtype=np.int64), np.array(t_px[:upto]),
                                         np.array(t_amt[:upto]), None, period))
        del t_ts[:upto], t_px[:upto], t_amt[:upto]

    for event in sim_events(symbol, bars * period / 1000.0, seed=seed):
        if type(event) is not Trade:
            continue
        t_ts.append(event.ts)
        t_px.append(event.price)
        t_amt.append(event.amount)
        if len(t_ts) >= TICK_CHUNK:
            last_bucket = t_ts[-1] - t_ts[-1] % period
            cut = bisect_left(t_ts, last_bucket)   # trades of the newest candle wait for the rest of it
            if cut:
                fold(cut)
    if t_ts:
        fold(len(t_ts))
    if not parts:
        raise DataError(f"the simulated market produced no {symbol} trades")
    raw = {k: np.concatenate([p[k] for p in parts]) for k in ("ts", *PRICE_COLUMNS, "volume")}
    return from_arrays(raw["ts"], raw, symbol=symbol, timeframe=timeframe, source=f"sim-ticks(seed={seed})")


def load_funding(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Settled funding (ts int64 ms, rate fraction per interval) from a freqtrade `*-funding_rate`
    file, where the rate is in the `open` column; DataError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    layout = detect_layout(path)
    try:
        ts, cols = _LOADERS[layout](path)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{path}: cannot read funding rates ({type(exc).__name__}: {exc})") from exc
    order = np.argsort(ts, kind="stable")
    return ts[order], cols["open"][order]


def guess_symbol(path: str | Path) -> str:
    """A ccxt symbol from a freqtrade file name (BTC_USDT-1h.feather -> BTC/USDT,
    BTC_USDT_USDT-1h-futures.feather -> BTC/USDT:USDT); "" when the name does not say."""
    stem = Path(path).name.split("-")[0]
    parts = stem.split("_")
    if len(parts) == 2 and all(p.isalnum() and p.isupper() for p in parts):
        return f"{parts[0]}/{parts[1]}"
    if len(parts) == 3 and all(p.isalnum() and p.isupper() for p in parts):
        return f"{parts[0]}/{parts[1]}:{parts[2]}"
    return ""
