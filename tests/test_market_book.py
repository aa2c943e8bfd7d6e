"""OrderBook: hand-built books for the sequence rules (stale, gap, overlap, crossed, snapshot resets),
reads (best levels, top-N, depth, impact) worked by hand, and the real Binance depth snapshot+update
and the real Bybit orderbook.500 stream replayed against an independent dict reference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from virtuoso_tui.market import BookSequenceError, OrderBook
from virtuoso_tui.model import BookDelta, BookSnapshot

DATA = Path(__file__).parents[1].parent / "shared" / "data"
SYM = "BTC/USDT"


def snap(seq=10, bids=((100.0, 1.0), (99.0, 2.0), (98.0, 3.0)), asks=((101.0, 1.5), (102.0, 2.5), (104.0, 4.0))):
    return BookSnapshot(SYM, 1_000, tuple(bids), tuple(asks), seq)


def delta(seq, prev, bids=(), asks=(), ts=2_000):
    return BookDelta(SYM, ts, tuple(bids), tuple(asks), seq, prev)


def test_reads_on_a_hand_built_book():
    book = OrderBook(SYM)
    assert not book.valid and book.reason == "no snapshot" and book.mid is None
    assert book.apply_snapshot(snap())
    assert book.valid and book.reason == "" and book.sequence == 10 and book.ts == 1_000
    assert (book.best_bid, book.best_ask, book.mid, book.spread) == (100.0, 101.0, 100.5, 1.0)
    assert book.spread_bps == pytest.approx(1.0 / 100.5 * 1e4)
    assert book.bids(2).tolist() == [[100.0, 1.0], [99.0, 2.0]]
    assert book.asks(10).tolist() == [[101.0, 1.5], [102.0, 2.5], [104.0, 4.0]]
    assert book.bids(2) is not book.bids(2) and np.shares_memory(book.bids(2), book.bids(3))  # one cached build
    # depth within 1% of mid 100.5: bids >= 99.495 (100 only), asks <= 101.505 (101 only)
    assert book.depth("bid", 100) == 1.0 and book.depth("ask", 100) == 1.5
    assert book.depth("ask", 200) == 4.0  # <= 102.51: 101 and 102


def test_impact_walks_levels_hand_worked():
    book = OrderBook(SYM)
    book.apply_snapshot(snap())
    # buy 355 quote: 101*1.5 = 151.5 at 101, then 203.5 of 102*2.5 = 255 -> 203.5/102 base at 102
    imp = book.impact("buy", 355.0)
    base = 1.5 + 203.5 / 102
    assert imp.filled_notional == 355.0 and imp.levels == 2
    assert imp.avg_price == pytest.approx(355.0 / base)
    assert imp.slippage_bps == pytest.approx((355.0 / base - 100.5) / 100.5 * 1e4)
    # sell 50 quote: fills inside the best bid, slippage is the half spread
    sell = book.impact("sell", 50.0)
    assert sell.avg_price == pytest.approx(100.0) and sell.slippage_bps == pytest.approx(0.5 / 100.5 * 1e4)
    # more than the whole ask side: fills what exists
    whole = book.impact("buy", 1e9)
    assert whole.filled_notional == pytest.approx(151.5 + 255 + 416) and whole.levels == 3
    with pytest.raises(ValueError, match="notional"):
        book.impact("buy", 0)
    with pytest.raises(ValueError, match="'buy' or 'sell'"):
        book.impact("bid", 10)


def test_delta_updates_deletes_and_refreshes_cached_arrays():
    book = OrderBook(SYM)
    book.apply_snapshot(snap())
    top = book.bids(5)
    assert book.apply_delta(delta(11, 10, bids=[(100.0, 0.0), (99.5, 7.0)], asks=[(101.0, 0.5), (103.0, 1.0)]))
    assert book.sequence == 11 and book.ts == 2_000
    assert book.bids(5).tolist() == [[99.5, 7.0], [99.0, 2.0], [98.0, 3.0]]
    assert book.asks(3).tolist() == [[101.0, 0.5], [102.0, 2.5], [103.0, 1.0]]
    assert top.tolist() == [[100.0, 1.0], [99.0, 2.0], [98.0, 3.0]]  # an old read is not mutated
    assert book.apply_delta(delta(12, 11, asks=[(99.9, 0.0)]))  # deleting an absent level is a no-op
    assert book.levels("ask") == 4


def test_stale_delta_is_dropped_and_the_book_stays_valid():
    book = OrderBook(SYM)
    book.apply_snapshot(snap(seq=10))
    version = book.version
    assert book.apply_delta(delta(10, 9, bids=[(100.0, 50.0)])) is False
    assert book.apply_delta(delta(7, 6, bids=[(100.0, 50.0)])) is False
    assert book.valid and book.version == version and book.stale == 2 and book.bids(1).tolist() == [[100.0, 1.0]]


def test_gap_invalidates_until_a_snapshot():
    book = OrderBook(SYM)
    book.apply_snapshot(snap(seq=10))
    assert book.apply_delta(delta(13, 12, bids=[(100.0, 9.0)])) is False  # 11 and 12 were missed
    assert not book.valid and book.reason.startswith("gap") and book.gaps == 1
    assert book.bids(1).tolist() == [[100.0, 1.0]]  # the gapped delta was not applied
    assert book.apply_delta(delta(14, 13, bids=[(100.0, 5.0)])) is False  # dropped while invalid
    with pytest.raises(BookSequenceError, match="gap"):
        book.ensure_valid()
    assert book.apply_snapshot(snap(seq=20))  # a snapshot always resets and revalidates
    assert book.valid and book.sequence == 20
    book.ensure_valid()
    assert book.apply_delta(delta(21, 20, bids=[(100.0, 5.0)])) and book.bids(1).tolist() == [[100.0, 5.0]]


def test_overlapping_first_delta_after_snapshot_is_applied():
    # Binance: the snapshot is at lastUpdateId 10; the first diff spans 8..12 (pu=7)
    book = OrderBook(SYM)
    book.apply_snapshot(snap(seq=10))
    assert book.apply_delta(delta(12, 7, bids=[(100.0, 4.0)]))
    assert book.valid and book.sequence == 12
    assert book.apply_delta(delta(15, 12))


def test_unsequenced_updates_are_applied_without_checks():
    book = OrderBook(SYM)
    book.apply_snapshot(snap(seq=None))
    assert book.apply_delta(delta(None, None, bids=[(100.0, 3.0)]))
    assert book.apply_delta(delta(5, None)) and book.sequence == 5


def test_crossed_after_update_is_invalid_and_crossed_snapshot_too():
    book = OrderBook(SYM)
    book.apply_snapshot(snap())
    assert book.apply_delta(delta(11, 10, bids=[(101.0, 1.0)])) is False  # locked: bid == ask
    assert not book.valid and book.reason.startswith("crossed")
    with pytest.raises(BookSequenceError, match="crossed"):
        book.ensure_valid()
    assert not book.apply_snapshot(snap(bids=[(103.0, 1.0)]))
    assert not book.valid and book.reason.startswith("crossed")
    assert book.apply_snapshot(snap())


def test_levels_are_trimmed_to_max_levels_and_symbols_checked():
    book = OrderBook(SYM, max_levels=3)
    book.apply_snapshot(snap(bids=[(100.0 - i, 1.0) for i in range(6)]))
    assert book.bids().tolist() == [[100.0, 1.0], [99.0, 1.0], [98.0, 1.0]]
    book.apply_delta(delta(11, 10, bids=[(99.5, 2.0)], asks=[(100.5, 1.0)]))
    assert book.bids()[:, 0].tolist() == [100.0, 99.5, 99.0] and book.asks()[:, 0].tolist() == [100.5, 101.0, 102.0]
    with pytest.raises(ValueError, match="ETH/USDT"):
        book.apply_delta(BookDelta("ETH/USDT", 0, (), (), 12, 11))
    with pytest.raises(ValueError, match="max_levels"):
        OrderBook(SYM, max_levels=0)


def test_many_random_deltas_agree_with_a_dict_reference():
    rng = np.random.default_rng(3)
    book = OrderBook(SYM, max_levels=10_000)
    ref = {"bid": {}, "ask": {}}
    book.apply_snapshot(BookSnapshot(SYM, 0, (), (), 0))
    for k in range(1, 3000):
        bids = [(round(100 - 0.01 * rng.integers(1, 200), 2), float(rng.choice([0.0, rng.random()]))) for _ in range(4)]
        asks = [(round(100 + 0.01 * rng.integers(1, 200), 2), float(rng.choice([0.0, rng.random()]))) for _ in range(4)]
        assert book.apply_delta(delta(k, k - 1, bids, asks, ts=k))
        for side, levels in (("bid", bids), ("ask", asks)):
            for p, s in levels:
                if s > 0:
                    ref[side][p] = s
                else:
                    ref[side].pop(p, None)
        if k % 97 == 0:
            assert book.bids().tolist() == [[p, ref["bid"][p]] for p in sorted(ref["bid"], reverse=True)]
            assert book.asks(7).tolist() == [[p, ref["ask"][p]] for p in sorted(ref["ask"])[:7]]


# -- real data -----------------------------------------------------------------------------------
def _binance_levels(df, side):
    rows = df[df["side"] == side]
    return tuple(zip(rows["price"].astype(float), rows["qty"].astype(float), strict=True))


def test_real_binance_snapshot_and_update():
    snap_df = pd.read_csv(DATA / "orderbook/nautilus/binance_btcusdt-depth-snap.csv")
    upd = pd.read_csv(DATA / "orderbook/nautilus/binance_btcusdt-depth-update.csv")
    seq = int(snap_df["last_update_id"].iloc[0])
    book = OrderBook("BTC/USDT:USDT", max_levels=1000)
    snapshot = BookSnapshot("BTC/USDT:USDT", int(snap_df["timestamp"].iloc[0]), _binance_levels(snap_df, "b"),
                            _binance_levels(snap_df, "a"), seq)
    assert book.apply_snapshot(snapshot)  # this file holds 100 bids and no asks: one-sided but valid
    assert book.best_bid == 20377.0 and book.best_ask is None and book.mid is None
    assert np.isnan(book.depth("bid", 10)) and book.levels("bid") == 100
    assert book.bids(3).tolist() == [[20377.0, 1.77], [20376.9, 0.001], [20376.8, 0.009]]
    sell = book.impact("sell", 20377.0)
    assert sell.avg_price == 20377.0 and sell.levels == 1 and np.isnan(sell.slippage_bps)  # no asks, no mid

    diff = BookDelta("BTC/USDT:USDT", int(upd["timestamp"].iloc[0]), _binance_levels(upd, "b"),
                     _binance_levels(upd, "a"), int(upd["last_update_id"].iloc[0]), int(upd["pu"].iloc[0]))
    # the update follows pu=2098041693400 but the snapshot is at 2098021528332: ten minutes are missing
    assert book.apply_delta(diff) is False and not book.valid and book.reason.startswith("gap")
    # while invalid nothing applies until a snapshot
    assert book.apply_delta(diff) is False

    # Bridge the gap by hand (a snapshot at the update's pu) and check the merge against a dict reference
    bridged = BookSnapshot(snapshot.symbol, snapshot.ts, snapshot.bids, snapshot.asks, int(upd["pu"].iloc[0]))
    assert book.apply_snapshot(bridged) and book.apply_delta(diff) and book.valid
    ref = {"b": dict(snapshot.bids), "a": {}}
    for side, p, q in zip(upd["side"], upd["price"].astype(float), upd["qty"].astype(float), strict=True):
        if q > 0:
            ref[side][p] = q
        else:
            ref[side].pop(p, None)
    assert book.bids().tolist() == [[p, ref["b"][p]] for p in sorted(ref["b"], reverse=True)]
    assert book.asks().tolist() == [[p, ref["a"][p]] for p in sorted(ref["a"])]
    assert (book.best_bid, book.best_ask) == (20472.1, 20472.2)
    assert book.apply_delta(diff) is False and book.valid and book.stale == 1  # re-sent: stale, dropped


def _bybit_messages():
    lines = (DATA / "orderbook/nautilus/bybit_2024-12-01_XRPUSDT_ob500.data").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _bybit_event(msg, prev_u):
    d = msg["data"]
    bids = tuple((float(p), float(s)) for p, s in d["b"])
    asks = tuple((float(p), float(s)) for p, s in d["a"])
    if msg["type"] == "snapshot":
        return BookSnapshot("XRP/USDT:USDT", msg["ts"], bids, asks, d["u"])
    return BookDelta("XRP/USDT:USDT", msg["ts"], bids, asks, d["u"], prev_u)


def test_real_bybit_orderbook_500_stream():
    msgs = _bybit_messages()
    book = OrderBook("XRP/USDT:USDT", max_levels=500)
    ref = {"b": {}, "a": {}}
    prev = None
    for msg in msgs:
        event = _bybit_event(msg, prev)
        prev = msg["data"]["u"]
        if isinstance(event, BookSnapshot):
            assert book.apply_snapshot(event)
            ref = {"b": dict(event.bids), "a": dict(event.asks)}
            continue
        assert book.apply_delta(event), book.reason  # in sequence and never crossed
        for side in ("b", "a"):
            for p, s in getattr(event, "bids" if side == "b" else "asks"):
                if s > 0:
                    ref[side][p] = s
                else:
                    ref[side].pop(p, None)
        assert book.best_bid == max(ref["b"]) and book.best_ask == min(ref["a"])
    want_bids = sorted(ref["b"], reverse=True)[:500]
    assert book.bids(50).tolist() == [[p, ref["b"][p]] for p in want_bids[:50]]
    assert book.sequence == msgs[-1]["data"]["u"]

    # the same stream with one delta lost: the next one reveals the gap
    book2 = OrderBook("XRP/USDT:USDT")
    prev = None
    results = []
    for i, msg in enumerate(msgs):
        event = _bybit_event(msg, prev)
        prev = msg["data"]["u"]
        if i == 20:
            continue
        results.append(book2.apply_snapshot(event) if i == 0 else book2.apply_delta(event))
    assert results[:20] == [True] * 20 and results[20] is False and not book2.valid and book2.gaps == 1


def _cryptofeed_lines(path: Path):
    for line in path.read_text().splitlines():
        head, _, body = line.partition(": ")
        if body and head.replace(".", "").isdigit():
            yield json.loads(body)


def test_real_binance_futures_snapshot_plus_buffered_diffs_sync():
    """SUSHIUSDT, recorded live: REST depth (lastUpdateId L) and the @depth@100ms diffs around it.
    Diffs with u <= L are stale, the first with U <= L <= u overlaps (its pu is behind L), then each
    pu equals the previous u. After sync, the book must agree with the venue's own @bookTicker
    wherever the bookTicker carries the same update id."""
    base = DATA / "exchange-payloads/binance/cryptofeed/BINANCE_FUTURES.http.0.0"
    rest = next(json.loads(line.split(": ", 1)[1]) for line in base.read_text().splitlines()
                if "symbol=SUSHIUSDT" in line)
    book = OrderBook("SUSHI/USDT:USDT", max_levels=1000)
    assert book.apply_snapshot(BookSnapshot(
        "SUSHI/USDT:USDT", rest["T"], tuple((float(p), float(q)) for p, q in rest["bids"]),
        tuple((float(p), float(q)) for p, q in rest["asks"]), rest["lastUpdateId"]))
    msgs = [m["data"] for m in _cryptofeed_lines(DATA / "ws/binance/cryptofeed/BINANCE_FUTURES.ws.1.0")
            if m.get("stream", "").startswith("sushiusdt@")]
    # bookTicker is pushed in real time, the 100 ms diff later: match them by update id, not order
    tickers = {m["u"]: m for m in msgs if m["e"] == "bookTicker"}
    applied, checked = [], 0
    for m in msgs:
        if m["e"] != "depthUpdate":
            continue
        d = BookDelta("SUSHI/USDT:USDT", m["T"], tuple((float(p), float(q)) for p, q in m["b"]),
                      tuple((float(p), float(q)) for p, q in m["a"]), m["u"], m["pu"])
        applied.append(book.apply_delta(d))
        assert book.valid, book.reason
        t = tickers.get(book.sequence)
        if t is not None and applied[-1]:
            assert book.bids(1).tolist() == [[float(t["b"]), float(t["B"])]]
            assert book.asks(1).tolist() == [[float(t["a"]), float(t["A"])]]
            checked += 1
    assert applied[:3] == [False] * 3 and book.stale == 3  # buffered before the snapshot
    assert all(applied[3:]) and len(applied) == 255  # the overlapping first diff, then an unbroken chain
    assert checked == 12  # every bookTicker sharing an update id with a diff agrees with the book
