"""The Source contract: where market data comes from (sim, replay, ccxt REST, websocket streams).

A source is built by the host with the symbols to watch and its `[sources.NAME]` options, and yields
model records from `events()`. Pacing is the source's job: the simulator sleeps to keep real time (or
not at all with speed 0 = as fast as possible), a replay follows recorded timestamps, a live source
yields as data arrives. The engine's market clock is the timestamps the source yields, so a replay and
a live run of the same data give the same decisions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar

from virtuoso_tui.model.market import MarketEvent, SourceHealth


class SourceError(Exception):
    """A source cannot go on (bad options, a file that cannot be read, auth refused). One sentence."""


class Source:
    """Base class for data sources. Subclasses set `name` and implement `events()`."""

    name: ClassVar[str] = ""
    #: Data kinds this source can produce; faces needing others are n/a (never invented).
    provides: ClassVar[frozenset[str]] = frozenset()
    #: True for sources that reach the network (the UI badge and safety checks use it).
    networked: ClassVar[bool] = False

    def __init__(self, symbols: Sequence[str], options: dict[str, Any] | None = None) -> None:
        self.symbols = list(symbols)
        self.options = dict(options or {})

    def events(self) -> AsyncIterator[MarketEvent | SourceHealth]:
        """Yield market records in timestamp order per symbol until exhausted or closed."""
        raise NotImplementedError

    def candle_history(self, symbol: str, timeframe: str, bars: int) -> dict[str, Any] | None:
        """Closed candles before the live data starts, for warming the faces up; None if the source has none.

        Returns numpy arrays `ts` (int64 open times, ms), `open`, `high`, `low`, `close`, `volume`
        (float64) and optionally `buy_volume`, oldest first, the last candle ending where the live
        stream begins. The engine asks once per symbol for the base timeframe and builds every higher
        timeframe from it, so all timeframes tell the same story.
        """
        return None

    async def close(self) -> None:
        """Release connections and files. Called once on shutdown, also after an error."""
