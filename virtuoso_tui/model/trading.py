"""Trading records: what a user or strategy wants (OrderIntent), what the order manager tracks
(Order through its states), what an executor reports (Fill), what the portfolio holds (Position),
and what a risk rule says (RiskDecision)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Literal

from virtuoso_tui.model.market import Side


class OrderType(str, enum.Enum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"              # stop-market: becomes a market order when a trade touches `stop_price`
    STOP_LIMIT = "stop_limit"  # becomes a limit at `price` when a trade touches `stop_price`


class OrderStatus(str, enum.Enum):
    NEW = "new"
    SUBMITTED = "submitted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_open(self) -> bool:
        return not self.is_terminal


_TERMINAL = {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}

#: Time in force: "gtc" good till cancelled (default); "ioc" immediate or cancel (fill what the book
#: has now, the rest EXPIRES); "fok" fill or kill (all of it now, or EXPIRE with no fill); "gtt" good
#: till time (rests until `expire_ts`, market time in ms, then EXPIRES). Semantics: trading/orders.py.
TimeInForce = Literal["gtc", "ioc", "fok", "gtt"]
TIME_IN_FORCE: tuple[str, ...] = ("gtc", "ioc", "fok", "gtt")


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """What someone wants traded, before risk rules and sizing have had their say.

    `amount` is in base units. `origin` says which path produced it (keyboard, stdin, strategy:NAME,
    algo:NAME, plugin:NAME) so a user sees where every order came from.

    `equity_fraction` (0 < f, e.g. 1.0 = "all equity") asks for the size to be decided when the order
    is sent, not when it was decided: f * equity / (price * (1 + taker fee)) base units at the price
    the order will meet (trading/sizing.py `equity_fraction_amount`; the order manager and the
    backtest brokers resolve it). `amount` is then only the decider's estimate.

    `time_in_force` (TIME_IN_FORCE) with `expire_ts` (market time, ms; only and always for "gtt").
    """

    symbol: str
    side: Side
    amount: float
    type: OrderType = OrderType.MARKET
    price: float | None = None
    stop_price: float | None = None
    reduce_only: bool = False
    post_only: bool = False
    origin: str = "keyboard"
    client_id: str | None = None
    tag: str = ""
    equity_fraction: float | None = None
    time_in_force: TimeInForce = "gtc"
    expire_ts: int | None = None

    def with_amount(self, amount: float) -> OrderIntent:
        return replace(self, amount=amount)


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """A rule's verdict: allow, resize (with the new amount) or reject; `reason` is shown to the user."""

    action: Literal["allow", "resize", "reject"]
    rule: str
    reason: str = ""
    amount: float | None = None

    @classmethod
    def allow(cls, rule: str) -> RiskDecision:
        return cls("allow", rule)

    @classmethod
    def reject(cls, rule: str, reason: str) -> RiskDecision:
        return cls("reject", rule, reason)

    @classmethod
    def resize(cls, rule: str, amount: float, reason: str) -> RiskDecision:
        return cls("resize", rule, reason, amount)


@dataclass(slots=True)
class Order:
    """An order as the order manager tracks it. Mutated only by the order manager."""

    client_id: str
    symbol: str
    side: Side
    type: OrderType
    amount: float
    price: float | None = None
    stop_price: float | None = None
    reduce_only: bool = False
    post_only: bool = False
    status: OrderStatus = OrderStatus.NEW
    filled: float = 0.0
    average_price: float | None = None
    fee: float = 0.0
    exchange_id: str | None = None
    executor: str = "paper"
    origin: str = "keyboard"
    created_ts: int = 0
    updated_ts: int = 0
    reason: str = ""
    time_in_force: TimeInForce = "gtc"
    expire_ts: int | None = None  # market time (ms) a "gtt" order expires at

    @property
    def remaining(self) -> float:
        return max(self.amount - self.filled, 0.0)


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution. `fee` in quote currency (positive = paid); `liquidity` maker or taker."""

    client_id: str
    symbol: str
    side: Side
    ts: int
    price: float
    amount: float
    fee: float
    liquidity: Literal["maker", "taker"] = "taker"
    fill_id: str = ""


@dataclass(slots=True)
class Position:
    """A net position: `amount` signed (positive long, negative short), in base units."""

    symbol: str
    amount: float = 0.0
    entry_price: float = 0.0
    realized_pnl: float = 0.0
    fees: float = 0.0
    funding: float = 0.0
    leverage: float = 1.0
    opened_ts: int = 0

    @property
    def side(self) -> Side | None:
        if self.amount > 0:
            return "buy"
        if self.amount < 0:
            return "sell"
        return None

    def unrealized_pnl(self, mark: float) -> float:
        return (mark - self.entry_price) * self.amount

    def notional(self, mark: float) -> float:
        return abs(self.amount) * mark


@dataclass(frozen=True, slots=True)
class Alert:
    """Something a user should see: a monitor condition, a risk halt, a plugin failure."""

    ts: int
    level: Literal["info", "warning", "error"]
    message: str
    source: str = ""
    symbol: str | None = None
    data: dict = field(default_factory=dict)
