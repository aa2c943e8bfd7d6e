"""The backtest's fill path: the Broker interface, the default CandleBroker, slippage, and the ledger.

A Broker receives the strategy's intents (`submit`), fills them at the next event (`on_open`: the next
bar's open for candle data), settles funding (`on_funding`) and closes what is left at the end
(`close_all`); `position` and `cash` are read by the engine after every call. CandleBroker is the
default for candle-only data. The order manager + paper executor (virtuoso_tui.trading,
plugins/virtuoso_paper) plug in through the same calls so risk rules and book matching apply in a
backtest exactly as live. TradeLedger builds round-trip trades from any broker's fills.

Sizing tag: "buy with all equity at the next open" cannot be sized at the close that decides it, so a
strategy sends its estimate as `amount` plus the tag `equity:<fraction>`; CandleBroker re-sizes such an
intent at the fill price to fraction * equity / (price * (1 + fee)), so the fee fits in the equity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

from virtuoso_tui.model import Fill, OrderIntent, OrderType, Position

EQUITY_TAG = "equity:"


def equity_tag(fraction: float) -> str:
    """The tag asking the broker to size an intent at fill time as `fraction` of equity."""
    return f"{EQUITY_TAG}{fraction:g}"


def equity_fraction(tag: str) -> float | None:
    """The fraction in an `equity:<fraction>` tag, None for any other tag."""
    if not tag.startswith(EQUITY_TAG):
        return None
    return float(tag[len(EQUITY_TAG):])


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

    An intent tagged `equity:<f>` (virtuoso_strategies.sizing) is re-sized at the fill price to
    f * equity / (price * (1 + fee)); a reduce_only intent never trades more than the position.
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
        if intent.type is not OrderType.MARKET:
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
        price = self.slippage.price(side, mark, intent.amount) if slip else mark
        held = self.position.amount
        fraction = equity_fraction(intent.tag) if intent.tag else None
        if fraction is not None:
            equity = self.cash + held * price
            amount = fraction * equity / (price * (1.0 + self.fee))
        else:
            amount = intent.amount
        if intent.reduce_only:
            if held == 0 or (held > 0) == (side == "buy"):
                return None
            amount = min(amount, abs(held))
        if not amount > 0:
            return None
        notional = amount * price
        fee = notional * self.fee
        self.cash += -notional - fee if side == "buy" else notional - fee
        signed = amount if side == "buy" else -amount
        pos = self.position
        new = held + signed
        if held == 0 or (held > 0) == (signed > 0):
            pos.entry_price = (pos.entry_price * abs(held) + price * amount) / abs(new)
            if held == 0:
                pos.opened_ts = ts
        elif abs(signed) > abs(held):  # flipped through zero: the remainder opens at this price
            pos.entry_price = price
            pos.opened_ts = ts
        pos.amount = 0.0 if abs(new) < 1e-12 * max(abs(held), 1.0) else new
        pos.fees += fee
        self._seq += 1
        return Fill(f"bt-{self._seq}", self.symbol, side, ts, price, amount, fee, "taker", f"bt-fill-{self._seq}")

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


class TradeLedger:
    """Round trips from fills: a trade opens when the position leaves zero and closes when it returns
    (a fill through zero closes one and opens the next). pnl is net of fees and funding."""

    def __init__(self) -> None:
        self.trades: list[dict[str, Any]] = []
        self._open: dict[str, Any] | None = None
        self._held = 0.0

    def on_fill(self, fill: Fill, bar: int, reason: str = "signal") -> None:
        signed = fill.amount if fill.side == "buy" else -fill.amount
        remaining = signed
        fee_left = fill.fee
        if self._open is not None and (self._held > 0) != (signed > 0):
            closing = min(abs(signed), abs(self._held))
            share = closing / abs(signed)
            t = self._open
            t["exit_value"] += closing * fill.price
            t["exit_units"] += closing
            t["exit_prices"].add(fill.price)
            t["fees"] += fill.fee * share
            fee_left -= fill.fee * share
            self._held += math.copysign(closing, signed)
            remaining = signed - math.copysign(closing, signed)
            if abs(self._held) <= 1e-12 * max(t["size"], 1.0):
                self._finish(fill.ts, bar, reason)
        if abs(remaining) > 0 and (self._open is None):
            self._open = {"entry_time": fill.ts, "entry_bar": bar, "side": "long" if remaining > 0 else "short",
                          "entry_value": abs(remaining) * fill.price, "size": abs(remaining),
                          "exit_value": 0.0, "exit_units": 0.0, "fees": fee_left, "funding": 0.0,
                          "entry_prices": {fill.price}, "exit_prices": set()}
            self._held = remaining
        elif abs(remaining) > 0 and self._open is not None:  # adding to the open trade
            t = self._open
            t["entry_value"] += abs(remaining) * fill.price
            t["size"] += abs(remaining)
            t["entry_prices"].add(fill.price)
            t["fees"] += fee_left
            self._held += remaining

    def on_funding(self, payment: float) -> None:
        if self._open is not None:
            self._open["funding"] += payment

    def _finish(self, ts: int, bar: int, reason: str) -> None:
        t = self._open
        assert t is not None
        # one fill's price as is; several fills, their size-weighted average
        entry = next(iter(t["entry_prices"])) if len(t["entry_prices"]) == 1 else t["entry_value"] / t["size"]
        exit_ = next(iter(t["exit_prices"])) if len(t["exit_prices"]) == 1 else t["exit_value"] / t["exit_units"]
        gross = (t["exit_value"] - t["entry_value"]) * (1 if t["side"] == "long" else -1)
        self.trades.append({
            "entry_time": t["entry_time"], "exit_time": ts, "side": t["side"], "entry_price": entry,
            "exit_price": exit_, "size": t["size"], "pnl": gross - t["fees"] + t["funding"], "fees": t["fees"],
            "funding": t["funding"], "entry_bar": t["entry_bar"], "exit_bar": bar, "exit_reason": reason})
        self._open = None
        self._held = 0.0
