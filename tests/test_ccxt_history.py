"""Warm-up history through the ccxt source: `candle_history` pages the REAL ccxt client's fetch_ohlcv
against the local REST server, which serves a recorded Binance USDⓈ-M 1h file with Binance's
startTime/limit rules. The result equals the file's newest closed candles, and the engine's warm-up
fills MarketState with them."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pandas as pd
import pytest
from virtuoso_ccxt.fetch import paginate_ohlcv
from virtuoso_ccxt.source import CcxtSource

from tests.exchange import RestFault, RestServer, in_thread
from tests.exchange.recordings import DATA
from tests.exchange.rest_server import kline_history
from virtuoso_tui.engine import Engine
from virtuoso_tui.market.source import SourceError

FILE = DATA / "ohlcv" / "binance-usdm-futures" / "BTC_USDT_USDT-1h-futures.feather"
HOUR = 3_600_000
SYMBOL = "BTC/USDT:USDT"


@pytest.fixture(scope="module")
def venue():
    rows = kline_history(FILE, HOUR, int(time.time() * 1000))
    server = RestServer(history={("/fapi/v1/klines", "1h"): (rows, HOUR)})
    with in_thread(server):
        yield server, rows


def source(server, **kw) -> CcxtSource:
    return CcxtSource([SYMBOL], {"exchange": "binance", "base_url": server.url, "rate_limit_ms": 1,
                                 "backoff_base_s": 0.01, "backoff_max_s": 0.02, "seed": 1, **kw})


def reference(bars: int) -> pd.DataFrame:
    """The file itself, independently of the server: the newest `bars` candles before the last one
    (the last is the forming candle once shifted to now)."""
    df = pd.read_feather(FILE)
    return df.iloc[-bars - 1:-1].reset_index(drop=True)


def test_history_pages_through_fetch_ohlcv(venue):
    server, rows = venue
    src = source(server, history_page=1000)
    before = len([r for r in server.requests if r.path == "/fapi/v1/klines"])
    try:
        h = src.candle_history(SYMBOL, "1h", 2500)
    finally:
        asyncio.run(src.close())
    asked = [r for r in server.requests if r.path == "/fapi/v1/klines"][before:]
    assert len(asked) == 3 and all(r.query["limit"] == "1000" for r in asked)  # 1000 + 1000 + 500
    ref = reference(2500)
    assert len(h["ts"]) == 2500 and h["ts"].dtype == np.int64
    assert np.all(np.diff(h["ts"]) > 0) and np.all(h["ts"] % HOUR == 0)
    for col in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(h[col], ref[col].to_numpy())
    # open times are the file's, moved by the same whole number of hours
    file_ms = ((ref["date"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)).to_numpy()
    shift = h["ts"] - file_ms
    assert len(set(shift.tolist())) == 1 and shift[0] % HOUR == 0
    assert h["ts"][-1] + HOUR <= time.time() * 1000  # no forming candle


def test_more_bars_than_the_venue_has_gives_what_there_is(venue):
    server, rows = venue
    src = source(server, history_page=1500)
    try:
        h = src.candle_history(SYMBOL, "1h", len(rows) + 5000)
    finally:
        asyncio.run(src.close())
    assert len(h["ts"]) == len(rows) - 1  # every closed candle in the file, then it stops
    np.testing.assert_array_equal(h["close"], pd.read_feather(FILE)["close"].to_numpy()[:-1])


def test_history_unavailable_is_one_redacted_error(venue):
    server, _ = venue
    server.faults = [RestFault("/fapi/v1/klines", "503", times=10)]
    src = source(server, retries=1, api_key="histFAKEkey0123456789", secret="histFAKEsecret0123456789")
    try:
        with pytest.raises(SourceError, match="no 1h history for BTC/USDT:USDT") as info:
            src.candle_history(SYMBOL, "1h", 100)
    finally:
        server.faults = []
        asyncio.run(src.close())
    assert "histFAKE" not in str(info.value)


def test_engine_warm_up_uses_the_history(venue):
    server, _ = venue
    src = source(server)
    engine = Engine(source=src, symbols=[SYMBOL], timeframes=("1h", "4h"))
    try:
        engine.warm_up(600)
    finally:
        asyncio.run(src.close())
    state = engine.states[SYMBOL]
    ref = reference(600)
    np.testing.assert_array_equal(state.candles["1h"].close[-len(ref):], ref["close"].to_numpy())
    assert len(state.candles["4h"]) >= 600 // 4 - 2  # higher timeframe built from the base


def test_paginate_stops_when_the_venue_does_not_advance():
    calls = []

    def stuck(since, limit):  # a venue that ignores `since` and always answers the same old page
        calls.append(since)
        return [[0, 1.0, 1.0, 1.0, 1.0, 1.0], [60_000, 1.0, 2.0, 0.5, 1.5, 3.0]]

    out = paginate_ohlcv(stuck, "1m", 100, 100_000 * 60_000, 50)
    assert len(calls) == 1 and out.shape == (0, 6)  # older than asked: nothing usable, no loop
