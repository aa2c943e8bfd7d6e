"""Sentiment face: positioning and mood of the crowd (funding, long/short, liquidations, OI, flow, mood).

Components (weight), 50 neutral; every rate and ratio below is unit-free:
  funding (.20)            rate f per funding interval (0.0001 = 0.01%), u = f / 0.0003, trend z = (f -
                           mean of the last 21) / their std. x = 0.6·tanh(z)·(1 - tanh²u) - 1.2·tanh³u.
                           At ordinary levels rising funding is growing demand for longs (mildly bullish);
                           at extremes (|f| ≳ 0.03%) the crowded side pays and tends to be flushed, so the
                           reading turns contrarian (high positive funding is bearish). score = 50 + 50·tanh(x).
                           One observation: trend 0.
  funding_volatility       std of funding changes over the last 21 observations: no direction, a
                           confidence factor 1 / (1 + std / 0.0002) (shown as "confidence only").
  long_short (.15)         accounts long / short r, contrarian against the market's OWN normal: retail
                           is long most of the time (Binance's BTC account ratio sits around 1-2.5), so
                           parity is not neutral. b = mean ln r of the last 288 observations (a day of
                           Binance's 5-minute series), x = -((ln r - b) + 0.5·(ln r - mean ln r of the
                           last 12)) / ln 2, score = 50 + 50·tanh(x): twice as crowded long as normal
                           reads ≈ 12. One observation has no normal to compare with: 50.
  liquidations (.15)       forced orders of the last 24 h: forced BUYS (shorts liquidated) push price up,
                           forced sells down; recent ones count most. x = Σ exp(-age / 1 h)·side·amount /
                           Σ amount (the day's total, unweighted, so a burst fades as it ages: 5 h later
                           it reads ≈ 50), ages from the start of the current minute,
                           score = 50 + 50·tanh(x / 0.5).
  volume_sentiment (.20)   the 1,000 trades up to the last complete chunk of 50 (moves once per chunk): 40% buy/sell volume imbalance (tanh(v / 0.3)), 40% buy/sell
                           trade-count imbalance (tanh(c / 0.3)), 20% price impact = window log return /
                           (per-trade return std·√n) (tanh(z / 1.5)); score = 50 + 50·Σ. Needs 100 trades.
  market_mood (.15)        per timeframe: momentum m = 10-candle move / (ATR·√10); volume trend vt =
                           ln(volume last 10 / 10 before) amplifies it (no direction of its own); trend
                           strength ADX(14) × (+DI - -DI)/(+DI + -DI). x = 0.6·tanh(m)·(1 + 0.5·tanh(vt))
                           + 0.4·(ADX/25)·di, score = 50 + 50·tanh(x). Volatility goes to confidence.
  open_interest (.15)      OI change over the last 12 observations in units of its own change std·√12
                           (o), price change over the same span from the base candles in units of its
                           std·√12 (r): x = tanh(r)·(1 + 0.5·tanh(o)): rising OI with rising price confirms
                           (new longs), falling OI with rising price weakens (short covering), rising OI
                           with falling price confirms the fall (new shorts), and so on.
                           DIV (OI/price divergence): when OI falls, the price move is positions closing,
                           not new conviction: -tanh(r)·|tanh(o)| half-caps, pulling toward 50.
                           Needs 4 OI observations.
OI is not a directional quantity (every contract has a long and a short side), so a mirrored market
keeps OI as it is; see tests/test_prism_properties.py for why DESIGN's "OI changes negated" is not used.
Confidence: coverage × funding-volatility factor (when funding exists).
Options ([prism.options.sentiment]): funding_window 21, long_short_window 12, long_short_baseline 288,
oi_span 12 (observations), and weights = {component = w}.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import talib

from virtuoso_tui.prism.blended import BlendedFace, CandleView, Reading, column
from virtuoso_tui.prism.scoring import mean_std, squash

HOUR_MS = 3_600_000
MINUTE_MS = 60_000
FUNDING_WINDOW = 21
LS_WINDOW = 12
LS_BASELINE = 288
OI_SPAN = 12
TRADE_WINDOW = 1000
TRADE_CHUNK = 50


class SentimentFace(BlendedFace):
    name: ClassVar[str] = "sentiment"
    title: ClassVar[str] = "Sentiment"
    default_weight: ClassVar[float] = 0.10
    components: ClassVar[dict[str, float]] = {"funding": 0.20, "long_short": 0.15, "liquidations": 0.15,
                                              "volume_sentiment": 0.20, "market_mood": 0.15, "open_interest": 0.15}
    confidence_rows: ClassVar[tuple[str, ...]] = ("funding_volatility",)
    component_requires: ClassVar[dict[str, frozenset[str]]] = {
        "funding": frozenset({"funding"}), "funding_volatility": frozenset({"funding"}),
        "long_short": frozenset({"long_short"}), "liquidations": frozenset({"liquidations"}),
        "volume_sentiment": frozenset({"trades"}), "market_mood": frozenset({"candles"}),
        "open_interest": frozenset({"open_interest", "candles"})}
    candle_components: ClassVar[frozenset[str]] = frozenset({"market_mood"})
    clock_components: ClassVar[frozenset[str]] = frozenset({"liquidations"})
    option_defaults: ClassVar[dict[str, Any]] = {"funding_window": FUNDING_WINDOW, "long_short_window": LS_WINDOW,
                                                 "long_short_baseline": LS_BASELINE, "oi_span": OI_SPAN}
    option_minimums: ClassVar[dict[str, float]] = {"funding_window": 2, "long_short_window": 1,
                                                   "long_short_baseline": 1, "oi_span": 3}

    def read_timeframe(self, view: CandleView, tf: str) -> dict[str, Reading]:
        h, lo, c, v, atr = view.h, view.l, view.c, view.v, view.atr
        if not atr > 0:
            return {"market_mood": Reading(None)}
        m = (c[-1] - c[-11]) / (atr * math.sqrt(10.0))
        before, recent = float(v[-20:-10].sum()), float(v[-10:].sum())
        vt = math.log(recent / before) if before > 0 and recent > 0 else 0.0
        adx = float(talib.ADX(h, lo, c, 14)[-1])
        pdi, mdi = float(talib.PLUS_DI(h, lo, c, 14)[-1]), float(talib.MINUS_DI(h, lo, c, 14)[-1])
        di = (pdi - mdi) / (pdi + mdi) if pdi + mdi > 0 else 0.0
        x = 0.6 * math.tanh(m) * (1.0 + 0.5 * math.tanh(vt)) + 0.4 * (adx / 25.0) * di
        return {"market_mood": Reading(squash(x), {"momentum": m, "volume_trend": vt, "adx": adx, "di": di,
                                                   "volatility_pct": atr * 100.0})}

    def read_stream(self, state: Any, names: set[str]) -> dict[str, Reading]:
        out: dict[str, Reading] = {}
        if names & {"funding", "funding_volatility"}:
            out.update(self._funding(state))
        if "long_short" in names:
            out["long_short"] = self._long_short(state)
        if "liquidations" in names:
            out["liquidations"] = self._liquidations(state)
        if "volume_sentiment" in names:
            out["volume_sentiment"] = self._volume_sentiment(state)
        if "open_interest" in names:
            out["open_interest"] = self._open_interest(state)
        return {k: out[k] for k in names if k in out}

    def _long_short(self, state: Any) -> Reading:
        ratio = column(state.long_short, "ratio")[-self.options["long_short_baseline"]:]
        r = np.log(ratio[ratio > 0])
        if r.shape[0] == 0:
            return Reading(None)
        normal = float(r.mean())
        recent = float(r[-self.options["long_short_window"]:].mean())
        x = -((r[-1] - normal) + 0.5 * (r[-1] - recent)) / math.log(2.0)
        return Reading(squash(x), {"ratio": math.exp(r[-1]), "normal_ratio": math.exp(normal)})

    def _funding(self, state: Any) -> dict[str, Reading]:
        rate = column(state.funding, "rate")[-self.options["funding_window"]:]
        rate = rate[rate == rate]
        if rate.shape[0] == 0:
            return {"funding": Reading(None), "funding_volatility": Reading(None)}
        f = float(rate[-1])
        mean, sd = mean_std(rate)
        z = (f - mean) / sd if sd > 0 else 0.0
        u = math.tanh(f / 0.0003)
        x = 0.6 * math.tanh(z) * (1.0 - u * u) - 1.2 * u**3
        vol = mean_std(np.diff(rate))[1] if rate.shape[0] > 2 else 0.0
        self.confidence_factors.setdefault(state.symbol, {})["funding"] = 1.0 / (1.0 + vol / 0.0002)
        return {"funding": Reading(squash(x), {"rate": f, "rate_pct": f * 100.0, "trend_z": z}),
                "funding_volatility": Reading(None, {"change_std": vol})}

    def _liquidations(self, state: Any) -> Reading:
        """Ages are taken at the start of the current minute (the reading moves once a minute as the
        forced orders age, and at each new one), so an incremental update equals a full evaluation."""
        liq = state.liquidations
        now = int(state.now or liq.ts[-1]) // MINUTE_MS * MINUTE_MS
        key = (liq.total, now)
        return self.memo(state.symbol, "liquidations", key, lambda: self._compute_liquidations(liq, now))

    @staticmethod
    def _compute_liquidations(liq: Any, now: int) -> Reading:
        start = liq.since(now - 24 * HOUR_MS)
        ts, side, amount = liq.ts[start:], column(liq, "side")[start:], column(liq, "amount")[start:]
        if ts.shape[0] == 0:
            return Reading(squash(0.0), {"count": 0})
        total = float(amount.sum())
        decay = np.exp(-np.maximum(now - ts, 0) / HOUR_MS)
        x = float((decay * amount) @ side) / total if total > 0 else 0.0
        return Reading(squash(x / 0.5), {"count": int(ts.shape[0]), "net": x})

    def _volume_sentiment(self, state: Any) -> Reading:
        trades = state.trades
        n, total = len(trades), trades.total
        end = n - total % TRADE_CHUNK  # the last complete chunk: this reading moves once per chunk
        key = (id(trades), total // TRADE_CHUNK, n == trades.capacity)
        return self.memo(state.symbol, "volume_sentiment", key, lambda: self._compute_volume_sentiment(trades, end))

    @staticmethod
    def _compute_volume_sentiment(trades: Any, end: int) -> Reading:
        start = max(0, end - TRADE_WINDOW)
        if end - start < 100:
            return Reading(None)
        amount = trades.amount[start:end]
        side = trades.side[start:end].astype(np.float64)
        logp = np.log(trades.price[start:end])
        known = float(amount @ np.abs(side))
        vi = float(amount @ side) / known if known > 0 else 0.0
        counted = float(np.abs(side).sum())
        ci = float(side.sum()) / counted if counted > 0 else 0.0
        rets = np.diff(logp)
        sd = mean_std(rets)[1]
        iz = float(logp[-1] - logp[0]) / (sd * math.sqrt(rets.shape[0])) if sd > 0 else 0.0
        s = 0.4 * math.tanh(vi / 0.3) + 0.4 * math.tanh(ci / 0.3) + 0.2 * math.tanh(iz / 1.5)
        return Reading(50.0 + 50.0 * s, {"volume_imbalance": vi, "count_imbalance": ci, "impact_z": iz})

    def _open_interest(self, state: Any) -> Reading:
        oi = state.open_interest
        amount = column(oi, "amount")
        ts = oi.ts
        keep = amount == amount
        span = self.options["oi_span"]
        amount, ts = amount[keep][-(span + 1):], ts[keep][-(span + 1):]
        base = min((s for s in state.candles.values() if len(s) > 0), key=lambda s: s.period_ms, default=None)
        if amount.shape[0] < 4 or base is None:
            return Reading(None)
        idx = np.searchsorted(base.ts, ts, side="right") - 1
        ok = idx >= 0
        if ok.sum() < 4:
            return Reading(None)
        amount, lp = amount[ok], np.log(base.close[idx[ok]])
        d_oi, d_p = np.diff(amount), np.diff(lp)
        k = d_oi.shape[0]
        sd_oi, sd_p = mean_std(d_oi)[1], mean_std(d_p)[1]
        o = float(d_oi.sum()) / (sd_oi * math.sqrt(k)) if sd_oi > 0 else 0.0
        r = float(d_p.sum()) / (sd_p * math.sqrt(k)) if sd_p > 0 else 0.0
        x = math.tanh(r) * (1.0 + 0.5 * math.tanh(o))
        div, label = 0.0, ""
        if o < 0 and r != 0:
            div = -math.tanh(r) * abs(math.tanh(o))
            label = "price rises as OI falls" if r > 0 else "price falls as OI falls"
        return Reading(squash(x), {"oi": float(amount[-1]), "oi_z": o, "price_z": r}, div, label)
