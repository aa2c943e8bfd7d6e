"""Order book synchronisation state machines, free of I/O so faults can be driven through them fast.

`BinanceDepthSync` follows Binance's documented procedure for a local book from the diff stream:
buffer diffs, fetch a REST snapshot, drop buffered events with u <= lastUpdateId, require the first
applied event to straddle the snapshot (spot: U <= lastUpdateId+1; USDⓈ-M futures: pu <= lastUpdateId),
then check continuity (spot: U == previous u + 1; futures: pu == previous u). `BybitBookSync` follows
Bybit v5: a snapshot (or u == 1) resets the book, each delta must carry u == previous u + 1.
A gap, or a book that comes out crossed, drops the book (nothing more is emitted for it) and asks the
caller, through the returned `need_resync` flag, for a new snapshot (Binance: REST; Bybit: resubscribe).
Duplicates and stale events (u <= the book's sequence) are ignored silently.

Emitted records (virtuoso_tui.model): a BookSnapshot with the sequence when a book becomes valid, then
a BookDelta per applied event with `prev_sequence` = the sequence it follows, so MarketState's own
OrderBook can check continuity again. Neighbours: localbook.py keeps the levels; binance.py and
bybit.py own the sockets and call these.
"""

from __future__ import annotations

from virtuoso_streams.localbook import LocalBook, _apply_levels
from virtuoso_streams.messages import BinanceDepth, BinanceDepthSnapshot, BybitBook
from virtuoso_tui.model import BookDelta, BookSnapshot


def _delta_factory():
    """BookDelta(symbol, ts, bids, asks, sequence, prev_sequence) built through its slot descriptors:
    a frozen dataclass's __init__ goes through object.__setattr__ per field, about twice the cost,
    and this runs once per depth message. Same object, same equality (tests compare the two)."""
    from dataclasses import fields

    names = [f.name for f in fields(BookDelta)]
    if names != ["symbol", "ts", "bids", "asks", "sequence", "prev_sequence"] or hasattr(BookDelta, "__post_init__"):
        return BookDelta  # the model changed shape: the plain constructor is always right
    new = object.__new__
    s0, s1, s2, s3, s4, s5 = (getattr(BookDelta, n).__set__ for n in names)

    def make(symbol, ts, bids, asks, sequence, prev_sequence):
        d = new(BookDelta)
        s0(d, symbol)
        s1(d, ts)
        s2(d, bids)
        s3(d, asks)
        s4(d, sequence)
        s5(d, prev_sequence)
        return d

    return make


make_delta = _delta_factory()


class SyncResult:
    """What one message did: records to emit, and whether the book needs a resync (and why).
    A plain slotted class: it is built for every message, a dataclass factory costs more."""

    __slots__ = ("events", "need_resync", "reason")

    def __init__(self, events: list | None = None, need_resync: bool = False, reason: str = "") -> None:
        self.events = [] if events is None else events
        self.need_resync = need_resync
        self.reason = reason


class BinanceDepthSync:
    """One symbol's depth sync. States: 'buffering' (waiting for a snapshot) and 'live'."""

    #: buffered diffs kept while a snapshot is fetched; beyond this the oldest are dropped and the
    #: snapshot will be found too old, which just means one more fetch
    max_buffer = 5_000

    def __init__(self, symbol: str, *, futures: bool, snapshot_depth: int | None = None) -> None:
        self.symbol = symbol
        self.futures = futures
        self.snapshot_depth = snapshot_depth
        self.book = LocalBook(symbol)
        self.state = "buffering"
        self.buffer: list[BinanceDepth] = []
        self.first_pending = False  # the next applied event must straddle the snapshot
        self.resyncs = 0
        self.ignored = 0
        self.last_reason = ""

    @property
    def valid(self) -> bool:
        return self.state == "live"

    def _drop(self, reason: str, keep: BinanceDepth | None) -> SyncResult:
        self.state = "buffering"
        self.buffer = [keep] if keep is not None else []
        self.book.sequence = None
        self.resyncs += 1
        self.last_reason = reason
        return SyncResult(need_resync=True, reason=reason)

    def on_diff(self, d: BinanceDepth) -> SyncResult:
        if self.state == "buffering":
            self.buffer.append(d)
            if len(self.buffer) > self.max_buffer:
                del self.buffer[0]
            return SyncResult()
        return self._apply(d, SyncResult())

    def _apply(self, d: BinanceDepth, out: SyncResult) -> SyncResult:
        r = self.apply_live(d)
        if r is None:
            return out
        if r.__class__ is SyncResult:
            r.events = out.events
            return r
        out.events.append(r)
        return out

    def apply_live(self, d: BinanceDepth) -> BookDelta | SyncResult | None:
        """The hot path of a live book: apply one diff. Returns the BookDelta to emit, None for a
        duplicate or stale diff (ignored), or a SyncResult asking for a resync (gap, crossed).
        Written flat (no per-message result object, the level loops called directly) because it
        runs for every depth message of every symbol."""
        book = self.book
        seq = book.sequence
        u = d.u
        if u <= seq:
            self.ignored += 1  # duplicate or stale, already in the book
            return None
        if self.first_pending:
            ok = (d.pu is not None and d.pu <= seq) if self.futures else d.U <= seq + 1
        else:
            ok = d.pu == seq if self.futures else d.U == seq + 1
        if not ok:
            return self._drop(f"{self.symbol}: sequence gap (book at {seq}, event U={d.U} u={d.u} pu={d.pu})", d)
        bids, asks = d.b, d.a
        bs, as_ = book.bids, book.asks
        _apply_levels(bs.levels, bs.prices, bids)
        _apply_levels(as_.levels, as_.prices, asks)
        ts = d.T or d.E
        book.sequence, book.ts = u, ts
        self.first_pending = False
        bp, ap = bs.prices, as_.prices
        if bp and ap and bp[-1] >= ap[0]:
            return self._drop(f"{self.symbol}: crossed book after update u={u}", None)
        # msgspec decoded each side as a tuple of (float, float) tuples: the record takes it as is
        if bids.__class__ is not tuple:
            bids, asks = tuple(bids), tuple(asks)
        return make_delta(self.symbol, ts, bids, asks, u, seq)

    def on_snapshot(self, snap: BinanceDepthSnapshot, ts: int) -> SyncResult:
        """Apply a REST snapshot to the buffered diffs. The BookSnapshot record is stamped with the
        snapshot's own time (futures send E/T), else on the stream's clock: the time of the first
        buffered diff it precedes (or of the newest diff it already contains), else `ts` (ms). A replay
        orders records by time, so a snapshot stamped after diffs it precedes would replay them first,
        drop them as stale, and open a gap."""
        last = snap.lastUpdateId
        pending = [d for d in self.buffer if d.u > last]
        stamp = (snap.T or snap.E
                 or (min(d.T or d.E for d in pending) if pending else max((d.T or d.E for d in self.buffer), default=0))
                 or ts)
        if pending:
            first = pending[0]
            straddles = (first.pu is not None and first.pu <= last) if self.futures else first.U <= last + 1
            if not straddles:
                # the snapshot is older than the oldest event we hold: fetch again, keep buffering
                self.buffer = pending
                self.last_reason = f"{self.symbol}: snapshot {last} older than buffered U={first.U}"
                return SyncResult(need_resync=True, reason=self.last_reason)
        self.book.reset(snap.bids, snap.asks, last, stamp)
        out = SyncResult()
        if self.book.crossed:
            return self._drop(f"{self.symbol}: crossed REST snapshot {last}", None)
        self.state = "live"
        self.first_pending = True
        self.buffer = []
        bids, asks = self.book.top(self.snapshot_depth)
        out.events.append(BookSnapshot(self.symbol, stamp, bids, asks, last))
        for d in pending:
            out = self._apply(d, out)
            if out.need_resync:
                break
        return out


class BybitBookSync:
    """One symbol's Bybit v5 orderbook.N sync: snapshot resets, delta needs u == previous u + 1."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.book = LocalBook(symbol)
        self.live = False
        self.resyncs = 0
        self.ignored = 0
        self.last_reason = ""

    @property
    def valid(self) -> bool:
        return self.live

    def _drop(self, reason: str, out: SyncResult) -> SyncResult:
        self.live = False
        self.book.sequence = None
        self.resyncs += 1
        self.last_reason = reason
        out.need_resync = True
        out.reason = reason
        return out

    def on_message(self, kind: str, data: BybitBook, ts: int) -> SyncResult:
        out = SyncResult()
        book = self.book
        if kind == "snapshot" or data.u == 1:
            book.reset(data.b, data.a, data.u, ts)
            if book.crossed:
                return self._drop(f"{self.symbol}: crossed snapshot u={data.u}", out)
            self.live = True
            bids, asks = book.top()
            out.events.append(BookSnapshot(self.symbol, ts, bids, asks, data.u))
            return out
        if not self.live:
            self.ignored += 1  # deltas before the (re)subscription snapshot mean nothing
            return out
        seq = book.sequence
        if data.u <= seq:
            self.ignored += 1
            return out
        if data.u != seq + 1:
            return self._drop(f"{self.symbol}: sequence gap (book at {seq}, delta u={data.u})", out)
        book.apply(data.b, data.a, data.u, ts)
        if book.crossed:
            return self._drop(f"{self.symbol}: crossed book after delta u={data.u}", out)
        bids, asks = data.b, data.a
        if bids.__class__ is not tuple:
            bids, asks = tuple(bids), tuple(asks)
        out.events.append(make_delta(self.symbol, ts, bids, asks, data.u, seq))
        return out
