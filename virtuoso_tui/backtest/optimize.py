"""Parameter search: grid and random, in this process, across processes, or on a Dask cluster.

Each candidate is one `run_backtest` (runner.py) on the same candles; only its params and metrics come
back (no per-bar arrays), ranked by the objective. Across processes the candles are sent once per
worker (a ProcessPoolExecutor initializer), not once per candidate; on Dask they are scattered once to
every worker (`scheduler` = "tcp://host:port" or a distributed.Client). A candidate whose params the
strategy rejects (sma_cross with fast >= slow) is kept with its error and ranked last, so a sweep
never dies half-way. walkforward.py calls `optimize` on each in-sample fold.
"""

from __future__ import annotations

import itertools
import math
import os
import random
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from virtuoso_tui.backtest.data import Candles
from virtuoso_tui.backtest.runner import coerce_params, resolve_strategy, run_backtest
from virtuoso_tui.trading.strategy import Strategy

#: Objectives where smaller is better; every other metric is maximised.
MINIMISED = frozenset({"max_drawdown", "max_drawdown_bars", "max_drawdown_ms", "var_95", "es_95", "fees_paid"})


def param_grid(grid: dict[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the listed values, in the order given (last key varies fastest)."""
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(list(grid[k]) for k in keys))]


def random_params(space: dict[str, Any], n: int, seed: int = 0) -> list[dict[str, Any]]:
    """`n` random candidates: a list is sampled uniformly, an (int, int) pair as an inclusive integer
    range, a pair with a float as a uniform float range. Repeatable for a given seed; duplicates kept
    out (fewer than n when the space is smaller)."""
    rng = random.Random(seed)
    seen: set[tuple] = set()
    out: list[dict[str, Any]] = []
    for _ in range(n * 20):
        if len(out) >= n:
            break
        cand: dict[str, Any] = {}
        for key, spec in space.items():
            if isinstance(spec, tuple) and len(spec) == 2:
                lo, hi = spec
                cand[key] = rng.randint(lo, hi) if isinstance(lo, int) and isinstance(hi, int) else rng.uniform(lo, hi)
            else:
                cand[key] = rng.choice(list(spec))
        sig = tuple(sorted(cand.items()))
        if sig not in seen:
            seen.add(sig)
            out.append(cand)
    return out


def objective_key(objective: str):
    """Sort key ranking candidates best first; NaN and failed candidates last."""
    sign = 1.0 if objective in MINIMISED else -1.0

    def key(row: dict[str, Any]) -> tuple:
        value = row.get("metrics", {}).get(objective, math.nan) if row.get("error") is None else math.nan
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return (1, 0.0)
        return (0, sign * value)
    return key


@dataclass(slots=True)
class OptimizeResult:
    objective: str
    rows: list[dict[str, Any]]          # {"params", "metrics", "error"} best first
    elapsed_s: float
    workers: int
    backend: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def best(self) -> dict[str, Any] | None:
        return self.rows[0] if self.rows and self.rows[0].get("error") is None else None

    def to_json(self, top: int | None = None) -> dict[str, Any]:
        from virtuoso_tui.backtest.runner import _finite

        rows = self.rows if top is None else self.rows[:top]
        return {"objective": self.objective, "evaluated": len(self.rows), "elapsed_s": self.elapsed_s,
                "workers": self.workers, "backend": self.backend,
                "results": [{"params": r["params"], "error": r.get("error"),
                             "metrics": {k: _finite(v) for k, v in r.get("metrics", {}).items()}} for r in rows]}


# -- workers: module-level so they pickle by reference ----------------------------------------------
_WORKER: dict[str, Any] = {}


def _init_worker(candles: Candles, settings: dict[str, Any]) -> None:
    _WORKER["candles"] = candles
    _WORKER["settings"] = settings


def evaluate(params: dict[str, Any], candles: Candles, settings: dict[str, Any]) -> dict[str, Any]:
    """One candidate: its params, metrics, and error (None when it ran)."""
    try:
        result = run_backtest(candles, settings["strategy"], params, fee=settings["fee"],
                              slippage_bps=settings["slippage_bps"], capital=settings["capital"],
                              mode=settings["mode"])
    except (ValueError, ZeroDivisionError) as exc:
        return {"params": params, "metrics": {}, "error": str(exc)}
    return {"params": params, "metrics": result.metrics, "error": None}


def _evaluate_in_worker(params: dict[str, Any]) -> dict[str, Any]:
    return evaluate(params, _WORKER["candles"], _WORKER["settings"])


def optimize(candles: Candles, strategy: str | type[Strategy] = "sma_cross", *,
             grid: dict[str, Sequence[Any]] | None = None, space: dict[str, Any] | None = None,
             n_iter: int = 50, seed: int = 0, objective: str = "sharpe", fee: float = 0.001,
             slippage_bps: float = 0.0, capital: float = 10_000.0, mode: str = "auto",
             workers: int | None = 1, scheduler: Any = None) -> OptimizeResult:
    """Search `grid` (every combination) or `space` (n_iter random candidates) for the best `objective`.

    workers: 1 = this process, N = N processes, None = one per CPU. scheduler: a Dask scheduler
    address or distributed.Client (then `workers` is ignored). Raises ValueError for an empty search
    or an unknown parameter name.
    """
    cls = resolve_strategy(strategy)
    if grid:
        candidates = param_grid(grid)
    elif space:
        candidates = random_params(space, n_iter, seed)
    else:
        raise ValueError("give a grid (--grid k=a,b,c) or a random space to search")
    unknown = {k for c in candidates for k in c} - set(cls.params)
    if unknown:
        raise ValueError(f"strategy {cls.name!r} has no parameter {sorted(unknown)[0]!r} "
                         f"(parameters: {', '.join(sorted(cls.params))})")
    candidates = [coerce_params(cls, c) for c in candidates]
    settings = {"strategy": cls, "fee": fee, "slippage_bps": slippage_bps, "capital": capital, "mode": mode}
    started = time.perf_counter()
    if scheduler is not None:
        rows, used, backend = _run_dask(candidates, candles, settings, scheduler)
    else:
        used = workers if workers is not None else (os.cpu_count() or 1)
        used = max(1, min(used, len(candidates)))
        if used == 1:
            rows, backend = [evaluate(c, candles, settings) for c in candidates], "serial"
        else:
            chunk = max(1, len(candidates) // (used * 4))
            with ProcessPoolExecutor(used, initializer=_init_worker, initargs=(candles, settings)) as pool:
                rows = list(pool.map(_evaluate_in_worker, candidates, chunksize=chunk))
            backend = "processes"
    rows.sort(key=objective_key(objective))
    return OptimizeResult(objective, rows, time.perf_counter() - started, used, backend)


def _run_dask(candidates: list[dict[str, Any]], candles: Candles, settings: dict[str, Any], scheduler: Any):
    try:
        from distributed import Client
    except ImportError as exc:
        raise ValueError("--scheduler needs dask.distributed (pip install 'dask[distributed]')") from exc
    own = not isinstance(scheduler, Client)
    client = Client(scheduler, timeout=10) if own else scheduler
    try:
        data = client.scatter(candles, broadcast=True)
        futures = client.map(evaluate, candidates, candles=data, settings=settings, pure=False)
        rows = client.gather(futures)
        used = len(client.scheduler_info().get("workers", {})) or 1
    finally:
        if own:
            client.close()
    return rows, used, "dask"
