"""The latent ("fair value") price paths of the simulated market, drawn one minute at a time.

A market factor carries what all coins share: a GARCH(1,1) variance updated each minute from the
minute's own shock (volatility clusters), a Markov regime (range / trend up / trend down / high vol)
that sets drift and volatility, rare fat-tailed jumps spread over a few seconds, and the intraday
activity curve. Each symbol's log return per 100 ms step is beta x market + its own GARCH noise, so
ETH and SOL follow BTC with their own wiggles. All draws of a minute are vectorised numpy; only the
per-minute recursions are Python. book.py turns these paths into quotes and trades.
"""

from __future__ import annotations

import math

import numpy as np

from virtuoso_sim.profiles import (
    HIGH_VOL,
    MARKET_VOL,
    MINUTES_PER_YEAR,
    RANGE,
    REGIME_DRIFT,
    REGIME_JUMPS,
    REGIME_TRANSITIONS,
    REGIME_VOL,
    STEPS_PER_MIN,
    TREND_DOWN,
    TREND_UP,
    activity_at,
)

_CUM_TRANSITIONS = np.cumsum(REGIME_TRANSITIONS, axis=1)


#: Degrees of freedom of the per-minute variance mixing: minute shocks are Student t(5) (excess
#: kurtosis 6 before GARCH and jumps add theirs), as real one-minute returns are far from normal.
MINUTE_DOF = 5.0


def _t_scale(rng: np.random.Generator) -> float:
    """sd multiplier that makes a normal minute shock a unit-variance Student t(MINUTE_DOF)."""
    return math.sqrt((MINUTE_DOF - 2.0) / float(rng.chisquare(MINUTE_DOF)))


class Garch:
    """GARCH(1,1) on per-minute shocks in units of the unconditional sd (long-run variance 1).

    `update(u)` takes the last minute's normalised shock u (return / unconditional minute sd) and
    returns the next minute's variance multiplier h; u^2 is capped at 30 so one huge jump raises
    volatility for a while without blowing the process up.
    """

    __slots__ = ("alpha", "beta", "h")

    def __init__(self, alpha: float, beta: float) -> None:
        self.alpha, self.beta, self.h = alpha, beta, 1.0

    def update(self, u: float) -> float:
        self.h = (1.0 - self.alpha - self.beta) + self.alpha * min(u * u, 30.0) + self.beta * self.h
        return self.h


def _jump_path(rng: np.random.Generator, size_sd: float, up_prob: float) -> np.ndarray:
    """One jump of fat-tailed size (|Student t, 3 dof| x size_sd, capped at 6 sd), spread evenly over
    3-30 consecutive steps starting at a random step of the minute; zero elsewhere."""
    path = np.zeros(STEPS_PER_MIN)
    size = min(abs(float(rng.standard_t(3))), 6.0) * size_sd
    sign = 1.0 if rng.random() < up_prob else -1.0
    span = int(rng.integers(3, 31))
    start = int(rng.integers(0, STEPS_PER_MIN - span))
    path[start:start + span] = sign * size / span
    return path


class MarketFactor:
    """The shared driver: log returns per step in BTC's units (annual vol MARKET_VOL at h = 1)."""

    #: Jumps per minute in the range regime (about one every six hours), sized in minute sds.
    JUMP_RATE = 1.0 / 360.0
    JUMP_SIZE = 4.0
    #: Pull back toward the level where a range began, per minute (ranges mean-revert).
    RANGE_REVERSION = 0.03

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.garch = Garch(0.10, 0.88)
        self.regime = RANGE
        self.level = 0.0          # cumulative log return since start
        self.range_anchor = 0.0
        self.minute_sigma = MARKET_VOL / math.sqrt(MINUTES_PER_YEAR)
        self.vol_factor = 1.0     # this minute's sd / unconditional sd (for spreads, sizes, rates)

    def _next_regime(self) -> None:
        u = self.rng.random()
        new = int(np.searchsorted(_CUM_TRANSITIONS[self.regime], u, side="right"))
        new = min(new, 3)
        if new == RANGE and self.regime != RANGE:
            self.range_anchor = self.level
        self.regime = new

    def next_minute(self, minute_ts: int) -> np.ndarray:
        """Log returns of the market factor for the STEPS_PER_MIN steps starting at `minute_ts`."""
        self._next_regime()
        rng, regime, sig = self.rng, self.regime, self.minute_sigma
        act = activity_at(minute_ts)
        scale = math.sqrt(self.garch.h * act) * REGIME_VOL[regime]
        self.vol_factor = scale
        drift = REGIME_DRIFT[regime] * sig
        if regime == RANGE:
            drift -= self.RANGE_REVERSION * (self.level - self.range_anchor)
        steps = rng.standard_normal(STEPS_PER_MIN) * (sig * scale * _t_scale(rng) / math.sqrt(STEPS_PER_MIN))
        if rng.random() < self.JUMP_RATE * REGIME_JUMPS[regime]:
            up = 0.7 if regime == TREND_UP else 0.25 if regime == TREND_DOWN else 0.45
            steps += _jump_path(rng, self.JUMP_SIZE * sig * (1.5 if regime == HIGH_VOL else 1.0), up)
        shock = float(steps.sum())
        # The GARCH sees the whole shock (jumps included), net of the deterministic intraday and regime
        # scaling, so a jump or a busy hour of surprises raises the volatility that follows.
        self.garch.update(shock / (sig * math.sqrt(act) * REGIME_VOL[regime]))
        steps += drift / STEPS_PER_MIN
        self.level += shock + drift
        return steps


class IdioFactor:
    """A symbol's own noise: GARCH(1,1), intraday scaling and rarer jumps, no drift."""

    JUMP_RATE = 1.0 / 900.0
    JUMP_SIZE = 3.0

    def __init__(self, rng: np.random.Generator, annual_vol: float) -> None:
        self.rng = rng
        self.garch = Garch(0.08, 0.90)
        self.minute_sigma = annual_vol / math.sqrt(MINUTES_PER_YEAR)

    def next_minute(self, minute_ts: int, regime: int) -> np.ndarray:
        rng, sig = self.rng, self.minute_sigma
        act = activity_at(minute_ts)
        scale = math.sqrt(self.garch.h * act) * REGIME_VOL[regime]
        steps = rng.standard_normal(STEPS_PER_MIN) * (sig * scale * _t_scale(rng) / math.sqrt(STEPS_PER_MIN))
        if rng.random() < self.JUMP_RATE * REGIME_JUMPS[regime]:
            steps += _jump_path(rng, self.JUMP_SIZE * sig, 0.5)
        self.garch.update(float(steps.sum()) / (sig * math.sqrt(act) * REGIME_VOL[regime]))
        return steps
