"""Parameter search: grid, random or Bayesian (optuna TPE), in this process, across processes, or on Dask.

Each candidate is one `run_backtest` (runner.py) on the same candles; only its params and metrics come
back (no per-bar arrays), ranked by the objective. Across processes the candles are sent once per
worker (a ProcessPoolExecutor initializer), not once per candidate; on Dask they are scattered once to
every worker (`scheduler` = "tcp://host:port" or a distributed.Client). A candidate whose params the
strategy rejects (sma_cross with fast >= slow) is kept with its error and ranked last, so a sweep
never dies half-way. walkforward.py calls `optimize` on each in-sample fold; cli.py parses the
search space (`K=LO:HI`, `K=LO:HI:log`, `K=A,B,C`) into the dict shapes `random_params` documents.

Bayesian search asks optuna's TPE sampler for candidates in batches (one per worker), evaluates a batch
with the same pool as the other methods, and tells the results back. optuna is imported only then.
"""

from __future__ import annotations

import itertools
import math
import os
import random
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from virtuoso_tui.backtest.data import Candles
from virtuoso_tui.backtest.runner import coerce_params, resolve_strategy, run_backtest
from virtuoso_tui.trading.strategy import Strategy

#: Objectives where smaller is better; every other metric is maximised.
MINIMISED = frozenset({"max_drawdown", "max_drawdown_bars", "max_drawdown_ms", "var_95", "es_95", "fees_paid"})
METHODS = ("grid", "random", "bayes")
#: What to install for method="bayes" (pyproject's optional extra).
BAYES_EXTRA = "pip install 'virtuoso-tui[research]' (it brings optuna)"


def param_grid(grid: dict[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the listed values, in the order given (last key varies fastest)."""
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(list(grid[k]) for k in keys))]


def _range(spec: Any) -> tuple[Any, Any, bool] | None:
    """(lo, hi, log) when `spec` is a range -- (lo, hi) or (lo, hi, "log") -- else None (choices)."""
    if isinstance(spec, tuple) and len(spec) in (2, 3) and (len(spec) == 2 or spec[2] == "log"):
        return spec[0], spec[1], len(spec) == 3
    return None


def _is_int_range(lo: Any, hi: Any) -> bool:
    return all(isinstance(x, int) and not isinstance(x, bool) for x in (lo, hi))


def check_space(space: dict[str, Any]) -> None:
    """ValueError, naming the parameter, for a range with lo > hi or non-numeric ends, a log range
    that does not start above 0, or an empty list of choices."""
    for key, spec in space.items():
        rng = _range(spec)
        if rng is None:
            if isinstance(spec, (str, bytes)) or not list(spec):
                raise ValueError(f"search space {key!r}: give a range (lo, hi) or a non-empty list of choices")
            continue
        lo, hi, log = rng
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (lo, hi)):
            raise ValueError(f"search space {key!r}: the range ends must be numbers")
        if lo > hi:
            raise ValueError(f"search space {key!r}: range {lo}:{hi} runs backwards")
        if log and lo <= 0:
            raise ValueError(f"search space {key!r}: a log range must start above 0")


def random_params(space: dict[str, Any], n: int, seed: int = 0) -> list[dict[str, Any]]:
    """`n` random candidates: a list is sampled uniformly, an (int, int) pair as an inclusive integer
    range, a pair with a float as a uniform float range, and (lo, hi, "log") log-uniformly (integers
    if both ends are). Repeatable for a given seed; duplicates kept out (fewer than n when the space
    is smaller)."""
    check_space(space)
    rng = random.Random(seed)
    seen: set[tuple] = set()
    out: list[dict[str, Any]] = []
    for _ in range(n * 20):
        if len(out) >= n:
            break
        cand: dict[str, Any] = {}
        for key, spec in space.items():
            r = _range(spec)
            if r is None:
                cand[key] = rng.choice(list(spec))
                continue
            lo, hi, log = r
            if not log:
                cand[key] = rng.randint(lo, hi) if _is_int_range(lo, hi) else rng.uniform(lo, hi)
            elif _is_int_range(lo, hi):   # P(k) proportional to log((k+1)/k): log-uniform over [lo, hi+1)
                cand[key] = min(hi, int(math.exp(rng.uniform(math.log(lo), math.log(hi + 1)))))
            else:
                cand[key] = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        sig = tuple(sorted(cand.items()))
        if sig not in seen:
            seen.add(sig)
            out.append(cand)
    return out


def objective_key(objective: str):
    """Sort key ranking candidates best first; NaN and failed candidates last."""
    sign = 1.0 if objective in MINIMISED else -1.0

    def key(row: dict[str, Any]) -> tuple:
        value = _score(row, objective)
        return (1, 0.0) if value is None else (0, sign * value)
    return key


def check_objective(rows: list[dict[str, Any]], objective: str) -> None:
    """ValueError when a candidate ran but has no metric named `objective` (a misspelt --objective
    would otherwise rank every candidate as failed)."""
    ran = next((r for r in rows if r.get("error") is None), None)
    if ran is not None and objective not in ran["metrics"]:
        raise ValueError(f"unknown objective {objective!r} (metrics: {', '.join(sorted(ran['metrics']))})")


def _score(row: dict[str, Any], objective: str) -> float | None:
    """The row's objective, or None when it failed or the metric is missing / NaN / infinite."""
    if row.get("error") is not None:
        return None
    value = row.get("metrics", {}).get(objective)
    if value is None or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


@dataclass(slots=True)
class OptimizeResult:
    objective: str
    rows: list[dict[str, Any]]          # {"params", "metrics", "error"} best first
    elapsed_s: float
    workers: int
    backend: str
    extra: dict[str, Any] = field(default_factory=dict)   # method, seed, and for bayes: trials asked, batch

    @property
    def best(self) -> dict[str, Any] | None:
        return self.rows[0] if self.rows and self.rows[0].get("error") is None else None

    def to_json(self, top: int | None = None) -> dict[str, Any]:
        from virtuoso_tui.backtest.runner import _finite

        rows = self.rows if top is None else self.rows[:top]
        return {"objective": self.objective, "method": self.extra.get("method"), "evaluated": len(self.rows),
                "elapsed_s": self.elapsed_s, "workers": self.workers, "backend": self.backend,
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
        result = run_backtest(candles, settings["strategy"], {**settings["base"], **params}, fee=settings["fee"],
                              slippage_bps=settings["slippage_bps"], capital=settings["capital"],
                              mode=settings["mode"])
    except (ValueError, ZeroDivisionError) as exc:
        return {"params": params, "metrics": {}, "error": str(exc)}
    return {"params": params, "metrics": result.metrics, "error": None}


def _evaluate_in_worker(params: dict[str, Any]) -> dict[str, Any]:
    return evaluate(params, _WORKER["candles"], _WORKER["settings"])


class _Evaluator:
    """Evaluates lists of candidates serially, on a process pool or on Dask; opened once per search
    so a Bayesian search's batches reuse the same processes and the same scattered candles.
    `used` is the processes (Dask: workers) running; `slots` how many candidates run at once."""

    def __init__(self, candles: Candles, settings: dict[str, Any], workers: int | None, scheduler: Any,
                 most: int) -> None:
        self.candles, self.settings, self.scheduler = candles, settings, scheduler
        wanted = workers if workers is not None else (os.cpu_count() or 1)
        self.used = max(1, min(wanted, most))
        self.slots = self.used
        self.backend = "serial"
        self._pool: ProcessPoolExecutor | None = None
        self._client: Any = None
        self._own_client = False
        self._data: Any = None

    def __enter__(self) -> _Evaluator:
        if self.scheduler is not None:
            try:
                from distributed import Client
            except ImportError as exc:
                raise ValueError("--scheduler needs dask.distributed (pip install 'dask[distributed]')") from exc
            self._own_client = not isinstance(self.scheduler, Client)
            self._client = Client(self.scheduler, timeout=10) if self._own_client else self.scheduler
            self._data = self._client.scatter(self.candles, broadcast=True)
            info = self._client.scheduler_info().get("workers", {})
            self.used = len(info) or 1
            self.slots = sum(int(w.get("nthreads", 1)) for w in info.values()) or 1
            self.backend = "dask"
        elif self.used > 1:
            self._pool = ProcessPoolExecutor(self.used, initializer=_init_worker,
                                             initargs=(self.candles, self.settings))
            self.backend = "processes"
        return self

    def map(self, candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Rows in the order of `candidates`."""
        if not candidates:
            return []
        if self._client is not None:
            futures = self._client.map(evaluate, candidates, candles=self._data, settings=self.settings, pure=False)
            return self._client.gather(futures)
        if self._pool is not None:
            chunk = max(1, len(candidates) // (self.used * 4))
            return list(self._pool.map(_evaluate_in_worker, candidates, chunksize=chunk))
        return [evaluate(c, self.candles, self.settings) for c in candidates]

    def __exit__(self, *exc: Any) -> None:
        if self._pool is not None:
            self._pool.shutdown()
        if self._client is not None and self._own_client:
            self._client.close()


def optimize(candles: Candles, strategy: str | type[Strategy] = "sma_cross", *,
             grid: dict[str, Sequence[Any]] | None = None, space: dict[str, Any] | None = None,
             method: str | None = None, n_iter: int = 50, seed: int = 0, objective: str = "sharpe",
             fee: float = 0.001, slippage_bps: float = 0.0, capital: float = 10_000.0, mode: str = "auto",
             workers: int | None = 1, scheduler: Any = None, base: dict[str, Any] | None = None) -> OptimizeResult:
    """Search for the params with the best `objective` and rank every candidate tried.
    `base`: params every candidate starts from (the CLI passes the configured ones, see
    Strategy.config_params); the searched params override them, and rows list the searched ones.

    method "grid": every combination of `grid`; "random": n_iter distinct random candidates from
    `space` (see random_params); "bayes": n_iter distinct candidates chosen by optuna's TPE sampler
    from `space` (ranges become int / float / log distributions, lists categorical). For "random" and
    "bayes" the lists of `grid` join `space` as choices. None picks grid when a grid is given, else
    random. Repeatable for a given seed (bayes: for a given seed and number of workers, which sets
    the batch size).
    workers: 1 = this process, N = N processes, None = one per CPU. scheduler: a Dask scheduler
    address or distributed.Client (then `workers` is ignored). Raises ValueError for an empty search,
    an unknown method or parameter name, a malformed space, or bayes without optuna installed.
    """
    cls = resolve_strategy(strategy)
    method = method or ("grid" if grid else "random")
    if method not in METHODS:
        raise ValueError(f"unknown search method {method!r} (known: {', '.join(METHODS)})")
    if n_iter < 1 and method != "grid":
        raise ValueError(f"{method} search needs at least 1 iteration")
    combined = {**{k: list(v) for k, v in (grid or {}).items()}, **(space or {})}
    if method == "grid" and not grid:
        raise ValueError("give a grid (--grid k=a,b,c) to search every combination")
    if not combined:
        raise ValueError("give a grid (--grid k=a,b,c) or a random space to search")
    unknown = set(grid if method == "grid" else combined) - set(cls.params)
    if unknown:
        raise ValueError(f"strategy {cls.name!r} has no parameter {sorted(unknown)[0]!r} "
                         f"(parameters: {', '.join(sorted(cls.params))})")
    settings = {"strategy": cls, "fee": fee, "slippage_bps": slippage_bps, "capital": capital, "mode": mode,
                "base": coerce_params(cls, dict(base or {}))}
    extra: dict[str, Any] = {"method": method, "seed": seed}
    started = time.perf_counter()
    if method == "bayes":
        check_space(combined)
        optuna = _import_optuna()   # before any process or cluster is started
        with _Evaluator(candles, settings, workers, scheduler, n_iter) as ev:
            rows, asked = _bayes(optuna, combined, cls, ev.map, n_iter, seed, objective, ev.slots)
        extra.update(trials=asked, batch=ev.slots, sampler="TPE")
    else:
        candidates = param_grid(grid) if method == "grid" else random_params(combined, n_iter, seed)
        candidates = [coerce_params(cls, c) for c in candidates]
        with _Evaluator(candles, settings, workers, scheduler, len(candidates)) as ev:
            rows = ev.map(candidates)
    check_objective(rows, objective)
    rows.sort(key=objective_key(objective))
    return OptimizeResult(objective, rows, time.perf_counter() - started, ev.used, ev.backend, extra)


# -- Bayesian search (optuna, imported lazily) -------------------------------------------------------

def _import_optuna():
    try:
        import optuna
    except ImportError as exc:
        raise ValueError(f"method 'bayes' needs optuna, which is not installed: {BAYES_EXTRA}") from exc
    return optuna


def distributions(optuna: Any, space: dict[str, Any]) -> dict[str, Any]:
    """optuna distributions for a search space: an all-int range -> IntDistribution, other ranges ->
    FloatDistribution (log=True for (lo, hi, "log")), lists -> CategoricalDistribution."""
    d = optuna.distributions
    out: dict[str, Any] = {}
    for key, spec in space.items():
        r = _range(spec)
        if r is None:
            out[key] = d.CategoricalDistribution(list(spec))
        elif _is_int_range(r[0], r[1]):
            out[key] = d.IntDistribution(r[0], r[1], log=r[2])
        else:
            out[key] = d.FloatDistribution(float(r[0]), float(r[1]), log=r[2])
    return out


def space_size(space: dict[str, Any]) -> float:
    """Distinct candidates in a space: the product of the choices and integer-range widths; inf
    when a float range is in it."""
    size = 1.0
    for spec in space.values():
        r = _range(spec)
        if r is None:
            size *= len(set(spec))
        elif _is_int_range(r[0], r[1]):
            size *= r[1] - r[0] + 1
        else:
            return math.inf
    return size


def _bayes(optuna: Any, space: dict[str, Any], cls: type[Strategy],
           run: Callable[[list[dict[str, Any]]], list[dict[str, Any]]], n_iter: int, seed: int,
           objective: str, batch: int) -> tuple[list[dict[str, Any]], int]:
    """Ask/tell loop: up to n_iter distinct candidates evaluated, `batch` asked at a time (the
    sampler's constant liar keeps a batch's asks apart). A candidate asked again is told its earlier
    result, not re-run; asking stops when a finite space is used up, or after 20 * n_iter trials. A
    candidate that failed or has no finite objective is told as infeasible (a violated constraint),
    so TPE learns to avoid it instead of ignoring it. Returns the rows and the trials asked."""
    dists = distributions(optuna, space)
    direction = "minimize" if objective in MINIMISED else "maximize"
    old_verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)   # one INFO line per trial otherwise
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            # fewer random start-up trials on a small budget, so the model gets some trials to steer
            sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(4, min(10, n_iter // 3)),
                                                 multivariate=True, constant_liar=True)
            study = optuna.create_study(direction=direction, sampler=sampler)
            done: dict[tuple, dict[str, Any]] = {}
            rows: list[dict[str, Any]] = []
            asked = 0
            most = int(min(n_iter, space_size(space)))
            while len(rows) < most and asked < 20 * n_iter:
                trials, fresh = [], {}
                for _ in range(min(batch, most - len(rows))):
                    trial = study.ask(dists)
                    asked += 1
                    params = coerce_params(cls, dict(trial.params))
                    sig = tuple(sorted(params.items()))
                    trials.append((trial, sig))
                    if sig not in done and sig not in fresh:
                        fresh[sig] = params
                for sig, row in zip(fresh, run(list(fresh.values())), strict=True):
                    done[sig] = row
                    rows.append(row)
                check_objective(rows, objective)
                for trial, sig in trials:
                    value = _score(done[sig], objective)
                    if value is None:
                        trial.set_constraint("runs", 1.0)
                        study.tell(trial, 0.0)    # the value is unused: infeasible trials rank by violation
                    else:
                        trial.set_constraint("runs", 0.0)
                        study.tell(trial, value)
    finally:
        optuna.logging.set_verbosity(old_verbosity)
    return rows, asked
