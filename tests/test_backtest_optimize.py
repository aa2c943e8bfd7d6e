"""Grid and random search (serial, processes, Dask on loopback) and walk-forward folds."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

from virtuoso_tui.backtest.data import load_candles  # noqa: E402
from virtuoso_tui.backtest.optimize import optimize, param_grid, random_params  # noqa: E402
from virtuoso_tui.backtest.runner import run_backtest  # noqa: E402
from virtuoso_tui.backtest.walkforward import fold_bounds, walkforward  # noqa: E402

OHLCV = ROOT.parent / "shared" / "data" / "ohlcv"
GRID = {"fast": [5, 10, 20, 40], "slow": [30, 60, 120]}


@pytest.fixture(scope="module")
def btc():
    return load_candles(OHLCV / "binance-spot-2024" / "BTC_USDT-1h.feather", symbol="BTC/USDT")


def _table(result):
    return [(tuple(sorted(r["params"].items())), r["metrics"].get("sharpe"), r["error"]) for r in result.rows]


def test_grid_and_random_candidates():
    assert param_grid({"a": [1, 2], "b": [3]}) == [{"a": 1, "b": 3}, {"a": 2, "b": 3}]
    cands = random_params({"fast": (2, 9), "slow": [50, 100], "x": (0.5, 1.5)}, 20, seed=4)
    assert len(cands) == 20 and cands == random_params({"fast": (2, 9), "slow": [50, 100], "x": (0.5, 1.5)}, 20, seed=4)
    assert all(2 <= c["fast"] <= 9 and isinstance(c["fast"], int) and c["slow"] in (50, 100)
               and 0.5 <= c["x"] <= 1.5 for c in cands)
    assert len(random_params({"a": [1, 2]}, 10)) == 2  # a space smaller than asked: no duplicates


def test_grid_ranked_by_objective_matches_single_runs(btc):
    result = optimize(btc, "sma_cross", grid=GRID, objective="sharpe")
    assert len(result.rows) == 12
    ran = [r for r in result.rows if r["error"] is None]
    failed = [r for r in result.rows if r["error"]]
    assert [r["params"] for r in failed] == [{"fast": 40, "slow": 30}]   # fast >= slow: kept, ranked last
    assert result.rows[-1]["error"] and "fast < slow" in result.rows[-1]["error"]
    sharpes = [r["metrics"]["sharpe"] for r in ran]
    assert sharpes == sorted(sharpes, reverse=True)
    independent = {(p["fast"], p["slow"]): run_backtest(btc, "sma_cross", p).metrics["sharpe"]
                   for p in ({"fast": f, "slow": s} for f in GRID["fast"] for s in GRID["slow"]) if p["fast"] < p["slow"]}
    best = max(independent, key=independent.get)
    assert (result.best["params"]["fast"], result.best["params"]["slow"]) == best
    dd = optimize(btc, "sma_cross", grid=GRID, objective="max_drawdown")
    assert dd.best["metrics"]["max_drawdown"] == min(v["metrics"]["max_drawdown"] for v in ran)


def test_base_params_sit_under_every_candidate_and_the_walkforward(btc):
    """The CLI passes the configured params as `base` (Strategy.config_params): every candidate runs
    on them, the searched params override them, rows list only what was searched."""
    based = optimize(btc, "sma_cross", grid={"fast": [5, 10, 20]}, base={"slow": "120"}, objective="sharpe")
    assert [r["params"] for r in based.rows if r["params"]["fast"] == 5] == [{"fast": 5}]
    for r in based.rows:
        alone = run_backtest(btc, "sma_cross", {"fast": r["params"]["fast"], "slow": 120}).metrics["sharpe"]
        assert r["metrics"]["sharpe"] == pytest.approx(alone)
    default = optimize(btc, "sma_cross", grid={"fast": [5, 10, 20]}, objective="sharpe")
    assert _table(default) != _table(based)           # slow=30 by default: the base really reached them
    overridden = optimize(btc, "sma_cross", grid={"fast": [5], "slow": [60]}, base={"slow": 120})
    assert overridden.rows[0]["metrics"]["sharpe"] == pytest.approx(
        run_backtest(btc, "sma_cross", {"fast": 5, "slow": 60}).metrics["sharpe"])
    wf = walkforward(btc, "sma_cross", grid={"fast": [5, 10]}, base={"slow": 120}, folds=2)
    assert wf.folds and all(f["params"].keys() == {"fast"} for f in wf.folds)
    plain = walkforward(btc, "sma_cross", grid={"fast": [5, 10]}, folds=2)
    assert wf.metrics["total_return"] != pytest.approx(plain.metrics["total_return"])  # OOS runs used it too


def test_processes_give_the_serial_answer(btc):
    serial = optimize(btc, "sma_cross", grid=GRID)
    parallel = optimize(btc, "sma_cross", grid=GRID, workers=2)
    assert parallel.backend == "processes" and parallel.workers == 2
    assert _table(parallel) == _table(serial)


def test_dask_local_cluster_on_loopback(btc):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        on_dask = optimize(btc, "sma_cross", grid=GRID, scheduler=cluster.scheduler_address)
    assert on_dask.backend == "dask"
    assert _table(on_dask) == _table(optimize(btc, "sma_cross", grid=GRID))


def test_bad_searches_are_clear_errors(btc):
    with pytest.raises(ValueError, match="no parameter 'fsat'"):
        optimize(btc, "sma_cross", grid={"fsat": [1, 2]})
    with pytest.raises(ValueError, match="grid"):
        optimize(btc, "sma_cross")


def test_fold_bounds_by_hand():
    # 100 bars, 4 folds, IS 3x OOS: OOS = int(100 / 7) = 14, IS = 42
    assert fold_bounds(100, 4, 3.0) == [(0, 42, 42, 56), (14, 56, 56, 70), (28, 70, 70, 84), (42, 84, 84, 98)]
    assert [b[0] for b in fold_bounds(100, 4, 3.0, anchored=True)] == [0, 0, 0, 0]
    assert fold_bounds(100, 4, 3.0, anchored=True)[3][1] == 84
    with pytest.raises(ValueError, match="too few"):
        fold_bounds(10, 5, 3.0)


@pytest.mark.parametrize("anchored", [False, True])
def test_walkforward_stitches_out_of_sample_runs(btc, anchored):
    grid = {"fast": [5, 10, 20], "slow": [50, 100]}
    wf = walkforward(btc, "sma_cross", grid=grid, folds=3, anchored=anchored)
    bounds = fold_bounds(len(btc), 3, 3.0, anchored)
    assert len(wf.folds) == 3 and len(wf.equity) == sum(b[3] - b[2] for b in bounds)
    np.testing.assert_array_equal(wf.ts, np.concatenate([btc.ts[b[2]:b[3]] for b in bounds]))
    assert wf.equity[0] == 10_000.0
    level = 10_000.0
    for fold, (i0, i1, o0, o1) in zip(wf.folds, bounds, strict=True):
        # the chosen params are the in-sample optimum ...
        ins = optimize(btc.slice(i0, i1), "sma_cross", grid=grid)
        assert fold["params"] == ins.best["params"]
        assert fold["is_objective"] == pytest.approx(ins.best["metrics"]["sharpe"])
        # ... and its OOS run never trades before the block starts
        fold_trades = [t for t in wf.trades if t["fold"] == fold["fold"]]
        assert all(t["entry_bar"] > o0 and t["exit_bar"] < o1 for t in fold_trades)
        seg = wf.equity[(o0 - bounds[0][2]):(o1 - bounds[0][2])]
        assert seg[0] == pytest.approx(level)   # each block compounds on the previous block's end
        level = seg[-1]
    is_mean = np.mean([f["is_objective"] for f in wf.folds])
    oos_mean = np.mean([f["oos_objective"] for f in wf.folds])
    assert wf.degradation == pytest.approx(1 - oos_mean / is_mean)
    assert math.isfinite(wf.metrics["total_return"])
    assert wf.metrics["total_return"] == pytest.approx(wf.equity[-1] / 10_000.0 - 1)
