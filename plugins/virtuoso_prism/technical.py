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
Options ([prism.options.technical]): rsi_period 14, macd_fast 12, macd_slow 26, macd_signal 9,
williams_r_period 14, cci_period 20, ao_fast 5, ao_slow 34 (candles), and weights = {component = w}.
A period longer than the history leaves that component n/a (TA-Lib gives no value).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import talib

from virtuoso_tui.prism.blended import BlendedFace, CandleView, Reading
from virtuoso_tui.prism.divergence import LOOKBACK as DIV_LOOKBACK
from virtuoso_tui.prism.divergence import divergences
from virtuoso_tui.prism.indicators import awesome_oscillator
from virtuoso_tui.prism.scoring import squash

RSI_PERIOD = 14
MACD_FAST, MACD_SLOW, MACD_SIGNAL = 12, 26, 9
WILLR_PERIOD = 14
CCI_PERIOD = 20
AO_FAST, AO_SLOW = 5, 34
CANDLES = frozenset({"candles"})


def rsi_score(rsi: float) -> float | None:
    x = (rsi - 50.0) / 50.0
    return squash(2.0 * x - 4.0 * x**5)


def _tail(view: CandleView, period: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """high, low, close from a multiple of `period` bars back that still covers the divergence lookback."""
    w = max(0, view.n - DIV_LOOKBACK - period)
    w -= w % period
    return view.h[w:], view.l[w:], view.c[w:]


class TechnicalFace(BlendedFace):
    name: ClassVar[str] = "technical"
    title: ClassVar[str] = "Technical"
    default_weight: ClassVar[float] = 0.15
    components: ClassVar[dict[str, float]] = {"ao": 0.20, "rsi": 0.20, "macd": 0.15, "williams_r": 0.15, "cci": 0.15}
    confidence_rows: ClassVar[tuple[str, ...]] = ("atr",)
    component_requires: ClassVar[dict[str, frozenset[str]]] = {
        "ao": CANDLES, "rsi": CANDLES, "macd": CANDLES, "williams_r": CANDLES, "cci": CANDLES, "atr": CANDLES}
    candle_components: ClassVar[frozenset[str]] = frozenset(component_requires)
    option_defaults: ClassVar[dict[str, Any]] = {
        "rsi_period": RSI_PERIOD, "macd_fast": MACD_FAST, "macd_slow": MACD_SLOW, "macd_signal": MACD_SIGNAL,
        "williams_r_period": WILLR_PERIOD, "cci_period": CCI_PERIOD, "ao_fast": AO_FAST, "ao_slow": AO_SLOW}
    option_minimums: ClassVar[dict[str, float]] = {k: 2 for k in option_defaults}

    def read_timeframe(self, view: CandleView, tf: str) -> dict[str, Reading]:
        h, lo, c, atr = view.h, view.l, view.c, view.atr
        opt = self.options
        wr_period, cci_period = opt["williams_r_period"], opt["cci_period"]
        rsi = talib.RSI(c, opt["rsi_period"])
        macd, signal, hist = talib.MACD(c, opt["macd_fast"], opt["macd_slow"], opt["macd_signal"])
        ao = awesome_oscillator(h, lo, opt["ao_fast"], opt["ao_slow"])
        # %R and CCI are rolling-window formulas (nothing carried from bar to bar), so on the newest bars
        # only they give the full-history values, and the divergence reads no further back. TA-Lib sums
        # CCI's window in a ring buffer whose phase is the start index mod the period: starting at a
        # multiple of the period keeps even the last bit identical.
        willr = talib.WILLR(*_tail(view, wr_period), wr_period)
        cci = talib.CCI(*_tail(view, cci_period), cci_period)
        ok = atr > 0
        # TA-Lib reads "no movement at all" as RSI 0 and a zero-width range as %R 0: those would invent
        # a direction in a dead market, so they are n/a instead
        r, wr = float(rsi[-1]), float(willr[-1])
        moved = r != 0.0 or bool((c[1:] != c[:-1]).any())  # a non-zero RSI proves movement: skip the scan
        ranged = wr != 0.0 or bool(h[-wr_period:].max() > lo[-wr_period:].min())
        (rsi_div, rsi_l), (macd_div, macd_l), (ao_div, ao_l), (wr_div, wr_l), (cci_div, cci_l) = divergences(
            h, lo, view.pivots, rsi, hist, ao, willr, cci)
        m, sg, hs, a, cc = float(macd[-1]), float(signal[-1]), float(hist[-1]), float(ao[-1]), float(cci[-1])
        return {
            "rsi": Reading(rsi_score(r) if moved else None, {"rsi": r}, rsi_div, rsi_l),
            "macd": Reading(squash((2.0 * hs + 0.5 * m) / atr) if ok else None, {"macd": m, "signal": sg, "hist": hs},
                            macd_div, macd_l),
            "ao": Reading(squash(a / (2.0 * atr)) if ok else None, {"ao": a}, ao_div, ao_l),
            "williams_r": Reading(squash((wr + 50.0) / 50.0, 0.8) if ranged else None, {"williams_r": wr}, wr_div, wr_l),
            "cci": Reading(squash(cc / 150.0), {"cci": cc}, cci_div, cci_l),
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
