"""The hot-path L2 book each stream keeps per symbol while syncing with the venue.

A side is a dict price -> size plus a sorted list of its prices (ascending for both sides), so a
level update is one dict write and, only when a level appears or vanishes, one bisect insert/delete
in C; the best bid and ask are the list ends. This book only follows the venue's sequence and says
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
        self.levels: dict[float, float] = {}
        self.prices: list[float] = []  # ascending

    def clear(self) -> None:
        self.levels.clear()
        self.prices.clear()

    def set(self, price: float, size: float) -> None:
        _apply_levels(self.levels, self.prices, ((price, size),))

    def update(self, changes: Iterable[tuple[float, float]]) -> None:
        _apply_levels(self.levels, self.prices, changes)


def _apply_levels(levels: dict[float, float], prices: list[float], changes) -> None:
    """Apply (price, size) changes in order; size 0 deletes. One loop with local names: a method call
    per level costs more than the dict write. (Measured: faster than building dicts/sets of the
    changes and updating in C, which hashes every price four times.)"""
    pop = levels.pop
    for price, size in changes:
        if size == 0.0:
            if pop(price, None) is not None:
                del prices[bisect_left(prices, price)]
        else:
            if price not in levels:
                insort(prices, price)
            levels[price] = size


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
        return tuple((p, bl[p]) for p in bsel), tuple((p, al[p]) for p in asel)

    def as_dicts(self) -> tuple[dict[float, float], dict[float, float]]:
        return dict(self.bids.levels), dict(self.asks.levels)
