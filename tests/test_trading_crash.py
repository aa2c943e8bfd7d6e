"""Journal-level crash test: a process trading on paper against the real Storage is killed with
SIGKILL mid-run; a restart on the same database restores every order, fill and position exactly,
with nothing lost or duplicated, re-places the open orders at the paper executor, and goes on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from virtuoso_paper.matching import PaperExecutor

from virtuoso_tui.model import BookSnapshot, Fill, OrderStatus
from virtuoso_tui.storage import Storage
from virtuoso_tui.trading.desk import TradingDesk
from virtuoso_tui.trading.portfolio import Portfolio

SYM = "BTC/USDT:USDT"
T0 = 1_700_000_000_000
BALANCE = 10_000.0

CHILD = textwrap.dedent("""
    import sys, time
    from virtuoso_paper.matching import PaperExecutor
    from virtuoso_tui.model import BookSnapshot, Trade
    from virtuoso_tui.storage import Storage
    from virtuoso_tui.trading.desk import TradingDesk

    SYM = "BTC/USDT:USDT"
    clock = [1_700_000_000_000]
    desk = TradingDesk(Storage(sys.argv[1]), {"paper": {"starting_balance": 10_000.0}},
                       {"paper": PaperExecutor({})}, [], lambda: clock[0])
    desk.start()
    book = BookSnapshot(SYM, clock[0], ((100.0, 50.0), (99.0, 50.0)), ((101.0, 50.0), (102.0, 50.0)), 1)
    desk.on_event(book)
    lines = ["buy 0.3", "sell 0.1 @ 100.5", "buy 0.2 @ 99.5", "sell 0.2", "buy 0.1 @ 99", "sell 0.05 @ 101.5"]
    i = 0
    while True:
        clock[0] += 1000
        desk.execute(lines[i % len(lines)], SYM)
        if i % 4 == 3:   # trades through some resting orders now and then
            price = 99.4 if (i // 4) % 2 else 101.6
            desk.on_event(Trade(SYM, clock[0], price, 0.5, "sell" if price < 100 else "buy"))
            desk.on_event(BookSnapshot(SYM, clock[0], book.bids, book.asks, i))
        i += 1
        print(i, flush=True)
        if i > 50:
            time.sleep(0.001)
""")


def test_sigkill_mid_run_then_restore_loses_and_duplicates_nothing(tmp_path):
    db = tmp_path / "crash.db"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(db)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        seen = 0
        deadline = time.monotonic() + 30
        while seen < 120 and time.monotonic() < deadline:
            if proc.stdout.readline():
                seen += 1
        assert seen >= 120, "the trading process did not get going"
        os.kill(proc.pid, signal.SIGKILL)  # mid-run: it is still submitting orders
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL

    storage = Storage(db)
    orders_before = {o.client_id: o for o in storage.orders()}
    fills_before = storage.fills()
    assert len(orders_before) >= 120 and len(fills_before) > 10

    # 1. nothing half-written: each order's filled amount is exactly the sum of its fills
    by_order: dict[str, list[Fill]] = {}
    for f in fills_before:
        by_order.setdefault(f.client_id, []).append(f)
    for cid, o in orders_before.items():
        assert o.filled == pytest.approx(sum(f.amount for f in by_order.get(cid, [])), abs=1e-12), cid
        assert o.status is not OrderStatus.FILLED or o.filled == pytest.approx(o.amount)

    # 2. restart on the same database
    clock = [T0 + 10_000_000]
    paper = PaperExecutor({})
    desk = TradingDesk(storage, {"paper": {"starting_balance": BALANCE}}, {"paper": paper}, [], lambda: clock[0])
    report = desk.start()
    restored = report["restored"]
    expected_open = sorted(c for c, o in orders_before.items() if o.status.is_open and o.status is not OrderStatus.NEW)
    interrupted = sorted(c for c, o in orders_before.items() if o.status is OrderStatus.NEW)
    assert restored["interrupted"] == interrupted and len(interrupted) <= 1
    assert restored["open_orders"] == expected_open and restored["fills"] == len(fills_before)
    # the paper venue lost its book with the process: the open orders are placed again
    assert sorted(report["reconcile"]["resubmitted"]) == expected_open
    assert paper.open_ids() == set(expected_open)

    # 3. positions and cash equal a replay of the journalled fills
    replay = Portfolio(BALANCE)
    for f in fills_before:
        replay.apply_fill(f)
    pos, ref = desk.portfolio.positions[SYM], replay.positions[SYM]
    assert (pos.amount, pos.entry_price, pos.realized_pnl, pos.fees) == pytest.approx(
        (ref.amount, ref.entry_price, ref.realized_pnl, ref.fees))
    assert desk.portfolio.cash == pytest.approx(replay.cash)

    # 4. trading goes on without reusing an id or duplicating a fill
    desk.on_event(BookSnapshot(SYM, clock[0], ((100.0, 50.0),), ((101.0, 50.0),), 1))
    r = desk.execute("buy 0.1", SYM)
    assert r.ok and r.orders[0].client_id not in orders_before
    fills_after = storage.fills()
    assert len(fills_after) == len(fills_before) + 1
    assert len({f.fill_id for f in fills_after}) == len(fills_after)
    storage.close()
