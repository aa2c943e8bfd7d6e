"""The hot-path L2 book each stream keeps per symbol while syncing with the venue.

A side is a dict price -> size CELL (a one-element list [size]) plus a sorted list of its prices
(ascending for both sides). Updating a level that exists, the common case, is one dict lookup and a
write into its cell: the price (a fresh float from the decoder each message, whose hash Python does
not cache) is hashed once, not twice as `in` then `[]=` would. Only when a level appears or vanishes
is there a dict insert/delete and one bisect insert/delete in C; the best bid and ask are the list
ends. `as_dicts()`/`top()` give plain sizes. This book only follows the venue's sequence and says
whether it is sane (not crossed); the analytical book downstream is virtuoso_tui.market.book.OrderBook,
fed with the BookSnapshot/BookDelta records the streams emit. Prices and sizes are floats in the
venue's units; a size of 0 deletes the level.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable


class BookSide:
    __slots__ = ("levels", "prices")

    def __init__(self) -> None:
        self.levels: dict[float, list[float]] = {}  # price -> [size]
        self.prices: list[float] = []  # ascending

    def clear(self) -> None:
        self.levels.clear()
        self.prices.clear()

    def set(self, price: float, size: float) -> None:
        _apply_levels(self.levels, self.prices, ((price, size),))

    def update(self, changes: Iterable[tuple[float, float]]) -> None:
        _apply_levels(self.levels, self.prices, changes)


def _apply_levels(levels: dict[float, list[float]], prices: list[float], changes) -> None:
    """Apply (price, size) changes in order; size 0 deletes. One loop with local names: a method call
    per level costs more than the dict write. (Measured: faster than `in` + `[]=` on plain sizes, and
    than building dicts/sets of the changes and updating in C, which hashes every price four times.)"""
    get = levels.get
    for price, size in changes:
        cell = get(price)
        if cell is not None:
            if size:
                cell[0] = size
            else:
                del levels[price]
                del prices[bisect_left(prices, price)]
        elif size:
            levels[price] = [size]
            insort(prices, price)


class LocalBook:
    """One symbol's book with the venue sequence it has reached (`sequence`, None before a snapshot)."""

    __slots__ = ("symbol", "bids", "asks", "sequence", "ts")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids = BookSide()
        self.asks = BookSide()
        self.sequence: int | None = None
        self.ts = 0

    def reset(self, bids, asks, sequence: int | None, ts: int = 0) -> None:
        self.bids.clear()
        self.asks.clear()
        self.bids.update(bids)
        self.asks.update(asks)
        self.sequence = sequence
        self.ts = ts

    def apply(self, bids, asks, sequence: int | None, ts: int = 0) -> None:
        _apply_levels(self.bids.levels, self.bids.prices, bids)
        _apply_levels(self.asks.levels, self.asks.prices, asks)
        self.sequence = sequence
        self.ts = ts

    @property
    def best_bid(self) -> float | None:
        p = self.bids.prices
        return p[-1] if p else None

    @property
    def best_ask(self) -> float | None:
        p = self.asks.prices
        return p[0] if p else None

    @property
    def crossed(self) -> bool:
        """True when the best bid is at or above the best ask: the book is wrong, never data."""
        b, a = self.bids.prices, self.asks.prices
        return bool(b and a and b[-1] >= a[0])

    def top(self, depth: int | None = None) -> tuple[tuple[tuple[float, float], ...], tuple[tuple[float, float], ...]]:
        """(bids best-first, asks best-first) as (price, size) tuples, at most `depth` per side."""
        bl, al = self.bids.levels, self.asks.levels
        bp, ap = self.bids.prices, self.asks.prices
        if depth is None:
            bsel, asel = bp[::-1], ap
        else:
            bsel, asel = bp[: -depth - 1 : -1], ap[:depth]
        return tuple((p, bl[p][0]) for p in bsel), tuple((p, al[p][0]) for p in asel)

    def as_dicts(self) -> tuple[dict[float, float], dict[float, float]]:
        return ({p: c[0] for p, c in self.bids.levels.items()},
                {p: c[0] for p, c in self.asks.levels.items()})
