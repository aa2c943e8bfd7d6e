"""Trading benchmark: orders/s through the order manager + every built-in risk rule + paper matching,
and the cost of the risk rules alone as a ratio of the whole path, measured in the same run.

The book is the real Binance BTCUSDT 100-level snapshot (../shared/data, bids) mirrored into asks; each
order is a small market order alternating buy/sell (so positions stay small and no rule blocks), with
a fresh book every 10 orders. Measured, best of 5 runs each (the machine may be shared):
  * full path, journal in memory (SqliteJournal ":memory:"): the anchor;
  * the same without risk rules;
  * the risk rules alone (OrderManager.check_risk on the same intents and context);
  * the full path journalled to a WAL file through the real Storage (durable commits per transition).
Run:  .venv/bin/python bench/bench_trading.py [--orders N] [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "plugins"))

from virtuoso_paper.matching import PaperExecutor  # noqa: E402
from virtuoso_risk.rules import build_rules  # noqa: E402

from virtuoso_tui.model import OrderIntent  # noqa: E402
from virtuoso_tui.trading.bookview import ArrayBook  # noqa: E402
from virtuoso_tui.trading.journal import SqliteJournal  # noqa: E402
from virtuoso_tui.trading.orders import OrderManager  # noqa: E402
from virtuoso_tui.trading.portfolio import Portfolio  # noqa: E402

SYM = "BTC/USDT:USDT"
SNAP = ROOT.parent / "shared" / "data" / "orderbook" / "nautilus" / "binance_btcusdt-depth-snap.csv"
T0 = 1_667_346_579_146


def real_book() -> ArrayBook:
    with open(SNAP) as f:
        bids = [(float(r["price"]), float(r["qty"])) for r in csv.DictReader(f) if r["side"] == "b"]
    best = bids[0][0]
    asks = [(2 * best + 0.1 - p, s) for p, s in bids]  # mirrored: a real depth profile on both sides
    return ArrayBook(SYM, bids, asks)


def manager(journal, with_rules: bool) -> tuple[OrderManager, PaperExecutor, list[int]]:
    clock = [T0]
    paper = PaperExecutor({})
    rules = build_rules({"max_order_rate": {"per_minute": 10**9}}) if with_rules else []
    om = OrderManager(journal, Portfolio(1e7, leverage=3.0), {"paper": paper}, rules, lambda: clock[0])
    return om, paper, clock


def run_path(n: int, journal_factory, with_rules: bool, book: ArrayBook) -> float:
    om, paper, clock = manager(journal_factory(), with_rules)
    paper.on_book(book)
    om.portfolio.mark(SYM, book.mid)
    t = time.perf_counter()
    for i in range(n):
        clock[0] += 10
        if i % 10 == 0:
            paper.on_book(book)
        om.submit(OrderIntent(SYM, "buy" if i % 2 == 0 else "sell", 0.01))
    elapsed = time.perf_counter() - t
    filled = sum(1 for o in om.orders.values() if o.filled > 0)
    assert filled == n, f"only {filled} of {n} orders filled"
    return elapsed


def run_rules_only(n: int, book: ArrayBook) -> float:
    om, paper, clock = manager(SqliteJournal(), True)
    om.portfolio.mark(SYM, book.mid)
    from virtuoso_tui.model import Fill

    om.portfolio.apply_fill(Fill("x", SYM, "buy", T0, book.mid, 0.01, 0.0))  # a held position, as in the path
    intents = [OrderIntent(SYM, "buy" if i % 2 == 0 else "sell", 0.01) for i in range(n)]
    t = time.perf_counter()
    for intent in intents:
        clock[0] += 10
        ctx = om.risk_context()
        d = om.check_risk(intent, ctx)
        assert d.action == "allow", d
        om.order_times.append(clock[0])  # as submit() records it, so the rate rule sees the same history
    return time.perf_counter() - t


def best(fn, repeat: int = 5) -> float:
    return min(fn() for _ in range(repeat))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=5000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    n = args.orders
    book = real_book()

    full = best(lambda: run_path(n, SqliteJournal, True, book))
    bare = best(lambda: run_path(n, SqliteJournal, False, book))
    rules = best(lambda: run_rules_only(n, book))
    from virtuoso_tui.storage import Storage

    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(100))
        disk = best(lambda: run_path(n, lambda: Storage(Path(tmp) / f"b{next(counter)}.db"), True, book))

    out = {
        "orders": n,
        "orders_per_s_full_memory": n / full,
        "orders_per_s_no_rules_memory": n / bare,
        "orders_per_s_full_storage_wal": n / disk,
        "risk_rules_only_per_s": n / rules,
        "risk_cost_ratio": rules / full,          # share of the whole path spent in the rules
        "rules_vs_no_rules_ratio": full / bare,   # how much slower the path is with every rule on
        "rules": len(build_rules({})),
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"trading path, {n} market orders on the real Binance BTCUSDT book, {out['rules']} risk rules")
    print(f"  full path (manager + rules + paper), journal in memory : {out['orders_per_s_full_memory']:>10,.0f} orders/s")
    print(f"  same without risk rules                                  : {out['orders_per_s_no_rules_memory']:>10,.0f} orders/s")
    print(f"  full path journalled to SQLite WAL (Storage)             : {out['orders_per_s_full_storage_wal']:>10,.0f} orders/s")
    print(f"  risk rules alone (context + every rule)                  : {out['risk_rules_only_per_s']:>10,.0f} checks/s")
    print(f"  risk rules / full path time                              : {out['risk_cost_ratio']:>10.3f}")
    print(f"  full path / path without rules                           : {out['rules_vs_no_rules_ratio']:>10.3f}")


if __name__ == "__main__":
    main()
