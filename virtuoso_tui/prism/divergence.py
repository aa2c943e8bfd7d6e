"""Price/indicator divergence from swing pivots: regular and hidden, bullish and bearish.

Faces call `pivots` once per timeframe on the price, then `divergence` per indicator (RSI, MACD, CVD,
OBV, OI, ...) with those pivots. The result is a signed strength that the face turns into DIV points
(bounded by the prism's div cap, see prism/blended.py). Everything is pure numpy on arrays that
already exist in the ring buffers; nothing here allocates per indicator beyond a few indices.

The rules, in a trader's words (compare the two most recent confirmed swings):
  regular bullish   price makes a lower low,   the indicator a higher low   -> +1.0 (reversal up)
  hidden bullish    price makes a higher low,  the indicator a lower low    -> +0.6 (trend resumes up)
  regular bearish   price makes a higher high, the indicator a lower high   -> -1.0 (reversal down)
  hidden bearish    price makes a lower high,  the indicator a higher high  -> -0.6 (trend resumes down)
Lows and highs are judged separately and add up. A swing is confirmed when `k` bars on each side are
lower (highs) or higher (lows), so the newest `k` bars never form one. Too few bars or fewer than two
swings inside the lookback gives 0: nothing diverges.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

REGULAR = 1.0
HIDDEN = 0.6


class Pivots(NamedTuple):
    highs: np.ndarray  # indices of the last two swing highs (0, 1 or 2 of them), oldest first
    lows: np.ndarray
    offset: int  # index of the first bar examined in the full array


def _swing_highs(x: np.ndarray, k: int) -> np.ndarray:
    """Indices i where x[i] is strictly above the k bars before it and at least the k bars after it."""
    n = x.shape[0]
    m = n - 2 * k
    if m < 1:
        return np.empty(0, dtype=np.int64)
    # shifted maxima: cheaper than a sliding-window view for the small k used here
    left = x[0:m]
    for j in range(1, k):
        left = np.maximum(left, x[j:j + m])
    right = x[k + 1:k + 1 + m]
    for j in range(2, k + 1):
        right = np.maximum(right, x[k + j:k + j + m])
    centre = x[k:k + m]
    return np.flatnonzero((centre > left) & (centre >= right)) + k


def pivots(high: np.ndarray, low: np.ndarray, k: int = 3, lookback: int = 60) -> Pivots:
    """The last two swing highs (on `high`) and swing lows (on `low`) within the last `lookback` bars.

    The lows use the same rule as the highs applied to -low, so a mirrored market's highs are exactly
    the original's lows. Indices are into the full arrays.
    """
    n = high.shape[0]
    start = max(0, n - lookback)
    hi = _swing_highs(high[start:], k)[-2:] + start
    lo = _swing_highs(-low[start:], k)[-2:] + start
    return Pivots(hi, lo, start)


def divergence(high: np.ndarray, low: np.ndarray, indicator: np.ndarray, piv: Pivots) -> tuple[float, str]:
    """Signed divergence strength (-1.6..+1.6) of `indicator` against price at the swings in `piv`.

    `high`/`low` are the arrays the pivots came from; `indicator` is aligned with them (NaN where it
    is not yet defined: a swing on a NaN reading is ignored). Returns (strength, label) where label
    names what was found ("" when nothing diverges).
    """
    strength = 0.0
    labels = []
    if piv.lows.shape[0] == 2:
        a, b = piv.lows
        ia, ib = indicator[a], indicator[b]
        if ia == ia and ib == ib:
            if low[b] < low[a] and ib > ia:
                strength += REGULAR
                labels.append("regular bullish")
            elif low[b] > low[a] and ib < ia:
                strength += HIDDEN
                labels.append("hidden bullish")
    if piv.highs.shape[0] == 2:
        a, b = piv.highs
        ia, ib = indicator[a], indicator[b]
        if ia == ia and ib == ib:
            if high[b] > high[a] and ib < ia:
                strength -= REGULAR
                labels.append("regular bearish")
            elif high[b] < high[a] and ib > ia:
                strength -= HIDDEN
                labels.append("hidden bearish")
    return strength, ", ".join(labels)
