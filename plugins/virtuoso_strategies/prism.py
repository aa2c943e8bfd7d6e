"""prism: the confluence-signal strategy in backtests — the desk's SignalStrategy driven by a real Prism.

`PrismStrategy` IS `virtuoso_tui.trading.signal_strategy.SignalStrategy` (same name "prism", same
`on_signal` entries/exits and `exit_plan` stops, inherited, not copied); it adds only what the desk
does around it live, so one implementation serves paper, live and backtests:
  * a Prism (every face the `virtuoso_faces` hook offers, weights from the `w_<face>` params) scored
    at each CLOSED candle of the strategy timeframe; its Signal goes to `on_signal`;
  * the faces read a `PrismView`: candles from the strategy's own MarketState, fed with each closed
    candle of the backtest's state and aggregating the higher blend timeframes from them exactly as
    live (so a 15m backtest also scores 4h), and everything else — trades, book, funding, open
    interest, liquidations, long/short — from the engine's state, so on a recording with trades and
    books all six faces score, and on candle files the others are n/a (weights renormalised);
  * the stops (`exit_plan`) attached when an entry has filled and checked on each closed candle's
    high/low (stop first, as trading/stops.py documents); exits are reduce-only market orders filled
    at the next event like every backtest order (live, the desk sends them at once);
  * entries capped at `max_leverage` × equity (live, the risk rules do it).

Params beyond SignalStrategy's: timeframes ("" = the prism's default blend 4h .40 / 15m .35 / 5m .25;
or "tf:w,tf:w"; timeframes below the strategy timeframe are left out, see prism/vector.py
`blend_for`), window (candles kept per timeframe, as MarketState's capacity), the signal thresholds,
the face weights w_technical ... w_sentiment, div_cap, risk_pct (ATR sizing), max_leverage, face_options (a JSON
object {face: {option: value}}, [prism.options] in virtuoso.toml's form), sizing (a JSON object in
[strategy.sizing]'s form; "" = ATR sizing by risk_pct and atr_mult). `virtuoso backtest --strategy
prism` fills thresholds, weights, blend and face options from the config (the prism the trader watches)
and, when [strategy] name is prism, [strategy.sizing] and [strategy.params] (what the desk trades
with); a --param overrides any of them.
Not vectorisable as a whole (stops and sizing are path-dependent); its candle faces are
(virtuoso_tui/prism/vector.py). Neighbours: backtest/engine.py and backtest/replay.py call `on_bar`.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np

from virtuoso_tui.market.state import MarketState
from virtuoso_tui.model import Candle, OrderIntent, timeframe_ms
from virtuoso_tui.prism.engine import DEFAULT_WEIGHTS, Prism
from virtuoso_tui.prism.face import Face, Signal
from virtuoso_tui.prism.vector import MIN_CANDLES, blend_for, parse_blend
from virtuoso_tui.trading.signal_strategy import SignalStrategy
from virtuoso_tui.trading.sizing import Sizer
from virtuoso_tui.trading.stops import ExitPlan
from virtuoso_tui.trading.strategy import StrategyContext

_FACES: list[Any] | None = None


def registered_faces() -> list[Any]:
    """Face classes (or instances) from every plugin's `virtuoso_faces` hook; the built-in six when
    no entry point is installed. Loaded once per process."""
    global _FACES
    if _FACES is None:
        from virtuoso_tui.plugins import PluginHost

        found = [item for _, (_, item) in PluginHost.load().registry("virtuoso_faces").items()]
        if not found:
            from virtuoso_prism import FACES

            found = list(FACES)
        _FACES = found
    return list(_FACES)


def _fresh(face: Any, options: dict[str, Any] | None = None) -> Face:
    """A new face object (faces cache per symbol: a backtest must not share them with another run),
    built with `options` ([prism.options.NAME]) when given, checked as the live prism checks them."""
    cls = face if isinstance(face, type) else type(face)
    if options is None:
        return cls() if isinstance(face, type) else cls(dict(face.options))
    try:
        cls.check_options(options)
    except ValueError as exc:
        raise ValueError(f"face_options {cls.name}: {exc}") from None
    return cls(dict(options))


def parse_json_table(text: Any, name: str) -> dict[str, Any]:
    """A param holding a table as JSON (what --param and the optimiser's workers can carry)."""
    if isinstance(text, dict):
        return dict(text)
    try:
        table = json.loads(str(text))
    except ValueError:
        table = None
    if not isinstance(table, dict):
        raise ValueError(f"{name} must be a JSON object, got {text!r}")
    return table


def parse_face_options(text: Any) -> dict[str, dict[str, Any]]:
    """The `face_options` param: a JSON object {face: {option: value}} ("" = none), as
    [prism.options] in virtuoso.toml (the backtest command passes the configured one)."""
    if isinstance(text, dict):
        table = text
    elif not text:
        return {}
    else:
        try:
            table = json.loads(str(text))
        except ValueError:
            raise ValueError(f"face_options must be a JSON object of face -> options, got {text!r}") from None
    if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
        raise ValueError(f"face_options must be a JSON object of face -> options, got {text!r}")
    return {str(k): dict(v) for k, v in table.items()}


class PrismView:
    """What the faces read (see the module docstring): `candles` from the strategy's own MarketState,
    every other attribute from the engine's state."""

    def __init__(self, source: Any, own: MarketState) -> None:
        self._source = source
        self.own = own
        self.candles = own.candles
        self.symbol = own.symbol

    def __getattr__(self, name: str) -> Any:  # book, trades, funding, open_interest, ...
        return getattr(self._source, name)

    @property
    def now(self) -> int | None:
        return self._source.now

    @property
    def last_price(self) -> float | None:
        return self._source.last_price

    def has(self, kind: str) -> bool:
        if kind == "candles" or kind.startswith("candles:"):
            return self.own.has(kind)
        has = getattr(self._source, "has", None)
        return bool(has(kind)) if has is not None else False


class PrismStrategy(SignalStrategy):
    description: ClassVar[str] = ("trade the confluence signal of the full prism (ATR-sized entries, ATR/trailing "
                                  "stops, break-even, partial take-profit)")
    params: ClassVar[dict[str, Any]] = {
        **SignalStrategy.params,
        "timeframes": "", "window": 1000, "long_threshold": 65.0, "short_threshold": 35.0, "hysteresis": 3.0,
        **{f"w_{name}": w for name, w in DEFAULT_WEIGHTS.items()},
        "risk_pct": 1.0, "max_leverage": 1.0, "face_options": "", "div_cap": 10.0, "sizing": "",
    }

    def __init__(self, params: dict[str, Any] | None = None, sizer: Sizer | None = None, stats: Any = None,
                 *, faces: list[Any] | None = None, record: bool = False) -> None:
        given = (params or {}).get("sizing") or ""
        if sizer is None and given:   # the desk's [strategy.sizing], as the backtest command passes it
            sizer = Sizer(parse_json_table(given, "sizing"))
        super().__init__(params, sizer or Sizer({"method": "atr", "risk_pct": float((params or {}).get(
            "risk_pct", 1.0)), "atr_multiple": float((params or {}).get("atr_mult", 2.0))}), stats)
        p = self.p
        self.window = int(p["window"])
        if self.window < 100:
            raise ValueError(f"prism window must be at least 100 candles (window={p['window']})")
        self.blend_spec = parse_blend(p["timeframes"]) if p["timeframes"] else None
        self.face_options = parse_face_options(p["face_options"])
        self.max_leverage = float(p["max_leverage"])
        if not self.max_leverage > 0:
            raise ValueError(f"prism max_leverage must be positive (max_leverage={p['max_leverage']})")
        self._face_source = faces   # None: the registered faces, looked up on the first bar (the desk never needs them)
        self.prism: Prism | None = None   # built on the first bar, when the strategy timeframe is known
        self.own: MarketState | None = None
        self.view: PrismView | None = None
        self.timeframes: dict[str, float] = {}
        self.record = record
        self.tape: list[tuple[int, Signal]] = []      # (bar open time, Signal) per decision when `record`
        self.orders: list[tuple[int, list[OrderIntent]]] = []   # (tape index, intents) when `record`
        self.last_signal: Signal | None = None
        self._seen = 0                 # closed candles of the strategy timeframe folded so far
        self._series: Any = None
        #: the stops are checked here, on every trade (`on_trade`) and at each close; False leaves them
        #: to whoever runs the strategy
        self.manage_exits = True
        self._ticked = False   # a trade was checked against the current plan (so closes use the close only)
        self._plan: ExitPlan | None = None
        self._plan_opened: int | None = None

    @classmethod
    def config_params(cls, settings: Any) -> dict[str, Any]:
        """The prism a trader runs with `settings`: [prism.signal] thresholds and hysteresis,
        [prism.weights], [prism] div_cap, the [timeframes] blend, [prism.options] as face_options,
        then [strategy.params] when [strategy] name is prism (Strategy.config_params)."""
        plain = settings.to_dict()
        prism, tf = plain["prism"], plain["timeframes"]
        blend: dict[str, float] = {}
        for level in ("htf", "mtf", "ltf"):
            if tf["weights"][level] > 0:
                blend[tf[level]] = blend.get(tf[level], 0.0) + float(tf["weights"][level])
        # confirm_s is left out: the strategy scores once per closed candle, which is its debounce
        signal = {k: prism["signal"][k] for k in ("long_threshold", "short_threshold", "hysteresis")}
        out: dict[str, Any] = {**signal, "div_cap": prism["div_cap"],
                               "timeframes": ",".join(f"{k}:{w:g}" for k, w in blend.items())}
        out.update({f"w_{name}": w for name, w in prism["weights"].items() if f"w_{name}" in cls.params})
        if prism["options"]:
            out["face_options"] = json.dumps(prism["options"], sort_keys=True)
        if plain["strategy"]["name"] == cls.name:   # the desk sizes this strategy's entries so
            out["sizing"] = json.dumps(plain["strategy"]["sizing"], sort_keys=True)
        return {**out, **super().config_params(settings)}

    @property
    def warmup(self) -> int:
        """Closed candles before the first possible entry: a face needs MIN_CANDLES candles of a blend
        timeframe (more strategy bars when the blend's shortest timeframe is higher), the stop an ATR."""
        return max(int(self.p["atr_period"]) + 1, MIN_CANDLES)

    # -- the prism over the backtest's state -----------------------------------------------------------
    def _build(self, ctx: StrategyContext) -> None:
        self.timeframes = blend_for(ctx.timeframe, self.blend_spec)
        tfs = sorted(set(self.timeframes) | {ctx.timeframe}, key=timeframe_ms)
        self.own = MarketState(ctx.symbol, timeframes=tfs, capacity=self.window)
        p = self.p
        given = self._face_source if self._face_source is not None else registered_faces()
        faces = [_fresh(f, self.face_options.get(f.name)) for f in given]
        unknown = set(self.face_options) - {f.name for f in faces}
        if unknown:
            raise ValueError(f"face_options names no face of this prism: {', '.join(sorted(unknown))}")
        weights = {f.name: float(p[f"w_{f.name}"]) for f in faces if f"w_{f.name}" in p}
        self.prism = Prism(faces, weights, self.timeframes, float(p["long_threshold"]),
                           float(p["short_threshold"]), float(p["hysteresis"]), float(p["div_cap"]))

    def _feed(self, series: Any, new: int) -> None:
        """Apply the `new` newest closed candles of the engine's series to the own MarketState."""
        own = self.own
        symbol, tf = own.symbol, own.base
        n = len(series)
        take = min(new, n)
        ts, o, h = series.ts[n - take:].tolist(), series.open[n - take:].tolist(), series.high[n - take:].tolist()
        lo, c, v = series.low[n - take:].tolist(), series.close[n - take:].tolist(), series.volume[n - take:].tolist()
        bv_arr = getattr(series, "buy_volume", None)
        tr_arr = getattr(series, "trades", None)
        bv = bv_arr[n - take:].tolist() if bv_arr is not None else [math.nan] * take
        tr = [int(x) for x in tr_arr[n - take:].tolist()] if tr_arr is not None else [0] * take
        for i in range(take):
            own.apply(Candle(symbol, tf, ts[i], o[i], h[i], lo[i], c[i], v[i], bv[i], tr[i]))

    def signal_at_close(self, ctx: StrategyContext) -> Signal | None:
        """Fold the newly closed candles and score the prism; None when no candle closed."""
        state = ctx.state
        if self.prism is None:
            self._build(ctx)
        if self._series is None or self.view is None or self.view._source is not state:
            self._series = state.candles[ctx.timeframe]
            self.view = PrismView(state, self.own)
        series = self._series
        total = series.total
        new = total - self._seen
        if new <= 0:
            return None
        self._feed(series, new)
        self._seen = total
        signal = self.prism.evaluate(self.view)
        self.last_signal = signal
        if self.record:
            self.tape.append((int(series.ts[-1]), signal))
        return signal

    # -- the backtest's decision at each close ----------------------------------------------------------
    def on_bar(self, ctx: StrategyContext) -> list[OrderIntent]:
        signal = self.signal_at_close(ctx)
        if signal is None:
            return []
        out = self._exits(ctx) if self.manage_exits else []
        held = ctx.position.amount
        for intent in out:
            held += intent.amount if intent.side == "buy" else -intent.amount
        # the signal sees the position as it will be once the exits fill (no double exit)
        after = ctx.position if held == ctx.position.amount else replace(
            ctx.position, amount=0.0 if abs(held) < 1e-12 else held)
        price = ctx.state.last_price
        # a plain context over the view (the engine's own context may be a derived, read-only kind)
        mine = StrategyContext(ctx.symbol, ctx.timeframe, ctx.now, self.view, after, ctx.equity, ctx.cash)
        for intent in self.on_signal(mine, signal):
            if intent.tag == "entry" and price:
                cap = self.max_leverage * max(ctx.equity, 0.0) / price
                intent = replace(intent, amount=min(intent.amount, cap))
                if not intent.amount > 0:
                    continue
            out.append(intent)
        if self.record and out:
            self.orders.append((len(self.tape) - 1, out))
        return out

    def _plan_for(self, ctx: StrategyContext) -> ExitPlan | None:
        """The stops in step with the position: a new entry gets `exit_plan`, flat drops it."""
        pos = ctx.position
        if not pos.amount:
            self._plan = self._plan_opened = None
            self._ticked = False
            return None
        if self._plan is None or self._plan_opened != pos.opened_ts or self._plan.side != pos.side:
            self._plan = self.exit_plan(ctx.symbol, pos.side, pos.entry_price, abs(pos.amount), pos.opened_ts,
                                        timeframe_ms(ctx.timeframe))
            self._plan_opened = pos.opened_ts
            self._ticked = False
        return self._plan

    def on_trade(self, ctx: StrategyContext, price: float, ts: int) -> list[OrderIntent]:
        """Stops on every trade (recordings and the desk alike), so an exit never waits for the close."""
        if not self.manage_exits or self._plan_for(ctx) is None:
            return []
        self._ticked = True
        return self._due(ctx, self._plan.update(price, ts))

    def _exits(self, ctx: StrategyContext) -> list[OrderIntent]:
        """The stops at a closed candle: against its high/low when no trade was seen since the entry
        (candle data), else against its close (every trade was checked already); the exits due as
        reduce-only intents."""
        if self._plan_for(ctx) is None:
            return []
        last = self._series.last
        if self._ticked:
            return self._due(ctx, self._plan.update(last.close, ctx.now))
        return self._due(ctx, self._plan.update(last.close, ctx.now, last.high, last.low))

    def _due(self, ctx: StrategyContext, due: list) -> list[OrderIntent]:
        pos = ctx.position
        side = "sell" if pos.amount > 0 else "buy"
        return [OrderIntent(ctx.symbol, side, min(ex.amount, abs(pos.amount)), reduce_only=True,
                            origin=f"exit:{ex.reason}", tag=f"exit:{ex.reason}") for ex in due]


def face_tape(tape: list[tuple[int, Signal]]) -> list[tuple[int, dict[str, tuple]]]:
    """A recorded tape as plain numbers: (bar ts, {face: (score, confidence, {component: (score, div)})}),
    None for n/a — what the lookahead guard and the vector parity test compare."""
    out = []
    for ts, sig in tape:
        faces = {}
        for name, r in sig.faces.items():
            faces[name] = (r.score, r.confidence, {c.name: (c.score, c.div) for c in r.components})
        out.append((ts, faces))
    return out


def _finite(x: float | None) -> float:
    return float("nan") if x is None else float(x)


def tape_arrays(tape: list[tuple[int, Signal]], face: str) -> dict[str, np.ndarray]:
    """One face's per-decision score, confidence and component score/div as arrays (NaN = n/a)."""
    score = np.array([_finite(s.faces[face].score) if face in s.faces else np.nan for _, s in tape])
    conf = np.array([float(s.faces[face].confidence) if face in s.faces else np.nan for _, s in tape])
    out = {"ts": np.array([t for t, _ in tape], dtype=np.int64), "score": score, "confidence": conf}
    names = sorted({c.name for _, s in tape if face in s.faces for c in s.faces[face].components})
    for name in names:
        sc, dv = [], []
        for _, s in tape:
            comp = next((c for c in s.faces[face].components if c.name == name), None) if face in s.faces else None
            sc.append(_finite(comp.score) if comp is not None else np.nan)
            dv.append(float(comp.div) if comp is not None and comp.score is not None else np.nan)
        out[f"{name}.score"], out[f"{name}.div"] = np.array(sc), np.array(dv)
    return out

