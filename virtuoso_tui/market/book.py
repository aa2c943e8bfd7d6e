"""The L2 order book of one symbol, kept in sequence, with the reads the faces and paper executor need.

Storage: per side a dict price -> size plus an ascending Python list of prices kept sorted with bisect
(insert/delete are C memmoves of at most `max_levels` pointers). Best bid/ask are O(1) list ends;
`bids(n)`/`asks(n)` build a numpy (k, 2) array once per book version and hand out read-only slices,
so faces reading top-50 many times per tick pay for one build per update. Measured against the
alternative (numpy price/size arrays kept sorted with searchsorted + np.insert/np.delete) on 500-level
books with 10-level deltas: dict+bisect 2.6 us per delta vs 49 us (every np.insert/np.delete
reallocates); a cached top-50 read costs 0.25 us; a delta followed by fresh top-50 reads of both sides
18 us. bench/bench_market.py prints the live end-to-end figures.

Sequence semantics (the venue's update ids; None = the venue gives none, then nothing is checked):
  * `apply_snapshot` always resets the book and revalidates it (unless the snapshot itself is crossed).
  * A delta whose `sequence` <= the book's sequence is STALE (already contained in the book, e.g. diffs
    buffered while the REST snapshot was fetched): it is dropped silently, returns False, and the book
    stays valid.
  * A delta whose `prev_sequence` is AHEAD of the book's sequence is a GAP (updates were missed): the
    book becomes invalid (reason "gap ..."), returns False, and stays invalid until a snapshot.
  * A delta with prev_sequence < book sequence < sequence OVERLAPS the book: it is applied. This is the
    first diff after a Binance snapshot (spot: U <= lastUpdateId+1 <= u; futures: U <= lastUpdateId <= u
    with `pu` behind), and because levels carry absolute sizes, re-applying the overlap is exact.
    Strict equality of prev_sequence would reject that first diff and never sync.
  * After an applied delta a crossed or locked book (best bid >= best ask) is invalid, reason "crossed".
  * Deltas on an invalid or never-snapshotted book are dropped (False): the book waits for a snapshot.
Level sizes are absolute; size 0 deletes the level. Prices and sizes are the venue's units (quote per
base, base). Each side keeps its best `max_levels` levels; deeper ones are trimmed.
"""

from __future__ import annotations

import sys
from bisect import bisect_left, insort
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from virtuoso_tui.model.market import BookDelta, BookSnapshot

_EMPTY = np.zeros((0, 2), dtype=np.float64)
_EMPTY.flags.writeable = False
_NAN = float("nan")


class BookSequenceError(Exception):
    """The book cannot be used: it is crossed, has a sequence gap, or was never snapshotted."""


@dataclass(frozen=True, slots=True)
class Impact:
    """The cost of a market order walking the book.

    `avg_price` is the volume-weighted fill price (NaN when nothing could fill); `slippage_bps` is the
    cost against mid in basis points, positive = worse than mid for the taker (NaN without a mid);
    `filled_notional` (quote) is below the requested notional when the book ran out; `levels` is the
    number of price levels touched.
    """

    avg_price: float
    slippage_bps: float
    filled_notional: float
    levels: int


class _Side:
    """One side: dict price -> size and the ascending list of its prices."""

    __slots__ = ("sizes", "prices", "descending")

    def __init__(self, descending: bool) -> None:
        self.sizes: dict[float, float] = {}
        self.prices: list[float] = []
        self.descending = descending  # bids: best is the highest price, the END of `prices`

    def reset(self, levels: Iterable[tuple[float, float]], max_levels: int) -> None:
        self.sizes = {float(p): float(s) for p, s in levels if s > 0}
        self.prices = sorted(self.sizes)
        self.trim(max_levels)

    def set(self, price: float, size: float) -> None:
        sizes = self.sizes
        if size > 0:
            if price not in sizes:
                insort(self.prices, price)
            sizes[price] = size
        elif price in sizes:
            del sizes[price]
            prices = self.prices
            del prices[bisect_left(prices, price)]

    def trim(self, max_levels: int) -> None:
        excess = len(self.prices) - max_levels
        if excess > 0:
            if self.descending:  # worst bids are the lowest, at the start
                dropped, self.prices = self.prices[:excess], self.prices[excess:]
            else:
                dropped, self.prices = self.prices[-excess:], self.prices[:-excess]
            for p in dropped:
                del self.sizes[p]

    def best(self) -> float | None:
        if not self.prices:
            return None
        return self.prices[-1] if self.descending else self.prices[0]

    def array(self, n: int) -> np.ndarray:
        """Best-first (k, 2) array of the best n levels."""
        prices = self.prices[: -n - 1: -1] if self.descending else self.prices[:n]
        out = np.empty((len(prices), 2), dtype=np.float64)
        out[:, 0] = prices
        sizes = self.sizes
        out[:, 1] = [sizes[p] for p in prices]
        out.flags.writeable = False
        return out


class OrderBook:
    """L2 book of one symbol. See the module docstring for the sequence rules.

    `valid` is False when crossed, gapped or never snapshotted; `reason` says which ("" when valid).
    `version` bumps on every change (applied update, snapshot, validity change) and keys the caches.
    """

    #: levels built per cached array by default; a deeper read rebuilds to the depth asked for
    _ARRAY_DEPTH = 100

    def __init__(self, symbol: str, max_levels: int = 500) -> None:
        if max_levels < 1:
            raise ValueError(f"max_levels must be >= 1, got {max_levels}")
        self.symbol = symbol
        self.max_levels = max_levels
        self.valid = False
        self.reason = "no snapshot"
        self.sequence: int | None = None
        self.ts: int | None = None
        self.version = 0
        self.snapshots = 0
        self.gaps = 0
        self.stale = 0
        self._bids = _Side(descending=True)
        self._asks = _Side(descending=False)
        self._cache: dict[str, tuple[int, int, np.ndarray]] = {}  # side -> (version, depth asked, array)

    # -- updates ----------------------------------------------------------------------------------
    def apply_snapshot(self, snapshot: BookSnapshot) -> bool:
        """Replace the whole book; returns whether the book is valid afterwards (False if crossed)."""
        self._check_symbol(snapshot.symbol)
        self._bids.reset(snapshot.bids, self.max_levels)
        self._asks.reset(snapshot.asks, self.max_levels)
        self.sequence = snapshot.sequence
        self.ts = snapshot.ts
        self.snapshots += 1
        self.version += 1
        self.valid, self.reason = True, ""
        self._check_crossed()
        return self.valid

    def apply_delta(self, delta: BookDelta) -> bool:
        """Apply changed levels; True when applied and the book is valid. False for a stale delta
        (dropped, validity unchanged), a gap or a crossed result (book invalid), or an invalid book."""
        self._check_symbol(delta.symbol)
        if not self.valid:
            return False
        seq, book_seq = delta.sequence, self.sequence
        if book_seq is not None:
            if seq is not None and seq <= book_seq:
                self.stale += 1
                return False
            prev = delta.prev_sequence
            if prev is not None and prev > book_seq:
                self.gaps += 1
                self.valid = False
                self.reason = f"gap: book at {book_seq}, delta follows {prev}"
                self.version += 1
                return False
        bids, asks = self._bids, self._asks
        # _Side.set inlined: this loop is the book's hot path (one call per level costs ~30%)
        for side, levels in ((bids, delta.bids), (asks, delta.asks)):
            sizes, prices = side.sizes, side.prices
            for price, size in levels:
                if size > 0:
                    if price not in sizes:
                        insort(prices, price)
                    sizes[price] = size
                elif price in sizes:
                    del sizes[price]
                    del prices[bisect_left(prices, price)]
        max_levels = self.max_levels
        if len(bids.prices) > max_levels:
            bids.trim(max_levels)
        if len(asks.prices) > max_levels:
            asks.trim(max_levels)
        if seq is not None:
            self.sequence = seq
        self.ts = delta.ts
        self.version += 1
        return self._check_crossed()

    def invalidate(self, reason: str) -> None:
        """Mark the book unusable until the next snapshot (a source that lost its stream calls this)."""
        self.valid, self.reason = False, reason
        self.version += 1

    def ensure_valid(self) -> None:
        """Raise BookSequenceError(reason) unless the book is valid (executors matching against it)."""
        if not self.valid:
            raise BookSequenceError(f"{self.symbol} book is not usable: {self.reason}")

    def _check_crossed(self) -> bool:
        bid, ask = self._bids.best(), self._asks.best()
        if bid is not None and ask is not None and bid >= ask:
            self.valid, self.reason = False, f"crossed: best bid {bid} >= best ask {ask}"
        return self.valid

    def _check_symbol(self, symbol: str) -> None:
        if symbol != self.symbol:
            raise ValueError(f"a {symbol} book update cannot go into the {self.symbol} book")

    # -- reads ------------------------------------------------------------------------------------
    @property
    def best_bid(self) -> float | None:
        return self._bids.best()

    @property
    def best_ask(self) -> float | None:
        return self._asks.best()

    @property
    def mid(self) -> float | None:
        bid, ask = self._bids.best(), self._asks.best()
        if bid is None or ask is None:
            return None
        return (bid + ask) / 2.0

    @property
    def spread(self) -> float | None:
        bid, ask = self._bids.best(), self._asks.best()
        if bid is None or ask is None:
            return None
        return ask - bid

    @property
    def spread_bps(self) -> float | None:
        """Spread over mid in basis points, None when a side is empty."""
        bid, ask = self._bids.best(), self._asks.best()
        if bid is None or ask is None:
            return None
        return (ask - bid) / ((ask + bid) / 2.0) * 1e4

    def levels(self, side: Literal["bid", "ask"]) -> int:
        return len(self._side(side).prices)

    def bids(self, n: int | None = None) -> np.ndarray:
        """Best n bid levels as a read-only (k, 2) [price, size] array, price descending (k <= n)."""
        return self._array("bid", n)

    def asks(self, n: int | None = None) -> np.ndarray:
        """Best n ask levels as a read-only (k, 2) [price, size] array, price ascending (k <= n)."""
        return self._array("ask", n)

    def _side(self, side: str) -> _Side:
        if side == "bid":
            return self._bids
        if side == "ask":
            return self._asks
        raise ValueError(f"side must be 'bid' or 'ask', got {side!r}")

    def _array(self, side: str, n: int | None) -> np.ndarray:
        s = self._side(side)
        want = len(s.prices) if n is None else int(n)
        if want <= 0:
            return _EMPTY
        hit = self._cache.get(side)
        if hit is not None and hit[0] == self.version and (want <= hit[1] or len(hit[2]) < hit[1]):
            arr = hit[2]
        else:
            depth = max(want, self._ARRAY_DEPTH)
            arr = s.array(depth)
            self._cache[side] = (self.version, depth, arr)
        return arr[:want]

    def depth(self, side: Literal["bid", "ask"], within_bps: float) -> float:
        """Base size resting on `side` within `within_bps` of mid (inclusive); NaN without a mid."""
        mid = self.mid
        if mid is None:
            return _NAN
        levels = self._array(side, None)
        if side == "bid":
            inside = levels[:, 0] >= mid * (1.0 - within_bps / 1e4)
        else:
            inside = levels[:, 0] <= mid * (1.0 + within_bps / 1e4)
        return float(levels[inside, 1].sum())

    def impact(self, side: Literal["buy", "sell"], notional: float) -> Impact:
        """Walk the book with a market order worth `notional` quote: a buy takes asks, a sell hits bids.

        Returns the average fill price, slippage against mid in bps (positive = cost), the notional that
        could fill (less than asked when the side runs out) and the levels touched.
        """
        if side not in ("buy", "sell"):
            raise ValueError(f"side must be 'buy' or 'sell', got {side!r}")
        if not notional > 0:
            raise ValueError(f"notional must be positive, got {notional!r}")
        levels = self._array("ask" if side == "buy" else "bid", None)
        if len(levels) == 0:
            return Impact(_NAN, _NAN, 0.0, 0)
        prices, sizes = levels[:, 0], levels[:, 1]
        cum = np.cumsum(prices * sizes)
        k = int(np.searchsorted(cum, notional, side="left"))
        if k >= len(cum):  # the whole side is not enough
            filled, base, touched = float(cum[-1]), float(sizes.sum()), len(cum)
        else:
            before = float(cum[k - 1]) if k else 0.0
            base = float(sizes[:k].sum()) + (notional - before) / float(prices[k])
            filled, touched = float(notional), k + 1
        avg = filled / base
        mid = self.mid
        if mid is None:
            slip = _NAN
        else:
            slip = (avg - mid) / mid * 1e4 if side == "buy" else (mid - avg) / mid * 1e4
        return Impact(avg, slip, filled, touched)

    def memory_bytes(self) -> int:
        """Estimated bytes held: dicts, price lists, float objects and cached arrays."""
        total = 0
        for s in (self._bids, self._asks):
            total += sys.getsizeof(s.sizes) + sys.getsizeof(s.prices) + 2 * 24 * len(s.prices)
        total += sum(a.nbytes for _, _, a in self._cache.values())
        return total
