"""The research side of Virtuoso: backtests on the live engine's pieces, vectorised sweeps,
optimisation, walk-forward analysis, the lookahead guard and reports.

    data.py         candles in (files in every layout of ../shared/data, the store, the sim); warnings
    engine.py       the event-driven backtester over candle arrays (replay clock, pluggable broker)
    replay.py       backtests over recorded trades and books through MarketState
    broker.py       the Broker interface, CandleBroker, slippage, the trade ledger
    paper.py        PaperBroker: the real TradingDesk + paper executor as a backtest broker (broker="paper")
    vector.py       the vectorised fast path for strategies that declare themselves vectorisable
    metrics.py      performance metrics on equity curves and trade lists
    runner.py       run_backtest: strategy lookup by name, path choice, metrics, --json shape
    optimize.py     grid and random search, across processes or on a Dask cluster
    walkforward.py  rolling and anchored walk-forward with stitched out-of-sample equity
    lookahead.py    the guard: truncating the data never changes an earlier decision
    report.py       the self-contained HTML report
    peer.py         the same strategy on backtesting.py, for parity tests and the benchmark
    cli.py          `virtuoso backtest | optimize | walkforward`

The public entry points are re-exported here: run_backtest, optimize, walkforward, load_candles.
"""

from virtuoso_tui.backtest.data import Candles, DataError, DataWarning, load_candles
from virtuoso_tui.backtest.optimize import optimize
from virtuoso_tui.backtest.runner import BacktestResult, run_backtest
from virtuoso_tui.backtest.walkforward import walkforward

__all__ = ["BacktestResult", "Candles", "DataError", "DataWarning", "load_candles", "optimize", "run_backtest",
           "walkforward"]
