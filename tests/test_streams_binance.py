"""Binance streams against the local replay servers: depth sync reproduces the recorded book, every
data type reaches the model, reconnects resubscribe, and the book is never emitted crossed."""

from __future__ import annotations

import math

import pytest
from virtuoso_streams.binance import BinanceStream

from tests.exchange import Venue, WsFaults, binance_tape, drain
from tests.exchange.recordings import (
    BINANCE_FUTURES_HTTP,
    BINANCE_FUTURES_WS,
    BINANCE_SPOT_HTTP,
    BINANCE_SPOT_WS,
    WS,
    binance_reference,
    read_message_list,
    read_rest_snapshots,
    read_ws_frames,
)
from tests.exchange.ws_server import Tape
from virtuoso_tui.model import BookDelta, BookSnapshot, Candle, Funding, Liquidation, Trade
from virtuoso_tui.model.market import SourceHealth

SPOT = {"NKNUSDT": "NKN/USDT", "BLZETH": "BLZ/ETH", "LRCBTC": "LRC/BTC", "RUNEEUR": "RUNE/EUR"}
FUT = {"SUSHIUSDT": "SUSHI/USDT:USDT", "AKROUSDT": "AKRO/USDT:USDT", "KEEPUSDT": "KEEP/USDT:USDT",
       "CTKUSDT": "CTK/USDT:USDT"}


class Downstream:
    """Applies emitted BookSnapshot/BookDelta records like MarketState would, checking the
    advertised continuity and that no emitted state is crossed."""

    def __init__(self) -> None:
        self.books: dict[str, tuple[dict, dict, int]] = {}
        self.crossed_emitted = 0
        self.continuity_breaks = 0

    def __call__(self, ev) -> None:
        if isinstance(ev, BookSnapshot):
            self.books[ev.symbol] = (dict(ev.bids), dict(ev.asks), ev.sequence)
        elif isinstance(ev, BookDelta):
            bids, asks, seq = self.books[ev.symbol]
            if ev.prev_sequence != seq:
                self.continuity_breaks += 1
            for side, levels in ((bids, ev.bids), (asks, ev.asks)):
                for p, s in levels:
                    if s == 0:
                        side.pop(p, None)
                    else:
                        side[p] = s
            self.books[ev.symbol] = (bids, asks, ev.sequence)
        else:
            return
        bids, asks, _ = self.books[ev.symbol]
        if bids and asks and max(bids) >= min(asks):
            self.crossed_emitted += 1


def options(venue: Venue, **kw) -> dict:
    return {"ws_url": venue.ws.url, "rest_url": venue.rest.url, "backoff_base_s": 0.01, "backoff_max_s": 0.05,
            "health_interval_s": 0.2, "seed": 1, **kw}


def synced(src, tape: Tape, down: Downstream | None = None) -> bool:
    """The tape is played out and every book (ours, and downstream's if given) is at the venue's."""
    return tape.done and all(
        s.valid and s.book.sequence == tape.books[vid].sequence
        and (down is None or down.books.get(s.symbol, (0, 0, None))[2] == tape.books[vid].sequence)
        for vid, s in src.books.items())


def assert_same_book(local, ref) -> None:
    bids, asks = local.as_dicts()
    assert bids == ref.bids
    assert asks == ref.asks
    assert local.sequence == ref.sequence


@pytest.mark.parametrize("futures", [False, True], ids=["spot", "usdm"])
async def test_depth_sync_reproduces_recorded_book(futures):
    names = FUT if futures else SPOT
    frames = read_ws_frames(BINANCE_FUTURES_WS if futures else BINANCE_SPOT_WS)
    reference = binance_reference(frames, read_rest_snapshots(BINANCE_FUTURES_HTTP if futures else BINANCE_SPOT_HTTP), futures)
    tape = binance_tape(futures)
    down = Downstream()
    async with Venue.running(tape) as venue:
        src = BinanceStream(list(names.values()), options(venue, streams=["depth"]))
        await drain(src, lambda: synced(src, tape, down), on_event=down)
    for vid, sym in names.items():
        assert_same_book(src.books[vid].book, reference[vid])
        bids, asks, seq = down.books[sym]
        assert (bids, asks, seq) == (reference[vid].bids, reference[vid].asks, reference[vid].sequence)
    assert down.crossed_emitted == 0 and down.continuity_breaks == 0
    assert src.resyncs == 0


async def test_every_data_type_reaches_the_model():
    """Recorded aggTrade and kline frames (cryptofeed) plus markPrice and forceOrder messages
    (tardis-node's raw Binance futures messages) become Trade, Candle, Funding and Liquidation."""
    extra = [f for f in read_message_list(WS / "binance" / "tardis-node" / "binance-usdm-futures_messages.json")
             if f.stream.split("@", 1)[1] in ("markPrice", "markPrice@1s", "forceOrder")]
    frames = read_ws_frames(BINANCE_FUTURES_WS) + extra
    tape = Tape(frames, venue="binance", snapshots=read_rest_snapshots(BINANCE_FUTURES_HTTP))
    symbols = list(FUT.values()) + ["BTC/USDT:USDT"]
    async with Venue.running(tape) as venue:
        src = BinanceStream(symbols, options(venue, trade_stream="aggTrade"))
        seen: list = []
        events = await drain(src, lambda: tape.done and any(isinstance(e, Liquidation) for e in seen),
                             on_event=seen.append)
    by = {t: [e for e in events if isinstance(e, t)] for t in (Trade, Candle, Funding, Liquidation)}
    first_agg = next(f.msg["data"] for f in frames if f.stream.endswith("@aggTrade"))
    t0 = by[Trade][0]
    assert (t0.price, t0.amount, t0.ts) == (float(first_agg["p"]), float(first_agg["q"]), first_agg["T"])
    assert t0.side == ("sell" if first_agg["m"] else "buy")
    assert {t.side for t in by[Trade]} <= {"buy", "sell"}
    kl = next(f.msg["data"]["k"] for f in frames if "@kline_1m" in f.stream)
    c0 = by[Candle][0]
    assert (c0.ts, c0.open, c0.volume, c0.closed, c0.timeframe) == (kl["t"], float(kl["o"]), float(kl["v"]), kl["x"], "1m")
    assert math.isclose(c0.buy_volume, float(kl["V"]))
    f0 = by[Funding][0]
    assert (f0.symbol, f0.rate, f0.next_funding_ts, f0.mark) == ("BTC/USDT:USDT", 0.0001, 1569916800000, 8291.34697815)
    liq = by[Liquidation][0]
    # forceOrder S=BUY: a short was liquidated; filled 0.014 at average 4706.04
    assert (liq.side, liq.price, liq.amount, liq.ts) == ("buy", 4706.04, 0.014, 1584059031421)


async def test_health_reports_connection_and_rate():
    tape = binance_tape(False)
    async with Venue.running(tape, WsFaults(delay_s=0.002)) as venue:
        src = BinanceStream(list(SPOT.values()), options(venue))
        events = await drain(src, lambda: synced(src, tape))
    health = [e for e in events if isinstance(e, SourceHealth)]
    assert health[0].connected and health[0].detail == "connected"
    rates = [h.messages_per_s for h in health[1:] if h.messages_per_s]
    assert rates and all(r > 0 for r in rates)
    # every report after the first message carries a lag reading (none is invented before data arrives)
    assert all(h.latency_ms is not None for h in health[1:] if h.messages_per_s)


async def test_server_disconnect_reconnects_and_resubscribes():
    tape = binance_tape(True)
    faults = WsFaults(at={200: "disconnect", 700: "disconnect"}, missed_on_disconnect=15)
    down = Downstream()
    async with Venue.running(tape, faults) as venue:
        src = BinanceStream(list(FUT.values()), options(venue, streams=["depth"]))
        events = await drain(src, lambda: synced(src, tape, down), on_event=down)
        assert venue.ws.connections == 3
        assert venue.ws.subscriptions[0] == venue.ws.subscriptions[1] == venue.ws.subscriptions[2]
    assert [e for e in events if isinstance(e, SourceHealth) and "reconnecting" in e.detail]
    for vid in FUT:
        assert_same_book(src.books[vid].book, tape.books[vid])
    assert down.crossed_emitted == 0


def test_mixed_markets_and_bad_options_are_refused():
    from virtuoso_tui.market.source import SourceError

    with pytest.raises(SourceError, match="two sources"):
        BinanceStream(["BTC/USDT", "BTC/USDT:USDT"])
    with pytest.raises(SourceError, match="unknown streams"):
        BinanceStream(["BTC/USDT"], {"streams": ["depth", "candles"]})
    with pytest.raises(SourceError, match="unified form"):
        BinanceStream(["BTCUSDT"])


def test_stream_names_follow_market():
    spot = BinanceStream(["BTC/USDT"])
    fut = BinanceStream(["BTC/USDT:USDT"], {"timeframes": ["1m", "5m"]})
    assert spot.stream_names() == ["btcusdt@depth@100ms", "btcusdt@aggTrade", "btcusdt@kline_1m"]
    assert fut.stream_names() == ["btcusdt@depth@100ms", "btcusdt@aggTrade", "btcusdt@kline_1m",
                                  "btcusdt@kline_5m", "btcusdt@markPrice@1s", "btcusdt@forceOrder"]
    assert fut.url().startswith("wss://fstream.binance.com/stream?streams=")



async def test_recorded_stream_replays_to_the_same_book():
    """What the recorder would store (Storage.record of every emitted record) plays back, via
    Storage.iter_recorded, into the same book as the live sync."""
    from virtuoso_tui.storage import Storage

    tape = binance_tape(False)
    down = Downstream()
    # a paced stream, so the REST snapshot lands mid-stream and deltas follow it
    async with Venue.running(tape, WsFaults(delay_s=0.001)) as venue:
        src = BinanceStream(list(SPOT.values()), options(venue))
        events = await drain(src, lambda: synced(src, tape, down), on_event=down)
    assert sum(isinstance(e, BookDelta) for e in events) > 50
    db = Storage(":memory:")
    stored = sum(db.record(e, source="binance") for e in events)
    db.flush()
    assert stored == sum(type(e) in (BookSnapshot, BookDelta, Trade, Candle) for e in events)
    replayed = Downstream()
    for rec in db.iter_recorded(kinds=["books"]):
        replayed(rec)
    for sym in SPOT.values():
        assert replayed.books[sym] == down.books[sym]
    assert replayed.continuity_breaks == 0


async def test_unreachable_venue_gives_up_after_max_reconnects():
    import socket

    from virtuoso_tui.api import SourceError

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    src = BinanceStream(["BTC/USDT"], {"ws_url": f"ws://127.0.0.1:{port}", "max_reconnects": 2,
                                       "backoff_base_s": 0.01, "backoff_max_s": 0.02})
    seen = []
    with pytest.raises(SourceError, match="gave up after 2 reconnects"):
        async for ev in src.events():
            seen.append(ev)
    assert [e.connected for e in seen] == [False, False, False]
    assert all("reconnecting" in e.detail for e in seen)
