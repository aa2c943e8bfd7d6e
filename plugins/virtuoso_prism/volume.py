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
Too little data: < 35 candles on a timeframe skips it.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import talib

from virtuoso_tui.prism.blended import BlendedFace, CandleView, Reading
from virtuoso_tui.prism.divergence import divergence
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

    def read_timeframe(self, view: CandleView, tf: str) -> dict[str, Reading]:
        h, lo, c, v, atr = view.h, view.l, view.c, view.v, view.atr
        piv = view.pivots
        vol20 = float(v[-WINDOW:].sum())
        out: dict[str, Reading] = {}

        bv = view.bv
        if bv is not None and not np.isnan(bv[-WINDOW:]).any() and vol20 > 0:
            d = float((2.0 * bv[-WINDOW:] - v[-WINDOW:]).sum()) / vol20
            out["volume_delta"] = Reading(squash(d / 0.15), {"delta_share": d})
        else:
            out["volume_delta"] = Reading(None, {})

        ad = talib.AD(h, lo, c, v)
        slope = float(ad[-1] - ad[-WINDOW - 1]) / vol20 if vol20 > 0 else 0.0
        s, label = divergence(h, lo, ad, piv)
        out["adl"] = Reading(squash(slope / 0.3), {"adl": float(ad[-1]), "slope": slope}, s, label)

        cmf = chaikin_money_flow(h, lo, c, v, WINDOW)
        out["cmf"] = Reading(squash(cmf / 0.2), {"cmf": cmf})

        base = float(v[-WINDOW:].mean())
        rv = float(v[-3:].mean()) / base if base > 0 else 0.0
        r = (c[-1] - c[-4]) / atr if atr > 0 else float("nan")
        out["relative_volume"] = Reading(squash(r * rv / 1.5), {"rvol": rv, "move_atr": r})

        obv = talib.OBV(c, v)
        z = zscore_last(obv, WINDOW)
        s, label = divergence(h, lo, obv, piv)
        out["obv"] = Reading(squash(z / 1.5), {"obv": float(obv[-1]), "z": z}, s, label)

        before, recent = float(v[-20:-10].sum()), float(v[-10:].sum())
        vt = math.log(recent / before) if before > 0 and recent > 0 else 0.0
        r20 = (c[-1] - c[-WINDOW - 1]) / (atr * math.sqrt(WINDOW)) if atr > 0 else float("nan")
        out["divergence"] = Reading(squash(r20 * vt / 0.5), {"move": r20, "volume_trend": vt})
        return out

    def confidence_parts(self, state: Any, views: dict[str, CandleView], readings: dict[str, Reading]) -> list[float]:
        rv = readings.get("relative_volume")
        if rv is None or not rv.raw:
            return []
        levels = [r["rvol"] for r in rv.raw.values() if "rvol" in r]
        return [math.tanh(2.0 * sum(levels) / len(levels))] if levels else []
