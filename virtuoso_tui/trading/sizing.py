"""Position sizing: how much to trade. Pure functions for each method plus `Sizer`, which the
signal strategy uses to size entries and the OrderManager calls on EVERY intent to apply the portfolio
cap (no position larger than `max_position_fraction` of equity) before the risk rules run.

Methods (`[strategy.sizing]` keys as in virtuoso_tui.config, plus the extra keys marked *):
  fixed       a constant quote `notional` per trade (or a constant base `amount`* when > 0)
  risk        lose `risk_pct` % of equity between entry and the stop: equity*r / |entry - stop|
  atr         the same with the stop `atr_multiple` ATRs away (volatility-adjusted; ATR over
              `atr_period` candles, computed by the caller with TA-Lib)
  kelly       fraction of equity = Kelly f* = p - (1 - p)/b from the recorded win rate p and win/loss
              ratio b, times `kelly_fraction` (half-Kelly by default), capped at `kelly_cap`*, and only
              after `min_trades`* recorded trades
  portfolio cap `max_position_fraction`*: no position above this multiple of equity (None = off,
              leaving leverage to the max_leverage risk rule)
An intent may instead carry `equity_fraction` (OrderIntent): "this fraction of equity, sized when the
order is sent". `equity_fraction_amount` is the one formula, f * equity / (price * (1 + fee)), so the
taker fee fits inside the equity; the order manager resolves it at submit with the price the order
will meet and its executor's taker fee, the backtest brokers at the fill (virtuoso_tui.backtest).
Units: equity and notional in quote, amounts in base, prices in quote per base.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from virtuoso_tui.model import OrderIntent
from virtuoso_tui.risk.rule import RiskContext
from virtuoso_tui.trading.portfolio import TradeStats

METHODS = ("fixed", "risk", "atr", "kelly")
DEFAULTS: dict[str, Any] = {
    "method": "fixed", "notional": 1_000.0, "amount": 0.0, "risk_pct": 1.0, "atr_period": 14,
    "atr_multiple": 2.0, "kelly_fraction": 0.5, "kelly_cap": 0.25, "min_trades": 20,
    "max_position_fraction": None,
}


class SizingError(ValueError):
    """A size cannot be computed (no stop distance, too few trades for Kelly, bad settings)."""


def percent_risk_size(equity: float, risk_fraction: float, entry: float, stop: float) -> float:
    """Base amount losing `risk_fraction` of `equity` if price goes from `entry` to `stop`."""
    distance = abs(entry - stop)
    if not distance > 0:
        raise SizingError("the stop is at the entry price; there is no risk distance to size from")
    return equity * risk_fraction / distance


def atr_size(equity: float, risk_fraction: float, atr: float, atr_mult: float) -> float:
    """Volatility-adjusted size: percent risk with the stop `atr_mult` ATRs from the entry."""
    if not (atr > 0 and math.isfinite(atr)):
        raise SizingError(f"ATR is {atr!r}; need a positive ATR (more candles) to size by volatility")
    return equity * risk_fraction / (atr * atr_mult)


def kelly_fraction(win_rate: float, win_loss_ratio: float, cap: float = 0.25, multiplier: float = 1.0) -> float:
    """Kelly fraction f* = p - (1 - p) / b, scaled by `multiplier`, clipped to [0, cap].

    A negative edge gives 0 (never bet against yourself); NaN inputs raise SizingError."""
    if not (0 <= win_rate <= 1) or not (win_loss_ratio > 0):
        raise SizingError(f"Kelly needs a win rate in [0, 1] and a positive win/loss ratio, "
                          f"got {win_rate!r} and {win_loss_ratio!r}")
    f = win_rate - (1.0 - win_rate) / win_loss_ratio
    return min(max(f * multiplier, 0.0), cap)


def equity_fraction_amount(fraction: float, equity: float, price: float, fee: float = 0.0) -> float:
    """Base amount worth `fraction` of `equity` (quote) at `price` (quote per base) with the fee
    (fraction of notional) paid out of it: fraction * equity / (price * (1 + fee)).
    SizingError when the fraction, the price or the equity is not positive and finite."""
    if not (fraction > 0 and math.isfinite(fraction)):
        raise SizingError(f"the equity fraction must be positive, not {fraction!r}")
    if not (price is not None and price > 0 and math.isfinite(price)):
        raise SizingError(f"no usable price ({price!r}) to size {fraction:g} of equity")
    if not (equity > 0 and math.isfinite(equity)):
        raise SizingError(f"equity is {equity:g}; there is nothing to size {fraction:g} of")
    return fraction * equity / (price * (1.0 + fee))


def size_by_equity(intent: OrderIntent, equity: float, price: float, fee: float = 0.0) -> OrderIntent:
    """The intent with `equity_fraction` resolved into `amount` (and cleared, so nothing sizes it twice)."""
    assert intent.equity_fraction is not None
    amount = equity_fraction_amount(intent.equity_fraction, equity, price, fee)
    return replace(intent, amount=amount, equity_fraction=None)


class Sizer:
    """Sizing settings (`[sizing]` table) applied to entries and, as the portfolio cap, to every intent."""

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        unknown = set(settings or {}) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"[sizing] has no option {sorted(unknown)[0]!r} (options: {', '.join(DEFAULTS)})")
        self.s = {**DEFAULTS, **(settings or {})}
        if self.s["method"] not in METHODS:
            raise ValueError(f"[sizing] method must be one of {', '.join(METHODS)}, not {self.s['method']!r}")

    def amount(self, price: float, equity: float, *, stop: float | None = None, atr: float | None = None,
               stats: TradeStats | None = None) -> float:
        """Base amount for an entry at `price` by the configured method (before the portfolio cap)."""
        s, method = self.s, self.s["method"]
        if method == "fixed":
            return float(s["amount"]) if s["amount"] else float(s["notional"]) / price
        if method == "risk":
            if stop is None:
                raise SizingError("risk sizing needs a stop price")
            return percent_risk_size(equity, float(s["risk_pct"]) / 100.0, price, stop)
        if method == "atr":
            return atr_size(equity, float(s["risk_pct"]) / 100.0, atr if atr is not None else float("nan"),
                            float(s["atr_multiple"]))
        if stats is None or stats.count < int(s["min_trades"]):
            have = 0 if stats is None else stats.count
            raise SizingError(f"Kelly sizing needs {s['min_trades']} recorded trades, have {have}")
        f = kelly_fraction(stats.win_rate, stats.win_loss_ratio, float(s["kelly_cap"]), float(s["kelly_fraction"]))
        return equity * f / price

    def __call__(self, intent: OrderIntent, ctx: RiskContext) -> OrderIntent:
        """The portfolio cap: shrink an intent so |position after| * price <= max_position_fraction * equity.
        Orders that reduce a position pass unchanged. An intent still carrying `equity_fraction` (the
        order manager resolves it first, with the touch and the taker fee) is sized here at its limit
        price or the mark, without a fee; SizingError when there is no price."""
        if intent.equity_fraction is not None:
            intent = size_by_equity(intent, ctx.equity, intent.price or ctx.mark(intent.symbol))
        if self.s["max_position_fraction"] is None:
            return intent
        frac = float(self.s["max_position_fraction"])
        price = intent.price or ctx.mark(intent.symbol)
        pos = ctx.positions.get(intent.symbol)
        held = pos.amount if pos is not None else 0.0
        same = held == 0 or (held > 0) == (intent.side == "buy")
        if intent.reduce_only or not same or price is None or not math.isfinite(frac):
            return intent
        room = max(frac * max(ctx.equity, 0.0) / price - abs(held), 0.0)
        return intent if intent.amount <= room else replace(intent, amount=room)
