"""MarketState: everything known about one symbol's market, updated one event at a time.

The engine feeds every market record a source yields (virtuoso_tui.model: Trade, Candle, BookSnapshot,
BookDelta, Ticker, Funding, OpenInterest, Liquidation, LongShortRatio) to `apply`, which updates the
matching store and returns the KINDS it touched, so the prism recomputes only what changed:
"trades", "book", "candles:<tf>" (a candle of that timeframe closed or was corrected), "ticker",
"funding", "open_interest", "liquidations", "long_short". An event that changed nothing (a stale book
delta, a late trade, a candle of a timeframe not tracked) returns an empty set.

Candles: the base timeframe (the first of `timeframes`, normally 1m) is built from trades, unless the
source sends base-timeframe Candle events (exchange klines): then those are the base, and trades only
fill the TradeWindow (otherwise both would count the same volume). Every higher timeframe is aggregated
from CLOSED base candles, unless the source sends that timeframe's candles directly, which are then
stored as they are. A period with no trades gives no candle (missing is missing). A candle closes when
a later event passes its end, or when `advance(now_ms)` does (quiet markets).

Partial first candles: data that starts in the middle of a period cannot fill that period, so the
first candle of each timeframe whose period began before the first base data is dropped, not closed
(`keep_partial=True` keeps them). Trades older than the newest trade are late: dropped and counted in
`late_trades` (sources yield in time order; a late trade would corrupt closed candles and the
time-ordered TradeWindow).

Neighbours: the stores in candles.py, book.py, trades.py, series.py; faces (virtuoso_tui.prism) read
this object; the engine owns one per symbol.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from virtuoso_tui.market.book import OrderBook
from virtuoso_tui.market.candles import CandleSeries, resample
from virtuoso_tui.market.series import TimeSeries
from virtuoso_tui.market.trades import SIDE_CODE, TradeWindow
from virtuoso_tui.model.market import (
    BookDelta,
    BookSnapshot,
    Candle,
    Funding,
    Liquidation,
    LongShortRatio,
    OpenInterest,
    Ticker,
    Trade,
    timeframe_ms,
)

DEFAULT_TIMEFRAMES = ("1m", "5m", "15m", "1h", "4h")

_NONE: frozenset[str] = frozenset()
_TRADES = frozenset({"trades"})
_BOOK = frozenset({"book"})
_TICKER = frozenset({"ticker"})
_FUNDING = frozenset({"funding"})
_OI = frozenset({"open_interest"})
_LIQ = frozenset({"liquidations"})
_LS = frozenset({"long_short"})
_NAN = float("nan")


class MarketState:
    """Ring-buffered market state of one symbol (see the module docstring)."""

    def __init__(
        self,
        symbol: str,
        timeframes: Sequence[str] = DEFAULT_TIMEFRAMES,
        capacity: int = 1000,
        trade_capacity: int = 20000,
        *,
        series_capacity: int = 5000,
        max_levels: int = 500,
        keep_partial: bool = False,
    ) -> None:
        timeframes = tuple(timeframes)
        if not timeframes:
            raise ValueError("MarketState needs at least one timeframe")
        periods = [timeframe_ms(tf) for tf in timeframes]
        base_ms = periods[0]
        for tf, ms, prev in zip(timeframes[1:], periods[1:], periods, strict=False):
            if ms <= prev or ms % base_ms:
                raise ValueError(
                    f"timeframes must increase and be multiples of the base {timeframes[0]}; {tf} is not ({timeframes})"
                )
        self.symbol = symbol
        self.timeframes = timeframes
        self.base = timeframes[0]
        self.base_ms = base_ms
        self.candles: dict[str, CandleSeries] = {
            tf: CandleSeries(tf, capacity, symbol=symbol, keep_partial=keep_partial) for tf in timeframes
        }
        self._base = self.candles[self.base]
        self._higher = [self.candles[tf] for tf in timeframes[1:]]
        for s in self._higher:
            s.feeder = self._base  # a higher forming candle includes the base forming candle
        self._closed_kind = {tf: f"candles:{tf}" for tf in timeframes}
        self.book = OrderBook(symbol, max_levels)
        self.trades = TradeWindow(trade_capacity)
        self.ticker: Ticker | None = None
        self.funding = TimeSeries(("rate", "mark", "settled"), series_capacity)
        self.last_funding: Funding | None = None  # for next_funding_ts and interval
        self.open_interest = TimeSeries(("amount", "value"), series_capacity)
        self.liquidations = TimeSeries(("side", "price", "amount"), series_capacity)
        self.long_short = TimeSeries(("ratio", "long_share"), series_capacity)
        self.last_price: float | None = None
        self.now: int | None = None
        self.late_trades = 0
        self._seen: set[str] = set()
        self._direct: set[str] = set()  # timeframes fed by Candle events (klines), never built here
        self._origin: int | None = None
        self._last_trade_ts: int | None = None
        self._base_bucket: int | None = None  # base period of the newest trade: higher closes are checked on change
        self._dispatch = {
            Trade: self._on_trade,
            BookDelta: self._on_delta,
            BookSnapshot: self._on_snapshot,
            Candle: self._on_candle,
            Ticker: self._on_ticker,
            Funding: self._on_funding,
            OpenInterest: self._on_open_interest,
            Liquidation: self._on_liquidation,
            LongShortRatio: self._on_long_short,
        }

    # -- public -----------------------------------------------------------------------------------
    def apply(self, event: object) -> frozenset[str]:
        """Update the state with one market record; returns the kinds it touched (see module doc).

        A record of another symbol raises ValueError; an object that is not a market record, TypeError.
        """
        handler = self._dispatch.get(type(event))
        if handler is None:
            raise TypeError(f"MarketState cannot apply {type(event).__name__}; expected a market record")
        if event.symbol != self.symbol:  # type: ignore[attr-defined]
            raise ValueError(f"a {event.symbol} record cannot go into the {self.symbol} state")  # type: ignore[attr-defined]
        ts = event.ts  # type: ignore[attr-defined]
        if self.now is None or ts > self.now:
            self.now = ts
        return handler(event)

    def begin(self, ts: int) -> None:
        """Say when the stream started (the source's first record, a health report included).

        A candle whose period began before this is partial and dropped; one starting exactly here is
        complete even if its first trade comes a few milliseconds later. Ignored once data has arrived."""
        if self._origin is None:
            self._set_origin(int(ts))

    def backfill(self, ts, open, high, low, close, volume, buy_volume=None, trades=None) -> int:  # noqa: A002
        """Load closed BASE-timeframe candles that precede the live data (a source's history), oldest first.

        Every higher timeframe is aggregated from them with the same rules as live (complete buckets
        become closed candles; a trailing bucket the live data will finish becomes the forming candle),
        so after a backfill the live stream simply carries on. Only the newest `capacity` candles of each
        timeframe are kept. Must come before any live data; returns the number of base candles taken.
        """
        if self.now is not None or self._origin is not None:
            raise RuntimeError(f"backfill of {self.symbol} must come before live data")
        ts = np.asarray(ts, dtype=np.int64)
        n = len(ts)
        if n == 0:
            return 0
        if np.any(np.diff(ts) <= 0) or np.any(ts % self.base_ms):
            raise ValueError(f"backfill candles of {self.symbol} must be {self.base} candles in increasing time")
        cols = {
            "open": np.asarray(open, dtype=np.float64), "high": np.asarray(high, dtype=np.float64),
            "low": np.asarray(low, dtype=np.float64), "close": np.asarray(close, dtype=np.float64),
            "volume": np.asarray(volume, dtype=np.float64),
            "buy_volume": (np.full(n, np.nan) if buy_volume is None else np.asarray(buy_volume, dtype=np.float64)),
            "trades": np.zeros(n, dtype=np.float64) if trades is None else np.asarray(trades, dtype=np.float64),
        }
        end = int(ts[-1]) + self.base_ms  # where the live data begins
        self._set_origin(int(ts[0]))

        def push(series: CandleSeries, t: np.ndarray, c: dict[str, np.ndarray]) -> None:
            start = max(0, len(t) - series.capacity)
            for i in range(start, len(t)):
                series.append(Candle(self.symbol, series.timeframe, int(t[i]), float(c["open"][i]),
                                     float(c["high"][i]), float(c["low"][i]), float(c["close"][i]),
                                     float(c["volume"][i]), float(c["buy_volume"][i]), int(c["trades"][i])))

        push(self._base, ts, cols)
        for series in self._higher:
            period = series.period_ms
            whole = ts < end - end % period  # base candles in buckets that are already complete
            if whole.any():
                agg = resample(ts[whole], cols["open"][whole], cols["high"][whole], cols["low"][whole],
                               cols["close"][whole], cols["volume"][whole], period,
                               buy_volume=cols["buy_volume"][whole], trades=cols["trades"][whole],
                               from_ms=self.base_ms, drop_incomplete=False)
                first_whole = int(ts[0]) - int(ts[0]) % period
                keep = agg["ts"] >= (first_whole if int(ts[0]) == first_whole else first_whole + period)
                push(series, agg["ts"][keep], {k: agg[k][keep] for k in cols})
            for i in np.flatnonzero(~whole):  # the bucket still forming when the live data starts
                series.fold(Candle(self.symbol, self.base, int(ts[i]), float(cols["open"][i]), float(cols["high"][i]),
                                   float(cols["low"][i]), float(cols["close"][i]), float(cols["volume"][i]),
                                   float(cols["buy_volume"][i]), int(cols["trades"][i])), self.base_ms)
        self.last_price = float(cols["close"][-1])
        self._seen.update(self._closed_kind[tf] for tf in self.timeframes if len(self.candles[tf]))
        return n

    def advance(self, now_ms: int) -> frozenset[str]:
        """Close every candle whose period has ended by `now_ms`; returns the candle kinds closed."""
        if self.now is None or now_ms > self.now:
            self.now = now_ms
        touched: set[str] = set()
        base = self._base
        if self.base not in self._direct:
            closed = base.close_until(now_ms)
            if closed is not None:
                touched.add(self._closed_kind[self.base])
                self._fold_up(closed, touched)
        for s in self._higher:
            if s.timeframe not in self._direct and s.close_until(now_ms) is not None:
                touched.add(self._closed_kind[s.timeframe])
        self._seen.update(touched)
        return frozenset(touched)

    def has(self, kind: str) -> bool:
        """Whether data of `kind` has ever arrived ("candles" = any timeframe). Faces use it for n/a."""
        if kind == "candles":
            return any(k.startswith("candles:") for k in self._seen)
        return kind in self._seen

    def memory_bytes(self) -> int:
        """Bytes held by the ring buffers (exact) plus the order book (estimated)."""
        total = sum(s.nbytes for s in self.candles.values())
        total += self.trades.nbytes
        total += sum(s.nbytes for s in (self.funding, self.open_interest, self.liquidations, self.long_short))
        return total + self.book.memory_bytes()

    # -- handlers ---------------------------------------------------------------------------------
    def _on_trade(self, t: Trade) -> frozenset[str]:
        ts = t.ts
        last = self._last_trade_ts
        if last is not None and ts < last:
            self.late_trades += 1
            return _NONE
        self._last_trade_ts = ts
        side = t.side
        try:
            code = SIDE_CODE[side]
        except KeyError:
            raise ValueError(f"trade side must be 'buy', 'sell' or None, got {side!r}") from None
        price, amount = t.price, t.amount
        self.trades.append_values(ts, price, amount, code)
        self.last_price = price
        if "trades" not in self._seen:
            self._seen.add("trades")
        if self.base in self._direct:
            return _TRADES
        if self._origin is None:
            self._set_origin(ts)
        buy = amount if code == 1 else (0.0 if code == -1 else _NAN)
        closed = self._base.add_trade(ts, price, amount, buy)
        # a trade in a later period also ends higher periods whose tail had no data
        touched: set[str] | None = None
        if closed is not None:
            touched = {"trades", self._closed_kind[self.base]}
            self._fold_up(closed, touched)
        bucket_base = ts - ts % self.base_ms
        if bucket_base != self._base_bucket:
            self._base_bucket = bucket_base
            for s in self._higher:
                if s.timeframe not in self._direct and s.close_until(bucket_base) is not None:
                    if touched is None:
                        touched = {"trades"}
                    touched.add(self._closed_kind[s.timeframe])
        if touched is None:
            return _TRADES
        self._seen.update(touched)
        return frozenset(touched)

    def _on_candle(self, c: Candle) -> frozenset[str]:
        series = self.candles.get(c.timeframe)
        if series is None:
            return _NONE
        tf = c.timeframe
        if tf not in self._direct:
            # the source gives this timeframe itself: stop building it (no double counting)
            self._direct.add(tf)
            series._reset_forming()
            series.feeder = None  # the venue's forming kline already holds the newest trades
            if tf == self.base:
                self._origin = None
        if self.last_price is None or self._last_trade_ts is None:
            self.last_price = c.close
        if not c.closed:
            series.set_forming(c)
            return _NONE
        corrected = series.last_ts == c.ts
        if not series.append(c):
            return _NONE
        touched = {self._closed_kind[tf]}
        if tf == self.base:
            if self._origin is None:
                self._set_origin(c.ts)
            if corrected:  # already folded once: rebuild the higher candles holding it, never add twice
                for s in self._higher:
                    bucket = c.ts - c.ts % s.period_ms
                    if s.timeframe not in self._direct and s.rebuild(bucket, series) and s.last_ts == bucket:
                        touched.add(self._closed_kind[s.timeframe])  # a closed candle changed
            else:
                self._fold_up(c, touched)
        self._seen.update(touched)
        return frozenset(touched)

    def _fold_up(self, closed: Candle, touched: set[str]) -> None:
        """Aggregate a closed base candle into every higher timeframe built here."""
        for s in self._higher:
            if s.timeframe in self._direct:
                continue
            if s.fold(closed, self.base_ms):
                touched.add(self._closed_kind[s.timeframe])

    def _set_origin(self, ts: int) -> None:
        self._origin = ts
        for s in self.candles.values():
            if s.origin is None:
                s.origin = ts

    def _on_snapshot(self, s: BookSnapshot) -> frozenset[str]:
        self.book.apply_snapshot(s)
        self._seen.add("book")
        return _BOOK

    def _on_delta(self, d: BookDelta) -> frozenset[str]:
        book = self.book
        version = book.version
        book.apply_delta(d)
        if book.version == version:  # stale, or waiting for a snapshot: nothing changed
            return _NONE
        self._seen.add("book")
        return _BOOK

    def _on_ticker(self, t: Ticker) -> frozenset[str]:
        self.ticker = t
        if self._last_trade_ts is None:
            self.last_price = t.last
        self._seen.add("ticker")
        return _TICKER

    def _on_funding(self, f: Funding) -> frozenset[str]:
        if not self.funding.append(f.ts, rate=f.rate, mark=f.mark, settled=1.0 if f.settled else 0.0):
            return _NONE
        self.last_funding = f
        self._seen.add("funding")
        return _FUNDING

    def _on_open_interest(self, oi: OpenInterest) -> frozenset[str]:
        if not self.open_interest.append(oi.ts, amount=oi.amount, value=oi.value):
            return _NONE
        self._seen.add("open_interest")
        return _OI

    def _on_liquidation(self, liq: Liquidation) -> frozenset[str]:
        side = SIDE_CODE.get(liq.side)
        if not side:
            raise ValueError(f"liquidation side must be 'buy' or 'sell', got {liq.side!r}")
        if not self.liquidations.append(liq.ts, side=float(side), price=liq.price, amount=liq.amount):
            return _NONE
        self._seen.add("liquidations")
        return _LIQ

    def _on_long_short(self, ls: LongShortRatio) -> frozenset[str]:
        if not self.long_short.append(ls.ts, ratio=ls.ratio, long_share=ls.long_share):
            return _NONE
        self._seen.add("long_short")
        return _LS
