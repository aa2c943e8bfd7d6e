"""The backtest's fill path: the Broker interface, the default CandleBroker, slippage, and the ledger.

A Broker receives the strategy's intents (`submit`), fills them at the next event (`on_open`: the next
bar's open for candle data), settles funding (`on_funding`) and closes what is left at the end
(`close_all`); `position` and `cash` are read by the engine after every call. CandleBroker is the
default for candle-only data; paper.PaperBroker puts the order manager + paper executor
(virtuoso_tui.trading, plugins/virtuoso_paper) behind the same calls, so risk rules and book matching
apply in a backtest exactly as in paper trading. TradeLedger builds round-trip trades from any
broker's fills.

Sizing at the fill: "buy with all equity at the next open" cannot be sized at the close that decides
it, so a strategy sets `OrderIntent.equity_fraction` (its `amount` is only an estimate); every broker
sizes such an intent when it fills, with the one formula of trading/sizing.py
(`equity_fraction_amount`): fraction * equity / (price * (1 + fee)), equity marked at the event's
price (the open) and `price` the fill price, so the fee fits in the equity. The paper path's order
manager does the same at submit, with the book's touch (paper.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

from virtuoso_tui.model import Fill, OrderIntent, OrderType, Position
from virtuoso_tui.trading.sizing import SizingError, equity_fraction_amount

_MARKET = OrderType.MARKET


class SlippageModel(Protocol):
    def price(self, side: str, price: float, amount: float) -> float: ...


@dataclass(frozen=True, slots=True)
class FixedSlippage:
    """Every fill moves `bps` basis points against the taker: buys pay more, sells get less."""

    bps: float = 0.0

    def price(self, side: str, price: float, amount: float) -> float:
        return price * (1.0 + self.bps / 1e4) if side == "buy" else price * (1.0 - self.bps / 1e4)


class Broker(Protocol):
    """Where the backtest's intents go. `position` and `cash` are read after every call.

    `resting_orders` False tells the engine that `on_open` has nothing to do unless something was
    submitted since the last open (a broker without the attribute is called at every open)."""

    position: Position
    cash: float

    def submit(self, intent: OrderIntent, ts: int) -> None: ...

    def on_open(self, ts: int, price: float) -> list[Fill]: ...

    def on_funding(self, ts: int, rate: float, mark: float) -> float: ...

    def close_all(self, ts: int, price: float) -> list[Fill]: ...


class CandleBroker:
    """Fills market orders at the next bar's open (slippage model applied), fee = fee * notional.

    An intent with `equity_fraction` f is sized at the fill price to f * equity / (price * (1 + fee)),
    equity = cash + position * the unslipped price; one whose equity is not positive is dropped.
    A reduce_only intent never trades more than the position.
    Only market orders: a limit or stop intent raises ValueError (candle data cannot say whether it
    would have filled without a model this broker does not claim).
    """

    #: Market orders only: nothing rests between opens, so the engine calls on_open only after a submit.
    resting_orders = False

    def __init__(self, symbol: str, *, capital: float = 10_000.0, fee: float = 0.0,
                 slippage: SlippageModel | None = None) -> None:
        self.symbol = symbol
        self.cash = float(capital)
        self.fee = float(fee)
        self.slippage = slippage or FixedSlippage(0.0)
        self.position = Position(symbol)
        self._pending: list[OrderIntent] = []
        self._seq = 0

    def submit(self, intent: OrderIntent, ts: int) -> None:
        if intent.type is not _MARKET:
            raise ValueError(f"the candle broker fills market orders only, not {intent.type.value}")
        self._pending.append(intent)

    def on_open(self, ts: int, price: float) -> list[Fill]:
        if not self._pending:
            return []
        pending, self._pending = self._pending, []
        fills = []
        for intent in pending:
            fill = self._fill(intent, ts, price)
            if fill is not None:
                fills.append(fill)
        return fills

    @property
    def pending(self) -> bool:
        """Whether orders wait for the next event."""
        return bool(self._pending)

    def _fill(self, intent: OrderIntent, ts: int, mark: float, *, slip: bool = True) -> Fill | None:
        side = intent.side
        buy = side == "buy"
        price = self.slippage.price(side, mark, intent.amount) if slip else mark
        pos = self.position
        held = pos.amount
        fraction = intent.equity_fraction
        if fraction is not None:
            try:
                amount = equity_fraction_amount(fraction, self.cash + held * mark, price, self.fee)
            except SizingError:
                return None  # no equity left to put in
        else:
            amount = intent.amount
        if intent.reduce_only:
            if held == 0 or (held > 0) == buy:
                return None
            amount = min(amount, abs(held))
        if not amount > 0:
            return None
        notional = amount * price
        fee = notional * self.fee
        if buy:
            self.cash += -notional - fee
            new = held + amount
        else:
            self.cash += notional - fee
            new = held - amount
        if held == 0:
            pos.entry_price = price * amount / abs(new)   # (entry * 0 + price * amount) / |new|, as below
            pos.opened_ts = ts
        elif (held > 0) == buy:
            pos.entry_price = (pos.entry_price * abs(held) + price * amount) / abs(new)
        elif amount > abs(held):  # flipped through zero: the remainder opens at this price
            pos.entry_price = price
            pos.opened_ts = ts
        pos.amount = 0.0 if abs(new) < 1e-12 * max(abs(held), 1.0) else new
        pos.fees += fee
        self._seq = seq = self._seq + 1
        return Fill(f"bt-{seq}", self.symbol, side, ts, price, amount, fee, "taker", f"bt-fill-{seq}")

    def on_funding(self, ts: int, rate: float, mark: float) -> float:
        """Pay (or receive) funding on the open position: a long pays a positive rate."""
        payment = -self.position.amount * mark * rate
        self.cash += payment
        self.position.funding += payment
        return payment

    def close_all(self, ts: int, price: float) -> list[Fill]:
        self._pending = []
        held = self.position.amount
        if held == 0:
            return []
        intent = OrderIntent(self.symbol, "sell" if held > 0 else "buy", abs(held), reduce_only=True,
                             origin="backtest:end")
        fill = self._fill(intent, ts, price)
        return [fill] if fill else []


class _OpenTrade:
    """The round trip in progress (a slotted record: the ledger runs once per fill of every backtest)."""

    __slots__ = ("entry_time", "entry_bar", "side", "entry_value", "size", "exit_value", "exit_units", "fees",
                 "funding", "entry_price", "entry_mixed", "exit_price", "exit_mixed")

    def __init__(self, ts: int, bar: int, side: str, units: float, price: float, fees: float) -> None:
        self.entry_time, self.entry_bar, self.side = ts, bar, side
        self.entry_value, self.size = units * price, units
        self.exit_value = self.exit_units = self.funding = 0.0
        self.fees = fees
        self.entry_price, self.entry_mixed = price, False      # mixed: fills at more than one price
        self.exit_price: float | None = None
        self.exit_mixed = False


class TradeLedger:
    """Round trips from fills: a trade opens when the position leaves zero and closes when it returns
    (a fill through zero closes one and opens the next). pnl is net of fees and funding. A trade's entry
    (exit) price is its one fill's price, or the size-weighted average of several."""

    def __init__(self) -> None:
        self.trades: list[dict[str, Any]] = []
        self._open: _OpenTrade | None = None
        self._held = 0.0

    def on_fill(self, fill: Fill, bar: int, reason: str = "signal") -> None:
        price, fee = fill.price, fill.fee
        signed = fill.amount if fill.side == "buy" else -fill.amount
        remaining = signed
        fee_left = fee
        t = self._open
        if t is not None and (self._held > 0) != (signed > 0):
            closing = min(abs(signed), abs(self._held))
            share = closing / abs(signed)
            t.exit_value += closing * price
            t.exit_units += closing
            if t.exit_price is None:
                t.exit_price = price
            elif price != t.exit_price:
                t.exit_mixed = True
            t.fees += fee * share
            fee_left -= fee * share
            self._held += math.copysign(closing, signed)
            remaining = signed - math.copysign(closing, signed)
            if abs(self._held) <= 1e-12 * max(t.size, 1.0):
                self._finish(fill.ts, bar, reason)
                t = None
        if abs(remaining) > 0:
            if t is None:
                self._open = _OpenTrade(fill.ts, bar, "long" if remaining > 0 else "short", abs(remaining), price,
                                        fee_left)
                self._held = remaining
            else:  # adding to the open trade
                t.entry_value += abs(remaining) * price
                t.size += abs(remaining)
                if price != t.entry_price:
                    t.entry_mixed = True
                t.fees += fee_left
                self._held += remaining

    def on_funding(self, payment: float) -> None:
        if self._open is not None:
            self._open.funding += payment

    def _finish(self, ts: int, bar: int, reason: str) -> None:
        t = self._open
        assert t is not None
        entry = t.entry_value / t.size if t.entry_mixed else t.entry_price
        exit_ = t.exit_value / t.exit_units if t.exit_mixed else t.exit_price
        gross = (t.exit_value - t.entry_value) * (1 if t.side == "long" else -1)
        self.trades.append({
            "entry_time": t.entry_time, "exit_time": ts, "side": t.side, "entry_price": entry,
            "exit_price": exit_, "size": t.size, "pnl": gross - t.fees + t.funding, "fees": t.fees,
            "funding": t.funding, "entry_bar": t.entry_bar, "exit_bar": bar, "exit_reason": reason})
        self._open = None
        self._held = 0.0
