"""LocalBook against a plain dict, and the sync state machines' rules on hand-made sequences."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from virtuoso_streams.localbook import LocalBook
from virtuoso_streams.messages import BinanceDepth, BinanceDepthSnapshot, BybitBook
from virtuoso_streams.sync import BinanceDepthSync, BybitBookSync

from virtuoso_tui.model import BookDelta, BookSnapshot

prices = st.sampled_from([round(100 + i * 0.5, 2) for i in range(40)])
levels = st.lists(st.tuples(prices, st.sampled_from([0.0, 0.5, 1.0, 2.5, 10.0])), max_size=12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(levels, levels), max_size=30))
def test_localbook_matches_plain_dicts(updates):
    book = LocalBook("X/Y")
    ref_b: dict = {}
    ref_a: dict = {}
    for bids, asks in updates:
        book.apply(bids, asks, None)
        for ref, lv in ((ref_b, bids), (ref_a, asks)):
            for p, s in lv:
                if s == 0:
                    ref.pop(p, None)
                else:
                    ref[p] = s
    assert book.as_dicts() == (ref_b, ref_a)
    bids, asks = book.top()
    assert [p for p, _ in bids] == sorted(ref_b, reverse=True)
    assert [p for p, _ in asks] == sorted(ref_a)
    assert book.best_bid == (max(ref_b) if ref_b else None)
    assert book.best_ask == (min(ref_a) if ref_a else None)
    assert book.crossed == bool(ref_b and ref_a and max(ref_b) >= min(ref_a))
    b3, a3 = book.top(3)
    assert b3 == bids[:3] and a3 == asks[:3]


def diff(U, u, b=(), a=(), pu=None) -> BinanceDepth:
    return BinanceDepth(s="X", U=U, u=u, b=list(b), a=list(a), E=1, pu=pu)


def snap(last, b=((99.0, 1.0),), a=((101.0, 1.0),)) -> BinanceDepthSnapshot:
    return BinanceDepthSnapshot(lastUpdateId=last, bids=list(b), asks=list(a))


def test_spot_sync_drops_stale_and_requires_straddle():
    s = BinanceDepthSync("X/Y", futures=False)
    for d in (diff(1, 5, b=[(98.0, 3.0)]), diff(6, 9, b=[(99.0, 2.0)]), diff(10, 12, a=[(101.0, 0.0)])):
        assert s.on_diff(d).events == [] and not s.valid
    r = s.on_snapshot(snap(7), ts=5)
    # event 1..5 is older than the snapshot and dropped; 6..9 straddles 8; 10..12 follows
    assert isinstance(r.events[0], BookSnapshot) and r.events[0].sequence == 7
    assert [(e.sequence, e.prev_sequence) for e in r.events[1:]] == [(9, 7), (12, 9)]
    assert s.valid and s.book.as_dicts() == ({99.0: 2.0}, {})
    assert s.on_diff(diff(12, 12)).events == [] and s.ignored == 1  # a duplicate
    r = s.on_diff(diff(14, 15))  # 13 is missing
    assert r.need_resync and not s.valid and s.resyncs == 1 and "gap" in r.reason


def test_snapshot_older_than_buffer_is_refetched():
    s = BinanceDepthSync("X/Y", futures=False)
    s.on_diff(diff(20, 25))
    r = s.on_snapshot(snap(10), ts=0)
    assert r.need_resync and r.events == [] and not s.valid
    r = s.on_snapshot(snap(22), ts=0)
    assert not r.need_resync and s.valid and s.book.sequence == 25


def test_futures_sync_uses_pu():
    s = BinanceDepthSync("X/Y:Y", futures=True)
    s.on_diff(diff(100, 110, pu=90))
    s.on_diff(diff(115, 120, pu=110))
    r = s.on_snapshot(snap(112), ts=0)  # 100..110 dropped; pu=110 <= 112 < 120: first applied
    assert [e.sequence for e in r.events if isinstance(e, BookDelta)] == [120]
    assert not s.on_diff(diff(121, 130, pu=120)).need_resync
    assert s.on_diff(diff(135, 140, pu=131)).need_resync


def test_crossed_book_is_dropped_not_emitted():
    s = BinanceDepthSync("X/Y", futures=False)
    s.on_diff(diff(8, 8))
    s.on_snapshot(snap(7), ts=0)
    r = s.on_diff(diff(9, 9, b=[(102.0, 1.0)]))  # bid above the 101 ask
    assert r.need_resync and "crossed" in r.reason
    assert not any(isinstance(e, BookDelta) and e.sequence == 9 for e in r.events)
    assert not s.valid
    r = BinanceDepthSync("X/Y", futures=False).on_snapshot(snap(5, b=[(101.0, 1.0)]), ts=0)
    assert r.need_resync and not any(isinstance(e, BookSnapshot) for e in r.events)


def test_bybit_sync_rules():
    s = BybitBookSync("X/Y:Y")
    assert s.on_message("delta", BybitBook("X", [(1.0, 1.0)], [], 5), 0).events == []  # before a snapshot
    r = s.on_message("snapshot", BybitBook("X", [(99.0, 1.0)], [(101.0, 1.0)], 10), 0)
    assert isinstance(r.events[0], BookSnapshot) and s.valid
    r = s.on_message("delta", BybitBook("X", [(99.0, 0.0)], [], 11), 0)
    assert r.events[0].prev_sequence == 10 and s.book.as_dicts() == ({}, {101.0: 1.0})
    assert s.on_message("delta", BybitBook("X", [], [], 11), 0).events == []  # duplicate
    assert s.on_message("delta", BybitBook("X", [], [], 13), 0).need_resync
    # u == 1 is a snapshot after a service restart, whatever the type says
    r = s.on_message("delta", BybitBook("X", [(50.0, 1.0)], [(60.0, 1.0)], 1), 0)
    assert s.valid and s.book.sequence == 1 and isinstance(r.events[0], BookSnapshot)


def test_snapshot_is_stamped_on_the_stream_clock():
    s = BinanceDepthSync("X/Y", futures=False)
    s.on_diff(BinanceDepth(s="X", U=1, u=5, b=[], a=[], E=1_000, T=0))
    s.on_diff(BinanceDepth(s="X", U=6, u=9, b=[], a=[], E=1_100, T=0))
    r = s.on_snapshot(snap(9), ts=999_999)  # spot REST snapshots carry no time
    assert r.events[0].ts == 1_100
    fut = BinanceDepthSync("X/Y:Y", futures=True)
    r = fut.on_snapshot(BinanceDepthSnapshot(lastUpdateId=3, bids=[(1.0, 1.0)], asks=[(2.0, 1.0)], E=50, T=40), ts=7)
    assert r.events[0].ts == 40


def test_fast_delta_is_the_same_record_as_the_constructor():
    from virtuoso_streams.sync import make_delta

    from virtuoso_tui.model import BookDelta

    bids, asks = ((1.5, 2.0), (1.4, 0.0)), ((1.6, 3.0),)
    fast, plain = make_delta("X/Y", 7, bids, asks, 10, 9), BookDelta("X/Y", 7, bids, asks, 10, 9)
    assert type(fast) is BookDelta and fast == plain and hash(fast) == hash(plain)
    assert (fast.symbol, fast.ts, fast.bids, fast.asks, fast.sequence, fast.prev_sequence) == ("X/Y", 7, bids, asks, 10, 9)
