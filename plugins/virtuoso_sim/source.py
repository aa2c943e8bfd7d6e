"""SimSource: the simulated market as a Virtuoso Source (virtuoso_tui.market.source), the product's
default data feed. It validates the `[sources.sim]` options, builds a SimMarket (market.py) and paces
its records against the wall clock: `speed` 1.0 is real time, 2.0 twice as fast, 0 as fast as
possible (never sleeps, only hands control back to the event loop now and then so a UI stays alive).

Options: seed (int, default 1), speed (float >= 0, default 1.0), start_ts (int ms UTC, default
2026-01-05 00:00), duration_s (market seconds, default endless), warmup_s (market seconds yielded
as fast as possible before pacing starts, so faces have candles at once; default 0), book_levels
(int, default 50), prices ({symbol: start price}).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar

from virtuoso_sim.market import SimMarket
from virtuoso_sim.profiles import DEFAULT_START_TS
from virtuoso_tui.market.source import Source, SourceError
from virtuoso_tui.model.market import MarketEvent, SourceHealth

KNOWN_OPTIONS = frozenset({"seed", "speed", "start_ts", "duration_s", "warmup_s", "book_levels", "prices"})
#: Sleep only when ahead of the wall clock by more than this (s): fewer, longer sleeps pace as well.
PACE_SLACK_S = 0.005
#: At speed 0, hand control to the event loop every this many records.
YIELD_EVERY = 2_000


def _number(options: dict[str, Any], key: str, default: float) -> float:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SourceError(f"[sources.sim] {key} must be a number, got {value!r}")
    return float(value)


class SimSource(Source):
    """The embedded simulated market (no network, no keys). See the module docstring for options."""

    name: ClassVar[str] = "sim"
    provides: ClassVar[frozenset[str]] = frozenset(
        {"trades", "book", "candles", "ticker", "funding", "open_interest", "liquidations", "long_short"})
    networked: ClassVar[bool] = False

    def __init__(self, symbols: Sequence[str], options: dict[str, Any] | None = None) -> None:
        super().__init__(symbols, options)
        opts = self.options
        unknown = sorted(set(opts) - KNOWN_OPTIONS)
        if unknown:
            raise SourceError(f"[sources.sim] unknown option(s) {', '.join(unknown)} "
                              f"(known: {', '.join(sorted(KNOWN_OPTIONS))})")
        self.speed = _number(opts, "speed", 1.0)
        if self.speed < 0:
            raise SourceError(f"[sources.sim] speed must be >= 0 (0 = as fast as possible), got {self.speed}")
        duration = opts.get("duration_s")
        self.duration_s = None if duration is None else _number(opts, "duration_s", 0.0)
        if self.duration_s is not None and self.duration_s < 0:
            raise SourceError(f"[sources.sim] duration_s must be >= 0, got {self.duration_s}")
        self.warmup_s = _number(opts, "warmup_s", 0.0)
        if self.warmup_s < 0:
            raise SourceError(f"[sources.sim] warmup_s must be >= 0, got {self.warmup_s}")
        prices = opts.get("prices") or {}
        if not isinstance(prices, dict):
            raise SourceError(f"[sources.sim] prices must be a table of symbol = price, got {prices!r}")
        try:
            self.market = SimMarket(self.symbols, seed=opts.get("seed", 1),
                                    start_ts=opts.get("start_ts", DEFAULT_START_TS),
                                    book_levels=opts.get("book_levels", 50), prices=prices)
        except ValueError as exc:
            raise SourceError(f"[sources.sim] {exc}") from None
        self._closed = False

    def history(self, seconds: float):
        """Generate `seconds` of market time synchronously, without pacing (warm-up or backtests).
        The live `events()` continues from where this stops."""
        return self.market.run(seconds)

    def candle_history(self, symbol: str, timeframe: str, bars: int):
        """Candles before the live start from the same model at candle level (`virtuoso_sim.history`):
        the last one ends at the live start and closes at the live start price, so the chart and the
        faces have a past from the first second."""
        from virtuoso_sim.history import history as _history

        prices = self.options.get("prices") or {}
        candles = _history(symbol, timeframe, bars, seed=int(self.options.get("seed", 1)),
                           end_ts=self.market.now, price=prices.get(symbol))
        if timeframe == "1m" and self.market.now == self.market.start_ts:
            # the ticker's 24 h window starts with this history, as an exchange's would
            self.market.seed_day(symbol, candles["open"], candles["high"], candles["low"], candles["volume"])
        return candles

    async def events(self) -> AsyncIterator[MarketEvent | SourceHealth]:
        market = self.market
        yield SourceHealth(self.name, market.now, connected=True, detail=f"simulated, seed {market.seed}")
        records = market.run(self.duration_s) if self.duration_s is not None else market.stream()
        speed = self.speed
        paced_from = market.now + int(self.warmup_s * 1000)
        wall0, market0 = time.monotonic(), paced_from
        count = 0
        for record in records:
            if self._closed:
                return
            if speed > 0 and record.ts >= paced_from:
                ahead = (record.ts - market0) / 1000.0 / speed - (time.monotonic() - wall0)
                if ahead > PACE_SLACK_S:
                    await asyncio.sleep(ahead)
            else:
                count += 1
                if count % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            yield record

    async def close(self) -> None:
        self._closed = True
