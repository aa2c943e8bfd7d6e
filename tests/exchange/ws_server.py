"""Local websocket servers (the `websockets` package, 127.0.0.1, port 0) that replay recorded streams
with Binance's combined-stream protocol and Bybit v5's public protocol, with fault injection.

A `Tape` is the venue: recorded frames in order, a cursor, and reference books (recordings.ReferenceBook)
that follow every depth frame the market produces, whether or not a fault keeps it from the client.
The REST server serves Binance depth snapshots from these books (`tape.rest_snapshot(symbol)`), and the
Bybit server answers a (re)subscription with a snapshot from them, so a resync lands where the real
venue would put it. `WsFaults` injects, per frame and by probability or at fixed frame indices:
drop, gap (a depth frame lost), duplicate, reorder (held back behind the next frame of its stream), malformed
JSON, disconnect (server closes; `missed_on_disconnect` frames pass while the client is away), and
a per-frame `delay_s` (a slow stream). `slow_consumer_s` cuts off a client that stops reading: once a
send has waited that long for the socket to drain, the connection is aborted, as Binance does.
Counters in `injected`.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlparse

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from tests.exchange.recordings import Frame, ReferenceBook

FAULTS = ("drop", "gap", "duplicate", "reorder", "malformed", "disconnect")


@dataclass
class WsFaults:
    drop: float = 0.0
    gap: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    malformed: float = 0.0
    disconnect: float = 0.0
    at: dict[int, str] = field(default_factory=dict)  # tape index -> fault (fires on the first sent frame at or after it)
    until: int | None = None  # no random faults at or after this tape index (a clean tail)
    delay_s: float = 0.0
    missed_on_disconnect: int = 0
    slow_consumer_s: float | None = None  # a send blocked this long (client not reading) -> cut off
    seed: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._due = sorted(self.at.items())

    def pick(self, index: int) -> str | None:
        if self._due and self._due[0][0] <= index:
            return self._due.pop(0)[1]
        if self.until is not None and index >= self.until:
            return None
        r = self.rng.random()
        for name in FAULTS:
            p = getattr(self, name)
            if r < p:
                return name
            r -= p
        return None


class _CutOff(Exception):
    """The server gave up on a client that does not read."""


def _norm(stream: str) -> str:
    """Binance stream names without the update-speed suffix (`x@depth@100ms` -> `x@depth`)."""
    for suffix in ("@100ms", "@1s", "@0ms", "@500ms"):
        if stream.endswith(suffix):
            return stream[: -len(suffix)]
    return stream


class Tape:
    """Recorded frames with a cursor and the venue's reference books."""

    def __init__(self, frames: list[Frame], *, venue: str, snapshots: dict[str, dict] | None = None) -> None:
        self.frames = frames
        self.venue = venue
        self.pos = 0
        self.books: dict[str, ReferenceBook] = {}
        for sym, snap in (snapshots or {}).items():
            self.books[sym] = ReferenceBook(snap["bids"], snap["asks"], snap["lastUpdateId"])
        self.injected: Counter = Counter()
        self.last_ts = 0  # the newest frame's exchange time (Bybit `ts`), stamped on our snapshots

    @property
    def done(self) -> bool:
        return self.pos >= len(self.frames)

    def advance(self) -> tuple[int, Frame] | None:
        if self.done:
            return None
        i = self.pos
        f = self.frames[i]
        self.pos += 1
        self.last_ts = f.msg.get("ts", self.last_ts)
        if self.venue == "binance":
            d = f.msg.get("data", {})
            book = self.books.get(d.get("s"))
            if d.get("e") == "depthUpdate" and book is not None and d["u"] > book.sequence:
                book.update(d["b"], d["a"])
                book.sequence = d["u"]
        elif f.stream.startswith("orderbook."):
            d = f.msg["data"]
            if f.msg["type"] == "snapshot" or d["u"] == 1:
                self.books[d["s"]] = ReferenceBook(d["b"], d["a"], d["u"])
            elif d["s"] in self.books:
                self.books[d["s"]].update(d["b"], d["a"])
                self.books[d["s"]].sequence = d["u"]
        return i, f

    def skip(self, n: int) -> None:
        for _ in range(n):
            if self.advance() is None:
                return

    def rest_snapshot(self, symbol: str) -> dict:
        book = self.books[symbol]
        bids, asks = book.levels()
        return {"lastUpdateId": book.sequence, "bids": bids, "asks": asks}

    def is_depth(self, f: Frame) -> bool:
        return "@depth" in f.stream or f.stream.startswith("orderbook.")


class ReplayServer:
    """One server per tape. `url` is ws://127.0.0.1:PORT; Binance clients open /stream?streams=...,
    Bybit clients open any path and send {"op": "subscribe", "args": [...]}."""

    def __init__(self, tape: Tape, faults: WsFaults | None = None) -> None:
        self.tape = tape
        self.faults = faults or WsFaults()
        self.connections = 0
        self.subscriptions: list[list[str]] = []
        self.pings = 0
        self._server = None

    async def start(self) -> str:
        self._server = await serve(self._handler, "127.0.0.1", 0, compression=None, max_queue=None)
        return self.url

    @property
    def url(self) -> str:
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    async def stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _handler(self, ws) -> None:
        self.connections += 1
        if self.faults.slow_consumer_s is not None:
            # a small kernel send buffer, so a client that stops reading shows up in our own buffer
            # after kilobytes rather than megabytes
            sock = ws.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        if self.tape.venue == "binance":
            query = parse_qs(urlparse(ws.request.path).query)
            wanted = {_norm(s) for s in query.get("streams", [""])[0].split("/") if s}
            self.subscriptions.append(sorted(wanted))
            await self._stream(ws, lambda f: _norm(f.stream) in wanted, asyncio.Lock())
        else:
            await self._bybit(ws)

    async def _stream(self, ws, wanted, lock: asyncio.Lock) -> None:
        faults, tape = self.faults, self.tape
        held: str | None = None
        held_stream = ""
        try:
            while True:
                async with lock:
                    step = tape.advance()
                    if step is None:
                        break
                    i, f = step
                    if not wanted(f):
                        continue
                    fault = faults.pick(i)
                    if fault == "gap" and not tape.is_depth(f):
                        fault = None
                    text = f.raw
                    if fault is not None:
                        tape.injected[fault] += 1
                    if fault in ("drop", "gap"):
                        continue
                    if fault == "malformed":
                        text = text[: len(text) // 2]
                    if fault == "reorder" and held is None:
                        held, held_stream = text, f.stream
                        continue
                    await self._send(ws, text)
                    if held is not None and held_stream == f.stream:
                        await self._send(ws, held)  # after the next frame of the same stream: out of order
                        held = None
                    if fault == "duplicate":
                        await self._send(ws, text)
                    if fault == "disconnect":
                        tape.skip(faults.missed_on_disconnect)
                        await ws.close(1011, "injected disconnect")
                        return
                if faults.delay_s:
                    await asyncio.sleep(faults.delay_s)
                elif i % 32 == 0:
                    await asyncio.sleep(0)
            if held is not None:
                await self._send(ws, held)
            await ws.wait_closed()  # a quiet market: stay connected
        except (ConnectionClosed, _CutOff):
            return

    async def _send(self, ws, text: str) -> None:
        limit = self.faults.slow_consumer_s
        if limit is None:
            await ws.send(text)
            return
        try:
            await asyncio.wait_for(ws.send(text), limit)
        except TimeoutError:
            self.tape.injected["slow_consumer"] += 1
            ws.transport.abort()
            raise _CutOff from None

    async def _bybit(self, ws) -> None:
        subscribed: set[str] = set()
        lock = asyncio.Lock()
        ready = asyncio.Event()

        async def reader() -> None:
            async for raw in ws:
                req = json.loads(raw)
                op = req.get("op")
                if op == "ping":
                    self.pings += 1
                    async with lock:
                        await ws.send(json.dumps({"success": True, "ret_msg": "pong", "conn_id": "local", "op": "pong"}))
                elif op in ("subscribe", "unsubscribe"):
                    args = list(req.get("args", []))
                    async with lock:
                        if op == "subscribe":
                            self.subscriptions.append(args)
                            subscribed.update(args)
                        else:
                            subscribed.difference_update(args)
                        await ws.send(json.dumps({"success": True, "ret_msg": "", "conn_id": "local", "op": op}))
                        if op == "subscribe":
                            for topic in args:
                                sym = topic.rsplit(".", 1)[-1]
                                book = self.tape.books.get(sym)
                                if topic.startswith("orderbook.") and book is not None:
                                    bids, asks = book.levels()
                                    await ws.send(json.dumps({"topic": topic, "type": "snapshot", "ts": self.tape.last_ts,
                                                              "data": {"s": sym, "b": bids, "a": asks, "u": book.sequence}}))
                    ready.set()

        task = asyncio.get_running_loop().create_task(reader())
        try:
            await asyncio.wait_for(ready.wait(), 10)
            await self._stream(ws, lambda f: f.stream in subscribed, lock)
        except (ConnectionClosed, TimeoutError):
            pass
        finally:
            task.cancel()
