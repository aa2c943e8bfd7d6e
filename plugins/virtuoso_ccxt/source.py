"""The `ccxt` source: polls any ccxt exchange's REST API and yields model records per symbol.

Options ([sources.ccxt]):
  exchange          ccxt id ("binance", "bybit", ...; any exchange with the calls)
  timeframes        OHLCV timeframes fetched every round (default ["1m"])
  poll_interval_s   seconds between rounds (default 10)
  fetch_window_ms   max spread between a symbol's first and last piece before it is stale (2000)
  ohlcv_limit, book_limit, trades_limit, long_short_period (defaults 200, 50, 100, "5m")
  retries, backoff_base_s, backoff_max_s   transient-error retry policy (3, 0.5, 8)
  timeout_ms        ccxt request timeout (10000)
  rate_limit_ms     override ccxt's per-exchange request spacing (leave unset against a real venue:
                    the limiter's queue spreads a symbol's pieces in time, which counts toward staleness)
  api_key / secret / password (interpolated by the config) or api_key_env / secret_env / password_env
  verify_keys       with keys, fetch the balance once at start so a refused key shows at once
  sandbox           use the exchange's testnet (ccxt set_sandbox_mode)
  base_url          replace scheme+host of every API URL (the local test servers)
  rounds            stop after this many rounds (default: run until closed)
  history_page      candles per request when the engine asks for warm-up history (default 1000)

`candle_history` (the engine's warm-up, once per symbol before data flows) pages fetch_ohlcv forward
from `now - bars` through ccxt's SYNCHRONOUS client: the engine asks synchronously and nothing else
runs yet, so blocking is the honest shape of it. Its markets are loaded once and the client is closed
with the source.

Markets are loaded lazily, on the first round, and only for the market types the configured symbols
need (ccxt's `fetchMarkets.types` option: spot, linear, inverse): ccxt cannot load single symbols, so
this is as narrow as it allows. ccxt's rate limiter is on. A symbol whose pieces arrive further apart
than fetch_window_ms is not emitted; a SourceHealth with detail "stale ..." and extra["stale"] says so.
A refused key (AuthenticationError/PermissionDenied) emits a SourceHealth with extra["state"] =
"credentials_refused" and ends the source with a SourceError, without retrying. Keys never appear in a
log line, health record or error (secrets.py). Neighbours: fetch.py does the fetching and metrics.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import AsyncIterator
from typing import ClassVar

import numpy as np

from virtuoso_ccxt.fetch import (
    CredentialsRefused,
    FetchMetrics,
    RetryPolicy,
    call_with_retry,
    call_with_retry_sync,
    fetch_symbol,
    now_ms,
    paginate_ohlcv,
)
from virtuoso_ccxt.secrets import Credentials, RedactingFilter, redact
from virtuoso_tui.api import Source, SourceError
from virtuoso_tui.model.market import SourceHealth

log = logging.getLogger(__name__)
_CCXT_LOGGERS = ("ccxt", "ccxt.base.exchange", "ccxt.async_support.base.exchange", "virtuoso_ccxt",
                 "virtuoso_ccxt.source", "virtuoso_ccxt.fetch")


def market_types(symbols) -> list[str]:
    """ccxt fetchMarkets types the unified symbols need: `A/B` spot, `A/B:B` linear, `A/B:A` inverse."""
    types = []
    for s in symbols:
        base, _, rest = s.partition("/")
        quote, _, settle = rest.partition(":")
        t = "spot" if not settle else ("inverse" if settle == base else "linear")
        if t not in types:
            types.append(t)
    return types


def point_urls(api, base_url: str):
    """Every URL in ccxt's `urls['api']` tree with its scheme+host replaced by `base_url`."""
    if isinstance(api, str):
        return re.sub(r"^https?://[^/]+", base_url.rstrip("/"), api)
    if isinstance(api, dict):
        return {k: point_urls(v, base_url) for k, v in api.items()}
    return api


class CcxtSource(Source):
    name: ClassVar[str] = "ccxt"
    provides: ClassVar[frozenset[str]] = frozenset(
        {"candles", "book", "trades", "ticker", "funding", "open_interest", "long_short"})
    networked: ClassVar[bool] = True

    def __init__(self, symbols, options=None) -> None:
        options = dict(options or {})
        self._credentials = Credentials.from_options(options)  # popped before the base keeps options
        super().__init__(symbols, options)
        o = self.options
        if not self.symbols:
            raise SourceError("source 'ccxt' needs at least one symbol")
        self.exchange_id = str(o.get("exchange", "binance"))
        self.timeframes = list(o.get("timeframes", ["1m"]))
        self.poll_interval_s = float(o.get("poll_interval_s", 10.0))
        self.window_ms = int(o.get("fetch_window_ms", 2000))
        self.limits = {"ohlcv": int(o.get("ohlcv_limit", 200)), "book": int(o.get("book_limit", 50)),
                       "trades": int(o.get("trades_limit", 100)),
                       "long_short_period": str(o.get("long_short_period", "5m"))}
        self.policy = RetryPolicy(int(o.get("retries", 3)), float(o.get("backoff_base_s", 0.5)),
                                  float(o.get("backoff_max_s", 8.0)), random.Random(o.get("seed")))
        self.rounds = o.get("rounds")
        self.metrics = FetchMetrics()
        self.counters: dict = {"retries": 0}
        self.state = "idle"
        self.exchange = None
        self._history_exchange = None  # ccxt's sync client, for candle_history only
        self._filter = RedactingFilter(self._credentials.secrets())
        for name in _CCXT_LOGGERS:
            logging.getLogger(name).addFilter(self._filter)

    def __repr__(self) -> str:
        return f"CcxtSource(exchange={self.exchange_id!r}, symbols={self.symbols!r}, {self._credentials!r})"

    def clean(self, text: str) -> str:
        return redact(str(text), self._credentials.secrets())

    def _build_exchange(self, sync: bool = False):
        if sync:
            import ccxt as ccxt_async  # the same classes, blocking (candle_history)
        else:
            import ccxt.async_support as ccxt_async

        cls = getattr(ccxt_async, self.exchange_id, None)
        if cls is None:
            raise SourceError(f"ccxt has no exchange {self.exchange_id!r} ([sources.ccxt] exchange)")
        o = self.options
        config = {"enableRateLimit": True, "timeout": int(o.get("timeout_ms", 10_000)),
                  # margin pair lists (Binance, with keys) are private calls and not market data
                  "options": {"fetchMarkets": {"types": market_types(self.symbols)}, "fetchMargins": False}}
        if o.get("rate_limit_ms") is not None:
            config["rateLimit"] = float(o["rate_limit_ms"])  # the throttler reads it at construction
        ex = cls({**config, **self._credentials.ccxt_config()})
        # currencies need a private call and are not market data
        ex.has = dict(ex.has, fetchCurrencies=False)
        if o.get("sandbox"):
            ex.set_sandbox_mode(True)
        if o.get("base_url"):
            ex.urls["api"] = point_urls(ex.urls["api"], str(o["base_url"]))
        return ex

    def candle_history(self, symbol: str, timeframe: str, bars: int) -> dict | None:
        """The `bars` newest closed candles of `symbol` (oldest first) through paginated fetch_ohlcv:
        `ts` int64 open times (ms), open/high/low/close/volume float64. None when the exchange has no
        OHLCV for that timeframe; fewer rows when it has less history. SourceError (keys redacted)
        when the exchange cannot be reached or refuses."""
        import ccxt

        if bars <= 0:
            return None
        try:
            ex = self._history_exchange
            if ex is None:
                ex = self._history_exchange = self._build_exchange(sync=True)
                call_with_retry_sync(ex.load_markets, self.policy, self.counters)
            if not ex.has.get("fetchOHLCV") or (ex.timeframes and timeframe not in ex.timeframes):
                return None
            page = int(self.options.get("history_page", 1000))
            rows = paginate_ohlcv(
                lambda since, limit: call_with_retry_sync(
                    lambda: ex.fetch_ohlcv(symbol, timeframe, since, limit), self.policy, self.counters),
                timeframe, bars, ex.milliseconds(), page)
        except CredentialsRefused as exc:
            raise SourceError(self.clean(f"{self.exchange_id} refused the API credentials ({exc})")) from None
        except ccxt.BaseError as exc:
            raise SourceError(self.clean(f"{self.exchange_id}: no {timeframe} history for {symbol} "
                                         f"({type(exc).__name__}: {exc})")) from None
        if not len(rows):
            return None
        return {"ts": rows[:, 0].astype(np.int64), "open": rows[:, 1].copy(), "high": rows[:, 2].copy(),
                "low": rows[:, 3].copy(), "close": rows[:, 4].copy(), "volume": rows[:, 5].copy()}

    def health(self, connected: bool, detail: str = "", **extra) -> SourceHealth:
        now = now_ms()
        summary = self.metrics.summary(now)
        return SourceHealth(self.name, now, connected, latency_ms=summary["fetch_ms_p50"], detail=self.clean(detail),
                            extra={"exchange": self.exchange_id, "state": self.state, "retries": self.counters["retries"],
                                   **summary, **extra})

    async def _refused(self, exc: BaseException) -> SourceError:
        self.state = "credentials_refused"
        return SourceError(f"{self.exchange_id} refused the API credentials ({exc}); "
                           "check the key, its permissions and IP whitelist")

    async def events(self) -> AsyncIterator:
        import ccxt

        self.exchange = self._build_exchange()
        ex = self.exchange
        try:
            self.state = "loading_markets"
            try:
                await call_with_retry(ex.load_markets, self.policy, self.counters)
                missing = [s for s in self.symbols if s not in ex.markets]
                if missing:
                    raise SourceError(f"{self.exchange_id} has no market {', '.join(missing)} ([sources.ccxt] symbols)")
                if self._credentials.present and self.options.get("verify_keys"):
                    await call_with_retry(ex.fetch_balance, self.policy, self.counters)
            except CredentialsRefused as exc:
                err = await self._refused(exc)
                yield self.health(False, str(err))
                raise err from None
            except ccxt.BaseError as exc:
                self.state = "unavailable"
                raise SourceError(self.clean(f"{self.exchange_id}: cannot load markets ({type(exc).__name__}: {exc})")) from None
            self.state = "polling"
            done = 0
            while self.rounds is None or done < int(self.rounds):
                t0 = asyncio.get_running_loop().time()
                try:
                    fetches = await asyncio.gather(*(
                        fetch_symbol(ex, s, self.timeframes, self.limits, self.window_ms, self.policy, self.counters)
                        for s in self.symbols))
                except CredentialsRefused as exc:
                    err = await self._refused(exc)
                    yield self.health(False, str(err))
                    raise err from None
                for f in fetches:
                    self.metrics.record(f)
                    window = {"symbol": f.symbol, "window_start_ms": f.window_start_ms,
                              "window_end_ms": f.window_end_ms, "spread_ms": f.spread_ms}
                    if f.stale:
                        yield self.health(True, f"stale {f.symbol}: pieces {f.spread_ms} ms apart "
                                                f"(window {self.window_ms} ms); not emitted", stale=True, **window)
                        continue
                    for rec in f.records:
                        yield rec
                    detail = f"failed {f.symbol}: {', '.join(f'{k} ({v})' for k, v in f.failed.items())}" if f.failed else ""
                    yield self.health(True, detail, stale=False, **window)
                done += 1
                if self.rounds is not None and done >= int(self.rounds):
                    break
                elapsed = asyncio.get_running_loop().time() - t0
                await asyncio.sleep(max(0.0, self.poll_interval_s - elapsed))
        finally:
            await self.close()

    async def close(self) -> None:
        if self._history_exchange is not None:
            hx, self._history_exchange = self._history_exchange, None
            session = getattr(hx, "session", None)
            if session is not None:
                session.close()
        if self.exchange is not None:
            ex, self.exchange = self.exchange, None
            await ex.close()
        # the redacting log filter stays installed: a key must not leak after close either
