"""The desk's link to its executors' venues: the async lifecycle the engine awaits.

    link = VenueLink(manager, emit_out)
    await link.start_executors()       every executor's start() before market data flows (live: connect,
                                       fetch the venue's open orders); LiveUnavailable when one cannot
    await link.run_polls()             (a task while the engine runs) executors' poll(); after a failed
                                       poll answers again: resync + reconcile
    link.on_source_reconnect()         the market feed reconnected: resync + reconcile in the background
    await link.close_executors()       on shutdown

The TradingDesk (trading/desk.py) owns one and forwards these calls; executor.py defines the Executor
interface, orders.py (the OrderManager) holds the executors and reconciles what they report.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from virtuoso_tui.trading.executor import Executor
from virtuoso_tui.trading.orders import OrderManager

log = logging.getLogger("virtuoso_tui.trading.desk")  # the desk's logger: one name for operators to filter


class LiveUnavailable(ValueError):
    """Live trading cannot start (no keys, keys refused, venue unreachable). One sentence; a
    ValueError so the CLI reports it as a user error (exit 2)."""


class VenueLink:
    """Start, poll, resync and close the order manager's executors; outages become alerts."""

    def __init__(self, manager: OrderManager, emit_out: Callable[[str, Any], None]) -> None:
        self.manager = manager
        self._emit_out = emit_out
        self._resyncs: set[asyncio.Task] = set()  # background executor resyncs (after reconnects)
        self._down: set[str] = set()               # executors whose last poll failed

    async def start_executors(self) -> None:
        """Await every executor's start() before market data flows; the desk's `start()` then reconciles
        with what they found. A failure is one LiveUnavailable sentence (and an "error" event)."""
        for name, ex in self.manager.executors.items():
            try:
                await ex.start()
            except Exception as exc:  # noqa: BLE001 - any start failure means this executor cannot trade
                message = clean(ex, f"executor {name!r} cannot start: {exc}")
                self._emit_out("error", {"message": message, "source": name})
                raise LiveUnavailable(message) from None

    async def run_polls(self) -> None:
        """Poll executors that ask for it (poll_interval_s) until cancelled. A poll that fails marks
        the executor down (one alert); the first poll that works again is followed by a resync and a
        reconcile, so orders the venue holds that we do not know are surfaced, never ignored."""
        polled = {n: ex for n, ex in self.manager.executors.items() if ex.poll_interval_s}
        if not polled:
            return
        interval = min(float(ex.poll_interval_s) for ex in polled.values())
        while True:
            await asyncio.sleep(interval)
            for name, ex in polled.items():
                await self.poll_executor(name, ex)

    async def poll_executor(self, name: str, ex: Executor) -> bool:
        """One poll; True when it worked."""
        down = self._down
        try:
            await ex.poll()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a venue outage must not stop the desk
            if name not in down:
                down.add(name)
                self._emit_out("alert", self.manager.alert(**{
                    "level": "error", "source": name,
                    "message": clean(ex, f"lost contact with the {name} executor ({type(exc).__name__}: {exc}); "
                                         "orders will be reconciled when it answers")}))
            return False
        if name in down:
            down.discard(name)
            await self.resync_executor(name)
        return True

    async def resync_executor(self, name: str) -> Any:
        """After a reconnect: the executor refreshes what the venue holds, then the manager reconciles
        (unknown venue orders and orders missing there become alerts). Returns the ReconcileReport,
        or None when the executor could not be reached (it stays marked down)."""
        ex = self.manager.executors[name]
        try:
            await ex.resync()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001
            self._down.add(name)
            self._emit_out("error", {"message": clean(ex, f"resync of the {name} executor failed: {exc}"),
                                     "source": name})
            return None
        report = self.manager.reconcile(name)
        self._emit_out("alert", self.manager.alert(**{
            "level": "warning" if (report.unknown or report.missing or report.positions) else "info",
            "source": "reconcile",
            "message": f"{name} reconciled after a reconnect: {len(report.unknown)} unknown at the venue, "
                       f"{len(report.missing)} missing there, {len(report.positions)} positions differ"}))
        return report

    def on_source_reconnect(self) -> None:
        """The market feed reconnected: whatever happened meanwhile, resync the non-volatile (venue)
        executors in the background (the market data keeps flowing)."""
        tasks = self._resyncs
        for name, ex in self.manager.executors.items():
            if not ex.volatile:
                task = asyncio.get_running_loop().create_task(self.resync_executor(name))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

    async def close_executors(self) -> None:
        """Cancel pending resyncs, then close every executor (a failing close is logged, shutdown goes on)."""
        for task in list(self._resyncs):
            task.cancel()
        for name, ex in self.manager.executors.items():
            try:
                await ex.close()
            except Exception as exc:  # noqa: BLE001 - shutdown goes on
                log.warning("%s", clean(ex, f"executor {name!r} close failed: {exc}"))


def clean(ex: Executor, text: str) -> str:
    """Messages about an executor pass through its redaction (keys never reach an event or a log)."""
    redact = getattr(ex, "clean", None)
    return redact(text) if callable(redact) else text
