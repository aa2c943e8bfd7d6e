"""Volume face: who is behind the volume on each timeframe's closed candles (log prices, base sizes).

Components (weight), per timeframe, 50 neutral:
  volume_delta (.20)     taker buy minus taker sell volume over the last 20 candles as a share of
                         volume, d = Σ(2·buy - volume) / Σvolume in [-1, 1]: score = 50 + 50·tanh(d / 0.15).
                         n/a when the candles do not carry taker-buy volume (never guessed).
  adl (.15)              Accumulation/Distribution line (TA-Lib AD on log prices): its change over 20
                         candles divided by their volume, in [-1, 1]: score = 50 + 50·tanh(slope / 0.3).
  cmf (.15)              Chaikin Money Flow(20) in [-1, 1]: score = 50 + 50·tanh(CMF / 0.2).
  relative_volume (.20)  rv = mean volume of the last 3 candles / mean of the last 20 (a level, no
                         direction); the direction comes from the 3-candle price move r in ATRs:
                         score = 50 + 50·tanh(r·rv / 1.5): a move on heavy volume counts more.
  obv (.15)              OBV (TA-Lib) z-scored against its last 20 values: 50 + 50·tanh(z / 1.5).
  divergence (.15)       volume-price agreement: r = 20-candle move / (ATR·√20), vt = ln(volume of the
                         last 10 / the 10 before): score = 50 + 50·tanh(r·vt / 0.5). A rise on growing
                         volume is bullish, a rise on fading volume bearish, a fall on fading volume
                         mildly bullish.
DIV: OBV and ADL against price swings (regular/hidden), and timeframe divergence.
Confidence: coverage × participation tanh(2·rv) averaged over timeframes (a dead market says little).
Too little data: < 35 candles on a timeframe skips it; no more candles than `window`: every component n/a.
Options ([prism.options.volume]): window 20 (candles; the volume trend compares its two halves), and
weights = {component = w}.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import talib

from virtuoso_tui.prism.blended import BlendedFace, CandleView, Reading
from virtuoso_tui.prism.divergence import divergences
from virtuoso_tui.prism.indicators import chaikin_money_flow
from virtuoso_tui.prism.scoring import squash, zscore_last

WINDOW = 20
CANDLES = frozenset({"candles"})


class VolumeFace(BlendedFace):
    name: ClassVar[str] = "volume"
    title: ClassVar[str] = "Volume"
    default_weight: ClassVar[float] = 0.15
    components: ClassVar[dict[str, float]] = {"volume_delta": 0.20, "adl": 0.15, "cmf": 0.15,
                                              "relative_volume": 0.20, "obv": 0.15, "divergence": 0.15}
    component_requires: ClassVar[dict[str, frozenset[str]]] = {c: CANDLES for c in components}
    candle_components: ClassVar[frozenset[str]] = frozenset(components)
    option_defaults: ClassVar[dict[str, Any]] = {"window": WINDOW}
    option_minimums: ClassVar[dict[str, float]] = {"window": 4}

    def read_timeframe(self, view: CandleView, tf: str) -> dict[str, Reading]:
        h, lo, c, v, atr = view.h, view.l, view.c, view.v, view.atr
        window = self.options["window"]
        if view.n <= window:  # the window and the candle before it are needed
            return {name: Reading(None) for name in self.components}
        half = window // 2
        v20 = v[-window:]
        vol20 = float(v20.sum())
        out: dict[str, Reading] = {}

        bv = view.bv
        bv20 = bv[-window:] if bv is not None else None
        if bv20 is not None and bv20.sum() == bv20.sum() and vol20 > 0:  # a NaN (unknown) anywhere: n/a
            d = float((2.0 * bv20 - v20).sum()) / vol20
            out["volume_delta"] = Reading(squash(d / 0.15), {"delta_share": d})
        else:
            out["volume_delta"] = Reading(None, {})

        ad = talib.AD(h, lo, c, v)
        obv = talib.OBV(c, v)
        (ad_div, ad_label), (obv_div, obv_label) = divergences(h, lo, view.pivots, ad, obv)
        ad_last = float(ad[-1])
        slope = (ad_last - float(ad[-window - 1])) / vol20 if vol20 > 0 else 0.0
        out["adl"] = Reading(squash(slope / 0.3), {"adl": ad_last, "slope": slope}, ad_div, ad_label)

        cmf = chaikin_money_flow(h, lo, c, v, window)
        out["cmf"] = Reading(squash(cmf / 0.2), {"cmf": cmf})

        base = vol20 / window  # == v[-window:].mean(): numpy's mean is this sum over the count
        rv = (float(v[-3:].sum()) / 3) / base if base > 0 else 0.0
        close = c[-window - 1:].tolist()  # the last window + 1 closes as floats
        r = (close[-1] - close[-4]) / atr if atr > 0 else float("nan")
        out["relative_volume"] = Reading(squash(r * rv / 1.5), {"rvol": rv, "move_atr": r})

        z = zscore_last(obv, window)
        out["obv"] = Reading(squash(z / 1.5), {"obv": float(obv[-1]), "z": z}, obv_div, obv_label)

        before, recent = float(v[-window:-half].sum()), float(v[-half:].sum())
        vt = math.log(recent / before) if before > 0 and recent > 0 else 0.0
        r20 = (close[-1] - close[0]) / (atr * math.sqrt(window)) if atr > 0 else float("nan")
        out["divergence"] = Reading(squash(r20 * vt / 0.5), {"move": r20, "volume_trend": vt})
        return out

    def confidence_parts(self, state: Any, views: dict[str, CandleView], readings: dict[str, Reading]) -> list[float]:
        rv = readings.get("relative_volume")
        if rv is None or not rv.raw:
            return []
        levels = [r["rvol"] for r in rv.raw.values() if "rvol" in r]
        return [math.tanh(2.0 * sum(levels) / len(levels))] if levels else []
