"""Order-book arithmetic the trading side needs, over plain (k, 2) [price, size] numpy arrays: walking
levels for a market order, the size resting at one price, the impact of a notional.

`ArrayBook` is a minimal book with the same reading API as virtuoso_tui.market.book.OrderBook
(`symbol`, `bids(n)`, `asks(n)`, `best_bid`, `best_ask`, `mid`, `impact()`), built from a BookSnapshot,
a ccxt fetchOrderBook dict or arrays. The paper executor (plugins/virtuoso_paper) accepts either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class Impact:
    """Result of walking the book for a notional: `avg_price` (quote/base), `slippage_bps` of the
    average against the mid (positive = worse for the taker; as market.book.Impact), `filled_notional`
    (less than asked when depth runs out), `levels` touched."""

    avg_price: float
    slippage_bps: float
    filled_notional: float
    levels: int


def walk(levels: np.ndarray, amount: float, limit: float | None = None, side: str = "buy",
         consumed: dict[float, float] | None = None) -> tuple[float, float, int]:
    """Take up to `amount` base from best-first `levels`, not past `limit` (buy: price <= limit,
    sell: price >= limit). `consumed` maps price -> size already taken from that level since the
    book was seen (paper fills do not remove liquidity from the live book) and is updated.
    Returns (filled base, cost in quote, levels touched)."""
    filled = cost = 0.0
    touched = 0
    for price, size in levels.tolist():  # python floats: faster per level, and no numpy scalars leak out
        if amount - filled <= 0:
            break
        if limit is not None and (price > limit if side == "buy" else price < limit):
            break
        avail = size - (consumed.get(price, 0.0) if consumed is not None else 0.0)
        if avail <= 0:
            continue
        take = min(avail, amount - filled)
        filled += take
        cost += take * price
        touched += 1
        if consumed is not None:
            consumed[price] = consumed.get(price, 0.0) + take
    return filled, cost, touched


def level_size(levels: np.ndarray, price: float) -> float:
    """Base size resting at exactly `price` (relative tolerance 1e-9), 0 when the level is absent."""
    if levels.size == 0:
        return 0.0
    hit = np.flatnonzero(np.abs(levels[:, 0] - price) <= 1e-9 * abs(price))
    return float(levels[hit[0], 1]) if hit.size else 0.0


def impact_of(levels: np.ndarray, notional: float, mid: float | None, side: str) -> Impact:
    """Walk best-first `levels` for a quote `notional`; slippage of the average against `mid`
    (against the best level's price when there is no mid)."""
    if levels.size == 0 or notional <= 0:
        return Impact(float("nan"), float("nan"), 0.0, 0)
    prices, sizes = levels[:, 0], levels[:, 1]
    level_notional = prices * sizes
    cum = np.cumsum(level_notional)
    k = int(np.searchsorted(cum, notional, side="left"))
    if k >= len(prices):
        filled_notional, base, touched = float(cum[-1]), float(sizes.sum()), len(prices)
    else:
        before = float(cum[k - 1]) if k else 0.0
        part = (notional - before) / prices[k]
        base = float(sizes[:k].sum()) + part
        filled_notional, touched = notional, k + 1
    avg = filled_notional / base
    ref = mid if mid is not None else float(prices[0])
    slip = (avg - ref) / ref * 1e4 if side == "buy" else (ref - avg) / ref * 1e4
    return Impact(avg, slip, filled_notional, touched)


class ArrayBook:
    """A static L2 book from arrays: bids descending, asks ascending, (k, 2) [price, size]."""

    def __init__(self, symbol: str, bids: Any, asks: Any) -> None:
        self.symbol = symbol
        self._bids = np.asarray(bids, dtype=np.float64).reshape(-1, 2)
        self._asks = np.asarray(asks, dtype=np.float64).reshape(-1, 2)

    @classmethod
    def from_snapshot(cls, snap: Any) -> ArrayBook:
        return cls(snap.symbol, snap.bids, snap.asks)

    @classmethod
    def from_ccxt(cls, payload: dict[str, Any]) -> ArrayBook:
        return cls(payload["symbol"], payload["bids"], payload["asks"])

    def bids(self, n: int = 1_000_000) -> np.ndarray:
        return self._bids[:n]

    def asks(self, n: int = 1_000_000) -> np.ndarray:
        return self._asks[:n]

    @property
    def best_bid(self) -> float | None:
        return float(self._bids[0, 0]) if len(self._bids) else None

    @property
    def best_ask(self) -> float | None:
        return float(self._asks[0, 0]) if len(self._asks) else None

    @property
    def mid(self) -> float | None:
        if self.best_bid is None or self.best_ask is None:
            return None
        return (self.best_bid + self.best_ask) / 2

    def impact(self, side: str, notional: float) -> Impact:
        return impact_of(self._asks if side == "buy" else self._bids, notional, self.mid, side)
