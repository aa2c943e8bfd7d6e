"""The Binance stream inside the engine: a sequence gap makes the source resync, its health says the
book is not valid, and until the next snapshot MarketState's book is invalid: the orderbook face is
n/a and the paper executor refuses to fill against it. The real client and the local servers."""

from __future__ import annotations

import asyncio

from tests.exchange import Venue, WsFaults, binance_tape
from tests.test_streams_binance import FUT, options
from virtuoso_tui.config import parse_config
from virtuoso_tui.model import OrderIntent, OrderStatus
from virtuoso_tui.model.market import SourceHealth
from virtuoso_tui.runtime import build_runtime

SYMBOL = "SUSHI/USDT:USDT"


def gap_indices(tape, near=(400, 800, 1200)) -> list[int]:
    """The first depth frame at or after each position: frames the client never gets."""
    return [next(i for i in range(n, len(tape.frames)) if tape.is_depth(tape.frames[i])) for n in near]


async def test_resync_invalidates_the_book_until_the_next_snapshot():
    tape = binance_tape(True)
    gaps = gap_indices(tape)
    faults = WsFaults(at={i: "gap" for i in gaps})
    s = parse_config('[risk.price_band]\nenabled = false\n', env={})
    async with Venue.running(tape, faults) as venue:
        rt = build_runtime(s, source="binance", symbols=list(FUT.values()), db_path="", warm_up=False,
                           source_options=options(venue, streams=["depth", "trades"]))
        engine, desk = rt.engine, rt.desk
        seen = {"control": None, "resyncs": [], "after": 0}
        noted: set = set()

        def on_book(_topic, ev) -> None:
            state = engine.states[ev.symbol]
            if ev.symbol == SYMBOL and seen["control"] is None and state.book.valid and SYMBOL in desk.books:
                # a valid book: a paper market order fills against it (the control case)
                seen["control"] = desk.submit(OrderIntent(SYMBOL, "buy", 1.0))
                seen["control_face"] = rt.prism.on_update(state, frozenset({"book"})).faces["orderbook"]
            if seen["resyncs"] and state.book.valid and ev.symbol == seen["resyncs"][-1]["symbol"]:
                seen["after"] += 1

        def on_health(_topic, h: SourceHealth) -> None:
            if h.detail.startswith("resync "):
                seen["reports"] = seen.get("reports", 0) + 1  # the source reports each resync at once
            for symbol, ok in (h.extra.get("books_valid") or {}).items():
                state = engine.states[symbol]
                key = (symbol, state.book.version)
                if ok is False and state.book.reason.startswith("resync") and key not in noted:
                    noted.add(key)  # one invalidation may be reported by several health records
                    signal = rt.prism.on_update(state, frozenset({"book"}))  # what the faces see now
                    order = desk.submit(OrderIntent(symbol, "buy", 1.0))
                    seen["resyncs"].append({"symbol": symbol, "valid": state.book.valid, "order": order,
                                            "face": signal.faces["orderbook"]})

        rt.bus.subscribe("book", on_book)
        rt.bus.subscribe("health", on_health)

        def caught_up() -> bool:
            # the tape sent everything AND the engine applied it all (its books at the venue's sequence)
            return tape.done and bool(seen["resyncs"]) and all(
                engine.states[sym].book.valid and engine.states[sym].book.sequence == tape.books[vid].sequence
                for vid, sym in FUT.items())

        async def watch() -> None:
            while not caught_up():
                await asyncio.sleep(0.05)
            engine.stop("synced")

        watcher = asyncio.ensure_future(watch())
        await engine.run(wall_seconds=20)
        watcher.cancel()
        rt.close()

    assert engine.stopped_reason == "synced"
    control = seen["control"]
    assert control is not None and control.status is OrderStatus.FILLED
    assert seen["control_face"].score is not None  # a valid book is scored
    resyncs = seen["resyncs"]
    assert tape.injected["gap"] == len(gaps)
    # every resync the source made reached the engine; two that overlap (a new gap before the first
    # snapshot landed) invalidate the engine's book once, as it stays invalid throughout
    assert seen["reports"] == rt.source.resyncs >= 2
    assert 1 <= len(resyncs) <= rt.source.resyncs
    for r in resyncs:
        assert r["valid"] is False
        assert r["order"].status is OrderStatus.REJECTED and r["order"].filled == 0
        assert "no asks" in r["order"].reason
        assert r["face"] is not None and r["face"].score is None  # the orderbook face is n/a
    assert seen["after"] > 0  # the next snapshot made it valid again, and deltas flowed on
    fills = [f for f in desk.manager.journal.fills()]
    assert {f.client_id for f in fills} == {control.client_id}
    for vid, sym in FUT.items():  # and the engine's books ended equal to the venue's
        book = engine.states[sym].book
        ref = tape.books[vid]
        assert book.valid and book.sequence == ref.sequence
        top = sorted(ref.bids.items(), reverse=True)[:50]  # MarketState keeps the top 500 levels
        assert [tuple(x) for x in book.bids(50).tolist()] == top
        assert [tuple(x) for x in book.asks(50).tolist()] == sorted(ref.asks.items())[:50]
