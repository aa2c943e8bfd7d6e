"""Walk-forward analysis: optimise in-sample, trade the winner out-of-sample, fold after fold.

The in-sample search is optimize.py's (grid, random or Bayesian, serial, processes or Dask).

Folds: the bars are cut so that `folds` out-of-sample (OOS) blocks of equal length follow an in-sample
(IS) window `is_ratio` times as long. Rolling: each IS window slides with its OOS block; anchored:
every IS window starts at the first bar and grows. The OOS test of a fold is a fresh backtest on the
OOS block preceded by the strategy's warmup bars (history to compute indicators, never traded), so a
fold's OOS trades start and end inside its block and nothing of the IS run leaks into it.

Reported: per fold the chosen params and the IS and OOS objective; the OOS equity stitched across
folds (each block compounding on the previous block's end) with its metrics; and the degradation
1 - mean(OOS objective) / mean(IS objective) (0 = OOS as good as IS, 1 = all of it lost, > 1 = worse
than nothing), plus the walk-forward efficiency (annualised OOS return / annualised IS return).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from virtuoso_tui.backtest.data import Candles
from virtuoso_tui.backtest.metrics import compute_metrics
from virtuoso_tui.backtest.optimize import optimize
from virtuoso_tui.backtest.runner import _finite, resolve_strategy, run_backtest
from virtuoso_tui.trading.strategy import Strategy


def fold_bounds(n: int, folds: int, is_ratio: float = 3.0, anchored: bool = False) -> list[tuple[int, int, int, int]]:
    """(is_start, is_stop, oos_start, oos_stop) per fold over n bars; ValueError when a block would be
    shorter than 2 bars."""
    if folds < 1:
        raise ValueError("walk-forward needs at least 1 fold")
    if is_ratio <= 0:
        raise ValueError("the in-sample/out-of-sample ratio must be positive")
    oos_len = int(n / (folds + is_ratio))
    is_len = int(oos_len * is_ratio)
    if oos_len < 2 or is_len < 2:
        raise ValueError(f"{n} bars are too few for {folds} folds at an in/out ratio of {is_ratio}")
    out = []
    for k in range(folds):
        oos_start = is_len + k * oos_len
        out.append((0 if anchored else k * oos_len, oos_start, oos_start, oos_start + oos_len))
    return out


@dataclass(slots=True)
class WalkForwardResult:
    objective: str
    folds: list[dict[str, Any]]
    ts: np.ndarray                 # stitched OOS bar times
    equity: np.ndarray             # stitched OOS equity
    trades: list[dict[str, Any]]
    metrics: dict[str, float]      # of the stitched OOS run
    degradation: float
    efficiency: float

    def to_json(self) -> dict[str, Any]:
        return {
            "objective": self.objective, "degradation": _finite(self.degradation),
            "efficiency": _finite(self.efficiency),
            "folds": [{k: (_finite(v) if not isinstance(v, dict) else {a: _finite(b) for a, b in v.items()})
                       for k, v in f.items()} for f in self.folds],
            "metrics": {k: _finite(v) for k, v in self.metrics.items()},
            "trades": [{k: _finite(v) for k, v in t.items()} for t in self.trades],
            "equity": [{"time": int(t), "equity": float(e)} for t, e in zip(self.ts.tolist(), self.equity.tolist(), strict=True)],
        }


def walkforward(candles: Candles, strategy: str | type[Strategy] = "sma_cross", *,
                grid: dict[str, Sequence[Any]] | None = None, space: dict[str, Any] | None = None,
                method: str | None = None, n_iter: int = 30, folds: int = 5, is_ratio: float = 3.0, anchored: bool = False,
                objective: str = "sharpe", fee: float = 0.001, slippage_bps: float = 0.0,
                capital: float = 10_000.0, mode: str = "auto", workers: int | None = 1,
                scheduler: Any = None, seed: int = 0, base: dict[str, Any] | None = None) -> WalkForwardResult:
    """Run the walk-forward (see the module docstring). Each in-sample search is `optimize` with this
    `method` (grid, random or bayes; None: grid when a grid is given, else random), seeded seed + fold
    index; `base` params under every candidate (optimize's). Raises ValueError when no IS candidate runs."""
    cls = resolve_strategy(strategy)
    tf = candles.timeframe
    common = {"fee": fee, "slippage_bps": slippage_bps, "capital": capital, "mode": mode}
    fold_rows: list[dict[str, Any]] = []
    pieces_ts: list[np.ndarray] = []
    pieces_eq: list[np.ndarray] = []
    pieces_pos: list[np.ndarray] = []
    trades: list[dict[str, Any]] = []
    level = capital
    bounds = fold_bounds(len(candles), folds, is_ratio, anchored)
    for k, (i0, i1, o0, o1) in enumerate(bounds):
        search = optimize(candles.slice(i0, i1), cls, grid=grid, space=space, method=method, n_iter=n_iter,
                          seed=seed + k, objective=objective, workers=workers, scheduler=scheduler, base=base,
                          **common)
        best = search.best
        if best is None:
            raise ValueError(f"fold {k + 1}: no in-sample candidate could run ({search.rows[0].get('error')})")
        chosen = {**(base or {}), **best["params"]}
        warm = max(cls(chosen).warmup - 1, 0)
        start = max(o0 - warm, 0)
        oos = run_backtest(candles.slice(start, o1), cls, chosen, timeframe=tf, **common)
        offset = o0 - start
        scale = level / capital
        seg = oos.equity[offset:] * scale
        pieces_ts.append(candles.ts[o0:o1])
        pieces_eq.append(seg)
        pieces_pos.append(oos.position[offset:])
        for t in oos.trades:
            t = dict(t, size=t["size"] * scale, pnl=t["pnl"] * scale, fees=t["fees"] * scale,
                     entry_bar=t["entry_bar"] + start, exit_bar=t["exit_bar"] + start, fold=k + 1)
            trades.append(t)
        level = float(seg[-1])
        fold_rows.append({
            "fold": k + 1, "is_start": int(candles.ts[i0]), "is_stop": int(candles.ts[i1 - 1]),
            "oos_start": int(candles.ts[o0]), "oos_stop": int(candles.ts[o1 - 1]), "params": best["params"],
            "is_objective": best["metrics"].get(objective, math.nan),
            "oos_objective": oos.metrics.get(objective, math.nan),
            "is_annualised_return": best["metrics"].get("annualised_return", math.nan),
            "oos_annualised_return": oos.metrics.get("annualised_return", math.nan),
            "oos_return": oos.metrics.get("total_return", math.nan), "oos_trades": oos.metrics.get("trades", 0)})
    ts = np.concatenate(pieces_ts)
    equity = np.concatenate(pieces_eq)
    metrics = compute_metrics(equity, trades, timeframe=tf, exposure=np.concatenate(pieces_pos),
                              close=candles.close[bounds[0][2]:bounds[-1][3]])
    is_mean = _nanmean([f["is_objective"] for f in fold_rows])
    oos_mean = _nanmean([f["oos_objective"] for f in fold_rows])
    degradation = 1.0 - oos_mean / is_mean if is_mean and not math.isnan(is_mean) else math.nan
    is_ann = _nanmean([f["is_annualised_return"] for f in fold_rows])
    oos_ann = _nanmean([f["oos_annualised_return"] for f in fold_rows])
    efficiency = oos_ann / is_ann if is_ann and not math.isnan(is_ann) else math.nan
    return WalkForwardResult(objective, fold_rows, ts, equity, trades, metrics, degradation, efficiency)


def _nanmean(values: list[float]) -> float:
    arr = np.array([v for v in values if v is not None], dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else math.nan
