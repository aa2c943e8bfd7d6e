"""Fault injection: every kind of stream fault is survived, the book is never emitted crossed, and
after 1,000 random faults the book equals a fresh venue snapshot.

Socket-level tests run the real client against the replay servers (one fault kind at a time, then
a random mix including disconnects). The 1,000-fault run drives the same BinanceDepthSync the client
uses through the same Tape and WsFaults, without sockets, so it stays fast: snapshot requests are
answered from the venue's book after a random number of further messages, as a REST call racing the
stream would be.
"""

from __future__ import annotations

import json
import random

import pytest
from virtuoso_streams import messages as m
from virtuoso_streams.binance import BinanceStream
from virtuoso_streams.bybit import BybitStream
from virtuoso_streams.sync import BinanceDepthSync

from tests.exchange import Venue, WsFaults, binance_tape, bybit_tape, drain
from tests.exchange.recordings import (
    BINANCE_FUTURES_HTTP,
    BINANCE_FUTURES_WS,
    PAYLOADS,
    WS,
    read_rest_snapshots,
    read_ws_frames,
)
from tests.exchange.ws_server import Tape
from tests.test_streams_binance import FUT, Downstream, assert_same_book, options, synced

EVERY = range(40, 1300, 97)  # fault positions on the futures tape; the tail stays clean


def at(kind: str) -> dict[int, str]:
    return {i: kind for i in EVERY}


@pytest.mark.parametrize("kind", ["drop", "gap", "duplicate", "reorder", "malformed", "disconnect"])
async def test_binance_survives_each_fault(kind):
    tape = binance_tape(True)
    faults = WsFaults(at=at(kind), missed_on_disconnect=5)
    down = Downstream()
    async with Venue.running(tape, faults) as venue:
        src = BinanceStream(list(FUT.values()), options(venue, streams=["depth"]))
        await drain(src, lambda: synced(src, tape, down), on_event=down)
    assert tape.injected[kind] == len(EVERY)
    for vid in FUT:
        assert_same_book(src.books[vid].book, tape.books[vid])
    assert down.crossed_emitted == 0 and down.continuity_breaks == 0
    if kind == "duplicate":
        assert src.resyncs == 0 and sum(s.ignored for s in src.books.values()) > 0
    else:
        assert src.resyncs > 0
    if kind == "malformed":
        assert src.decode_errors >= len(EVERY)


@pytest.mark.parametrize("kind", ["drop", "gap", "duplicate", "reorder", "malformed", "disconnect"])
async def test_bybit_survives_each_fault(kind):
    tape = bybit_tape()
    faults = WsFaults(at={i: kind for i in (5, 17, 29, 41)})
    down = Downstream()
    async with Venue.running(tape, faults) as venue:
        src = BybitStream(["XRP/USDT:USDT"], {"ws_url": venue.ws.url, "depth": 500, "streams": ["book"],
                                              "backoff_base_s": 0.01, "backoff_max_s": 0.05, "seed": 2})
        await drain(src, lambda: synced(src, tape, down), on_event=down)
    assert tape.injected[kind] == 4
    assert_same_book(src.books["XRPUSDT"].book, tape.books["XRPUSDT"])
    assert down.crossed_emitted == 0 and down.continuity_breaks == 0
    assert (src.resyncs == 0) == (kind == "duplicate")


async def test_slow_stream_is_followed_with_lag_reported():
    tape = bybit_tape()
    down = Downstream()
    async with Venue.running(tape, WsFaults(delay_s=0.01)) as venue:
        src = BybitStream(["XRP/USDT:USDT"], {"ws_url": venue.ws.url, "depth": 500, "streams": ["book"],
                                              "health_interval_s": 0.05})
        events = await drain(src, lambda: synced(src, tape, down), on_event=down)
    assert_same_book(src.books["XRPUSDT"].book, tape.books["XRPUSDT"])
    lags = [e.latency_ms for e in events if type(e).__name__ == "SourceHealth" and e.latency_ms is not None]
    assert lags and min(lags) > 0  # recorded in 2024: the lag is real and positive


async def test_random_mix_over_sockets_including_disconnects():
    tape = binance_tape(True)
    faults = WsFaults(drop=0.03, gap=0.03, duplicate=0.03, reorder=0.03, malformed=0.03, disconnect=0.005,
                      until=1300, missed_on_disconnect=7, seed=11)
    down = Downstream()
    async with Venue.running(tape, faults) as venue:
        src = BinanceStream(list(FUT.values()), options(venue))
        await drain(src, lambda: synced(src, tape, down), on_event=down, timeout=30)
    assert sum(tape.injected.values()) > 100
    for vid in FUT:
        assert_same_book(src.books[vid].book, tape.books[vid])
    assert down.crossed_emitted == 0 and down.continuity_breaks == 0


def _futures_and_delivery_tape() -> Tape:
    """Both recorded pu-style streams on one tape, interleaved by time since each recording began:
    2,800 depth events over 14 contracts."""
    timed = []
    for path in (BINANCE_FUTURES_WS, WS / "binance" / "cryptofeed" / "BINANCE_DELIVERY.ws.1.0"):
        frames = read_ws_frames(path)
        timed += [(f.ts - frames[0].ts, f) for f in frames if "@depth" in f.stream]
    frames = [f for _, f in sorted(timed, key=lambda x: x[0])]
    snaps = read_rest_snapshots(BINANCE_FUTURES_HTTP)
    snaps.update(read_rest_snapshots(PAYLOADS / "binance" / "cryptofeed" / "BINANCE_DELIVERY.http.0.0"))
    return Tape(frames, venue="binance", snapshots=snaps)


def test_thousand_random_faults_end_equal_to_fresh_snapshot():
    tape = _futures_and_delivery_tape()
    n = len(tape.frames)
    clean_tail = n - 300
    # ~1,000 faults over the first part of the tape; the tail is clean so the book must follow diffs
    faults = WsFaults(drop=0.08, gap=0.08, duplicate=0.08, reorder=0.08, malformed=0.08, until=clean_tail, seed=7)
    rng = random.Random(3)
    syncs = {sym: BinanceDepthSync(sym, futures=True) for sym in tape.books}
    waiting: dict[str, int] = {}  # symbol -> messages until its snapshot request is answered
    down = Downstream()
    held: bytes | None = None
    held_stream = ""
    crossed_valid = 0

    def feed(raw: bytes) -> None:
        try:
            d = m.decode_binance_depth(m.decode_binance_envelope(raw).data)
        except m.DecodeError:
            return
        sync = syncs[d.s]
        res = sync.on_diff(d)
        for ev in res.events:
            down(ev)
        if sync.state == "buffering" and d.s not in waiting:
            waiting[d.s] = rng.randint(0, 6)

    def answer_snapshots(force: bool = False) -> None:
        for sym in list(waiting):
            waiting[sym] -= 1
            if waiting[sym] > 0 and not force:
                continue
            del waiting[sym]
            snap = m.decode_binance_snapshot(json.dumps(tape.rest_snapshot(sym)).encode())
            res = syncs[sym].on_snapshot(snap, 0)
            for ev in res.events:
                down(ev)
            if res.need_resync:
                waiting[sym] = rng.randint(0, 6)

    while (step := tape.advance()) is not None:
        i, f = step
        raw = f.raw.encode()
        fault = faults.pick(i)
        if fault is not None:
            tape.injected[fault] += 1
        if fault in ("drop", "gap", "disconnect"):
            pass
        elif fault == "malformed":
            feed(raw[: len(raw) // 2])
        elif fault == "reorder" and held is None:
            held, held_stream = raw, f.stream
        else:
            feed(raw)
            if held is not None and held_stream == f.stream:
                feed(held)
                held = None
            if fault == "duplicate":
                feed(raw)
        answer_snapshots()
        crossed_valid += sum(1 for s in syncs.values() if s.valid and s.book.crossed)
    if held is not None:
        feed(held)
    while waiting:  # the market went quiet: outstanding snapshot requests come back
        answer_snapshots(force=True)

    assert 900 <= sum(tape.injected.values()) <= 1_300
    assert crossed_valid == 0 and down.crossed_emitted == 0 and down.continuity_breaks == 0
    assert sum(s.resyncs for s in syncs.values()) > 300
    for sym, sync in syncs.items():
        fresh = tape.rest_snapshot(sym)
        bids, asks = sync.book.as_dicts()
        assert sync.valid, sym
        assert sync.book.sequence == fresh["lastUpdateId"]
        assert bids == {float(p): float(s) for p, s in fresh["bids"]}
        assert asks == {float(p): float(s) for p, s in fresh["asks"]}
        assert down.books[sym][:2] == (bids, asks)


async def test_slow_consumer_is_cut_off_then_recovers():
    """The consumer stalls, our bounded queue stops the reader, the server's buffer grows past its
    limit and it disconnects us (as Binance does); the client reconnects and resyncs."""
    import asyncio

    tape = binance_tape(True)
    faults = WsFaults(slow_consumer_s=0.3)
    down = Downstream()
    stalls = [0]

    def consume(ev) -> None:
        down(ev)

    async with Venue.running(tape, faults) as venue:
        src = BinanceStream(list(FUT.values()), options(venue, queue_size=1))
        events = []

        async def run() -> None:
            async for ev in src.events():
                events.append(ev)
                consume(ev)
                if stalls[0] < 1 and len(events) == 5:
                    stalls[0] += 1
                    await asyncio.sleep(1.0)  # the stall
                if synced(src, tape, down):
                    return

        try:
            await asyncio.wait_for(run(), 20)
        finally:
            await src.close()
        assert tape.injected["slow_consumer"] >= 1 and venue.ws.connections >= 2
    for vid in FUT:
        assert_same_book(src.books[vid].book, tape.books[vid])
    assert down.crossed_emitted == 0 and down.continuity_breaks == 0
