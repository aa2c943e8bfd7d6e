"""Backtests over recordings of trades and order books: what candle-only backtesters cannot replay.

A recording is any time-ordered iterable of market records (Trade, BookSnapshot, BookDelta, Candle,
Funding, ...): `Storage.iter_recorded()`, the replay plugin, or a trades file read with
`trades_from_file`. Every record goes into the shared MarketState exactly as live, which builds the
strategy's candles from the trades. The replay clock closes a candle at its period's end
(`MarketState.advance(boundary)`) before the first record past it is applied, so the strategy decides
at the boundary, as a live timer would, and never sees the record that follows.

Fills happen at the next event after the decision, by the conventions of the paper executor
(plugins/virtuoso_paper), so a recording replayed through the paper path (`broker="paper"`, paper.py:
the real TradingDesk) gives the same trades (tests/test_backtest_parity.py):
  * when a valid order book is recorded, at the boundary itself: an `equity_fraction` intent is sized
    at the touch (best ask for a buy, best bid for a sell) with equity marked at the last trade, then
    walks the book by base amount (trading/bookview.walk, the executor's own walk, remembering the
    liquidity taken until the next book update); what the book cannot hold is cancelled;
  * otherwise at the price of the next trade (or the open of the next recorded candle), moved by the
    configurable slippage model. With candles built from the same trades this is the next candle's
    open, so a recording and its candles give the same trades (tests/test_backtest_replay.py). (The
    paper executor has no such fallback: it rejects a market order while there is no book.)
Settled Funding records are paid on an open perpetual position (a symbol with ':'), as the paper
executor settles them. Neighbours: engine.py (the candle-array engine), broker.py (CandleBroker,
TradeLedger), paper.py (PaperBroker), data.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from virtuoso_tui.backtest.broker import CandleBroker, SlippageModel, TradeLedger
from virtuoso_tui.backtest.data import DataError
from virtuoso_tui.backtest.engine import EngineResult, _summary
from virtuoso_tui.model import (
    BookDelta,
    BookSnapshot,
    Candle,
    Fill,
    Funding,
    OrderIntent,
    Trade,
    timeframe_ms,
)
from virtuoso_tui.trading.bookview import walk
from virtuoso_tui.trading.sizing import SizingError, equity_fraction_amount
from virtuoso_tui.trading.strategy import Strategy, StrategyContext

#: Levels read from the book per fill (the paper executor reads as many).
DEPTH_LEVELS = 1000


class BookBroker(CandleBroker):
    """CandleBroker that fills market orders against the recorded book when it is valid, the way the
    paper executor does (see the module docstring)."""

    def __init__(self, symbol: str, state: Any, **kwargs: Any) -> None:
        super().__init__(symbol, **kwargs)
        self.state = state
        self.book_fills = 0
        self._consumed: dict[float, float] = {}   # price -> base taken since the last book update

    def on_book(self) -> None:
        """The recorded book changed: liquidity taken from the old one is back (paper fills never
        change the recorded book)."""
        self._consumed.clear()

    def fill_from_book(self, ts: int) -> list[Fill]:
        """Fill every pending order by walking the book; [] (orders kept) when the book is not usable."""
        book = self.state.book
        if not self.pending or not book.valid or book.mid is None:
            return []
        pending, self._pending = self._pending, []
        fills = []
        for intent in pending:
            fill = self._fill_at_book(intent, ts, book)
            if fill is not None:
                fills.append(fill)
        return fills

    def _fill_at_book(self, intent: OrderIntent, ts: int, book: Any) -> Fill | None:
        buy = intent.side == "buy"
        held = self.position.amount
        if intent.equity_fraction is not None:
            touch = book.best_ask if buy else book.best_bid
            mark = self.state.last_price or book.mid
            try:
                amount = equity_fraction_amount(intent.equity_fraction, self.cash + held * mark, touch, self.fee)
            except SizingError:
                return None
        else:
            amount = intent.amount
        if intent.reduce_only:
            if held == 0 or (held > 0) == buy:
                return None
            amount = min(amount, abs(held))
        levels = book.asks(DEPTH_LEVELS) if buy else book.bids(DEPTH_LEVELS)
        filled, cost, _ = walk(levels, amount, None, intent.side, self._consumed)
        if not filled > 0:
            return None   # that side of the book is empty: the paper executor rejects the order too
        self.book_fills += 1
        # what the book cannot hold is cancelled; the average price walked replaces the slippage model
        sized = OrderIntent(intent.symbol, intent.side, filled, reduce_only=intent.reduce_only,
                            origin=intent.origin)
        return self._fill(sized, ts, cost / filled, slip=False)


def trades_from_file(path: str | Path, symbol: str) -> list[Trade]:
    """Trades from a freqtrade trades file (feather/parquet/CSV with timestamp, price, amount, side)."""
    import pandas as pd

    path = Path(path)
    try:
        if path.suffix in (".feather", ".arrow"):
            frame = pd.read_feather(path)
        elif path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path)
        ts = frame["timestamp"].to_numpy(dtype=np.int64)
        price = frame["price"].to_numpy(dtype=np.float64)
        amount = frame["amount"].to_numpy(dtype=np.float64)
        sides = frame["side"].tolist() if "side" in frame else [None] * len(frame)
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"{path}: cannot read trades ({type(exc).__name__}: {exc})") from exc
    return [Trade(symbol, int(t), float(p), float(a), s if s in ("buy", "sell") else None)
            for t, p, a, s in zip(ts.tolist(), price.tolist(), amount.tolist(), sides, strict=True)]


def run_recording(events: Iterable[Any], strategy: Strategy, *, symbol: str, timeframe: str, fee: float = 0.0,
                  slippage: SlippageModel | None = None, capital: float = 10_000.0,
                  capacity: int = 1000, broker: str = "book", rules: Iterable[Any] = (),
                  paper: dict[str, Any] | None = None) -> EngineResult:
    """Replay recorded market records through MarketState and `strategy` (see the module docstring).

    broker: "book" (BookBroker, the default) or "paper" (paper.PaperBroker: the TradingDesk with the
    paper executor sees every record; `rules` are its risk rules, `paper` its executor options). Equity and position are recorded
    once per closed candle of `timeframe` (marked at its close); `extra["ts"]` and `extra["close"]`
    hold those candles' open times and closes, `extra["book_fills"]` how many fills walked the book.
    """
    from virtuoso_tui.market.state import MarketState

    period = timeframe_ms(timeframe)
    state = MarketState(symbol, timeframes=(timeframe,), capacity=max(capacity, strategy.warmup + 2))
    series = state.candles[timeframe]
    on_market = None
    if broker == "book":
        broker_: Any = BookBroker(symbol, state, capital=capital, fee=fee, slippage=slippage)
    elif broker == "paper":
        from virtuoso_tui.backtest.paper import PaperBroker

        broker_ = PaperBroker(symbol, capital=capital, fee=fee, slippage=slippage, rules=rules, paper_options=paper)
        on_market = broker_.on_market
    else:
        raise ValueError(f"unknown broker {broker!r} (book or paper)")
    broker = broker_
    perpetual = ":" in symbol
    ledger = TradeLedger()
    fills: list[Fill] = []
    decisions: list[tuple[int, tuple]] = []
    bar_ts: list[int] = []
    bar_close: list[float] = []
    equity: list[float] = []
    position: list[float] = []
    ctx = StrategyContext(symbol, timeframe, 0, state, broker.position, capital, capital)
    boundary: int | None = None
    funding_paid = 0.0

    def record_fills(new: list[Fill], bar: int, reason: str = "signal") -> None:
        for fill in new:
            fills.append(fill)
            ledger.on_fill(fill, bar, reason)

    def decide(closed_kinds: frozenset[str]) -> None:
        if f"candles:{timeframe}" not in closed_kinds:
            return
        last = series.last
        bar = series.total - 1
        value = broker.cash + broker.position.amount * last.close
        ctx.now, ctx.position, ctx.equity, ctx.cash = last.ts + period, broker.position, value, broker.cash
        intents = strategy.on_bar(ctx)
        bar_ts.append(last.ts)
        bar_close.append(last.close)
        equity.append(value)
        position.append(broker.position.amount)
        if intents:
            decisions.append((bar, _summary(intents)))
            for intent in intents:
                broker.submit(intent, ctx.now)
            # an order sent at the boundary meets the book as it is at the boundary
            record_fills(broker.fill_from_book(ctx.now), bar + 1)

    for event in events:
        if event.symbol != symbol:
            continue
        ts = event.ts
        if boundary is None:
            state.begin(ts)   # the recording starts here, as the engine's stream does (MarketState.begin)
            boundary = ts - ts % period + period
        if ts >= boundary:  # the clock passes a period's end before this record is seen
            decide(state.advance(boundary))
            boundary = ts - ts % period + period
        if broker.pending and isinstance(event, (Trade, Candle)):
            # orders rest from the last decision: this trade (or this candle's open) is the next price
            price = event.price if isinstance(event, Trade) else event.open
            record_fills(broker.on_open(ts, price), series.total)
        kinds = state.apply(event)
        if on_market is not None:   # the desk sees every record after MarketState, as live
            record_fills(on_market(event, state), series.total)
        elif isinstance(event, (BookSnapshot, BookDelta)):
            broker.on_book()
        decide(kinds)
        if isinstance(event, Trade):   # what must not wait for the close (stops), as the desk does live
            ctx.now, ctx.position, ctx.cash = ts, broker.position, broker.cash
            ctx.equity = broker.cash + broker.position.amount * event.price
            between = strategy.on_trade(ctx, event.price, ts)
            if between:
                decisions.append((series.total, _summary(between)))
                for intent in between:
                    broker.submit(intent, ts)
                record_fills(broker.fill_from_book(ts), series.total, "exit")
        if perpetual and isinstance(event, Funding) and event.settled:
            mark = event.mark or state.last_price
            if mark:
                paid = broker.on_funding(ts, event.rate, mark)
                ledger.on_funding(paid)
                funding_paid += paid
        if broker.pending and isinstance(event, (BookSnapshot, BookDelta)):
            record_fills(broker.fill_from_book(ts), series.total)
    if state.last_price is not None:
        record_fills(broker.close_all(state.now or 0, state.last_price), max(series.total - 1, 0), "end")
        if equity:
            equity[-1] = broker.cash + broker.position.amount * state.last_price
    return EngineResult(np.array(equity), np.array(position), ledger.trades, fills, decisions, funding_paid,
                        {"ts": np.array(bar_ts, dtype=np.int64), "close": np.array(bar_close),
                         "book_fills": getattr(broker, "book_fills", len(fills)), "broker": broker})
