"""--json output, the HTML report, and the backtest/optimize/walkforward commands end to end."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

from virtuoso_tui.backtest.data import load_candles  # noqa: E402
from virtuoso_tui.backtest.report import render_html  # noqa: E402
from virtuoso_tui.backtest.runner import run_backtest  # noqa: E402
from virtuoso_tui.cli import main  # noqa: E402

OHLCV = ROOT.parent / "shared" / "data" / "ohlcv"
BTC_4H = OHLCV / "binance-spot-2024" / "BTC_USDT-4h.feather"
TRADE_KEYS = {"entry_time", "exit_time", "entry_price", "exit_price", "size", "pnl", "fees"}


def test_json_layout():
    c = load_candles(BTC_4H, symbol="BTC/USDT")
    doc = run_backtest(c, "sma_cross", {"fast": 5, "slow": 20}, capital=5000.0).to_json()
    json.dumps(doc, allow_nan=False)
    assert set(doc) >= {"metrics", "trades", "equity"}
    assert doc["equity"][0] == {"time": int(c.ts[0]), "equity": 5000.0}
    assert len(doc["equity"]) == len(c)
    assert doc["trades"] and all(TRADE_KEYS <= set(t) for t in doc["trades"])
    assert doc["metrics"]["trades"] == len(doc["trades"])
    last = doc["equity"][-1]["equity"]
    assert last == pytest.approx(5000.0 + sum(t["pnl"] for t in doc["trades"]))


def test_html_report_is_self_contained():
    c = load_candles(BTC_4H, symbol="BTC/USDT")
    r = run_backtest(c, "sma_cross", {"fast": 5, "slow": 20})
    page = render_html(r)
    assert page.count("<svg") == 2 and "<polyline" in page and "<polygon" in page
    assert "Sharpe".lower() in page.lower() and "max_drawdown" in page
    assert page.count('<tr class="win">') + page.count('<tr class="loss">') == len(r.trades)
    assert not re.search(r"<script|<link|<img|src=", page)  # nothing fetched from anywhere
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")


def test_cli_backtest_json_and_report(tmp_path, capsys):
    out = tmp_path / "r.html"
    code = main(["backtest", "--data", str(BTC_4H), "--param", "fast=5", "--param", "slow=20",
                 "--from", "2024-03-01", "--to", "2024-06-30", "--fee", "0.0005", "--json", "--report", str(out)])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["params"] == {"fast": 5, "slow": 20} and doc["symbol"] == "BTC/USDT"
    assert doc["equity"][0]["time"] == 1709251200000  # 2024-03-01 00:00 UTC
    assert doc["equity"][-1]["time"] == 1719705600000  # 2024-06-30 00:00 UTC, --to is inclusive
    assert out.read_text().startswith("<!DOCTYPE html>")


def test_cli_errors_are_one_sentence(tmp_path, capsys):
    assert main(["backtest", "--data", str(tmp_path / "none.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "none.csv" in err
    assert main(["backtest", "--data", str(BTC_4H), "--strategy", "nope"]) == 2
    assert "unknown strategy 'nope'" in capsys.readouterr().err
    assert main(["backtest", "--data", str(BTC_4H), "--param", "fast"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert main(["optimize", "--data", str(BTC_4H)]) == 2
    assert "--grid" in capsys.readouterr().err


def test_cli_optimize_and_walkforward(capsys):
    assert main(["optimize", "--data", str(BTC_4H), "--grid", "fast=5,10", "--grid", "slow=20,40",
                 "--json", "--top", "3"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["evaluated"] == 4 and len(doc["results"]) == 3
    sharpes = [r["metrics"]["sharpe"] for r in doc["results"]]
    assert sharpes == sorted(sharpes, reverse=True)
    assert main(["walkforward", "--data", str(BTC_4H), "--random", "fast=3:10", "--random", "slow=20:60",
                 "--iterations", "6", "--folds", "2", "--json"]) == 0
    wf = json.loads(capsys.readouterr().out)
    assert len(wf["folds"]) == 2 and "degradation" in wf and wf["equity"][0]["equity"] == 10_000.0


def test_cli_save_stores_the_run(tmp_path, capsys):
    storage = pytest.importorskip("virtuoso_tui.storage")
    db = tmp_path / "v.db"
    assert main(["backtest", "--data", str(BTC_4H), "--db", str(db), "--save", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    with storage.Storage(db) as store:
        run = store.backtest_run(doc["run_id"])
    assert run["strategy"] == "sma_cross" and len(run["trades"]) == len(doc["trades"])
    assert len(run["equity"]["ts"]) == len(doc["equity"])


def test_cli_optimize_save_stores_every_candidate(tmp_path, capsys):
    storage = pytest.importorskip("virtuoso_tui.storage")
    db = tmp_path / "v.db"
    assert main(["optimize", "--data", str(BTC_4H), "--grid", "fast=5,10,30", "--grid", "slow=20,40",
                 "--db", str(db), "--save", "--json"]) == 0
    capsys.readouterr()
    with storage.Storage(db) as store:
        runs = store.backtest_runs()
    kinds = [r["kind"] for r in runs]
    assert kinds.count("optimize") == 6 and kinds.count("optimize-best") == 1
    failed = [r for r in runs if r["params"] == {"fast": 30, "slow": 20}]
    assert "fast < slow" in failed[0]["metrics"]["error"]
