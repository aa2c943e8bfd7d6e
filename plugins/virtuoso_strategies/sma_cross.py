"""sma_cross: the reference strategy the backtester is checked with (issue 6).

Long-only. When SMA(fast) crosses above SMA(slow) at a bar's close, buy with all equity at the next
bar's open; when it crosses below, sell everything at the next bar's open. A cross is strict on the
new side and loose on the old one: up at bar i when fast[i-1] <= slow[i-1] and fast[i] > slow[i],
down when fast[i-1] >= slow[i-1] and fast[i] < slow[i]; the first decision needs slow + 1 closed bars.

Both forms compute the SMAs from ONE running sum of closes, (S[i] - S[i-n]) / n with S the cumulative
sum from the first bar, so the event form (`on_bar`, streaming, O(1) per bar) and the vectorised form
(`target_positions`, np.cumsum) do the same float operations in the same order and reach the same
decisions bit for bit. `on_bar` reads the newest close through `last_close` (CandleSeries and the
replay view both have it) and keeps only where fast stood against slow at the previous bar, so a bar
without a cross allocates nothing. Entries carry `equity_fraction=1.0`: sized when they fill.
Neighbours: the backtester (virtuoso_tui.backtest) runs both forms; paper and
live call `on_bar` on each closed candle.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from virtuoso_tui.model import OrderIntent
from virtuoso_tui.trading.strategy import Strategy, StrategyContext

#: What a bar without a cross returns: falsy, iterable, and shared (immutable, so no per-bar list)
_NO_ORDERS: tuple[OrderIntent, ...] = ()


def _check_lengths(fast: Any, slow: Any) -> tuple[int, int]:
    if int(fast) != fast or int(slow) != slow or fast < 1 or slow < 1:
        raise ValueError(f"sma_cross lengths must be positive whole numbers (fast={fast}, slow={slow})")
    if fast >= slow:
        raise ValueError(f"sma_cross needs fast < slow (fast={fast}, slow={slow})")
    return int(fast), int(slow)


class SmaCross(Strategy):
    name = "sma_cross"
    description = "Long-only SMA(fast)/SMA(slow) crossover, all equity in at the next open"
    params = {"fast": 10, "slow": 30}
    vectorisable = True

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self.fast, self.slow = _check_lengths(self.p["fast"], self.p["slow"])
        self._acc = 0.0                # running sum of every close folded so far
        self._sums: deque[float] = deque([0.0], maxlen=self.slow + 2)  # S[j-slow-1] .. S[j], S[0] = 0
        self._seen = 0                 # closed candles folded (the series' `total`)
        # where fast stood against slow at the previous bar: 1 above, -1 below, 0 equal (None:
        # recompute from the sums); one number instead of both SMAs keeps the per-bar work small
        self._side: int | None = None
        self._need = self.slow + 2     # running sums needed for a decision (incl. the leading 0)
        self._fi, self._wi = -1 - self.fast, -1 - self.slow   # where S[j-fast], S[j-slow] sit in _sums
        self._ready = False            # the sums reach back far enough (never false again after)
        self._state: Any = None
        self._series: Any = None

    @property
    def warmup(self) -> int:
        return self.slow + 1

    def _fold_many(self, series, new: int, total: int) -> None:
        """First call with history, or bars skipped: fold what the window still holds."""
        closes = series.close
        for c in closes[-min(new, len(closes)):].tolist():
            self._acc += c
            self._sums.append(self._acc)
        self._seen = total
        self._side = None

    def _bind(self, ctx: StrategyContext) -> Any:
        """A state's series object never changes: look it up once per state."""
        self._state, self._series = ctx.state, ctx.state.candles[ctx.timeframe]
        return self._series

    def on_bar(self, ctx: StrategyContext) -> Sequence[OrderIntent]:
        # The hot path of every event backtest: locals, one float read per bar (`last_close`, no array
        # view), and no allocation on a bar without a cross.
        series = self._series if ctx.state is self._state else self._bind(ctx)
        total = series.total
        sums = self._sums
        if total - self._seen == 1:
            top = self._acc + series.last_close
            self._acc = top
            sums.append(top)
            self._seen = total
        elif total <= self._seen:
            return _NO_ORDERS  # no newly closed candle: nothing to decide
        else:
            self._fold_many(series, total - self._seen, total)
            top = self._acc
        if not self._ready:
            if len(sums) < self._need:
                return _NO_ORDERS
            self._ready = True
        f, w = self.fast, self.slow
        fast_now = (top - sums[self._fi]) / f
        slow_now = (top - sums[self._wi]) / w
        side = self._side
        if side is None:
            prev = sums[-2]
            fast_prev, slow_prev = (prev - sums[-2 - f]) / f, (prev - sums[-2 - w]) / w
            side = (fast_prev > slow_prev) - (fast_prev < slow_prev)
        # up: fast[i-1] <= slow[i-1] (side != 1) and fast[i] > slow[i]; down mirrors it
        if fast_now > slow_now:
            self._side = 1
            if side != 1 and ctx.position.amount <= 0:
                return [OrderIntent(ctx.symbol, "buy", ctx.equity / series.last_close,
                                    origin="strategy:sma_cross", equity_fraction=1.0)]
        elif fast_now < slow_now:
            self._side = -1
            if side != -1:
                held = ctx.position.amount
                if held > 0:
                    return [OrderIntent(ctx.symbol, "sell", held, reduce_only=True, origin="strategy:sma_cross")]
        else:
            self._side = 0
        return _NO_ORDERS

    def target_positions(self, ts: np.ndarray, open_: np.ndarray, high: np.ndarray, low: np.ndarray,
                         close: np.ndarray, volume: np.ndarray) -> np.ndarray:
        """Position (0 or 1) held from each bar's next open; all 0 with fewer than slow + 1 bars."""
        n = close.shape[0]
        out = np.zeros(n, dtype=np.float64)
        if n < self.slow + 1:
            return out
        sums = np.empty(n + 1, dtype=np.float64)
        sums[0] = 0.0
        np.cumsum(close, out=sums[1:])
        f, w = self.fast, self.slow
        fast = (sums[w:] - sums[w - f:n + 1 - f]) / f  # bars w-1 .. n-1
        slow = (sums[w:] - sums[:n + 1 - w]) / w
        above = fast > slow
        below = fast < slow
        up = above[1:] & ~above[:-1]        # fast <= slow before, fast > slow now
        down = below[1:] & ~below[:-1]
        signal = np.zeros(n, dtype=np.int8)
        signal[w:][up] = 1
        signal[w:][down] = -1
        # hold the last signal: index of the latest non-zero signal at or before each bar
        last = np.maximum.accumulate(np.where(signal != 0, np.arange(n), 0))
        out[:] = signal[last] == 1
        return out
