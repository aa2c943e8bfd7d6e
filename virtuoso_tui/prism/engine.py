"""The Prism: runs the faces on a MarketState, combines them into a confluence Signal, incrementally.

Confluence, exactly (all sums over AVAILABLE faces, i.e. score not None and weight > 0):
    wᶠ      = configured face weight / Σ configured weights of available faces   (renormalised)
    eᶠ      = 50 + cᶠ·(sᶠ - 50)        the face score sᶠ shrunk toward 50 by its confidence cᶠ ∈ [0, 1]
    score   = Σ wᶠ·eᶠ                   printed in the confluence table as IMPACT = wᶠ·eᶠ per face row
    confidence = Σ wᶠ·cᶠ × (Σ configured weights available / Σ all configured weights)
A face with no data is n/a and its weight goes to the others. Signal side: LONG when score ≥ long
threshold, SHORT when ≤ short threshold; once LONG it stays LONG until the score falls below
long - hysteresis (SHORT likewise above short + hysteresis), so a score hovering on a threshold does
not flap. And a change must hold: the side those rules give must stay the same for `confirm_s`
seconds of market time (continuously, at every update) before the signal takes it, because the
microstructure faces move the score by a few points within seconds (on the seeded sim, hysteresis
alone left a median of 14 s between side changes). 0 = at once (backtests that score once per closed
candle: sampling there is the debounce). State is kept per symbol.

Incremental: `on_update(state, touched)` re-scores only the faces whose `requires` meet the touched
kinds ("candles:<tf>" counts as "candles" only for a timeframe in the blend); the others' results are
reused. Inside a BlendedFace, candle readings are recomputed only when that timeframe's closed candles
change and stream components only when their own kind is touched (prism/blended.py).
Neighbours: faces (prism/face.py, plugins/virtuoso_prism), rendering (prism/render.py), the engine
publishes the returned Signal as a "signal" event.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from virtuoso_tui.model.market import timeframe_ms
from virtuoso_tui.prism.face import ComponentScore, Face, FaceResult, Signal, SignalSide

DEFAULT_TIMEFRAMES: dict[str, float] = {"4h": 0.40, "15m": 0.35, "5m": 0.25}
DEFAULT_WEIGHTS: dict[str, float] = {"technical": 0.15, "volume": 0.15, "orderflow": 0.225, "orderbook": 0.225,
                                     "price_structure": 0.15, "sentiment": 0.10}




class Prism:
    """Faces + weights + timeframes + thresholds -> Signal per symbol (see the module docstring)."""

    def __init__(
        self,
        faces: Iterable[Face | type[Face]],
        weights: Mapping[str, float] | None = None,
        timeframes: Mapping[str, float] | None = None,
        long_threshold: float = 65.0,
        short_threshold: float = 35.0,
        hysteresis: float = 3.0,
        div_cap: float = 10.0,
        confirm_s: float = 0.0,
    ) -> None:
        self.faces: list[Face] = [f() if isinstance(f, type) else f for f in faces]
        names = [f.name for f in self.faces]
        if len(set(names)) != len(names):
            raise ValueError(f"prism faces must have distinct names, got {names}")
        weights = dict(weights or {})
        unknown = set(weights) - set(names)
        if unknown:
            raise ValueError(f"prism weights name faces that are not loaded: {sorted(unknown)} (faces: {names})")
        self.weights = {f.name: float(weights.get(f.name, f.default_weight)) for f in self.faces}
        bad = {k: w for k, w in self.weights.items() if not w >= 0.0}
        if bad:
            raise ValueError(f"prism face weights must be >= 0, got {bad}")
        self._all_weight = sum(self.weights.values())
        self.timeframes = dict(timeframes or DEFAULT_TIMEFRAMES)
        for tf, w in self.timeframes.items():
            timeframe_ms(tf)
            if not w > 0.0:
                raise ValueError(f"timeframe weight for {tf} must be > 0, got {w}")
        if not 0.0 <= short_threshold < long_threshold <= 100.0:
            raise ValueError(f"thresholds need 0 <= short < long <= 100, got short={short_threshold} long={long_threshold}")
        if not 0.0 <= hysteresis < long_threshold - short_threshold:
            raise ValueError(f"hysteresis must be >= 0 and less than the threshold gap, got {hysteresis}")
        if not div_cap >= 0.0:
            raise ValueError(f"div_cap must be >= 0, got {div_cap}")
        if not confirm_s >= 0.0:
            raise ValueError(f"confirm_s must be >= 0, got {confirm_s}")
        self.confirm_ms = int(round(confirm_s * 1000))
        self.long_threshold, self.short_threshold = float(long_threshold), float(short_threshold)
        self.hysteresis, self.div_cap = float(hysteresis), float(div_cap)
        self._incremental: dict[str, bool] = {}
        for face in self.faces:
            face.options.setdefault("div_cap", self.div_cap)
            self._incremental[face.name] = "touched" in inspect.signature(face.score).parameters
        self._blend_kinds = frozenset(f"candles:{tf}" for tf in self.timeframes)
        self._results: dict[str, dict[str, FaceResult]] = {}
        self._side: dict[str, SignalSide] = {}
        self._pending: dict[str, tuple[SignalSide, int]] = {}  # symbol -> (side waiting, since ts)
        self.errors: dict[str, str] = {}
        #: called once per face with its first error (the runtime reports it against the face's plugin)
        self.on_error: Callable[[str, str], None] | None = None
        self._pulls: dict[tuple[str, str], tuple[FaceResult, float, list[tuple[float, ComponentScore]]]] = {}

    # -- scoring ---------------------------------------------------------------------------------
    def _kinds(self, touched: frozenset[str]) -> frozenset[str]:
        kinds = {t for t in touched if ":" not in t}
        if touched & self._blend_kinds:
            kinds.add("candles")
        return frozenset(kinds)

    def _score_face(self, face: Face, state: Any, touched: frozenset[str] | None) -> FaceResult:
        try:
            if self._incremental[face.name]:
                result = face.score(state, self.timeframes, touched=touched)
            else:
                result = face.score(state, self.timeframes)
            if result.score is not None and not 0.0 <= result.score <= 100.0 or not 0.0 <= result.confidence <= 1.0:
                raise ValueError(f"score {result.score} / confidence {result.confidence} out of range")
            self.errors.pop(face.name, None)
            return result
        except Exception as exc:  # a failing face is isolated and shown n/a, never fatal
            first = face.name not in self.errors
            self.errors[face.name] = f"{type(exc).__name__}: {exc}"
            if first and self.on_error is not None:
                self.on_error(face.name, self.errors[face.name])
            return FaceResult(face.name, state.symbol, int(state.now or 0), None, 0.0, [], 0.0, f"n/a: error {exc}")

    def evaluate(self, state: Any) -> Signal:
        """Score every face afresh and return the confluence Signal for `state.symbol`."""
        results = {f.name: self._score_face(f, state, None) for f in self.faces}
        self._results[state.symbol] = results
        return self._combine(state, results)

    def update(self, state: Any, touched: frozenset[str]) -> Signal | None:
        """What the engine calls: `on_update`, or None while no face can score (nothing to publish)."""
        signal = self.on_update(state, touched)
        return None if signal.score is None else signal

    def on_update(self, state: Any, touched: frozenset[str]) -> Signal:
        """Re-score only the faces `touched` concerns (MarketState.apply's return value), reuse the rest."""
        results = self._results.get(state.symbol)
        if results is None:
            return self.evaluate(state)
        kinds = self._kinds(touched)
        for face in self.faces:
            if face.requires & kinds or face.name not in results:
                results[face.name] = self._score_face(face, state, touched)
        return self._combine(state, results)

    # -- combination -----------------------------------------------------------------------------
    def _combine(self, state: Any, results: dict[str, FaceResult]) -> Signal:
        weights = self.weights
        avail = [n for n, r in results.items() if r.score is not None and weights[n] > 0.0]
        total = sum(weights[n] for n in avail)
        score, confidence = None, 0.0
        for r in results.values():
            r.weight = 0.0
        if total > 0.0:
            score = conf = 0.0
            for n in avail:
                r = results[n]
                r.weight = w = weights[n] / total
                score += w * (50.0 + r.confidence * (r.score - 50.0))  # effective_score, inlined
                conf += w * r.confidence
            confidence = conf * (total / self._all_weight)
        symbol = state.symbol
        now = int(state.now or 0)
        previous = self._side.get(symbol, "NEUTRAL")
        side = self._confirmed(symbol, self._decide(previous, score), now)
        self._side[symbol] = side
        waiting = self._pending.get(symbol)
        pending = None if waiting is None else (waiting[0], (now - waiting[1]) / 1000.0, self.confirm_ms / 1000.0)
        return Signal(symbol, now, score, side, confidence, dict(results),
                      self._reasons(results, avail), side != previous, pending)

    def _confirmed(self, symbol: str, wanted: SignalSide, now: int) -> SignalSide:
        """The side the signal shows: `wanted` once it has been wanted for confirm_ms continuously."""
        current = self._side.get(symbol, "NEUTRAL")
        if wanted == current:
            self._pending.pop(symbol, None)
            return current
        pending = self._pending.get(symbol)
        if pending is None or pending[0] != wanted:
            pending = self._pending[symbol] = (wanted, now)
        if now - pending[1] >= self.confirm_ms:
            del self._pending[symbol]
            return wanted
        return current

    def _decide(self, prev: SignalSide, score: float | None) -> SignalSide:
        """The side the thresholds and hysteresis give, from the side shown now."""
        if score is None:
            return "NEUTRAL"
        if prev == "LONG" and score >= self.long_threshold - self.hysteresis:
            return "LONG"
        if prev == "SHORT" and score <= self.short_threshold + self.hysteresis:
            return "SHORT"
        if score >= self.long_threshold:
            return "LONG"
        if score <= self.short_threshold:
            return "SHORT"
        return "NEUTRAL"

    def _reasons(self, results: dict[str, FaceResult], avail: list[str], top: int = 3) -> list[str]:
        """The components that moved the confluence most from 50, in confluence points."""
        pulls = []
        for name in avail:
            r = results[name]
            w = r.weight
            for unit, c in self._face_pulls(r, top):
                pts = w * unit
                pulls.append((abs(pts), pts, r.face, c))
        pulls.sort(key=_first, reverse=True)
        return [f"{face}.{c.name} {pts:+.1f}" + (f" ({c.detail})" if c.detail else "") for _, pts, face, c in pulls[:top]]

    def _face_pulls(self, r: FaceResult, top: int) -> list[tuple[float, ComponentScore]]:
        """A face's strongest component pulls per unit of face weight, cached per result object."""
        key = (r.symbol, r.face)
        hit = self._pulls.get(key)
        if hit is not None and hit[0] is r and hit[1] == r.confidence:
            return hit[2]
        conf = r.confidence
        items = []
        for c in r.components:
            if c.score is not None and c.weight > 0:
                final = c.score + c.div  # ComponentScore.final, inlined: this runs on every trade
                final = 0.0 if final < 0.0 else 100.0 if final > 100.0 else final
                unit = conf * c.weight * (final - 50.0)
                items.append((abs(unit), unit, c))
        items.sort(key=_first, reverse=True)
        pulls = [(unit, c) for _, unit, c in items[:top]]
        self._pulls[key] = (r, conf, pulls)
        return pulls


def _first(item: tuple) -> float:
    return item[0]


def _face_options(name: str, table: Any) -> dict[str, Any]:
    """A `[prism.options.NAME]` table as plain values (nested tables, e.g. weights, as dicts)."""
    if table is None:
        return {}
    if not isinstance(table, Mapping):
        raise ValueError(f"[prism.options] {name} must be a table of the {name} face's options, got {table!r}")
    return {k: dict(v) if isinstance(v, Mapping) else v for k, v in table.items()}


def analyze_json(signal: Signal) -> dict[str, Any]:
    """The `virtuoso analyze --json` shape (prism/render.py; imported lazily: it needs rich)."""
    from virtuoso_tui.prism.render import analyze_json as shape

    return shape(signal)


def render_signal_text(signal: Signal, face: str | None = None, *, color: bool = False, width: int = 100) -> str:
    """The DIV tables as text (prism/render.py): face None = confluence, "all", or one face's name."""
    from virtuoso_tui.prism.render import render_signal_text as render

    return render(signal, face, color=color, width=width)


def build_prism(host: Any, settings: Any) -> Prism:
    """The Prism the runtime runs, from the plugin host and the validated settings.

    Faces: every plugin's `virtuoso_faces` contribution by name; a name offered twice keeps the first
    unless `[prism.faces] NAME = "plugin"` picks another (PluginHost.registry). A face that fails to
    construct marks its plugin failed and is left out. Weights: `[prism.weights]`, a face missing
    there joins with its `default_weight`; a weight naming a face no plugin provides is reported in
    `host.problems` and ignored. Timeframe blend: `[timeframes]` htf/mtf/ltf with their weights
    (a timeframe given twice adds its weights; weight 0 leaves it out). Thresholds and div_cap:
    `[prism.signal]` (with `confirm_s`), `[prism]`. Face options: `[prism.options.NAME]`, checked by the face class
    (`Face.check_options`) before it is built: an unknown or bad option raises ValueError naming the
    table and the key (one clear error, not a plugin quietly marked failed); a table naming a face no
    plugin provides is reported in `host.problems` and ignored, like a weight.
    """
    cfg = settings.prism
    options = dict(getattr(cfg, "options", None) or {})
    faces: list[Face] = []
    owners: list[str] = []
    for name, (plugin, item) in host.registry("virtuoso_faces", dict(cfg.faces)).items():
        given = _face_options(name, options.pop(name, None))
        if isinstance(item, type):
            try:
                item.check_options(given)
            except ValueError as exc:
                raise ValueError(f"[prism.options.{name}] {exc}") from None
            ok, item = host.guard(plugin, f"face {name!r}", item, given)
            if not ok:
                continue
        elif given:
            raise ValueError(f"[prism.options.{name}]: the {name} face comes ready-built from plugin {plugin!r} "
                             "and takes no options from the config")
        faces.append(item)
        owners.append(plugin)
    for name in options:
        if hasattr(host, "problems"):
            host.problems.append(f"[prism.options.{name}]: no loaded plugin provides a face {name!r}; ignored")
    loaded = {f.name for f in faces}
    weights = {}
    for name, w in dict(cfg.weights).items():
        if name in loaded:
            weights[name] = w
        elif hasattr(host, "problems"):
            host.problems.append(f"[prism.weights] {name} = {w}: no loaded plugin provides a face {name!r}; ignored")
    tf = settings.timeframes
    blend: dict[str, float] = {}
    for name, w in ((tf.htf, tf.weights.htf), (tf.mtf, tf.weights.mtf), (tf.ltf, tf.weights.ltf)):
        if w > 0:
            blend[name] = blend.get(name, 0.0) + w
    sig = cfg.signal
    prism = Prism(faces, weights, blend, sig.long_threshold, sig.short_threshold, sig.hysteresis, cfg.div_cap,
                  sig.confirm_s)
    owner = {face.name: plugin for face, plugin in zip(faces, owners, strict=True)}
    if hasattr(host, "mark_failed"):
        # a face that raises is shown n/a and keeps being asked (it may recover); its plugin is reported
        prism.on_error = lambda face, error: host.mark_failed(owner[face], f"face {face!r} raised {error}")
    return prism
