"""Indicators TA-Lib does not have, as pure numpy functions over arrays (no pandas, no state).

The faces in plugins/virtuoso_prism call these next to TA-Lib. Each function is unit-generic: the
faces pass LOG prices (ln p), which makes every distance a fraction of price (×10,000 = bps), makes
the result independent of the price unit, and makes a mirrored market (p -> C/p) an exact reflection.
Sizes are base-asset units; every size-based output here is a ratio, so a size unit cancels.
"""

from __future__ import annotations

import numpy as np
import talib


def chaikin_money_flow(high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray, n: int = 20) -> float:
    """CMF over the last `n` bars: Σ(MFM·volume) / Σvolume, in [-1, 1].

    Money-flow multiplier MFM = ((close - low) - (high - close)) / (high - low): +1 closing on the high,
    -1 on the low; a bar with high == low counts 0. Fewer than `n` bars: NaN. Zero volume: 0.
    """
    if close.shape[0] < n:
        return float("nan")
    h, lo, c, v = high[-n:], low[-n:], close[-n:], volume[-n:]
    rng = h - lo
    mfm = np.divide((c - lo) - (h - c), rng, out=np.zeros_like(rng), where=rng > 0)
    vol = float(v.sum())
    return float((mfm * v).sum() / vol) if vol > 0 else 0.0


def awesome_oscillator(high: np.ndarray, low: np.ndarray, fast: int = 5, slow: int = 34) -> np.ndarray:
    """AO = SMA(median, fast) - SMA(median, slow), median = (high + low) / 2, in price units.

    The first slow-1 values are NaN (not enough bars for the slow average).
    """
    median = (high + low) * 0.5
    return talib.SMA(median, fast) - talib.SMA(median, slow)


def vwap(price: np.ndarray, volume: np.ndarray) -> float:
    """Volume-weighted average of `price`: Σ price·volume / Σ volume. NaN when there is no volume.

    Faces pass ln(typical price) and get the volume-weighted geometric mean price (in log).
    """
    vol = float(volume.sum())
    if vol <= 0.0:
        return float("nan")
    return float((price * volume).sum() / vol)


def value_area(price: np.ndarray, volume: np.ndarray, bins: int = 40, share: float = 0.70) -> tuple[float, float, float]:
    """Volume profile -> (POC, VAH, VAL), in the units of `price`.

    Each bar's volume goes to the bin holding its price (bins evenly split [min, max]). POC is the
    centre of the fullest bin. The value area grows from the POC one bin at a time toward the side
    whose next bin holds more volume (a tie takes both), until it holds `share` of the volume; VAH/VAL are
    its outer bin edges. One distinct price gives POC = VAH = VAL = that price. No bars: NaNs.
    """
    if price.shape[0] == 0 or float(volume.sum()) <= 0.0:
        return float("nan"), float("nan"), float("nan")
    lo, hi = float(price.min()), float(price.max())
    if hi <= lo:
        return lo, lo, lo
    width = (hi - lo) / bins
    idx = np.minimum(((price - lo) / width).astype(np.int64), bins - 1)
    profile = np.bincount(idx, weights=volume, minlength=bins)
    poc = int(profile.argmax())
    need = share * float(profile.sum())
    bars = profile.tolist()  # the walk below is scalar: plain floats are several times cheaper
    top = bottom = poc
    held = bars[poc]
    while held < need and (top < bins - 1 or bottom > 0):
        up = bars[top + 1] if top < bins - 1 else -1.0
        down = bars[bottom - 1] if bottom > 0 else -1.0
        if up > down:
            top += 1
            held += up
        elif down > up:
            bottom -= 1
            held += down
        else:  # a tie grows both sides, so the result does not depend on which way prices point
            top, bottom = top + 1, bottom - 1
            held += up + down
    return lo + (poc + 0.5) * width, lo + (top + 1) * width, lo + bottom * width


def vpin(amount: np.ndarray, side: np.ndarray, buckets: int = 50) -> tuple[float, float]:
    """VPIN over equal-volume buckets -> (vpin in [0, 1], informed direction in [-1, 1]).

    The window's volume is cut into `buckets` buckets of equal size (a trade straddling a boundary is
    split pro rata). VPIN = mean over buckets of |buy - sell| / bucket volume: the share of volume that
    is one-sided, i.e. the toxicity market makers face. The direction is Σ(buy - sell) / Σ|buy - sell|
    over the buckets: which side the informed flow is on. Unknown-side trades (side 0) count in the
    bucket volume but on neither side. Fewer than `buckets` trades or no volume: (NaN, NaN).
    """
    if amount.shape[0] < buckets:
        return float("nan"), float("nan")
    cum_v = np.concatenate(([0.0], np.cumsum(amount)))
    cum_b = np.concatenate(([0.0], np.cumsum(np.where(side > 0, amount, 0.0))))
    cum_s = np.concatenate(([0.0], np.cumsum(np.where(side < 0, amount, 0.0))))
    return vpin_cumulative(cum_v, cum_b, cum_s, buckets)


def vpin_cumulative(cum_v: np.ndarray, cum_b: np.ndarray, cum_s: np.ndarray, buckets: int = 50) -> tuple[float, float]:
    """`vpin` from running totals (each starting at 0) of all, bought and sold volume per trade: for a
    caller that already has them (the orderflow face's prefix sums). (NaN, NaN) without volume."""
    total = cum_v[-1]
    if total <= 0.0 or cum_v.shape[0] <= buckets:
        return float("nan"), float("nan")
    edges = np.linspace(0.0, total, buckets + 1)
    buy = np.diff(np.interp(edges, cum_v, cum_b))
    sell = np.diff(np.interp(edges, cum_v, cum_s))
    net = buy - sell
    size = total / buckets
    absnet = np.abs(net)
    gross = float(absnet.sum())
    direction = float(net.sum()) / gross if gross > 0.0 else 0.0
    return float(absnet.mean() / size), direction


def band_depth_ratio(bid_logp: np.ndarray, bid_size: np.ndarray, ask_logp: np.ndarray, ask_size: np.ndarray,
                     mid_log: float, bands_bps: tuple[float, ...]) -> tuple[float, list[tuple[float, float]]]:
    """Bid-vs-ask resting size within each band around the (geometric) mid -> (mean ratio, per band).

    Per band: (bid - ask) / (bid + ask) of the base size whose log distance from mid is within the band
    (bps = 10,000 × ln distance). The mean over bands is in [-1, 1]; an empty band counts 0.
    Levels come best-first (bids descending, asks ascending, as OrderBook holds them), so the levels
    within a band are a leading run of each side: found by binary search, summed as the same slice.
    """
    reach = np.array([bps * 1e-4 for bps in bands_bps])
    nb = np.searchsorted(mid_log - bid_logp, reach, side="right").tolist()
    na = np.searchsorted(ask_logp - mid_log, reach, side="right").tolist()
    per_band = []
    total = 0.0
    for kb, ka in zip(nb, na, strict=True):
        b = float(bid_size[:kb].sum())
        a = float(ask_size[:ka].sum())
        per_band.append((b, a))
        total += (b - a) / (b + a) if b + a > 0 else 0.0
    return total / len(bands_bps), per_band


def weighted_imbalance(bid_logp: np.ndarray, bid_size: np.ndarray, ask_logp: np.ndarray, ask_size: np.ndarray,
                       mid_log: float, levels: int = 10, decay_bps: float = 10.0) -> float:
    """Distance-weighted imbalance of the top `levels` on each side, in [-1, 1].

    Each level's size is weighted by exp(-distance_bps / decay_bps): size at the touch counts fully,
    size 10 bps away about a third. (Wb - Wa) / (Wb + Wa); an empty book side makes it ±1.
    """
    wb = np.exp(-(mid_log - bid_logp[:levels]) * 1e4 / decay_bps) @ bid_size[:levels]
    wa = np.exp(-(ask_logp[:levels] - mid_log) * 1e4 / decay_bps) @ ask_size[:levels]
    total = wb + wa
    return float((wb - wa) / total) if total > 0 else 0.0


def sweep_cost_bps(logp: np.ndarray, size: np.ndarray, mid_log: float, qty: float) -> float:
    """Average cost in bps of taking `qty` base units from one side, levels best-first.

    cost = 10,000 × Σ q_i·|ln p_i - ln mid| / qty over the levels consumed (the last one partly): the
    size-weighted log distance of the fills from mid. More than the side holds: the shortfall is
    charged at the last level's distance (a lower bound). qty <= 0 or an empty side: NaN.
    """
    if qty <= 0.0 or size.shape[0] == 0:
        return float("nan")
    cum = np.cumsum(size)
    before = cum - size
    take = np.clip(qty - before, 0.0, size)
    dist = np.abs(logp - mid_log)
    short = max(0.0, qty - float(cum[-1]))
    return float((take @ dist + short * dist[-1]) / qty * 1e4)


def order_blocks(open_: np.ndarray, close: np.ndarray, high: np.ndarray, low: np.ndarray, atr: float,
                 impulse_atr: float = 1.5, span: int = 3, lookback: int = 100) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    """The most recent bullish and bearish order blocks as (low, high) zones, or None.

    A bullish block is the last down candle (close < open) before an up move of at least
    `impulse_atr` ATRs in the next `span` bars (close to close); a bearish block is the last up candle
    before an equal down move. Inputs in log price; `atr` in the same units. Too few bars: (None, None).
    """
    n = close.shape[0]
    if n < span + 2 or not atr > 0:
        return None, None
    start = max(0, n - lookback)
    c = close[start:]
    move = c[span:] - c[:-span]  # move after bar i over the next `span` bars, i = 0..len-span-1
    body = close[start:start + move.shape[0]] - open_[start:start + move.shape[0]]
    bull = ((move >= impulse_atr * atr) & (body < 0)).nonzero()[0]
    bear = ((move <= -impulse_atr * atr) & (body > 0)).nonzero()[0]
    bull_zone = (float(low[start + bull[-1]]), float(high[start + bull[-1]])) if bull.shape[0] else None
    bear_zone = (float(low[start + bear[-1]]), float(high[start + bear[-1]])) if bear.shape[0] else None
    return bull_zone, bear_zone
