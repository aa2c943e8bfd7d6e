"""`virtuoso record --source binance` end to end against the local websocket + REST servers (the real
CLI in a subprocess, our websocket client, the recorded Binance futures streams), then the replay
source plays the database back through the engine: the book at the end of the replay equals the
venue's book at the end of the recording, and the replayed 1m candles equal the recorded ones."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import numpy as np

from tests.exchange import Venue, WsFaults, binance_tape
from tests.test_streams_binance import FUT
from virtuoso_tui.config import parse_config
from virtuoso_tui.runtime import build_runtime
from virtuoso_tui.storage import Storage

REPO = Path(__file__).resolve().parents[1]


async def record(venue: Venue, tmp_path: Path, seconds: float) -> tuple[int, str, Path]:
    config = tmp_path / "record.toml"
    config.write_text(f"""
[sources.binance]
ws_url = "{venue.ws.url}"
rest_url = "{venue.rest.url}"
health_interval_s = 0.2
backoff_base_s = 0.01
[storage]
path = ""
""")
    db = tmp_path / "rec.db"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "virtuoso_tui.cli", "record", "--config", str(config), "--source", "binance",
        "--symbols", ",".join(FUT.values()), "--duration", str(seconds), "--db", str(db),
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, err.decode(), db


async def test_record_binance_then_replay_reproduces_book_and_candles(tmp_path):
    tape = binance_tape(True)
    # paced (1 ms a frame, ~1.5 s in all) so the depth sync is live while most of the tape plays
    async with Venue.running(tape, WsFaults(delay_s=0.001)) as venue:
        code, err, db = await record(venue, tmp_path, 7.0)  # room for a loaded machine
    assert code == 0, err
    assert tape.done, "the recording did not see the whole tape"
    assert "recorded" in err and "books" in err

    store = Storage(str(db))
    try:
        recorded = {sym: store.read_candles(sym, "1m") for sym in FUT.values()}
        n_snap = store.conn.execute("SELECT COUNT(*) FROM book_snapshots").fetchone()[0]
        n_delta = store.conn.execute("SELECT COUNT(*) FROM book_deltas").fetchone()[0]
        n_trades = store.conn.execute("SELECT COUNT(*) FROM trades").fetchone()[0]
    finally:
        store.close()
    assert n_snap >= len(FUT) and n_delta > 100 and n_trades > 0
    assert sum(len(c["ts"]) for c in recorded.values()) > 0

    s = parse_config(f'[sources.replay]\npath = "{db}"\n', env={})
    rt = build_runtime(s, source="replay", symbols=list(FUT.values()), speed=0.0, db_path="", with_prism=False,
                       with_trading=False, warm_up=False)
    await rt.engine.run(wall_seconds=30)
    rt.close()
    assert rt.engine.stopped_reason == "source ended"
    for vid, sym in FUT.items():
        book, ref = rt.engine.states[sym].book, tape.books[vid]
        assert book.valid and book.sequence == ref.sequence, (book.reason, book.sequence, ref.sequence)
        # MarketState keeps the best 500 levels a side, so levels deleted near the top are not
        # refilled from below: the top 200 (the faces read 50) must equal the venue's exactly
        assert [tuple(x) for x in book.bids(200).tolist()] == sorted(ref.bids.items(), reverse=True)[:200]
        assert [tuple(x) for x in book.asks(200).tolist()] == sorted(ref.asks.items())[:200]
        series = rt.engine.states[sym].candles["1m"]
        rec = recorded[sym]
        assert len(series) == len(rec["ts"])
        np.testing.assert_array_equal(series.ts, rec["ts"])
        for col in ("open", "high", "low", "close", "volume"):
            np.testing.assert_array_equal(getattr(series, col), rec[col])
