"""SimMarket: the simulated multi-symbol market as a plain synchronous generator of model records.

It owns the clock (100 ms steps from `start_ts`), the shared market factor and, per symbol, the
idiosyncratic factor (latent.py), the venue (book.py) and, for perpetuals, the derivatives desk
(derivatives.py). Each minute it draws the next minute of latent prices for every symbol; each
second it emits tickers and runs the desks (funding, open interest, liquidation triggers), each
minute a BookSnapshot per symbol (a resync point, equal to the book its deltas built); each step
it runs every symbol's book and merges their records in timestamp order. Identical arguments give an
identical record sequence. The backtester and tests call `run(seconds)` directly; the asyncio
`SimSource` (source.py) paces the same generator against the wall clock.
"""

from __future__ import annotations

import math
import zlib
from collections import deque
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from virtuoso_sim.book import SymbolBook
from virtuoso_sim.derivatives import PerpDesk
from virtuoso_sim.latent import IdioFactor, MarketFactor
from virtuoso_sim.profiles import (
    DEFAULT_START_TS,
    FUNDING_INTERVAL_MS,
    REGIME_VOL,
    STEP_MS,
    STEPS_PER_MIN,
    SymbolProfile,
    activity_at,
    profile_for,
)
from virtuoso_tui.model.market import Funding, LongShortRatio, MarketEvent, OpenInterest, Ticker

FUNDING_EVERY_S = 5
OPEN_INTEREST_EVERY_S = 5


class _Symbol:
    """Everything the market keeps for one symbol."""

    def __init__(self, symbol: str, seed: int, levels: int, price: float | None) -> None:
        key = zlib.crc32(symbol.encode())
        self.profile = profile_for(symbol, price)
        self.idio = IdioFactor(np.random.default_rng([seed, key, 1]), self.profile.idio_vol)
        self.book = SymbolBook(self.profile, np.random.default_rng([seed, key, 2]), levels)
        self.desk = PerpDesk(self.profile, np.random.default_rng([seed, key, 3])) if self.profile.perpetual else None
        self.level = 0.0                          # log return of fair value since start
        self.forced: dict[int, list[tuple[str, int]]] = {}
        # 24 h rolling stats: one (open, high, low, base volume) row per closed minute, in ticks / lots.
        self.minutes: deque[tuple[int, int, int, int]] = deque(maxlen=1440)
        self.minute_open = self.book.last
        self.minute_lots = 0
        self.closed = (self.book.last, self.book.last, 0)   # high, low, lots over the closed minutes


class SimMarket:
    """A deterministic simulated market over `symbols` (ccxt unified; `X/USDT:USDT` are perpetuals).

    `prices` maps symbols to start prices (quote units); others use the built-in table (BTC ~65000,
    ETH ~3400, SOL ~150) or a price hashed from the name. `start_ts` (ms) is floored to the second.
    `book_levels` levels a side (>= 5). Raises ValueError with one sentence on bad arguments.
    """

    def __init__(self, symbols: Sequence[str], seed: int = 1, start_ts: int = DEFAULT_START_TS,
                 book_levels: int = 50, prices: Mapping[str, float] | None = None) -> None:
        if isinstance(symbols, str) or not symbols:
            raise ValueError("the simulator needs a non-empty list of symbols")
        if len(set(symbols)) != len(symbols):
            raise ValueError(f"symbols repeat: {list(symbols)}")
        for s in symbols:
            if not isinstance(s, str) or "/" not in s:
                raise ValueError(f"symbol {s!r} is not in ccxt unified form (BASE/QUOTE or BASE/QUOTE:SETTLE)")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if isinstance(start_ts, bool) or not isinstance(start_ts, int) or start_ts < 0:
            raise ValueError(f"start_ts must be a non-negative integer of ms, got {start_ts!r}")
        if isinstance(book_levels, bool) or not isinstance(book_levels, int) or not 5 <= book_levels <= 1000:
            raise ValueError(f"book_levels must be an integer from 5 to 1000, got {book_levels!r}")
        prices = dict(prices or {})
        for s, p in prices.items():
            if s not in symbols:
                raise ValueError(f"a start price is given for {s!r}, which is not among the symbols")
            if isinstance(p, bool) or not isinstance(p, int | float) or not math.isfinite(p) or p <= 0:
                raise ValueError(f"start price for {s} must be a positive number, got {p!r}")
        self.symbols = list(symbols)
        self.seed = seed
        self.start_ts = start_ts - start_ts % 1000
        self.now = self.start_ts                  # ts of the next step
        self.market = MarketFactor(np.random.default_rng([seed, 0]))
        self._syms = [_Symbol(s, seed, book_levels, prices.get(s)) for s in self.symbols]
        self._i = 0                               # step within the current minute
        self._started = False

    # ---------------------------------------------------------------- public reads
    def seed_day(self, symbol: str, open_, high, low, volume) -> None:
        """Load the closed 1m candles before the start (prices in quote, volume in base, oldest first;
        the last 1440 count) as the ticker's rolling 24 h window, so 24 h change, high, low and volume
        include the warm-up history. Only before the market has moved; the price path is unaffected."""
        sym = self._syms[self.symbols.index(symbol)]
        if self.now != self.start_ts:
            raise ValueError(f"seed_day for {symbol} must come before the market starts")
        sym.minutes.clear()
        p = sym.profile
        n = len(open_)
        for i in range(max(0, n - sym.minutes.maxlen), n):
            sym.minutes.append((round(float(open_[i]) / p.tick), round(float(high[i]) / p.tick),
                                round(float(low[i]) / p.tick), round(float(volume[i]) / p.lot)))
        if sym.minutes:
            ms = sym.minutes
            sym.closed = (max(max(m[1] for m in ms), sym.book.last), min(min(m[2] for m in ms), sym.book.last),
                          sum(m[3] for m in ms))

    def profile(self, symbol: str) -> SymbolProfile:
        """The SymbolProfile (tick, lot, start price, beta...) of `symbol`."""
        return self._syms[self.symbols.index(symbol)].profile

    @property
    def regime(self) -> int:
        """The market factor's current regime (profiles.RANGE, TREND_UP, TREND_DOWN, HIGH_VOL)."""
        return self.market.regime

    # ---------------------------------------------------------------- generation
    def run(self, seconds: float) -> Iterator[MarketEvent]:
        """Yield the records of the next `seconds` of market time (continuing where the last call
        stopped), in timestamp order. A bad `seconds` raises ValueError at the call, not later."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds) \
                or seconds < 0:
            raise ValueError(f"seconds must be a finite number >= 0, got {seconds!r}")
        return self._until(self.now + int(round(seconds * 1000)))

    def _until(self, end: int) -> Iterator[MarketEvent]:
        while self.now < end:
            yield from self.step()

    def stream(self) -> Iterator[MarketEvent]:
        """Yield records forever."""
        while True:
            yield from self.step()

    def step(self) -> list[MarketEvent]:
        """Advance one 100 ms step; return its records in timestamp order."""
        ts, i = self.now, self._i
        out: list[MarketEvent] = []
        if not self._started:
            self._started = True
            self._new_minute(ts)
            for sym in self._syms:
                out.append(sym.book.snapshot(ts))
            self._second(ts, out)
        else:
            if i == 0:
                self._close_minute()
                self._new_minute(ts)
                for sym in self._syms:
                    out.append(sym.book.snapshot(ts))
            if i % 10 == 0:
                self._second(ts, out)
        blocks = []
        for n, sym in enumerate(self._syms):
            book = sym.book
            jitter = book.jitter[i]
            block: list[MarketEvent] = []
            book.step(i, ts + jitter, block, sym.forced.pop(i, None))
            if block:
                blocks.append((jitter, n, block))
        blocks.sort()
        for _, _, block in blocks:
            out.extend(block)
        self.now = ts + STEP_MS
        self._i = (i + 1) % STEPS_PER_MIN
        return out

    # ---------------------------------------------------------------- timers
    def _new_minute(self, ts: int) -> None:
        market = self.market
        r_market = market.next_minute(ts)
        regime = market.regime
        act_vol = market.vol_factor
        orders_scale = min(3.0, math.sqrt(market.garch.h) * REGIME_VOL[regime]) / 10.0
        activity = activity_at(ts)
        for sym in self._syms:
            p = sym.profile
            returns = p.beta * r_market + sym.idio.next_minute(ts, regime)
            sym.level = sym.book.prepare_minute(sym.level, returns, act_vol, p.order_rate * activity * orders_scale)

    def _close_minute(self) -> None:
        for sym in self._syms:
            book = sym.book
            lots = book.buy_lots + book.sell_lots + sym.minute_lots
            sym.minutes.append((sym.minute_open, book.high, book.low, lots))
            ms = sym.minutes
            sym.closed = (max(m[1] for m in ms), min(m[2] for m in ms), sum(m[3] for m in ms))
            sym.minute_open = book.last
            sym.minute_lots = 0
            book.buy_lots = book.sell_lots = 0
            book.high = book.low = book.last
            if sym.desk is not None:
                sym.desk.minute(book.mid(), book.informed_lots)
            book.informed_lots = 0

    def _second(self, ts: int, out: list[MarketEvent]) -> None:
        """Per-second records at `ts` (whole second), from the state at the end of the last step."""
        i = self._i
        elapsed_s = (ts - self.start_ts) // 1000
        for sym in self._syms:
            book, desk, p = sym.book, sym.desk, sym.profile
            lots = book.buy_lots + book.sell_lots
            sym.minute_lots += lots
            book.buy_lots = book.sell_lots = 0
            mid = book.mid()
            if desk is not None:
                orders = desk.second(mid, book.fair_price(i), self.market.regime, lots * p.lot,
                                     book.liquidated_lots * p.lot)
                book.liquidated_lots = 0
                for side, size, offset in orders:
                    sym.forced.setdefault(i + offset, []).append((side, size))
            out.append(self._ticker(sym, ts))
            if desk is None:
                continue
            if ts % FUNDING_INTERVAL_MS == 0 and ts != self.start_ts:
                out.append(Funding(p.symbol, ts, round(desk.settle(), 8), ts + FUNDING_INTERVAL_MS,
                                   mark=round(desk.mark, p.price_decimals), settled=True))
            elif elapsed_s % FUNDING_EVERY_S == 0:
                out.append(Funding(p.symbol, ts, round(desk.funding_estimate, 8),
                                   (ts // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS,
                                   mark=round(desk.mark, p.price_decimals)))
            if elapsed_s % OPEN_INTEREST_EVERY_S == 0:
                amount = round(desk.open_interest, p.amount_decimals)
                out.append(OpenInterest(p.symbol, ts, amount, round(amount * desk.mark, 2)))
            if elapsed_s % 60 == 0:
                ratio = desk.long_short
                out.append(LongShortRatio(p.symbol, ts, round(ratio, 4), round(ratio / (1.0 + ratio), 4)))

    def _ticker(self, sym: _Symbol, ts: int) -> Ticker:
        book, p, desk = sym.book, sym.profile, sym.desk
        t, pd = p.tick, p.price_decimals
        minutes = sym.minutes
        closed_high, closed_low, closed_lots = sym.closed
        high, low = max(book.high, closed_high), min(book.low, closed_low)
        lots = closed_lots + sym.minute_lots + book.buy_lots + book.sell_lots
        open_24h = minutes[0][0] if minutes else sym.minute_open
        return Ticker(
            p.symbol, ts, round(book.last * t, pd), bid=round(book.bb * t, pd), ask=round(book.ba * t, pd),
            high_24h=round(high * t, pd), low_24h=round(low * t, pd),
            volume_24h=round(lots * p.lot, p.amount_decimals),
            change_24h_pct=round((book.last / open_24h - 1.0) * 100.0, 4),
            mark=round(desk.mark, pd) if desk else None, index=round(desk.index, pd) if desk else None,
        )
