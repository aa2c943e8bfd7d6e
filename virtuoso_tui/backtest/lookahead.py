"""The lookahead guard: cutting the data at a bar must not change any decision made before that bar.

A strategy that peeks at the future decides differently when the future is not there. So the guard
runs the strategy on the whole history and on histories truncated at many cut points, and compares:
  * event path: every (bar, intents) decision before the cut must be identical;
  * vectorised path: `target_positions` before the cut must be identical.
Cut points are sampled (seeded) across the whole range, always including the first decidable bar and
the last bars. It is a run-time check anyone can call (`check_lookahead`, `check_builtins`) and the
test tests/test_backtest_lookahead.py runs it for every built-in strategy, plus a leaky strategy it
must catch. Neighbours: engine.py (decision log), runner.py (strategy registry).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from virtuoso_tui.backtest.data import Candles
from virtuoso_tui.backtest.engine import run_events
from virtuoso_tui.backtest.runner import coerce_params, resolve_strategy, strategy_registry
from virtuoso_tui.trading.strategy import Strategy


@dataclass(slots=True)
class LookaheadReport:
    strategy: str
    cuts: list[int]
    violations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def __str__(self) -> str:
        if self.ok:
            return f"{self.strategy}: no lookahead over {len(self.cuts)} cut points"
        v = self.violations[0]
        return (f"{self.strategy}: LOOKAHEAD - cutting the data at bar {v['cut']} changed the {v['path']} "
                f"decision at bar {v['bar']} ({len(self.violations)} violations)")


def sample_cuts(n: int, first: int, count: int = 20, seed: int = 0) -> list[int]:
    """Cut points (number of bars kept) in [first, n), seeded; includes first, n-1 and n-2."""
    lo = max(first, 1)
    if lo >= n:
        return []
    rng = random.Random(seed)
    span = list(range(lo, n))
    picks = set(rng.sample(span, min(count, len(span))))
    picks.update(c for c in (lo, n - 1, n - 2) if lo <= c < n)
    return sorted(picks)


def check_lookahead(candles: Candles, strategy: str | type[Strategy], params: dict[str, Any] | None = None,
                    *, cuts: list[int] | None = None, count: int = 20, seed: int = 0) -> LookaheadReport:
    """Compare decisions on the full data with decisions on data truncated at each cut (see module doc)."""
    cls = resolve_strategy(strategy)
    params = coerce_params(cls, params)
    n = len(candles)
    warm = cls(params).warmup
    cuts = cuts if cuts is not None else sample_cuts(n, max(warm - 1, 1), count, seed)
    report = LookaheadReport(cls.name, cuts)
    full = run_events(candles, cls(params), timeframe=candles.timeframe).decisions
    targets = None
    if cls.vectorisable:
        targets = cls(params).target_positions(candles.ts, candles.open, candles.high, candles.low,
                                               candles.close, candles.volume)
    for cut in cuts:
        part = candles.slice(0, cut)
        before = [d for d in full if d[0] < cut]
        got = run_events(part, cls(params), timeframe=candles.timeframe).decisions
        if got != before:
            report.violations.append({"cut": cut, "bar": _first_difference(got, before), "path": "event"})
        if targets is not None:
            short = cls(params).target_positions(part.ts, part.open, part.high, part.low, part.close, part.volume)
            diff = np.nonzero(short != targets[:cut])[0]
            if diff.shape[0]:
                report.violations.append({"cut": cut, "bar": int(diff[0]), "path": "vector"})
    return report


def _first_difference(a: list[tuple[int, tuple]], b: list[tuple[int, tuple]]) -> int:
    """Bar of the first decision present in one list and not (or not the same) in the other."""
    for x, y in zip(a, b, strict=False):
        if x != y:
            return min(x[0], y[0])
    longer = a if len(a) > len(b) else b
    return longer[min(len(a), len(b))][0]


def check_builtins(candles: Candles, *, count: int = 20, seed: int = 0) -> list[LookaheadReport]:
    """The guard for every registered strategy with its default params."""
    return [check_lookahead(candles, cls, None, count=count, seed=seed)
            for _, cls in sorted(strategy_registry().items())]
