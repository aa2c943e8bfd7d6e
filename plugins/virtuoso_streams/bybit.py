"""Bybit v5 public streams as a Virtuoso source named `bybit`.

Topics per symbol: `orderbook.<depth>.<SYM>` (snapshot + deltas, sync.BybitBookSync; a gap or a
crossed book unsubscribes and resubscribes the topic, which makes Bybit send a fresh snapshot),
`publicTrade.<SYM>`, `tickers.<SYM>` (merged snapshot+delta; yields Ticker, Funding and
OpenInterest on perpetuals), `kline.<interval>.<SYM>` and `allLiquidation.<SYM>`. The heartbeat is
Bybit's application ping (`{"op": "ping"}` every ping_interval_s) besides websocket pings.
`BTC/USDT` uses the spot endpoint, `BTC/USDT:USDT` the linear one; one market per source.

Options ([sources.bybit]): testnet (Bybit's testnet endpoints), ws_url (overrides them), depth (1, 50, 200, 500; default 50), streams (subset of book,
trades, tickers, klines, liquidations), timeframes (default ["1m"]), plus connection.StreamSource's.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import ClassVar

from virtuoso_streams import messages as m
from virtuoso_streams.connection import StreamSource, now_ms
from virtuoso_streams.sync import BybitBookSync
from virtuoso_tui.api import SourceError
from virtuoso_tui.model import Candle, Funding, Liquidation, OpenInterest, Ticker, Trade

log = logging.getLogger(__name__)

LINEAR_WS = "wss://stream.bybit.com/v5/public/linear"
SPOT_WS = "wss://stream.bybit.com/v5/public/spot"
LINEAR_TESTNET_WS = "wss://stream-testnet.bybit.com/v5/public/linear"
SPOT_TESTNET_WS = "wss://stream-testnet.bybit.com/v5/public/spot"
ALL_STREAMS = ("book", "trades", "tickers", "klines", "liquidations")
#: Virtuoso timeframe -> Bybit kline interval
INTERVALS = {"1m": "1", "3m": "3", "5m": "5", "15m": "15", "30m": "30", "1h": "60", "2h": "120",
             "4h": "240", "1d": "D"}
TIMEFRAMES = {v: k for k, v in INTERVALS.items()}
SUBSCRIBE_BATCH = 10  # Bybit spot accepts at most 10 args per subscribe request


class BybitStream(StreamSource):
    name: ClassVar[str] = "bybit"
    provides: ClassVar[frozenset[str]] = frozenset(
        {"book", "trades", "candles", "ticker", "funding", "open_interest", "liquidations"})

    def __init__(self, symbols, options=None) -> None:
        super().__init__(symbols, options)
        perps = {":" in s for s in self.symbols}
        if len(perps) > 1:
            raise SourceError("bybit: spot and perpetual symbols need two sources ([sources.bybit] takes one market)")
        self.linear = perps.pop()
        o = self.options
        if o.get("testnet"):
            default_ws = LINEAR_TESTNET_WS if self.linear else SPOT_TESTNET_WS
        else:
            default_ws = LINEAR_WS if self.linear else SPOT_WS
        self.ws_url = str(o.get("ws_url", default_ws))
        self.depth = int(o.get("depth", 50))
        self.streams = tuple(o.get("streams", ALL_STREAMS))
        unknown = set(self.streams) - set(ALL_STREAMS)
        if unknown:
            raise SourceError(f"bybit: unknown streams {sorted(unknown)} (known: {', '.join(ALL_STREAMS)})")
        if not self.linear:
            self.streams = tuple(s for s in self.streams if s != "liquidations")
        self.timeframes = tuple(o.get("timeframes", ("1m",)))
        for tf in self.timeframes:
            if tf not in INTERVALS:
                raise SourceError(f"bybit: timeframe {tf!r} has no Bybit kline interval (known: {', '.join(INTERVALS)})")
        self.books = {vid: BybitBookSync(sym) for vid, sym in self.ids.items()}
        self._tickers: dict[str, dict] = {}
        self._resubscribing: set[str] = set()
        self._pinger: asyncio.Task | None = None

    def url(self) -> str:
        return self.ws_url

    def topics(self) -> list[str]:
        out = []
        for vid in self.ids:
            if "book" in self.streams:
                out.append(f"orderbook.{self.depth}.{vid}")
            if "trades" in self.streams:
                out.append(f"publicTrade.{vid}")
            if "tickers" in self.streams:
                out.append(f"tickers.{vid}")
            if "klines" in self.streams:
                out.extend(f"kline.{INTERVALS[tf]}.{vid}" for tf in self.timeframes)
            if "liquidations" in self.streams:
                out.append(f"allLiquidation.{vid}")
        return out

    async def subscribe(self, ws) -> None:
        topics = self.topics()
        for i in range(0, len(topics), SUBSCRIBE_BATCH):
            await ws.send(json.dumps({"op": "subscribe", "args": topics[i:i + SUBSCRIBE_BATCH]}))
        if self._pinger is None or self._pinger.done():
            self._pinger = self.spawn(self._ping_loop(ws))

    async def _ping_loop(self, ws) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            while True:
                await asyncio.sleep(self.ping_interval_s)
                await ws.send('{"op":"ping"}')
        except ConnectionClosed:
            return

    @property
    def resyncs(self) -> int:
        return sum(b.resyncs for b in self.books.values())

    def books_valid(self) -> dict[str, bool]:
        return {b.symbol: b.valid for b in self.books.values()}

    def on_disconnect(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
            self._pinger = None
        self._resubscribing.clear()
        self._tickers.clear()
        for vid, sync in self.books.items():
            fresh = BybitBookSync(sync.symbol)
            fresh.resyncs = sync.resyncs + (1 if sync.valid else 0)
            self.books[vid] = fresh

    # --- frames -> records -----------------------------------------------------------------------
    def handle(self, raw: bytes | str) -> list:
        head = raw[:24]
        if (b'"orderbook.' in head) if isinstance(head, bytes) else ('"orderbook.' in head):
            try:
                frame = m.decode_bybit_book_frame(raw)
                if frame.ts:
                    self.last_lag_ms = float(now_ms() - frame.ts)
                return self._on_book(frame, frame.data)
            except m.DecodeError:
                pass  # not the shape we expected: the general path below decides
        try:
            env = m.decode_bybit_envelope(raw)
            if not env.data:
                if env.op == "subscribe" and env.success is False:
                    return [self.health(f"subscription refused: {env.ret_msg}")]
                return []
            topic = env.topic
            kind, _, rest = topic.partition(".")
            if env.ts:
                self.last_lag_ms = float(now_ms() - env.ts)
            if kind == "orderbook":
                return self._on_book(env, m.decode_bybit_book(env.data))
            if kind == "publicTrade":
                return [Trade(self.ids.get(t.s, t.s), t.T, t.p, t.v, "buy" if t.S == "Buy" else "sell", t.i or None)
                        for t in m.decode_bybit_trades(env.data)]
            if kind == "tickers":
                return self._on_ticker(env, m.decode_bybit_ticker(env.data))
            if kind == "kline":
                interval, _, vid = rest.partition(".")
                tf = TIMEFRAMES.get(interval, interval)
                sym = self.ids.get(vid, vid)
                return [Candle(sym, tf, k.start, k.open, k.high, k.low, k.close, k.volume, closed=k.confirm)
                        for k in m.decode_bybit_klines(env.data)]
            if kind == "allLiquidation":
                # S is the liquidated POSITION's side; the forced order goes the other way
                return [Liquidation(self.ids.get(x.s, x.s), x.T, "sell" if x.S == "Buy" else "buy", x.p, x.v)
                        for x in m.decode_bybit_liquidations(env.data)]
            return []
        except m.DecodeError as exc:
            self.decode_errors += 1
            log.warning("bybit: undecodable frame skipped (%s)", exc)
            return []

    def _on_book(self, env: m.BybitEnvelope | m.BybitBookFrame, data: m.BybitBook) -> list:
        sync = self.books.get(data.s)
        if sync is None:
            return []
        if env.type == "snapshot":
            self._resubscribing.discard(data.s)
        res = sync.on_message(env.type, data, env.cts or env.ts)
        if res.need_resync:
            self._resubscribe(data.s)
            return res.events + [self.health(f"resync {sync.symbol}: {res.reason}")]
        return res.events

    def _resubscribe(self, vid: str) -> None:
        if vid in self._resubscribing or self._ws is None:
            return
        self._resubscribing.add(vid)
        topic = f"orderbook.{self.depth}.{vid}"
        ws = self._ws

        async def again() -> None:
            from websockets.exceptions import ConnectionClosed

            try:
                await ws.send(json.dumps({"op": "unsubscribe", "args": [topic]}))
                await ws.send(json.dumps({"op": "subscribe", "args": [topic]}))
            except ConnectionClosed:
                pass  # the reconnect resubscribes everything

        self.spawn(again())

    def _on_ticker(self, env: m.BybitEnvelope, t: m.BybitTicker) -> list:
        state = self._tickers.setdefault(t.symbol, {})
        fields = {k: v for k, v in ((f, getattr(t, f)) for f in t.__struct_fields__) if v is not None}
        state.update(fields)
        sym = self.ids.get(t.symbol, t.symbol)
        ts = env.ts
        out = []
        last = state.get("lastPrice")
        if last is not None:
            pct = state.get("price24hPcnt")
            out.append(Ticker(sym, ts, last, state.get("bid1Price"), state.get("ask1Price"),
                              state.get("highPrice24h"), state.get("lowPrice24h"), state.get("volume24h"),
                              pct * 100.0 if pct is not None else None, state.get("markPrice"),
                              state.get("indexPrice")))
        if t.fundingRate is not None:
            out.append(Funding(sym, ts, t.fundingRate, state.get("nextFundingTime"), mark=state.get("markPrice")))
        if t.openInterest is not None:
            out.append(OpenInterest(sym, ts, t.openInterest, state.get("openInterestValue")))
        return out
