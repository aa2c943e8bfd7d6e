"""Price/indicator divergence from swing pivots: regular and hidden, bullish and bearish.

Faces get the pivots once per timeframe (a CandleView derives them with `pivots_from_swings` from
the 100-bar swings it finds for price structure anyway; `pivots` computes them directly), then call
`divergence`, or `divergences` for several indicators at once, with those pivots (RSI, MACD, CVD,
OBV, ...). The result is a signed strength that the face turns into DIV points (bounded by the
prism's div cap, see prism/blended.py). Swings use TA-Lib's rolling MAX/MIN (plain comparisons, so
exact); an indicator may be shorter than the prices (aligned at the end). Nothing here allocates per
indicator beyond a few indices.

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

from typing import Any, NamedTuple

import numpy as np
import talib

REGULAR = 1.0
HIDDEN = 0.6
LOOKBACK = 60  # bars searched for the two swings (pivots' default)


class Pivots(NamedTuple):
    highs: np.ndarray  # indices of the last two swing highs (0, 1 or 2 of them), oldest first
    lows: np.ndarray
    offset: int  # index of the first bar examined in the full array


def swing_highs(x: np.ndarray, k: int) -> np.ndarray:
    """Indices i where x[i] is strictly above the k bars before it and at least the k bars after it."""
    return _swings(x, k, talib.MAX, np.greater, np.greater_equal)


def swing_lows(x: np.ndarray, k: int) -> np.ndarray:
    """Indices i where x[i] is strictly below the k bars before it and at most the k bars after it:
    exactly `swing_highs(-x, k)`, without building -x."""
    return _swings(x, k, talib.MIN, np.less, np.less_equal)


def _swings(x: np.ndarray, k: int, rolling: Any, beyond: Any, at_least: Any) -> np.ndarray:
    n = x.shape[0]
    m = n - 2 * k
    if m < 1:
        return np.empty(0, dtype=np.int64)
    # roll[i] = extreme of x[i-k+1 .. i]: the k bars before bar c end at c-1, the k after it at c+k.
    # TA-Lib's rolling MAX/MIN (plain comparisons, so exact) needs a period >= 2.
    if k > 1:
        roll = rolling(x if x.flags.c_contiguous and x.dtype == np.float64 else np.ascontiguousarray(x, np.float64), k)
    else:
        roll = x
    centre = x[k:k + m]
    hit = beyond(centre, roll[k - 1:k - 1 + m]) & at_least(centre, roll[2 * k:2 * k + m])
    return hit.nonzero()[0] + k  # 1-D: what np.flatnonzero gives, without its wrapper


def pivots(high: np.ndarray, low: np.ndarray, k: int = 3, lookback: int = LOOKBACK) -> Pivots:
    """The last two swing highs (on `high`) and swing lows (on `low`) within the last `lookback` bars.

    The lows use the same rule as the highs applied to -low, so a mirrored market's highs are exactly
    the original's lows. Indices are into the full arrays.
    """
    n = high.shape[0]
    start = max(0, n - lookback)
    hi = swing_highs(high[start:], k)[-2:] + start
    lo = swing_lows(low[start:], k)[-2:] + start
    return Pivots(hi, lo, start)


def pivots_from_swings(n: int, highs: np.ndarray, lows: np.ndarray, k: int = 3, lookback: int = LOOKBACK) -> Pivots:
    """`pivots` over the last `lookback` of `n` bars from swings already found over a LONGER tail.

    `highs`/`lows` are full-array indices of every swing found by `swing_highs` on a tail that starts
    at or before n - lookback. A swing at index i >= n - lookback + k has all its k neighbours inside
    the shorter tail too, so the rule reads the same bars and the result equals `pivots` exactly
    (a candle view finds the 100-bar swings once for price structure and derives these from them).
    """
    first = max(0, n - lookback) + k
    hi = highs[highs >= first][-2:]
    lo = lows[lows >= first][-2:]
    return Pivots(hi, lo, max(0, n - lookback))


def divergence(high: np.ndarray, low: np.ndarray, indicator: np.ndarray, piv: Pivots) -> tuple[float, str]:
    """Signed divergence strength (-1.6..+1.6) of `indicator` against price at the swings in `piv`.

    `high`/`low` are the arrays the pivots came from; `indicator` is aligned with them at the END: it
    may be shorter (an indicator computed on the newest bars only, e.g. a windowed CCI), and a swing
    older than its first value counts as NaN. A swing on a NaN reading is ignored. Returns (strength,
    label) where label names what was found ("" when nothing diverges).
    """
    return divergences(high, low, piv, indicator)[0]


def divergences(high: np.ndarray, low: np.ndarray, piv: Pivots, *indicators: np.ndarray) -> list[tuple[float, str]]:
    """`divergence` of each of `indicators` against the same swings, the price side worked out once."""
    n = high.shape[0]
    lows = highs = None
    # plain floats: comparing numpy scalars costs more than the whole rule
    if piv.lows.shape[0] == 2:
        a, b = piv.lows.tolist()
        lows = (a, b, float(low[a]), float(low[b]))
    if piv.highs.shape[0] == 2:
        a, b = piv.highs.tolist()
        highs = (a, b, float(high[a]), float(high[b]))
    out = []
    for indicator in indicators:
        off = n - indicator.shape[0]
        strength = 0.0
        labels = []
        if lows is not None and lows[0] >= off:
            a, b, pa, pb = lows
            ia, ib = float(indicator[a - off]), float(indicator[b - off])
            if ia == ia and ib == ib:
                if pb < pa and ib > ia:
                    strength += REGULAR
                    labels.append("regular bullish")
                elif pb > pa and ib < ia:
                    strength += HIDDEN
                    labels.append("hidden bullish")
        if highs is not None and highs[0] >= off:
            a, b, pa, pb = highs
            ia, ib = float(indicator[a - off]), float(indicator[b - off])
            if ia == ia and ib == ib:
                if pb > pa and ib < ia:
                    strength -= REGULAR
                    labels.append("regular bearish")
                elif pb < pa and ib > ia:
                    strength -= HIDDEN
                    labels.append("hidden bearish")
        out.append((strength, ", ".join(labels)))
    return out

_swing_highs = swing_highs  # the former private name
