"""The event-driven backtester: a replay clock drives the live pieces over recorded candles.

For every bar, in the order live trading sees it:
  1. the bar OPENS: funding settled since the previous bar is paid, then the broker fills the orders
     pending from the previous close (the "next event": the open price, with slippage and fees);
  2. the bar CLOSES: the candle goes into the market state the strategy reads (the shared MarketState
     with `feed="market"`, or a zero-copy replay view of the arrays with `feed="replay"`, which shows
     exactly the candles closed so far and nothing later);
  3. the strategy's `on_bar` decides on the closed bar; its intents go to the broker, to fill at (1) of
     the next bar. Equity is marked at the close.
After the last bar, orders still pending are dropped (no next event) and an open position is closed at
the last close, with fees, as exit_reason "end" (the vectorised path does the same).

The fill path is a pluggable `Broker` (broker.py): `CandleBroker` is the default for candle-only data; the
order manager + paper executor plug in through the same four calls, so risk rules and the book-matching
paper executor run unchanged when the lead wires them. `TradeLedger` turns any broker's fills into
round-trip trades. Neighbours: data.py (Candles), vector.py (the fast twin), metrics.py, lookahead.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from virtuoso_tui.backtest.broker import Broker, CandleBroker, SlippageModel, TradeLedger
from virtuoso_tui.backtest.data import Candles
from virtuoso_tui.model import Candle, Fill, OrderIntent, timeframe_ms
from virtuoso_tui.trading.strategy import Strategy, StrategyContext


class ReplaySeries:
    """A CandleSeries look-alike over whole-history arrays that shows only the first `n` candles."""

    __slots__ = ("_c", "_ts", "_open", "_high", "_low", "_close", "_volume", "total", "timeframe", "symbol")

    def __init__(self, candles: Candles, timeframe: str) -> None:
        self._c = candles
        self._ts, self._open, self._high, self._low = candles.ts, candles.open, candles.high, candles.low
        self._close, self._volume = candles.close, candles.volume
        self.total = 0  # candles closed so far: a plain attribute, set by the engine once per bar
        self.timeframe = timeframe
        self.symbol = candles.symbol

    ts = property(lambda s: s._ts[:s.total])
    open = property(lambda s: s._open[:s.total])
    high = property(lambda s: s._high[:s.total])
    low = property(lambda s: s._low[:s.total])
    close = property(lambda s: s._close[:s.total])
    volume = property(lambda s: s._volume[:s.total])

    def __len__(self) -> int:
        return self.total

    @property
    def version(self) -> int:
        return self.total

    @property
    def last(self) -> Candle | None:
        if not self.total:
            return None
        c, i = self._c, self.total - 1
        return Candle(c.symbol, self.timeframe, int(c.ts[i]), float(c.open[i]), float(c.high[i]),
                      float(c.low[i]), float(c.close[i]), float(c.volume[i]))


class ReplayState:
    """The candle-only part of MarketState's read API over a replay: `candles[tf]`, last_price, now, has."""

    def __init__(self, candles: Candles, timeframe: str) -> None:
        self.symbol = candles.symbol
        self.series = ReplaySeries(candles, timeframe)
        self.candles = {timeframe: self.series}
        self._period = timeframe_ms(timeframe)

    @property
    def last_price(self) -> float | None:
        s = self.series
        return s._close.item(s.total - 1) if s.total else None

    @property
    def now(self) -> int | None:
        """End of the newest closed candle (derived, so the replay clock sets one number per bar)."""
        s = self.series
        return s._ts.item(s.total - 1) + self._period if s.total else None

    def has(self, kind: str) -> bool:
        return self.series.total > 0 and kind in ("candles", f"candles:{self.series.timeframe}")


@dataclass(slots=True)
class EngineResult:
    equity: np.ndarray
    position: np.ndarray
    trades: list[dict[str, Any]]
    fills: list[Fill]
    decisions: list[tuple[int, tuple]]   # (bar, intents summary) for every bar that produced intents
    funding_paid: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _per_bar(marks: list[tuple[int, float, float]], close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-bar equity (cash + units * close) and units from the (bar, cash, units) change points; the
    last change at a bar wins. Same float operations as marking bar by bar."""
    n = close.shape[0]
    at = np.array([m[0] for m in marks], dtype=np.int64)
    # a change recorded for bar i holds from bar i on; several at one bar: the last is the state
    last = np.searchsorted(at, np.arange(n), side="right") - 1
    cash = np.array([m[1] for m in marks])[last]
    units = np.array([m[2] for m in marks])[last]
    return cash + units * close, units


def _summary(intents: list[OrderIntent]) -> tuple:
    return tuple((i.side, i.type, i.amount, i.reduce_only, i.tag) for i in intents)


def run_events(candles: Candles, strategy: Strategy, *, timeframe: str | None = None, fee: float = 0.0,
               slippage: SlippageModel | None = None, capital: float = 10_000.0, broker: Broker | None = None,
               feed: str = "replay", funding: tuple[np.ndarray, np.ndarray] | None = None,
               state_capacity: int = 1000) -> EngineResult:
    """Replay `candles` through `strategy` bar by bar (see the module docstring).

    feed: "replay" (zero-copy view, fastest) or "market" (the shared MarketState, as live).
    funding: (ts int64 ms, rate fraction per interval) of settled funding, paid at the first bar
    opening at or after each funding time, marked at that open. broker: defaults to a CandleBroker with
    `capital`, `fee` and `slippage`.
    """
    tf = timeframe or candles.timeframe
    if not tf:
        raise ValueError("the timeframe of the candles is unknown; pass timeframe=")
    tf_ms = timeframe_ms(tf)
    symbol = candles.symbol or "ASSET"
    broker = broker or CandleBroker(symbol, capital=capital, fee=fee, slippage=slippage)
    n = len(candles)
    ts_a, open_a, close_a = candles.ts, candles.open, candles.close
    ts_l, open_l, close_l = ts_a.tolist(), open_a.tolist(), close_a.tolist()
    ledger = TradeLedger()
    fills: list[Fill] = []
    decisions: list[tuple[int, tuple]] = []
    if feed == "replay":
        state: Any = ReplayState(candles, tf)
        series = state.series
        push = None
    elif feed == "market":
        from virtuoso_tui.market.state import MarketState

        state = MarketState(symbol, timeframes=(tf,), capacity=max(state_capacity, strategy.warmup + 2))
        series = None
        hi_l, lo_l, vol_l = candles.high.tolist(), candles.low.tolist(), candles.volume.tolist()

        def push(i: int) -> None:
            state.apply(Candle(symbol, tf, ts_l[i], open_l[i], hi_l[i], lo_l[i], close_l[i], vol_l[i]))
    else:
        raise ValueError(f"unknown feed {feed!r} (replay or market)")
    f_ts: list[int] = []
    f_rate: list[float] = []
    if funding is not None:
        f_ts, f_rate = np.asarray(funding[0], dtype=np.int64).tolist(), np.asarray(funding[1], dtype=np.float64).tolist()
    f_next = 0
    if f_ts and n:
        while f_next < len(f_ts) and f_ts[f_next] < ts_l[0]:
            f_next += 1   # funding before the data starts cannot apply to this run
    never = 2**63 - 1
    f_due = f_ts[f_next] if f_next < len(f_ts) else never
    funding_paid = 0.0
    ctx = StrategyContext(symbol, tf, 0, state, broker.position, capital, capital)
    on_bar = strategy.on_bar
    on_open = broker.on_open
    # a broker with resting orders (limits, stops) must see every open; the candle broker only
    # needs one when something was submitted
    every_open = getattr(broker, "resting_orders", True)
    pending = False
    replay = push is None
    held, cash = broker.position.amount, broker.cash
    # (cash, units) change only at fills, funding and submits: keep those changes, not one row per bar;
    # the per-bar equity is rebuilt from them with the same arithmetic (cash + units * close)
    marks: list[tuple[int, float, float]] = [(0, cash, held)]
    for i in range(n):
        t_open = ts_l[i]
        if t_open >= f_due:
            while f_due <= t_open:
                paid = broker.on_funding(f_due, f_rate[f_next], open_l[i])
                ledger.on_funding(paid)
                funding_paid += paid
                f_next += 1
                f_due = f_ts[f_next] if f_next < len(f_ts) else never
            held, cash = broker.position.amount, broker.cash
            ctx.position, ctx.cash = broker.position, cash
            marks.append((i, cash, held))
        if pending or every_open:
            pending = False
            for fill in on_open(t_open, open_l[i]):
                fills.append(fill)
                ledger.on_fill(fill, i)
            held, cash = broker.position.amount, broker.cash
            ctx.position, ctx.cash = broker.position, cash
            marks.append((i, cash, held))
        if replay:
            series.total = i + 1
        else:
            push(i)
        ctx.now = t_open + tf_ms
        ctx.equity = cash + held * close_l[i]
        intents = on_bar(ctx)
        if intents:
            decisions.append((i, _summary(intents)))
            for intent in intents:
                broker.submit(intent, ctx.now)
            pending = True
            if broker.cash != cash or broker.position.amount != held:  # a broker that fills on submit
                held, cash = broker.position.amount, broker.cash
                ctx.position, ctx.cash = broker.position, cash
                marks.append((i + 1, cash, held))
    equity, position = _per_bar(marks, candles.close)
    if n:
        end_fills = broker.close_all(ts_l[-1] + tf_ms, close_l[-1])
        for fill in end_fills:
            fills.append(fill)
            ledger.on_fill(fill, n - 1, "end")
        if end_fills:
            equity[-1] = broker.cash + broker.position.amount * close_l[-1]
    return EngineResult(equity, position, ledger.trades, fills, decisions, funding_paid)
