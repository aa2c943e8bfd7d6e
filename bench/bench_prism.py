"""The market prism for one symbol: a full evaluation, one incremental trade update, one candle close.

The market: real data from ../shared/data through tests/test_prism_support.py (4 timeframes × 500
closed candles: 1m, 5m, 15m, 4h; 10,000 trades; a 50-level book; funding, open interest, long/short
and liquidation history). Printed:
  full      median ms of `Prism.evaluate` with cold caches: a fresh Prism (its faces hold nothing) and
            no shared candle views, so every indicator, reading and row is computed. Each repetition
            builds its Prism outside the timing and lets the previous one go, as an engine holds one
            Prism (rather than keeping every repetition's Prism and results alive).
  re-evaluate  median ms of `Prism.evaluate` again on the same Prism with the data unchanged:
            everything is re-scored, candle readings are reused by series version.
  update    median µs of `Prism.on_update` after one trade (the trade's `MarketState.apply` is timed
            separately), over `--trades` consecutive trades;
  close     median µs of `Prism.on_update` after a 5m candle closes (only that timeframe is re-read);
  anchor    median µs of the bare TA-Lib calls the prism makes for the same indicators on the same
            arrays (per blended timeframe: RSI, MACD, WILLR, CCI, ATR, AD, OBV, ADX, +DI, -DI and the two
            SMAs of AO), measured in the same run; each figure is also printed as a ratio to it.
Goals (issue 3): full ≤ 1 ms median, incremental ≤ 50 µs. The machine is shared: compare figures
taken in the same run, and repeat a run before believing a change of a few per cent.

Run: .venv/bin/python bench/bench_prism.py [--repeat N] [--trades N] [--seed S]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import numpy as np
import talib

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_prism_support import BLEND, market  # noqa: E402
from virtuoso_prism import FACES  # noqa: E402

from virtuoso_tui.model.market import Candle, Trade  # noqa: E402
from virtuoso_tui.prism import blended  # noqa: E402
from virtuoso_tui.prism.engine import Prism  # noqa: E402


def bare_talib(state) -> None:
    for tf in BLEND:
        s = state.candles[tf]
        h, lo, c, v = np.log(s.high), np.log(s.low), np.log(s.close), s.volume
        talib.RSI(c, 14)
        talib.MACD(c, 12, 26, 9)
        talib.WILLR(h, lo, c, 14)
        talib.CCI(h, lo, c, 20)
        talib.ATR(h, lo, c, 14)
        talib.AD(h, lo, c, v)
        talib.OBV(c, v)
        talib.ADX(h, lo, c, 14)
        talib.PLUS_DI(h, lo, c, 14)
        talib.MINUS_DI(h, lo, c, 14)
        m = (h + lo) * 0.5
        talib.SMA(m, 5)
        talib.SMA(m, 34)


def timed(fn, repeat: int) -> np.ndarray:
    out = np.empty(repeat)
    for i in range(repeat):
        t = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - t
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--trades", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    m = market(args.seed, n={"1m": 500, "5m": 500, "15m": 500, "4h": 500}, trades=10_000, levels=50)
    state = m.state()
    assert all(len(state.candles[tf]) == 500 for tf in ("1m", "5m", "15m", "4h")), {tf: len(s) for tf, s in state.candles.items()}
    assert len(state.trades) == 10_000 and state.book.bids(50).shape[0] == 50

    gc.collect()
    gc.freeze()  # long-lived objects out of the collector's way, as the engine does after start
    anchor = np.median(timed(lambda: bare_talib(state), args.repeat))

    cold = np.empty(args.repeat)
    for i in range(args.repeat):
        prism = Prism(FACES, timeframes=BLEND)  # built untimed; the previous one is released here
        blended._VIEWS.clear()
        t = time.perf_counter()
        prism.evaluate(state)
        cold[i] = time.perf_counter() - t
    full = np.median(cold)
    again = np.median(timed(lambda: prism.evaluate(state), args.repeat))

    held = len(state.trades)
    prism = Prism(FACES, timeframes=BLEND)
    sig = prism.evaluate(state)
    price, now = float(state.last_price), int(state.now)
    rng = np.random.default_rng(args.seed)
    trades = [Trade(state.symbol, now + 1 + 20 * i, price * float(np.exp(rng.normal(0, 2e-4))),
                    float(rng.exponential(0.5)), "buy" if rng.random() < 0.5 else "sell") for i in range(args.trades)]
    apply_t, update_t = np.empty(args.trades), np.empty(args.trades)
    for i, trade in enumerate(trades):
        t0 = time.perf_counter()
        touched = state.apply(trade)
        t1 = time.perf_counter()
        sig = prism.on_update(state, touched)
        t2 = time.perf_counter()
        apply_t[i], update_t[i] = t1 - t0, t2 - t1
    update = np.median(update_t)

    five = state.candles["5m"]
    ts, last = int(five.ts[-1]), float(np.exp(np.log(five.close[-1])))
    closes = max(20, args.repeat // 4)
    close_t = np.empty(closes)
    for i in range(closes):
        ts += 300_000
        step = last * float(np.exp(rng.normal(0, 2e-3)))
        candle = Candle(state.symbol, "5m", ts, last, max(last, step) * 1.001, min(last, step) * 0.999, step, 40.0, 21.0)
        last = step
        touched = state.apply(candle)
        t = time.perf_counter()
        sig = prism.on_update(state, touched)
        close_t[i] = time.perf_counter() - t
    close = np.median(close_t)

    print(f"prism, one symbol: 4 tf × 500 candles, {held:,} trades, 50-level book, funding/OI/LS/liquidations")
    print(f"  bare TA-Lib anchor (same indicators, 3 blended tf)   {anchor * 1e6:9.1f} µs")
    print(f"  full evaluate, cold caches        median {full * 1e3:7.3f} ms   = {full / anchor:6.1f} × anchor   "
          f"p90 {np.percentile(cold, 90) * 1e3:.3f} ms   (goal ≤ 1 ms)")
    print(f"  re-evaluate, data unchanged       median {again * 1e3:7.3f} ms   = {again / anchor:6.1f} × anchor")
    print(f"  incremental trade update          median {update * 1e6:7.1f} µs   = {update / anchor:6.2f} × anchor   "
          f"p90 {np.percentile(update_t, 90) * 1e6:.1f} µs   (goal ≤ 50 µs)")
    print(f"  5m candle close update            median {close * 1e6:7.1f} µs   = {close / anchor:6.2f} × anchor")
    print(f"  MarketState.apply(trade)           median {np.median(apply_t) * 1e6:7.1f} µs   (not part of the prism)")
    print(f"  last signal: {sig.side} {sig.score:.2f} confidence {sig.confidence:.2f}")


if __name__ == "__main__":
    main()
