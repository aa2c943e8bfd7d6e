"""MarketState throughput and memory for 20 symbols fed a synthetic mix of trades and book deltas.

Prints events/s through `MarketState.apply`, the memory the states hold, and an ANCHOR measured in the
same run on the same events: the machine's raw event rate, a tight Python loop that dispatches each
event to a per-symbol plain list (`lists[e.symbol].append(e)`). The ratio anchor / MarketState says
how many "bare Python appends" one state update costs, which is comparable across machines where the
absolute events/s are not. Also prints the cost of the reads faces make many times per tick.

Run: .venv/bin/python bench/bench_market.py [--events N] [--symbols K] [--seed S]
"""

from __future__ import annotations

import argparse
import gc
import time

import numpy as np

from virtuoso_tui.market import MarketState
from virtuoso_tui.model import BookDelta, BookSnapshot, Trade

TICK = 0.01  # price increment
LEVELS = 200  # levels per side in the opening snapshot
DELTA_LEVELS = 5  # levels changed per side per delta (Binance @100ms diffs carry about this many)
TRADE_SHARE = 0.6  # share of trades in the event mix


def make_events(symbols: list[str], n: int, seed: int) -> tuple[list[BookSnapshot], list]:
    """Snapshots to start from and `n` time-ordered trades and deltas spread over `symbols`."""
    rng = np.random.default_rng(seed)
    mids = {s: 100.0 * (1 + i) for i, s in enumerate(symbols)}
    snaps = [
        BookSnapshot(s, 0, tuple((round(m - TICK * (i + 1), 2), 1.0) for i in range(LEVELS)),
                     tuple((round(m + TICK * (i + 1), 2), 1.0) for i in range(LEVELS)), 0)
        for s, m in mids.items()
    ]
    seq = dict.fromkeys(symbols, 0)
    which = rng.integers(0, len(symbols), n)
    is_trade = rng.random(n) < TRADE_SHARE
    offsets = rng.integers(1, LEVELS, (n, 2, DELTA_LEVELS))
    sizes = np.where(rng.random((n, 2, DELTA_LEVELS)) < 0.3, 0.0, rng.random((n, 2, DELTA_LEVELS)).round(3))
    amounts = rng.exponential(0.5, n).round(4)
    buys = rng.random(n) < 0.5
    events = []
    for i in range(n):
        s = symbols[which[i]]
        mid = mids[s]
        ts = 1_700_000_000_000 + i * 5  # 200 events/ms across all symbols: minutes close along the way
        if is_trade[i]:
            price = round(mid + (TICK if buys[i] else -TICK), 2)
            events.append(Trade(s, ts, price, float(amounts[i]), "buy" if buys[i] else "sell"))
        else:
            bids = tuple((round(mid - TICK * int(o), 2), float(z))
                         for o, z in zip(offsets[i, 0], sizes[i, 0], strict=True))
            asks = tuple((round(mid + TICK * int(o), 2), float(z))
                         for o, z in zip(offsets[i, 1], sizes[i, 1], strict=True))
            seq[s] += 1
            events.append(BookDelta(s, ts, bids, asks, seq[s], seq[s] - 1))
    return snaps, events


def run_states(symbols, snaps, events):
    states = {s: MarketState(s) for s in symbols}
    for snap in snaps:
        states[snap.symbol].apply(snap)
    gc.collect()
    t0 = time.perf_counter()
    for e in events:
        states[e.symbol].apply(e)
    return states, time.perf_counter() - t0


def run_anchor(symbols, events):
    lists: dict[str, list] = {s: [] for s in symbols}
    gc.collect()
    t0 = time.perf_counter()
    for e in events:
        lists[e.symbol].append(e)
    return time.perf_counter() - t0


def best_of(fn, repeat: int = 3) -> float:
    return min(fn() for _ in range(repeat))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--symbols", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    symbols = [f"SYM{i}/USDT" for i in range(args.symbols)]
    snaps, events = make_events(symbols, args.events, args.seed)
    n = len(events)
    n_trades = sum(isinstance(e, Trade) for e in events)

    anchor = best_of(lambda: run_anchor(symbols, events))
    runs = [run_states(symbols, snaps, events) for _ in range(3)]
    states, elapsed = min(runs, key=lambda r: r[1])

    valid = sum(st.book.valid for st in states.values())
    mem = sum(st.memory_bytes() for st in states.values())
    candles = sum(len(st.candles["1m"]) for st in states.values())

    st = states[symbols[0]]
    reads = 100_000
    t0 = time.perf_counter()
    for _ in range(reads):
        st.book.bids(50)
        st.book.asks(50)
        _ = st.candles["1m"].close
        _ = st.trades.price
    read_us = (time.perf_counter() - t0) / reads * 1e6

    print(f"events: {n:,} over {len(symbols)} symbols ({n_trades:,} trades, {n - n_trades:,} book deltas of "
          f"{DELTA_LEVELS}+{DELTA_LEVELS} levels)")
    print(f"anchor  (plain list append per symbol): {n / anchor:12,.0f} events/s")
    print(f"MarketState.apply                      : {n / elapsed:12,.0f} events/s  "
          f"({elapsed / n * 1e6:.2f} us/event)")
    print(f"ratio   anchor / MarketState           : {anchor and elapsed / anchor:12.1f}x")
    print(f"books valid after the run              : {valid}/{len(states)}; 1m candles closed: {candles}")
    print(f"memory held by {len(states)} states (ring buffers + books): {mem / 2**20:.1f} MiB "
          f"({mem / len(states) / 2**20:.2f} MiB per symbol, bounded by the capacities)")
    print(f"face reads per tick (top-50 bids+asks, 1m closes, trade prices): {read_us:.2f} us")


if __name__ == "__main__":
    main()
