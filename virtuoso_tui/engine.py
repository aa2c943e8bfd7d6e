"""The engine: asyncio orchestration of one data flow, sources -> MarketState -> prism -> trading.

The engine owns one MarketState per symbol, pulls records from the selected source, applies them,
asks the prism for a signal when something it reads has changed (at most once per `score_interval_ms`
of MARKET time per symbol, and always when a candle closes), hands market events to the trading desk
(paper matching, stops, algorithms) and publishes everything on the EventBus. It knows no view: the
TUI, the headless printer and the storage recorder are subscribers.

Time is market time: the newest timestamp the source has yielded. Nothing here reads the wall clock
to make a decision, which is what lets a replay, a backtest and a paper run of the same data agree.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Sequence
from typing import Any

from virtuoso_tui.bus import EventBus
from virtuoso_tui.market.source import Source
from virtuoso_tui.market.state import MarketState
from virtuoso_tui.model import (
    BookDelta,
    BookSnapshot,
    Candle,
    Funding,
    Liquidation,
    LongShortRatio,
    OpenInterest,
    Ticker,
    Trade,
)
from virtuoso_tui.model.market import SourceHealth, timeframe_ms

log = logging.getLogger(__name__)

_TOPIC = {
    Trade: "trade", BookSnapshot: "book", BookDelta: "book", Ticker: "ticker", Funding: "funding",
    OpenInterest: "open_interest", Liquidation: "liquidation", LongShortRatio: "long_short", Candle: "candle",
}

#: when a source never suspends (speed 0), the pump yields to the loop after this much work
_YIELD_BUDGET_S = 0.004
_CHECK_EVERY = 16


class Engine:
    def __init__(
        self,
        *,
        source: Source,
        symbols: Sequence[str],
        bus: EventBus | None = None,
        timeframes: Sequence[str] = ("1m", "5m", "15m", "1h", "4h"),
        prism: Any = None,
        desk: Any = None,
        storage: Any = None,
        host: Any = None,
        score_interval_ms: int = 1_000,
        record: Sequence[str] = ("candles", "signals"),
        candle_capacity: int = 1_000,
        history_bars: int = 0,
    ) -> None:
        self.source = source
        self.symbols = list(symbols)
        self.bus = bus or EventBus()
        self.prism = prism
        self.desk = desk
        self.storage = storage
        self.host = host
        self.score_interval_ms = score_interval_ms
        self.history_bars = history_bars
        self.record = set(record)
        self.states: dict[str, MarketState] = {
            s: MarketState(s, tuple(timeframes), capacity=candle_capacity) for s in self.symbols
        }
        self.signals: dict[str, Any] = {}
        self.now = 0
        self.events_seen = 0
        self._last_scored: dict[str, int] = {}
        self._dirty: dict[str, set[str]] = {s: set() for s in self.symbols}
        self._last_minute = 0
        #: symbol -> end of the base candle its last record fell in (process closes it at that time)
        self._next_close: dict[str, int] = {}
        self._base_ms = {sym: timeframe_ms(st.base) for sym, st in self.states.items()}
        self._stop = asyncio.Event()
        self._pending_candles: list[Candle] = []
        self._pending_signals: list[Any] = []
        self._last_flush = time.monotonic()
        self.stopped_reason = ""
        self.health: SourceHealth | None = None  # the source's latest health report, for views

    # ------------------------------------------------------------------ lifecycle
    def stop(self, reason: str = "stopped") -> None:
        if not self._stop.is_set():
            self.stopped_reason = reason
            self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def run(self, *, wall_seconds: float | None = None, market_seconds: float | None = None) -> None:
        """Consume the source until it ends, `stop()` is called, or a duration passes."""
        self.bus.publish("lifecycle", {"state": "starting", "symbols": self.symbols})
        if self.history_bars:
            self.warm_up(self.history_bars)
        if self.desk is not None and hasattr(self.desk, "start_executors"):
            try:  # executors connect first (live: the venue's open orders), so start() reconciles with them
                await self.desk.start_executors()
            except BaseException:
                await self._shutdown()
                raise
        if self.desk is not None and hasattr(self.desk, "start"):
            self.desk.start()
        pump = asyncio.ensure_future(self._pump(market_seconds))
        stopper = asyncio.ensure_future(self._stop.wait())
        waiters = {pump, stopper}
        polls = asyncio.ensure_future(self.desk.run_polls()) if hasattr(self.desk, "run_polls") else None
        try:
            done, _ = await asyncio.wait(waiters, timeout=wall_seconds, return_when=asyncio.FIRST_COMPLETED)
            if not done:
                self.stop("duration reached")
            if pump in done and pump.exception() is not None:
                raise pump.exception()
        finally:
            for task in waiters if polls is None else waiters | {polls}:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*waiters, *([polls] if polls else []), return_exceptions=True)
            await self._shutdown()

    def warm_up(self, bars: int) -> None:
        """Load candle history from the source (when it has any) so the faces score from the start.

        Only the base timeframe is asked for; MarketState builds every higher one from it."""
        for symbol, state in self.states.items():
            if state.now is not None:
                continue
            try:
                history = self.source.candle_history(symbol, state.base, bars)
            except Exception as exc:  # noqa: BLE001 - no history is a slower start, not a failure
                log.warning("no candle history for %s: %s", symbol, exc)
                self.bus.publish("error", {"message": f"no candle history for {symbol}: {exc}",
                                           "source": self.source.name})
                continue
            if history:
                state.backfill(**{k: history[k] for k in ("ts", "open", "high", "low", "close", "volume")},
                               buy_volume=history.get("buy_volume"))

    async def _pump(self, market_seconds: float | None) -> None:
        end_ts: int | None = None
        n = 0
        gc_frozen = False
        events = self.source.events()
        begun = False
        last_yield = time.perf_counter()
        try:
            async for event in events:
                if isinstance(event, SourceHealth):
                    self.health = event
                    self._on_health(event)
                    self.bus.publish("health", event)
                    continue
                if not begun:  # health reports carry wall time; the stream starts at its first record
                    begun = True
                    for state in self.states.values():
                        state.begin(event.ts)
                if end_ts is None and market_seconds is not None:
                    end_ts = event.ts + int(market_seconds * 1000)
                if end_ts is not None and event.ts > end_ts:
                    self.stop("market duration reached")
                    break
                self.process(event)
                n += 1
                # yield to the loop on a time budget, so a view's frame never waits long behind a burst
                if n % _CHECK_EVERY == 0 and time.perf_counter() - last_yield >= _YIELD_BUDGET_S:
                    await asyncio.sleep(0)
                    last_yield = time.perf_counter()
                    if self._stop.is_set():
                        break
                    if not gc_frozen and n >= 20_000:
                        # long-lived state is built: keep the collector off it (worst-case latency)
                        gc.collect()
                        gc.freeze()
                        gc_frozen = True
                self._maybe_flush()
            else:
                self.stop("source ended")
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _shutdown(self) -> None:
        try:
            await self.source.close()
        except Exception:  # noqa: BLE001
            log.exception("source close failed")
        if self.desk is not None and hasattr(self.desk, "stop"):
            self.desk.stop()
        if self.desk is not None and hasattr(self.desk, "close_executors"):
            try:
                await self.desk.close_executors()
            except Exception:  # noqa: BLE001
                log.exception("executor close failed")
        self.flush()
        self.bus.publish("lifecycle", {"state": "stopped", "reason": self.stopped_reason})

    def _on_health(self, health: SourceHealth) -> None:
        """A book the source reports as resyncing (`books_valid[symbol] is False`) is invalid here
        until its next BookSnapshot: never scored, never matched against. A stream that connects
        again after a disconnect makes the desk resync and reconcile its venue executors."""
        extra = health.extra or {}
        for symbol, ok in (extra.get("books_valid") or {}).items():
            state = self.states.get(symbol)
            if ok is False and state is not None and state.book.valid:
                reason = f"resync: {health.detail}" if health.detail else "resync in progress"
                state.book.invalidate(reason)
                self._dirty[symbol].add("book")
                if self.desk is not None and hasattr(self.desk, "on_book_invalid"):
                    self.desk.on_book_invalid(symbol, reason)
        if health.detail == "connected" and extra.get("reconnects") and self.desk is not None \
                and hasattr(self.desk, "on_source_reconnect"):
            self.desk.on_source_reconnect()

    # ------------------------------------------------------------------ the data flow
    def process(self, event: Any) -> None:
        """Apply one market record: state, views, trading, and (when due) the prism."""
        state = self.states.get(event.symbol)
        if state is None:
            return
        self.events_seen += 1
        ts = event.ts
        boundary = self._next_close.get(event.symbol)
        if boundary is not None and ts >= boundary:
            # the clock passes a candle's end before this record is seen: the candle closes, and the
            # prism and strategies decide, at the boundary, as a replay backtest does (backtest/replay.py),
            # never with the record that follows it
            if boundary > self.now:
                self.now = boundary
            self._after_apply(state, state.advance(boundary))
        period = self._base_ms[event.symbol]
        self._next_close[event.symbol] = ts - ts % period + period
        if ts > self.now:
            self.now = ts
        touched = state.apply(event)
        topic = _TOPIC.get(type(event))
        if topic and topic != "candle" and self.bus.has_subscribers(topic):
            self.bus.publish(topic, event)
        self._after_apply(state, touched)
        if self.desk is not None:
            self.desk.on_event(event, state)
        minute = self.now // 60_000
        if minute != self._last_minute:
            self._last_minute = minute
            for other in self.states.values():
                if other is not state:
                    self._after_apply(other, other.advance(self.now))

    def _after_apply(self, state: MarketState, touched: frozenset[str]) -> None:
        if not touched:
            return
        # in timeframe order (a set's order changes with the hash seed: output must not)
        closed = [tf for tf in state.timeframes if f"candles:{tf}" in touched]
        for tf in closed:
            candle = state.candles[tf].last
            if candle is not None:
                self.bus.publish("candle", candle)
                if self.desk is not None and hasattr(self.desk, "on_candle"):
                    self.desk.on_candle(candle, state)
                if "candles" in self.record and self.storage is not None:
                    self._pending_candles.append(candle)
        if self.prism is None:
            return
        dirty = self._dirty[state.symbol]
        dirty.update(touched)
        last = self._last_scored.get(state.symbol, 0)
        if closed or self.now - last >= self.score_interval_ms:
            self.score(state.symbol)

    def score(self, symbol: str) -> Any:
        """Run the prism for one symbol now and publish the signal."""
        state = self.states[symbol]
        touched = frozenset(self._dirty[symbol])
        self._dirty[symbol].clear()
        self._last_scored[symbol] = self.now
        signal = self.prism.update(state, touched)
        if signal is None:
            return None
        self.signals[symbol] = signal
        self.bus.publish("signal", signal)
        if self.host is not None:
            self.host.notify("virtuoso_on_signal", signal=signal)
        if self.desk is not None and hasattr(self.desk, "on_signal"):
            self.desk.on_signal(signal, state)
        if "signals" in self.record and self.storage is not None:
            self._pending_signals.append(signal)
        return signal

    # ------------------------------------------------------------------ commands
    def execute(self, line: str, selected_symbol: str | None = None) -> Any:
        """Run one command-language line through the trading desk (TUI command bar, headless stdin)."""
        if self.desk is None:
            raise RuntimeError("trading is not available in this mode")
        return self.desk.execute(line, selected_symbol or self.symbols[0])

    # ------------------------------------------------------------------ storage
    def _maybe_flush(self) -> None:
        if (self._pending_candles or self._pending_signals) and time.monotonic() - self._last_flush > 1.0:
            self.flush()

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        if self.storage is None:
            return
        candles, self._pending_candles = self._pending_candles, []
        signals, self._pending_signals = self._pending_signals, []
        try:
            if candles:
                self.storage.write_candles(candles)
            for sig in signals:
                self.storage.write_signal(
                    sig.symbol, sig.ts, sig.score, sig.side, sig.confidence,
                    {name: face.score for name, face in sig.faces.items()},
                )
        except Exception as exc:  # noqa: BLE001 - storage trouble is shown, never fatal to the feed
            log.exception("storage write failed")
            self.bus.publish("error", {"message": f"storage write failed: {exc}", "source": "storage"})
