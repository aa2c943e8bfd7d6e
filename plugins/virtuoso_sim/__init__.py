"""Built-in plugin virtuoso_sim: the embedded simulated market, Virtuoso's default source.

Registers `SimSource` (name "sim") through the `virtuoso_sources` hook. `SimMarket` is the same
market as a synchronous generator for tests and the backtester; `history()` gives
years of candles of the same model in one vectorised call (history.py). Layout: profiles.py (constants per
symbol), latent.py (fair-value paths), book.py (the venue), derivatives.py (funding, OI,
liquidations, long/short), market.py (the clock and merge), source.py (options and pacing).
"""

from virtuoso_sim.history import history
from virtuoso_sim.market import SimMarket
from virtuoso_sim.source import SimSource
from virtuoso_tui import hookimpl


@hookimpl
def virtuoso_sources():
    return [SimSource]


__all__ = ["SimMarket", "SimSource", "history", "virtuoso_sources"]
