"""Execution algorithms survive a crash: a TWAP and an iceberg are journaled (parent state before
each slice), the desk is thrown away mid-run, and a new desk on the same Storage file restores them,
reattaches their children and finishes them from market time with a progress report covering every
slice. Prices are hand-built so the average and slippage are worked out by hand."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from virtuoso_paper.matching import PaperExecutor

from virtuoso_tui.model import BookSnapshot, OrderStatus, OrderType, Trade
from virtuoso_tui.storage import Storage
from virtuoso_tui.trading.desk import TradingDesk
from virtuoso_tui.trading.journal import SqliteJournal

SYM = "BTC/USDT:USDT"
T0 = 1_700_000_000_000
MIN = 60_000


def book(ts: int, k: float, seq: int) -> BookSnapshot:
    """Bid 100+k, ask 101+k, 5 deep each: a 0.1 market buy fills whole at the ask."""
    return BookSnapshot(SYM, ts, ((100.0 + k, 5.0),), ((101.0 + k, 5.0),), seq)


class Session:
    """One desk on a journal with its own clock, paper executor and event log (one 'process')."""

    def __init__(self, journal, ts: int) -> None:
        self.clock = [ts]
        self.events: list = []
        self.paper = PaperExecutor({"taker_fee": 0.001, "maker_fee": 0.0})
        self.desk = TradingDesk(journal, {"paper": {"starting_balance": 100_000.0}}, {"paper": self.paper}, [],
                                lambda: self.clock[0], emit=lambda t, p: self.events.append((t, p)))
        self.report = self.desk.start()

    def feed(self, ev) -> None:
        self.clock[0] = max(self.clock[0], ev.ts)
        self.desk.on_event(ev, None)


def algo_children(journal, algo_id):
    return [o for o in journal.orders() if o.origin == f"algo:{algo_id}"]


def test_twap_resumes_after_the_desk_is_lost(tmp_path):
    path = str(tmp_path / "algo.db")
    first_store = Storage(path)
    first = Session(first_store, T0)
    first.feed(book(T0, 0, 1))
    # Spy on the order door: when a slice's intent reaches it, the journal already holds the decision
    # (slice n decided) while the child order does not exist yet.
    seen = []
    submit = first.desk.manager.submit

    def spy(intent, executor=None):
        [row] = first_store.algos()
        seen.append((row["slices"], len(algo_children(first_store, "twap-1"))))
        return submit(intent, executor)

    first.desk.manager.submit = spy
    r = first.desk.execute("twap buy 1 over 10m slices 10", SYM)
    assert r.ok and r.data["arrival"] == 100.5
    for k in range(1, 4):  # slices at minutes 1..3; the process dies at 3.5 min
        first.feed(book(T0 + k * MIN, k, k + 1))
    first.feed(book(T0 + 3 * MIN + 30_000, 3, 5))
    assert seen == [(1, 0), (2, 1), (3, 2), (4, 3)]
    [row] = first_store.algos()
    assert (row["status"], row["slices"], row["next_ts"], row["filled"]) == ("running", 4, T0 + 4 * MIN,
                                                                            pytest.approx(0.4))
    assert row["params"]["slices"] == 10 and row["arrival"] == 100.5
    del first  # no clean shutdown: the desk is simply gone

    # Restart at minute 6: slices 4 and 5 were due while down.
    store = Storage(path)
    second = Session(store, T0 + 6 * MIN)
    assert second.report["algos"] == ["twap-1"]
    algo = second.desk.algos["twap-1"]
    assert (algo.filled, len(algo.children), algo.decided) == (pytest.approx(0.4), 4, 4)
    second.feed(book(T0 + 6 * MIN, 6, 10))
    assert len(algo.children) == 5  # one catch-up slice at the first event, not both missed ones
    second.feed(book(T0 + 6 * MIN + 30_000, 6, 11))
    assert len(algo.children) == 5
    for k in range(7, 12):  # the remaining slices keep their 1 min spacing from the restart
        second.feed(book(T0 + k * MIN, k, k + 5))
    kids = algo_children(store, "twap-1")
    assert [o.created_ts - T0 for o in kids] == [k * MIN for k in (0, 1, 2, 3, 6, 7, 8, 9, 10, 11)]
    assert all(o.status is OrderStatus.FILLED and o.type is OrderType.MARKET for o in kids)
    assert [o.amount for o in kids] == pytest.approx([0.1] * 10)
    prices = [101.0 + k for k in (0, 1, 2, 3, 6, 7, 8, 9, 10, 11)]
    avg = sum(prices) / 10
    p = algo.progress()
    assert p["done"] and p["filled"] == pytest.approx(1.0) and p["slices"] == 10
    assert p["avg_price"] == pytest.approx(avg)
    assert p["slippage_bps"] == pytest.approx((avg - 100.5) / 100.5 * 1e4)
    assert algo.fees == pytest.approx(sum(0.1 * x * 0.001 for x in prices))
    assert store.positions()[SYM].amount == pytest.approx(1.0)
    [row] = store.algos()
    assert (row["status"], row["slices"], row["filled"]) == ("done", 10, pytest.approx(1.0))
    # a third start sees a finished algorithm: nothing resumes, nothing is sent, ids keep counting
    third = Session(store, T0 + 20 * MIN)
    assert third.report["algos"] == [] and third.desk.algos["twap-1"].progress()["slices"] == 10
    third.feed(book(T0 + 20 * MIN, 20, 30))
    assert len(algo_children(store, "twap-1")) == 10
    assert third.desk.execute("twap buy 0.2 over 2m slices 2", SYM).data["id"] == "twap-2"
    store.close()
    first_store.close()


def test_iceberg_with_a_resting_clip_resumes(tmp_path):
    journal_path = str(tmp_path / "ice.db")
    first = Session(SqliteJournal(journal_path), T0)
    first.feed(book(T0, 0, 1))
    assert first.desk.execute("iceberg buy 1 @ 100 show 0.25", SYM).ok
    for i in range(2):  # two clips fill on trades through 100; the third is resting at the crash
        first.feed(Trade(SYM, T0 + (i + 1) * 1000, 99.5, 3.0, "sell"))
    algo = first.desk.algos["iceberg-1"]
    assert algo.filled == pytest.approx(0.5) and len(algo.open_children) == 1
    [resting] = algo.open_children
    del first, algo

    second = Session(SqliteJournal(journal_path), T0 + 10_000)
    assert second.report["algos"] == ["iceberg-1"] and resting in second.report["reconcile"]["resubmitted"]
    algo = second.desk.algos["iceberg-1"]
    assert algo.open_children == {resting} and algo.filled == pytest.approx(0.5)
    second.feed(book(T0 + 10_000, 0, 2))
    assert len(algo.children) == 3  # the resting clip is reattached, not doubled
    for i in range(2):
        second.feed(Trade(SYM, T0 + 11_000 + i * 1000, 99.5, 3.0, "sell"))
    p = algo.progress()
    assert p["done"] and p["filled"] == pytest.approx(1.0) and p["slices"] == 4
    assert p["avg_price"] == pytest.approx(100.0)
    assert p["slippage_bps"] == pytest.approx((100.0 - 100.5) / 100.5 * 1e4)  # a maker: better than arrival
    assert [o.amount for o in algo_children(second.desk.manager.journal, "iceberg-1")] == pytest.approx([0.25] * 4)
    assert second.desk.manager.journal.algos()[0]["status"] == "done"


def test_unknown_algorithm_kind_is_one_alert_and_orders_stay(tmp_path):
    path = str(tmp_path / "x.db")
    store = Storage(path)
    store.upsert_algo({"id": "mystery-1", "kind": "mystery", "symbol": SYM, "side": "buy", "amount": 1.0,
                       "start_ts": T0, "arrival": 100.0, "executor": None, "filled": 0.0, "slices": 0,
                       "next_ts": None, "status": "running", "extra": {}}, {})
    s = Session(store, T0)
    alerts = [p for t, p in s.events if t == "alert" and p.source == "algo"]
    assert s.report["algos"] == [] and len(alerts) == 1 and "mystery-1 cannot be restored" in alerts[0].message
    assert s.desk.execute("twap buy 0.2 over 2m slices 2", SYM).ok is False  # no price yet: a clear refusal
    store.close()


def test_headless_twap_survives_sigkill(tmp_path):
    """The real process: a TWAP on stdin, kill -9 after three slices, a restart on the same --db
    finishes it: eight slices, the whole amount, no slice sent twice."""
    from test_headless_trading import REPO, _read_until, records, run

    db = tmp_path / "algo.db"
    proc = subprocess.Popen([sys.executable, "-m", "virtuoso_tui.cli", "--no-ui", "--db", str(db)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=REPO)
    try:
        _read_until(proc, lambda rs: any(r["type"] == "order" or r["type"] == "signal" for r in rs)
                    or len(rs) > 20, 60)
        proc.stdin.write(b"twap buy 0.1 BTC/USDT:USDT over 8s slices 8\n")
        proc.stdin.flush()
        _read_until(proc, lambda rs: sum(1 for r in rs if r["type"] == "order" and r["status"] == "filled"
                                         and r["origin"] == "algo:twap-1") >= 3, 60)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    with Storage(str(db)) as before:
        [row] = before.algos()
        sent_before = len(algo_children(before, "twap-1"))
    assert row["status"] == "running" and 3 <= sent_before < 8

    out = run(["--no-ui", "--duration", "12", "--db", str(db)])
    assert out.returncode == 0, out.stderr
    assert any(r["type"] == "alert" and "resumed twap-1" in r["message"] for r in records(out.stdout))
    with Storage(str(db)) as after:
        [row] = after.algos()
        kids = algo_children(after, "twap-1")
        assert row["status"] == "done" and row["slices"] == 8 and len(kids) == 8
        assert all(o.status is OrderStatus.FILLED for o in kids)
        assert sum(o.filled for o in kids) == pytest.approx(0.1)
        assert after.positions()[SYM].amount == pytest.approx(0.1)
