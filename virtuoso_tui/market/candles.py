"""Candles: one CandleSeries per timeframe, plus the batch resampling the backtester and tests use.

A CandleSeries holds CLOSED candles in a RingBuffer (ts int64 open time in ms UTC; open, high, low,
close, volume, buy_volume float64; trades int64) and one FORMING candle as plain scalars. It is fed
three ways, all driven by MarketState (state.py):
  * `add_trade`  - the base timeframe built from trades (OHLCV, taker-buy volume, trade count);
  * `fold`       - a higher timeframe aggregated from CLOSED lower candles (never sampled);
  * `append` / `set_forming` - candles a source gives directly (exchange klines), stored as they are;
  * `rebuild` - a higher candle recomputed from the lower series after a lower kline was corrected.

Buckets are UTC aligned: a candle's open time is floor(ts / period) * period. Missing is missing: a
period with no trades produces NO candle (the series has a gap, never an invented flat candle), and
aggregation over gaps folds whatever lower candles exist in the bucket. Volume units are the source's
(base units for trades; whatever the kline file holds otherwise).

`buy_volume` is the taker-buy base volume: trades whose aggressor bought add their amount, sells add 0,
and a trade whose aggressor is unknown (side None) makes the candle's buy_volume NaN - an unknown part
cannot be guessed, so the whole sum is unknown. Aggregation propagates NaN the same way.

`resample` is the batch twin of `fold` (arrays in, arrays out, pure numpy); `candles_from_trades` is
the batch twin of `add_trade`.
"""

from __future__ import annotations

import numpy as np

from virtuoso_tui.market.ringbuffer import RingBuffer
from virtuoso_tui.model.market import Candle, timeframe_ms

CANDLE_COLUMNS: dict[str, type] = {
    "ts": np.int64,
    "open": np.float64,
    "high": np.float64,
    "low": np.float64,
    "close": np.float64,
    "volume": np.float64,
    "buy_volume": np.float64,
    "trades": np.int64,
}

_NAN = float("nan")


class CandleSeries:
    """Closed candles of one timeframe (oldest -> newest arrays) and the forming one.

    Arrays (`ts`, `open`, ... `trades`) are read-only cached views of the closed candles, valid until the
    next close. `version` bumps whenever the closed candles change. `origin` (ms) is set by MarketState
    to the time data started arriving: a candle this series BUILDS whose period began before it is
    incomplete and is dropped instead of closed (counted in `dropped_partial`), unless `keep_partial`.
    """

    def __init__(self, timeframe: str, capacity: int = 1000, *, symbol: str = "", keep_partial: bool = False) -> None:
        self.timeframe = timeframe
        self.period_ms = timeframe_ms(timeframe)
        self.symbol = symbol
        self.keep_partial = keep_partial
        self.origin: int | None = None
        self.version = 0
        self.dropped_partial = 0
        #: A lower series whose forming candle is merged into this one's `forming` (set by MarketState).
        self.feeder: CandleSeries | None = None
        self._buf = RingBuffer(CANDLE_COLUMNS, capacity)
        self._f_ts: int | None = None  # forming candle's open time, None when nothing is forming
        self._f_open = self._f_high = self._f_low = self._f_close = _NAN
        self._f_volume = self._f_buy = 0.0
        self._f_trades = 0
        self._f_version = 0  # bumps on every forming update, keys the `forming` cache
        self._forming_cache: tuple[int, Candle | None] = (-1, None)
        self._last_cache: tuple[int, Candle | None] = (-1, None)

    # -- closed candles ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._buf)

    @property
    def capacity(self) -> int:
        return self._buf.capacity

    @property
    def total(self) -> int:
        return self._buf.total

    @property
    def nbytes(self) -> int:
        return self._buf.nbytes

    ts = property(lambda self: self._buf.column("ts"), doc="open times, int64 ms UTC")
    open = property(lambda self: self._buf.column("open"))
    high = property(lambda self: self._buf.column("high"))
    low = property(lambda self: self._buf.column("low"))
    close = property(lambda self: self._buf.column("close"))
    volume = property(lambda self: self._buf.column("volume"))
    buy_volume = property(lambda self: self._buf.column("buy_volume"), doc="taker-buy volume, NaN = unknown")
    trades = property(lambda self: self._buf.column("trades"), doc="trade count, 0 = unknown")

    @property
    def last(self) -> Candle | None:
        """The newest closed candle, or None."""
        version, candle = self._last_cache
        if version != self.version:
            candle = None
            if len(self._buf):
                r = self._buf.row(-1)
                candle = Candle(self.symbol, self.timeframe, r["ts"], r["open"], r["high"], r["low"], r["close"],
                                r["volume"], r["buy_volume"], r["trades"], True)
            self._last_cache = (self.version, candle)
        return candle

    @property
    def last_ts(self) -> int | None:
        return self._buf.last("ts")

    @property
    def last_close(self) -> float | None:
        """The newest closed candle's close as a Python float (no array view made), None when empty:
        the cheap read a strategy does on every bar."""
        return self._buf.last("close")

    def append(self, candle: Candle) -> bool:
        """Store a closed candle as given (exchange klines). Returns True when the series changed.

        A candle older than the newest stored one is stale and ignored; one with the same open time
        replaces it when its values differ (venues re-send corrected klines). A forming candle of an
        earlier or equal period is discarded once its period is closed.
        """
        if candle.timeframe != self.timeframe:
            raise ValueError(f"a {candle.timeframe} candle cannot go into the {self.timeframe} series")
        last_ts = self._buf.last("ts")
        values = (candle.open, candle.high, candle.low, candle.close, candle.volume, candle.buy_volume,
                  candle.trades)
        if last_ts is not None and candle.ts <= last_ts:
            if candle.ts < last_ts:
                return False
            r = self._buf.row(-1)
            old = (r["open"], r["high"], r["low"], r["close"], r["volume"], r["buy_volume"], r["trades"])
            if all(a == b or (a != a and b != b) for a, b in zip(old, values, strict=True)):
                return False
            self._buf.replace_last(open=candle.open, high=candle.high, low=candle.low, close=candle.close,
                                   volume=candle.volume, buy_volume=candle.buy_volume, trades=candle.trades)
        else:
            self._buf.append_values(candle.ts, *values)
        if self._f_ts is not None and self._f_ts <= candle.ts:
            self._reset_forming()
        self.version += 1
        return True

    # -- the forming candle -----------------------------------------------------------------------
    @property
    def forming(self) -> Candle | None:
        """The candle of the current period (closed=False), merged with the feeder's forming candle
        when that lies in this period; None when nothing is forming."""
        feeder = self.feeder.forming if self.feeder is not None else None
        key = self._f_version if feeder is None else -2  # merged results are not cached
        version, candle = self._forming_cache
        if feeder is None and version == key:
            return candle
        candle = None
        if self._f_ts is not None:
            candle = Candle(self.symbol, self.timeframe, self._f_ts, self._f_open, self._f_high, self._f_low,
                            self._f_close, self._f_volume, self._f_buy, self._f_trades, False)
        if feeder is not None:
            bucket = feeder.ts - feeder.ts % self.period_ms
            if candle is None:
                if self.last_ts is None or bucket > self.last_ts:
                    candle = Candle(self.symbol, self.timeframe, bucket, feeder.open, feeder.high, feeder.low,
                                    feeder.close, feeder.volume, feeder.buy_volume, feeder.trades, False)
            elif bucket == candle.ts:
                candle = Candle(self.symbol, self.timeframe, candle.ts, candle.open, max(candle.high, feeder.high),
                                min(candle.low, feeder.low), feeder.close, candle.volume + feeder.volume,
                                candle.buy_volume + feeder.buy_volume, candle.trades + feeder.trades, False)
        else:
            self._forming_cache = (key, candle)
        return candle

    def set_forming(self, candle: Candle) -> bool:
        """Take a venue's forming kline as the forming candle. Returns False for a period already closed."""
        last_ts = self._buf.last("ts")
        if last_ts is not None and candle.ts <= last_ts:
            return False
        self._f_ts = candle.ts
        self._f_open, self._f_high, self._f_low, self._f_close = candle.open, candle.high, candle.low, candle.close
        self._f_volume, self._f_buy, self._f_trades = candle.volume, candle.buy_volume, candle.trades
        self._f_version += 1
        return True

    def _reset_forming(self) -> None:
        self._f_ts = None
        self._f_open = self._f_high = self._f_low = self._f_close = _NAN
        self._f_volume = self._f_buy = 0.0
        self._f_trades = 0
        self._f_version += 1

    def _close_forming(self) -> Candle | None:
        """Move the forming candle into the closed ones; None when nothing closed (or it was partial)."""
        ts = self._f_ts
        if ts is None:
            return None
        candle = Candle(self.symbol, self.timeframe, ts, self._f_open, self._f_high, self._f_low, self._f_close,
                        self._f_volume, self._f_buy, self._f_trades, True)
        self._reset_forming()
        if not self.keep_partial and (self.origin is None or ts < self.origin):
            self.dropped_partial += 1
            return None
        last_ts = self._buf.last("ts")
        if last_ts is not None and ts <= last_ts:
            return None
        self._buf.append_values(ts, candle.open, candle.high, candle.low, candle.close, candle.volume,
                                candle.buy_volume, candle.trades)
        self.version += 1
        return candle

    def add_trade(self, ts: int, price: float, amount: float, buy_amount: float) -> Candle | None:
        """Fold one trade into the forming candle; returns the candle this trade CLOSED, if any.

        `buy_amount` is the taker-buy part of `amount` (amount, 0.0, or NaN when the side is unknown).
        Trades must arrive in time order (MarketState drops late ones before they get here).
        """
        bucket = ts - ts % self.period_ms
        closed = None
        if self._f_ts != bucket:
            if self._f_ts is not None:
                if bucket < self._f_ts:
                    return None
                closed = self._close_forming()
            self._f_ts = bucket
            self._f_open = self._f_high = self._f_low = self._f_close = price
            self._f_volume = amount
            self._f_buy = buy_amount
            self._f_trades = 1
        else:
            if price > self._f_high:
                self._f_high = price
            if price < self._f_low:
                self._f_low = price
            self._f_close = price
            self._f_volume += amount
            self._f_buy += buy_amount
            self._f_trades += 1
        self._f_version += 1
        return closed

    def fold(self, candle: Candle, lower_period_ms: int) -> list[Candle]:
        """Aggregate a CLOSED lower-timeframe candle into this series; returns the candles it closed.

        The bucket closes as soon as the folded candle ends at the bucket's end (it was the last one),
        or when a candle of a later bucket arrives (the bucket's tail had no data).
        """
        bucket = candle.ts - candle.ts % self.period_ms
        closed: list[Candle] = []
        if self._f_ts != bucket:
            if self._f_ts is not None:
                if bucket < self._f_ts:
                    return closed
                done = self._close_forming()
                if done is not None:
                    closed.append(done)
            last_ts = self._buf.last("ts")
            if last_ts is not None and bucket <= last_ts:
                return closed
            self._f_ts = bucket
            self._f_open, self._f_high, self._f_low, self._f_close = candle.open, candle.high, candle.low, candle.close
            self._f_volume, self._f_buy, self._f_trades = candle.volume, candle.buy_volume, candle.trades
        else:
            # max/min written out so a NaN in the lower candle does not get silently skipped
            self._f_high = candle.high if not candle.high <= self._f_high else self._f_high
            self._f_low = candle.low if not candle.low >= self._f_low else self._f_low
            self._f_close = candle.close
            self._f_volume += candle.volume
            self._f_buy += candle.buy_volume
            self._f_trades += candle.trades
        self._f_version += 1
        if candle.ts + lower_period_ms >= bucket + self.period_ms:
            done = self._close_forming()
            if done is not None:
                closed.append(done)
        return closed

    def rebuild(self, bucket: int, lower: CandleSeries) -> bool:
        """Recompute this series' candle for `bucket` from the closed candles of `lower` after one of
        them was corrected. Only the forming candle or the newest closed one can be rebuilt, and only
        while `lower` still holds the whole bucket; returns whether anything was rebuilt."""
        last_ts = self._buf.last("ts")
        if bucket != self._f_ts and bucket != last_ts:
            return False
        ts = lower.ts
        i, j = np.searchsorted(ts, [bucket, bucket + self.period_ms])
        if i == j or (i == 0 and lower.total > len(lower)):
            return False  # nothing there, or the bucket's start has fallen out of the lower ring
        o, c = float(lower.open[i]), float(lower.close[j - 1])
        h, low = float(lower.high[i:j].max()), float(lower.low[i:j].min())
        v, bv, n = float(lower.volume[i:j].sum()), float(lower.buy_volume[i:j].sum()), int(lower.trades[i:j].sum())
        if bucket == self._f_ts:
            self._f_open, self._f_high, self._f_low, self._f_close = o, h, low, c
            self._f_volume, self._f_buy, self._f_trades = v, bv, n
            self._f_version += 1
        else:
            self._buf.replace_last(open=o, high=h, low=low, close=c, volume=v, buy_volume=bv, trades=n)
            self.version += 1
        return True

    def close_until(self, now_ms: int) -> Candle | None:
        """Close the forming candle when its period has ended by `now_ms` (quiet markets)."""
        if self._f_ts is not None and now_ms >= self._f_ts + self.period_ms:
            return self._close_forming()
        return None


# -- batch functions ------------------------------------------------------------------------------
def resample(
    ts: np.ndarray,
    open: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    to_ms: int,
    *,
    buy_volume: np.ndarray | None = None,
    trades: np.ndarray | None = None,
    from_ms: int | None = None,
    drop_incomplete: bool = True,
) -> dict[str, np.ndarray]:
    """Aggregate candles (ts = open times in ms, strictly increasing) into `to_ms` buckets.

    Buckets are floor(ts / to_ms) * to_ms (UTC aligned): first open, max high, min low, last close,
    summed volume (and buy_volume / trades when given; NaN propagates - an unknown part makes the sum
    unknown). `from_ms` is the input period (inferred as the smallest step between candles when None;
    give it when the input has fewer than two candles). A bucket is complete when it holds all
    to_ms / from_ms input candles; `count` and `complete` say which, and drop_incomplete=True (the
    default) drops the others. Returns ts, open, high, low, close, volume, count, complete (+ buy_volume,
    trades when given); empty arrays for empty input.
    """
    ts = np.asarray(ts, dtype=np.int64)
    if ts.ndim != 1:
        raise ValueError(f"resample needs 1-d arrays, got ts of shape {ts.shape}")
    cols = {"open": open, "high": high, "low": low, "close": close, "volume": volume}
    if buy_volume is not None:
        cols["buy_volume"] = buy_volume
    if trades is not None:
        cols["trades"] = trades
    cols = {k: np.asarray(v) for k, v in cols.items()}
    bad = [k for k, v in cols.items() if v.shape != ts.shape]
    if bad:
        raise ValueError(f"resample needs 1-d arrays of one length ({len(ts)}); mismatched: {bad or ['ts']}")
    to_ms = int(to_ms)
    if to_ms <= 0:
        raise ValueError(f"to_ms must be positive, got {to_ms}")
    steps = np.diff(ts)
    if len(steps) and steps.min() <= 0:
        raise ValueError("resample needs strictly increasing timestamps")
    if from_ms is None:
        if len(steps) == 0:
            if len(ts) == 0:
                from_ms = to_ms
            else:
                raise ValueError("cannot infer from_ms from fewer than two candles; pass from_ms")
        else:
            from_ms = int(steps.min())
    if to_ms % from_ms:
        raise ValueError(f"to_ms ({to_ms}) must be a whole multiple of the input period ({from_ms})")
    if len(ts) and (ts % from_ms).any():
        raise ValueError(f"input open times are not aligned to their period ({from_ms} ms)")
    out, count = _aggregate(ts - ts % to_ms, cols)
    complete = count == to_ms // from_ms
    out["count"] = count
    out["complete"] = complete
    if drop_incomplete and not complete.all():
        out = {k: v[complete] for k, v in out.items()}
    return out


def candles_from_trades(
    ts: np.ndarray, price: np.ndarray, amount: np.ndarray, side: np.ndarray | None, period_ms: int
) -> dict[str, np.ndarray]:
    """Build candles from time-ordered trades (ts ms, price, amount in base, side +1/-1/0 aggressor).

    One candle per UTC-aligned period that HAS trades (empty periods give no candle). buy_volume sums
    the amounts of +1 trades and is NaN for a candle holding any side-0 (unknown) trade; with side None
    every buy_volume is NaN. Returns ts, open, high, low, close, volume, buy_volume, trades.
    """
    ts = np.asarray(ts, dtype=np.int64)
    price = np.asarray(price, dtype=np.float64)
    amount = np.asarray(amount, dtype=np.float64)
    if ts.ndim != 1 or not (ts.shape == price.shape == amount.shape):
        raise ValueError("candles_from_trades needs 1-d ts, price and amount of one length")
    if len(ts) > 1 and np.diff(ts).min() < 0:
        raise ValueError("candles_from_trades needs trades in time order")
    if side is None:
        buy = np.full(len(ts), np.nan)
    else:
        side = np.asarray(side)
        buy = np.where(side > 0, amount, np.where(side < 0, 0.0, np.nan))
    cols = {"open": price, "high": price, "low": price, "close": price, "volume": amount, "buy_volume": buy,
            "trades": np.ones(len(ts), np.int64)}
    out, _ = _aggregate(ts - ts % int(period_ms), cols)
    return out


def _aggregate(bucket: np.ndarray, cols: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """OHLCV-aggregate rows sharing a bucket (rows in time order). Returns (columns, rows per bucket)."""
    n = len(bucket)
    if n == 0:
        out = {"ts": bucket.copy()}
        out.update({k: np.zeros(0, np.int64 if k == "trades" else np.float64) for k in cols})
        return out, np.zeros(0, np.int64)
    starts = np.flatnonzero(np.concatenate(([True], bucket[1:] != bucket[:-1])))
    ends = np.append(starts[1:], n)
    out = {"ts": bucket[starts]}
    for k, v in cols.items():
        if k == "open":
            out[k] = v[starts].astype(np.float64)
        elif k == "close":
            out[k] = v[ends - 1].astype(np.float64)
        elif k == "high":
            out[k] = np.maximum.reduceat(v.astype(np.float64), starts)
        elif k == "low":
            out[k] = np.minimum.reduceat(v.astype(np.float64), starts)
        elif k == "trades":
            out[k] = np.add.reduceat(v.astype(np.int64), starts)
        else:
            out[k] = np.add.reduceat(v.astype(np.float64), starts)
    return out, (ends - starts).astype(np.int64)
