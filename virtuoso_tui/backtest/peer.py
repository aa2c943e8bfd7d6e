"""sma_cross on the peer backtester, backtesting.py, for the parity test and the benchmark.

backtesting.py (PyPI `backtesting`, AGPL, an optional "bench" dependency imported lazily) runs the
same rule: its `next()` sees bar i, `buy()` fills at bar i+1's open (trade_on_close=False). The SMAs
are handed to it precomputed with the same cumulative-sum formula sma_cross uses, so any difference
left is a convention difference, documented here and checked by tests/test_backtest_peer.py:
  * its `crossover()` is strict on both sides (a[-2] < b[-2] and a[-1] > b[-1]) where sma_cross is
    loose on the old side (fast[i-1] <= slow[i-1]); they differ only when the SMAs were exactly equal;
  * it sizes a fraction-of-equity order in WHOLE units, so use a capital large against the price;
  * it leaves a position open at the end out of its trade list unless finalize_trades=True.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from virtuoso_tui.backtest.data import Candles


def sma_cumsum(close: np.ndarray, n: int) -> np.ndarray:
    """SMA over n bars as (S[i] - S[i-n]) / n from one cumulative sum, NaN for the first n-1 bars —
    the arithmetic sma_cross uses, so both backtesters see identical values."""
    close = np.asarray(close, dtype=np.float64)
    out = np.full(close.shape[0], np.nan)
    if close.shape[0] < n:
        return out
    sums = np.concatenate(([0.0], np.cumsum(close)))
    out[n - 1:] = (sums[n:] - sums[:close.shape[0] + 1 - n]) / n
    return out


def to_frame(candles: Candles):
    """Candles -> the OHLCV DataFrame backtesting.py expects (DatetimeIndex, capitalised columns)."""
    import pandas as pd

    index = pd.to_datetime(candles.ts, unit="ms", utc=True).tz_localize(None)
    return pd.DataFrame({"Open": candles.open, "High": candles.high, "Low": candles.low,
                         "Close": candles.close, "Volume": np.nan_to_num(candles.volume)}, index=index)


def loose_crossover(a, b) -> bool:
    """sma_cross's cross: a[-2] <= b[-2] and a[-1] > b[-1] (equality counts as "not above")."""
    return len(a) > 1 and a[-2] <= b[-2] and a[-1] > b[-1]


def peer_strategy(fast: int, slow: int, loose: bool = False):
    """A backtesting.py Strategy class running sma_cross (long-only, all equity, next-open fills);
    `loose=True` swaps the peer's strict crossover() for sma_cross's convention."""
    from backtesting import Strategy
    from backtesting.lib import crossover as strict

    crossover = loose_crossover if loose else strict

    class PeerSmaCross(Strategy):
        def init(self) -> None:
            self.fast = self.I(sma_cumsum, self.data.Close, fast)
            self.slow = self.I(sma_cumsum, self.data.Close, slow)

        def next(self) -> None:
            if crossover(self.fast, self.slow):
                if not self.position:
                    self.buy()
            elif crossover(self.slow, self.fast):
                self.position.close()

    return PeerSmaCross


def run_peer(candles: Candles, fast: int, slow: int, *, fee: float = 0.0, cash: float = 1e12,
             frame: Any = None, loose: bool = False) -> tuple[Any, Any]:
    """Run backtesting.py; returns (stats, trades DataFrame with EntryBar/ExitBar)."""
    import warnings

    from backtesting import Backtest

    frame = frame if frame is not None else to_frame(candles)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = Backtest(frame, peer_strategy(fast, slow, loose), cash=cash, commission=fee, finalize_trades=True)
        stats = bt.run()
    return stats, stats["_trades"]
