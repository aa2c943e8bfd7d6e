"""Candles and recordings of the seeded simulated market for backtests (backtest/data.py).

`from_sim` draws candles from the sim's candle-level model (virtuoso_sim.history), checked against a
direct call of that model and, with a base timeframe, against folding the base candles by hand; the
CLI's sim backtest of the prism runs in seconds and well under 500 MB (measured in a child process).
`from_sim_ticks` folds the tick-level market's trades in streamed chunks and must equal folding the
whole recorded session at once; `sim_events` is a lazy stream, never a list.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

virtuoso_sim = pytest.importorskip("virtuoso_sim")

from virtuoso_tui.backtest import data  # noqa: E402
from virtuoso_tui.backtest.data import DataError, from_sim, from_sim_ticks, sim_events  # noqa: E402
from virtuoso_tui.market.candles import candles_from_trades  # noqa: E402
from virtuoso_tui.model import Trade  # noqa: E402

SYMBOL = "BTC/USDT:USDT"
END = 1_767_571_200_000   # the live sim's start (virtuoso_sim.profiles.DEFAULT_START_TS), a day boundary
COLS = ("open", "high", "low", "close", "volume")


def test_candles_are_the_sim_candle_model_exactly_and_seeded():
    c = from_sim(SYMBOL, "15m", bars=500, seed=7)
    ref = virtuoso_sim.history(SYMBOL, "15m", 500, 7, END)
    assert len(c) == 500 and c.timeframe == "15m" and c.symbol == SYMBOL and not c.warnings
    np.testing.assert_array_equal(c.ts, ref["ts"])
    for k in COLS:
        np.testing.assert_array_equal(getattr(c, k), ref[k])
    assert int(c.ts[-1]) + 900_000 == END and set(np.diff(c.ts).tolist()) == {900_000}
    assert (c.high >= np.maximum(c.open, c.close)).all() and (c.low <= np.minimum(c.open, c.close)).all()
    again = from_sim(SYMBOL, "15m", bars=500, seed=7)
    np.testing.assert_array_equal(again.close, c.close)
    assert not np.array_equal(from_sim(SYMBOL, "15m", bars=500, seed=8).close, c.close)


def _fold(base: dict, k: int) -> dict:
    """Hand fold of consecutive whole groups of `k` base candles (first open, max high, min low, last
    close, summed volume): the independent reference for the base-timeframe path."""
    n = len(base["ts"]) // k * k
    g = {name: np.asarray(v[-n:]).reshape(-1, k) for name, v in base.items()}
    return {"ts": g["ts"][:, 0], "open": g["open"][:, 0], "high": g["high"].max(axis=1),
            "low": g["low"].min(axis=1), "close": g["close"][:, -1], "volume": g["volume"].sum(axis=1)}


def test_a_base_timeframe_makes_every_timeframe_the_same_market():
    base = virtuoso_sim.history(SYMBOL, "15m", 400 * 16, 3, END)
    h1 = from_sim(SYMBOL, "1h", bars=1600, seed=3, base="15m")
    h4 = from_sim(SYMBOL, "4h", bars=400, seed=3, base="15m")
    assert len(h1) == 1600 and len(h4) == 400 and not h1.warnings and not h4.warnings
    for got, k in ((h1, 4), (h4, 16)):
        ref = _fold(base, k)
        np.testing.assert_array_equal(got.ts, ref["ts"])
        for name in COLS[:4]:
            np.testing.assert_array_equal(getattr(got, name), ref[name])
        np.testing.assert_allclose(got.volume, ref["volume"], rtol=1e-12)
    # 4h from the 1h run folded again: the two timeframes agree candle for candle
    again = _fold({"ts": h1.ts, "open": h1.open, "high": h1.high, "low": h1.low, "close": h1.close,
                   "volume": h1.volume}, 4)
    np.testing.assert_array_equal(again["close"], h4.close)
    np.testing.assert_array_equal(again["high"], h4.high)
    # an end inside a 4h bucket is floored to the bucket, so no partial candle is made
    off = from_sim(SYMBOL, "4h", bars=400, seed=3, base="15m", end_ts=END + 5 * 900_000)
    np.testing.assert_array_equal(off.ts, h4.ts)
    np.testing.assert_array_equal(off.close, h4.close)


@pytest.mark.parametrize("kwargs, message", [
    ({"bars": 0}, "bars"),
    ({"base": "7m"}, "timeframe"),
    ({"base": "4h"}, "must divide 1h"),
])
def test_bad_sim_arguments_are_one_data_error(kwargs, message):
    with pytest.raises((DataError, ValueError), match=message):
        from_sim(SYMBOL, "1h", **{"bars": 10, **kwargs})
    with pytest.raises(DataError, match="cannot draw"):
        from_sim("BTCUSDT", "1h", bars=10)


def test_sim_events_is_a_lazy_stream():
    events = sim_events("BTC/USDT", 3600.0, seed=3)
    assert iter(events) is events and not isinstance(events, list | tuple)
    first = [next(events) for _ in range(50)]
    assert [e.ts for e in first] == sorted(e.ts for e in first)


def test_tick_candles_stream_in_chunks_and_equal_folding_the_whole_session(monkeypatch):
    # the old way: hold every record of the session, fold all its trades at once
    trades = [e for e in sim_events("BTC/USDT", 12 * 60, seed=5) if type(e) is Trade]
    ts = np.array([t.ts for t in trades], dtype=np.int64)
    ref = candles_from_trades(ts, np.array([t.price for t in trades]), np.array([t.amount for t in trades]),
                              None, 60_000)
    monkeypatch.setattr(data, "TICK_CHUNK", 97)   # many chunk edges inside candles
    c = from_sim_ticks("BTC/USDT", "1m", bars=12, seed=5)
    assert len(c) == len(ref["ts"]) == 12 and c.source == "sim-ticks(seed=5)"
    np.testing.assert_array_equal(c.ts, ref["ts"])
    for k in COLS:
        np.testing.assert_array_equal(getattr(c, k), ref[k])


def test_tick_candles_keep_a_bounded_part_of_the_session(monkeypatch):
    monkeypatch.setattr(data, "TICK_CHUNK", 1000)
    tracemalloc.start()
    try:
        from_sim_ticks("BTC/USDT", "1m", bars=6, seed=5)
        streamed = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        held = list(sim_events("BTC/USDT", 6 * 60, seed=5))
        holding = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(held) > 5_000
    assert streamed < holding / 3


def test_cli_prism_backtest_on_the_sim_takes_seconds_and_little_memory():
    code = (
        "import json, resource, sys, time\n"
        "from virtuoso_tui.cli import main\n"
        "t = time.perf_counter()\n"
        "rc = main(['backtest', '--source', 'sim', '--symbol', 'BTC/USDT:USDT', '--timeframe', '15m',"
        " '--strategy', 'prism', '--json'])\n"
        "print(json.dumps({'rc': rc, 's': time.perf_counter() - t,"
        " 'rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), file=sys.stderr)\n"
    )
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    stats = json.loads(out.stderr.strip().splitlines()[-1])
    doc = json.loads(out.stdout)
    assert stats["rc"] == 0 and doc["strategy"] == "prism" and len(doc["equity"]) == 1000
    assert stats["s"] < 15.0 and time.perf_counter() - started < 30.0
    assert stats["rss_mb"] < 500.0
