"""The vectorised fast path: a whole history in a handful of numpy passes, for sweeps.

A vectorisable strategy (Strategy.vectorisable) gives `target_positions`: the position held from each
bar's NEXT open, in {-1, 0, 1} (short, flat, long with all equity). This module turns that into the
same trades, fills and per-bar equity as the event-driven engine (engine.py) with the CandleBroker
under the same conventions:
  * a change of target decided at bar i's close fills at bar i+1's open, at open * (1 ± slippage);
  * an entry puts all equity in: units = equity / (price * (1 + fee)), so the fee fits;
  * an exit pays fee * notional; a reversal exits then enters at the same open;
  * a position still open after the last bar is closed at the last close (exit_reason "end").
Per-trade equity multipliers are chained with cumprod; per-bar equity is the entry equity of the
trade held at that bar times a price ratio. No Python loop runs per bar; the only loop is over trades
when the trade list is built. Funding is not modelled here (the event engine does it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from virtuoso_tui.backtest.data import Candles


@dataclass(slots=True)
class VectorResult:
    equity: np.ndarray               # per-bar account value at the close, quote
    position: np.ndarray             # per-bar units held at the close (signed)
    entries: np.ndarray              # bar index of each trade's entry fill
    exits: np.ndarray                # bar index of each trade's exit fill (n-1 for an "end" exit)
    side: np.ndarray                 # +1 long / -1 short per trade
    entry_price: np.ndarray
    exit_price: np.ndarray
    size: np.ndarray                 # units per trade
    pnl: np.ndarray                  # net of both fees, quote
    fees: np.ndarray
    ended_open: bool = False         # the last trade was closed by the end of the data
    extra: dict[str, Any] = field(default_factory=dict)

    def trades(self, ts: np.ndarray, end_time: int) -> list[dict[str, Any]]:
        """The trades as dicts in the --json layout (plus side, bars and exit reason)."""
        out = []
        last = len(self.entries) - 1
        for k in range(len(self.entries)):
            ended = self.ended_open and k == last
            out.append({
                "entry_time": int(ts[self.entries[k]]),
                "exit_time": int(end_time if ended else ts[self.exits[k]]),
                "side": "long" if self.side[k] > 0 else "short",
                "entry_price": float(self.entry_price[k]), "exit_price": float(self.exit_price[k]),
                "size": float(self.size[k]), "pnl": float(self.pnl[k]), "fees": float(self.fees[k]),
                "entry_bar": int(self.entries[k]), "exit_bar": int(self.exits[k]),
                "exit_reason": "end" if ended else "signal",
            })
        return out


def run_vector(candles: Candles, targets: np.ndarray, *, fee: float = 0.0, slippage_bps: float = 0.0,
               capital: float = 10_000.0) -> VectorResult:
    """Simulate `targets` (position held from each bar's next open, values -1, 0 or 1) over `candles`.

    fee: fraction of traded notional per fill (0.001 = 0.1%); slippage_bps: adverse price move per fill
    in basis points. Raises ValueError when targets hold other values or do not match the candles.
    """
    n = len(candles)
    targets = np.asarray(targets, dtype=np.float64)
    if targets.shape[0] != n:
        raise ValueError(f"targets has {targets.shape[0]} values for {n} candles")
    if n and not np.all((targets == 0) | (targets == 1) | (targets == -1)):
        raise ValueError("the vectorised path takes targets of -1, 0 or 1 (all equity short, flat, long)")
    held = np.zeros(n, dtype=np.int8)            # position during bar k (from its open)
    if n > 1:
        held[1:] = targets[:-1]
    prev = np.concatenate(([0], held[:-1])) if n else held
    change = held != prev
    entry_bars = np.nonzero(change & (held != 0))[0]
    exit_bars = np.nonzero(change & (prev != 0))[0]
    ended_open = bool(n and held[-1] != 0)
    if ended_open:
        exit_bars = np.concatenate((exit_bars, [n - 1]))
    side = held[entry_bars].astype(np.float64)
    slip = slippage_bps / 1e4
    op, close = candles.open, candles.close
    entry_price = op[entry_bars] * (1.0 + side * slip)
    exit_raw = op[exit_bars].copy()
    if ended_open:
        exit_raw[-1] = close[-1]
    exit_price = exit_raw * (1.0 - side * slip)
    # per-trade multiplier of the equity put in at entry
    long_m = exit_price * (1.0 - fee) / (entry_price * (1.0 + fee))
    short_m = 1.0 + (1.0 - fee) / (1.0 + fee) - exit_price / entry_price
    mult = np.where(side > 0, long_m, short_m)
    after = capital * np.cumprod(mult)                     # equity after each trade's exit
    entry_equity = np.concatenate(([capital], after[:-1]))
    size = entry_equity / (entry_price * (1.0 + fee))
    fees = size * (entry_price + exit_price) * fee
    pnl = after - entry_equity
    # per-bar equity: trade id of the latest entry at or before each bar
    equity = np.full(n, capital, dtype=np.float64)
    position = np.zeros(n, dtype=np.float64)
    if entry_bars.shape[0]:
        starts = np.zeros(n, dtype=np.int64)
        starts[entry_bars] = 1
        tid = np.cumsum(starts) - 1
        has = tid >= 0
        t = tid[has]
        inside = held[has] != 0
        px = close[has]
        in_long = entry_equity[t] / (entry_price[t] * (1.0 + fee)) * px
        in_short = entry_equity[t] * (1.0 + (1.0 - fee) / (1.0 + fee) - px / (entry_price[t] * (1.0 + fee)))
        value_in = np.where(side[t] > 0, in_long, in_short)
        equity[has] = np.where(inside, value_in, after[t])
        position[has] = np.where(inside, size[t] * side[t], 0.0)
        if ended_open:
            equity[-1] = after[-1]   # position[-1] keeps the units held during the last bar
    return VectorResult(equity, position, entry_bars, exit_bars, side.astype(np.int8), entry_price,
                        exit_price, size, pnl, fees, ended_open)
