"""sma_cross: the reference strategy the backtester is checked with (issue 6).

Long-only. When SMA(fast) crosses above SMA(slow) at a bar's close, buy with all equity at the next
bar's open; when it crosses below, sell everything at the next bar's open. A cross is strict on the
new side and loose on the old one: up at bar i when fast[i-1] <= slow[i-1] and fast[i] > slow[i],
down when fast[i-1] >= slow[i-1] and fast[i] < slow[i]; the first decision needs slow + 1 closed bars.

Both forms compute the SMAs from ONE running sum of closes, (S[i] - S[i-n]) / n with S the cumulative
sum from the first bar, so the event form (`on_bar`, streaming, O(1) per bar) and the vectorised form
(`target_positions`, np.cumsum) do the same float operations in the same order and reach the same
decisions bit for bit. Neighbours: the backtester (virtuoso_tui.backtest) runs both forms; paper and
live call `on_bar` on each closed candle.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from virtuoso_tui.backtest.broker import equity_tag
from virtuoso_tui.model import OrderIntent
from virtuoso_tui.trading.strategy import Strategy, StrategyContext

_ALL_IN = equity_tag(1.0)


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
        self._fp: float | None = None  # fast SMA of the previous bar (None: recompute from the sums)
        self._sp = 0.0                 # slow SMA of the previous bar
        self._need = self.slow + 2     # running sums needed for a decision (incl. the leading 0)
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
        self._fp = None

    def on_bar(self, ctx: StrategyContext) -> list[OrderIntent]:
        # The hot path of every event backtest: locals, and no allocation on a bar without a cross.
        state = ctx.state
        if state is not self._state:  # a state's series object never changes: look it up once
            self._state, self._series = state, state.candles[ctx.timeframe]
        series = self._series
        total = series.total
        new = total - self._seen
        sums = self._sums
        if new == 1:
            acc = self._acc + series.close.item(-1)
            self._acc = acc
            sums.append(acc)
            self._seen = total
        elif new <= 0:
            return []  # no newly closed candle: nothing to decide
        else:
            self._fold_many(series, new, total)
        if not self._ready:
            if len(sums) < self._need:
                return []
            self._ready = True
        f, w = self.fast, self.slow
        top = sums[-1]
        fast_now = (top - sums[-1 - f]) / f
        slow_now = (top - sums[-1 - w]) / w
        fast_prev = self._fp
        if fast_prev is None:
            prev = sums[-2]
            fast_prev, slow_prev = (prev - sums[-2 - f]) / f, (prev - sums[-2 - w]) / w
        else:
            slow_prev = self._sp
        self._fp, self._sp = fast_now, slow_now
        if fast_now > slow_now:
            if fast_prev <= slow_prev and ctx.position.amount <= 0:
                return [OrderIntent(ctx.symbol, "buy", ctx.equity / series.close.item(-1),
                                    origin="strategy:sma_cross", tag=_ALL_IN)]
        elif fast_now < slow_now:
            held = ctx.position.amount
            if fast_prev >= slow_prev and held > 0:
                return [OrderIntent(ctx.symbol, "sell", held, reduce_only=True, origin="strategy:sma_cross")]
        return []

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
