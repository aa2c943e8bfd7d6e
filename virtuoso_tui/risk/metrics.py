"""Portfolio risk metrics as pure numpy functions: historical VaR and Expected Shortfall, drawdown,
exposure and correlation. The Portfolio (trading/portfolio.py) feeds them its equity curve and
per-symbol mark history; the risk rules (plugins/virtuoso_risk) and the `risk` command read them.

Conventions: returns are simple fractional returns (0.01 = +1%); VaR, ES and drawdowns are reported
as POSITIVE loss fractions; with too little data (fewer than 2 returns) a metric is NaN, never 0.
"""

from __future__ import annotations

import numpy as np

#: Confidence levels the `risk` command reports.
VAR_LEVELS = (0.95, 0.99)


def simple_returns(values: np.ndarray) -> np.ndarray:
    """r[i] = v[i+1]/v[i] - 1 over a price or equity series; empty for fewer than 2 values."""
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        return np.empty(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = v[1:] / v[:-1] - 1.0
    return r[np.isfinite(r)]


def historical_var(returns: np.ndarray, level: float = 0.95) -> float:
    """Historical Value at Risk: the loss fraction not exceeded with probability `level`.

    -quantile(returns, 1 - level) with linear interpolation; NaN with fewer than 2 returns. A series
    that never loses gives a negative VaR (a gain at that quantile), reported as is.
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.size < 2:
        return float("nan")
    return float(-np.quantile(r, 1.0 - level))


def expected_shortfall(returns: np.ndarray, level: float = 0.95) -> float:
    """Historical Expected Shortfall (CVaR): the mean loss fraction over returns at or below the
    (1 - level) quantile. Always >= VaR at the same level; NaN with fewer than 2 returns."""
    r = np.asarray(returns, dtype=np.float64)
    if r.size < 2:
        return float("nan")
    q = np.quantile(r, 1.0 - level)
    return float(-r[r <= q].mean())


def drawdown(equity: np.ndarray) -> np.ndarray:
    """Drawdown at each point as a positive fraction below the running peak (0 at a new high)."""
    e = np.asarray(equity, dtype=np.float64)
    if e.size == 0:
        return np.empty(0)
    peak = np.maximum.accumulate(e)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0, 1.0 - e / peak, 0.0)
    return dd


def max_drawdown(equity: np.ndarray) -> float:
    """Largest drawdown as a positive fraction; 0.0 for a curve that never falls, NaN when empty."""
    dd = drawdown(equity)
    return float(dd.max()) if dd.size else float("nan")


def exposure(amounts: np.ndarray, marks: np.ndarray, equity: float) -> tuple[float, float, float]:
    """(gross, net, leverage): gross = sum |amount*mark| in quote, net = signed sum, leverage =
    gross / equity (inf when equity <= 0 with an open position, 0 when flat)."""
    a = np.asarray(amounts, dtype=np.float64)
    m = np.asarray(marks, dtype=np.float64)
    notional = a * m
    gross = float(np.abs(notional).sum())
    net = float(notional.sum())
    if gross == 0.0:
        return 0.0, 0.0, 0.0
    lev = gross / equity if equity > 0 else float("inf")
    return gross, net, lev


def correlation(returns: np.ndarray) -> np.ndarray:
    """Pearson correlation matrix of the columns of `returns` (rows = time, columns = symbols).

    Needs at least 3 rows; a column with zero variance correlates NaN with everything (not 0).
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] < 3:
        n = r.shape[1] if r.ndim == 2 else 0
        return np.full((n, n), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.corrcoef(r, rowvar=False)
    return np.atleast_2d(c)
