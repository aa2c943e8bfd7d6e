"""TradeWindow: the newest public trades of one symbol, as numpy columns for the order-flow faces.

Columns (oldest -> newest, read-only views cached until the next append): `ts` int64 ms UTC, `price`
float64 (quote per base), `amount` float64 (base), `side` int8 = the AGGRESSOR (+1 bought, lifted the
ask; -1 sold, hit the bid; 0 unknown - never guessed). Bounded: the newest `capacity` trades.
MarketState (state.py) appends; faces read `since(ts)` windows for CVD, trade imbalance, VWAP.
"""

from __future__ import annotations

import numpy as np

from virtuoso_tui.market.ringbuffer import RingBuffer
from virtuoso_tui.model.market import Trade

#: aggressor side -> stored code
SIDE_CODE: dict[str | None, int] = {"buy": 1, "sell": -1, None: 0}


class TradeWindow:
    """Ring of the newest `capacity` trades (see the module docstring for columns and units)."""

    def __init__(self, capacity: int = 20000) -> None:
        self._buf = RingBuffer({"ts": np.int64, "price": np.float64, "amount": np.float64, "side": np.int8},
                               capacity)

    def append(self, trade: Trade) -> None:
        """Add one trade; a side other than "buy", "sell" or None raises ValueError."""
        try:
            code = SIDE_CODE[trade.side]
        except KeyError:
            raise ValueError(f"trade side must be 'buy', 'sell' or None, got {trade.side!r}") from None
        self._buf.append_values(trade.ts, trade.price, trade.amount, code)

    def append_values(self, ts: int, price: float, amount: float, side: int) -> None:
        """Hot-path append with the side already coded (+1/-1/0)."""
        self._buf.append_values(ts, price, amount, side)

    def __len__(self) -> int:
        return len(self._buf)

    @property
    def capacity(self) -> int:
        return self._buf.capacity

    @property
    def total(self) -> int:
        """Trades ever appended."""
        return self._buf.total

    @property
    def nbytes(self) -> int:
        return self._buf.nbytes

    ts = property(lambda self: self._buf.column("ts"))
    price = property(lambda self: self._buf.column("price"))
    amount = property(lambda self: self._buf.column("amount"))
    side = property(lambda self: self._buf.column("side"))

    @property
    def last_price(self) -> float | None:
        return self._buf.last("price")

    def since(self, ts: int) -> int:
        """Index of the first held trade with timestamp >= ts (len(self) when none): slice with [i:]."""
        return int(np.searchsorted(self._buf.column("ts"), ts, side="left"))
