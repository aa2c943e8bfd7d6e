"""The spine's throughput: the simulated market feeding MarketState for 20 symbols, and the whole engine.

Printed: events/s and memory for (1) generating the simulated market alone, (2) sim + MarketState.apply
for every record, (3) the full engine pump (sim -> MarketState -> prism every second of market time ->
paper desk -> bus), each for 20 symbols. The ANCHOR, measured in the same run on the same records, is
the machine's raw event rate: dispatching each record to a per-symbol Python list. Ratios say how many
"bare dispatches" one event costs, comparable across machines where events/s are not.

Run: .venv/bin/python bench/bench_engine.py [--seconds S] [--symbols N]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import time
import tracemalloc

from virtuoso_sim import SimMarket

from virtuoso_tui.market.state import MarketState
from virtuoso_tui.model.market import SourceHealth

BASES = ["BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "AVAX", "LINK", "DOT", "LTC", "BCH", "TRX", "ATOM", "NEAR",
         "APT", "ARB", "OP", "SUI", "INJ", "FIL"]


def symbols(n: int) -> list[str]:
    return [f"{b}/USDT:USDT" for b in BASES[:n]]


def timed(fn):
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=300.0, help="market seconds to simulate")
    ap.add_argument("--symbols", type=int, default=20)
    args = ap.parse_args()
    syms = symbols(args.symbols)

    gen_s, records = timed(lambda: list(SimMarket(syms, seed=1).run(args.seconds)))
    n = len(records)

    def anchor():
        lists = {s: [] for s in syms}
        for r in records:
            lists[r.symbol].append(r)
        return lists

    anchor_s = min(timed(anchor)[0] for _ in range(3))

    def apply_all():
        states = {s: MarketState(s) for s in syms}
        for r in records:
            states[r.symbol].apply(r)
        return states

    tracemalloc.start()
    apply_s, states = timed(apply_all)
    state_bytes = sum(s.memory_bytes() for s in states.values())
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    from virtuoso_tui.config import load_config
    from virtuoso_tui.runtime import build_runtime

    settings = load_config()
    rt = build_runtime(settings, symbols=syms, speed=0, db_path="", warm_up=False)
    rt.engine.score_interval_ms = 1_000
    t0 = time.perf_counter()
    asyncio.run(rt.engine.run(market_seconds=args.seconds))
    engine_s = time.perf_counter() - t0
    engine_events = rt.engine.events_seen
    signals = rt.bus.published.get("signal", 0)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    a = n / anchor_s
    print(f"{len(syms)} symbols, {args.seconds:.0f} market s, {n} records "
          f"({sum(isinstance(r, SourceHealth) for r in records)} health)")
    print(f"anchor  raw dispatch to lists      {a:>12,.0f} events/s")
    print(f"sim     generate                   {n / gen_s:>12,.0f} events/s   {a / (n / gen_s):6.1f}x anchor cost")
    print(f"state   MarketState.apply          {n / apply_s:>12,.0f} events/s   {a / (n / apply_s):6.1f}x anchor cost")
    print(f"sim+state (generate then apply)    {n / (gen_s + apply_s):>12,.0f} events/s")
    print(f"engine  full pump (sim, state, prism, desk, bus) {engine_events / engine_s:>10,.0f} events/s   "
          f"{signals} signals, {a / (engine_events / engine_s):6.1f}x anchor cost, "
          f"{args.seconds / engine_s:,.0f}x real time")
    print(f"memory  MarketState x{len(syms)}: {state_bytes / 2**20:.1f} MiB in buffers "
          f"({state_bytes / len(syms) / 2**20:.2f} MiB/symbol); peak traced during apply {traced / 2**20:.1f} MiB; "
          f"process max RSS {rss_mb:.0f} MiB")


if __name__ == "__main__":
    main()
