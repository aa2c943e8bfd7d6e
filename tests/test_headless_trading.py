"""Trading through headless mode: commands on stdin, order/fill events on stdout, the database as the
record, and a SIGKILL in the middle of a paper session losing nothing."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from virtuoso_tui.storage import Storage

REPO = Path(__file__).resolve().parents[1]


def records(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def run(args, stdin="", timeout=90):
    return subprocess.run([sys.executable, "-m", "virtuoso_tui.cli", *args], input=stdin, capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)


def test_piped_buy_emits_order_and_fill_and_persists(tmp_path):
    db = tmp_path / "v.db"
    out = run(["--no-ui", "--duration", "5", "--db", str(db)], stdin="buy 0.01 BTC/USDT:USDT\n")
    assert out.returncode == 0, out.stderr
    recs = records(out.stdout)
    orders = [r for r in recs if r["type"] == "order"]
    fills = [r for r in recs if r["type"] == "fill"]
    assert orders and orders[-1]["status"] == "filled" and orders[-1]["order_type"] == "market"
    assert orders[-1]["symbol"] == "BTC/USDT:USDT" and orders[-1]["side"] == "buy"
    assert abs(sum(f["amount"] for f in fills) - 0.01) < 1e-12
    assert all(f["fee"] > 0 for f in fills)
    storage = Storage(str(db))
    try:
        pos = storage.positions()["BTC/USDT:USDT"]
        assert abs(pos.amount - 0.01) < 1e-12
        vwap = sum(f["price"] * f["amount"] for f in fills) / sum(f["amount"] for f in fills)
        assert abs(pos.entry_price - vwap) < 1e-6 * vwap
        assert len(storage.fills()) == len(fills)
    finally:
        storage.close()


def test_refused_command_emits_error_and_no_order(tmp_path):
    db = tmp_path / "v.db"
    out = run(["--no-ui", "--duration", "3", "--db", str(db)], stdin="buy lots of BTC\n")
    assert out.returncode == 0, out.stderr
    recs = records(out.stdout)
    errors = [r for r in recs if r["type"] == "error"]
    assert len(errors) == 1 and errors[0]["message"] and errors[0]["command"] == "buy lots of BTC"
    assert not [r for r in recs if r["type"] in ("order", "fill")]
    storage = Storage(str(db))
    try:
        assert storage.orders() == []
    finally:
        storage.close()


def _read_until(proc, predicate, timeout):
    """Collect stdout lines until predicate(records) holds or timeout; returns the records."""
    got, buf = [], ""
    deadline = time.monotonic() + timeout
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        chunk = os.read(fd, 65536).decode()
        if not chunk:
            break
        buf += chunk
        *lines, buf = buf.split("\n")
        got.extend(json.loads(line) for line in lines if line.strip())
        if predicate(got):
            return got
    raise AssertionError(f"timed out; last records: {got[-5:]}")


def test_sigkill_mid_session_loses_nothing(tmp_path):
    db = tmp_path / "crash.db"
    proc = subprocess.Popen([sys.executable, "-m", "virtuoso_tui.cli", "--no-ui", "--db", str(db)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=REPO)
    try:
        _read_until(proc, lambda rs: any(r["type"] == "signal" for r in rs), 60)
        # a position in two symbols and two resting limits far from the market
        proc.stdin.write(b"buy 0.02 BTC/USDT:USDT\nsell 0.5 ETH/USDT:USDT\n"
                         b"buy 0.01 BTC/USDT:USDT @ 64000\nsell 1 SOL/USDT:USDT @ 152.5\n")
        proc.stdin.flush()
        seen = _read_until(
            proc,
            lambda rs: sum(1 for r in rs if r["type"] == "order" and r["status"] == "submitted"
                           and r["order_type"] == "limit") >= 2
            and sum(1 for r in rs if r["type"] == "order" and r["status"] == "filled") >= 2,
            60,
        )
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL

    before = Storage(str(db))
    try:
        fills_before = sorted((f.fill_id, f.amount, f.price) for f in before.fills())
        positions_before = {s: (p.amount, p.entry_price) for s, p in before.positions().items() if p.amount}
        open_before = sorted(o.client_id for o in before.open_orders())
    finally:
        before.close()
    assert set(positions_before) == {"BTC/USDT:USDT", "ETH/USDT:USDT"}
    assert abs(positions_before["BTC/USDT:USDT"][0] - 0.02) < 1e-12
    assert abs(positions_before["ETH/USDT:USDT"][0] + 0.5) < 1e-12
    assert len(open_before) == 2
    # every fill the session announced before the kill is in the database
    announced = sorted(r["fill_id"] for r in seen if r["type"] == "fill")
    assert announced and set(announced) <= {f[0] for f in fills_before}

    # restart on the same database: everything comes back, nothing is duplicated
    out = run(["--no-ui", "--duration", "4", "--db", str(db)])
    assert out.returncode == 0, out.stderr
    positions = [r for r in records(out.stdout) if r["type"] == "position"]
    assert {p["symbol"] for p in positions} >= {"BTC/USDT:USDT", "ETH/USDT:USDT"}
    after = Storage(str(db))
    try:
        assert sorted((f.fill_id, f.amount, f.price) for f in after.fills()) == fills_before
        assert {s: (p.amount, p.entry_price) for s, p in after.positions().items() if p.amount} == positions_before
        assert sorted(o.client_id for o in after.open_orders()) == open_before
    finally:
        after.close()
