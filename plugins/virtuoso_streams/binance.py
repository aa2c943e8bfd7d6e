"""Binance public streams (spot and USDⓈ-M futures) as a Virtuoso source named `binance`.

One combined-stream connection (`/stream?streams=a/b/c`, so the URL is the subscription and a
reconnect resubscribes by itself) carries, per symbol: `@depth@100ms` diffs synced into a LocalBook
with REST snapshots (sync.BinanceDepthSync), `@aggTrade` (or `@trade`), `@kline_<tf>`, and on futures
`@markPrice@1s` (funding) and `@forceOrder` (liquidations). Spot or futures follows the symbols:
`BTC/USDT` spot, `BTC/USDT:USDT` USDⓈ-M; mixing both in one source is refused.

Options ([sources.binance]): market ("usdm" or "spot": a check that the symbols are of that market,
one clear error otherwise; unset = whatever the symbols are), testnet (Binance's testnet endpoints),
ws_url, rest_url (override the venue endpoints, e.g. the local test servers), streams (subset of depth, trades, klines, funding, liquidations), timeframes (kline
intervals, default ["1m"]), trade_stream ("aggTrade" or "trade"), snapshot_limit (REST depth, 1000),
plus the connection options of connection.StreamSource. Neighbours: messages.py, sync.py.
"""

from __future__ import annotations

import asyncio
import logging
from typing import ClassVar

from virtuoso_streams import messages as m
from virtuoso_streams.connection import StreamSource, backoff_delay, now_ms
from virtuoso_streams.sync import BinanceDepthSync
from virtuoso_tui.api import SourceError
from virtuoso_tui.model import BookDelta, Candle, Funding, Liquidation, Trade

log = logging.getLogger(__name__)

SPOT_WS = "wss://stream.binance.com:9443"
FUTURES_WS = "wss://fstream.binance.com"
SPOT_REST = "https://api.binance.com"
FUTURES_REST = "https://fapi.binance.com"
SPOT_TESTNET_WS = "wss://stream.testnet.binance.vision"
FUTURES_TESTNET_WS = "wss://stream.binancefuture.com"
SPOT_TESTNET_REST = "https://testnet.binance.vision"
FUTURES_TESTNET_REST = "https://testnet.binancefuture.com"
MARKETS = {"usdm": True, "spot": False}
ALL_STREAMS = ("depth", "trades", "klines", "funding", "liquidations")


class BinanceStream(StreamSource):
    name: ClassVar[str] = "binance"
    provides: ClassVar[frozenset[str]] = frozenset(
        {"book", "trades", "candles", "funding", "liquidations"})

    def __init__(self, symbols, options=None) -> None:
        super().__init__(symbols, options)
        perps = {":" in s for s in self.symbols}
        if len(perps) > 1:
            raise SourceError("binance: spot and futures symbols need two sources ([sources.binance] takes one market)")
        self.futures = perps.pop()
        o = self.options
        market = o.get("market")
        if market is not None:
            if market not in MARKETS:
                raise SourceError(f"binance: market must be 'usdm' or 'spot', not {market!r} ([sources.binance] market)")
            if MARKETS[market] != self.futures:
                example = self.symbols[0]
                raise SourceError(
                    f"binance: [sources.binance] market = {market!r} but {example} is a "
                    f"{'USDⓈ-M perpetual' if self.futures else 'spot'} symbol; set market = "
                    f"\"{'usdm' if self.futures else 'spot'}\" or use {'BASE/QUOTE' if self.futures else 'BASE/QUOTE:QUOTE'} symbols")
        testnet = bool(o.get("testnet", False))
        ws = (FUTURES_TESTNET_WS if testnet else FUTURES_WS) if self.futures else (SPOT_TESTNET_WS if testnet else SPOT_WS)
        rest = (FUTURES_TESTNET_REST if testnet else FUTURES_REST) if self.futures else (SPOT_TESTNET_REST if testnet else SPOT_REST)
        self.ws_base = str(o.get("ws_url", ws)).rstrip("/")
        self.rest_base = str(o.get("rest_url", rest)).rstrip("/")
        self.streams = tuple(o.get("streams", ALL_STREAMS))
        unknown = set(self.streams) - set(ALL_STREAMS)
        if unknown:
            raise SourceError(f"binance: unknown streams {sorted(unknown)} (known: {', '.join(ALL_STREAMS)})")
        if not self.futures:
            self.streams = tuple(s for s in self.streams if s not in ("funding", "liquidations"))
        self.timeframes = tuple(o.get("timeframes", ("1m",)))
        self.trade_stream = str(o.get("trade_stream", "aggTrade"))
        if self.trade_stream not in ("aggTrade", "trade"):
            raise SourceError(f"binance: trade_stream must be 'aggTrade' or 'trade', not {self.trade_stream!r}")
        self.snapshot_limit = int(o.get("snapshot_limit", 1000))
        self.books = {vid: BinanceDepthSync(sym, futures=self.futures) for vid, sym in self.ids.items()}
        self._fetching: set[str] = set()
        self._depth_seen = 0
        self._http = None

    # --- subscription ----------------------------------------------------------------------------
    def stream_names(self) -> list[str]:
        names = []
        for vid in self.ids:
            low = vid.lower()
            if "depth" in self.streams:
                names.append(f"{low}@depth@100ms")
            if "trades" in self.streams:
                names.append(f"{low}@{self.trade_stream}")
            if "klines" in self.streams:
                names.extend(f"{low}@kline_{tf}" for tf in self.timeframes)
            if "funding" in self.streams:
                names.append(f"{low}@markPrice@1s")
            if "liquidations" in self.streams:
                names.append(f"{low}@forceOrder")
        return names

    def url(self) -> str:
        return f"{self.ws_base}/stream?streams={'/'.join(self.stream_names())}"

    @property
    def resyncs(self) -> int:
        return sum(b.resyncs for b in self.books.values())

    def books_valid(self) -> dict[str, bool]:
        return {b.symbol: b.valid for b in self.books.values()}

    def on_disconnect(self) -> None:
        for vid, sync in self.books.items():
            self.books[vid] = fresh = BinanceDepthSync(sync.symbol, futures=self.futures)
            fresh.resyncs = sync.resyncs + (1 if sync.valid else 0)

    # --- frames -> records -----------------------------------------------------------------------
    def handle(self, raw: bytes | str) -> list:
        if raw.find(b"@depth" if raw.__class__ is bytes else "@depth", 0, 48) != -1:
            try:
                return self._on_depth(m.decode_binance_depth_frame(raw).data)
            except m.DecodeError:
                pass  # not the shape we expected: the general path below decides
        try:
            env = m.decode_binance_envelope(raw)
            if not env.data:
                return []  # a reply to a control request
            stream = env.stream
            kind = stream.split("@", 2)[1] if "@" in stream else ""
            if kind == "depth":
                return self._on_depth(m.decode_binance_depth(env.data))
            if kind in ("aggTrade", "trade"):
                t = m.decode_binance_trade(env.data)
                self._lag(t.E or t.T)
                return [Trade(self.ids.get(t.s, t.s), t.T, t.p, t.q, "sell" if t.m else "buy",
                              str(t.a if kind == "aggTrade" else t.t))]
            if kind.startswith("kline_"):
                k = m.decode_binance_kline(env.data)
                b = k.k
                self._lag(k.E)
                return [Candle(self.ids.get(k.s, k.s), b.i, b.t, b.o, b.h, b.l, b.c, b.v, b.V, b.n, b.x)]
            if kind == "markPrice":
                f = m.decode_binance_mark(env.data)
                self._lag(f.E)
                if f.r is None:
                    return []
                return [Funding(self.ids.get(f.s, f.s), f.E, f.r, f.T or None, mark=f.p)]
            if kind == "forceOrder":
                fo = m.decode_binance_force(env.data).o
                self._lag(fo.T)
                price = fo.ap if fo.ap else fo.p
                amount = fo.z if fo.z else fo.q
                return [Liquidation(self.ids.get(fo.s, fo.s), fo.T, "sell" if fo.S == "SELL" else "buy", price, amount)]
            return []
        except m.DecodeError as exc:
            self.decode_errors += 1
            log.warning("binance: undecodable frame skipped (%s)", exc)
            return []

    def _lag(self, exchange_ms: int) -> None:
        if exchange_ms:
            self.last_lag_ms = float(now_ms() - exchange_ms)

    def _on_depth(self, d: m.BinanceDepth) -> list:
        sync = self.books.get(d.s)
        if sync is None:
            return []
        self._depth_seen += 1
        if d.E and (not self._depth_seen & 15 or self.last_lag_ms is None):  # a gauge: sampling is enough
            self.last_lag_ms = float(now_ms() - d.E)
        if sync.state == "live":  # the hot path: no result object unless something is wrong
            r = sync.apply_live(d)
            if r is None:
                return []
            if r.__class__ is BookDelta:
                return [r]
            res = r
        else:
            res = sync.on_diff(d)
        if res.need_resync or (sync.state == "buffering" and d.s not in self._fetching):
            self._request_snapshot(d.s, res.reason)
        if res.need_resync:
            return res.events + [self.health(f"resync {sync.symbol}: {res.reason}")]
        return res.events

    # --- REST snapshots --------------------------------------------------------------------------
    def _request_snapshot(self, vid: str, reason: str) -> None:
        if vid in self._fetching:
            return
        self._fetching.add(vid)
        self.spawn(self._snapshot_task(vid))

    async def _snapshot_task(self, vid: str) -> None:
        try:
            for attempt in range(20):
                snap = await self._fetch_snapshot(vid)
                sync = self.books[vid]
                if snap is not None:
                    res = sync.on_snapshot(snap, now_ms())
                    await self.emit(res.events)
                    if not res.need_resync:
                        return
                    await self.emit([self.health(f"resync {sync.symbol}: {res.reason}")])
                await asyncio.sleep(backoff_delay(attempt, self.backoff_base_s / 5, self.backoff_max_s, self._rng))
            await self.emit([self.health(f"{self.ids[vid]}: no usable depth snapshot after 20 tries")])
        finally:
            self._fetching.discard(vid)

    async def _fetch_snapshot(self, vid: str) -> m.BinanceDepthSnapshot | None:
        import aiohttp

        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        path = "/fapi/v1/depth" if self.futures else "/api/v3/depth"
        url = f"{self.rest_base}{path}"
        try:
            async with self._http.get(url, params={"symbol": vid, "limit": str(self.snapshot_limit)}) as r:
                body = await r.read()
                if r.status != 200:
                    log.info("binance: depth snapshot %s answered HTTP %s", vid, r.status)
                    return None
            return m.decode_binance_snapshot(body)
        except (aiohttp.ClientError, TimeoutError, m.DecodeError) as exc:
            log.info("binance: depth snapshot %s failed (%s)", vid, type(exc).__name__)
            return None

    async def close(self) -> None:
        await super().close()
        if self._http is not None:
            await self._http.close()
