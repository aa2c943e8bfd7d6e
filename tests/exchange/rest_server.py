"""A local HTTP server (aiohttp, 127.0.0.1) answering ccxt's Binance and Bybit v5 public REST calls
with recorded payloads from ../shared/data/exchange-payloads, plus fault injection.

Answers come from: the ccxt static-response subsets (klines, depth, trades, tickers), the nautilus
REST captures and API-doc examples (premium index, open interest, long/short), the cryptofeed
exchangeInfo files, and, for depth of the symbols a websocket tape replays, the tape's live
reference book (so a resync finds a snapshot that matches the stream, as on the real venue).
`RestFault`s make matching requests answer 429, 5xx, an auth error, or hang (timeout); every request
is logged in `requests` (path, query, headers) so tests can check what ccxt sent.
`history[(path, interval)]` serves long kline history (`kline_history`: a recorded OHLCV file, its
times moved so the newest candle is forming now) with Binance's startTime/endTime/limit rules, so
paginated warm-up fetches page through real candles.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import numpy as np
from aiohttp import web

from tests.exchange.recordings import PAYLOADS


def _load(path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))


def _cryptofeed_body(path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if " -> " in line:
            return line.split(" -> ", 1)[1].split(": ", 1)[1]
    raise ValueError(f"no REST reply in {path}")


def _ccxt(exchange: str) -> dict[tuple[str, str], object]:
    """(method, first input arg + second) -> raw httpResponse of the ccxt static fixture."""
    d = _load(PAYLOADS / exchange / "ccxt" / f"ccxt_static_response_{exchange}_subset.json")
    out = {}
    for method, entries in d["methods"].items():
        for e in entries:
            args = e["input"]
            key = (method, str(args[0]) if args else "", str(args[1]) if len(args) > 1 else "")
            out[key] = e["httpResponse"]
    return out


def kline_history(path, step_ms: int, now_ms: int) -> np.ndarray:
    """A freqtrade OHLCV feather as a (n, 6) array [open ms, o, h, l, c, v], shifted by whole
    candles so the last row is the candle forming at `now_ms`."""
    import pandas as pd

    df = pd.read_feather(path)
    ts = df["date"].astype("int64").to_numpy()
    ts = ts // 1_000_000 if ts.max() > 10**14 else ts  # ns -> ms
    shift = now_ms // step_ms * step_ms - int(ts[-1])
    out = np.column_stack([ts + shift, df[["open", "high", "low", "close", "volume"]].to_numpy(np.float64)])
    return out


def _binance_klines(rows: np.ndarray, step_ms: int, q: dict) -> list:
    """Binance /klines: open time >= startTime, <= endTime, at most `limit` (default 500, max 1500);
    without startTime the newest ones."""
    limit = min(int(q.get("limit", 500)), 1500)
    ts = rows[:, 0]
    sel = np.ones(len(rows), dtype=bool)
    if "startTime" in q:
        sel &= ts >= int(q["startTime"])
    if "endTime" in q:
        sel &= ts <= int(q["endTime"])
    picked = rows[sel]
    picked = picked[:limit] if "startTime" in q else picked[-limit:]
    # str(float) is the shortest text that parses back to the same float: exact, as Binance's decimals
    return [[int(r[0]), *(str(float(x)) for x in r[1:6]), int(r[0]) + step_ms - 1, "0", 0, "0", "0", "0"]
            for r in picked]


@dataclass
class RestFault:
    """Make the next `times` requests whose path starts with `path` fail with `kind`:
    '429', '500', '502', '503', 'auth' (Binance -2015 / Bybit 10003), 'timeout' (never answers
    within `delay_s`), or 'delay' (answers normally after `delay_s`)."""

    path: str
    kind: str
    times: int = 1
    delay_s: float = 30.0


@dataclass
class Logged:
    path: str
    query: dict
    headers: dict


@dataclass
class RestServer:
    tapes: dict = field(default_factory=dict)  # venue symbol -> callable returning the live depth body
    desk: object = None  # an order desk (order_desk, bybit_desk, binance_futures_desk) answering the order endpoints
    faults: list[RestFault] = field(default_factory=list)
    requests: list[Logged] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    history: dict = field(default_factory=dict)  # (path, interval) -> (kline_history rows, step ms)
    port: int = 0

    def __post_init__(self) -> None:
        b = PAYLOADS / "binance"
        n = b / "nautilus"
        self.bn = _ccxt("binance")
        self.by = _ccxt("bybit")
        self.by_docs = _load(PAYLOADS / "bybit" / "docs" / "bybit-v5-market-rest_doc-examples.json")
        self.routes = {
            "/api/v3/exchangeInfo": _cryptofeed_body(b / "cryptofeed" / "BINANCE.0"),
            "/fapi/v1/exchangeInfo": _cryptofeed_body(b / "cryptofeed" / "BINANCE_FUTURES.0"),
            "/dapi/v1/exchangeInfo": _cryptofeed_body(b / "cryptofeed" / "BINANCE_DELIVERY.0"),
            "/api/v3/ticker/24hr": self.bn[("fetchTicker", "BTC/USDT", "")],
            "/api/v3/aggTrades": self.bn[("fetchTrades", "BTC/USDT", "None")],
            "/fapi/v1/aggTrades": _load(n / "http_futures_market_agg_trades.json"),
            "/fapi/v1/ticker/24hr": _load(n / "http_futures_market_ticker_24hr.json"),
            "/fapi/v1/premiumIndex": _load(n / "http_futures_market_premium_index.json"),
            "/fapi/v1/openInterest": _load(n / "http_futures_market_open_interest.json"),
            "/futures/data/globalLongShortAccountRatio": _load(n / "http_futures_market_global_long_short_account_ratio.json"),
            "/api/v3/time": _load(n / "http_spot_market_time.json"),
            "/api/v3/account": _load(n / "http_spot_wallet_account.json"),
            "/api/v3/ping": {},
            "/fapi/v1/time": _load(n / "http_spot_market_time.json"),
            "/fapi/v1/ping": {},
            "/v5/market/recent-trade": self.by[("fetchTrades", "BTC/USDT:USDT", "None")],
            "/v5/market/time": self._doc("time")[0],
            "/v5/market/open-interest": self._doc("open-interest")[0],
            "/v5/market/account-ratio": self._doc("long-short-ratio")[0],
        }
        self.klines = {
            ("/api/v3/klines", "1m"): _load(n / "http_spot_market_klines.json"),
            ("/api/v3/klines", "1h"): self.bn[("fetchOHLCV", "BTC/USDT", "1h")],
            ("/fapi/v1/klines", "1m"): self.bn[("fetchOHLCV", "BTC/USDT:USDT", "1m")],
            ("/v5/market/kline", "60"): self.by[("fetchOHLCV", "BTC/USDT:USDT", "1h")],
        }
        nb = PAYLOADS / "bybit" / "nautilus"
        self.instruments = {
            "linear": _load(nb / "http_get_instruments_linear.json"),
            "spot": _load(nb / "http_get_instruments_spot.json"),
            "inverse": _load(nb / "http_get_instruments_inverse.json"),
            "option": _load(nb / "http_get_instruments_option.json"),
        }

    def _doc(self, page: str) -> list:
        return [e["example"] for e in self.by_docs[f"docs/v5/market/{page}.mdx"]]

    # --- the answers -----------------------------------------------------------------------------
    def answer(self, path: str, q: dict) -> object | None:
        if path in ("/api/v3/depth", "/fapi/v1/depth"):
            live = self.tapes.get(q.get("symbol", ""))
            if live is not None:
                return live()
            return self.bn[("fetchOrderBook", "BTC/USDT:USDT" if path.startswith("/fapi") else "BTC/USDT", "5" if path.startswith("/fapi") else "2")]
        if path in ("/api/v3/klines", "/fapi/v1/klines", "/v5/market/kline"):
            long = self.history.get((path, q.get("interval", "")))
            if long is not None:
                return _binance_klines(*long, q)
            return self.klines.get((path, q.get("interval", "")))
        if path == "/v5/market/instruments-info":
            reply = self.instruments.get(q.get("category", ""))
            if reply is not None:
                # the sanitised capture lacks result.category, which the live API always sends and
                # ccxt reads to tell linear from inverse
                reply = json.loads(json.dumps(reply))
                reply["result"].setdefault("category", q["category"])
            return reply
        if path == "/v5/market/orderbook":
            sym = "BTC/USDT:USDT" if q.get("category") == "linear" else "BTC/USDT"
            return self.by[("fetchOrderBook", sym, "2")]
        if path == "/v5/market/tickers":
            if q.get("category") == "linear":
                return self.by[("fetchTicker", "BTC/USDT:USDT", "")]
            return next(e for e in self._doc("tickers") if e["result"]["category"] == q.get("category"))
        return self.routes.get(path)

    def _fault(self, path: str) -> RestFault | None:
        for f in self.faults:
            if f.times > 0 and path.startswith(f.path):
                f.times -= 1
                return f
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path, q = request.path, dict(request.query)
        self.requests.append(Logged(path, q, dict(request.headers)))
        bybit = path.startswith("/v5/")
        fault = self._fault(path)
        if fault is not None:
            if fault.kind in ("timeout", "delay"):
                await asyncio.sleep(fault.delay_s)
            elif fault.kind == "429":
                body = {"retCode": 10006, "retMsg": "Too many visits!"} if bybit else {"code": -1003, "msg": "Too many requests."}
                return web.json_response(body, status=429)
            elif fault.kind in ("500", "502", "503"):
                return web.Response(status=int(fault.kind), text="<html>upstream error</html>")
            elif fault.kind == "auth":
                # the worst case for secrets: an exchange that quotes the key it refused
                key = request.headers.get("X-BAPI-API-KEY" if bybit else "X-MBX-APIKEY", "")
                if bybit:
                    return web.json_response({"retCode": 10003, "retMsg": f"API key is invalid. {key}", "result": {}})
                return web.json_response({"code": -2015, "msg": f"Invalid API-key, IP, or permissions for action. {key}"}, status=401)
        if self.desk is not None:
            if request.method in ("POST", "PUT", "DELETE") and request.can_read_body:
                # Bybit v5 posts a JSON body, Binance a form
                q.update(await request.json() if request.content_type == "application/json" else dict(await request.post()))
            answered = self.desk.answer(request.method, path, q)
            if answered is not None:
                status, body = answered
                return web.json_response(body, status=status)
        body = self.answer(path, q)
        if body is None:
            self.unknown.append(f"{request.method} {path}?{request.query_string}")
            if bybit:
                return web.json_response({"retCode": 10001, "retMsg": f"not recorded: {path}", "result": {}})
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        text = body if isinstance(body, str) else json.dumps(body)
        return web.Response(text=text, content_type="application/json")

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - aiohttp has no public accessor
        return self.url

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        await self._runner.cleanup()
