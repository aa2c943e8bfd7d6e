"""The paper executor: simulated matching against the live order book, driven by market events.

The order manager hands it orders that passed risk (`submit`), the engine feeds it `on_trade`,
`on_book` and `on_funding`, and it reports fills, status changes, funding settlements and liquidations
back through the manager (its ExecutionSink). Nothing here touches the database or the portfolio.

Matching model (documented choices):
- MARKET orders walk the opposite side of the current book level by level (taker fee). When depth runs
  out the remainder is CANCELLED with the reason "book depth exhausted" (IOC semantics); with option
  `market_remainder = "rest"` it rests instead as a limit at the last price walked. Paper fills do
  not change the live book, so liquidity taken is remembered per level until the next book update.
- LIMIT orders that cross on arrival take liquidity up to their price (taker), the rest rests. A
  post-only order that would cross is REJECTED. A resting order's queue position is the size resting
  at its price when it was placed (we join the back). Trades AT our price use up the queue ahead and
  then fill us (maker fee); a trade THROUGH our price fills the whole remainder at our price, since
  price priority means our level was cleared first. Book size decreases at our level that are not
  explained by trades are cancellations: with `queue_model = "pro_rata"` (default) they shrink the
  queue ahead in proportion ahead/level size; with "worst_case" they are assumed to be behind us.
- Time in force (the order manager validates it; see trading/orders.py): an IOC limit order takes
  what the book offers up to its price at placement and the rest is EXPIRED ("ioc: filled X of Y");
  a FOK limit order first checks, without taking anything, that the book holds its whole amount up to
  its price: then it fills like any crossing order, else it is EXPIRED with no fill. Both are matched
  only against the book at placement: neither ever rests nor waits for trades. A GTT order rests like
  GTC; the manager cancels it at its expiry (market time) and records that as EXPIRED.
- STOP orders trigger when a trade touches the stop price (buy: trade >= stop, sell: trade <= stop) and
  then execute as a market order (STOP) or a limit at `price` (STOP_LIMIT). A stop that would trigger
  at once (the last trade is already through it) is rejected, as exchanges do.
- Funding: at a settled Funding event on a perpetual (symbol with ':') the manager is told to settle
  position * mark * rate (longs pay a positive rate). Mark = the event's mark, else the last trade.
- Margin: an order whose added exposure needs more initial margin (notional / leverage; spot 1x)
  than the account has available is REJECTED "insufficient margin" when it first executes.
- Liquidation: linear perpetual, isolated margin at the position's leverage; when a trade reaches the
  liquidation price (trading.portfolio.liquidation_price) the position is closed there, taker fee.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from virtuoso_tui.model import Fill, Funding, Order, OrderStatus, OrderType, Trade
from virtuoso_tui.trading.bookview import level_size, walk
from virtuoso_tui.trading.executor import Executor
from virtuoso_tui.trading.portfolio import MAINTENANCE_MARGIN_RATE, liquidation_price

#: Levels read from the book per match (the market OrderBook keeps at most 500 by default).
DEPTH_LEVELS = 1000


@dataclass(slots=True)
class _Resting:
    order: Order
    remaining: float
    ahead: float = 0.0        # base size queued ahead of us at our price
    level_seen: float = 0.0   # our level's size at the last book we saw
    traded: float = 0.0       # volume traded at our price since that book (already taken off `ahead`)
    fills: int = 0


@dataclass(slots=True)
class _Market:
    book: Any = None
    last: float | None = None
    ts: int = 0
    consumed: dict[float, float] = field(default_factory=dict)


class PaperExecutor(Executor):
    name: ClassVar[str] = "paper"
    description: ClassVar[str] = "simulated matching against the live order book"
    volatile: ClassVar[bool] = True
    defaults: ClassVar[dict[str, Any]] = {
        "maker_fee": 0.0002, "taker_fee": 0.0005, "queue_model": "pro_rata",
        "market_remainder": "cancel", "mmr": MAINTENANCE_MARGIN_RATE,
    }

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        opts = {k: v for k, v in (options or {}).items() if k in self.defaults}
        super().__init__({**self.defaults, **opts})
        o = self.options
        if o["queue_model"] not in ("pro_rata", "worst_case"):
            raise ValueError(f"[paper] queue_model must be 'pro_rata' or 'worst_case', not {o['queue_model']!r}")
        if o["market_remainder"] not in ("cancel", "rest"):
            raise ValueError(f"[paper] market_remainder must be 'cancel' or 'rest', not {o['market_remainder']!r}")
        self.maker_fee = float(o["maker_fee"])
        self.taker_fee = float(o["taker_fee"])
        self._markets: dict[str, _Market] = {}
        self._resting: dict[str, _Resting] = {}   # live limit orders
        self._stops: dict[str, _Resting] = {}     # untriggered stop orders

    # -- Executor API -------------------------------------------------------------------------------
    def open_ids(self) -> set[str]:
        return set(self._resting) | set(self._stops)

    def submit(self, order: Order) -> None:
        r = _Resting(order, order.remaining)
        m = self._market(order.symbol)
        if order.type in (OrderType.STOP, OrderType.STOP_LIMIT):
            if m.last is not None and self._stop_hit(order, m.last):
                self._status(order, OrderStatus.REJECTED, f"stop {order.stop_price:g} would trigger at once "
                                                          f"(last trade {m.last:g})")
                return
            self._stops[order.client_id] = r
            return
        self._execute(r, order.price if order.type is OrderType.LIMIT else None, max(order.updated_ts, m.ts))

    def cancel(self, client_id: str) -> bool:
        r = self._resting.pop(client_id, None) or self._stops.pop(client_id, None)
        if r is None:
            return False
        self._status(r.order, OrderStatus.CANCELLED, "cancelled")
        return True

    def on_book(self, book: Any) -> None:
        m = self._market(book.symbol)
        m.book = book
        m.ts = max(m.ts, int(getattr(book, "ts", 0) or 0))
        m.consumed.clear()
        if not getattr(book, "valid", True):
            return  # a resyncing book says nothing about the queue; keep the last estimate
        for r in self._resting.values():
            if r.order.symbol != book.symbol:
                continue
            size = level_size(self._own_side(book, r.order.side), r.order.price)
            cancelled = r.level_seen - size - r.traded
            if cancelled > 0 and r.level_seen > 0 and self.options["queue_model"] == "pro_rata":
                r.ahead -= cancelled * r.ahead / r.level_seen
            r.ahead = min(max(r.ahead, 0.0), size)
            r.level_seen, r.traded = size, 0.0

    def on_trade(self, trade: Trade) -> None:
        m = self._market(trade.symbol)
        m.last, m.ts = trade.price, max(m.ts, trade.ts)
        resting = [(c, r) for c, r in self._resting.items() if r.order.symbol == trade.symbol]
        if self._stops:
            for cid, r in list(self._stops.items()):
                if r.order.symbol == trade.symbol and self._stop_hit(r.order, trade.price):
                    del self._stops[cid]
                    self._execute(r, r.order.price if r.order.type is OrderType.STOP_LIMIT else None,
                                  trade.ts, fallback_price=trade.price)
        for cid, r in resting:  # stops triggered by this trade are not matched against it again
            o = r.order
            if cid not in self._resting:
                continue
            through = trade.price < o.price if o.side == "buy" else trade.price > o.price
            if through:
                self._fill(r, r.remaining, o.price, trade.ts, "maker")
            elif trade.price == o.price and trade.side != o.side:
                r.traded += trade.amount
                left = trade.amount - r.ahead
                r.ahead = max(r.ahead - trade.amount, 0.0)
                if left > 0:
                    self._fill(r, min(left, r.remaining), o.price, trade.ts, "maker")
            if r.remaining <= 1e-12:
                self._resting.pop(cid, None)
        self._check_liquidation(trade)

    def on_funding(self, funding: Funding) -> None:
        if not funding.settled or ":" not in funding.symbol or self.sink is None:
            return
        mark = funding.mark or self._market(funding.symbol).last
        if mark is None:
            return
        self.sink.report_funding(funding.symbol, funding.ts, funding.rate, mark)

    # -- matching -----------------------------------------------------------------------------------
    def _execute(self, r: _Resting, limit: float | None, ts: int, fallback_price: float | None = None) -> None:
        """Take liquidity for `r` (up to `limit`), then rest, cancel or reject the remainder."""
        o = r.order
        m = self._market(o.symbol)
        book = m.book
        if book is None and fallback_price is None and limit is None:
            self._status(o, OrderStatus.REJECTED, f"no order book for {o.symbol} yet")
            return
        opposite = self._opposite_side(book, o.side) if book is not None else np.empty((0, 2))
        est = limit if limit is not None else (float(opposite[0, 0]) if opposite.size else fallback_price)
        if est is not None and self.sink is not None and r.fills == 0:
            short = self.sink.margin_shortfall(o.symbol, o.side, r.remaining, est)
            if short > 1e-9:
                self._status(o, OrderStatus.REJECTED, f"insufficient margin: {short:,.2f} more is needed")
                return
        if o.post_only and opposite.size and self._crosses(o.side, limit, float(opposite[0, 0])):
            self._status(o, OrderStatus.REJECTED, f"post-only {o.side} at {limit:g} would cross the book")
            return
        tif = o.time_in_force
        if tif == "fok":
            # a dry run on a copy of what paper fills took: the book must hold all of it up to the limit
            can, _, _ = walk(opposite, r.remaining, limit, o.side, dict(m.consumed))
            if can < r.remaining * (1 - 1e-9):
                self._status(o, OrderStatus.EXPIRED, f"fok: the book holds {can:g} of {r.remaining:g} up to {limit:g}")
                return
        filled, cost, _ = walk(opposite, r.remaining, limit, o.side, m.consumed)
        if filled == 0 and book is None and fallback_price is not None and limit is None:
            filled, cost = r.remaining, r.remaining * fallback_price  # a triggered stop with no book
        if filled > 0:
            self._fill(r, filled, cost / filled, ts, "taker")
        if r.remaining <= 1e-12:
            return
        if tif in ("ioc", "fok"):  # fok reaches here only through float dust
            self._status(o, OrderStatus.EXPIRED, f"{tif}: filled {o.amount - r.remaining:g} of {o.amount:g}")
            return
        if limit is None:
            if self.options["market_remainder"] == "rest" and filled > 0:
                limit = float(opposite[-1, 0])  # the depth is used up: rest at the worst price walked
            else:
                why = "book depth exhausted" if filled > 0 else f"no {('asks' if o.side == 'buy' else 'bids')} in the book"
                status = OrderStatus.CANCELLED if filled > 0 else OrderStatus.REJECTED
                self._status(o, status, f"{why}: filled {o.amount - r.remaining:g} of {o.amount:g}")
                return
        self._rest(r, limit)

    def _rest(self, r: _Resting, price: float) -> None:
        if r.order.price != price:
            r.order.price = price
        book = self._market(r.order.symbol).book
        size = level_size(self._own_side(book, r.order.side), price) if book is not None else 0.0
        r.ahead = r.level_seen = size
        r.traded = 0.0
        self._resting[r.order.client_id] = r

    def _fill(self, r: _Resting, amount: float, price: float, ts: int, liquidity: str) -> None:
        if amount <= 0 or self.sink is None:
            return
        amount = min(amount, r.remaining)
        r.remaining -= amount
        r.fills += 1
        rate = self.maker_fee if liquidity == "maker" else self.taker_fee
        fill = Fill(r.order.client_id, r.order.symbol, r.order.side, ts, price, amount, price * amount * rate,
                    liquidity, f"{r.order.client_id}-{ts}-{r.fills}")  # type: ignore[arg-type]
        self.sink.report_fill(fill)

    def _status(self, order: Order, status: OrderStatus, reason: str) -> None:
        if self.sink is not None:
            self.sink.report_status(order.client_id, status, reason)

    def _check_liquidation(self, trade: Trade) -> None:
        if ":" not in trade.symbol or self.sink is None:
            return
        pos = self.sink.position_of(trade.symbol)
        if pos is None or not pos.amount or pos.leverage <= 1:
            return
        liq = liquidation_price(pos.entry_price, pos.amount, pos.leverage, float(self.options["mmr"]))
        if liq is None or (trade.price > liq if pos.amount > 0 else trade.price < liq):
            return
        for cid, r in list(self._resting.items()):  # the venue cancels the position's orders first
            if r.order.symbol == trade.symbol:
                self.cancel(cid)
        self.sink.report_liquidation(trade.symbol, trade.ts, liq, -pos.amount, abs(pos.amount) * liq * self.taker_fee)

    # -- helpers ------------------------------------------------------------------------------------
    def _market(self, symbol: str) -> _Market:
        m = self._markets.get(symbol)
        if m is None:
            m = self._markets[symbol] = _Market()
        return m

    @staticmethod
    def _stop_hit(order: Order, price: float) -> bool:
        return price >= order.stop_price if order.side == "buy" else price <= order.stop_price

    @staticmethod
    def _crosses(side: str, limit: float | None, best_opposite: float) -> bool:
        return limit is not None and (limit >= best_opposite if side == "buy" else limit <= best_opposite)

    @staticmethod
    def _opposite_side(book: Any, side: str) -> np.ndarray:
        return book.asks(DEPTH_LEVELS) if side == "buy" else book.bids(DEPTH_LEVELS)

    @staticmethod
    def _own_side(book: Any, side: str) -> np.ndarray:
        return book.bids(DEPTH_LEVELS) if side == "buy" else book.asks(DEPTH_LEVELS)
