"""The order manager: the one door every order goes through (keyboard, stdin, strategy, algorithm,
plugin), and the explicit order state machine.

    new -> submitted -> partially_filled -> filled | cancelled | expired
    new -> rejected;  submitted -> filled | cancelled | rejected | expired

`submit(intent)` gives the order a deterministic client id (session prefix + counter, so a replay or a
backtest produces the same ids), runs sizing then EVERY risk rule (strictest wins; a reject from a
`halts` rule halts trading), and only then hands it to an executor. Every transition is written to the
journal (trading/journal.py; virtuoso_tui.storage in the app) BEFORE it is acted on: before the
executor sees the order, before a fill moves the portfolio or is announced. `restore()` rebuilds open
orders, fills, positions and cash from the journal after a crash; `reconcile()` compares with what the
executors hold. Timestamps come from `now()` (market time), never the wall clock.

Time in force (Order.time_in_force; EXPIRED is reached from submitted or partially_filled only):
  gtc  rests until filled or cancelled (the default).
  ioc  immediate or cancel, limit orders only: fills what the book offers at placement up to the
       limit; the rest EXPIRES (Binance reports an IOC remainder as EXPIRED; a venue that says
       "cancelled" for it is recorded as EXPIRED too, here, whatever the executor's word).
  fok  fill or kill, limit orders only: fills ALL of it at placement, or EXPIRES with no fill.
  gtt  good till time: rests (limit, stop, stop-limit) until `expire_ts`, in MARKET time. The desk
       calls `expire_due()` at the start of every market event, before the executors see it, so an
       order expires at the first event whose market time (the engine's clock, `now()`) has reached
       `expire_ts`, and a paper run and a backtest of the same data expire it at the same event. The
       expiry is journalled as requested, the executor cancels, and the cancel it reports is
       journalled as EXPIRED (a live venue without good-till-date is served the same way). A
       restart keeps `expire_ts` (storage schema v3) and the order still expires.
Refused with one sentence (REJECTED, nothing sent): ioc/fok on anything but a limit order, gtt on a
market order, post-only with ioc/fok (a post-only order must rest, these never do), a gtt without a
future `expire_ts`, an `expire_ts` on anything but gtt.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from virtuoso_tui.model import Alert, Fill, Order, OrderIntent, OrderStatus, OrderType, Position, RiskDecision
from virtuoso_tui.model.trading import TIME_IN_FORCE
from virtuoso_tui.risk.rule import RiskContext, RiskRule, combine
from virtuoso_tui.trading.executor import AmendNotSupported, Executor
from virtuoso_tui.trading.journal import OrderJournal, journal_atomic
from virtuoso_tui.trading.portfolio import Portfolio
from virtuoso_tui.trading.sizing import SizingError, size_by_equity

S = OrderStatus
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.NEW: frozenset({S.SUBMITTED, S.REJECTED}),
    S.SUBMITTED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED}),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED}),
    S.FILLED: frozenset(), S.CANCELLED: frozenset(), S.REJECTED: frozenset(), S.EXPIRED: frozenset(),
}
DAY_MS = 86_400_000
#: Size tolerance: a fill within this fraction of the order amount completes it (float dust).
_DUST = 1e-9


def _copy(o: Order) -> Order:
    """A snapshot of an order (for events and executors); positional, as dataclasses.replace is the
    single largest cost of the order path otherwise."""
    return Order(o.client_id, o.symbol, o.side, o.type, o.amount, o.price, o.stop_price, o.reduce_only,
                 o.post_only, o.status, o.filled, o.average_price, o.fee, o.exchange_id, o.executor,
                 o.origin, o.created_ts, o.updated_ts, o.reason, o.time_in_force, o.expire_ts)


class IllegalTransition(Exception):
    """An order was asked to move between states the state machine does not connect."""


def check_transition(old: OrderStatus, new: OrderStatus, client_id: str = "") -> None:
    if new not in TRANSITIONS[old]:
        raise IllegalTransition(f"order {client_id} cannot go from {old.value} to {new.value}")


@dataclass(slots=True)
class ReconcileReport:
    unknown: list[str] = field(default_factory=list)      # open at the executor, unknown to us
    missing: list[str] = field(default_factory=list)      # open here, not at the executor
    resubmitted: list[str] = field(default_factory=list)  # missing at a volatile (paper) executor, re-placed
    #: "SYMBOL: venue X, journal Y" for each symbol whose net position differs at the executor
    positions: list[str] = field(default_factory=list)


@dataclass(slots=True)
class RestoreReport:
    open_orders: list[str]
    fills: int
    positions: int
    interrupted: list[str]  # journalled NEW but never submitted before the crash: rejected now


Emit = Callable[[str, Any], None]


class OrderManager:
    def __init__(self, journal: OrderJournal, portfolio: Portfolio, executors: dict[str, Executor],
                 rules: list[RiskRule], now: Callable[[], int], *,
                 sizer: Callable[[OrderIntent, RiskContext], OrderIntent] | None = None,
                 session: str = "vt", default_executor: str = "paper", emit: Emit | None = None,
                 order_window_ms: int = 600_000) -> None:
        self.journal = journal
        self.portfolio = portfolio
        self.executors = dict(executors)
        self.rules = list(rules)
        self.now = now
        self.sizer = sizer
        self.session = session
        self.default_executor = default_executor
        self.emit: Emit = emit or (lambda topic, payload: None)
        self.orders: dict[str, Order] = {}
        self.open: dict[str, Order] = {}
        self.fill_listeners: list[Callable[[Fill, Order], None]] = []
        self.order_times: deque[int] = deque()
        self.order_window_ms = order_window_ms
        self._seq = 0
        self._fill_ids: set[str] = set()
        #: (expire_ts, client_id) of open gtt orders, soonest first (stale entries skipped when popped)
        self._expiries: list[tuple[int, str]] = []
        #: client ids whose expiry was asked of the executor: its cancel report becomes EXPIRED
        self._expiring: set[str] = set()
        #: (symbol, side) -> the price a market order would meet now (the touch), for sizing an
        #: intent's `equity_fraction`; None (or a None answer) falls back to the mark
        self.quote: Callable[[str, str], float | None] | None = None
        self.halted: str = journal.get_account("halt", "") or ""
        self.start_of_day_equity: float = journal.get_account("start_of_day_equity", portfolio.equity())
        self.peak_equity: float = journal.get_account("peak_equity", portfolio.equity())
        self._day: int | None = journal.get_account("day", None)
        for ex in self.executors.values():
            ex.bind(self)

    # -- ids and journal ----------------------------------------------------------------------------
    def next_client_id(self) -> str:
        self._seq += 1
        return f"{self.session}-{self._seq:06d}"

    def _write(self, order: Order, reason: str = "") -> None:
        self.journal.upsert_order(order)
        self.journal.append_order_event(order.client_id, order.updated_ts, order.status.value, order.filled,
                                        order.average_price, reason or order.reason)

    def _transition(self, order: Order, status: OrderStatus, reason: str = "") -> None:
        """Journal the new state, then apply it in memory and announce it."""
        check_transition(order.status, status, order.client_id)
        new = _copy(order)
        new.status, new.updated_ts, new.reason = status, self.now(), reason or order.reason
        self._write(new, reason)
        order.status, order.updated_ts, order.reason = new.status, new.updated_ts, new.reason
        if status.is_terminal:
            self.open.pop(order.client_id, None)
        self.emit("order", _copy(order))

    # -- the door -----------------------------------------------------------------------------------
    def submit(self, intent: OrderIntent, executor: str | None = None) -> Order:
        """Size, risk-check and send one intent. Returns the Order (REJECTED with a reason when refused).
        Submitting a client id that exists returns that order and sends nothing (idempotent). An
        intent's `equity_fraction` is resolved into its amount first (`_size_by_equity`)."""
        if intent.client_id and intent.client_id in self.orders:
            return self.orders[intent.client_id]
        name = executor or self.default_executor
        ts = self.now()
        cid = intent.client_id or self.next_client_id()
        ctx = self.risk_context()
        problem = ""
        if intent.equity_fraction is not None:
            intent, problem = self._size_by_equity(intent, name, ctx)
        problem = problem or self._validate(intent, name)
        if not problem and intent.reduce_only:
            intent, problem = self._clamp_reduce_only(intent)
        if not problem and self.sizer is not None:
            intent = self.sizer(intent, ctx)
            if not intent.amount > 0:
                problem = "sizing left nothing to trade"
        order = Order(cid, intent.symbol, intent.side, intent.type, intent.amount, intent.price,
                      intent.stop_price, intent.reduce_only, intent.post_only, executor=name,
                      origin=intent.origin, created_ts=ts, updated_ts=ts,
                      time_in_force=intent.time_in_force, expire_ts=intent.expire_ts)
        self._write(order)
        self.orders[cid] = order
        self.open[cid] = order
        self.emit("order", _copy(order))
        if problem:
            self._transition(order, S.REJECTED, problem)
            self.emit("error", {"message": problem, "client_id": cid})
            return order
        decision = self.check_risk(intent, ctx)
        if decision.action == "reject":
            self._transition(order, S.REJECTED, f"{decision.rule}: {decision.reason}")
            self.emit("error", {"message": f"{decision.rule}: {decision.reason}", "client_id": cid})
            return order
        reason = ""
        if decision.action == "resize" and decision.amount is not None:
            order.amount = decision.amount
            reason = f"resized by {decision.rule}: {decision.reason}"
        self._transition(order, S.SUBMITTED, reason)
        self.order_times.append(ts)
        if order.expire_ts is not None:
            heapq.heappush(self._expiries, (order.expire_ts, cid))
        self.executors[name].submit(_copy(order))
        return order

    def _validate(self, intent: OrderIntent, executor: str) -> str:
        if executor not in self.executors:
            return f"no executor named {executor!r} (have: {', '.join(self.executors)})"
        if not (math.isfinite(intent.amount) and intent.amount > 0):
            return f"the order amount must be positive, not {intent.amount:g}"
        if intent.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and not (intent.price or 0) > 0:
            return f"a {intent.type.value} order needs a positive price"
        if intent.type in (OrderType.STOP, OrderType.STOP_LIMIT) and not (intent.stop_price or 0) > 0:
            return f"a {intent.type.value} order needs a positive stop price"
        return self._validate_tif(intent)

    def _validate_tif(self, intent: OrderIntent) -> str:
        tif = intent.time_in_force
        if tif not in TIME_IN_FORCE:
            return f"time in force must be one of {', '.join(TIME_IN_FORCE)}, not {tif!r}"
        if tif in ("ioc", "fok"):
            if intent.type is not OrderType.LIMIT:
                return f"{tif} applies only to limit orders, not to a {intent.type.value} order"
            if intent.post_only:
                return f"post-only and {tif} contradict each other: a post-only order must rest, an {tif} order never does"
        if tif == "gtt":
            if intent.type is OrderType.MARKET:
                return "good-till-time applies only to orders that rest (limit, stop, stop-limit), not to a market order"
            if intent.expire_ts is None or intent.expire_ts <= self.now():
                return "a good-till-time order needs an expiry time after the current market time"
        elif intent.expire_ts is not None:
            return f"an expiry time needs time in force gtt, not {tif}"
        return ""

    def _size_by_equity(self, intent: OrderIntent, executor: str, ctx: RiskContext) -> tuple[OrderIntent, str]:
        """Resolve `equity_fraction` at the price the order will meet (its limit or stop price, else the
        `quote` hook's touch, else the mark) with the executor's taker fee fitting inside the equity."""
        price = intent.price if intent.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
        if price is None and self.quote is not None:
            price = self.quote(intent.symbol, intent.side)
        if price is None:
            price = intent.stop_price if intent.type is OrderType.STOP else ctx.mark(intent.symbol)
        fee = float(getattr(self.executors.get(executor), "taker_fee", 0.0) or 0.0)
        try:
            return size_by_equity(intent, ctx.equity, price, fee), ""
        except SizingError as exc:
            return intent, str(exc)

    def _clamp_reduce_only(self, intent: OrderIntent) -> tuple[OrderIntent, str]:
        pos = self.portfolio.positions.get(intent.symbol)
        held = pos.amount if pos is not None else 0.0
        if held == 0 or (held > 0) == (intent.side == "buy"):
            return intent, f"reduce-only {intent.side} has no {intent.symbol} position to reduce"
        return intent.with_amount(min(intent.amount, abs(held))), ""

    def check_risk(self, intent: OrderIntent, ctx: RiskContext) -> RiskDecision:
        """Every rule sees the sized intent; the strictest verdict wins. A rule that raises rejects
        (fail closed). A reject from a `halts` rule halts trading until reset_halt()."""
        if self.halted and not intent.reduce_only:
            return RiskDecision.reject("halt", f"trading is halted ({self.halted}); 'risk reset' lifts it")
        decisions = []
        for rule in self.rules:
            try:
                decisions.append(rule.check(intent, ctx))
            except Exception as exc:  # noqa: BLE001 - a broken rule must not let orders through
                decisions.append(RiskDecision.reject(rule.name, f"rule failed: {exc}"))
        d = combine(decisions, intent.amount)
        if d.action == "reject":
            rule = next((r for r in self.rules if r.name == d.rule), None)
            if rule is not None and rule.halts and not intent.reduce_only:
                self.set_halt(f"{d.rule}: {d.reason}")
        return d

    def alert(self, level: str, message: str, source: str = "trading", symbol: str | None = None) -> Alert:
        return Alert(self.now(), level, message, source, symbol)  # type: ignore[arg-type]

    def set_halt(self, reason: str) -> None:
        self.journal.set_account("halt", reason)
        self.halted = reason
        self.emit("alert", self.alert(**{"level": "error", "message": f"trading halted: {reason}", "source": "risk"}))

    def reset_halt(self) -> None:
        self.journal.set_account("halt", "")
        self.halted = ""
        eq = self.portfolio.equity()
        self.start_of_day_equity = self.peak_equity = eq
        self.journal.set_account("start_of_day_equity", eq)
        self.journal.set_account("peak_equity", eq)

    def expire_due(self, now: int | None = None) -> list[Order]:
        """Expire every open gtt order whose `expire_ts` market time (default `now()`) has reached.
        The request is journalled first, then the executor cancels; its cancel report is journalled
        as EXPIRED (report_status). An order the executor no longer holds is expired here. Cheap when
        nothing is due (a heap peek), so the desk calls it on every market event."""
        ts = self.now() if now is None else now
        due: list[Order] = []
        heap = self._expiries
        while heap and heap[0][0] <= ts:
            expire_ts, cid = heapq.heappop(heap)
            order = self.orders.get(cid)
            if order is None or order.status.is_terminal or order.expire_ts != expire_ts or cid in self._expiring:
                continue  # stale: finished, or its expiry changed
            self.journal.append_order_event(cid, ts, order.status.value, order.filled, order.average_price,
                                            f"expiry due at {expire_ts}")
            self._expiring.add(cid)
            executor = self.executors.get(order.executor)
            if executor is None or not executor.cancel(cid):
                if order.status.is_open:
                    self._transition(order, S.EXPIRED, f"expired at {expire_ts} (not open at the executor)")
                self._expiring.discard(cid)
            due.append(order)
        return due

    def cancel(self, client_id: str) -> Order:
        """Ask the executor to cancel; the CANCELLED state comes back through report_status."""
        order = self.orders.get(client_id)
        if order is None:
            raise KeyError(f"no order with id {client_id!r}")
        if order.status.is_terminal:
            raise IllegalTransition(f"order {client_id} is already {order.status.value}")
        self.journal.append_order_event(client_id, self.now(), order.status.value, order.filled,
                                        order.average_price, "cancel requested")
        if not self.executors[order.executor].cancel(client_id) and order.status.is_open:
            # The executor no longer holds it (e.g. lost on restart): cancel our record too.
            self._transition(order, S.CANCELLED, "not open at the executor")
        return order

    def cancel_all(self, symbol: str | None = None) -> list[Order]:
        return [self.cancel(o.client_id) for o in list(self.open.values())
                if symbol is None or o.symbol == symbol]

    def amend(self, client_id: str, price: float | None = None, amount: float | None = None) -> Order:
        """Change an open order's limit price and/or total amount. The new values pass validation and
        every risk rule as the intent they make (the unfilled rest at the new price), are journalled,
        and only then go to the executor; the venue's answer comes back through report_amend.
        KeyError for an unknown id; ValueError (one sentence) for anything refused, nothing sent."""
        order = self.orders.get(client_id)
        if order is None:
            raise KeyError(f"no order with id {client_id!r}")
        if not order.status.is_open:
            raise ValueError(f"order {client_id} is already {order.status.value}; only open orders can be amended")
        if price is None and amount is None:
            raise ValueError("amend needs a new price, a new amount, or both")
        if price is not None:
            if order.type not in (OrderType.LIMIT, OrderType.STOP_LIMIT):
                raise ValueError(f"order {client_id} is a {order.type.value} order and has no limit price to amend")
            if not (math.isfinite(price) and price > 0):
                raise ValueError(f"the new price must be positive, not {price:g}")
        if amount is not None and not (math.isfinite(amount) and amount > order.filled * (1 + _DUST)):
            raise ValueError(f"the new amount must be more than the {order.filled:g} already filled, not {amount:g}")
        new_price = order.price if price is None else price
        new_amount = order.amount if amount is None else amount
        intent = OrderIntent(order.symbol, order.side, new_amount - order.filled, order.type, new_price,
                             order.stop_price, order.reduce_only, order.post_only, order.origin)
        decision = self.check_risk(intent, self.risk_context())
        if decision.action == "reject" or (decision.action == "resize" and decision.amount is not None
                                           and decision.amount < intent.amount * (1 - _DUST)):
            raise ValueError(f"amend refused by {decision.rule}: {decision.reason}")
        executor = self.executors[order.executor]
        new = _copy(order)
        new.price, new.amount, new.updated_ts = new_price, new_amount, self.now()
        new.reason = f"amended: price {new_price:g}, amount {new_amount:g}"
        self._write(new)  # journal first: a crash after this leaves the intent on record
        try:
            ok = executor.amend(client_id, price=price, amount=amount)
        except AmendNotSupported as exc:
            self._write(order, f"amend not sent: {exc}")  # the journal goes back to what is true
            raise ValueError(str(exc)) from None
        if not ok:
            self._write(order, "amend not sent: not open at the executor")
            raise ValueError(f"order {client_id} is not open at the {order.executor} executor")
        order.price, order.amount, order.updated_ts, order.reason = new.price, new.amount, new.updated_ts, new.reason
        self.emit("order", _copy(order))
        return order

    def report_amend(self, client_id: str, price: float | None, amount: float, reason: str = "") -> None:
        """The venue's view of an amended order (ExecutionSink): when it differs from ours (a refused
        or partly applied amend), the venue's price and amount are journalled and announced."""
        order = self.orders.get(client_id)
        if order is None or (order.price == price and abs(order.amount - amount) <= _DUST * max(amount, 1.0)):
            return
        order.price, order.amount, order.updated_ts = price, amount, self.now()
        order.reason = reason or order.reason
        self._write(order, reason)
        if reason:
            self.emit("alert", self.alert(**{"level": "warning", "source": "amend", "symbol": order.symbol,
                                             "message": f"order {client_id}: {reason}"}))
        self.emit("order", _copy(order))

    # -- reports from executors (ExecutionSink) ------------------------------------------------------
    def report_status(self, client_id: str, status: OrderStatus, reason: str = "") -> None:
        order = self.orders[client_id]
        if status is S.CANCELLED:
            if client_id in self._expiring:  # the cancel we asked for at expire_ts
                status, reason = S.EXPIRED, f"good till {order.expire_ts}: expired"
            elif order.time_in_force in ("ioc", "fok"):  # the venue's word for an unfilled remainder
                status = S.EXPIRED
        if order.status is status and status is not S.PARTIALLY_FILLED:
            return
        self._transition(order, status, reason)
        if status.is_terminal:
            self._expiring.discard(client_id)

    def report_fill(self, fill: Fill) -> None:
        order = self.orders.get(fill.client_id)
        if order is None:
            self.emit("error", {"message": f"fill for unknown order {fill.client_id}", "fill_id": fill.fill_id})
            return
        if fill.fill_id and fill.fill_id in self._fill_ids:
            return
        filled = order.filled + fill.amount
        avg = ((order.average_price or 0.0) * order.filled + fill.price * fill.amount) / filled
        status = S.FILLED if filled >= order.amount * (1 - _DUST) else S.PARTIALLY_FILLED
        check_transition(order.status, status, order.client_id)
        if not fill.fill_id:
            fill = replace(fill, fill_id=f"{order.client_id}-{len(self._fill_ids) + 1}")
        new = _copy(order)
        new.status, new.filled, new.average_price, new.fee, new.updated_ts = status, filled, avg, order.fee + fill.fee, fill.ts
        with journal_atomic(self.journal):
            self.journal.insert_fill(fill)
            self._write(new)
            self.portfolio.apply_fill(fill)
            pos = self.portfolio.positions[fill.symbol]
            self.journal.upsert_position(pos, fill.ts)
            self.journal.set_account("cash", self.portfolio.cash)
        self._fill_ids.add(fill.fill_id)
        order.status, order.filled, order.average_price = new.status, new.filled, new.average_price
        order.fee, order.updated_ts = new.fee, new.updated_ts
        if status.is_terminal:
            self.open.pop(order.client_id, None)
        self.emit("fill", fill)
        self.emit("order", _copy(order))
        self.emit("position", replace(pos))
        for listener in self.fill_listeners:
            listener(fill, order)

    def report_funding(self, symbol: str, ts: int, rate: float, mark: float) -> None:
        pos = self.portfolio.positions.get(symbol)
        if pos is None or not pos.amount:
            return
        with journal_atomic(self.journal):
            payment = self.portfolio.apply_funding(symbol, rate, mark)
            self.journal.upsert_position(pos, ts)
            self.journal.set_account("cash", self.portfolio.cash)
        self.emit("position", replace(pos))
        self.emit("alert", self.alert(**{"level": "info", "source": "funding", "symbol": symbol,
                            "message": f"funding {symbol}: {'paid' if payment > 0 else 'received'} "
                                       f"{abs(payment):.4f} at rate {rate:.6f}"}))

    def report_liquidation(self, symbol: str, ts: int, price: float, amount: float, fee: float) -> None:
        """The venue closed `amount` (signed: the ORDER's side sign) of a position: record it as an
        order of origin 'liquidation' that never passed risk (the venue did it, not us)."""
        side = "buy" if amount > 0 else "sell"
        order = Order(self.next_client_id(), symbol, side, OrderType.MARKET, abs(amount), reduce_only=True,
                      executor="venue", origin="liquidation", created_ts=ts, updated_ts=ts)
        self._write(order)
        self.orders[order.client_id] = order
        self.open[order.client_id] = order
        self._transition(order, S.SUBMITTED, "liquidated")
        self.report_fill(Fill(order.client_id, symbol, side, ts, price, abs(amount), fee, "taker"))
        self.emit("alert", self.alert(**{"level": "error", "source": "paper", "symbol": symbol,
                            "message": f"{symbol} position liquidated at {price:g}"}))

    def position_of(self, symbol: str) -> Position | None:
        return self.portfolio.positions.get(symbol)

    def margin_shortfall(self, symbol: str, side: str, amount: float, price: float) -> float:
        return self.portfolio.margin_shortfall(symbol, side, amount, price)

    # -- context, equity, recovery ------------------------------------------------------------------
    def risk_context(self) -> RiskContext:
        now = self.now()
        while self.order_times and self.order_times[0] < now - self.order_window_ms:
            self.order_times.popleft()
        pf = self.portfolio
        eq = pf.equity()
        held = [s for s, p in pf.positions.items() if p.amount]
        returns = {s: pf.symbol_returns(s, 200).tolist() for s in set(held) | set(pf.marks)} if held else {}
        return RiskContext(now, eq, self.start_of_day_equity, max(self.peak_equity, eq), pf.positions,
                           pf.marks, list(self.order_times), returns, self.halted)

    def update_equity(self, ts: int) -> float:
        """Sample equity at market time `ts`: journal it, roll the trading day, track the peak."""
        eq = self.portfolio.record_equity(ts)
        day = ts // DAY_MS
        with journal_atomic(self.journal):
            self.journal.write_equity(ts, eq)
            if day != self._day:
                self._day, self.start_of_day_equity = day, eq
                self.journal.set_account("day", day)
                self.journal.set_account("start_of_day_equity", eq)
            if eq > self.peak_equity:
                self.peak_equity = eq
                self.journal.set_account("peak_equity", eq)
        if not self.halted:
            self._watch_halting_rules()
        return eq

    def _watch_halting_rules(self) -> None:
        """Halt as soon as a halting rule (daily loss, drawdown) is breached, not only at the next
        order: their verdict depends on equity, so a probe intent of zero size asks them."""
        halting = [r for r in self.rules if r.halts]
        if not halting:
            return
        ctx = self.risk_context()
        probe = OrderIntent("*", "buy", 0.0, origin="monitor")
        for rule in halting:
            try:
                d = rule.check(probe, ctx)
            except Exception:  # noqa: BLE001 - check_risk reports a broken rule at the next order
                continue
            if d.action == "reject":
                self.set_halt(f"{rule.name}: {d.reason}")
                return

    def restore(self) -> RestoreReport:
        """Rebuild orders, open orders, positions and cash from the journal (after a crash)."""
        orders = self.journal.orders()
        self.orders = {o.client_id: o for o in orders}
        self.open = {o.client_id: o for o in orders if o.status.is_open}
        prefix = f"{self.session}-"
        seqs = [int(c[len(prefix):]) for c in self.orders if c.startswith(prefix) and c[len(prefix):].isdigit()]
        self._seq = max(seqs, default=0)
        fills = self.journal.fills()
        self._fill_ids = {f.fill_id for f in fills}
        cash = self.journal.get_account("cash", self.portfolio.cash)
        scratch = Portfolio(0.0)
        for f in fills:  # trade statistics (for Kelly) are derived, not stored
            scratch.apply_fill(f)
        positions = self.journal.positions()
        if isinstance(positions, dict):  # Storage returns {symbol: Position}
            positions = list(positions.values())
        self.portfolio.restore(positions, cash)
        self.portfolio.stats = scratch.stats
        self.halted = self.journal.get_account("halt", "") or ""
        self._expiring = set()
        self._expiries = [(o.expire_ts, o.client_id) for o in self.open.values()
                          if o.expire_ts is not None and o.status is not S.NEW]
        heapq.heapify(self._expiries)
        interrupted = [o.client_id for o in self.open.values() if o.status is S.NEW]
        for cid in interrupted:
            self._transition(self.orders[cid], S.REJECTED, "interrupted before submission")
        return RestoreReport(sorted(self.open), len(fills), len(self.portfolio.open_positions()), interrupted)

    def reconcile(self, executor: str | None = None) -> ReconcileReport:
        """Compare our open orders with each executor's. A volatile (paper) executor lost its book on
        restart, so our open orders are re-placed there; elsewhere differences are surfaced as alerts."""
        report = ReconcileReport()
        for name, ex in self.executors.items():
            if executor is not None and name != executor:
                continue
            theirs = ex.open_ids()
            ours = {c for c, o in self.open.items() if o.executor == name and o.status is not S.NEW}
            report.unknown += sorted(theirs - ours)
            for cid in sorted(ours - theirs):
                if ex.volatile:
                    ex.submit(_copy(self.orders[cid]))
                    report.resubmitted.append(cid)
                else:
                    report.missing.append(cid)
            report.positions += self._position_differences(ex)
        for cid in report.unknown + report.missing:
            self.emit("alert", self.alert(**{"level": "warning", "source": "reconcile",
                                "message": f"order {cid} differs between the journal and the executor"}))
        for diff in report.positions:
            self.emit("alert", self.alert(**{"level": "warning", "source": "reconcile",
                                "message": f"position {diff}: the venue's position is not the journal's"}))
        return report

    def _position_differences(self, ex: Executor) -> list[str]:
        """Symbols whose venue position (the executor's `positions()`) is not ours, beyond rounding
        (a millionth of the larger size). Surfaced, never corrected silently: the trader decides."""
        venue = ex.positions()
        if venue is None:
            return []
        out = []
        for symbol, theirs in sorted(venue.items()):
            held = self.portfolio.positions.get(symbol)
            ours = held.amount if held is not None else 0.0
            if abs(theirs - ours) > 1e-6 * max(abs(theirs), abs(ours)) + 1e-12:
                out.append(f"{symbol}: venue {theirs:+g}, journal {ours:+g}")
        return out
