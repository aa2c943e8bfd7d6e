"""The backtest results screen (key r): stored runs, the selected run's equity and drawdown charts, its
metrics table and trades list.

Real runs are made with `virtuoso backtest ... --save` into a temporary database (sma_cross on Binance
BTC/USDT 1h candles from ../shared/data, and the prism on the seeded sim); the screen must show what the
backtester computed — checked against run_backtest's own result, not against the stored copy — and both
charts. The chart renderers are checked on a hand-worked equity curve. One SVG snapshot of sma_cross
runs on real candles (pytest-textual-snapshot, tests/snapshots/test_ui_backtest/) pins the layout;
update it with `pytest tests/test_ui_backtest.py --snapshot-update` after an intended change and review
the SVG.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from pytest_textual_snapshot import SVGImageExtension
from test_ui_fixtures import make_runtime, warm
from textual._doc import take_svg_screenshot

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

from virtuoso_tui.backtest.data import load_candles  # noqa: E402
from virtuoso_tui.backtest.metrics import max_drawdown  # noqa: E402
from virtuoso_tui.backtest.report import format_metric  # noqa: E402
from virtuoso_tui.backtest.runner import run_backtest  # noqa: E402
from virtuoso_tui.cli import main  # noqa: E402
from virtuoso_tui.storage import Storage  # noqa: E402
from virtuoso_tui.ui.app import VirtuosoApp  # noqa: E402
from virtuoso_tui.ui.render import curve_bins, render_drawdown_curve, render_equity_curve  # noqa: E402
from virtuoso_tui.ui.screens import BacktestScreen  # noqa: E402
from virtuoso_tui.ui.themes import Palette  # noqa: E402

FROZEN = 1_767_225_600.0
SIZE = (140, 40)
BTC_1H = ROOT.parent / "shared" / "data" / "ohlcv" / "binance-spot-2024" / "BTC_USDT-1h.feather"
SMA_ARGS = ["backtest", "--data", str(BTC_1H), "--from", "2024-01-01", "--to", "2024-03-31", "--strategy",
            "sma_cross", "--param", "fast=10", "--param", "slow=30", "--fee", "0.001"]
PRISM_ARGS = ["backtest", "--source", "sim", "--symbol", "BTC/USDT:USDT", "--timeframe", "15m", "--bars", "600",
              "--strategy", "prism"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A database holding two real runs saved by the CLI, and what each backtest computed."""
    db = tmp_path_factory.mktemp("bt") / "runs.db"
    docs = []
    for args in (SMA_ARGS, PRISM_ARGS):
        out = _cli(args + ["--save", "--db", str(db), "--json"])
        docs.append(out)
    return db, docs


def _cli(args: list[str]) -> dict:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(args) == 0
    return json.loads(buf.getvalue())


def _app(tmp_path: Path, db: Path) -> tuple[VirtuosoApp, Storage]:
    rt = make_runtime(tmp_path, seconds=120)
    asyncio.run(warm(rt))
    storage = Storage(str(db))
    rt.storage = storage
    return VirtuosoApp(rt, start_engine=False, clock=lambda: FROZEN), storage


def _plain(widget) -> str:
    return widget.render().plain


def test_save_stores_the_run_with_its_trades_and_equity(saved):
    db, (sma, prism) = saved
    storage = Storage(str(db))
    try:
        runs = storage.backtest_runs()
        assert [(r["id"], r["strategy"]) for r in runs] == [(sma["run_id"], "sma_cross"), (prism["run_id"], "prism")]
        run = storage.backtest_run(sma["run_id"])
    finally:
        storage.close()
    # the reference: the same backtest run in-process, not read back from the database
    candles = load_candles(BTC_1H, symbol="BTC/USDT").between(1704067200000, 1711843200000)
    ref = run_backtest(candles, "sma_cross", {"fast": 10, "slow": 30}, fee=0.001)
    assert len(run["trades"]) == len(ref.trades) > 3
    assert [t["entry_ts"] for t in run["trades"]] == [t["entry_time"] for t in ref.trades]
    assert [t["pnl"] for t in run["trades"]] == pytest.approx([t["pnl"] for t in ref.trades], rel=1e-12)
    np.testing.assert_array_equal(run["equity"]["ts"], ref.ts)
    np.testing.assert_allclose(run["equity"]["equity"], ref.equity, rtol=1e-12)
    assert run["metrics"]["total_return"] == pytest.approx(ref.metrics["total_return"], rel=1e-12)


async def test_selecting_a_run_shows_its_charts_metrics_and_trades(saved, tmp_path):
    db, (sma, prism) = saved
    rt = make_runtime(tmp_path, seconds=120)
    await warm(rt)
    storage = Storage(str(db))
    rt.storage = storage
    app = VirtuosoApp(rt, start_engine=False, clock=lambda: FROZEN)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("r")
            await pilot.pause(0.2)
            screen = app.screen
            assert isinstance(screen, BacktestScreen)
            assert screen.query_one("#runs").row_count == 2
            for doc in (sma, prism):
                if doc is prism:
                    await pilot.press("down")      # select the second stored run
                    await pilot.pause(0.2)
                assert screen.run["id"] == doc["run_id"]
                equity = np.array([e["equity"] for e in doc["equity"]])
                chart = _plain(screen.query_one("#run-detail"))
                assert f"run {doc['run_id']} · {doc['strategy']} on {doc['symbol']} {doc['timeframe']}" in chart
                assert f"{len(doc['trades'])} trades" in chart
                # the equity chart: a drawn line ending at the final equity, on the run's time axis
                assert "•" in chart and f"◀{equity[-1]:>10,.2f}" in chart
                drawdown = _plain(screen.query_one("#drawdown-chart"))
                assert "█" in drawdown and f"-{max_drawdown(equity) * 100:.2f}%" in drawdown
                # every metric the backtest computed, formatted as the CLI prints it
                metrics_text = _table_text(screen.query_one("#metrics").content)
                for name, value in doc["metrics"].items():
                    assert f"{name}" in metrics_text and format_metric(name, value) in metrics_text, name
                trades = screen.query_one("#trades")
                assert trades.row_count == len(doc["trades"]) == doc["metrics"]["trades"] > 0
                first = doc["trades"][0]
                row = [str(c) for c in trades.get_row("1")]
                assert row[1] == first["side"] and row[7] == f"{first['pnl']:+,.2f}"
            await pilot.press("escape")
            await pilot.pause(0.1)
            assert not isinstance(app.screen, BacktestScreen)
    finally:
        storage.close()


async def test_an_empty_database_says_how_to_store_runs(tmp_path):
    rt = make_runtime(tmp_path, seconds=60)
    await warm(rt)
    storage = Storage(str(tmp_path / "empty.db"))
    rt.storage = storage
    app = VirtuosoApp(rt, start_engine=False, clock=lambda: FROZEN)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("r")
            await pilot.pause(0.2)
            assert "--save" in _plain(app.screen.query_one("#run-detail"))
            assert app.screen.query_one("#trades").row_count == 0
    finally:
        storage.close()


def _table_text(table) -> str:
    import io

    from rich.console import Console

    console = Console(width=70, file=io.StringIO())
    console.print(table)
    return console.file.getvalue()


# ------------------------------------------------------------------------------------- the renderers
def test_curve_bins_cover_every_bar_once():
    for n, cols in ((5, 10), (10, 10), (1000, 59), (61, 60)):
        first, last = curve_bins(n, cols)
        assert len(first) == min(n, cols) and first[0] == 0 and last[-1] == n - 1
        np.testing.assert_array_equal(first[1:], last[:-1] + 1)
        sizes = last - first + 1
        assert sizes.max() - sizes.min() <= 1
    assert len(curve_bins(5, 0)[0]) == 0


def test_drawdown_chart_on_a_hand_worked_curve():
    # peaks 100, 120, 120, 150, 150 -> drawdowns 0, 0, 25%, 0, 10%
    equity = np.array([100.0, 120.0, 90.0, 150.0, 135.0])
    ts = 1_704_067_200_000 + np.arange(5) * 3_600_000
    text = render_drawdown_curve(ts, equity, width=16, height=6, palette=Palette()).plain
    lines = text.split("\n")
    # 5 rows (0% line, then 4 rows down to -25%: a bar reaches ceil(dd / 25% * 4) rows), a time axis
    assert [line[:5] for line in lines[:5]] == ["─────", "  █ █", "  █ █", "  █  ", "  █  "]
    assert lines[0].endswith(" 0.00%") and lines[4].endswith("-25.00%") and lines[2].endswith("-12.50%")
    assert lines[5].strip() == "04:00"
    flat = render_drawdown_curve(ts, np.full(5, 100.0), width=16, height=6, palette=Palette()).plain
    assert "█" not in flat and "-" not in flat.replace("─", "")


def test_equity_chart_fits_the_whole_run_and_ends_at_the_final_equity():
    rng = np.random.default_rng(3)
    equity = 10_000 * np.cumprod(1 + rng.normal(0, 0.01, 2000))
    ts = 1_704_067_200_000 + np.arange(2000) * 900_000
    text = render_equity_curve(ts, equity, width=71, height=10, palette=Palette()).plain
    lines = text.split("\n")
    assert len(lines) == 10 and all(len(line) <= 71 for line in lines)
    assert lines[-1].startswith("01-01") and lines[-1].rstrip().endswith("01-21")   # first and last bar
    assert f"◀{equity[-1]:>10,.2f}" in text
    assert sum(line[:60].count("•") for line in lines) == 60     # one point per column: 2000 bars in 60
    assert render_equity_curve(ts[:0], equity[:0], width=71, height=10, palette=Palette()).plain.startswith("no ")


# ------------------------------------------------------------------------------------- snapshot
class TestsSnapshots(SVGImageExtension):
    @classmethod
    def dirname(cls, *, test_location) -> str:
        return str(Path(test_location.filepath).parent / "snapshots" / Path(test_location.filepath).stem)


@pytest.fixture
def svg(snapshot):
    return snapshot.use_extension(TestsSnapshots)


def test_backtest_screen_snapshot(tmp_path, svg):
    # sma_cross on real candles only: the picture must not move when the prism or the sim is retuned
    db = tmp_path / "snap.db"
    _cli(SMA_ARGS + ["--save", "--db", str(db), "--json"])
    _cli([a if a != "fast=10" else "fast=5" for a in SMA_ARGS] + ["--save", "--db", str(db), "--json"])
    app, storage = _app(tmp_path, db)

    async def open_and_select(pilot) -> None:
        await pilot.press("r")
        await pilot.pause(0.2)
        await pilot.press("down")   # the second run
        pilot.app.clear_notifications()   # the fixture's broken plugin toast would cover the trades
        for _ in range(3):
            await pilot.pause(0.1)

    try:
        assert svg == take_svg_screenshot(app, terminal_size=SIZE, run_before=open_and_select)
    finally:
        storage.close()
