"""Simulated market throughput: events/s that SimMarket generates for 3 and for 20 symbols.

Printed per case: market seconds generated, events, wall seconds, events/s, market-time speed-up
(market seconds per wall second), and the event mix. The ANCHOR, measured in the same run on the
same machine, is the bare cost of the records alone: a tight loop constructing as many Trade
records as the case produced events (`Trade(...)` with fixed values appended to a list). The ratio
sim / anchor says how many "bare record constructions" one simulated event costs, comparable across
machines where absolute events/s are not. Goals (issue "spine", item 5): one hour of 3 symbols in
well under a few seconds; 20 symbols at tens of thousands of events/s.

Run: .venv/bin/python bench/bench_sim.py [--seconds S] [--seed N] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "plugins"))

from virtuoso_sim import SimMarket  # noqa: E402

from virtuoso_tui.model.market import Trade  # noqa: E402

THREE = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]
TWENTY = THREE + [f"{b}/USDT:USDT" for b in (
    "XRP", "DOGE", "ADA", "AVAX", "LINK", "DOT", "TRX", "LTC", "BCH", "NEAR", "APT", "ARB", "OP", "SUI", "TON")] + [
    "BTC/USDT", "ETH/USDT"]


def anchor(n: int) -> float:
    """Seconds to construct and append n Trade records: the floor of any source's per-event cost."""
    out = []
    append = out.append
    t0 = time.perf_counter()
    for i in range(n):
        append(Trade("BTC/USDT:USDT", i, 65000.0, 0.01, "buy", None))
    return time.perf_counter() - t0


def case(symbols: list[str], seconds: float, seed: int) -> dict:
    market = SimMarket(symbols, seed=seed)
    mix: Counter[str] = Counter()
    gc.collect()
    t0 = time.perf_counter()
    for e in market.run(seconds):
        mix[type(e).__name__] += 1
    wall = time.perf_counter() - t0
    n = sum(mix.values())
    bare = anchor(n)
    return {"symbols": len(symbols), "market_s": seconds, "events": n, "wall_s": round(wall, 3),
            "events_per_s": round(n / wall), "speedup": round(seconds / wall, 1),
            "anchor_s": round(bare, 3), "ratio_to_anchor": round(wall / bare, 1), "mix": dict(mix)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3600.0, help="market seconds for the 3-symbol case")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results = [case(THREE, args.seconds, args.seed), case(TWENTY, args.seconds / 6, args.seed)]
    if args.json:
        print(json.dumps(results, indent=1))
        return
    for r in results:
        print(f"{r['symbols']:>3} symbols  {r['market_s']:>7.0f} market s  {r['events']:>8} events  "
              f"{r['wall_s']:>6.2f} s wall  {r['events_per_s']:>8} events/s  x{r['speedup']} real time  "
              f"{r['ratio_to_anchor']}x anchor ({r['anchor_s']:.3f} s)")
        print("             mix " + ", ".join(f"{k} {v}" for k, v in sorted(r["mix"].items())))
    three, twenty = results
    print(f"goal 1 h x 3 symbols well under a few s: {three['wall_s'] * 3600 / three['market_s']:.2f} s per hour")
    print(f"goal 20 symbols at tens of thousands of events/s: {twenty['events_per_s']} events/s")


if __name__ == "__main__":
    main()
