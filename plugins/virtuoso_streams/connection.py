"""The websocket life cycle every stream source shares: connect, subscribe, read, reconnect.

`StreamSource` owns one websocket (the `websockets` asyncio client) and a bounded queue of model
records that `events()` yields. A venue subclass builds the URL, sends its subscriptions on every
(re)connect, and turns each raw frame into records (`handle`). Disconnects of any kind (server close,
network error, missed heartbeat, a frame the venue never answers) lead to a reconnect after an
exponential backoff with full jitter, and a fresh subscription; books are resynced from scratch.
Health (connected, lag, messages/s, resyncs, decode errors) is emitted as SourceHealth records: on
every state change and every `health_interval_s` seconds. Neighbours: binance.py and bybit.py.

The queue is bounded: a consumer slower than the stream makes the reader wait (TCP backpressure);
a venue that then disconnects us for being slow is handled like any other disconnect.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from virtuoso_tui.api import Source, SourceError
from virtuoso_tui.model.market import MarketEvent, SourceHealth

log = logging.getLogger(__name__)

_CLOSED = object()


def backoff_delay(attempt: int, base_s: float, max_s: float, rng: random.Random) -> float:
    """Seconds to wait before reconnect `attempt` (0-based): min(max, base*2^attempt) * U(0.5, 1)."""
    return min(max_s, base_s * (2.0**attempt)) * rng.uniform(0.5, 1.0)


def venue_id(symbol: str) -> str:
    """`BTC/USDT:USDT` or `BTC/USDT` -> `BTCUSDT` (Binance and Bybit spell both markets so)."""
    if "/" not in symbol:
        raise SourceError(f"symbol {symbol!r} is not in ccxt unified form BASE/QUOTE[:SETTLE]")
    base, rest = symbol.split("/", 1)
    return (base + rest.split(":", 1)[0]).upper()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class StreamSource(Source):
    """Base class: subclasses set `default_ws_url`, and implement `url()`, `subscribe(ws)`, `handle(raw)`."""

    networked: ClassVar[bool] = True

    def __init__(self, symbols, options: dict[str, Any] | None = None) -> None:
        super().__init__(symbols, options)
        o = self.options
        if not self.symbols:
            raise SourceError(f"source {self.name!r} needs at least one symbol")
        self.ids = {venue_id(s): s for s in self.symbols}
        self.ping_interval_s = float(o.get("ping_interval_s", 20.0))
        self.ping_timeout_s = float(o.get("ping_timeout_s", 20.0))
        self.backoff_base_s = float(o.get("backoff_base_s", 0.5))
        self.backoff_max_s = float(o.get("backoff_max_s", 30.0))
        self.health_interval_s = float(o.get("health_interval_s", 1.0))
        self.open_timeout_s = float(o.get("open_timeout_s", 10.0))
        self.max_reconnects = o.get("max_reconnects")  # None = forever (tests bound it)
        self._rng = random.Random(o.get("seed"))
        self._queue: asyncio.Queue = asyncio.Queue(maxsize=int(o.get("queue_size", 10_000)))
        self._task: asyncio.Task | None = None
        self._ws = None
        self._closing = False
        # health counters
        self.connected = False
        self.messages = 0
        self.decode_errors = 0
        self.reconnects = 0
        self.last_lag_ms: float | None = None
        self._window_start = time.monotonic()
        self._window_messages = 0
        self._tasks: set[asyncio.Task] = set()

    # --- subclass hooks ------------------------------------------------------------------------
    def url(self) -> str:
        raise NotImplementedError

    async def subscribe(self, ws) -> None:
        """Send subscription frames (venues that subscribe by URL do nothing)."""

    def handle(self, raw: bytes | str) -> list:
        raise NotImplementedError

    def on_disconnect(self) -> None:
        """Forget per-connection state (books become invalid until resynced)."""

    @property
    def resyncs(self) -> int:
        return 0

    def books_valid(self) -> dict[str, bool]:
        return {}

    # --- plumbing --------------------------------------------------------------------------------
    def spawn(self, coro) -> asyncio.Task:
        t = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)
        return t

    async def emit(self, records: list) -> None:
        """Queue records produced outside the reader (a snapshot fetch task)."""
        for r in records:
            await self._queue.put(r)

    def health(self, detail: str = "") -> SourceHealth:
        now = time.monotonic()
        span = max(now - self._window_start, 1e-9)
        rate = self._window_messages / span
        self._window_start, self._window_messages = now, 0
        return SourceHealth(
            source=self.name, ts=now_ms(), connected=self.connected, latency_ms=self.last_lag_ms,
            messages_per_s=rate, resyncs=self.resyncs, detail=detail,
            extra={"decode_errors": self.decode_errors, "reconnects": self.reconnects,
                   "messages": self.messages, "books_valid": self.books_valid()},
        )

    async def events(self) -> AsyncIterator[MarketEvent | SourceHealth]:
        self._task = asyncio.get_running_loop().create_task(self._run())
        try:
            while True:
                item = await self._queue.get()
                if item is _CLOSED:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            await self.close()

    async def _put(self, item) -> None:
        await self._queue.put(item)

    async def _run(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidHandshake, WebSocketException

        attempt = 0
        try:
            while not self._closing:
                got_message = False
                try:
                    async with connect(self.url(), ping_interval=self.ping_interval_s,
                                       ping_timeout=self.ping_timeout_s, open_timeout=self.open_timeout_s,
                                       max_size=2**24, compression=None) as ws:
                        self._ws = ws
                        self.connected = True
                        await self._put(self.health("connected"))
                        await self.subscribe(ws)
                        last_health = time.monotonic()
                        async for raw in ws:
                            got_message = True
                            self.messages += 1
                            self._window_messages += 1
                            for rec in self.handle(raw):
                                await self._put(rec)
                            if time.monotonic() - last_health >= self.health_interval_s:
                                last_health = time.monotonic()
                                await self._put(self.health())
                except (OSError, TimeoutError, InvalidHandshake, WebSocketException) as exc:
                    reason = f"{type(exc).__name__}: {exc}"
                else:
                    reason = "server closed the stream"
                self._ws = None
                self.connected = False
                if self._closing:
                    break
                self.on_disconnect()
                attempt = 0 if got_message else attempt + 1
                self.reconnects += 1
                await self._put(self.health(f"disconnected ({reason}); reconnecting"))
                if self.max_reconnects is not None and self.reconnects > int(self.max_reconnects):
                    raise SourceError(f"{self.name}: gave up after {self.max_reconnects} reconnects ({reason})")
                await asyncio.sleep(backoff_delay(attempt, self.backoff_base_s, self.backoff_max_s, self._rng))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # surfaced to the consumer of events(), once
            await self._put(exc if isinstance(exc, SourceError) else SourceError(f"{self.name}: {exc}"))
        finally:
            if self._closing and not self._queue.full():
                self._queue.put_nowait(_CLOSED)  # wakes a consumer waiting in events()

    async def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        for t in list(self._tasks):
            t.cancel()
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
