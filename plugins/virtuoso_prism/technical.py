"""Technical face: momentum oscillators read on each timeframe's closed candles (TA-Lib on log prices).

Every indicator runs on ln(price). That makes readings unit-free (a MACD of 0.004 means 0.4% of
price whatever the quote currency) and a mirrored market an exact reflection; RSI/%R/CCI on ln(price)
differ from the textbook price versions by well under a point at ordinary volatility.

Components (weight) and how each becomes a 0-100 score, 50 neutral, per timeframe:
  ao (.20)          Awesome Oscillator = SMA5 - SMA34 of the median log price, in ATRs:
                    score = 50 + 50·tanh(AO / (2·ATR)). Needs 34 candles.
  rsi (.20)         RSI(14), x = (RSI - 50) / 50: score = 50 + 50·tanh(2x - 4x^5). Momentum is bullish
                    up to RSI ≈ 80, fades above, and reads as exhaustion (bearish) above ≈ 86;
                    mirrored below 50. No jumps at 30/70. No price change in the whole history: n/a.
  macd (.15)        MACD(12,26,9) on log close: x = (2·histogram + 0.5·line) / ATR,
                    score = 50 + 50·tanh(x). Needs 34 candles.
  williams_r (.15)  %R(14) in [-100, 0]: score = 50 + 50·tanh(((%R + 50) / 50) / 0.8); near the
                    14-bar high is bullish. A 14-bar range of zero width: n/a.
  cci (.15)         CCI(20): score = 50 + 50·tanh(CCI / 150).
  atr               ATR(14) of log prices (≈ ATR / close) has no direction: it scales MACD and AO
                    above and feeds confidence. Its nominal .15 share is redistributed over the
                    other five (they are renormalised), and its row is shown as "confidence only".
DIV: price/indicator divergence (regular ±1, hidden ±0.6 half-caps) of each oscillator against the
swing highs/lows of the last 60 candles (3-bar swings), plus timeframe divergence.
Confidence: data coverage × volatility regime 1 / (1 + |ln(ATR / median ATR of 100 bars)|): an ATR
far from its norm (shock or dead market) makes the oscillators less trustworthy.
Too little data: a timeframe with < 35 closed candles is skipped; no timeframe left -> face n/a.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import talib

from virtuoso_tui.prism.blended import BlendedFace, CandleView, Reading
from virtuoso_tui.prism.divergence import divergence
from virtuoso_tui.prism.indicators import awesome_oscillator
from virtuoso_tui.prism.scoring import squash

RSI_PERIOD = 14
MACD_FAST, MACD_SLOW, MACD_SIGNAL = 12, 26, 9
WILLR_PERIOD = 14
CCI_PERIOD = 20
CANDLES = frozenset({"candles"})


def rsi_score(rsi: float) -> float | None:
    x = (rsi - 50.0) / 50.0
    return squash(2.0 * x - 4.0 * x**5)


class TechnicalFace(BlendedFace):
    name: ClassVar[str] = "technical"
    title: ClassVar[str] = "Technical"
    default_weight: ClassVar[float] = 0.15
    components: ClassVar[dict[str, float]] = {"ao": 0.20, "rsi": 0.20, "macd": 0.15, "williams_r": 0.15, "cci": 0.15}
    confidence_rows: ClassVar[tuple[str, ...]] = ("atr",)
    component_requires: ClassVar[dict[str, frozenset[str]]] = {
        "ao": CANDLES, "rsi": CANDLES, "macd": CANDLES, "williams_r": CANDLES, "cci": CANDLES, "atr": CANDLES}
    candle_components: ClassVar[frozenset[str]] = frozenset(component_requires)

    def read_timeframe(self, view: CandleView, tf: str) -> dict[str, Reading]:
        h, lo, c, atr = view.h, view.l, view.c, view.atr
        rsi = talib.RSI(c, RSI_PERIOD)
        macd, signal, hist = talib.MACD(c, MACD_FAST, MACD_SLOW, MACD_SIGNAL)
        ao = awesome_oscillator(h, lo)
        willr = talib.WILLR(h, lo, c, WILLR_PERIOD)
        cci = talib.CCI(h, lo, c, CCI_PERIOD)
        piv = view.pivots
        ok = atr > 0

        def read(score: float | None, series: np.ndarray, raw: dict[str, Any]) -> Reading:
            strength, label = divergence(h, lo, series, piv)
            return Reading(score, raw, strength, label)

        # TA-Lib reads "no movement at all" as RSI 0 and a zero-width range as %R 0: those would invent
        # a direction in a dead market, so they are n/a instead
        moved = bool((c[1:] != c[:-1]).any())
        ranged = bool(h[-WILLR_PERIOD:].max() > lo[-WILLR_PERIOD:].min())
        return {
            "rsi": read(rsi_score(rsi[-1]) if moved else None, rsi, {"rsi": float(rsi[-1])}),
            "macd": read(squash((2.0 * hist[-1] + 0.5 * macd[-1]) / atr) if ok else None, hist,
                         {"macd": float(macd[-1]), "signal": float(signal[-1]), "hist": float(hist[-1])}),
            "ao": read(squash(ao[-1] / (2.0 * atr)) if ok else None, ao, {"ao": float(ao[-1])}),
            "williams_r": read(squash((willr[-1] + 50.0) / 50.0, 0.8) if ranged else None, willr,
                               {"williams_r": float(willr[-1])}),
            "cci": read(squash(cci[-1] / 150.0), cci, {"cci": float(cci[-1])}),
            "atr": Reading(None, {"atr": atr, "atr_pct": atr * 100.0, "regime": self._regime(view)}),
        }

    @staticmethod
    def _regime(view: CandleView) -> float | None:
        """1 / (1 + |ln(ATR / median ATR of the last 100 candles)|): 1 in a normal market."""
        recent = view.atr_series[-100:]
        recent = recent[recent == recent]
        if recent.shape[0] == 0 or not view.atr > 0:
            return None
        mid = recent.shape[0] // 2  # the (upper) median by selection, cheaper than np.median
        return 1.0 / (1.0 + abs(math.log(view.atr / float(np.partition(recent, mid)[mid]))))

    def confidence_parts(self, state: Any, views: dict[str, CandleView], readings: dict[str, Reading]) -> list[float]:
        atr = readings.get("atr")
        if atr is None:
            return []
        parts = [r["regime"] for r in atr.raw.values() if r.get("regime") is not None]
        return [sum(parts) / len(parts)] if parts else []
