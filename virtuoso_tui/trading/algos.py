"""Execution algorithms: TWAP, VWAP, iceberg and impact-aware splitting.

An algorithm is a parent order that sends child orders THROUGH THE ORDER MANAGER (so sizing and every
risk rule apply to each slice) with origin `algo:<id>`; the TradingDesk calls `on_tick(now, book)` on
market events and routes child fills to `on_fill`. Each reports progress, its average fill price
against the arrival price (the mid, else the mark, when it started) and the slippage in bps
(positive = worse than arrival for its side). Slices are released on the first tick at or after
their scheduled market time, so a replay releases the same slices at the same times. A slice the risk
rules refuse or the book cannot fill is carried into the next slice; the last slice takes what is left.

Durability: an algorithm's parent state (`state()`: kind, symbol, side, amount, constructor
`params()`, arrival, filled, slices decided, next slice time, status) is handed to `persist` (the
desk journals it) on start, BEFORE each child it decides is submitted, and after every fill and state
change. After a crash `restore_algo` rebuilds it from that row and its journaled children (origin
`algo:<id>`); fills, cost and fees are recomputed from the children, the journal of record. A
restored schedule resumes, it does not catch up: when the next slice's time passed while the
process was down, that slice goes out at the first market event after the restart and the slices
after it keep their spacing (the end moves back by the downtime), so the total and the slice count
are unchanged and no burst of missed slices hits the book at once.

Algorithms are not venues: they sit on top of an executor (`paper`, `live`). They are registered
by virtuoso_paper through `virtuoso_executors` next to PaperExecutor and told apart by the
ExecutionAlgo base class.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from virtuoso_tui.model import Fill, Order, OrderIntent, OrderType

Submit = Callable[[OrderIntent], Order]
CancelOrder = Callable[[str], Any]


def volume_profile(ts: np.ndarray, volume: np.ndarray, start_ts: int, duration_ms: int, slices: int,
                   period_ms: int = 86_400_000) -> np.ndarray:
    """Expected volume share of each of `slices` equal windows from `start_ts`, from history.

    Each historical candle (open time `ts`, ms) is placed by its time of day (mod `period_ms`) into the
    window it falls in; a window's weight is its mean volume. Windows no candle fell in get the mean
    of the others. Raises ValueError when no candle falls in any window (no history to follow).
    Returns weights summing to 1.
    """
    ts = np.asarray(ts, dtype=np.int64)
    volume = np.asarray(volume, dtype=np.float64)
    width = duration_ms / slices
    offset = (ts - start_ts) % period_ms
    idx = np.floor(offset / width).astype(np.int64)
    inside = (idx < slices) & np.isfinite(volume)
    sums = np.bincount(idx[inside], weights=volume[inside], minlength=slices)[:slices]
    counts = np.bincount(idx[inside], minlength=slices)[:slices]
    if counts.sum() == 0 or sums.sum() <= 0:
        raise ValueError("no volume history falls in the VWAP window; use twap instead")
    means = np.divide(sums, counts, out=np.zeros(slices), where=counts > 0)
    means[counts == 0] = means[counts > 0].mean()
    return means / means.sum()


class ExecutionAlgo:
    """Base class: schedule bookkeeping, fills, progress. Subclasses implement `on_tick`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def __init__(self, algo_id: str, symbol: str, side: str, amount: float, start_ts: int,
                 arrival_price: float, submit: Submit, cancel: CancelOrder, executor: str | None = None) -> None:
        if not amount > 0:
            raise ValueError(f"{self.name} needs a positive amount, got {amount!r}")
        if not (arrival_price > 0 and math.isfinite(arrival_price)):
            raise ValueError(f"{self.name} needs a market price to start; wait for market data")
        self.id, self.symbol, self.side, self.amount = algo_id, symbol, side, float(amount)
        self.start_ts, self.arrival = start_ts, float(arrival_price)
        self._submit, self._cancel, self.executor = submit, cancel, executor
        self.filled = 0.0
        self.cost = 0.0
        self.fees = 0.0
        self.sent = 0.0          # base amount of children sent and not refused
        self.children: list[str] = []
        self.open_children: set[str] = set()
        self.rejections: list[str] = []
        self.done = False
        self.cancelled = False
        self.decided = 0         # slices decided (journaled before each is submitted)
        #: called with the algo whenever its journaled state must be written (the desk sets it)
        self.persist: Callable[[ExecutionAlgo], None] | None = None

    @property
    def origin(self) -> str:
        return f"algo:{self.id}"

    @property
    def avg_price(self) -> float:
        return self.cost / self.filled if self.filled else float("nan")

    @property
    def slippage_bps(self) -> float:
        sign = 1.0 if self.side == "buy" else -1.0
        return sign * (self.avg_price - self.arrival) / self.arrival * 1e4 if self.filled else float("nan")

    @property
    def remaining(self) -> float:
        return max(self.amount - self.filled, 0.0)

    def progress(self) -> dict[str, Any]:
        return {"id": self.id, "algo": self.name, "symbol": self.symbol, "side": self.side,
                "amount": self.amount, "filled": self.filled, "progress": self.filled / self.amount,
                "avg_price": self.avg_price, "arrival": self.arrival, "slippage_bps": self.slippage_bps,
                "slices": len(self.children), "done": self.done, "rejections": list(self.rejections)}

    def params(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this algorithm (JSON values)."""
        return {}

    @property
    def next_ts(self) -> int | None:
        """Market time (ms) of the next scheduled slice; None when not time-driven."""
        return None

    @property
    def status(self) -> str:
        return "cancelled" if self.cancelled else "done" if self.done else "running"

    def state(self) -> dict[str, Any]:
        """The journaled parent state (params apart: they are written once, at start)."""
        return {"id": self.id, "kind": self.name, "symbol": self.symbol, "side": self.side,
                "amount": self.amount, "start_ts": int(self.start_ts), "arrival": self.arrival,
                "executor": self.executor, "filled": self.filled, "slices": self.decided,
                "next_ts": None if self.next_ts is None else int(self.next_ts), "status": self.status,
                "extra": {"rejections": list(self.rejections), **self._extra()}}

    def _extra(self) -> dict[str, Any]:
        return {}

    def _load(self, state: dict[str, Any], children: list[Order]) -> None:
        """Take a journaled state and the children it sent (oldest first) back after a restart."""
        self.decided = int(state.get("slices") or 0)
        self.rejections = list((state.get("extra") or {}).get("rejections", []))
        self.children = [o.client_id for o in children]
        self.open_children = {o.client_id for o in children if o.status.is_open}
        self.filled = sum(o.filled for o in children)
        self.cost = sum(o.filled * (o.average_price or 0.0) for o in children)
        self.fees = sum(o.fee for o in children)
        self.cancelled = state.get("status") == "cancelled"
        self.done = state.get("status") in ("done", "cancelled") or self.filled >= self.amount * (1 - 1e-9)

    def send(self, amount: float, type: OrderType = OrderType.MARKET, price: float | None = None) -> Order | None:
        amount = min(amount, self.amount - self.filled - self._open_amount())
        if amount <= 1e-12:
            return None
        self.decided += 1
        if self.persist is not None:  # the decision is on disk before the child exists
            self.persist(self)
        order = self._submit(OrderIntent(self.symbol, self.side, amount, type, price, origin=self.origin))  # type: ignore[arg-type]
        self.children.append(order.client_id)
        if order.status.is_open:
            self.open_children.add(order.client_id)
        elif order.filled == 0:
            self.rejections.append(order.reason)
        self._settle(order)
        return order

    def _open_amount(self) -> float:
        return 0.0  # children in flight are tracked by open_children; subclasses wait for them

    def on_fill(self, fill: Fill, order: Order) -> None:
        self.filled += fill.amount
        self.cost += fill.amount * fill.price
        self.fees += fill.fee
        self._settle(order)

    def on_order(self, order: Order) -> None:
        """A child changed state (cancelled / rejected by the executor)."""
        self._settle(order)

    def _settle(self, order: Order) -> None:
        if order.status.is_terminal:
            self.open_children.discard(order.client_id)
        if self.filled >= self.amount * (1 - 1e-9):
            self.done = True

    def stop(self) -> None:
        """Cancel: send nothing more and cancel children still open."""
        self.cancelled = self.done = True
        for cid in list(self.open_children):
            self._cancel(cid)

    def on_tick(self, now: int, book: Any) -> None:
        raise NotImplementedError


class TWAP(ExecutionAlgo):
    """`slices` market orders at start + i*duration/slices; equal sizes, shortfalls carried forward."""

    name: ClassVar[str] = "twap"
    description: ClassVar[str] = "equal market slices spread evenly over a duration"

    def __init__(self, *args: Any, duration_ms: int, slices: int | None = None,
                 weights: np.ndarray | None = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        n = slices or max(1, int(duration_ms // 60_000))
        if n < 1 or duration_ms <= 0:
            raise ValueError(f"{self.name} needs a positive duration and at least one slice")
        w = np.full(n, 1.0 / n) if weights is None else np.asarray(weights, dtype=np.float64)
        if len(w) != n or not np.all(w >= 0) or not w.sum() > 0:
            raise ValueError(f"{self.name} weights must be {n} non-negative numbers with a positive sum")
        self.weights = w / w.sum()
        self.times = self.start_ts + (np.arange(n) * (duration_ms / n)).astype(np.int64)
        self.targets = np.cumsum(self.weights) * self.amount  # cumulative amount due after slice i
        self.next = 0
        self.duration_ms = int(duration_ms)
        self._resuming = False

    def params(self) -> dict[str, Any]:
        return {"duration_ms": self.duration_ms, "slices": len(self.times), "weights": self.weights.tolist()}

    @property
    def next_ts(self) -> int | None:
        return int(self.times[self.next]) if self.next < len(self.times) else None

    def _extra(self) -> dict[str, Any]:
        return {"next": self.next, "times": [int(t) for t in self.times]}

    def _load(self, state: dict[str, Any], children: list[Order]) -> None:
        super()._load(state, children)
        extra = state.get("extra") or {}
        self.next = int(extra.get("next", 0))
        if "times" in extra and len(extra["times"]) == len(self.times):
            self.times = np.asarray(extra["times"], dtype=np.int64)  # an earlier resume's shift
        self._resuming = True

    def on_tick(self, now: int, book: Any) -> None:
        if self.done:
            return
        if self._resuming:  # first event after a restart: resume, do not catch up (module docstring)
            self._resuming = False
            if self.next < len(self.times) and now > self.times[self.next]:
                self.times[self.next:] += now - self.times[self.next]
        while self.next < len(self.times) and now >= self.times[self.next]:
            last = self.next == len(self.times) - 1
            due = self.amount if last else float(self.targets[self.next])
            self.next += 1  # advanced before the send, so the journaled decision names this slice
            self.send(due - self.filled)  # carries any shortfall of earlier slices
        if self.next >= len(self.times) and not self.open_children:
            self.done = True


class VWAP(TWAP):
    """TWAP's schedule with slice sizes following a volume profile (array, or candles via
    volume_profile)."""

    name: ClassVar[str] = "vwap"
    description: ClassVar[str] = "slices following the expected volume profile"

    def __init__(self, *args: Any, duration_ms: int, slices: int | None = None,
                 profile: np.ndarray | None = None, candles_ts: np.ndarray | None = None,
                 candles_volume: np.ndarray | None = None, **kw: Any) -> None:
        n = slices or max(1, int(duration_ms // 60_000))
        if profile is None:
            if candles_ts is None or candles_volume is None:
                raise ValueError("vwap needs a volume profile or candle history")
            start_ts = args[4] if len(args) > 4 else kw["start_ts"]
            profile = volume_profile(candles_ts, candles_volume, start_ts, duration_ms, n)
        super().__init__(*args, duration_ms=duration_ms, slices=n, weights=profile, **kw)

    def params(self) -> dict[str, Any]:
        return {"duration_ms": self.duration_ms, "slices": len(self.times), "profile": self.weights.tolist()}


class Iceberg(ExecutionAlgo):
    """A limit order at `price` showing `display` at a time; the next clip goes out when one fills."""

    name: ClassVar[str] = "iceberg"
    description: ClassVar[str] = "limit order showing only a display size at a time"

    def __init__(self, *args: Any, price: float, display: float, **kw: Any) -> None:
        super().__init__(*args, **kw)
        if not (price > 0 and display > 0):
            raise ValueError("iceberg needs a positive price and display size")
        self.price, self.display = float(price), float(display)

    def params(self) -> dict[str, Any]:
        return {"price": self.price, "display": self.display}

    def on_tick(self, now: int, book: Any) -> None:
        if self.done or self.open_children:
            return
        if len(self.rejections) > 3:  # a clip refused repeatedly: give up rather than spin
            self.done = True
            return
        self.send(min(self.display, self.remaining), OrderType.LIMIT, self.price)


class ImpactSplit(ExecutionAlgo):
    """Market slices as large as the book absorbs within `max_bps` of slippage (book.impact), one every
    `interval_ms`; waits while even a small slice would cost more."""

    name: ClassVar[str] = "split"
    description: ClassVar[str] = "impact-aware splitting using the book's impact estimate"

    def __init__(self, *args: Any, max_bps: float, interval_ms: int = 1000, **kw: Any) -> None:
        super().__init__(*args, **kw)
        if not max_bps > 0:
            raise ValueError("split needs a positive slippage limit in bps")
        self.max_bps, self.interval_ms = float(max_bps), int(interval_ms)
        self.next_at = int(self.start_ts)

    def params(self) -> dict[str, Any]:
        return {"max_bps": self.max_bps, "interval_ms": self.interval_ms}

    @property
    def next_ts(self) -> int | None:
        return self.next_at

    def _load(self, state: dict[str, Any], children: list[Order]) -> None:
        super()._load(state, children)
        if state.get("next_ts") is not None:
            self.next_at = int(state["next_ts"])  # passed while down: the next event sends (one slice)

    def largest_slice(self, book: Any, notional: float) -> float:
        """Largest notional <= `notional` whose impact is within max_bps (bisection, 30 steps)."""
        ok = book.impact(self.side, notional)
        if ok.slippage_bps <= self.max_bps and ok.filled_notional >= notional * (1 - 1e-9):
            return notional
        lo, hi = 0.0, notional
        for _ in range(30):
            mid = (lo + hi) / 2
            imp = book.impact(self.side, mid)
            if imp.slippage_bps <= self.max_bps and imp.filled_notional >= mid * (1 - 1e-9):
                lo = mid
            else:
                hi = mid
        return lo

    def on_tick(self, now: int, book: Any) -> None:
        if self.done or self.open_children or now < self.next_at or book is None:
            return
        ref = book.best_ask if self.side == "buy" else book.best_bid
        if ref is None:
            return
        # Upper bound of what the remainder can cost within the limit; the walk's average price turns
        # the notional found back into base (never more than the remainder).
        cap = self.remaining * ref * (1 + self.max_bps / 1e4)
        notional = self.largest_slice(book, cap)
        if notional > 0:
            self.send(min(notional / book.impact(self.side, notional).avg_price, self.remaining))
        self.next_at = now + self.interval_ms


ALGOS: list[type[ExecutionAlgo]] = [TWAP, VWAP, Iceberg, ImpactSplit]


def restore_algo(cls: type[ExecutionAlgo], state: dict[str, Any], params: dict[str, Any],
                 children: list[Order], submit: Submit, cancel: CancelOrder) -> ExecutionAlgo:
    """Rebuild a journaled algorithm (`state()` and `params()` as written) with its children (the
    orders of origin `algo:<id>`, oldest first). ValueError when the row cannot build one."""
    algo = cls(state["id"], state["symbol"], state["side"], float(state["amount"]), int(state["start_ts"]),
               float(state["arrival"]), submit, cancel, executor=state.get("executor"), **params)
    algo._load(state, children)
    return algo
