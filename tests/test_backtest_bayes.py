"""Bayesian search (optuna TPE) in optimize.py: the space mapping, determinism, search quality
against random search on real BTC candles, parallel batches (processes and Dask), walk-forward, the CLI,
and the lazy import of optuna."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

from virtuoso_tui.backtest.cli import parse_space  # noqa: E402
from virtuoso_tui.backtest.data import load_candles  # noqa: E402
from virtuoso_tui.backtest.optimize import distributions, optimize, random_params, space_size  # noqa: E402
from virtuoso_tui.backtest.runner import run_backtest  # noqa: E402
from virtuoso_tui.backtest.walkforward import fold_bounds, walkforward  # noqa: E402

optuna = pytest.importorskip("optuna")

OHLCV = ROOT.parent / "shared" / "data" / "ohlcv"
BTC_1H = OHLCV / "binance-spot-2024" / "BTC_USDT-1h.feather"
BTC_4H = OHLCV / "binance-spot-2024" / "BTC_USDT-4h.feather"
SPACE = {"fast": (2, 40), "slow": (20, 200)}


@pytest.fixture(scope="module")
def btc():
    return load_candles(BTC_1H, symbol="BTC/USDT")


def _table(result):
    return [(tuple(sorted(r["params"].items())), r["metrics"].get("sharpe"), r["error"]) for r in result.rows]


def _check_ranked(result, n, space, objective="sharpe"):
    """n distinct candidates inside the space, ran ones sorted best first, failed ones last."""
    assert len(result.rows) == n
    assert len({tuple(sorted(r["params"].items())) for r in result.rows}) == n
    for r in result.rows:
        for key, (lo, hi) in space.items():
            assert lo <= r["params"][key] <= hi and isinstance(r["params"][key], int)
    flags = [r["error"] is not None for r in result.rows]
    assert flags == sorted(flags)                       # every failure after every success
    values = [r["metrics"][objective] for r in result.rows if r["error"] is None]
    assert values == sorted(values, reverse=True)
    assert all("fast < slow" in r["error"] for r in result.rows if r["error"])


def test_space_maps_to_optuna_distributions():
    d = distributions(optuna, {"fast": (2, 40), "x": (0.5, 1.5), "lr": (1e-3, 1.0, "log"), "n": (1, 64, "log"),
                               "kind": ["a", "b"]})
    assert d["fast"] == optuna.distributions.IntDistribution(2, 40)
    assert d["x"] == optuna.distributions.FloatDistribution(0.5, 1.5)
    assert d["lr"] == optuna.distributions.FloatDistribution(1e-3, 1.0, log=True)
    assert d["n"] == optuna.distributions.IntDistribution(1, 64, log=True)
    assert d["kind"] == optuna.distributions.CategoricalDistribution(["a", "b"])
    assert space_size({"a": (2, 5), "b": [1, 2, 3]}) == 12 and space_size({"a": (0.0, 1.0)}) == math.inf
    # the same log syntax in random search: log-uniform, so the median sits near the geometric middle
    xs = [c["lr"] for c in random_params({"lr": (1.0, 10_000.0, "log")}, 2000, seed=1)]
    assert min(xs) >= 1.0 and max(xs) <= 10_000.0 and 60 < np.median(xs) < 160   # uniform: ~5000
    ns = [c["n"] for c in random_params({"n": (1, 1000, "log")}, 200, seed=2)]
    assert all(isinstance(n, int) and 1 <= n <= 1000 for n in ns)


def test_bayes_is_deterministic_for_a_seed(btc):
    first = optimize(btc, "sma_cross", space=SPACE, method="bayes", n_iter=25, seed=7)
    again = optimize(btc, "sma_cross", space=SPACE, method="bayes", n_iter=25, seed=7)
    other = optimize(btc, "sma_cross", space=SPACE, method="bayes", n_iter=25, seed=8)
    assert _table(first) == _table(again)
    assert _table(first) != _table(other)
    assert first.backend == "serial" and first.extra["method"] == "bayes" and first.extra["batch"] == 1
    _check_ranked(first, 25, SPACE)
    best = run_backtest(btc, "sma_cross", first.best["params"])      # the table holds real runs
    assert best.metrics["sharpe"] == pytest.approx(first.best["metrics"]["sharpe"])


def test_bayes_beats_random_search_with_the_same_budget(btc):
    # A survey over 20 seeds and budgets 20-60 on this space showed TPE's mean best Sharpe above random
    # search's at every budget (at 40 trials: 2.17 vs 2.09, better or equal in 15 of 20 seeds; the
    # exhaustive optimum of the 7059 cells is 2.29). Asserted here over 10 seeds, not one lucky one.
    bayes_best, random_best, bayes_mid, random_mid = [], [], [], []
    for seed in range(10):
        b = optimize(btc, "sma_cross", space=SPACE, method="bayes", n_iter=40, seed=seed)
        r = optimize(btc, "sma_cross", space=SPACE, method="random", n_iter=40, seed=seed)
        bayes_best.append(b.best["metrics"]["sharpe"])
        random_best.append(r.best["metrics"]["sharpe"])
        # TPE should spend its budget in the good region, not just get lucky once
        bayes_mid.append(np.median([x["metrics"]["sharpe"] for x in b.rows if x["error"] is None]))
        random_mid.append(np.median([x["metrics"]["sharpe"] for x in r.rows if x["error"] is None]))
    assert np.mean(bayes_best) > np.mean(random_best)
    assert sum(b >= r for b, r in zip(bayes_best, random_best, strict=True)) >= 6
    assert sum(b > r for b, r in zip(bayes_mid, random_mid, strict=True)) >= 8
    # independent reference: a coarse grid over the same space; 40 TPE trials reach its top decile
    coarse = optimize(btc, "sma_cross", grid={"fast": list(range(2, 41, 2)), "slow": list(range(20, 201, 10))})
    top_decile = np.percentile([x["metrics"]["sharpe"] for x in coarse.rows if x["error"] is None], 90)
    assert min(bayes_best) >= top_decile


def test_rejected_candidates_ranked_last_and_steered_away_from(btc):
    space = {"fast": (2, 60), "slow": (10, 70)}    # about half the cells have fast >= slow
    bayes_failed = random_failed = 0
    for seed in range(6):
        b = optimize(btc, "sma_cross", space=space, method="bayes", n_iter=40, seed=seed)
        _check_ranked(b, 40, space)
        bayes_failed += sum(1 for x in b.rows if x["error"])
        random_failed += sum(1 for x in optimize(btc, "sma_cross", space=space, method="random", n_iter=40,
                                                 seed=seed).rows if x["error"])
    # told as infeasible, the sampler learns to avoid them (over 10 seeds: 76 failures vs random's 136)
    assert 0 < bayes_failed < 0.75 * random_failed


def test_a_space_smaller_than_the_budget_gives_the_grid_answer(btc):
    grid = {"fast": [5, 10, 20], "slow": [30, 60, 120]}
    exhaustive = optimize(btc, "sma_cross", grid=grid)
    bayes = optimize(btc, "sma_cross", grid=grid, method="bayes", n_iter=30, seed=3)  # lists -> categorical
    assert len(bayes.rows) == 9 and bayes.extra["trials"] <= 20 * 30
    assert sorted(_table(bayes)) == sorted(_table(exhaustive))
    assert bayes.best["params"] == exhaustive.best["params"]


def test_two_workers_give_a_valid_ranked_table(btc):
    two = optimize(btc, "sma_cross", space=SPACE, method="bayes", n_iter=24, seed=5, workers=2)
    assert two.backend == "processes" and two.workers == 2 and two.extra["batch"] == 2
    _check_ranked(two, 24, SPACE)
    assert _table(two) == _table(optimize(btc, "sma_cross", space=SPACE, method="bayes", n_iter=24, seed=5,
                                          workers=2))   # batches of 2 are repeatable too
    top = two.rows[0]
    assert run_backtest(btc, "sma_cross", top["params"]).metrics["sharpe"] == pytest.approx(top["metrics"]["sharpe"])
    dd = optimize(btc, "sma_cross", space=SPACE, method="bayes", n_iter=12, seed=5, objective="max_drawdown")
    values = [r["metrics"]["max_drawdown"] for r in dd.rows if r["error"] is None]
    assert values == sorted(values)                      # a minimised objective ranks smallest first


def test_dask_batches_match_processes(btc):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        on_dask = optimize(btc, "sma_cross", space=SPACE, method="bayes", n_iter=16, seed=2,
                           scheduler=cluster.scheduler_address)
    assert on_dask.backend == "dask" and on_dask.extra["batch"] == 2
    # two threads = batches of two, the same asks and tells as two processes
    assert _table(on_dask) == _table(optimize(btc, "sma_cross", space=SPACE, method="bayes", n_iter=16, seed=2,
                                              workers=2))


def test_walkforward_optimises_each_fold_with_bayes(btc):
    candles = btc.slice(0, 3000)
    space = {"fast": (3, 30), "slow": (40, 150)}
    wf = walkforward(candles, "sma_cross", space=space, method="bayes", n_iter=12, folds=2, seed=4)
    for k, (fold, (i0, i1, _o0, _o1)) in enumerate(zip(wf.folds, fold_bounds(len(candles), 2), strict=True)):
        ins = optimize(candles.slice(i0, i1), "sma_cross", space=space, method="bayes", n_iter=12, seed=4 + k)
        assert fold["params"] == ins.best["params"]
        assert fold["is_objective"] == pytest.approx(ins.best["metrics"]["sharpe"])
    assert math.isfinite(wf.metrics["total_return"])


def test_bad_searches_are_clear_errors(btc, monkeypatch):
    with pytest.raises(ValueError, match="unknown search method 'tpe'"):
        optimize(btc, "sma_cross", space=SPACE, method="tpe")
    with pytest.raises(ValueError, match="no parameter 'fsat'"):
        optimize(btc, "sma_cross", space={"fsat": (2, 9)}, method="bayes")
    with pytest.raises(ValueError, match="runs backwards"):
        optimize(btc, "sma_cross", space={"fast": (9, 2)}, method="bayes")
    with pytest.raises(ValueError, match="unknown objective 'sharp'"):
        optimize(btc, "sma_cross", space=SPACE, method="bayes", n_iter=3, objective="sharp")
    with pytest.raises(ValueError, match="grid"):
        optimize(btc, "sma_cross", space=SPACE, method="grid")
    monkeypatch.setitem(sys.modules, "optuna", None)      # as if not installed
    with pytest.raises(ValueError, match=r"needs optuna.*virtuoso-tui\[research\]"):
        optimize(btc, "sma_cross", space=SPACE, method="bayes", n_iter=3)
    assert len(optimize(btc, "sma_cross", space=SPACE, n_iter=3).rows) == 3   # random needs no optuna


def test_optuna_is_imported_only_for_bayes():
    code = ("import sys; sys.path.insert(0, 'plugins')\n"
            "from virtuoso_tui.backtest.data import load_candles\n"
            "from virtuoso_tui.backtest.optimize import optimize\n"
            f"c = load_candles({str(BTC_4H)!r}, symbol='BTC/USDT')\n"
            "optimize(c, 'sma_cross', grid={'fast': [5], 'slow': [20]})\n"
            "optimize(c, 'sma_cross', space={'fast': (3, 9), 'slow': (20, 40)}, n_iter=2)\n"
            "assert 'optuna' not in sys.modules\n"
            "optimize(c, 'sma_cross', space={'fast': (3, 9), 'slow': (20, 40)}, n_iter=2, method='bayes')\n"
            "assert 'optuna' in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_cli_space_syntax():
    grid, space = parse_space(["fast=5,10"], ["slow=20:200", "x=0.5:1.5", "lr=0.001:1:log", "kind=a,b"])
    assert grid == {"fast": [5, 10]}
    assert space == {"slow": (20, 200), "x": (0.5, 1.5), "lr": (0.001, 1, "log"), "kind": ["a", "b"]}


def test_cli_method_bayes(tmp_path, capsys):
    from virtuoso_tui.cli import main

    args = ["optimize", "--data", str(BTC_4H), "--method", "bayes", "--trials", "12", "--random", "fast=3:20",
            "--space", "slow=20:80", "--seed", "3", "--json", "--top", "12"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["method"] == "bayes" and doc["evaluated"] == 12 and doc["backend"] == "serial"
    sharpes = [r["metrics"]["sharpe"] for r in doc["results"] if r["error"] is None]
    assert sharpes == sorted(sharpes, reverse=True)
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["results"] == doc["results"]   # --seed makes it repeatable
    assert main(args[:-3]) == 0                         # the text table
    out = capsys.readouterr().out
    assert out.startswith("12 candidates (bayes search)") and "sharpe=" in out
    assert main(["walkforward", "--data", str(BTC_4H), "--method", "bayes", "--trials", "6", "--random",
                 "fast=3:10", "--random", "slow=20:60", "--folds", "2", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["folds"]) == 2
    for bad in (["--random", "fast=9:2"], ["--random", "fast=0:9:log"], ["--random", "fast=1:9:sqrt"],
                ["--method", "grid", "--random", "fast=3:9"], ["--method", "bayes", "--trials", "0",
                                                                   "--random", "fast=3:9"]):
        assert main(["optimize", "--data", str(BTC_4H), *bad]) == 2
        assert capsys.readouterr().err.startswith("virtuoso: ")


def test_cli_bayes_save_stores_every_candidate(tmp_path, capsys):
    storage = pytest.importorskip("virtuoso_tui.storage")
    from virtuoso_tui.cli import main

    db = tmp_path / "v.db"
    assert main(["optimize", "--data", str(BTC_4H), "--method", "bayes", "--trials", "8", "--random", "fast=3:30",
                 "--random", "slow=10:60", "--db", str(db), "--save", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    with storage.Storage(db) as store:
        runs = store.backtest_runs()
    kinds = [r["kind"] for r in runs]
    assert kinds.count("optimize") == 8 and kinds.count("optimize-best") == 1
    best = next(r for r in runs if r["kind"] == "optimize-best")
    assert best["params"] == doc["results"][0]["params"]
