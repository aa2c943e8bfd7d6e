"""Local exchange servers for tests: nothing here reaches the internet.

- recordings.py: readers for ../shared/data recordings and the servers' independent ReferenceBook;
- ws_server.py: websocket replay of recorded Binance combined streams and Bybit v5 topics, with
  fault injection (drop, gap, duplicate, reorder, malformed, disconnect, delay, slow consumer);
- rest_server.py: aiohttp server answering ccxt's Binance and Bybit REST calls with recorded
  payloads, with 429/5xx/auth/timeout injection;
- order_desk.py: a stateful Binance spot order desk (create, cancelReplace, cancel, query, the
  account's trades) for the live executor, replying with the recorded payloads as templates;
- bybit_desk.py: a stateful Bybit v5 linear-perpetual desk (create, amend, cancel, query, and the
  net position its fills move, one-way mode) for the live executor, same shape, recorded templates;
- binance_futures_desk.py: a stateful Binance USDⓈ-M futures desk (create, modify in place, cancel,
  query, the account's trades, and the net position its fills move, one-way mode), same shape;
- live.py: what the live-executor tests share (a server around a desk, the order manager, the
  check that keys leak nowhere);
- this module: `Venue`, both servers wired to one tape, `drain` to consume a source's events, and
  `in_thread` to run a server on its own loop for code under test that blocks (ccxt's sync client).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass

from tests.exchange.recordings import (
    BINANCE_FUTURES_HTTP,
    BINANCE_FUTURES_WS,
    BINANCE_SPOT_HTTP,
    BINANCE_SPOT_WS,
    BYBIT_OB500,
    read_json_lines,
    read_rest_snapshots,
    read_ws_frames,
)
from tests.exchange.rest_server import RestFault, RestServer
from tests.exchange.ws_server import ReplayServer, Tape, WsFaults

__all__ = ["RestFault", "RestServer", "ReplayServer", "Tape", "Venue", "WsFaults", "binance_tape",
           "bybit_tape", "drain", "in_thread"]


def binance_tape(futures: bool = False) -> Tape:
    frames = read_ws_frames(BINANCE_FUTURES_WS if futures else BINANCE_SPOT_WS)
    snaps = read_rest_snapshots(BINANCE_FUTURES_HTTP if futures else BINANCE_SPOT_HTTP)
    return Tape(frames, venue="binance", snapshots=snaps)


def bybit_tape(extra=()) -> Tape:
    return Tape(read_json_lines(BYBIT_OB500) + list(extra), venue="bybit")


@dataclass
class Venue:
    """A websocket replay server and a REST server sharing one tape."""

    tape: Tape
    ws: ReplayServer
    rest: RestServer

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, tape: Tape, faults: WsFaults | None = None):
        rest = RestServer(tapes={s: (lambda s=s: tape.rest_snapshot(s)) for s in tape.books})
        ws = ReplayServer(tape, faults)
        await rest.start()
        await ws.start()
        try:
            yield cls(tape, ws, rest)
        finally:
            await ws.stop()
            await rest.stop()


async def drain(source, until, timeout: float = 20.0, on_event=None) -> list:
    """Consume `source.events()` until `until()` is true after an event (or raise TimeoutError)."""
    out: list = []

    async def run() -> None:
        async for ev in source.events():
            out.append(ev)
            if on_event is not None:
                on_event(ev)
            if until():
                return

    try:
        await asyncio.wait_for(run(), timeout)
    finally:
        await source.close()
    return out


@contextlib.contextmanager
def in_thread(server):
    """Run `server` (start()/stop() coroutines) on an event loop in a daemon thread for the duration."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
