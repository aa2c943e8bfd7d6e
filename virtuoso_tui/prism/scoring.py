"""Scoring helpers shared by every face: the squashing map, the timeframe blend, timeframe divergence,
and rounding that keeps printed tables adding up.

A face measures something unit-free (a z-score, a ratio in [-1, 1], a distance in ATRs) and turns it
into a directional score with `squash`: 50 + 50·tanh(x / k). The map is continuous and odd around 50,
so there are no jumps at 30/70, a reading of 0 is exactly neutral, and a mirrored market (x -> -x)
gives exactly 100 - s. The engine (prism/engine.py) and the DIV renderer (prism/render.py) use
`largest_remainder` so printed impacts sum to the printed total. `mean_std`/`zscore_last` are numpy's
own mean and std, bit for bit, without the generic wrappers' overhead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

NEUTRAL = 50.0


def squash(x: float, k: float = 1.0) -> float:
    """Directional score 0-100 from a unit-free reading `x` (0 -> 50; x = k -> 88.1; x = -k -> 11.9).

    NaN or None gives None (the component is n/a rather than invented). Infinite x saturates at 0/100.
    """
    if x is None or x != x:
        return None
    return NEUTRAL + NEUTRAL * math.tanh(x / k)


def clamp(value: float, low: float = 0.0, high: float = 100.0) -> float:
    return low if value < low else high if value > high else value


def ratio(a: float, b: float) -> float:
    """(a - b) / (a + b) in [-1, 1]; 0 when both are zero (nothing to compare means no direction)."""
    total = a + b
    if total <= 0.0 or total != total:
        return 0.0
    return (a - b) / total


def mean_std(x: np.ndarray) -> tuple[float, float]:
    """(mean, population std) of a non-empty array, bit for bit what `x.mean()` and `x.std()` return.

    numpy's own reductions in numpy's own order (sum / n, then the mean squared deviation), spelt out
    so the mean is summed once and the generic wrappers are skipped: on the few dozen values the faces
    pass, the wrappers cost more than the arithmetic.
    """
    n = x.shape[0]
    mean = float(x.sum()) / n
    dev = x - mean
    return mean, math.sqrt(float((dev * dev).sum()) / n)


def zscore_last(values: np.ndarray, window: int) -> float:
    """z-score of the newest value against the last `window` values (population std).

    Returns NaN with fewer than 3 values; 0 when the window is flat (no dispersion, no signal).
    """
    tail = values[-window:]
    if tail.shape[0] < 3:
        return float("nan")
    mean, sd = mean_std(tail)
    if sd <= 0.0 or sd != sd:
        return 0.0
    return (float(tail[-1]) - mean) / sd


def blend(scores: Mapping[str, float | None], weights: Mapping[str, float]) -> float | None:
    """Weighted mean of the per-timeframe scores that exist; None when none exists."""
    num = den = 0.0
    for tf, w in weights.items():
        s = scores.get(tf)
        if s is not None and w > 0.0:
            num += w * s
            den += w
    return num / den if den > 0.0 else None


def timeframe_divergence(
    scores: Mapping[str, float | None], weights: Mapping[str, float], order: list[str], cap: float
) -> float:
    """DIV points from lower timeframes disagreeing with the highest timeframe present.

    When the higher timeframe and the weighted lower timeframes sit on opposite sides of 50, the blend
    is nudged toward the higher timeframe by (cap/2)·tanh(4·m/50) points, where m is the smaller of the
    two distances from 50 (so the nudge grows from 0 continuously and is 0 when they agree or when
    either is neutral). `order` lists timeframes from highest to lowest. Fewer than two timeframes
    with scores gives 0.
    """
    high = None
    num = den = 0.0
    for tf in order:
        s = scores.get(tf)
        w = weights.get(tf, 0.0)
        if s is None or w <= 0.0:
            continue
        if high is None:
            high = s - NEUTRAL
        else:
            num += w * s
            den += w
    if high is None or den <= 0.0:
        return 0.0
    low = num / den - NEUTRAL
    if high * low >= 0.0:
        return 0.0
    m = min(abs(high), abs(low))
    return math.copysign(0.5 * cap * math.tanh(4.0 * m / 50.0), high)


def largest_remainder(values: list[float], total: float, decimals: int) -> list[float]:
    """Round `values` to `decimals` so that they sum exactly to `total` rounded to `decimals`.

    Hamilton's method: round down, then hand the missing units to the largest remainders. Used so a
    DIV table's printed IMPACT column adds up to its printed FINAL score.
    """
    if not values:
        return []
    scale = 10**decimals
    target = round(total * scale)
    floors = [math.floor(v * scale) for v in values]
    missing = target - sum(floors)
    order = sorted(range(len(values)), key=lambda i: values[i] * scale - floors[i], reverse=True)
    step = 1 if missing >= 0 else -1
    if step < 0:
        order.reverse()
    for k in range(abs(missing)):
        floors[order[k % len(order)]] += step
    return [f / scale for f in floors]


def mean_confidence(parts: list[float]) -> float:
    """Geometric mean of confidence factors in [0, 1] (one weak factor pulls the whole down)."""
    if not parts:
        return 0.0
    prod = 1.0
    for p in parts:
        prod *= clamp(p, 0.0, 1.0)
    return prod ** (1.0 / len(parts))


def effective_score(face) -> float:
    """A FaceResult's score shrunk toward 50 by its confidence: 50 + c·(s - 50) (the confluence input)."""
    return NEUTRAL + face.confidence * (face.score - NEUTRAL)
