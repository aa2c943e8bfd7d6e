"""The lookahead guard passes every built-in strategy and catches deliberately leaky ones."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

from virtuoso_tui.backtest.data import load_candles  # noqa: E402
from virtuoso_tui.backtest.lookahead import check_builtins, check_lookahead, sample_cuts  # noqa: E402
from virtuoso_tui.backtest.runner import strategy_registry  # noqa: E402
from virtuoso_tui.model import OrderIntent  # noqa: E402
from virtuoso_tui.trading.strategy import Strategy  # noqa: E402

OHLCV = ROOT.parent / "shared" / "data" / "ohlcv"


def candles():
    return load_candles(OHLCV / "binance-spot-2024" / "BTC_USDT-4h.feather", symbol="BTC/USDT").slice(0, 1000)


def test_every_builtin_strategy_passes():
    reports = check_builtins(candles(), count=12)
    names = {r.strategy for r in reports}
    assert {"sma_cross", "donchian"} <= names == set(strategy_registry())
    for r in reports:
        assert r.ok, str(r)
        assert len(r.cuts) >= 12


class PeekNextClose(Strategy):
    """Leaky, vectorised form: goes long when the NEXT close is higher."""

    name = "leaky_vector"
    vectorisable = True

    def target_positions(self, ts, open_, high, low, close, volume):
        out = np.zeros(close.shape[0])
        out[:-1] = close[1:] > close[:-1]
        return out


class PeekReplayArrays(Strategy):
    """Leaky, event form: reaches past the state's view into the replay's whole-history arrays."""

    name = "leaky_event"

    def on_bar(self, ctx):
        series = ctx.state.candles[ctx.timeframe]
        whole = series._c.close
        n = len(series)
        if n < len(whole) and whole[n] > whole[n - 1] and ctx.position.amount == 0:
            return [OrderIntent(ctx.symbol, "buy", 1.0, equity_fraction=1.0)]
        if n < len(whole) and whole[n] < whole[n - 1] and ctx.position.amount > 0:
            return [OrderIntent(ctx.symbol, "sell", ctx.position.amount, reduce_only=True)]
        return []


def test_guard_catches_a_vectorised_peek():
    report = check_lookahead(candles(), PeekNextClose, count=8)
    assert not report.ok
    assert {v["path"] for v in report.violations} == {"vector"}
    v = report.violations[0]
    assert v["bar"] == v["cut"] - 1  # the last bar before the cut is the one that saw the future
    assert "LOOKAHEAD" in str(report)


def test_guard_catches_an_event_peek():
    report = check_lookahead(candles(), PeekReplayArrays, count=8)
    assert not report.ok and report.violations[0]["path"] == "event"
    assert all(v["bar"] < v["cut"] for v in report.violations)


def test_cut_points_cover_the_range():
    cuts = sample_cuts(1000, 31, count=10, seed=3)
    assert cuts[0] == 31 and cuts[-1] == 999 and 998 in cuts
    assert len(cuts) >= 10 and cuts == sorted(set(cuts))
    assert sample_cuts(10, 20) == []
