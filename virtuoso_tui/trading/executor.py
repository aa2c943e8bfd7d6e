"""The Executor contract: where orders that passed sizing and risk go (paper, live).

The OrderManager (trading/orders.py) is the only caller of `submit` and `cancel`; it binds itself as
the executor's `ExecutionSink` and the executor reports fills and status changes back through it, so
every report is journalled and applied to the portfolio in one place. The engine feeds market events
to every executor (`on_trade`, `on_book`, `on_funding`); a live executor may ignore them.

Execution algorithms (TWAP, VWAP, iceberg, impact-aware split) are in trading/algos.py: they are not
venues but parents that send child orders through the order manager, so risk applies to each slice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from virtuoso_tui.model import Fill, Funding, Order, OrderStatus, Position, Trade


class ExecutionSink(Protocol):
    """What an executor reports to (the OrderManager implements it)."""

    def report_fill(self, fill: Fill) -> None: ...

    def report_status(self, client_id: str, status: OrderStatus, reason: str = "") -> None: ...

    def report_funding(self, symbol: str, ts: int, rate: float, mark: float) -> None: ...

    def report_liquidation(self, symbol: str, ts: int, price: float, amount: float, fee: float) -> None: ...

    def position_of(self, symbol: str) -> Position | None: ...

    def margin_shortfall(self, symbol: str, side: str, amount: float, price: float) -> float: ...


class Executor:
    """Base class of an executor. Subclasses set `name` and implement submit/cancel/open_ids.

    `volatile = True` says the executor's order state does not survive a restart (the paper matcher):
    after a crash the order manager re-places the open orders it restored, instead of reporting them
    missing at the venue.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    volatile: ClassVar[bool] = False

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = dict(options or {})
        self.sink: ExecutionSink | None = None

    def bind(self, sink: ExecutionSink) -> None:
        self.sink = sink

    def submit(self, order: Order) -> None:
        """Take an order already journalled as SUBMITTED; may report fills before returning."""
        raise NotImplementedError

    def cancel(self, client_id: str) -> bool:
        """Cancel an open order; True if it was open here (the manager journals the cancel first)."""
        raise NotImplementedError

    def open_ids(self) -> set[str]:
        """Client ids of the orders open at this executor (for reconcile)."""
        raise NotImplementedError

    def on_trade(self, trade: Trade) -> None:
        """A public trade (market time advances)."""

    def on_book(self, book: Any) -> None:
        """The order book of `book.symbol` changed (an object with bids(n)/asks(n) arrays)."""

    def on_funding(self, funding: Funding) -> None:
        """A funding observation; `funding.settled` marks a payment at a funding time."""
