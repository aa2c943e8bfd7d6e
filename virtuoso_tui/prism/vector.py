"""The candle-only prism, vectorised: technical and volume face scores (and confidences, and every
component's blended score and DIV) for EVERY bar of a history at once.

The event path (the `prism` strategy, plugins/virtuoso_strategies/prism.py) scores a Prism at each
closed candle over a MarketState that keeps the last `window` candles of each blend timeframe, the
higher ones aggregated from the strategy timeframe. This module gives the same numbers for all bars
in one pass: TA-Lib once over each timeframe's whole array, rolling windows as strided views, swing
pivots from prefix maxima, and the blend/DIV/face arithmetic of prism/blended.py on arrays, in the
same order of float operations. Agreement with the event path (tests/test_prism_vector.py, real data):
  * exact while a timeframe holds fewer than `window` candles (the windows are the same arrays);
  * beyond it, to ~1e-12: TA-Lib's recursive indicators (RSI, MACD, ATR) seeded `window` bars earlier
    have forgotten the seed by (13/14)^window, and the running sums (AD, OBV) differ only by a
    constant that cancels in every formula, up to rounding.
Formulas are the faces' own (see plugins/virtuoso_prism/technical.py and volume.py docstrings); they
are restated here because the faces score one bar at a time. A face module that changes a formula
must change it here too: the parity test fails until it does.

Timeframes: `blend_for(base, blend)` keeps the blend timeframes at or above the strategy (base)
timeframe that are whole multiples of it; none left -> the base alone. A higher timeframe's candle
becomes visible at the close of the first base bar that ends at or after its bucket's end (its last
base candle, or the next candle after a gap), and a bucket that began before the data is dropped as
partial — MarketState's rules. Fewer than MIN_CANDLES candles on a timeframe: it is left out of the
blend at that bar; no timeframe left: the face is NaN (n/a).
Units: scores 0-100, NaN = n/a; DIV in score points. Neighbours: prism/blended.py, prism/scoring.py,
market/candles.py `resample`, backtest/lookahead_faces.py (the guard also covers this path).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import talib
from numpy.lib.stride_tricks import sliding_window_view

from virtuoso_tui.market.candles import resample
from virtuoso_tui.model.market import TIMEFRAMES, timeframe_ms

MIN_CANDLES = 35          # BlendedFace.min_candles
ATR_PERIOD = 14
SWING_K, PIVOT_LOOKBACK = 3, 60
WINDOW = 20               # the volume face's window
DEFAULT_BLEND: dict[str, float] = {"4h": 0.40, "15m": 0.35, "5m": 0.25}   # prism/engine.py DEFAULT_TIMEFRAMES

TECHNICAL = {"ao": 0.20, "rsi": 0.20, "macd": 0.15, "williams_r": 0.15, "cci": 0.15}
VOLUME = {"volume_delta": 0.20, "adl": 0.15, "cmf": 0.15, "relative_volume": 0.20, "obv": 0.15, "divergence": 0.15}


def parse_blend(text: str) -> dict[str, float]:
    """"4h:0.4,15m:0.35" -> {"4h": 0.4, "15m": 0.35} (a bare "15m" weighs 1). ValueError naming the bad part."""
    out: dict[str, float] = {}
    for part in str(text).replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        tf, _, w = part.partition(":")
        tf = tf.strip()
        if tf not in TIMEFRAMES:
            raise ValueError(f"timeframe {tf!r} in {text!r} is not one of {', '.join(TIMEFRAMES)}")
        try:
            weight = float(w) if w.strip() else 1.0
        except ValueError:
            raise ValueError(f"weight {w!r} of {tf} in {text!r} is not a number") from None
        if not weight > 0:
            raise ValueError(f"weight of {tf} in {text!r} must be positive")
        out[tf] = out.get(tf, 0.0) + weight
    if not out:
        raise ValueError(f"no timeframe in {text!r} (expected e.g. '4h:0.4,15m:0.35')")
    return out


def blend_for(base: str, blend: Mapping[str, float] | None = None) -> dict[str, float]:
    """The blend usable on `base` candles: timeframes >= base and whole multiples of it, in the blend's
    order (the default blend when None); none usable -> {base: 1.0}."""
    base_ms = timeframe_ms(base)
    out = {tf: float(w) for tf, w in (blend or DEFAULT_BLEND).items()
           if timeframe_ms(tf) >= base_ms and timeframe_ms(tf) % base_ms == 0}
    return out or {base: 1.0}


@dataclass(slots=True)
class FaceScores:
    """One face over every base bar: `score` (NaN = n/a) and per component (blended score, DIV points)."""

    face: str
    score: np.ndarray
    components: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    confidence: np.ndarray = field(default_factory=lambda: np.zeros(0))   # 0-1; 0 where n/a


# -- small array helpers ------------------------------------------------------------------------------------
def _squash(x: np.ndarray, k: float = 1.0) -> np.ndarray:
    """prism/scoring.squash on arrays: NaN stays NaN (n/a)."""
    return 50.0 + 50.0 * np.tanh(x / k)


def _rolling(x: np.ndarray, n: int, how: str) -> np.ndarray:
    """Statistic of x[j-n+1 .. j] at j (NaN before n values)."""
    out = np.full(x.shape[0], np.nan)
    if x.shape[0] >= n:
        win = sliding_window_view(x, n)
        out[n - 1:] = getattr(win, how)(axis=1)
    return out


def _lag(x: np.ndarray, k: int) -> np.ndarray:
    """x[j - k] at j (NaN before)."""
    out = np.full(x.shape[0], np.nan)
    if x.shape[0] > k:
        out[k:] = x[:-k]
    return out


def _swing_mask(x: np.ndarray, k: int = SWING_K) -> np.ndarray:
    """True at t when x[t] is strictly above the k bars before and at least the k after (divergence.py)."""
    m = x.shape[0]
    mask = np.zeros(m, dtype=bool)
    if m > 2 * k:
        win = sliding_window_view(x, 2 * k + 1)
        centre = win[:, k]
        mask[k:m - k] = (centre > win[:, :k].max(axis=1)) & (centre >= win[:, k + 1:].max(axis=1))
    return mask


def _last_two(mask: np.ndarray, k: int = SWING_K, lookback: int = PIVOT_LOOKBACK) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At each j: the last two swings within the pivot lookback ending at j -> (older, newer, both exist)."""
    m = mask.shape[0]
    idx = np.arange(m)
    prev = np.maximum.accumulate(np.where(mask, idx, -1)) if m else np.zeros(0, np.int64)
    lo = np.maximum(idx + 1 - lookback, 0) + k
    end = idx - k
    newer = np.where(end >= 0, prev[np.clip(end, 0, None)], -1)
    older = np.where(newer >= 1, prev[np.clip(newer - 1, 0, None)], -1)
    ok = (newer >= lo) & (older >= lo)
    return np.where(ok, older, 0), np.where(ok, newer, 0), ok


class _Pivots:
    """Swing pairs of one timeframe for every bar (prism/divergence.pivots, all bars at once)."""

    def __init__(self, h: np.ndarray, lo: np.ndarray) -> None:
        self.h, self.l = h, lo
        self.ha, self.hb, self.hok = _last_two(_swing_mask(h))
        self.la, self.lb, self.lok = _last_two(_swing_mask(-lo))

    def divergence(self, ind: np.ndarray) -> np.ndarray:
        """prism/divergence.divergence for every bar: +1/+0.6 bullish at the lows, -1/-0.6 at the highs."""
        h, lo = self.h, self.l
        ia, ib = ind[self.la], ind[self.lb]
        ok = self.lok & (ia == ia) & (ib == ib)
        reg = ok & (lo[self.lb] < lo[self.la]) & (ib > ia)
        hid = ok & ~reg & (lo[self.lb] > lo[self.la]) & (ib < ia)
        strength = np.where(reg, 1.0, np.where(hid, 0.6, 0.0))
        ia, ib = ind[self.ha], ind[self.hb]
        ok = self.hok & (ia == ia) & (ib == ib)
        reg = ok & (h[self.hb] > h[self.ha]) & (ib < ia)
        hid = ok & ~reg & (h[self.hb] < h[self.ha]) & (ib > ia)
        # same float operations as the scalar path: the high-side strength is subtracted afterwards
        return strength - np.where(reg, 1.0, np.where(hid, 0.6, 0.0))


# -- per-timeframe readings (every candle j of one timeframe) -------------------------------------------------
def _window_start(m: int, window: int) -> np.ndarray:
    return np.maximum(np.arange(m) + 1 - window, 0)


def atr_regime(atr: np.ndarray, lookback: int = 100) -> np.ndarray:
    """The technical face's volatility regime per candle: 1 / (1 + |ln(ATR / upper median of the last
    `lookback` defined ATRs)|); NaN where the ATR is not positive or none is defined."""
    m = atr.shape[0]
    med = np.full(m, np.nan)
    defined = np.flatnonzero(atr == atr)
    if defined.shape[0]:
        first = int(defined[0])            # TA-Lib's ATR is defined from one index on, then always
        full_from = first + lookback - 1
        for j in range(first, min(full_from, m)):   # fewer than `lookback` defined values yet
            recent = atr[first:j + 1]
            mid = recent.shape[0] // 2
            med[j] = np.partition(recent, mid)[mid]
        if m > full_from:
            win = sliding_window_view(atr[first:], lookback)
            med[full_from:] = np.partition(win, lookback // 2, axis=1)[:, lookback // 2]
    ok = (atr > 0) & (med == med)
    return np.where(ok, 1.0 / (1.0 + np.abs(np.log(np.where(ok, atr, 1.0) / np.where(ok, med, 1.0)))), np.nan)


def technical_readings(h: np.ndarray, lo: np.ndarray, c: np.ndarray, window: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Technical components per candle of one timeframe (log prices): name -> (score, divergence strength)."""
    m = c.shape[0]
    atr = talib.ATR(h, lo, c, ATR_PERIOD)
    ok = atr > 0
    safe_atr = np.where(ok, atr, np.nan)
    rsi = talib.RSI(c, 14)
    macd, _, hist = talib.MACD(c, 12, 26, 9)
    median = (h + lo) * 0.5
    # the SMAs as window means, not TA-Lib's running sum: that one drifts by rounding over a whole
    # history, while the event path's sum restarts with every window
    ao = _rolling(median, 5, "mean") - _rolling(median, 34, "mean")
    willr = talib.WILLR(h, lo, c, 14)
    cci = talib.CCI(h, lo, c, 20)
    piv = _Pivots(h, lo)
    # RSI is n/a when no close moved inside the window (TA-Lib would read it as 0)
    idx = np.arange(m)
    changed = np.zeros(m, dtype=bool)
    changed[1:] = c[1:] != c[:-1]
    last_change = np.maximum.accumulate(np.where(changed, idx, -1))
    moved = last_change >= _window_start(m, window) + 1
    ranged = _rolling(h, 14, "max") > _rolling(lo, 14, "min")
    x = (rsi - 50.0) / 50.0
    return {
        "rsi": (np.where(moved, _squash(2.0 * x - 4.0 * x**5), np.nan), piv.divergence(rsi)),
        "macd": (_squash((2.0 * hist + 0.5 * macd) / safe_atr), piv.divergence(hist)),
        "ao": (_squash(ao / (2.0 * safe_atr)), piv.divergence(ao)),
        "williams_r": (np.where(ranged, _squash((willr + 50.0) / 50.0, 0.8), np.nan), piv.divergence(willr)),
        "cci": (_squash(cci / 150.0), piv.divergence(cci)),
        "_regime": (atr_regime(atr), np.zeros(m)),     # confidence input, not a component
    }


def volume_readings(h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray, bv: np.ndarray | None,
                    window: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Volume components per candle of one timeframe (log prices, base volume): name -> (score, strength)."""
    m = c.shape[0]
    zero = np.zeros(m)
    atr = talib.ATR(h, lo, c, ATR_PERIOD)
    safe_atr = np.where(atr > 0, atr, np.nan)
    piv = _Pivots(h, lo)
    vol20 = _rolling(v, WINDOW, "sum")
    has_vol = vol20 > 0
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    if bv is not None:
        known = _rolling(np.isnan(bv).astype(np.float64), WINDOW, "sum") == 0
        delta = _rolling(2.0 * bv - v, WINDOW, "sum") / np.where(has_vol, vol20, np.nan)
        out["volume_delta"] = (np.where(known & has_vol, _squash(delta / 0.15), np.nan), zero)
    else:
        out["volume_delta"] = (np.full(m, np.nan), zero)

    ad = talib.AD(h, lo, c, v)
    slope = np.where(has_vol, (ad - _lag(ad, WINDOW)) / np.where(has_vol, vol20, 1.0), 0.0)
    out["adl"] = (_squash(slope / 0.3), piv.divergence(ad))

    rng = h - lo
    mfm = np.divide((c - lo) - (h - c), rng, out=np.zeros_like(rng), where=rng > 0)
    flow = _rolling(mfm * v, WINDOW, "sum")
    cmf = np.where(has_vol, flow / np.where(has_vol, vol20, 1.0), 0.0)
    out["cmf"] = (_squash(cmf / 0.2), zero)

    base = _rolling(v, WINDOW, "mean")
    rv = np.where(base > 0, _rolling(v, 3, "mean") / np.where(base > 0, base, 1.0), 0.0)
    r = (c - _lag(c, 3)) / safe_atr
    out["relative_volume"] = (_squash(r * rv / 1.5), zero)
    out["_rvol"] = (rv, zero)                          # confidence input, not a component

    obv = talib.OBV(c, v)
    mean, sd = _rolling(obv, WINDOW, "mean"), _rolling(obv, WINDOW, "std")
    z = np.where(sd > 0, (obv - mean) / np.where(sd > 0, sd, 1.0), 0.0)
    out["obv"] = (_squash(z / 1.5), piv.divergence(obv))

    recent = _rolling(v, 10, "sum")
    before = _lag(recent, 10)
    both = (recent > 0) & (before > 0)
    vt = np.where(both, np.log(np.where(both, recent, 1.0) / np.where(both, before, 1.0)), 0.0)
    r20 = (c - _lag(c, WINDOW)) / (safe_atr * math.sqrt(WINDOW))
    out["divergence"] = (_squash(r20 * vt / 0.5), zero)
    return out


# -- timeframes ---------------------------------------------------------------------------------------------
def timeframe_history(ts: np.ndarray, cols: dict[str, np.ndarray], base: str, tf: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """`tf` candles aggregated from the base candles (MarketState's rules) and, per base bar, how many
    of them have closed by that bar's close."""
    n = ts.shape[0]
    base_ms, tf_ms = timeframe_ms(base), timeframe_ms(tf)
    if tf_ms == base_ms:
        return cols, np.arange(1, n + 1)
    agg = resample(ts, cols["open"], cols["high"], cols["low"], cols["close"], cols["volume"], tf_ms,
                   buy_volume=cols.get("buy_volume"), from_ms=base_ms, drop_incomplete=False)
    keep = agg["ts"] >= ts[0]    # a bucket that began before the data is partial: dropped
    agg = {k: v[keep] for k, v in agg.items()}
    closes_at = np.searchsorted(ts + base_ms, agg["ts"] + tf_ms, side="left")   # base bar that closes it
    visible = np.searchsorted(closes_at, np.arange(n), side="right")
    return agg, visible


# -- the faces ----------------------------------------------------------------------------------------------
def _gather(readings: dict[str, tuple[np.ndarray, np.ndarray]], present: np.ndarray,
            at: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-candle readings of one timeframe picked at the newest visible candle of each run of bars
    (NaN score / 0 strength where the timeframe has too few candles)."""
    return {k: (np.where(present, s[at], np.nan), np.where(present, d[at], 0.0)) for k, (s, d) in readings.items()}


def _clamp(x: np.ndarray, low: float, high: float) -> np.ndarray:
    return np.clip(x, low, high)   # NaN stays NaN, as scoring.clamp never sees one


def _blend_face(name: str, nominal: Mapping[str, float], per_tf: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]],
                timeframes: Mapping[str, float], n: int, cap: float) -> FaceScores:
    """blended.py's merge + DIV + face score over every base bar (`per_tf` already gathered per bar,
    NaN where a timeframe is not present)."""
    order = sorted(timeframes, key=timeframe_ms, reverse=True)
    face = FaceScores(name, np.full(n, np.nan))
    num_face = np.zeros(n)
    den_face = np.zeros(n)
    for comp, weight in nominal.items():
        num = np.zeros(n)
        den = np.zeros(n)
        pnum = np.zeros(n)
        pden = np.zeros(n)
        for tf, w in timeframes.items():
            if tf not in per_tf:
                continue
            s, d = per_tf[tf][comp]
            have = s == s
            num = np.where(have, num + w * s, num)
            den = np.where(have, den + w, den)
            pnum = np.where(have, pnum + w * d, pnum)
            pden = np.where(have, pden + w, pden)
        score = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
        pdiv = np.where(pden > 0, pnum / np.where(pden > 0, pden, 1.0), 0.0)
        # timeframe divergence: the highest timeframe present against the weighted lower ones
        high = np.full(n, np.nan)
        lnum = np.zeros(n)
        lden = np.zeros(n)
        for tf in order:
            if tf not in per_tf:
                continue
            s = per_tf[tf][comp][0]
            have = s == s
            first = have & (high != high)
            later = have & ~first & (high == high)
            lnum = np.where(later, lnum + timeframes[tf] * s, lnum)
            lden = np.where(later, lden + timeframes[tf], lden)
            high = np.where(first, s - 50.0, high)
        low = np.where(lden > 0, lnum / np.where(lden > 0, lden, 1.0) - 50.0, np.nan)
        opposed = (high == high) & (lden > 0) & (high * low < 0.0)
        m = np.minimum(np.abs(high), np.abs(low))
        tf_div = np.where(opposed, np.copysign(0.5 * cap * np.tanh(4.0 * np.where(opposed, m, 0.0) / 50.0), high), 0.0)
        tf_div = np.where(score == score, tf_div, 0.0)
        div = _clamp(tf_div + 0.5 * cap * pdiv, -cap, cap)
        final = _clamp(score + div, 0.0, 100.0)
        have = score == score
        face.components[comp] = (score, np.where(have, div, np.nan))
        num_face = np.where(have, num_face + weight * final, num_face)
        den_face = np.where(have, den_face + weight, den_face)
    face.score = np.where(den_face > 0, num_face / np.where(den_face > 0, den_face, 1.0), np.nan)
    return face


def candle_face_scores(ts: np.ndarray, open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
                       volume: np.ndarray, *, base: str, buy_volume: np.ndarray | None = None,
                       timeframes: Mapping[str, float] | None = None, window: int = 1000,
                       div_cap: float = 10.0) -> dict[str, FaceScores]:
    """Technical and volume face scores at every close of the `base` candles (see the module docstring).

    Inputs: whole-history base-timeframe candle columns (ts int64 ms open times, strictly increasing
    and aligned; prices > 0; base volume), `buy_volume` taker-buy volume or None (unknown: the volume
    face's volume_delta is n/a). `timeframes`: the Prism's blend (default 4h/15m/5m), narrowed by
    `blend_for`. `window`: candles kept per timeframe (>= 100). Returns {"technical", "volume"} ->
    FaceScores with arrays of len(ts); NaN marks n/a (fewer than MIN_CANDLES candles everywhere).
    """
    ts = np.asarray(ts, dtype=np.int64)
    n = ts.shape[0]
    if window < 100:
        raise ValueError(f"window must be at least 100 candles, got {window}")
    cols = {"open": np.asarray(open_, np.float64), "high": np.asarray(high, np.float64),
            "low": np.asarray(low, np.float64), "close": np.asarray(close, np.float64),
            "volume": np.asarray(volume, np.float64)}
    if any(v.shape != ts.shape for v in cols.values()):
        raise ValueError("candle columns must all have the length of ts")
    if buy_volume is not None:
        cols["buy_volume"] = np.asarray(buy_volume, np.float64)
    if n and not (cols["low"] > 0).all():
        raise ValueError("prices must be positive (the faces score log prices)")
    blend = blend_for(base, timeframes)
    tech: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    vol: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    if not n:
        return {name: FaceScores(name, np.zeros(0), {k: (np.zeros(0), np.zeros(0)) for k in nominal}, np.zeros(0))
                for name, nominal in (("technical", TECHNICAL), ("volume", VOLUME))}
    histories = {tf: timeframe_history(ts, cols, base, tf) for tf in blend}
    histories = {tf: hv for tf, hv in histories.items() if (hv[1] >= MIN_CANDLES).any()}
    # every output at a bar depends only on how many candles of each timeframe are visible: score once
    # per run of bars with the same counts (a 1m base blended into 5m/15m/4h changes every 5th bar)
    starts = np.zeros(n, dtype=bool)
    starts[0] = True
    for _, visible in histories.values():
        starts[1:] |= visible[1:] != visible[:-1]
    first = np.flatnonzero(starts)
    group = np.cumsum(starts) - 1
    m = first.shape[0]
    for tf, (hist, visible) in histories.items():
        seen = visible[first]
        present = seen >= MIN_CANDLES
        h, lo, c = np.log(hist["high"]), np.log(hist["low"]), np.log(hist["close"])
        at = np.where(present, seen - 1, 0)
        tech[tf] = _gather(technical_readings(h, lo, c, window), present, at)
        vol[tf] = _gather(volume_readings(h, lo, c, hist["volume"], hist.get("buy_volume"), window), present, at)
    out = {}
    for name, nominal, per_tf, extra in (("technical", TECHNICAL, tech, "_regime"), ("volume", VOLUME, vol, "_rvol")):
        face = _blend_face(name, nominal, per_tf, blend, m, div_cap)
        conf = _confidence(face, nominal, [per_tf[tf][extra][0] for tf in blend if tf in per_tf], name == "volume")
        out[name] = FaceScores(name, face.score[group],
                               {k: (s[group], d[group]) for k, (s, d) in face.components.items()}, conf[group])
    return out


def _confidence(face: FaceScores, nominal: Mapping[str, float], inputs: list[np.ndarray], volume: bool) -> np.ndarray:
    """blended.py's confidence: geometric mean of coverage (share of nominal weight scoring) and the face's
    factor — technical: the mean ATR regime over the timeframes present; volume: tanh(2 × the mean
    relative volume over them). 0 where the face is n/a."""
    n = face.score.shape[0]
    have = np.zeros(n)
    for comp, weight in nominal.items():
        have = np.where(face.components[comp][0] == face.components[comp][0], have + weight, have)
    coverage = have / sum(nominal.values())
    total = np.zeros(n)
    count = np.zeros(n)
    for x in inputs:
        ok = x == x
        total = np.where(ok, total + x, total)
        count = np.where(ok, count + 1, count)
    mean = total / np.where(count > 0, count, 1.0)
    factor = np.tanh(2.0 * mean) if volume else mean
    both = np.sqrt(np.clip(coverage, 0.0, 1.0) * np.clip(factor, 0.0, 1.0))
    conf = np.where(count > 0, both, np.clip(coverage, 0.0, 1.0))
    return np.where(face.score == face.score, conf, 0.0)


def candle_faces(candles: Any, *, timeframe: str | None = None, **kwargs: Any) -> dict[str, FaceScores]:
    """`candle_face_scores` for a Candles-like object (ts, open, high, low, close, volume[, buy_volume],
    timeframe)."""
    return candle_face_scores(candles.ts, candles.open, candles.high, candles.low, candles.close, candles.volume,
                              base=timeframe or candles.timeframe, buy_volume=getattr(candles, "buy_volume", None),
                              **kwargs)
