"""Per-symbol and market-wide constants of the simulated market: start prices, tick and lot sizes,
betas to the market factor, liquidity, the intraday activity curve and the regime chain.

Nothing here is random at run time: a symbol the table does not know gets its profile from a hash
of its name, so a run is reproducible for any symbol list. latent.py draws the price paths from these
numbers, book.py sizes the order book with them, market.py wires them together.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

#: 2026-01-05 00:00 UTC, a Monday: a fixed default start so runs without options are reproducible.
DEFAULT_START_TS = 1_767_571_200_000

STEP_MS = 100                      # the book is stepped every 100 ms of market time
STEPS_PER_MIN = 60_000 // STEP_MS
MINUTES_PER_YEAR = 365 * 24 * 60
FUNDING_INTERVAL_MS = 8 * 3_600_000

#: Annualised volatility of the market factor (BTC's own volatility, beta 1).
MARKET_VOL = 0.50

# Regimes of the market factor, a Markov chain stepped once per minute.
RANGE, TREND_UP, TREND_DOWN, HIGH_VOL = 0, 1, 2, 3
REGIME_NAMES = ("range", "trend_up", "trend_down", "high_vol")
#: Row = from, column = to, per minute. Mean stays: range ~100 min, up-trends ~80 min, down-trends
#: ~67 min (dumps are faster than pumps, and with drifts below their expected moves match, so the
#: chain has no long-run bias), high-vol ~20 min.
REGIME_TRANSITIONS = np.array([
    [0.990, 0.004, 0.004, 0.002],
    [0.009, 0.9875, 0.0005, 0.003],
    [0.0105, 0.0005, 0.985, 0.004],
    [0.020, 0.015, 0.015, 0.950],
])
#: Volatility multiplier, drift (in per-minute market sigmas), jump-rate multiplier per regime.
REGIME_VOL = (0.75, 1.0, 1.15, 2.3)
REGIME_DRIFT = (0.0, 0.10, -0.12, 0.0)
REGIME_JUMPS = (1.0, 1.0, 1.5, 4.0)
#: How much each regime makes traders open (+) or close (-) positions: drives open interest.
REGIME_POSITIONING = (-0.10, 0.25, 0.25, 0.10)

#: base -> (start price, beta to market, idiosyncratic annual vol, liquidity scale, taker orders/s)
KNOWN_BASES: dict[str, tuple[float, float, float, float, float]] = {
    "BTC": (65_000.0, 1.00, 0.05, 1.00, 11.0),
    "ETH": (3_400.0, 1.15, 0.32, 0.50, 8.0),
    "SOL": (150.0, 1.35, 0.45, 0.25, 6.0),
}

#: Notional of one "typical" book level (USD) and of open interest at liquidity scale 1.
LEVEL_NOTIONAL = 150_000.0
OPEN_INTEREST_NOTIONAL = 900_000_000.0


def nice_floor(x: float) -> float:
    """The largest 1, 2 or 5 times a power of ten not above `x` (x > 0): tick and lot sizes."""
    exp = math.floor(math.log10(x))
    base = 10.0 ** exp
    for m in (5.0, 2.0, 1.0):
        if m * base <= x * (1 + 1e-12):
            return round(m * base, max(0, -exp + 1))
    return round(base, max(0, -exp + 1))


def nice_round(x: float) -> float:
    """The 1, 2 or 5 times a power of ten nearest to `x` (x > 0) on a log scale."""
    exp = math.floor(math.log10(x))
    candidates = [m * 10.0 ** e for e in (exp, exp + 1) for m in (1.0, 2.0, 5.0)]
    best = min(candidates, key=lambda c: abs(math.log(c / x)))
    return round(best, max(0, -math.floor(math.log10(best)) + 1))


def decimals_of(step: float) -> int:
    """Decimal places needed to print multiples of `step` exactly (0.5 -> 1, 0.02 -> 2, 5 -> 0)."""
    return max(0, math.ceil(-math.log10(step) - 1e-9))


@dataclass(frozen=True, slots=True)
class SymbolProfile:
    symbol: str
    perpetual: bool          # ccxt `BASE/QUOTE:SETTLE`; spot symbols get no funding, OI or liquidations
    price: float             # start price, quote units
    beta: float              # loading on the market factor
    idio_vol: float          # annualised idiosyncratic volatility
    liquidity: float         # scales book depth, order sizes and open interest
    order_rate: float        # taker orders per second at average activity
    tick: float              # price increment
    lot: float               # amount increment, base units
    price_decimals: int
    amount_decimals: int
    level_lots: int          # typical size of one book level, in lots
    step_sigma: float        # unconditional log-return sd per 100 ms step


def _hashed_traits(symbol: str) -> tuple[float, float, float, float, float]:
    """Deterministic traits for a symbol the table does not know, from a CRC of its name."""
    rng = np.random.default_rng(zlib.crc32(symbol.encode()))
    price = float(10.0 ** rng.uniform(-1.0, 3.0))
    price = float(f"{price:.4g}")
    return (price, float(rng.uniform(0.9, 1.6)), float(rng.uniform(0.4, 0.8)),
            float(rng.uniform(0.05, 0.2)), float(rng.uniform(3.0, 7.0)))


def profile_for(symbol: str, price: float | None = None) -> SymbolProfile:
    """The profile of `symbol` (ccxt unified), with an optional start price override (> 0)."""
    base = symbol.split("/")[0].upper()
    traits = KNOWN_BASES.get(base) or _hashed_traits(symbol)
    start, beta, idio, liquidity, rate = traits
    if price is not None:
        start = float(price)
    total_vol = math.hypot(beta * MARKET_VOL, idio)
    step_sigma = total_vol / math.sqrt(MINUTES_PER_YEAR * STEPS_PER_MIN)
    # A tick of about a third of a step's move: the book walks a few levels per step, as on a venue.
    tick = nice_round(start * step_sigma / 3.0)
    lot = nice_floor(20.0 / start)
    level_lots = max(5, int(LEVEL_NOTIONAL * liquidity / start / lot))
    return SymbolProfile(
        symbol=symbol, perpetual=":" in symbol, price=start, beta=beta, idio_vol=idio,
        liquidity=liquidity, order_rate=rate, tick=tick, lot=lot,
        price_decimals=decimals_of(tick), amount_decimals=decimals_of(lot),
        level_lots=level_lots, step_sigma=step_sigma,
    )


def _activity_curve() -> np.ndarray:
    """Relative trading activity per UTC minute of the day (mean 1): a U over the day with the
    Asia open (00-02), the EU open (07-09) and the US open (13:30-16) as bumps, lulls at 04-06 and
    20-22. Scales taker order rates fully and volatility by its square root."""
    hours = np.arange(1440) / 60.0

    def bump(centre: float, width: float) -> np.ndarray:
        d = np.abs(hours - centre)
        d = np.minimum(d, 24.0 - d)          # circular: 23:30 is near 00:30
        return np.exp(-0.5 * (d / width) ** 2)

    a = 0.45 + 0.6 * bump(0.6, 1.3) + 0.45 * bump(8.0, 1.1) + 0.95 * bump(14.6, 1.6) + 0.2 * bump(11.0, 3.0)
    return a / a.mean()


ACTIVITY = _activity_curve()


def activity_at(ts_ms: int) -> float:
    """Relative activity (mean 1 over a UTC day) at a timestamp in ms."""
    return float(ACTIVITY[(ts_ms // 60_000) % 1440])
