"""The console's view model: what the engine's EventBus said, collected between frames.

`ConsoleModel` subscribes to every bus topic and does the least possible work per event — keep a
reference, append to a bounded deque, mark a panel dirty — because the bus calls it synchronously on
the engine's hot path. The app's frame timer (ui/app.py, ~10 fps) takes the dirty set and redraws only
those panels, reading the engine's MarketState for books and candles. Nothing here computes a market
quantity and nothing imports Textual, so the collector is tested without a terminal.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from virtuoso_tui.model import Order, Position

#: the faces in key order (1-6) when a signal does not say otherwise
DEFAULT_FACES = ("technical", "volume", "orderflow", "orderbook", "price_structure", "sentiment")

_PER_SYMBOL = {"trade": ("tape", "watch"), "book": ("book",), "candle": ("chart",),
               "ticker": ("watch",), "signal": ("prism", "watch")}


class ConsoleModel:
    """Collects bus events for the views. `dirty` holds panel keys: "watch", "trading", "log", "header",
    and "<panel>:<symbol>" for tape, book, chart and prism."""

    def __init__(self, engine: Any, *, tape_size: int = 60, log_size: int = 300) -> None:
        self.engine = engine
        self.symbols: list[str] = list(engine.symbols)
        self.tape: dict[str, deque] = {s: deque(maxlen=tape_size) for s in self.symbols}
        self.tickers: dict[str, Any] = {}
        self.signals: dict[str, Any] = {}
        self.orders: dict[str, Order] = {}
        self.positions: dict[str, Position] = {}
        self.health: Any = None
        self.lifecycle = "starting"
        self.log: deque[tuple[int, str, str]] = deque(maxlen=log_size)
        self.notices: list[tuple[str, str]] = []  # (severity, message) for toasts, drained per frame
        self.dirty: set[str] = {"watch", "trading", "log", "header"}
        self.events = 0
        self._unsubscribe: Any = None

    # ------------------------------------------------------------------ wiring
    def attach(self, bus: Any) -> None:
        self._unsubscribe = bus.subscribe("*", self.on_event)

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def prime(self) -> None:
        """Fill the model from what the engine already holds (the app started after the feed)."""
        self.signals.update(getattr(self.engine, "signals", {}) or {})
        if getattr(self.engine, "stopping", False):
            self.lifecycle = "stopped"
        self.health = getattr(self.engine, "health", None) or self.health  # the last SourceHealth, if kept
        for symbol, state in (getattr(self.engine, "states", {}) or {}).items():
            if symbol not in self.tape:
                continue
            ticker = getattr(state, "ticker", None)
            if ticker is not None:
                self.tickers[symbol] = ticker
            self._prime_tape(symbol, state)
            self.dirty.update(f"{p}:{symbol}" for p in ("tape", "book", "chart", "prism"))
        desk = getattr(self.engine, "desk", None)
        manager, portfolio = getattr(desk, "manager", None), getattr(desk, "portfolio", None)
        for order in (getattr(manager, "open", None) or {}).values():
            self.orders[order.client_id] = order
        if portfolio is not None and hasattr(portfolio, "open_positions"):
            for position in portfolio.open_positions():
                self.positions[position.symbol] = position
        self.dirty.update({"watch", "trading", "header"})

    def _prime_tape(self, symbol: str, state: Any) -> None:
        trades = getattr(state, "trades", None)
        if trades is None or len(trades) == 0:
            return
        from virtuoso_tui.model import Trade

        k = self.tape[symbol].maxlen or 60
        ts, price, amount, side = (trades.ts[-k:], trades.price[-k:], trades.amount[-k:], trades.side[-k:])
        names = {1: "buy", -1: "sell"}
        for i in range(len(ts)):  # newest first, like live appends
            self.tape[symbol].appendleft(
                Trade(symbol, int(ts[i]), float(price[i]), float(amount[i]), names.get(int(side[i])))
            )

    # ------------------------------------------------------------------ the bus callback (hot)
    def on_event(self, topic: str, payload: Any) -> None:
        self.events += 1
        if self.lifecycle == "starting" and topic in _PER_SYMBOL:
            self.lifecycle = "running"
        symbol = getattr(payload, "symbol", None)
        if topic == "trade":
            tape = self.tape.get(symbol)
            if tape is not None:
                tape.appendleft(payload)
        elif topic == "ticker":
            self.tickers[symbol] = payload
        elif topic == "signal":
            self.signals[symbol] = payload
            if getattr(payload, "changed", False):
                self.dirty.add(f"chart:{symbol}")  # the ▲/▼ marker follows the side
                self._log(payload.ts, "info", f"{symbol} signal {payload.side} at {payload.score:.1f}"
                          if payload.score is not None else f"{symbol} signal {payload.side}")
        elif topic in ("book", "candle"):
            pass  # nothing to keep: their panels read the engine's state; they are only marked dirty below
        else:
            self._slow(topic, payload)
            return
        panels = _PER_SYMBOL.get(topic)
        if panels and symbol is not None:
            for panel in panels:
                self.dirty.add(panel if panel == "watch" else f"{panel}:{symbol}")
        self.dirty.add("header")

    def _slow(self, topic: str, payload: Any) -> None:
        ts = int(getattr(self.engine, "now", 0) or 0)
        if topic == "order":
            if payload.status.is_terminal:
                self.orders.pop(payload.client_id, None)
                if payload.reason:
                    self._log(ts, "warning", f"order {payload.client_id} {payload.status.value}: {payload.reason}")
            else:
                self.orders[payload.client_id] = payload
            self.dirty.add("trading")
        elif topic == "position":
            if payload.amount == 0 and payload.realized_pnl == 0:
                self.positions.pop(payload.symbol, None)
            else:
                self.positions[payload.symbol] = payload
            self.dirty.add("trading")
        elif topic == "fill":
            self._log(payload.ts, "trade", f"fill {payload.side} {payload.amount:g} {payload.symbol} @ "
                      f"{payload.price:g} ({payload.liquidity}, fee {payload.fee:.4f})")
            self.dirty.add("trading")
        elif topic in ("alert", "error"):
            level = _field(payload, "level", "error" if topic == "error" else "info")
            message = str(_field(payload, "message", payload))
            source = _field(payload, "source", "")
            text = f"{message}" if not source or source.startswith("<") else f"{source}: {message}"
            self._log(int(_field(payload, "ts", ts) or ts), level, text)
            if level in ("warning", "error"):
                self.notices.append((level, text))
        elif topic == "health":
            self.health = payload
            self.dirty.add("header")
        elif topic == "lifecycle":
            self.lifecycle = str(_field(payload, "state", ""))
            reason = _field(payload, "reason", "")
            self._log(ts, "info", f"engine {self.lifecycle}{': ' + reason if reason else ''}")
            self.dirty.add("header")
        elif topic == "command":
            text = _field(payload, "result", None) or _field(payload, "line", None) or str(payload)
            self._log(ts, "info", str(text))
        # funding, open_interest, liquidation, long_short: read from MarketState by the faces, not shown raw

    def _log(self, ts: int, level: str, message: str) -> None:
        self.log.append((ts, level, message))
        self.dirty.add("log")

    # ------------------------------------------------------------------ frame side
    def take_dirty(self) -> set[str]:
        dirty, self.dirty = self.dirty, set()
        return dirty

    def take_notices(self, limit: int = 3) -> list[tuple[str, str]]:
        """Pending toasts, at most `limit` per frame (a burst of errors must not bury the screen)."""
        notices, self.notices = self.notices[:limit], self.notices[limit:]
        if len(self.notices) > 20:
            self.notices = self.notices[-20:]
        return notices

    def note(self, level: str, message: str) -> None:
        """A line from the UI itself (a command's result, a rejected key)."""
        self._log(int(getattr(self.engine, "now", 0) or 0), level, message)

    def face_names(self, symbol: str | None) -> list[str]:
        signal = self.signals.get(symbol) if symbol else None
        faces = list(getattr(signal, "faces", {}) or {})
        if not faces:
            return list(DEFAULT_FACES)
        # the documented order for keys 1-6 whatever order the plugins registered in; extra faces after
        return [f for f in DEFAULT_FACES if f in faces] + [f for f in faces if f not in DEFAULT_FACES]


def _field(payload: Any, name: str, default: Any) -> Any:
    if isinstance(payload, dict):
        return payload.get(name, default)
    return getattr(payload, name, default)
