"""Bybit v5 streams against the local replay server: the recorded orderbook.500 delta sequence is
applied exactly, every public data type reaches the model, heartbeats flow, subscriptions batch."""

from __future__ import annotations

import json

import pytest
from virtuoso_streams.bybit import BybitStream

from tests.exchange import Venue, bybit_tape, drain
from tests.exchange.recordings import BYBIT_OB500, WS, ReferenceBook, read_message_list
from tests.exchange.ws_server import Tape
from tests.test_streams_binance import Downstream, assert_same_book, synced
from virtuoso_tui.model import (
    BookDelta,
    BookSnapshot,
    Candle,
    Funding,
    Liquidation,
    OpenInterest,
    Ticker,
    Trade,
)


def opts(venue, **kw) -> dict:
    return {"ws_url": venue.ws.url, "backoff_base_s": 0.01, "backoff_max_s": 0.05, "seed": 5, **kw}


def independent_replay() -> ReferenceBook:
    """The recorded file applied line by line: snapshot, then each delta's levels."""
    book = None
    with open(BYBIT_OB500, encoding="utf-8") as fh:
        for line in fh:
            msg = json.loads(line)
            d = msg["data"]
            if msg["type"] == "snapshot":
                book = ReferenceBook(d["b"], d["a"], d["u"])
            else:
                book.update(d["b"], d["a"])
                book.sequence = d["u"]
    return book


async def test_ob500_delta_sequence_applied_exactly():
    tape = bybit_tape()
    down = Downstream()
    async with Venue.running(tape) as venue:
        src = BybitStream(["XRP/USDT:USDT"], opts(venue, depth=500, streams=["book"]))
        events = await drain(src, lambda: synced(src, tape, down), on_event=down)
        assert venue.ws.subscriptions == [["orderbook.500.XRPUSDT"]]
    ref = independent_replay()
    assert ref.sequence == 20254869 + 49
    assert_same_book(src.books["XRPUSDT"].book, ref)
    assert down.books["XRP/USDT:USDT"] == (ref.bids, ref.asks, ref.sequence)
    books = [e for e in events if isinstance(e, (BookSnapshot, BookDelta))]
    assert isinstance(books[0], BookSnapshot) and len(books[0].bids) == 500 and books[0].sequence == 20254869
    assert [e.sequence for e in books[1:]] == list(range(20254870, 20254919))
    assert all(e.prev_sequence == e.sequence - 1 for e in books[1:])
    assert src.resyncs == 0


async def test_every_data_type_reaches_the_model():
    tardis = read_message_list(WS / "bybit" / "tardis-node" / "bybit-v5-linear-inverse_messages.json")
    nautilus = [read_message_list(WS / "bybit" / "nautilus" / n)[0] for n in ("ws_kline.json", "ws_ticker_linear.json")]
    frames = [f for f in tardis if f.stream in ("publicTrade.LTCUSDT", "tickers.BTCUSD", "allLiquidation.PIPPINUSDT")]
    tape = Tape(frames + nautilus, venue="bybit")
    symbols = ["LTC/USDT:USDT", "BTC/USD:BTC", "PIPPIN/USDT:USDT", "BTC/USDT:USDT"]
    async with Venue.running(tape) as venue:
        src = BybitStream(symbols, opts(venue, timeframes=["5m"], streams=["trades", "tickers", "klines", "liquidations"]))
        seen: list = []
        await drain(src, lambda: any(isinstance(e, OpenInterest) and e.symbol == "BTC/USDT:USDT" for e in seen), on_event=seen.append)
    trade = next(e for e in seen if isinstance(e, Trade))
    assert (trade.symbol, trade.ts, trade.price, trade.amount, trade.side) == ("LTC/USDT:USDT", 1680688979983, 94.53, 0.4, "buy")
    liq = next(e for e in seen if isinstance(e, Liquidation))
    # S=Sell: a short position was liquidated, so the forced order bought
    assert (liq.symbol, liq.side, liq.price, liq.amount, liq.ts) == ("PIPPIN/USDT:USDT", "buy", 0.02456, 2846.0, 1740480207110)
    candle = next(e for e in seen if isinstance(e, Candle))
    assert (candle.symbol, candle.timeframe, candle.ts, candle.open, candle.close, candle.closed) == (
        "BTC/USDT:USDT", "5m", 1672324800000, 16649.5, 16677.0, False)
    inverse = [e for e in seen if isinstance(e, Ticker) and e.symbol == "BTC/USD:BTC"]
    # the delta carries only bid/ask/OI/funding: last price, mark and index come from the snapshot
    assert (inverse[1].last, inverse[1].bid, inverse[1].ask, inverse[1].mark) == (28560.0, 28560.0, 28560.5, 28560.0)
    assert inverse[0].change_24h_pct == pytest.approx(2.3362)
    fund = [e for e in seen if isinstance(e, Funding)]
    assert [(f.symbol, f.rate) for f in fund] == [("BTC/USD:BTC", 0.0001)] * 2 + [("BTC/USDT:USDT", -0.000212)]
    assert fund[1].next_funding_ts == 1680681600000  # from the snapshot, kept through the delta
    assert fund[2].next_funding_ts == 1673280000000 and fund[2].mark == 17217.33
    oi = [e for e in seen if isinstance(e, OpenInterest)]
    assert [(o.symbol, o.amount) for o in oi] == [("BTC/USD:BTC", 449736676.0), ("BTC/USD:BTC", 449736674.0),
                                                  ("BTC/USDT:USDT", 68744.761)]
    assert oi[2].value == 1183601235.91


async def test_application_heartbeat_is_sent():
    tape = bybit_tape()
    async with Venue.running(tape) as venue:
        src = BybitStream(["XRP/USDT:USDT"], opts(venue, depth=500, streams=["book"], ping_interval_s=0.02))
        seen: list = []
        import asyncio

        async def wait_pings() -> None:
            while venue.ws.pings < 3:
                await asyncio.sleep(0.01)

        waiter = asyncio.ensure_future(wait_pings())
        await drain(src, lambda: waiter.done(), on_event=seen.append, timeout=5)
    assert venue.ws.pings >= 3


def test_subscriptions_are_batched_by_ten():
    src = BybitStream([f"C{i}/USDT:USDT" for i in range(4)], {"timeframes": ["1m", "5m"]})
    topics = src.topics()
    assert len(topics) == 4 * 6
    assert topics[:6] == ["orderbook.50.C0USDT", "publicTrade.C0USDT", "tickers.C0USDT", "kline.1.C0USDT",
                          "kline.5.C0USDT", "allLiquidation.C0USDT"]


def test_bad_options_are_refused():
    from virtuoso_tui.market.source import SourceError

    with pytest.raises(SourceError, match="no Bybit kline interval"):
        BybitStream(["BTC/USDT:USDT"], {"timeframes": ["7m"]})
    with pytest.raises(SourceError, match="two sources"):
        BybitStream(["BTC/USDT", "BTC/USDT:USDT"])
