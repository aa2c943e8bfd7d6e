"""The ccxt source with the REAL ccxt async client against the local REST server: every data type
parsed into the model from recorded payloads, retries on 429/5xx/timeouts, staleness, refused keys."""

from __future__ import annotations

import json
import math

import pytest
from virtuoso_ccxt.source import CcxtSource, market_types

from tests.exchange import RestFault, RestServer
from tests.exchange.recordings import PAYLOADS
from virtuoso_tui.market.source import SourceError
from virtuoso_tui.model import BookSnapshot, Candle, Funding, LongShortRatio, OpenInterest, Ticker, Trade
from virtuoso_tui.model.market import SourceHealth

NAUTILUS = PAYLOADS / "binance" / "nautilus"


def load(name: str):
    return json.loads((NAUTILUS / name).read_text())


@pytest.fixture
async def server():
    s = RestServer()
    await s.start()
    yield s
    await s.stop()


def opts(server, **kw) -> dict:
    return {"exchange": "binance", "base_url": server.url, "rounds": 1, "backoff_base_s": 0.01,
            "backoff_max_s": 0.02, "seed": 3, "fetch_window_ms": 5_000, "rate_limit_ms": 1, **kw}


async def collect(src) -> list:
    return [e async for e in src.events()]


def of(events, cls, symbol=None) -> list:
    return [e for e in events if isinstance(e, cls) and (symbol is None or e.symbol == symbol)]


async def test_binance_every_piece_parsed(server):
    src = CcxtSource(["BTC/USDT", "BTC/USDT:USDT"], opts(server, timeframes=["1m"]))
    assert server.requests == []  # markets load lazily, on the first round
    events = await collect(src)
    # spot candles: the recorded klines, row for row
    rows = load("http_spot_market_klines.json")
    candles = of(events, Candle, "BTC/USDT")
    assert [(c.ts, c.open, c.high, c.low, c.close, c.volume) for c in candles] == [
        (r[0], float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5])) for r in rows]
    assert all(c.closed for c in candles)  # recorded in 2021: every candle has closed
    book = of(events, BookSnapshot, "BTC/USDT")[0]
    assert book.bids == ((42574.3, 0.0107), (42574.2, 0.00646)) and book.sequence == 25445101
    trade = of(events, Trade, "BTC/USDT")[0]  # aggTrade m=false: the buyer was the taker
    assert (trade.price, trade.amount, trade.side, trade.ts) == (73238.7, 0.00109, "buy", 1710327661939)
    assert of(events, Ticker, "BTC/USDT")[0].last == 73369.84
    # perpetual: funding, open interest and long/short from the recorded futures payloads
    prem = load("http_futures_market_premium_index.json")
    f = of(events, Funding, "BTC/USDT:USDT")[0]
    assert (f.rate, f.next_funding_ts, f.mark) == (float(prem["lastFundingRate"]), prem["nextFundingTime"], float(prem["markPrice"]))
    oi = of(events, OpenInterest, "BTC/USDT:USDT")[0]
    assert (oi.amount, oi.ts) == (10659.509, 1589437530011)
    ls = of(events, LongShortRatio, "BTC/USDT:USDT")[0]
    newest = max(load("http_futures_market_global_long_short_account_ratio.json"), key=lambda r: int(r["timestamp"]))
    assert (ls.ratio, ls.ts) == (float(newest["longShortRatio"]), int(newest["timestamp"]))
    assert of(events, BookSnapshot, "BTC/USDT:USDT")[0].sequence == 35263532345
    assert not of(events, Funding, "BTC/USDT")  # spot has no funding: absent, not invented
    # only the market types the symbols need were loaded
    info = [r.path for r in server.requests if r.path.endswith("exchangeInfo")]
    assert info == ["/api/v3/exchangeInfo", "/fapi/v1/exchangeInfo"]
    health = of(events, SourceHealth)
    assert {h.extra["symbol"] for h in health} == {"BTC/USDT", "BTC/USDT:USDT"}
    assert all(not h.extra["stale"] and h.detail == "" for h in health)
    last = health[-1].extra
    assert last["success_rate"] == 1.0 and math.isfinite(last["fetch_ms_p99"]) and last["fetch_ms_p50"] > 0
    assert last["data_age_ms"]["BTC/USDT"] > 0


async def test_bybit_linear_pieces(server):
    src = CcxtSource(["BTC/USDT:USDT"], opts(server, exchange="bybit", timeframes=["1h"]))
    events = await collect(src)
    fixture = json.loads((PAYLOADS / "bybit" / "ccxt" / "ccxt_static_response_bybit_subset.json").read_text())
    rows = fixture["methods"]["fetchOHLCV"][0]["httpResponse"]["result"]["list"]
    candles = of(events, Candle)
    assert [c.ts for c in candles] == sorted(int(r[0]) for r in rows)  # bybit sends newest first
    assert candles[0].close == float(min(rows, key=lambda r: int(r[0]))[4])
    tick = fixture["methods"]["fetchTicker"][0]["httpResponse"]["result"]["list"][0]
    assert of(events, Funding)[0].rate == float(tick["fundingRate"])
    assert of(events, Trade)[0].side == "buy"
    docs = json.loads((PAYLOADS / "bybit" / "docs" / "bybit-v5-market-rest_doc-examples.json").read_text())
    ratios = docs["docs/v5/market/long-short-ratio.mdx"][0]["example"]["result"]["list"]
    newest = max(ratios, key=lambda r: int(r["timestamp"]))
    assert of(events, LongShortRatio)[0].ratio == pytest.approx(float(newest["buyRatio"]) / float(newest["sellRatio"]))
    assert of(events, BookSnapshot)[0].asks[0] == (42548.0, 108.998)
    paths = {r.path + "?" + r.query.get("category", "") for r in server.requests if "instruments" in r.path}
    assert paths == {"/v5/market/instruments-info?linear"}


async def test_transient_errors_are_retried(server):
    server.faults = [RestFault("/api/v3/klines", "429", times=2), RestFault("/api/v3/depth", "503"),
                     RestFault("/api/v3/aggTrades", "502"), RestFault("/api/v3/ticker", "timeout", delay_s=1.0)]
    src = CcxtSource(["BTC/USDT"], opts(server, timeout_ms=250))
    events = await collect(src)
    assert of(events, Candle) and of(events, BookSnapshot) and of(events, Trade) and of(events, Ticker)
    assert src.counters["retries"] == 5
    assert [r.path for r in server.requests].count("/api/v3/klines") == 3
    assert of(events, SourceHealth)[-1].detail == ""


async def test_retries_run_out_into_a_failed_piece(server):
    server.faults = [RestFault("/api/v3/depth", "500", times=10)]
    src = CcxtSource(["BTC/USDT"], opts(server, retries=2))
    events = await collect(src)
    assert not of(events, BookSnapshot) and of(events, Candle)  # the rest still arrives
    h = of(events, SourceHealth)[-1]
    assert h.detail == "failed BTC/USDT: book (ExchangeNotAvailable)" and h.extra["success_rate"] == 0.0
    assert [r.path for r in server.requests].count("/api/v3/depth") == 3


async def test_pieces_too_far_apart_make_the_symbol_stale(server):
    server.faults = [RestFault("/api/v3/ticker", "delay", delay_s=0.4)]
    src = CcxtSource(["BTC/USDT", "BTC/USDT:USDT"], opts(server, fetch_window_ms=200))
    events = await collect(src)
    assert not [e for e in events if getattr(e, "symbol", None) == "BTC/USDT"]  # nothing emitted as fresh
    assert of(events, Candle, "BTC/USDT:USDT")
    stale = [h for h in of(events, SourceHealth) if h.extra["stale"]]
    assert len(stale) == 1 and stale[0].extra["symbol"] == "BTC/USDT" and stale[0].extra["spread_ms"] > 200
    assert stale[0].detail.startswith("stale BTC/USDT: pieces ")


async def test_refused_key_is_a_clear_state_without_retry(server):
    server.faults = [RestFault("/api/v3/klines", "auth", times=5)]
    src = CcxtSource(["BTC/USDT"], opts(server))
    events = []
    with pytest.raises(SourceError, match="refused the API credentials"):
        async for e in src.events():
            events.append(e)
    assert src.state == "credentials_refused"
    assert of(events, SourceHealth)[-1].extra["state"] == "credentials_refused"
    assert [r.path for r in server.requests].count("/api/v3/klines") == 1


async def test_unknown_symbol_and_exchange_are_one_clear_error(server):
    with pytest.raises(SourceError, match="has no market NOPE/USDT"):
        await collect(CcxtSource(["NOPE/USDT"], opts(server)))
    with pytest.raises(SourceError, match="ccxt has no exchange 'nope'"):
        await collect(CcxtSource(["BTC/USDT"], opts(server, exchange="nope")))


def test_market_types_from_symbols():
    assert market_types(["BTC/USDT", "ETH/USDT:USDT", "BTC/USD:BTC", "X/USDT"]) == ["spot", "linear", "inverse"]


def test_importing_the_plugins_does_not_import_ccxt():
    import subprocess
    import sys

    code = ("import sys, virtuoso_ccxt, virtuoso_streams; virtuoso_ccxt.virtuoso_sources(); "
            "virtuoso_streams.virtuoso_sources(); print('ccxt' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
