"""The perpetual-swap side of a simulated symbol: index and mark price, premium and funding, open
interest, liquidations and the retail long/short ratio. Updated once per second of market time by
market.py from what the book (book.py) traded; spot symbols have none of this.

- Index: the latent fair value smoothed over ~20 s (a spot basket lags the perp).
- Premium: positioning demand (trend direction, crowding of retail longs) plus a share of the perp's
  deviation from the index. Funding estimate = mean premium P since the last settlement +
  clamp(0.01% - P, +-0.01%), clamped to +-0.75% per 8 h: Binance's formula with a band of 0.01%
  instead of 0.05%, so the rate visibly follows the premium. Settled at 00/08/16 UTC (not at the
  start of a run: no interval has elapsed there).
- Open interest grows with volume while traders pile into trends, shrinks in ranges, and loses every
  liquidated lot; it mean-reverts slowly to its base so hours of running stay plausible.
- Liquidations: when the 30 s move exceeds 2.5 unconditional sds, forced orders arrive with an intensity
  rising with the square of the excess and with open interest: longs are sold into dumps, shorts
  bought into squeezes; they walk the book and so feed the cascade.
- Long/short ratio: retail leans AGAINST the informed flow (buys the dips smart money sells) and
  reverts to a long bias of 1.3.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from virtuoso_sim.profiles import (
    OPEN_INTEREST_NOTIONAL,
    REGIME_POSITIONING,
    TREND_DOWN,
    TREND_UP,
    SymbolProfile,
)

FUNDING_INTEREST = 0.0001          # 0.01% per 8 h
FUNDING_CLAMP = 0.0075             # +-0.75% per 8 h
INTEREST_BAND = 0.0001            # narrower than Binance's 0.05% so the rate tracks the premium
LIQUIDATION_Z = 2.5                # 30 s moves beyond this many sds start liquidating
LONG_BIAS = math.log(1.3)


def funding_rate(mean_premium: float) -> float:
    """Funding per 8 h from the interval's mean premium (fractions): P + clamp(I - P, +-0.01%),
    clamped to +-0.75%."""
    rate = mean_premium + min(INTEREST_BAND, max(-INTEREST_BAND, FUNDING_INTEREST - mean_premium))
    return min(FUNDING_CLAMP, max(-FUNDING_CLAMP, rate))


class PerpDesk:
    """Derivatives state of one perpetual symbol, stepped each second."""

    def __init__(self, profile: SymbolProfile, rng: np.random.Generator) -> None:
        self.p = profile
        self.rng = rng
        self.index = profile.price
        self.mark = profile.price
        self.premium = 0.0
        self.premium_ema = 0.0
        self._premium_sum = 0.0
        self._premium_n = 0
        self.trend = 0.0                                  # smoothed regime direction, -1..1
        self.oi_base = OPEN_INTEREST_NOTIONAL * profile.liquidity / profile.price
        self.open_interest = self.oi_base * float(rng.uniform(0.9, 1.1))
        self.ls_log = LONG_BIAS
        self._mids: deque[float] = deque(maxlen=31)       # mids at the last 31 whole seconds
        self._sigma30 = profile.step_sigma * math.sqrt(300.0)
        self._minute_open = profile.price

    @property
    def funding_estimate(self) -> float:
        mean = self._premium_sum / self._premium_n if self._premium_n else self.premium
        return funding_rate(mean)

    @property
    def long_short(self) -> float:
        return math.exp(self.ls_log)

    def settle(self) -> float:
        """Close the funding interval: return the settled rate and start averaging afresh."""
        rate = self.funding_estimate
        self._premium_sum, self._premium_n = 0.0, 0
        return rate

    def second(self, mid: float, fair: float, regime: int, volume: float, liquidated: float
               ) -> list[tuple[str, int, int]]:
        """Advance one second. `volume` and `liquidated` are base units traded / force-closed in the
        second. Returns the liquidation orders to run in the next second: (side, lots, step offset 0-9)."""
        rng = self.rng
        self.index += (fair - self.index) / 20.0
        direction = 1.0 if regime == TREND_UP else -1.0 if regime == TREND_DOWN else 0.0
        self.trend += (direction - self.trend) / 600.0
        crowding = (self.ls_log - LONG_BIAS) / 0.3
        self.premium = 0.0009 * self.trend + 0.0002 * crowding + 0.3 * (mid - self.index) / self.index
        self.premium_ema += (self.premium - self.premium_ema) / 60.0
        self._premium_sum += self.premium
        self._premium_n += 1
        self.mark = self.index * (1.0 + self.premium_ema)

        opening = 0.5 * REGIME_POSITIONING[regime] + 0.1 * float(rng.standard_normal())
        self.open_interest += volume * opening - liquidated + 2e-4 * (self.oi_base - self.open_interest)
        self.open_interest = max(0.2 * self.oi_base, self.open_interest)

        self._mids.append(mid)
        orders: list[tuple[str, int, int]] = []
        if len(self._mids) > 1:
            z = math.log(mid / self._mids[0]) / self._sigma30
            excess = abs(z) - LIQUIDATION_Z
            if excess > 0:
                intensity = min(8.0, 0.3 * excess * excess * self.open_interest / self.oi_base)
                side = "sell" if z < 0 else "buy"
                for _ in range(int(rng.poisson(intensity))):
                    lots = int(self.p.level_lots * 0.4 * (float(rng.pareto(1.6)) + 1.0)) + 1
                    orders.append((side, lots, int(rng.integers(0, 10))))
        return orders

    def minute(self, mid: float, informed_lots: float) -> None:
        """Once a minute: retail positioning leans against the informed flow and the minute's move."""
        flow = max(-3.0, min(3.0, informed_lots / (5.0 * self.p.level_lots)))
        move = math.log(mid / self._minute_open) / (self.p.step_sigma * math.sqrt(600.0))
        self._minute_open = mid
        self.ls_log += (0.02 * (LONG_BIAS - self.ls_log) - 0.02 * flow - 0.01 * max(-4.0, min(4.0, move))
                        + 0.01 * float(self.rng.standard_normal()))
