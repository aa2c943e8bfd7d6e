"""Built-in strategies, registered through the `virtuoso_strategies` hook exactly like a third party's.

`sma_cross` is the reference strategy the backtester is checked with (sma_cross.py); `donchian` is a
channel breakout (donchian.py). The `prism` strategy (trading the confluence signal) lives with the
prism work. Both paper/live trading and the backtester (virtuoso_tui.backtest) look strategies up by
name through this hook.
"""

from virtuoso_strategies.donchian import DonchianBreakout
from virtuoso_strategies.prism import PrismStrategy
from virtuoso_strategies.sma_cross import SmaCross
from virtuoso_tui import hookimpl

__all__ = ["DonchianBreakout", "PrismStrategy", "SmaCross"]


@hookimpl
def virtuoso_strategies():
    return [SmaCross, DonchianBreakout, PrismStrategy]
