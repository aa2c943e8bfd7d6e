"""Prism backtest benchmark: bars/s of the `prism` strategy, event path and vectorised candle faces.

Measured in one run, each the best of `--repeat` runs:
  * recording  the event path with the FULL prism (six faces) over a seeded sim recording (trades, book
               snapshots/deltas, tickers, funding, open interest): `replay.run_recording` with the prism
               strategy on 1m bars, blend 1m/5m. Bars/s = closed 1m candles per second of replay (the
               sim's own generation is not timed). Anchor: the bare TA-Lib calls the candle faces make
               (RSI, MACD, WILLR, CCI, ATR, AD, OBV, the two SMAs of AO) on the same 1m/5m windows
               at every bar, same run. Also printed: the same replay with a strategy that never
               decides (the replay clock + MarketState alone), so the prism's own cost per bar shows.
  * candles    the event path on candle files (candle faces only; trade/book faces n/a): the prism
               strategy through `run_events` on `--event-bars` real 1m candles.
  * vector     the vectorised technical + volume faces (prism/vector.py) for every bar of 100k 1m
               candles (the nautilus BTC perp 1m CSV laid end to end, rescaled so copies join without a
               jump), blend 4h/15m/5m. Anchor: the same TA-Lib calls once over each timeframe's whole
               array (what any candle backtester pays for these indicators), same run.
Run: .venv/bin/python bench/bench_prism_backtest.py [--hours H] [--bars N] [--event-bars N] [--repeat R] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import talib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "plugins"))

from virtuoso_strategies.prism import PrismStrategy  # noqa: E402

from virtuoso_tui.backtest.data import Candles, load_candles, sim_events  # noqa: E402
from virtuoso_tui.backtest.engine import run_events  # noqa: E402
from virtuoso_tui.backtest.replay import run_recording  # noqa: E402
from virtuoso_tui.prism.vector import blend_for, candle_faces, timeframe_history  # noqa: E402

CSV = ROOT.parent / "shared" / "data" / "ohlcv" / "nautilus" / "btc-perp-20211231-20220201_1m.csv"
SYMBOL = "BTC/USDT:USDT"
REC_BLEND = "1m:0.6,5m:0.4"


def tiled(bars: int) -> Candles:
    """`bars` 1m candles: the real CSV end to end, each copy rescaled to continue the last close."""
    base = load_candles(CSV, symbol=SYMBOL)
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("ts", "open", "high", "low", "close", "volume")}
    scale, shift, have = 1.0, 0, 0
    span = int(base.ts[-1] - base.ts[0]) + 60_000
    while have < bars:
        for k in ("open", "high", "low", "close"):
            cols[k].append(getattr(base, k) * scale)
        cols["volume"].append(base.volume)
        cols["ts"].append(base.ts + shift)
        have += len(base)
        scale = cols["close"][-1][-1] / base.open[0]
        shift += span
    out = {k: np.concatenate(v)[:bars] for k, v in cols.items()}
    return Candles(out["ts"], out["open"], out["high"], out["low"], out["close"], out["volume"], SYMBOL, "1m")


def bare_talib(h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray) -> None:
    talib.RSI(c, 14)
    talib.MACD(c, 12, 26, 9)
    talib.WILLR(h, lo, c, 14)
    talib.CCI(h, lo, c, 20)
    talib.ATR(h, lo, c, 14)
    talib.AD(h, lo, c, v)
    talib.OBV(c, v)
    m = (h + lo) * 0.5
    talib.SMA(m, 5)
    talib.SMA(m, 34)


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_recording(hours: float, repeat: int) -> dict:
    events = list(sim_events(SYMBOL, hours * 3600, seed=7))
    bars = [0]

    def run() -> None:
        strategy = PrismStrategy({"timeframes": REC_BLEND, "allow_short": True})
        rr = run_recording(events, strategy, symbol=SYMBOL, timeframe="1m", fee=0.0005)
        bars[0] = len(rr.equity)

    seconds = best(run, repeat)
    # the replay clock + MarketState alone (a strategy that never decides): what the prism adds on top
    from virtuoso_tui.trading.strategy import Strategy

    replay_seconds = best(lambda: run_recording(events, Strategy(), symbol=SYMBOL, timeframe="1m"), repeat)
    # the anchor: TA-Lib on the same candle windows the faces read at each bar
    strategy = PrismStrategy({"timeframes": REC_BLEND}, record=True)
    run_recording(events, strategy, symbol=SYMBOL, timeframe="1m")
    one_m = strategy.own.candles["1m"]
    five = strategy.own.candles["5m"]
    h1, l1, c1, v1 = np.log(one_m.high), np.log(one_m.low), np.log(one_m.close), one_m.volume
    h5, l5, c5, v5 = np.log(five.high), np.log(five.low), np.log(five.close), five.volume

    def anchor() -> None:
        for i in range(35, len(c1) + 1):
            bare_talib(h1[:i], l1[:i], c1[:i], v1[:i])
            k = min(len(c5), i // 5)
            if k >= 35:
                bare_talib(h5[:k], l5[:k], c5[:k], v5[:k])

    a_seconds = best(anchor, repeat)
    a_bars = max(len(c1) - 34, 1)
    return {"events": len(events), "bars": bars[0], "seconds": seconds, "bars_per_s": bars[0] / seconds,
            "replay_only_bars_per_s": bars[0] / replay_seconds,
            "prism_ms_per_bar": (seconds - replay_seconds) / max(bars[0], 1) * 1e3,
            "anchor_bars_per_s": a_bars / a_seconds}


def bench_candles(bars: int, repeat: int) -> dict:
    candles = tiled(bars)

    def run() -> None:
        run_events(candles, PrismStrategy({}), fee=0.001)

    seconds = best(run, repeat)
    return {"bars": bars, "seconds": seconds, "bars_per_s": bars / seconds}


def bench_vector(bars: int, repeat: int) -> dict:
    candles = tiled(bars)
    blend = blend_for("1m")
    seconds = best(lambda: candle_faces(candles, timeframes=blend), repeat)
    cols = {"open": candles.open, "high": candles.high, "low": candles.low, "close": candles.close,
            "volume": candles.volume}
    frames = []
    for tf in blend:
        hist, _ = timeframe_history(candles.ts, cols, "1m", tf)
        frames.append((np.log(hist["high"]), np.log(hist["low"]), np.log(hist["close"]), hist["volume"]))
    a_seconds = best(lambda: [bare_talib(*f) for f in frames], repeat)
    return {"bars": bars, "seconds": seconds, "bars_per_s": bars / seconds, "anchor_seconds": a_seconds,
            "anchor_bars_per_s": bars / a_seconds}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hours", type=float, default=3.0, help="sim recording length, hours")
    ap.add_argument("--bars", type=int, default=100_000, help="1m candles for the vectorised path")
    ap.add_argument("--event-bars", type=int, default=5_000, help="1m candles for the candle event path")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rec = bench_recording(args.hours, args.repeat)
    cand = bench_candles(args.event_bars, args.repeat)
    vec = bench_vector(args.bars, args.repeat)
    doc = {"recording": rec, "candles": cand, "vector": vec}
    if args.json:
        print(json.dumps(doc))
        return 0
    print(f"prism backtest, full prism on a sim recording ({rec['events']:,} records, {rec['bars']} 1m bars, "
          f"blend {REC_BLEND}):")
    print(f"  event path      {rec['bars_per_s']:>12,.0f} bars/s   anchor (bare TA-Lib per bar) "
          f"{rec['anchor_bars_per_s']:,.0f} bars/s   ratio {rec['bars_per_s'] / rec['anchor_bars_per_s']:.3f}")
    print(f"  replay alone    {rec['replay_only_bars_per_s']:>12,.0f} bars/s   (the prism + strategy add "
          f"{rec['prism_ms_per_bar']:.2f} ms per bar)")
    print(f"candle faces only, event path on {cand['bars']:,} real 1m candles (blend 4h/15m/5m):")
    print(f"  event path      {cand['bars_per_s']:>12,.0f} bars/s")
    print(f"candle faces, vectorised (technical + volume) on {vec['bars']:,} 1m candles (blend 4h/15m/5m):")
    print(f"  vector path     {vec['bars_per_s']:>12,.0f} bars/s   anchor (bare TA-Lib, whole arrays) "
          f"{vec['anchor_bars_per_s']:,.0f} bars/s   ratio {vec['bars_per_s'] / vec['anchor_bars_per_s']:.3f}")
    print(f"  vector / candle event path: {vec['bars_per_s'] / cand['bars_per_s']:,.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
