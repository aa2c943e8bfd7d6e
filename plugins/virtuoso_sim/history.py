"""Candle history of the simulated market, vectorised: years of candles in well under a second.

The backtester (virtuoso_tui.backtest.data.from_sim) and warm-ups need many closed candles at any
timeframe; stepping the book (book.py) for that would take minutes. This draws the same latent model
as latent.py at candle resolution instead: the regime chain (stepped in up to 30 sub-steps a bar with
the per-minute matrix raised to the sub-step's length, so trends last as long in real time at every
timeframe), GARCH(1,1) volatility per bar, Student-t bar shocks, fat-tailed jumps, the intraday
activity curve, and the symbol's beta to the market factor. Each bar is 30 sub-steps whose extremes
give high and low. The path is scaled so the LAST close equals the live market's start price and the
last candle ends at `end_ts` (default: the live market's start), so history joins a live run
seamlessly in level and time, though not tick for tick. Deterministic for (symbol, timeframe, bars,
seed, end_ts, price).
"""

from __future__ import annotations

import bisect
import math
import zlib

import numpy as np

from virtuoso_sim.book import _exact
from virtuoso_sim.latent import MINUTE_DOF, Garch
from virtuoso_sim.profiles import (
    ACTIVITY,
    DEFAULT_START_TS,
    MARKET_VOL,
    MINUTES_PER_YEAR,
    REGIME_DRIFT,
    REGIME_JUMPS,
    REGIME_TRANSITIONS,
    REGIME_VOL,
    profile_for,
)
from virtuoso_tui.model.market import timeframe_ms

SUB_STEPS = 30
MAX_BARS = 1_000_000
#: Average taker volume per second in typical level sizes (what book.py's order sizes average to).
VOLUME_PER_ORDER = 0.12


def _bar_activity(ts: np.ndarray, minutes: int) -> np.ndarray:
    """Mean activity over each bar's UTC minutes (1.0 for bars of a day or longer)."""
    if minutes >= 1440:
        return np.ones(len(ts))
    first = (ts // 60_000) % 1440
    idx = (first[:, None] + np.arange(minutes)[None, :]) % 1440
    return ACTIVITY[idx].mean(axis=1)


def history(symbol: str, timeframe: str = "1m", bars: int = 5000, seed: int = 1,
            end_ts: int = DEFAULT_START_TS, price: float | None = None) -> dict[str, np.ndarray]:
    """`bars` closed candles of `symbol` ending at `end_ts` (ms, floored to the timeframe).

    Returns arrays: ts (int64 open times), open, high, low, close, volume, buy_volume (float64, base
    units; prices on the symbol's tick). ValueError with one sentence on bad arguments.
    """
    tf_ms = timeframe_ms(timeframe)
    if isinstance(bars, bool) or not isinstance(bars, int) or not 1 <= bars <= MAX_BARS:
        raise ValueError(f"bars must be an integer from 1 to {MAX_BARS}, got {bars!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if "/" not in symbol:
        raise ValueError(f"symbol {symbol!r} is not in ccxt unified form (BASE/QUOTE or BASE/QUOTE:SETTLE)")
    p = profile_for(symbol, price)
    minutes = tf_ms // 60_000
    regime_steps = min(minutes, SUB_STEPS)
    step_minutes = minutes // regime_steps
    rng_m = np.random.default_rng([seed, 0, 7])
    rng_i = np.random.default_rng([seed, zlib.crc32(symbol.encode()), 7])

    end = end_ts - end_ts % tf_ms
    ts = end - tf_ms * np.arange(bars, 0, -1, dtype=np.int64)
    activity = _bar_activity(ts, minutes)

    # Regime chain over bars x regime_steps sub-steps.
    cum = np.cumsum(np.linalg.matrix_power(REGIME_TRANSITIONS, step_minutes), axis=1).tolist()
    u = rng_m.random(bars * regime_steps).tolist()
    regimes = np.empty(bars * regime_steps, dtype=np.int64)
    reg = 0
    for k, x in enumerate(u):
        reg = min(3, bisect.bisect_right(cum[reg], x))
        regimes[k] = reg
    regimes = regimes.reshape(bars, regime_steps)
    vol_mult = np.sqrt((np.array(REGIME_VOL)[regimes] ** 2).mean(axis=1))
    drift_sd = np.array(REGIME_DRIFT)[regimes].mean(axis=1) * minutes      # in minute sds of the market
    jump_mult = np.array(REGIME_JUMPS)[regimes].mean(axis=1)

    sig_m = MARKET_VOL / math.sqrt(MINUTES_PER_YEAR)
    sig_i = p.idio_vol / math.sqrt(MINUTES_PER_YEAR)
    root = math.sqrt(minutes)
    z_m = rng_m.standard_normal((bars, SUB_STEPS))
    z_i = rng_i.standard_normal((bars, SUB_STEPS))
    t_m = np.sqrt((MINUTE_DOF - 2.0) / rng_m.chisquare(MINUTE_DOF, bars))
    t_i = np.sqrt((MINUTE_DOF - 2.0) / rng_i.chisquare(MINUTE_DOF, bars))
    # Jumps: one per bar at most, Poisson-thinned by the bar's length (rates are per minute).
    jump_hit = rng_m.random(bars) < 1.0 - np.exp(-minutes * jump_mult / 360.0)
    jump_size = np.minimum(np.abs(rng_m.standard_t(3, bars)), 6.0) * 4.0 * sig_m * np.sign(rng_m.random(bars) - 0.45)
    jump_at = rng_m.integers(0, SUB_STEPS, bars)

    # GARCH per bar on the bar's own shock: the only sequential part.
    g_m, g_i = Garch(0.10, 0.88), Garch(0.08, 0.90)
    sum_m = (z_m.sum(axis=1) / math.sqrt(SUB_STEPS)).tolist()
    sum_i = (z_i.sum(axis=1) / math.sqrt(SUB_STEPS)).tolist()
    scale_m, scale_i = np.empty(bars), np.empty(bars)
    for b in range(bars):
        sm = math.sqrt(g_m.h) * t_m[b]
        si = math.sqrt(g_i.h) * t_i[b]
        scale_m[b], scale_i[b] = sm, si
        jump = jump_size[b] / (sig_m * root) if jump_hit[b] else 0.0
        g_m.update(sm * sum_m[b] + jump)
        g_i.update(si * sum_i[b])

    bar_sd_m = sig_m * root * np.sqrt(activity) * vol_mult * scale_m
    bar_sd_i = sig_i * root * np.sqrt(activity) * vol_mult * scale_i
    steps = p.beta * (z_m * (bar_sd_m / math.sqrt(SUB_STEPS))[:, None]
                      + (drift_sd * sig_m / SUB_STEPS)[:, None])
    steps[np.arange(bars)[jump_hit], jump_at[jump_hit]] += p.beta * jump_size[jump_hit]
    steps += z_i * (bar_sd_i / math.sqrt(SUB_STEPS))[:, None]

    path = np.cumsum(steps.ravel()).reshape(bars, SUB_STEPS)
    path += math.log(p.price) - path[-1, -1]              # the last close is the live start price
    close_log = path[:, -1]
    open_log = np.concatenate(([close_log[0] - steps[0].sum()], close_log[:-1]))
    pmul, pdiv = _exact(p.tick)
    amul, adiv = _exact(p.lot)

    def snap(x: np.ndarray) -> np.ndarray:
        """Log prices -> prices on the tick grid, as the exact decimals (see book._exact)."""
        return np.round(np.exp(x) / p.tick) * pmul / pdiv

    open_, close = snap(open_log), snap(close_log)
    high = np.maximum(snap(path.max(axis=1)), np.maximum(open_, close))
    low = np.minimum(snap(path.min(axis=1)), np.minimum(open_, close))

    level_size = p.level_lots * p.lot
    expected = p.order_rate * VOLUME_PER_ORDER * level_size * 60.0 * minutes
    busy = activity * np.minimum(3.0, vol_mult * scale_m)
    volume = expected * busy * np.exp(0.3 * rng_i.standard_normal(bars) - 0.045)
    move = (close_log - open_log) / np.maximum(bar_sd_m * p.beta + bar_sd_i, 1e-12)
    buy_share = np.clip(0.5 + 0.15 * np.tanh(move), 0.05, 0.95)
    lots = np.maximum(1.0, np.round(volume / p.lot))
    volume = lots * amul / adiv
    buy_volume = np.round(lots * buy_share) * amul / adiv
    return {"ts": ts, "open": open_, "high": high, "low": low, "close": close,
            "volume": volume, "buy_volume": buy_volume}
