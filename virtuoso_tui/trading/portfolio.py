"""The portfolio: net positions with average entry, realized/unrealized PnL, fees, funding, the cash
(wallet) balance, linear-perpetual margin and liquidation prices, and the equity curve with its risk
metrics (VaR/ES, drawdown, exposure, correlation from virtuoso_tui.risk.metrics).

Only the OrderManager changes positions (from fills and funding reports); the TradingDesk updates
marks from market events and samples the equity curve. Accounting is linear in quote currency for spot
and linear perpetuals alike: cash += realized PnL - fees - funding paid; equity = cash + unrealized.
Funding on a Position is the amount PAID (positive = paid, negative = received).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from virtuoso_tui.model import Fill, Position
from virtuoso_tui.risk import metrics

#: Default maintenance margin rate of a linear perpetual (Binance's lowest tier).
MAINTENANCE_MARGIN_RATE = 0.004


def liquidation_price(entry: float, amount: float, leverage: float,
                      mmr: float = MAINTENANCE_MARGIN_RATE) -> float | None:
    """Isolated-margin liquidation price of a linear perpetual position (quote per base).

    Initial margin is entry/leverage per unit; the position is liquidated when the loss eats the
    margin down to the maintenance margin mmr*price: long  entry*(1 - 1/L) / (1 - mmr),
    short entry*(1 + 1/L) / (1 + mmr). None when flat.
    """
    if amount == 0 or leverage <= 0:
        return None
    if amount > 0:
        return entry * (1.0 - 1.0 / leverage) / (1.0 - mmr)
    return entry * (1.0 + 1.0 / leverage) / (1.0 + mmr)


@dataclass(slots=True)
class TradeStats:
    """Closed-trade outcomes for Kelly sizing: each realizing fill's net PnL is one outcome."""

    wins: int = 0
    losses: int = 0
    win_sum: float = 0.0
    loss_sum: float = 0.0

    def record(self, pnl: float) -> None:
        if pnl > 0:
            self.wins += 1
            self.win_sum += pnl
        elif pnl < 0:
            self.losses += 1
            self.loss_sum += -pnl

    @property
    def count(self) -> int:
        return self.wins + self.losses

    @property
    def win_rate(self) -> float:
        return self.wins / self.count if self.count else float("nan")

    @property
    def win_loss_ratio(self) -> float:
        if not self.wins or not self.losses:
            return float("nan")
        return (self.win_sum / self.wins) / (self.loss_sum / self.losses)


class Portfolio:
    """Positions and cash of one account, in quote currency."""

    def __init__(self, cash: float = 10_000.0, leverage: float = 1.0,
                 mmr: float = MAINTENANCE_MARGIN_RATE) -> None:
        self.cash = float(cash)
        self.leverage = float(leverage)
        self.mmr = mmr
        self.positions: dict[str, Position] = {}
        self.marks: dict[str, float] = {}
        self.stats = TradeStats()
        self._eq_ts: list[int] = []
        self._eq: list[float] = []
        self._mark_hist: dict[str, list[float]] = {}

    # -- changes (called by the order manager) ------------------------------------------------------
    def position(self, symbol: str) -> Position:
        pos = self.positions.get(symbol)
        if pos is None:
            pos = self.positions[symbol] = Position(symbol, leverage=self.leverage)
        return pos

    def apply_fill(self, fill: Fill) -> float:
        """Apply one fill; returns the PnL it realized (before fees). Average entry is size-weighted
        while adding; reducing realizes (price - entry) * closed * sign; crossing zero reopens the rest
        at the fill price."""
        pos = self.position(fill.symbol)
        signed = fill.amount if fill.side == "buy" else -fill.amount
        a, e = pos.amount, pos.entry_price
        realized = 0.0
        if a == 0 or (a > 0) == (signed > 0):
            new = a + signed
            pos.entry_price = (abs(a) * e + abs(signed) * fill.price) / abs(new)
            if a == 0:
                pos.opened_ts = fill.ts
            pos.amount = new
        else:
            closing = min(abs(signed), abs(a))
            realized = (fill.price - e) * closing * (1.0 if a > 0 else -1.0)
            new = a + signed
            if abs(new) <= 1e-12 * max(abs(a), 1.0):
                pos.amount, pos.entry_price = 0.0, 0.0
            elif (new > 0) != (a > 0):
                pos.amount, pos.entry_price, pos.opened_ts = new, fill.price, fill.ts
            else:
                pos.amount = new
        pos.realized_pnl += realized
        pos.fees += fill.fee
        self.cash += realized - fill.fee
        if realized != 0.0:
            self.stats.record(realized - fill.fee)
        self.marks.setdefault(fill.symbol, fill.price)
        return realized

    def apply_funding(self, symbol: str, rate: float, mark: float) -> float:
        """Settle one funding payment: amount * mark * rate is PAID (longs pay a positive rate,
        shorts receive it). Returns the payment; 0 when flat."""
        pos = self.positions.get(symbol)
        if pos is None or pos.amount == 0:
            return 0.0
        payment = pos.amount * mark * rate
        pos.funding += payment
        self.cash -= payment
        return payment

    def restore(self, positions: list[Position], cash: float) -> None:
        self.positions = {p.symbol: p for p in positions}
        self.cash = cash

    # -- marks and derived figures ------------------------------------------------------------------
    def mark(self, symbol: str, price: float) -> None:
        if price > 0 and math.isfinite(price):
            self.marks[symbol] = price

    def mark_of(self, symbol: str) -> float | None:
        m = self.marks.get(symbol)
        if m is None:
            pos = self.positions.get(symbol)
            return pos.entry_price if pos is not None and pos.amount else None
        return m

    def unrealized(self, symbol: str | None = None) -> float:
        syms = [symbol] if symbol else list(self.positions)
        total = 0.0
        for s in syms:
            pos = self.positions.get(s)
            if pos is not None and pos.amount:
                total += pos.unrealized_pnl(self.mark_of(s) or pos.entry_price)
        return total

    def equity(self) -> float:
        return self.cash + self.unrealized()

    def open_positions(self) -> list[Position]:
        return [p for p in self.positions.values() if p.amount]

    def exposure(self) -> tuple[float, float, float]:
        """(gross, net, leverage) in quote; see risk.metrics.exposure."""
        pos = self.open_positions()
        amounts = np.array([p.amount for p in pos])
        marks = np.array([self.mark_of(p.symbol) or p.entry_price for p in pos])
        return metrics.exposure(amounts, marks, self.equity())

    def margin_used(self) -> float:
        return sum(p.notional(self.mark_of(p.symbol) or p.entry_price) / max(p.leverage, 1e-9)
                   for p in self.open_positions())

    def available(self) -> float:
        return self.equity() - self.margin_used()

    def margin_shortfall(self, symbol: str, side: str, amount: float, price: float) -> float:
        """Quote missing to open `amount` more at `price`: initial margin of the part that increases
        the position (notional / leverage; leverage 1 for spot symbols) minus the available balance.
        <= 0 when the order fits; reducing orders never need margin."""
        pos = self.positions.get(symbol)
        held = pos.amount if pos is not None else 0.0
        signed = amount if side == "buy" else -amount
        added = max(abs(held + signed) - abs(held), 0.0)
        if added == 0.0:
            return 0.0
        leverage = (pos.leverage if pos is not None else self.leverage) if ":" in symbol else 1.0
        return added * price / max(leverage, 1e-9) - self.available()

    def liquidation_price(self, symbol: str) -> float | None:
        pos = self.positions.get(symbol)
        if pos is None or not pos.amount:
            return None
        return liquidation_price(pos.entry_price, pos.amount, pos.leverage, self.mmr)

    # -- equity curve and metrics -------------------------------------------------------------------
    def record_equity(self, ts: int) -> float:
        """Sample equity (and each marked symbol's price, for correlations) at market time `ts`."""
        eq = self.equity()
        self._eq_ts.append(ts)
        self._eq.append(eq)
        for s, m in self.marks.items():
            self._mark_hist.setdefault(s, []).append(m)
        return eq

    @property
    def equity_curve(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self._eq_ts, dtype=np.int64), np.asarray(self._eq, dtype=np.float64)

    def symbol_returns(self, symbol: str, last: int = 500) -> np.ndarray:
        return metrics.simple_returns(np.asarray(self._mark_hist.get(symbol, [])[-last - 1:]))

    def correlation(self, symbols: list[str], last: int = 500) -> np.ndarray:
        """Correlation of the sampled mark returns of `symbols` over the common tail of samples."""
        series = [self.symbol_returns(s, last) for s in symbols]
        n = min((len(r) for r in series), default=0)
        if n < 3:
            return np.full((len(symbols), len(symbols)), np.nan)
        return metrics.correlation(np.column_stack([r[-n:] for r in series]))

    def risk_metrics(self) -> dict[str, float]:
        _, eq = self.equity_curve
        r = metrics.simple_returns(eq)
        gross, net, lev = self.exposure()
        return {
            "equity": self.equity(), "cash": self.cash, "unrealized": self.unrealized(),
            "var95": metrics.historical_var(r, 0.95), "var99": metrics.historical_var(r, 0.99),
            "es95": metrics.expected_shortfall(r, 0.95), "es99": metrics.expected_shortfall(r, 0.99),
            "drawdown": float(metrics.drawdown(eq)[-1]) if eq.size else 0.0,
            "max_drawdown": metrics.max_drawdown(eq) if eq.size else 0.0,
            "gross_exposure": gross, "net_exposure": net, "leverage": lev,
            "margin_used": self.margin_used(),
        }
