"""BlendedFace: the machinery every built-in face shares, so a face module only says how to read data.

A face subclass declares its components, which data kinds each needs (`component_requires`), which
components are read per candle timeframe, and implements `read_timeframe(view, tf)` (from a
`CandleView` of log-price arrays) and/or `read_stream(state, names)` (trades, book, funding, ...).
This module then:
  - marks a component n/a when its data kind is missing or too short, and renormalises weights away;
  - blends per-timeframe scores with the timeframe weights (prism/scoring.py `blend`);
  - adds DIV: timeframe divergence plus price/indicator divergence, bounded by ±div_cap points;
  - caches: a timeframe's readings are recomputed only when that timeframe's closed-candle series
    changed, a stream component only when its data kind is in `touched` (None = recompute all).
Neighbours: prism/face.py (the records), prism/engine.py (the Prism that calls `score`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import talib

from virtuoso_tui.model.market import timeframe_ms
from virtuoso_tui.prism.face import ComponentScore, Face, FaceResult
from virtuoso_tui.prism.scoring import blend, clamp, mean_confidence, timeframe_divergence

ATR_PERIOD = 14


@dataclass(slots=True)
class Reading:
    """One component's reading on one timeframe (or from a stream).

    `div` is a divergence strength in half-caps: DIV points = div × div_cap / 2 (so a regular
    divergence, strength 1, is worth half the cap). `confidence` in [0, 1] is that reading's data quality.
    """

    score: float | None
    raw: dict[str, Any] = field(default_factory=dict)
    div: float = 0.0
    label: str = ""
    confidence: float = 1.0


class CandleView:
    """Log-price arrays of one timeframe's closed candles, computed once per candle close.

    o, h, l, c: ln(open/high/low/close); v: volume (base units); bv: taker-buy volume (NaN unknown);
    atr: ATR(14) of the log prices (a fraction of price, ~ATR/close) or NaN with < 15 candles;
    atr_series: the whole ATR array (aligned with the candles).
    """

    __slots__ = ("tf", "n", "o", "h", "l", "c", "v", "bv", "atr", "atr_series", "ts", "trades")

    def __init__(self, series: Any, tf: str) -> None:
        self.tf = tf
        self.ts = series.ts
        self.o = np.log(series.open)
        self.h = np.log(series.high)
        self.l = np.log(series.low)
        self.c = np.log(series.close)
        self.v = np.ascontiguousarray(series.volume, dtype=np.float64)
        self.bv = getattr(series, "buy_volume", None)
        self.trades = getattr(series, "trades", None)
        self.n = self.c.shape[0]
        if self.n > ATR_PERIOD:
            self.atr_series = talib.ATR(self.h, self.l, self.c, ATR_PERIOD)
            self.atr = float(self.atr_series[-1])
        else:
            self.atr_series = np.full(self.n, np.nan)
            self.atr = float("nan")


_VIEWS: dict[int, tuple[Any, tuple, CandleView]] = {}


def series_key(series: Any) -> tuple:
    """What identifies a closed-candle series' content cheaply: its version, length and newest ts."""
    n = len(series)
    return (getattr(series, "version", None), n, int(series.ts[-1]) if n else None)


def candle_view(series: Any, tf: str) -> CandleView:
    """The CandleView of `series`, shared by every face until a candle closes on it."""
    key = series_key(series)
    hit = _VIEWS.get(id(series))
    if hit is not None and hit[0] is series and hit[1] == key:
        return hit[2]
    view = CandleView(series, tf)
    if len(_VIEWS) > 256:
        _VIEWS.clear()
    _VIEWS[id(series)] = (series, key, view)
    return view


_SERIES_FOR_KIND = {"trades": "trades", "funding": "funding", "open_interest": "open_interest",
                    "liquidations": "liquidations", "long_short": "long_short"}


def has_kind(state: Any, kind: str) -> bool:
    """Whether `state` holds data of `kind` ("candles" = any timeframe has closed candles)."""
    if kind == "candles":
        return any(len(s) > 0 for s in state.candles.values())
    if kind == "book":
        book = getattr(state, "book", None)
        return book is not None and bool(getattr(book, "valid", False))
    try:
        if not state.has(kind):
            return False
    except (AttributeError, KeyError):
        pass
    series = getattr(state, _SERIES_FOR_KIND.get(kind, kind), None)
    return series is not None and len(series) > 0


def column(series: Any, name: str) -> np.ndarray:
    """A TimeSeries/TradeWindow column by name (attribute first, then `.column(name)`)."""
    arr = getattr(series, name, None)
    if arr is None:
        arr = series.column(name)
    return arr


def touched_kinds(touched: frozenset[str] | None) -> frozenset[str] | None:
    """'candles:5m' -> 'candles' as well, so a face's `requires` can be intersected with it."""
    if touched is None:
        return None
    return touched | frozenset(t.split(":", 1)[0] for t in touched if ":" in t)


class BlendedFace(Face):
    """A face whose components are read per timeframe from candles and/or from streams."""

    #: component -> data kinds it needs (all of them)
    component_requires: ClassVar[dict[str, frozenset[str]]] = {}
    #: components read per candle timeframe by `read_timeframe`
    candle_components: ClassVar[frozenset[str]] = frozenset()
    #: non-directional rows shown in the table that only feed confidence (e.g. technical's atr)
    confidence_rows: ClassVar[tuple[str, ...]] = ()
    #: fewer closed candles than this on a timeframe: that timeframe is n/a for this face
    min_candles: ClassVar[int] = 35

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.component_requires and not cls.__dict__.get("requires"):
            cls.requires = frozenset().union(*cls.component_requires.values())

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self._tf_cache: dict[tuple[str, str], tuple[tuple, dict[str, Reading]]] = {}
        self._stream_cache: dict[str, dict[str, Reading]] = {}

    # -- what a face implements ------------------------------------------------------------------
    def read_timeframe(self, view: CandleView, tf: str) -> dict[str, Reading]:
        raise NotImplementedError

    def read_stream(self, state: Any, names: set[str]) -> dict[str, Reading]:
        raise NotImplementedError

    def confidence_parts(self, state: Any, views: dict[str, CandleView], readings: dict[str, Reading]) -> list[float]:
        """Extra non-directional confidence factors in [0, 1]; the base adds data coverage."""
        return []

    # -- the shared machinery --------------------------------------------------------------------
    @property
    def div_cap(self) -> float:
        return float(self.options.get("div_cap", 10.0))

    def _timeframe_readings(self, state: Any, timeframes: dict[str, float]) -> tuple[dict[str, dict[str, Reading]], dict[str, CandleView]]:
        out: dict[str, dict[str, Reading]] = {}
        views: dict[str, CandleView] = {}
        for tf in timeframes:
            series = state.candles.get(tf)
            if series is None or len(series) < self.min_candles:
                continue
            key = series_key(series)
            cached = self._tf_cache.get((state.symbol, tf))
            view = candle_view(series, tf)
            views[tf] = view
            if cached is not None and cached[0] == key:
                out[tf] = cached[1]
                continue
            readings = self.read_timeframe(view, tf)
            self._tf_cache[(state.symbol, tf)] = (key, readings)
            out[tf] = readings
        return out, views

    def score(self, state: Any, timeframes: dict[str, float], touched: frozenset[str] | None = None) -> FaceResult:
        """Score every component over `timeframes`; with `touched`, reuse stream readings it leaves alone."""
        kinds = touched_kinds(touched)
        present = {k: has_kind(state, k) for k in self.requires}
        available = {c for c, req in self.component_requires.items() if all(present[k] for k in req)}
        cap = self.div_cap
        order = sorted(timeframes, key=timeframe_ms, reverse=True)

        tf_readings, views = ({}, {})
        if available & self.candle_components:
            tf_readings, views = self._timeframe_readings(state, timeframes)
        stream_names = available - self.candle_components
        cache = self._stream_cache.setdefault(state.symbol, {})
        stale = {c for c in stream_names if c not in cache or kinds is None or self.component_requires[c] & kinds}
        if stale:
            cache.update(self.read_stream(state, stale))
        stream = {c: cache[c] for c in stream_names if c in cache}

        rows: list[ComponentScore] = []
        finals: dict[str, tuple[float, float]] = {}
        flat: dict[str, Reading] = dict(stream)
        for name, nominal in list(self.components.items()) + [(r, 0.0) for r in self.confidence_rows]:
            if name not in available:
                missing = ", ".join(sorted(k for k in self.component_requires[name] if not present[k]))
                rows.append(ComponentScore(name, None, 0.0, detail=f"n/a: no {missing or 'data'}"))
                continue
            if name in self.candle_components:
                by_tf = {tf: r[name].score for tf, r in tf_readings.items() if name in r}
                score = blend(by_tf, timeframes)
                tf_div = timeframe_divergence(by_tf, timeframes, order, cap) if score is not None else 0.0
                px = {tf: r[name].div for tf, r in tf_readings.items() if name in r and r[name].score is not None}
                pdiv = sum(timeframes[tf] * d for tf, d in px.items()) / max(1e-12, sum(timeframes[tf] for tf in px)) if px else 0.0
                labels = [f"{tf} {r[name].label}" for tf, r in tf_readings.items() if name in r and r[name].label]
                raw = {tf: r[name].raw for tf, r in tf_readings.items() if name in r}
                if tf_readings:
                    flat[name] = Reading(score, raw)
            else:
                reading = stream.get(name)
                score = reading.score if reading else None
                by_tf, tf_div, pdiv = {}, 0.0, reading.div if reading else 0.0
                labels = [reading.label] if reading and reading.label else []
                raw = reading.raw if reading else {}
            if score is None:
                rows.append(ComponentScore(name, None, 0.0, raw=raw, by_timeframe=by_tf,
                                           detail="n/a: too little data" if nominal else "confidence only"))
                continue
            div = clamp(tf_div + 0.5 * cap * pdiv, -cap, cap) if nominal else 0.0
            if tf_div:
                labels.insert(0, "timeframes disagree")
            rows.append(ComponentScore(name, score, nominal, div=div, raw=raw, by_timeframe=by_tf, detail="; ".join(labels)))
            if nominal:
                finals[name] = (nominal, clamp(score + div))

        total_w = sum(w for w, _ in finals.values())
        if total_w <= 0.0:
            reason = "n/a: no " + ", ".join(sorted(k for k, ok in present.items() if not ok)) if not all(present.values()) else "n/a: too little data"
            return FaceResult(self.name, state.symbol, int(getattr(state, "now", 0) or 0), None, 0.0, rows, self.default_weight, reason)
        for row in rows:
            if row.name in finals:
                row.weight = finals[row.name][0] / total_w
        face_score = sum(w * f for w, f in finals.values()) / total_w
        coverage = total_w / sum(self.components.values())
        parts = [coverage] + self.confidence_parts(state, views, flat)
        confidence = mean_confidence(parts)
        rows.sort(key=lambda r: (r.score is None, -(r.weight * (r.final or 0.0))))
        return FaceResult(self.name, state.symbol, int(getattr(state, "now", 0) or 0), face_score, confidence, rows,
                          self.default_weight, f"{len(finals)}/{len(self.components)} components")
