"""One symbol's atomic REST fetch through a ccxt async exchange, with retries and fetch metrics.

`fetch_symbol` requests every piece of market data for one symbol at once (asyncio.gather): OHLCV for
each timeframe, order book, recent trades, ticker, and on derivatives funding rate, open interest and
long/short ratio where the exchange has them. Each piece is stamped with the local time it arrived;
the spread between the first and last arrival is the fetch window. Pieces further apart than
`fetch_window_ms` make the symbol STALE: its records are not emitted as fresh data.

Retry policy (`call_with_retry`): ccxt's NetworkError family (timeouts, HTTP 5xx as
ExchangeNotAvailable, HTTP 429 as RateLimitExceeded/DDoSProtection) is retried with exponential
backoff and full jitter; AuthenticationError, PermissionDenied and AccountSuspended raise
`CredentialsRefused` at once (retrying cannot fix a key); other errors fail the piece.
ccxt is imported inside functions only. Neighbours: source.py builds the exchange and emits records;
secrets.py keeps keys out of every message.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from virtuoso_tui.model import (
    BookSnapshot,
    Candle,
    Funding,
    LongShortRatio,
    OpenInterest,
    Ticker,
    Trade,
    timeframe_ms,
)


class CredentialsRefused(Exception):
    """The exchange refused the API key (authentication or permission). Never retried."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class RetryPolicy:
    retries: int = 3
    base_s: float = 0.5
    max_s: float = 8.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        """Seconds before retry `attempt` (0-based): min(max, base*2^attempt) * U(0.5, 1)."""
        return min(self.max_s, self.base_s * 2.0**attempt) * self.rng.uniform(0.5, 1.0)


async def call_with_retry(fn, policy: RetryPolicy, counters: dict | None = None):
    """Await `fn()`; retry transient ccxt errors; raise CredentialsRefused on auth errors."""
    import ccxt

    for attempt in range(policy.retries + 1):
        try:
            return await fn()
        except (ccxt.AuthenticationError, ccxt.PermissionDenied, ccxt.AccountSuspended) as exc:
            raise CredentialsRefused(type(exc).__name__) from exc
        except ccxt.NetworkError:
            if counters is not None:
                counters["retries"] = counters.get("retries", 0) + 1
            if attempt == policy.retries:
                raise
            await asyncio.sleep(policy.delay(attempt))
    raise AssertionError("unreachable")


def call_with_retry_sync(fn, policy: RetryPolicy, counters: dict | None = None):
    """`call_with_retry` for ccxt's synchronous client (warm-up history, before the loop's data flows)."""
    import ccxt

    for attempt in range(policy.retries + 1):
        try:
            return fn()
        except (ccxt.AuthenticationError, ccxt.PermissionDenied, ccxt.AccountSuspended) as exc:
            raise CredentialsRefused(type(exc).__name__) from exc
        except ccxt.NetworkError:
            if counters is not None:
                counters["retries"] = counters.get("retries", 0) + 1
            if attempt == policy.retries:
                raise
            time.sleep(policy.delay(attempt))
    raise AssertionError("unreachable")


def paginate_ohlcv(fetch, timeframe: str, bars: int, now: int, page: int) -> np.ndarray:
    """The `bars` newest CLOSED candles before `now` (ms) as a (k, 6) float64 array [ts, o, h, l, c, v],
    oldest first, fetched forward in pages of `page` from `now - bars * timeframe` with
    `fetch(since, limit) -> ccxt OHLCV rows`. Stops when a page is empty or does not advance (the
    venue has no older data, or ignores `since`); k < bars then. Duplicates across pages count once;
    the forming candle (open + timeframe > now) is never included."""
    step = timeframe_ms(timeframe)
    current = now // step * step  # open time of the forming candle
    cursor = current - bars * step
    rows: dict[int, list] = {}
    for _ in range(bars + 1):  # every page advances at least one candle, or the loop ends
        if cursor >= current:
            break
        batch = fetch(cursor, page)
        if not batch:
            break
        for r in batch:
            ts = int(r[0])
            if cursor <= ts < current and all(x is not None for x in r[1:5]):
                rows[ts] = r
        newest = max(int(r[0]) for r in batch)
        if newest + step <= cursor:
            break  # no progress: the venue answered older data than asked for
        cursor = newest + step
    keys = sorted(rows)[-bars:]
    out = np.empty((len(keys), 6), dtype=np.float64)
    for i, ts in enumerate(keys):
        r = rows[ts]
        out[i] = (ts, r[1], r[2], r[3], r[4], r[5] if r[5] is not None else np.nan)
    return out


@dataclass
class Piece:
    name: str
    records: list
    arrived_ms: int
    error: str = ""


@dataclass
class SymbolFetch:
    """The outcome of one atomic fetch: records, the window it spans, and what failed."""

    symbol: str
    started_ms: int
    window_start_ms: int
    window_end_ms: int
    records: list
    failed: dict[str, str]
    stale: bool
    elapsed_ms: float

    @property
    def spread_ms(self) -> int:
        return self.window_end_ms - self.window_start_ms


def _ohlcv(symbol: str, tf: str, rows, fetched_ms: int) -> list:
    step = timeframe_ms(tf)
    return [Candle(symbol, tf, int(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4]),
                   float(r[5]) if r[5] is not None else float("nan"), closed=int(r[0]) + step <= fetched_ms)
            for r in rows]


def _book(symbol: str, ob, fetched_ms: int) -> list:
    nonce = ob.get("nonce")
    return [BookSnapshot(symbol, ob.get("timestamp") or fetched_ms,
                         tuple((float(p), float(s)) for p, s, *_ in ob["bids"]),
                         tuple((float(p), float(s)) for p, s, *_ in ob["asks"]),
                         int(nonce) if nonce is not None else None)]


def _trades(symbol: str, trades, fetched_ms: int) -> list:
    # ccxt's public-trade `side` is the taker's; None stays None (never guessed)
    return [Trade(symbol, int(t["timestamp"]), float(t["price"]), float(t["amount"]), t.get("side"),
                  str(t["id"]) if t.get("id") is not None else None) for t in trades]


def _ticker(symbol: str, t, fetched_ms: int) -> list:
    if t.get("last") is None:
        return []
    return [Ticker(symbol, t.get("timestamp") or fetched_ms, float(t["last"]), t.get("bid"), t.get("ask"),
                   t.get("high"), t.get("low"), t.get("baseVolume"), t.get("percentage"),
                   t.get("markPrice"), t.get("indexPrice"))]


def _funding(symbol: str, f, fetched_ms: int) -> list:
    if f.get("fundingRate") is None:
        return []
    nxt = f.get("nextFundingTimestamp") or f.get("fundingTimestamp")
    return [Funding(symbol, f.get("timestamp") or fetched_ms, float(f["fundingRate"]),
                    int(nxt) if nxt else None, mark=f.get("markPrice"))]


def _open_interest(symbol: str, oi, fetched_ms: int) -> list:
    amount = oi.get("openInterestAmount")
    if amount is None:
        return []  # only a value in quote or contracts of unknown size: missing, not guessed
    return [OpenInterest(symbol, oi.get("timestamp") or fetched_ms, float(amount), oi.get("openInterestValue"))]


def _long_short(symbol: str, rows, fetched_ms: int) -> list:
    rows = [r for r in rows if r.get("longShortRatio") is not None]
    if not rows:
        return []
    last = max(rows, key=lambda r: r.get("timestamp") or 0)
    return [LongShortRatio(symbol, last.get("timestamp") or fetched_ms, float(last["longShortRatio"]))]


def pieces_for(exchange, symbol: str, timeframes, limits: dict) -> dict:
    """name -> (coroutine factory, converter) for every piece this exchange can give for `symbol`."""
    has = exchange.has
    market = exchange.market(symbol)
    out = {}
    for tf in timeframes:
        out[f"ohlcv:{tf}"] = (lambda tf=tf: exchange.fetch_ohlcv(symbol, tf, limit=limits["ohlcv"]),
                              lambda rows, ms, tf=tf: _ohlcv(symbol, tf, rows, ms))
    out["book"] = (lambda: exchange.fetch_order_book(symbol, limits["book"]), lambda ob, ms: _book(symbol, ob, ms))
    out["trades"] = (lambda: exchange.fetch_trades(symbol, limit=limits["trades"]), lambda t, ms: _trades(symbol, t, ms))
    out["ticker"] = (lambda: exchange.fetch_ticker(symbol), lambda t, ms: _ticker(symbol, t, ms))
    if market.get("contract"):
        if has.get("fetchFundingRate"):
            out["funding"] = (lambda: exchange.fetch_funding_rate(symbol), lambda f, ms: _funding(symbol, f, ms))
        if has.get("fetchOpenInterest"):
            out["open_interest"] = (lambda: exchange.fetch_open_interest(symbol),
                                    lambda oi, ms: _open_interest(symbol, oi, ms))
        if has.get("fetchLongShortRatioHistory"):
            out["long_short"] = (lambda: exchange.fetch_long_short_ratio_history(symbol, limits["long_short_period"], None, 2),
                                 lambda rows, ms: _long_short(symbol, rows, ms))
    return out


async def fetch_symbol(exchange, symbol: str, timeframes, limits: dict, window_ms: int,
                       policy: RetryPolicy, counters: dict) -> SymbolFetch:
    """Fetch every piece for `symbol` in parallel; see the module docstring for staleness and errors."""
    import ccxt

    t0 = time.perf_counter()
    started = now_ms()
    pieces = pieces_for(exchange, symbol, timeframes, limits)

    async def one(name: str, call, convert) -> Piece:
        try:
            raw = await call_with_retry(call, policy, counters)
        except CredentialsRefused:
            raise
        except ccxt.BaseError as exc:
            return Piece(name, [], now_ms(), error=type(exc).__name__)
        arrived = now_ms()
        return Piece(name, convert(raw, arrived), arrived)

    results = await asyncio.gather(*(one(n, c, v) for n, (c, v) in pieces.items()))
    ok = [p for p in results if not p.error]
    arrivals = [p.arrived_ms for p in ok] or [started]
    start, end = min(arrivals), max(arrivals)
    records = [r for p in ok for r in p.records]
    return SymbolFetch(symbol, started, start, end, records, {p.name: p.error for p in results if p.error},
                       stale=(end - start) > window_ms, elapsed_ms=(time.perf_counter() - t0) * 1e3)


class FetchMetrics:
    """Rolling fetch statistics for one source: latency percentiles (ms), success rate, data age."""

    def __init__(self, keep: int = 500) -> None:
        self.elapsed_ms: deque[float] = deque(maxlen=keep)
        self.outcomes: deque[bool] = deque(maxlen=keep)
        self.newest_ts: dict[str, int] = {}

    def record(self, f: SymbolFetch) -> None:
        self.elapsed_ms.append(f.elapsed_ms)
        self.outcomes.append(not f.failed and not f.stale)
        stamps = [r.ts for r in f.records]
        if stamps:
            self.newest_ts[f.symbol] = max(max(stamps), self.newest_ts.get(f.symbol, 0))

    def summary(self, now: int) -> dict:
        """p50/p90/p99 fetch time (ms, NaN before the first fetch), success rate (0-1, NaN before
        any fetch), and per-symbol data age (ms since the newest record's exchange timestamp)."""
        lat = np.asarray(self.elapsed_ms, dtype=np.float64)
        p50, p90, p99 = np.percentile(lat, [50, 90, 99]) if lat.size else (np.nan,) * 3
        rate = float(np.mean(self.outcomes)) if self.outcomes else float("nan")
        return {"fetch_ms_p50": float(p50), "fetch_ms_p90": float(p90), "fetch_ms_p99": float(p99),
                "success_rate": rate, "data_age_ms": {s: now - ts for s, ts in self.newest_ts.items()}}
