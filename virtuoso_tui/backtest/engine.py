"""The event-driven backtester: a replay clock drives the live pieces over recorded candles.

For every bar, in the order live trading sees it:
  1. the bar OPENS: funding settled since the previous bar is paid and goes into the market state as
     a settled Funding record (so the faces that read funding score, as on a recording; funding settled
     before the first bar is history the state holds from the start, never paid), then the broker fills
     the orders pending from the previous close (the "next event": the open price, with slippage and
     fees);
  2. the bar CLOSES: the candle goes into the market state the strategy reads (the shared MarketState
     with `feed="market"`, or a zero-copy replay view of the arrays with `feed="replay"`, which shows
     exactly the candles closed so far and nothing later);
  3. the strategy's `on_bar` decides on the closed bar; its intents go to the broker, to fill at (1) of
     the next bar. Equity is marked at the close.
After the last bar, orders still pending are dropped (no next event) and an open position is closed at
the last close, with fees, as exit_reason "end" (the vectorised path does the same).

The fill path is a pluggable `Broker` (broker.py): `CandleBroker` is the default for candle-only data;
`paper.PaperBroker` puts the real TradingDesk (order manager, sizing, risk rules, paper executor)
behind the same calls (`run_backtest(..., broker="paper")`). `TradeLedger` turns any broker's fills
into round-trip trades.

Speed (bench/bench_backtest.py): the replay loop touches one Python float per bar. The replay view
gets `total` and `last_close` as plain attributes, and `ReplayContext` derives `now` and `equity`
only when a strategy reads them; times and opens are read as scalars only at fills, funding and
decisions; decisions are summarised once at the end. Neighbours: data.py (Candles), vector.py (the
fast twin), metrics.py, lookahead.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from virtuoso_tui.backtest.broker import Broker, CandleBroker, SlippageModel, TradeLedger
from virtuoso_tui.backtest.data import Candles
from virtuoso_tui.market.series import TimeSeries
from virtuoso_tui.model import Candle, Fill, Funding, OrderIntent, Position, timeframe_ms
from virtuoso_tui.trading.strategy import Strategy, StrategyContext


class ReplaySeries:
    """A CandleSeries look-alike over whole-history arrays that shows only the first `n` candles."""

    __slots__ = ("_c", "_ts", "_open", "_high", "_low", "_close", "_volume", "total", "last_close", "timeframe",
                 "symbol")

    def __init__(self, candles: Candles, timeframe: str) -> None:
        self._c = candles
        self._ts, self._open, self._high, self._low = candles.ts, candles.open, candles.high, candles.low
        self._close, self._volume = candles.close, candles.volume
        # candles closed so far and the newest close (CandleSeries.last_close): plain attributes the
        # engine sets once per bar, so the read a strategy does on every bar makes no array view
        self.total = 0
        self.last_close: float | None = None
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
    """The candle part of MarketState's read API over a replay: `candles[tf]`, last_price, now, has;
    plus `funding`, a TimeSeries (rate, mark, settled) as MarketState keeps it, filled by the engine
    with the settled funding known so far (`has("funding")` once one arrived)."""

    def __init__(self, candles: Candles, timeframe: str, capacity: int = 1000) -> None:
        self.symbol = candles.symbol
        self.series = ReplaySeries(candles, timeframe)
        self.candles = {timeframe: self.series}
        self._period = timeframe_ms(timeframe)
        self.funding = TimeSeries(("rate", "mark", "settled"), capacity)

    def apply_funding(self, ts: int, rate: float, mark: float | None) -> None:
        """A settled funding rate (fraction per interval) observed at `ts` ms, marked at `mark`."""
        self.funding.append(ts, rate=rate, mark=mark, settled=1.0)

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
        if kind == "funding":
            return len(self.funding) > 0
        return self.series.total > 0 and kind in ("candles", f"candles:{self.series.timeframe}")


class ReplayContext(StrategyContext):
    """The StrategyContext of a replay. `now` (the end of the newest closed candle) and `equity` (cash +
    position * the newest close: the engine's own marking arithmetic) are derived when a strategy reads
    them instead of being stored on every bar; the engine keeps `cash` and `position` current. They
    cannot be assigned (the replay clock owns them); a copy made with dataclasses.replace keeps the
    values it was made with, as a copy of a plain StrategyContext does."""

    __slots__ = ("_series", "_period", "_now", "_equity")

    def __init__(self, symbol: str, timeframe: str, now: int | None, state: ReplayState, position: Position,
                 equity: float | None, cash: float) -> None:
        self.symbol, self.timeframe, self.state, self.position, self.cash = symbol, timeframe, state, position, cash
        self._series, self._period = state.series, timeframe_ms(timeframe)
        self._now, self._equity = now, equity   # None: derived live (the engine's own context)

    @property  # type: ignore[override]
    def now(self) -> int:
        if self._now is not None:
            return self._now
        s = self._series
        return s._ts.item(s.total - 1) + self._period if s.total else 0

    @now.setter
    def now(self, value: int) -> None:
        raise AttributeError("a replay's clock sets now")

    @property  # type: ignore[override]
    def equity(self) -> float:
        if self._equity is not None:
            return self._equity
        s = self._series
        return self.cash + self.position.amount * s.last_close if s.total else self.cash

    @equity.setter
    def equity(self, value: float) -> None:
        raise AttributeError("a replay's equity is cash + position * the last close")


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
    return tuple([(i.side, i.type, i.amount, i.reduce_only, i.equity_fraction) for i in intents])


def run_events(candles: Candles, strategy: Strategy, *, timeframe: str | None = None, fee: float = 0.0,
               slippage: SlippageModel | None = None, capital: float = 10_000.0, broker: Broker | None = None,
               feed: str = "replay", funding: tuple[np.ndarray, np.ndarray] | None = None,
               state_capacity: int = 1000) -> EngineResult:
    """Replay `candles` through `strategy` bar by bar (see the module docstring).

    feed: "replay" (zero-copy view, fastest) or "market" (the shared MarketState, as live).
    funding: (ts int64 ms, rate fraction per interval) of settled funding, paid at the first bar
    opening at or after each funding time, marked at that open, and applied to the state at that open
    (the strategy's faces read it from the close of that bar on); rates before the first bar are put in
    the state before it (the newest `state_capacity`), unpaid. broker: defaults to a CandleBroker with
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
    # the loop reads one close per bar; times and opens are read (as Python scalars) only at events
    close_l = close_a.tolist()
    ledger = TradeLedger()
    fills: list[Fill] = []
    decisions: list[tuple[int, tuple]] = []
    if feed == "replay":
        state: Any = ReplayState(candles, tf, capacity=state_capacity)
        series = state.series
        note_funding = state.apply_funding
        push = None
        ctx: StrategyContext = ReplayContext(symbol, tf, None, state, broker.position, None, capital)
    elif feed == "market":
        from virtuoso_tui.market.state import MarketState

        state = MarketState(symbol, timeframes=(tf,), capacity=max(state_capacity, strategy.warmup + 2))
        series = None
        ts_l, open_l = ts_a.tolist(), open_a.tolist()
        hi_l, lo_l, vol_l = candles.high.tolist(), candles.low.tolist(), candles.volume.tolist()

        def push(i: int) -> None:
            state.apply(Candle(symbol, tf, ts_l[i], open_l[i], hi_l[i], lo_l[i], close_l[i], vol_l[i]))

        ctx = StrategyContext(symbol, tf, 0, state, broker.position, capital, capital)

        def note_funding(ts: int, rate: float, mark: float | None) -> None:
            state.apply(Funding(symbol, ts, rate, mark=mark, settled=True))
    else:
        raise ValueError(f"unknown feed {feed!r} (replay or market)")
    # settled funding k is paid at the open of the first bar opening at or after its time: bar f_bar[k]
    # (funding before the data starts cannot apply to this run)
    f_ts: list[int] = []
    f_rate: list[float] = []
    f_bar: list[int] = []
    if funding is not None and n:
        f_ts_a = np.asarray(funding[0], dtype=np.int64)
        keep = f_ts_a >= ts_a[0]
        # settled before the data starts: not paid by this run, but history the state already knows
        before = np.flatnonzero(~keep)[-state_capacity:].tolist()
        rates = np.asarray(funding[1], dtype=np.float64)
        for k in before:
            note_funding(f_ts_a.item(k), rates.item(k), None)
        f_ts = f_ts_a[keep].tolist()
        f_rate = np.asarray(funding[1], dtype=np.float64)[keep].tolist()
        f_bar = np.searchsorted(ts_a, f_ts_a[keep], side="left").tolist()
    f_next = 0
    never = n + 1
    f_due = f_bar[0] + 1 if f_bar else never      # compared with `total` (= bar index + 1)
    funding_paid = 0.0
    on_bar = strategy.on_bar
    on_open = broker.on_open
    # a broker with resting orders (limits, stops) must see every open; the candle broker only
    # needs one when something was submitted
    every_open = bool(getattr(broker, "resting_orders", True))
    pending = every_open
    replay = push is None
    held, cash = broker.position.amount, broker.cash
    # (cash, units) change only at fills, funding and submits: keep those changes, not one row per bar;
    # the per-bar equity is rebuilt from them with the same arithmetic (cash + units * close)
    marks: list[tuple[int, float, float]] = [(0, cash, held)]
    # `total` = bars closed once this one closes (its index + 1): what the replay view shows
    for total, c in zip(range(1, n + 1), close_l, strict=True):
        if total >= f_due:
            i = total - 1
            mark = open_a.item(i)
            while f_due <= total:
                paid = broker.on_funding(f_ts[f_next], f_rate[f_next], mark)
                note_funding(f_ts[f_next], f_rate[f_next], mark)
                ledger.on_funding(paid)
                funding_paid += paid
                f_next += 1
                f_due = f_bar[f_next] + 1 if f_next < len(f_bar) else never
            held, cash = broker.position.amount, broker.cash
            ctx.position, ctx.cash = broker.position, cash
            marks.append((i, cash, held))
        if pending:
            pending = every_open
            i = total - 1
            for fill in on_open(ts_a.item(i), open_a.item(i)):
                fills.append(fill)
                ledger.on_fill(fill, i)
            held, cash = broker.position.amount, broker.cash
            ctx.position, ctx.cash = broker.position, cash
            marks.append((i, cash, held))
        if replay:  # ReplayContext derives now and equity from these two when a strategy reads them
            series.total = total
            series.last_close = c
        else:
            push(total - 1)
            ctx.now = ts_l[total - 1] + tf_ms
            ctx.equity = cash + held * c
        intents = on_bar(ctx)
        if intents:
            i = total - 1
            decisions.append((i, tuple(intents)))   # intents are frozen: summarised once, at the end
            now = ts_a.item(i) + tf_ms
            for intent in intents:
                broker.submit(intent, now)
            pending = True
            if broker.cash != cash or broker.position.amount != held:  # a broker that fills on submit
                held, cash = broker.position.amount, broker.cash
                ctx.position, ctx.cash = broker.position, cash
                marks.append((total, cash, held))
    decisions = [(i, _summary(intents)) for i, intents in decisions]
    equity, position = _per_bar(marks, candles.close)
    if n:
        end_fills = broker.close_all(ts_a.item(-1) + tf_ms, close_l[-1])
        for fill in end_fills:
            fills.append(fill)
            ledger.on_fill(fill, n - 1, "end")
        if end_fills:
            equity[-1] = broker.cash + broker.position.amount * close_l[-1]
    return EngineResult(equity, position, ledger.trades, fills, decisions, funding_paid)
