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

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import talib

from virtuoso_tui.model.market import timeframe_ms
from virtuoso_tui.prism.divergence import Pivots, pivots_from_swings, swing_highs, swing_lows
from virtuoso_tui.prism.face import ComponentScore, Face, FaceResult
from virtuoso_tui.prism.scoring import clamp, mean_confidence, timeframe_divergence

ATR_PERIOD = 14
SWING_BARS = 100  # the swing search of a candle view; must be >= the pivots' 60-bar lookback


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

    __slots__ = ("tf", "n", "o", "h", "l", "c", "v", "bv", "atr", "atr_series", "ts", "trades", "_pivots", "_swings")

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
        self._pivots = None
        self._swings = None

    @property
    def swings(self) -> tuple[np.ndarray, np.ndarray]:
        """Indices (into the full arrays) of every 3-bar swing high and swing low of the last
        SWING_BARS candles, found once per view: price structure's levels and the pivots share them."""
        if self._swings is None:
            start = max(0, self.n - SWING_BARS)
            self._swings = (swing_highs(self.h[start:], 3) + start, swing_lows(self.l[start:], 3) + start)
        return self._swings

    @property
    def pivots(self) -> Pivots:
        """Swing highs/lows of the last 60 candles (3-bar swings), shared by every face's divergences
        (equal to `divergence.pivots(h, l)`, derived from `swings`)."""
        if self._pivots is None:
            highs, lows = self.swings
            self._pivots = pivots_from_swings(self.n, highs, lows)
        return self._pivots


_VIEWS: dict[int, tuple[Any, tuple, CandleView]] = {}


def series_key(series: Any) -> tuple:
    """What identifies a closed-candle series' content cheaply: its version, length and newest ts."""
    n = len(series)
    return (getattr(series, "version", None), n, int(series.ts[-1]) if n else None)


def candle_view(series: Any, tf: str, key: tuple | None = None) -> CandleView:
    """The CandleView of `series`, shared by every face until a candle closes on it (`key`: its
    `series_key`, when the caller has it already)."""
    if key is None:
        key = series_key(series)
    hit = _VIEWS.get(id(series))
    if hit is not None and hit[0] is series and hit[1] == key:
        return hit[2]
    view = CandleView(series, tf)
    if len(_VIEWS) > 256:
        _VIEWS.clear()
    _VIEWS[id(series)] = (series, key, view)
    return view


_NOTHING: tuple = (None, 0.0, 0.0, (), {}, {})

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


_KINDS: dict[frozenset[str], frozenset[str]] = {}


def touched_kinds(touched: frozenset[str] | None) -> frozenset[str] | None:
    """'candles:5m' -> 'candles' as well, so a face's `requires` can be intersected with it."""
    if touched is None:
        return None
    kinds = _KINDS.get(touched)
    if kinds is None:
        kinds = touched | frozenset(t.split(":", 1)[0] for t in touched if ":" in t)
        if len(_KINDS) < 1024:  # the distinct touched sets are few; bounded anyway
            _KINDS[touched] = kinds
    return kinds


class BlendedFace(Face):
    """A face whose components are read per timeframe from candles and/or from streams."""

    #: component -> data kinds it needs (all of them)
    component_requires: ClassVar[dict[str, frozenset[str]]] = {}
    #: components read per candle timeframe by `read_timeframe`
    candle_components: ClassVar[frozenset[str]] = frozenset()
    #: stream components whose reading depends on the clock as well as on their data (an event that
    #: ages): re-asked on every update; the reader memoizes per clock step (`memo`), so a reading that
    #: did not move keeps its identity and the cached result stands
    clock_components: ClassVar[frozenset[str]] = frozenset()
    #: non-directional rows shown in the table that only feed confidence (e.g. technical's atr)
    confidence_rows: ClassVar[tuple[str, ...]] = ()
    #: fewer closed candles than this on a timeframe: that timeframe is n/a for this face
    min_candles: ClassVar[int] = 35

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.component_requires and not cls.__dict__.get("requires"):
            cls.requires = frozenset().union(*cls.component_requires.values())

    #: every BlendedFace also takes `weights`, a table component -> weight replacing the class's
    #: nominal ones (the rest keep theirs; available components are renormalised as ever)
    common_options: ClassVar[frozenset[str]] = frozenset({"div_cap", "weights"})

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        checked = self.check_options(options or {})
        super().__init__({**self.option_defaults, **checked})
        if "weights" in checked:
            self.components = checked["weights"]
        self._tf_cache: dict[tuple[str, str], tuple[tuple, dict[str, Reading]]] = {}
        self._stream_cache: dict[str, dict[str, Reading]] = {}
        #: symbol -> named confidence factors in [0, 1] a face's readers leave for `confidence_parts`
        self.confidence_factors: dict[str, dict[str, float]] = {}
        self._memo: dict[str, dict[str, Any]] = {}
        self._last: dict[str, tuple] = {}  # symbol -> (inputs, result, coverage, flat readings, views)
        self._present: dict[str, dict[str, bool]] = {}
        self._merged_cache: dict[str, tuple[tuple, dict[str, tuple]]] = {}
        #: symbol -> (presence map, available, stream components, any candle component, kinds -> stale)
        self._plans: dict[str, tuple] = {}
        self._last_tf: dict[str, tuple[dict, dict, dict]] = {}

    @classmethod
    def _common_option(cls, key: str, value: Any) -> Any:
        return cls._weights(value) if key == "weights" else super()._common_option(key, value)

    @classmethod
    def _weights(cls, weights: Any) -> dict[str, float]:
        """The class's component weights with `weights` (the `weights` option) laid over them."""
        where = f"face {cls.name!r} option 'weights'"
        if not isinstance(weights, Mapping):
            raise ValueError(f"{where} must be a table of component = weight, got {weights!r}")
        out = dict(cls.components)
        for name, w in weights.items():
            if name not in out:
                raise ValueError(f"{where}: {name!r} is not one of its components ({', '.join(cls.components)})")
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not (math.isfinite(w) and w >= 0):
                raise ValueError(f"{where}: {name} must be a number >= 0, got {w!r}")
            out[name] = float(w)
        if not any(w > 0 for w in out.values()):
            raise ValueError(f"{where} leaves every component at weight 0")
        return out

    # -- what a face implements ------------------------------------------------------------------
    def read_timeframe(self, view: CandleView, tf: str) -> dict[str, Reading]:
        raise NotImplementedError

    def read_stream(self, state: Any, names: set[str]) -> dict[str, Reading]:
        raise NotImplementedError

    def confidence_parts(self, state: Any, views: dict[str, CandleView], readings: dict[str, Reading]) -> list[float]:
        """Extra non-directional confidence factors in [0, 1]; the base adds data coverage. By default
        the factors the readers stored in `confidence_factors[symbol]`."""
        return list(self.confidence_factors.get(state.symbol, {}).values())

    def memo(self, symbol: str, name: str, key: Any, compute: Any) -> Any:
        """`compute()` once per distinct `key` for (symbol, name); readers use it for slow parts."""
        slot = self._memo.setdefault(symbol, {})
        hit = slot.get(name)
        if hit is not None and hit[0] == key:
            return hit[1]
        value = compute()
        slot[name] = (key, value)
        return value

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
            view = candle_view(series, tf, key)
            views[tf] = view
            if cached is not None and cached[0] == key:
                out[tf] = cached[1]
                continue
            readings = self.read_timeframe(view, tf)
            self._tf_cache[(state.symbol, tf)] = (key, readings)
            out[tf] = readings
        return out, views

    def _merged(self, symbol: str, tf_readings: dict[str, dict[str, Reading]], timeframes: dict[str, float],
                cap: float) -> dict[str, tuple]:
        """Per candle component: (blended score, timeframe DIV, price DIV strength, labels, raw, by_tf),
        in one pass over the timeframes; reused while the same readings come back (a stream update)."""
        key = (tuple(timeframes.items()), cap, tuple(tf_readings.items()))
        hit = self._merged_cache.get(symbol)
        if hit is not None and hit[0][:2] == key[:2] and len(hit[0][2]) == len(key[2]) and all(
                a[0] == b[0] and a[1] is b[1] for a, b in zip(hit[0][2], key[2], strict=True)):
            return hit[1]
        order = _highest_first(key[0])
        out = {}
        for name in self.candle_components:
            by_tf: dict[str, float | None] = {}
            raw: dict[str, Any] = {}
            labels: list[str] = []
            num = den = 0.0  # the price-divergence strength, weighted over timeframes with a score
            bnum = bden = 0.0  # scoring.blend, inlined: same timeframes, same order, same sums
            for tf, readings in tf_readings.items():
                r = readings.get(name)
                if r is None:
                    continue
                s = r.score
                by_tf[tf] = s
                raw[tf] = r.raw
                if r.label:
                    labels.append(f"{tf} {r.label}")
                if s is not None:
                    w = timeframes[tf]
                    num += w * r.div
                    den += w
                    if w > 0.0:
                        bnum += w * s
                        bden += w
            score = bnum / bden if bden > 0.0 else None
            tf_div = timeframe_divergence(by_tf, timeframes, order, cap) if score is not None and len(by_tf) > 1 else 0.0
            out[name] = (score, tf_div, num / den if den > 0 else 0.0, tuple(labels), raw, by_tf)
        self._merged_cache[symbol] = (key, out)
        return out

    def score(self, state: Any, timeframes: dict[str, float], touched: frozenset[str] | None = None) -> FaceResult:
        """Score every component over `timeframes`; with `touched`, reuse stream readings it leaves alone."""
        kinds = touched_kinds(touched)
        symbol = state.symbol
        present = self._present.get(symbol)
        before = present
        if kinds is None or present is None:
            present = {k: has_kind(state, k) for k in self.requires}
        elif self.requires & kinds:
            # data never vanishes once it came, except a book that goes invalid: re-check only kinds
            # that were touched and were missing (or the book)
            if any(k in kinds and (not ok or k == "book") for k, ok in present.items()):
                present = {k: has_kind(state, k) if k in kinds and (not ok or k == "book") else ok
                           for k, ok in present.items()}
        self._present[symbol] = present
        present_same = present is before or present == before
        plan = self._plans.get(symbol)
        if plan is None or plan[0] is not present:
            # what is available follows from what data is present alone: worked out once per change
            available = frozenset(c for c, req in self.component_requires.items() if all(present[k] for k in req))
            plan = (present, available, available - self.candle_components, bool(available & self.candle_components), {})
            self._plans[symbol] = plan
        _, available, stream_names, candles_wanted, stale_by_kinds = plan
        cap = self.div_cap
        now = int(getattr(state, "now", 0) or 0)

        tf_readings, views = ({}, {})
        if candles_wanted:
            last_tf = self._last_tf.get(symbol)
            if kinds is not None and "candles" not in kinds and last_tf is not None and last_tf[0] == timeframes:
                tf_readings, views = last_tf[1], last_tf[2]
            else:
                tf_readings, views = self._timeframe_readings(state, timeframes)
                self._last_tf[symbol] = (dict(timeframes), tf_readings, views)
        cache = self._stream_cache.get(symbol)
        if cache is None:
            cache = self._stream_cache[symbol] = {}
        if kinds is None:
            stale = stream_names
        else:
            stale = stale_by_kinds.get(kinds)
            if stale is None:
                stale = stale_by_kinds[kinds] = frozenset(c for c in stream_names if self.component_requires[c] & kinds
                                                          or c in self.clock_components)
            if not cache.keys() >= stream_names:
                stale = stale | {c for c in stream_names if c not in cache}
        if stale:
            fresh = self.read_stream(state, stale)
            if (kinds is not None and "candles" not in kinds and symbol in self._last and present_same
                    and all(cache.get(c) is r for c, r in fresh.items())):
                result = self._last[symbol][1]  # the readers handed back what they had: nothing moved
                result.ts = now
                return result
            cache.update(fresh)
        stream = {c: cache[c] for c in stream_names if c in cache}
        # nothing re-read (same reading objects, held here so identity is meaningful): reuse the result
        inputs = (tuple(timeframes.items()), cap, available, tuple(tf_readings.items()), tuple(sorted(stream.items())))
        last = self._last.get(symbol)
        if not stale and last is not None and _same(last[0], inputs):
            last[1].ts = now
            return last[1]
        if (stale and kinds is not None and "candles" not in kinds and present_same and last is not None
                and last[0][:3] == inputs[:3] and last[1].score is not None):
            patched = self._patch(state, last, {c: cache[c] for c in stale}, inputs, now)
            if patched is not None:
                return patched

        merged = self._merged(symbol, tf_readings, timeframes, cap) if tf_readings else {}
        rows: list[ComponentScore] = []
        finals: dict[str, tuple[float, float]] = {}
        flat: dict[str, Reading] = dict(stream)
        for name, nominal in list(self.components.items()) + [(r, 0.0) for r in self.confidence_rows]:
            if name not in available:
                missing = ", ".join(sorted(k for k in self.component_requires[name] if not present[k]))
                rows.append(ComponentScore(name, None, 0.0, detail=f"n/a: no {missing or 'data'}"))
                continue
            if name in self.candle_components:
                score, tf_div, pdiv, labels, raw, by_tf = merged.get(name, _NOTHING)
                labels = list(labels)
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
            result = FaceResult(self.name, state.symbol, int(getattr(state, "now", 0) or 0), None, 0.0, rows, self.default_weight, reason)
            self._last[state.symbol] = (inputs, result, 0.0, flat, views)
            return result
        for row in rows:
            if row.name in finals:
                row.weight = finals[row.name][0] / total_w
        face_score = sum(w * f for w, f in finals.values()) / total_w
        coverage = total_w / sum(self.components.values())
        parts = [coverage] + self.confidence_parts(state, views, flat)
        confidence = mean_confidence(parts)
        rows.sort(key=_table_order)
        result = FaceResult(self.name, state.symbol, now, face_score, confidence, rows,
                            self.default_weight, f"{len(finals)}/{len(self.components)} components")
        self._last[state.symbol] = (inputs, result, coverage, flat, views)
        return result

    def _patch(self, state: Any, last: tuple, fresh: dict[str, Reading], inputs: tuple, now: int) -> FaceResult | None:
        """Rebuild only the rows of re-read stream components (same availability, same timeframes);
        None when a component went from a score to n/a or back (weights change: do it in full)."""
        old, coverage, flat = last[1], last[2], dict(last[3])
        cap = inputs[1]
        rows = []
        face_score = 0  # summed row by row in table order, exactly as before this ran per trade
        for row in old.components:
            reading = fresh.get(row.name)
            if reading is None:
                rows.append(row)
            else:
                if (reading.score is None) != (row.score is None):
                    return None
                flat[row.name] = reading
                if reading.score is None:
                    rows.append(ComponentScore(row.name, None, 0.0, raw=reading.raw, detail=row.detail))
                    continue
                div = clamp(0.5 * cap * reading.div, -cap, cap) if row.weight > 0 else 0.0
                row = ComponentScore(row.name, reading.score, row.weight, div=div, raw=reading.raw, detail=reading.label)
                rows.append(row)
            if row.score is not None and row.weight > 0:
                face_score += row.weight * _final(row)
        confidence = mean_confidence([coverage] + self.confidence_parts(state, last[4], flat))
        rows.sort(key=_table_order)
        result = FaceResult(self.name, state.symbol, now, face_score, confidence, rows, self.default_weight, old.reason)
        self._last[state.symbol] = (inputs, result, coverage, flat, last[4])
        return result


def _final(row: ComponentScore) -> float:
    """ComponentScore.final for a row with a score, without the property's overhead."""
    f = row.score + row.div
    return 0.0 if f < 0.0 else 100.0 if f > 100.0 else f


def _table_order(row: ComponentScore) -> tuple[bool, float]:
    """Scored rows first, by impact (weight × final) descending; n/a rows after."""
    if row.score is None:
        return (True, -0.0)
    return (False, -(row.weight * (_final(row) or 0.0)))


_ORDERS: dict[tuple, list[str]] = {}


def _highest_first(blend_items: tuple) -> list[str]:
    """The blend's timeframes from the longest to the shortest (timeframe_divergence's `order`)."""
    order = _ORDERS.get(blend_items)
    if order is None:
        order = sorted((tf for tf, _ in blend_items), key=timeframe_ms, reverse=True)
        if len(_ORDERS) < 64:
            _ORDERS[blend_items] = order
    return order


def _same(a: tuple, b: tuple) -> bool:
    """Equal settings and the very same reading objects (identity, not equality: cheap and exact)."""
    if a[0] != b[0] or a[1] != b[1] or a[2] != b[2] or len(a[3]) != len(b[3]) or len(a[4]) != len(b[4]):
        return False
    return all(x[0] == y[0] and x[1] is y[1] for x, y in zip(a[3], b[3], strict=True)) and \
        all(x[0] == y[0] and x[1] is y[1] for x, y in zip(a[4], b[4], strict=True))
