"""donchian: a channel breakout, long and (optionally) short, all equity per position.

At a bar's close, a close above the highest high of the previous `n` bars makes the target long, a
close below their lowest low makes it short (flat instead when `short` is false); the target holds
until the opposite breakout. A reversal closes the old position and opens the new one at the next
bar's open. Max and min are exact whatever the order of evaluation, so the event form (`on_bar`) and
the vectorised form (`target_positions`) agree bit for bit. The first decision needs n + 1 bars.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from virtuoso_tui.model import OrderIntent
from virtuoso_tui.trading.strategy import Strategy, StrategyContext


class DonchianBreakout(Strategy):
    name = "donchian"
    description = "Channel breakout: long above the n-bar high, short (or flat) below the n-bar low"
    params = {"n": 20, "short": True}
    vectorisable = True

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__(params)
        n = self.p["n"]
        if int(n) != n or n < 1:
            raise ValueError(f"donchian n must be a positive whole number (n={n})")
        self.n = int(n)
        self.short = bool(self.p["short"]) if not isinstance(self.p["short"], str) else (
            self.p["short"].lower() in ("1", "true", "yes"))
        self._target = 0

    @property
    def warmup(self) -> int:
        return self.n + 1

    def on_bar(self, ctx: StrategyContext) -> list[OrderIntent]:
        series = ctx.state.candles[ctx.timeframe]
        if len(series) < self.n + 1:
            return []
        n = self.n
        close = float(series.close[-1])
        if close > float(series.high[-n - 1:-1].max()):
            self._target = 1
        elif close < float(series.low[-n - 1:-1].min()):
            self._target = -1 if self.short else 0
        held = ctx.position.amount
        want = self._target
        intents: list[OrderIntent] = []
        origin = "strategy:donchian"
        if (held > 0 and want <= 0) or (held < 0 and want >= 0):
            intents.append(OrderIntent(ctx.symbol, "sell" if held > 0 else "buy", abs(held), reduce_only=True,
                                       origin=origin))
        if want != 0 and (held == 0 or (held > 0) != (want > 0)):
            intents.append(OrderIntent(ctx.symbol, "buy" if want > 0 else "sell", ctx.equity / close,
                                       origin=origin, equity_fraction=1.0))
        return intents

    def target_positions(self, ts: np.ndarray, open_: np.ndarray, high: np.ndarray, low: np.ndarray,
                         close: np.ndarray, volume: np.ndarray) -> np.ndarray:
        """Position (-1, 0 or 1) held from each bar's next open; all 0 with fewer than n + 1 bars."""
        count = close.shape[0]
        out = np.zeros(count, dtype=np.float64)
        n = self.n
        if count < n + 1:
            return out
        top = sliding_window_view(high, n)[:-1].max(axis=1)     # window ending at bar i-1, for i >= n
        bottom = sliding_window_view(low, n)[:-1].min(axis=1)
        signal = np.zeros(count, dtype=np.int8)
        signal[n:][close[n:] > top] = 1
        signal[n:][close[n:] < bottom] = -1 if self.short else 2   # 2 = "go flat"
        last = np.maximum.accumulate(np.where(signal != 0, np.arange(count), 0))
        held = signal[last]
        out[held == 1] = 1.0
        out[held == -1] = -1.0
        return out
