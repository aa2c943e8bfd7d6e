"""What the live-executor tests share, whatever the venue: a local REST server around an order desk,
the real OrderManager the executor reports to, and the check that API keys leak nowhere.

Venue-specific parts (the desk, the executor's options, the payload fields) stay in each test file:
tests/test_ccxt_executor.py (Binance spot), test_ccxt_executor_binance_futures.py,
test_ccxt_executor_bybit.py.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest

from tests.exchange.rest_server import RestServer
from virtuoso_tui.trading.orders import OrderManager
from virtuoso_tui.trading.portfolio import Portfolio

#: the fixed clock of the order managers these tests build
NOW_MS = 1_700_000_000_000


@contextlib.asynccontextmanager
async def serving(desk: Any):
    """A RestServer on 127.0.0.1 answering with `desk`; on exit, checks that ccxt made no call the
    desk and the recordings could not answer."""
    server = RestServer(desk=desk)
    await server.start()
    try:
        yield server
        assert server.unknown == [], f"calls nobody answered: {server.unknown}"
    finally:
        await server.stop()


def order_manager(journal: Any, executor: Any, alerts: list | None = None) -> OrderManager:
    """The real OrderManager with `executor` as "live" (the default), 100k cash, alerts collected."""
    def emit(topic: str, payload: Any) -> None:
        if topic == "alert" and alerts is not None:
            alerts.append(payload)

    return OrderManager(journal, Portfolio(100_000.0), {"live": executor}, [], now=lambda: NOW_MS,
                        session="s1", default_executor="live", emit=emit)


def assert_no_secret(secrets: tuple[str, ...], *, texts: list[str], files: Path | None = None) -> None:
    """None of `secrets` in any of `texts` (reasons, errors, logs, reprs) or in any file under `files`
    (the journal database and its WAL)."""
    stored = b"".join(f.read_bytes() for f in files.iterdir() if f.is_file()) if files is not None else b""
    for secret in secrets:
        for text in texts:
            assert secret not in text
        assert secret.encode() not in stored


async def check_outside_trade_is_surfaced(executor: Any, manager: OrderManager, alerts: list, outside_trade: Any,
                                          symbol: str, venue: float, journal: float) -> None:
    """Someone trades at the venue behind our back (`outside_trade()`); after a resync the venue's
    position is `venue`, the journal's still `journal`: reconcile reports exactly that difference,
    with its alert, and corrects nothing."""
    outside_trade()
    await executor.resync()
    assert executor.positions()[symbol] == pytest.approx(venue)
    alerts.clear()
    report = manager.reconcile()
    diff = f"{symbol}: venue {venue:+g}, journal {journal:+g}"
    assert report.positions == [diff]
    assert [a.message for a in alerts if a.source == "reconcile" and "position" in a.message] == [
        f"position {diff}: the venue's position is not the journal's"]
    assert manager.portfolio.positions[symbol].amount == pytest.approx(journal)  # surfaced, never corrected


async def started(executor: Any, journal: Any = None, alerts: list | None = None) -> tuple[Any, OrderManager]:
    """`executor` started (markets, open orders, positions fetched) and the order manager it reports
    to, on `journal` (an in-memory SqliteJournal by default)."""
    from virtuoso_tui.trading.journal import SqliteJournal

    await executor.start()
    return executor, order_manager(journal if journal is not None else SqliteJournal(":memory:"), executor, alerts)
