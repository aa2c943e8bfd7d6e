"""Price structure face: where price sits against the levels the market has built (candles, log prices).

Distances are in ATRs of log price (ATR(14) of ln high/low/close), so nothing depends on the price unit.
Per timeframe; the issue's "VWAP per timeframe, htf 40% mtf 35% ltf 25%" is the prism's timeframe blend.

Components (weight), 50 neutral:
  order_block (.25)         the latest bullish block (last down candle before a ≥1.5-ATR rise within 3
                            candles) contributes tanh((close - block low)/ATR)·exp(-max(0, close - block
                            high)/(3·ATR)): held support above it is bullish, fading with distance, a
                            break below it bearish. The latest bearish block contributes the mirror
                            image. score = 50 + 50·tanh(sum) (100 candles searched).
  value_area (.20)          volume profile of the last 100 candles (typical price, 40 bins): POC, VAH,
                            VAL. x = (close - POC) / max(½(VAH - VAL), ATR): accepted above value is
                            bullish, below bearish. score = 50 + 50·tanh(x / 1.5).
  vwap (.20)                volume-weighted mean log typical price of the last 50 candles (the
                            geometric VWAP): x = (close - VWAP) / ATR, score = 50 + 50·tanh(x / 2).
  support_resistance (.20)  levels = every 3-bar swing high/low of the last 100 candles plus POC/VAH/VAL.
                            Each level L adds tanh(2·(close - L)/ATR)·exp(-|close - L|/(2·ATR)): a level
                            just under price is support being held (bullish), just over price resistance
                            capping it (bearish); broken levels change side by themselves, far ones fade.
                            x = 2 × mean over levels, score = 50 + 50·tanh(x / 0.5).
  position_heat (.15)       where the close sits in the 50-candle high-low range, -1 (at the low) .. +1
                            (at the high): score = 50 + 50·tanh(pos / 0.8).
Confidence: coverage × how much of the 100-candle history exists.
Too little data: < 35 candles on a timeframe skips it.
Options ([prism.options.price_structure]): vwap_bars 50, range_bars 50 (candles), value_area_bins 40,
and weights = {component = w}. The 100-candle profile and swing search is fixed (it is shared with
the divergence pivots of the other faces).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from virtuoso_tui.prism.blended import SWING_BARS, BlendedFace, CandleView, Reading
from virtuoso_tui.prism.indicators import order_blocks, value_area, vwap
from virtuoso_tui.prism.scoring import squash

PROFILE_BARS = SWING_BARS  # 100 candles: the profile, the levels' swings (found once per candle view)
VWAP_BARS = 50
RANGE_BARS = 50
CANDLES = frozenset({"candles"})


class PriceStructureFace(BlendedFace):
    name: ClassVar[str] = "price_structure"
    title: ClassVar[str] = "Price structure"
    default_weight: ClassVar[float] = 0.15
    components: ClassVar[dict[str, float]] = {"order_block": 0.25, "value_area": 0.20, "vwap": 0.20,
                                              "support_resistance": 0.20, "position_heat": 0.15}
    component_requires: ClassVar[dict[str, frozenset[str]]] = {c: CANDLES for c in components}
    candle_components: ClassVar[frozenset[str]] = frozenset(components)
    option_defaults: ClassVar[dict[str, Any]] = {"vwap_bars": VWAP_BARS, "range_bars": RANGE_BARS, "value_area_bins": 40}
    option_minimums: ClassVar[dict[str, float]] = {"vwap_bars": 1, "range_bars": 2, "value_area_bins": 2}

    def read_timeframe(self, view: CandleView, tf: str) -> dict[str, Reading]:
        o, h, lo, c, v, atr = view.o, view.h, view.l, view.c, view.v, view.atr
        close = float(c[-1])
        if not atr > 0:
            return {name: Reading(None) for name in self.components}
        out: dict[str, Reading] = {}

        bull, bear = order_blocks(o, c, h, lo, atr)
        x = 0.0
        if bull is not None:
            x += math.tanh((close - bull[0]) / atr) * math.exp(-max(0.0, close - bull[1]) / (3 * atr))
        if bear is not None:
            x -= math.tanh((bear[1] - close) / atr) * math.exp(-max(0.0, bear[0] - close) / (3 * atr))
        out["order_block"] = Reading(squash(x), {"bullish_block": _prices(bull), "bearish_block": _prices(bear)})

        tp = (h[-PROFILE_BARS:] + lo[-PROFILE_BARS:] + c[-PROFILE_BARS:]) / 3.0
        poc, vah, val = value_area(tp, v[-PROFILE_BARS:], self.options["value_area_bins"])
        if poc == poc:
            x = (close - poc) / max(0.5 * (vah - val), atr)
            out["value_area"] = Reading(squash(x / 1.5), {"poc": math.exp(poc), "vah": math.exp(vah), "val": math.exp(val)})
        else:
            out["value_area"] = Reading(None)

        vwap_bars = self.options["vwap_bars"]
        vw = vwap(tp[-vwap_bars:], v[-vwap_bars:])
        out["vwap"] = Reading(squash((close - vw) / atr / 2.0) if vw == vw else None,
                              {"vwap": math.exp(vw) if vw == vw else None})

        swing_hi, swing_lo = view.swings
        highs, lows = h[swing_hi], lo[swing_lo]
        levels = np.concatenate((highs, lows, [poc, vah, val] if poc == poc else []))
        if levels.shape[0]:
            d = (close - levels) / atr
            far = np.abs(d)
            x = 2.0 * float((np.tanh(2.0 * d) * np.exp(-far / 2.0)).mean())
            near = levels[np.argsort(far)[:2]]
            out["support_resistance"] = Reading(squash(x / 0.5), {"levels": int(levels.shape[0]), "nearest": [math.exp(p) for p in near]})
        else:
            out["support_resistance"] = Reading(None)

        bars = self.options["range_bars"]
        hi, low = float(h[-bars:].max()), float(lo[-bars:].min())
        pos = 2.0 * (close - low) / (hi - low) - 1.0 if hi > low else 0.0
        out["position_heat"] = Reading(squash(pos / 0.8), {"range_position": pos})
        return out

    def confidence_parts(self, state: Any, views: dict[str, CandleView], readings: dict[str, Reading]) -> list[float]:
        if not views:
            return []
        return [sum(min(1.0, v.n / PROFILE_BARS) for v in views.values()) / len(views)]


def _prices(zone: tuple[float, float] | None) -> list[float] | None:
    return None if zone is None else [math.exp(zone[0]), math.exp(zone[1])]
