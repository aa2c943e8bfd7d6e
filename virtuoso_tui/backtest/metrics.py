"""Performance metrics of a backtest: pure functions on an equity curve and a list of trades.

Conventions (stated once, used everywhere): `equity` is the account value marked at each bar's close,
in quote currency, starting with the initial capital; per-bar returns are simple returns
equity[i]/equity[i-1] - 1; the risk-free rate is 0; annualisation uses `periods_per_year` (crypto
trades around the clock, so a 1h bar gives 8760). Ratios that are undefined (no variance, no losing
trade, too few bars) are NaN or inf as stated per function, never a made-up 0. Drawdowns are reported
as positive fractions (0.25 = 25% below the running peak). The engine (engine.py) and the vectorised
path (vector.py) produce the inputs; reports (report.py) show the outputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from virtuoso_tui.model import TIMEFRAMES

YEAR_MS = 365 * 86_400_000
VAR_LEVEL = 0.95


def periods_per_year(timeframe: str) -> float:
    """Bars per 365-day year for a timeframe (24/7 markets); ValueError for an unknown timeframe."""
    if timeframe not in TIMEFRAMES:
        raise ValueError(f"unknown timeframe {timeframe!r}")
    return YEAR_MS / TIMEFRAMES[timeframe]


def bar_returns(equity: np.ndarray) -> np.ndarray:
    """Simple per-bar returns, length len(equity) - 1 (empty with fewer than 2 bars)."""
    equity = np.asarray(equity, dtype=np.float64)
    if equity.shape[0] < 2:
        return np.empty(0)
    return equity[1:] / equity[:-1] - 1.0


def total_return(equity: np.ndarray) -> float:
    """equity[-1] / equity[0] - 1; NaN for an empty curve."""
    if len(equity) == 0:
        return math.nan
    return float(equity[-1] / equity[0] - 1.0)


def annualised_return(equity: np.ndarray, ppy: float) -> float:
    """Compound annual growth: (end/start) ** (ppy / bars elapsed) - 1; NaN with fewer than 2 bars,
    -1 when the account is wiped out."""
    n = len(equity) - 1
    if n < 1:
        return math.nan
    growth = equity[-1] / equity[0]
    if growth <= 0:
        return -1.0
    return float(growth ** (ppy / n) - 1.0)


def sharpe_ratio(returns: np.ndarray, ppy: float) -> float:
    """mean / sample std (ddof 1) of per-bar returns * sqrt(ppy); NaN with < 2 returns or no variance."""
    if returns.shape[0] < 2:
        return math.nan
    sd = float(np.std(returns, ddof=1))
    if sd == 0.0:
        return math.nan
    return float(np.mean(returns) / sd * math.sqrt(ppy))


def sortino_ratio(returns: np.ndarray, ppy: float) -> float:
    """mean / downside deviation * sqrt(ppy), downside deviation = sqrt(mean(min(r, 0)^2)) over all
    bars (empyrical's definition, target 0). inf when no bar lost and the mean is positive; NaN with
    fewer than 2 returns."""
    if returns.shape[0] < 2:
        return math.nan
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    mean = float(np.mean(returns))
    if downside == 0.0:
        return math.inf if mean > 0 else math.nan
    return mean / downside * math.sqrt(ppy)


def drawdown(equity: np.ndarray) -> np.ndarray:
    """Per-bar drawdown as a positive fraction below the running peak (0 at a new high)."""
    equity = np.asarray(equity, dtype=np.float64)
    if equity.shape[0] == 0:
        return np.empty(0)
    peak = np.maximum.accumulate(equity)
    return 1.0 - equity / peak


def max_drawdown(equity: np.ndarray) -> float:
    """Largest drawdown fraction (0 for a curve that never falls); NaN for an empty curve."""
    dd = drawdown(equity)
    return float(dd.max()) if dd.shape[0] else math.nan


def max_drawdown_duration(equity: np.ndarray) -> int:
    """Longest run of bars spent below a previous peak (a bar at a new high ends the run); 0 if none.
    A run still open at the end counts up to the last bar."""
    equity = np.asarray(equity, dtype=np.float64)
    if equity.shape[0] == 0:
        return 0
    under = equity < np.maximum.accumulate(equity)
    if not under.any():
        return 0
    # Run lengths of True: positions of the run boundaries in a padded diff.
    edges = np.diff(np.concatenate(([0], under.astype(np.int8), [0])))
    starts = np.nonzero(edges == 1)[0]
    ends = np.nonzero(edges == -1)[0]
    return int((ends - starts).max())


def value_at_risk(returns: np.ndarray, level: float = VAR_LEVEL) -> float:
    """Historical one-bar VaR at `level` as a positive loss fraction: -quantile(r, 1-level) (linear
    interpolation). NaN with no returns."""
    if returns.shape[0] == 0:
        return math.nan
    return float(-np.quantile(returns, 1.0 - level))


def expected_shortfall(returns: np.ndarray, level: float = VAR_LEVEL) -> float:
    """Historical expected shortfall (CVaR): -mean of the returns at or below the (1-level) quantile."""
    if returns.shape[0] == 0:
        return math.nan
    cut = np.quantile(returns, 1.0 - level)
    return float(-np.mean(returns[returns <= cut]))


def trade_stats(trades: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Win rate, profit factor, expectancy (mean pnl per trade, quote), average trade return
    (fraction of the entry notional), fees. Wins are pnl > 0 after fees. Profit factor: gross profit /
    gross loss, inf with profits and no loss, NaN with neither. All NaN (counts 0) without trades."""
    n = len(trades)
    fees = float(sum(t["fees"] for t in trades))
    if n == 0:
        return {"trades": 0, "win_rate": math.nan, "profit_factor": math.nan, "expectancy": math.nan,
                "avg_trade": math.nan, "fees": fees}
    pnl = np.array([t["pnl"] for t in trades], dtype=np.float64)
    cost = np.array([t["entry_price"] * t["size"] for t in trades], dtype=np.float64)
    gross_win = float(pnl[pnl > 0].sum())
    gross_loss = float(-pnl[pnl < 0].sum())
    if gross_loss > 0:
        pf = gross_win / gross_loss
    else:
        pf = math.inf if gross_win > 0 else math.nan
    return {"trades": n, "win_rate": float((pnl > 0).mean()), "profit_factor": pf,
            "expectancy": float(pnl.mean()), "avg_trade": float(np.mean(pnl / cost)), "fees": fees}


def compute_metrics(equity: np.ndarray, trades: Sequence[dict[str, Any]], *, timeframe: str,
                    exposure: np.ndarray | None = None, close: np.ndarray | None = None) -> dict[str, float]:
    """Every metric of a run in one flat dict (keys are stable: reports and storage rely on them).

    equity: per-bar account value; trades: dicts with pnl, fees, entry_price, size; exposure: per-bar
    position size (non-zero = in the market) for the exposure-time fraction; close: per-bar close for
    the buy-and-hold benchmark (held from the first close to the last).
    """
    equity = np.asarray(equity, dtype=np.float64)
    ppy = periods_per_year(timeframe)
    rets = bar_returns(equity)
    mdd = max_drawdown(equity)
    ann = annualised_return(equity, ppy)
    peak = np.maximum.accumulate(equity) if equity.shape[0] else equity
    mdd_quote = float((peak - equity).max()) if equity.shape[0] else math.nan
    net = float(equity[-1] - equity[0]) if equity.shape[0] else math.nan
    out: dict[str, float] = {
        "start_equity": float(equity[0]) if equity.shape[0] else math.nan,
        "end_equity": float(equity[-1]) if equity.shape[0] else math.nan,
        "bars": int(equity.shape[0]),
        "total_return": total_return(equity),
        "annualised_return": ann,
        "sharpe": sharpe_ratio(rets, ppy),
        "sortino": sortino_ratio(rets, ppy),
        "calmar": (ann / mdd) if mdd and mdd > 0 and not math.isnan(ann) else math.nan,
        "max_drawdown": mdd,
        "max_drawdown_bars": max_drawdown_duration(equity),
        "max_drawdown_ms": max_drawdown_duration(equity) * TIMEFRAMES[timeframe],
        "var_95": value_at_risk(rets),
        "es_95": expected_shortfall(rets),
        "recovery_factor": (net / mdd_quote) if mdd_quote and mdd_quote > 0 else math.nan,
        "exposure": float(np.mean(np.asarray(exposure) != 0)) if exposure is not None and len(exposure) else math.nan,
        "buy_and_hold_return": float(close[-1] / close[0] - 1.0) if close is not None and len(close) else math.nan,
    }
    stats = trade_stats(trades)
    out.update({"trades": stats["trades"], "win_rate": stats["win_rate"], "profit_factor": stats["profit_factor"],
                "expectancy": stats["expectancy"], "avg_trade": stats["avg_trade"], "fees_paid": stats["fees"]})
    return out
