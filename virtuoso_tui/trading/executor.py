"""The Executor contract: where orders that passed sizing and risk go (paper, live).

The OrderManager (trading/orders.py) is the only caller of `submit` and `cancel`; it binds itself as
the executor's `ExecutionSink` and the executor reports fills and status changes back through it, so
every report is journalled and applied to the portfolio in one place. The engine feeds market events
to every executor (`on_trade`, `on_book`, `on_funding`); a live executor may ignore them.

Optional async life cycle (no-ops by default; the engine awaits them through the desk): `start()`
before the market data pump (connect, load markets, fetch the venue's open orders, so the desk's
reconcile that follows compares with the venue), `poll()` every `poll_interval_s` seconds while the
engine runs (fills and closes that happened at the venue), `resync()` after a reconnect (the venue's
open orders and positions again, before the manager reconciles), `close()` on shutdown. `positions()`
is the venue's own position per symbol, which reconcile compares with the journal's. `amend()` changes an open
order's price/amount at the venue; the default says the executor cannot.

Execution algorithms (TWAP, VWAP, iceberg, impact-aware split) are in trading/algos.py: they are not
venues but parents that send child orders through the order manager, so risk applies to each slice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from virtuoso_tui.model import Fill, Funding, Order, OrderStatus, Position, Trade


class AmendNotSupported(Exception):
    """The executor has no way to change an open order in place."""


class ExecutionSink(Protocol):
    """What an executor reports to (the OrderManager implements it)."""

    def report_fill(self, fill: Fill) -> None: ...

    def report_status(self, client_id: str, status: OrderStatus, reason: str = "") -> None: ...

    def report_funding(self, symbol: str, ts: int, rate: float, mark: float) -> None: ...

    def report_liquidation(self, symbol: str, ts: int, price: float, amount: float, fee: float) -> None: ...

    def position_of(self, symbol: str) -> Position | None: ...

    def margin_shortfall(self, symbol: str, side: str, amount: float, price: float) -> float: ...

    def report_amend(self, client_id: str, price: float | None, amount: float, reason: str = "") -> None: ...


class Executor:
    """Base class of an executor. Subclasses set `name` and implement submit/cancel/open_ids.

    `volatile = True` says the executor's order state does not survive a restart (the paper matcher):
    after a crash the order manager re-places the open orders it restored, instead of reporting them
    missing at the venue.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    volatile: ClassVar[bool] = False
    #: seconds between `poll()` calls while the engine runs; None = never polled
    poll_interval_s: float | None = None

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

    def positions(self) -> dict[str, float] | None:
        """The venue's net position per symbol it was asked about (signed base amount, 0.0 for flat),
        as last fetched by start()/resync(), for reconcile to compare with the journal's portfolio.
        None: this executor holds no positions of its own (paper: the portfolio is the truth)."""
        return None

    def amend(self, client_id: str, *, price: float | None = None, amount: float | None = None) -> bool:
        """Change an open order's price and/or amount (the manager journalled the new values first).
        True if the order was open here and the change is under way; the venue's answer comes back
        through the sink's `report_amend`. The base class cannot amend: AmendNotSupported."""
        raise AmendNotSupported(f"the {self.name or type(self).__name__} executor cannot amend orders; "
                                "cancel and place a new one")

    def problem(self) -> str:
        """Why this executor cannot trade, found without I/O before anything starts ("" = none),
        e.g. a live executor without API keys. One sentence."""
        return ""

    # -- optional async life cycle (the engine awaits these through the desk) -----------------------
    async def start(self) -> None:
        """Connect before market data flows (the desk reconciles right after)."""

    async def poll(self) -> None:
        """Pick up what happened at the venue since the last poll (fills, closes)."""

    async def resync(self) -> None:
        """After a reconnect: refresh what the venue holds, before the manager reconciles."""

    async def close(self) -> None:
        """Release connections on shutdown (orders in flight are finished first)."""

    def on_trade(self, trade: Trade) -> None:
        """A public trade (market time advances)."""

    def on_book(self, book: Any) -> None:
        """The order book of `book.symbol` changed (an object with bids(n)/asks(n) arrays)."""

    def on_funding(self, funding: Funding) -> None:
        """A funding observation; `funding.settled` marks a payment at a funding time."""


class UnusableBook:
    """What executors are shown for a symbol whose book is being resynchronised (gapped, crossed,
    reconnecting): no levels on either side, so nothing can be matched against it until the next
    snapshot makes the real book valid again. Same reading API as bookview.ArrayBook."""

    __slots__ = ("symbol", "ts", "reason")
    valid = False

    def __init__(self, symbol: str, ts: int, reason: str) -> None:
        self.symbol, self.ts, self.reason = symbol, ts, reason

    def bids(self, n: int | None = None) -> Any:
        import numpy as np

        return np.empty((0, 2))

    asks = bids
    best_bid = best_ask = mid = spread = None
