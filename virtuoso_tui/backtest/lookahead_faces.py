"""The lookahead guard for the prism's faces: cutting the data at a bar changes no score computed up to it.

A face that peeks at the future scores a bar differently when the future is not there. So the guard
scores the faces bar by bar on the whole history and again on histories truncated at sampled cut
points, and demands that every face score, face confidence, component score and component DIV at
or before the cut bar is IDENTICAL (exact equality; n/a must stay n/a). Three paths:
  * `check_faces_lookahead(candles)`: the event path over candle files — the `prism` strategy (its
    recorded Signals) run by the event backtester on the zero-copy replay feed, whose state holds the
    whole history behind a cursor: exactly where a face could reach past the newest closed candle;
  * `check_faces_lookahead_recording(events, ...)`: the same over a recording with trades, book
    snapshots/deltas, funding, open interest ... (backtest/replay.py), so all six faces are checked;
    a cut keeps every record before the cut bar's end plus the one record that moves the replay clock
    past it (applied only after the bar's decision, as in a full run);
  * `check_vector_lookahead(candles)`: the vectorised candle faces (prism/vector.py), whose whole-
    array code is where a centred window or a whole-history statistic would leak.
Cut points (bars kept = cut + 1) are sampled with backtest/lookahead.py `sample_cuts`. Faces are the
registered ones unless given (the tests add a deliberately leaky face the guard must catch).
Neighbours: backtest/lookahead.py (the same guard for strategy decisions), the `prism` strategy
(plugins/virtuoso_strategies/prism.py), backtest/engine.py, backtest/replay.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from virtuoso_tui.backtest.data import Candles
from virtuoso_tui.backtest.engine import run_events
from virtuoso_tui.backtest.lookahead import sample_cuts
from virtuoso_tui.backtest.replay import run_recording
from virtuoso_tui.backtest.runner import resolve_strategy
from virtuoso_tui.model import timeframe_ms

#: per bar: (bar open time, {face: (score, confidence, {component: (score, div)})}); None = n/a
Tape = list[tuple[int, dict[str, tuple]]]
FIRST_BAR = 34   # the first bar a face can score (35 closed candles of a blend timeframe)


@dataclass(slots=True)
class FaceLookaheadReport:
    path: str                    # "event", "recording" or "vector"
    bars: int
    cuts: list[int]
    violations: list[dict[str, Any]] = field(default_factory=list)
    compared: int = 0            # face scores (not n/a) compared across all cuts: 0 means nothing was tested

    @property
    def ok(self) -> bool:
        return not self.violations

    def __str__(self) -> str:
        if self.ok:
            return (f"faces ({self.path} path): no lookahead over {len(self.cuts)} cut points of {self.bars} bars "
                    f"({self.compared} face scores compared)")
        v = self.violations[0]
        where = v["face"] + (f".{v['component']}" if v.get("component") else "")
        return (f"faces ({self.path} path): LOOKAHEAD - cutting the data at bar {v['cut']} changed {where} "
                f"{v['what']} at bar {v['bar']} ({v['full']!r} with the whole history, {v['cut_value']!r} cut; "
                f"{len(self.violations)} violations)")


def _prism(params: dict[str, Any] | None, faces: Sequence[Any] | None) -> Any:
    cls = resolve_strategy("prism")
    return cls(params, faces=list(faces) if faces is not None else None, record=True)


def _plain(tape: list[tuple[int, Any]]) -> Tape:
    out: Tape = []
    for ts, sig in tape:
        faces = {n: (r.score, r.confidence, {c.name: (c.score, c.div) for c in r.components})
                 for n, r in sig.faces.items()}
        out.append((ts, faces))
    return out


def face_tape(candles: Candles, *, params: dict[str, Any] | None = None, faces: Sequence[Any] | None = None) -> Tape:
    """Every face's scores at each bar close of `candles`, as the event backtester gives them."""
    strategy = _prism(params, faces)
    run_events(candles, strategy, timeframe=candles.timeframe)
    return _plain(strategy.tape)


def face_tape_recording(events: Sequence[Any], *, symbol: str, timeframe: str, params: dict[str, Any] | None = None,
                        faces: Sequence[Any] | None = None) -> Tape:
    """Every face's scores at each close of a `timeframe` candle built from a recording."""
    strategy = _prism(params, faces)
    run_recording(events, strategy, symbol=symbol, timeframe=timeframe)
    return _plain(strategy.tape)


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a == b or (a != a and b != b)


def compare_tapes(full: Tape, cut: Tape, upto: int) -> list[dict[str, Any]]:
    """Differences at bars 0..upto between the whole-history tape and a truncated run's tape."""
    out: list[dict[str, Any]] = []
    if len(cut) < upto + 1:
        out.append({"bar": len(cut), "face": "*", "what": "bar", "full": "scored", "cut_value": "missing"})
        return out
    for bar in range(upto + 1):
        (t_full, f_full), (t_cut, f_cut) = full[bar], cut[bar]
        if t_full != t_cut:
            out.append({"bar": bar, "face": "*", "what": "bar time", "full": t_full, "cut_value": t_cut})
            return out
        for name in sorted(set(f_full) | set(f_cut)):
            a, b = f_full.get(name), f_cut.get(name)
            if a is None or b is None:
                out.append({"bar": bar, "face": name, "what": "presence", "full": a is not None, "cut_value": b is not None})
                continue
            for what, x, y in (("score", a[0], b[0]), ("confidence", a[1], b[1])):
                if not _same(x, y):
                    out.append({"bar": bar, "face": name, "what": what, "full": x, "cut_value": y})
            for comp in sorted(set(a[2]) | set(b[2])):
                ca, cb = a[2].get(comp, (None, None)), b[2].get(comp, (None, None))
                for what, x, y in (("score", ca[0], cb[0]), ("div", ca[1], cb[1])):
                    if not _same(x, y):
                        out.append({"bar": bar, "face": name, "component": comp, "what": what, "full": x, "cut_value": y})
    return out


def _scored(tape: Tape, upto: int) -> int:
    return sum(1 for _, faces in tape[:upto + 1] for f in faces.values() if f[0] is not None)


def _record(report: FaceLookaheadReport, cut: int, diffs: list[dict[str, Any]], limit: int = 50) -> None:
    for d in diffs[:max(0, limit - len(report.violations))]:
        report.violations.append({"cut": cut, **d})


def check_faces_lookahead(candles: Candles, *, params: dict[str, Any] | None = None,
                          faces: Sequence[Any] | None = None, cuts: list[int] | None = None, count: int = 12,
                          seed: int = 0) -> FaceLookaheadReport:
    """The event-path guard over candles (see the module docstring)."""
    n = len(candles)
    cuts = cuts if cuts is not None else sample_cuts(n, FIRST_BAR, count, seed)
    report = FaceLookaheadReport("event", n, cuts)
    full = face_tape(candles, params=params, faces=faces)
    for cut in cuts:
        part = face_tape(candles.slice(0, cut + 1), params=params, faces=faces)
        report.compared += _scored(part, cut)
        _record(report, cut, compare_tapes(full, part, cut))
    return report


def check_faces_lookahead_recording(events: Sequence[Any], *, symbol: str, timeframe: str,
                                    params: dict[str, Any] | None = None, faces: Sequence[Any] | None = None,
                                    cuts: list[int] | None = None, count: int = 8,
                                    seed: int = 0) -> FaceLookaheadReport:
    """The event-path guard over a recording of market records (see the module docstring)."""
    events = [e for e in events if e.symbol == symbol]
    full = face_tape_recording(events, symbol=symbol, timeframe=timeframe, params=params, faces=faces)
    n = len(full)
    cuts = cuts if cuts is not None else sample_cuts(n, FIRST_BAR, count, seed)
    report = FaceLookaheadReport("recording", n, cuts)
    times = np.array([e.ts for e in events], dtype=np.int64)
    period = timeframe_ms(timeframe)
    for cut in cuts:
        end = full[cut][0] + period
        keep = int(np.searchsorted(times, end, side="left")) + 1   # + the record that moves the clock past `end`
        part = face_tape_recording(events[:keep], symbol=symbol, timeframe=timeframe, params=params, faces=faces)
        report.compared += _scored(part, cut)
        _record(report, cut, compare_tapes(full, part, cut))
    return report


def check_vector_lookahead(candles: Candles, scorer: Callable[[Candles], dict[str, Any]] | None = None, *,
                           cuts: list[int] | None = None, count: int = 20, seed: int = 0) -> FaceLookaheadReport:
    """The guard for whole-array face scoring: `scorer(candles)` -> {face: FaceScores-like with `score`
    and `components` {name: (score array, div array)}}; default prism/vector.py `candle_faces`."""
    if scorer is None:
        from virtuoso_tui.prism.vector import candle_faces

        scorer = candle_faces
    n = len(candles)
    cuts = cuts if cuts is not None else sample_cuts(n, FIRST_BAR, count, seed)
    report = FaceLookaheadReport("vector", n, cuts)
    full = scorer(candles)
    for cut in cuts:
        part = scorer(candles.slice(0, cut + 1))
        diffs: list[dict[str, Any]] = []
        for name, fs in full.items():
            arrays = [(None, "score", fs.score, part[name].score)]
            for comp, (s, d) in fs.components.items():
                ps, pd = part[name].components[comp]
                arrays += [(comp, "score", s, ps), (comp, "div", d, pd)]
            report.compared += int(np.count_nonzero(part[name].score == part[name].score))
            for comp, what, a, b in arrays:
                a = a[:cut + 1]
                differ = ~((a == b) | ((a != a) & (b != b)))
                if differ.any():
                    bar = int(np.flatnonzero(differ)[0])
                    diffs.append({"bar": bar, "face": name, "component": comp, "what": what,
                                  "full": float(a[bar]), "cut_value": float(b[bar])})
        _record(report, cut, sorted(diffs, key=lambda d: d["bar"]))
    return report
