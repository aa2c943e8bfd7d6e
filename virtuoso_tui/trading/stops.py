"""Stops and exits attached to a position: a fixed or ATR-based stop, a trailing stop, a time stop, a
break-even move and partial take-profits. An ExitPlan is pure state + arithmetic: `update()` on each
trade (price) or candle (high/low) returns the Exits due; the TradingDesk turns them into reduce-only
market orders through the order manager (so risk still sees them) and drops the plan when flat.

Order of checks within one update, chosen to be conservative on a candle whose high and low are both
known but not their order: the stop (at its level BEFORE this update) first, then take-profits, then
the stop is tightened (break-even, trailing) from the new best price, ready for the next update.
Prices are quote per base; distances are in price units; times in ms of market time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np


@dataclass(frozen=True, slots=True)
class Exit:
    symbol: str
    amount: float  # base units to close (positive)
    reason: Literal["stop", "trailing stop", "break-even stop", "time stop", "take profit"]
    price: float   # the level that triggered it (for the record)


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> float:
    """Latest Average True Range (Wilder, TA-Lib) over `period` candles; NaN with too few candles."""
    if len(close) <= period:
        return float("nan")
    import talib

    return float(talib.ATR(np.asarray(high, float), np.asarray(low, float), np.asarray(close, float), period)[-1])


@dataclass(slots=True)
class ExitPlan:
    symbol: str
    side: Literal["buy", "sell"]   # the POSITION's side: buy = long
    entry: float
    amount: float                  # position size the plan manages (base, positive)
    opened_ts: int
    stop: float | None = None
    trail: float | None = None     # trailing distance in price units
    time_stop_ms: int | None = None
    breakeven_at: float | None = None   # favourable move (price units) that moves the stop to entry
    take_profits: list[tuple[float, float]] = field(default_factory=list)  # (price, fraction of amount)
    remaining: float = -1.0
    best: float = 0.0
    stop_kind: str = "stop"
    done: bool = False
    _tp_done: list[bool] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.remaining < 0:
            self.remaining = self.amount
        self.best = self.entry
        self._tp_done = [False] * len(self.take_profits)
        if sum(f for _, f in self.take_profits) > 1 + 1e-9:
            raise ValueError("take-profit fractions add up to more than the whole position")
        if self.trail is not None and self.stop is None:
            self.stop = self._worse(self.entry, self.trail)
            self.stop_kind = "trailing stop"

    @classmethod
    def from_atr(cls, symbol: str, side: Literal["buy", "sell"], entry: float, amount: float, ts: int,
                 atr_value: float, mult: float = 2.0, trailing: bool = False, **kw) -> ExitPlan:
        """A stop `mult` ATRs from the entry (trailing by the same distance when `trailing`)."""
        if not atr_value > 0:
            raise ValueError(f"ATR must be positive to place an ATR stop, got {atr_value!r}")
        d = atr_value * mult
        stop = entry - d if side == "buy" else entry + d
        return cls(symbol, side, entry, amount, ts, stop=stop, trail=d if trailing else None, **kw)

    def _long(self) -> bool:
        return self.side == "buy"

    def _worse(self, price: float, d: float) -> float:
        return price - d if self._long() else price + d

    def update(self, price: float, ts: int, high: float | None = None, low: float | None = None) -> list[Exit]:
        """Advance with a trade at `price` (or a candle with `high`/`low`, close = `price`)."""
        if self.done or self.remaining <= 0:
            return []
        hi = price if high is None else high
        lo = price if low is None else low
        adverse, favour = (lo, hi) if self._long() else (hi, lo)
        exits: list[Exit] = []
        if self.stop is not None and (adverse <= self.stop if self._long() else adverse >= self.stop):
            return self._close(self.stop_kind, self.stop)
        if self.time_stop_ms is not None and ts - self.opened_ts >= self.time_stop_ms:
            return self._close("time stop", price)
        for i, (tp, frac) in enumerate(self.take_profits):
            if not self._tp_done[i] and (favour >= tp if self._long() else favour <= tp):
                self._tp_done[i] = True
                amt = min(self.amount * frac, self.remaining)
                self.remaining -= amt
                exits.append(Exit(self.symbol, amt, "take profit", tp))
        if self.remaining <= 1e-12:
            self.done = True
            return exits
        self.best = max(self.best, favour) if self._long() else min(self.best, favour)
        moved = (self.best - self.entry) if self._long() else (self.entry - self.best)
        if self.breakeven_at is not None and moved >= self.breakeven_at and self._tighter(self.entry):
            self.stop, self.stop_kind = self.entry, "break-even stop"
        if self.trail is not None:
            candidate = self._worse(self.best, self.trail)
            if self._tighter(candidate):
                self.stop, self.stop_kind = candidate, "trailing stop"
        return exits

    def _tighter(self, level: float) -> bool:
        if self.stop is None:
            return True
        return level > self.stop if self._long() else level < self.stop

    def _close(self, reason: str, level: float) -> list[Exit]:
        amt, self.remaining, self.done = self.remaining, 0.0, True
        return [Exit(self.symbol, amt, reason, level)]  # type: ignore[arg-type]
