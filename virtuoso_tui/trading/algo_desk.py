"""The desk's execution-algorithm book: starting, ticking, stopping, journaling and restoring algos.

    algos = AlgoDesk(manager, books, now, states, price, equity, emit_out, classes)
    algos.restore() -> [ids]        after the order manager restored: rebuild journaled algorithms
                                    (running ones resume) with their children, origin `algo:<id>`
    algos.start(cmd) -> algo        an `algo ...` command (commands.Algo); CommandError for a mistake
    algos.tick(ts)                  every market event: running algorithms decide their next slice
    algos.on_order(order) / on_fill(fill, order)   their children's updates (origin `algo:<id>`)
    algos.stop(id) / stop_all()     `cancel <algo id>`, `cancel all`, `kill`

The TradingDesk (trading/desk.py) owns one and routes commands and events to it; algos.py holds the
algorithms themselves, orders.py (the OrderManager) is the door their slices go through, and the
journal (trading/journal.py) keeps each parent's state so a restart resumes the schedule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from virtuoso_tui.model import Fill, Order
from virtuoso_tui.trading import commands as cmds
from virtuoso_tui.trading.algos import TWAP, VWAP, ExecutionAlgo, Iceberg, ImpactSplit, restore_algo
from virtuoso_tui.trading.commands import CommandError
from virtuoso_tui.trading.orders import OrderManager


class AlgoDesk:
    """The running (and finished) execution algorithms of one desk, by id (`<kind>-<n>`)."""

    def __init__(self, manager: OrderManager, books: dict[str, Any], now: Callable[[], int],
                 states: Callable[[], dict[str, Any]], price: Callable[[str], float | None],
                 equity: Callable[[], float], emit_out: Callable[[str, Any], None],
                 classes: dict[str, type[ExecutionAlgo]] | None = None) -> None:
        self.manager = manager
        self.books = books            # the desk's latest valid books (shared, never replaced)
        self.now = now
        self.states = states
        self.price = price            # mid of the book, else the mark; None before market data
        self.equity = equity
        self._emit_out = emit_out
        self.classes: dict[str, type[ExecutionAlgo]] = {"twap": TWAP, "vwap": VWAP, "iceberg": Iceberg,
                                                        "split": ImpactSplit, **(classes or {})}
        self.algos: dict[str, ExecutionAlgo] = {}
        self._seq = 0
        self._written: dict[str, tuple] = {}  # per algo id: the key of its last journaled state

    # -- journal ------------------------------------------------------------------------------------
    def restore(self) -> list[str]:
        """Rebuild the journaled algorithms (running ones resume; finished ones come back for their
        progress report) with their children, origin `algo:<id>`. Returns the ids still running."""
        journal = self.manager.journal
        if not hasattr(journal, "algos"):
            return []
        by_origin: dict[str, list[Order]] = {}
        for order in self.manager.orders.values():
            by_origin.setdefault(order.origin, []).append(order)
        running = []
        for row in journal.algos():
            suffix = row["id"].rsplit("-", 1)[-1]
            if suffix.isdigit():
                self._seq = max(self._seq, int(suffix))
            cls = self.classes.get(row["kind"])
            kids = sorted(by_origin.get(f"algo:{row['id']}", []), key=lambda o: (o.created_ts, o.client_id))
            try:
                if cls is None:
                    raise ValueError(f"no algorithm {row['kind']!r} is loaded")
                algo = restore_algo(cls, row, row["params"], kids, self.manager.submit, self.manager.cancel)
            except (ValueError, TypeError, KeyError) as exc:
                self._emit_out("alert", self.manager.alert(**{
                    "level": "error", "source": "algo", "symbol": row.get("symbol"),
                    "message": f"algo {row['id']} cannot be restored ({exc}); its orders stay as they are"}))
                continue
            algo.persist = self.persist
            self.algos[algo.id] = algo
            if algo.status == row["status"]:
                self._written[algo.id] = (algo.status, algo.filled, algo.decided, len(algo.rejections),
                                          algo.next_ts)
            else:  # its last child filled after the row was written: the row catches up
                self.persist(algo)
            if not algo.done:
                running.append(algo.id)
                self._emit_out("alert", self.manager.alert(**{
                    "level": "info", "source": "algo", "symbol": algo.symbol,
                    "message": f"resumed {algo_line(algo)}"}))
        return running

    def persist(self, algo: ExecutionAlgo, params: dict[str, Any] | None = None) -> None:
        """Journal the algorithm's parent state when it changed (always with `params`, at start)."""
        journal = self.manager.journal
        if not hasattr(journal, "upsert_algo"):
            return
        # Called on every market event for every running algo: compare a cheap key, build the row only
        # when something the journal holds moved.
        key = (algo.status, algo.filled, algo.decided, len(algo.rejections), algo.next_ts)
        if params is None and self._written.get(algo.id) == key:
            return
        journal.upsert_algo(algo.state(), params)
        self._written[algo.id] = key

    # -- commands -----------------------------------------------------------------------------------
    def start(self, cmd: cmds.Algo) -> ExecutionAlgo:
        """Start the algorithm an `algo ...` command names; journaled before its first slice goes out."""
        arrival = self.price(cmd.symbol)
        if arrival is None:
            raise CommandError(f"no market price for {cmd.symbol} yet; wait for market data")
        amount = cmd.size.to_base(cmd.price or arrival, self.equity())
        self._seq += 1
        algo_id = f"{cmd.kind}-{self._seq}"
        args = (algo_id, cmd.symbol, cmd.side, amount, self.now(), arrival, self.manager.submit, self.manager.cancel)
        cls = self.classes[cmd.kind]
        try:
            if cmd.kind == "twap":
                algo = cls(*args, duration_ms=cmd.duration_ms, slices=cmd.slices)
            elif cmd.kind == "vwap":
                algo = cls(*args, duration_ms=cmd.duration_ms, slices=cmd.slices,
                           profile=self._vwap_profile(cmd))
            elif cmd.kind == "iceberg":
                algo = cls(*args, price=cmd.price, display=cmd.display)
            else:
                algo = cls(*args, max_bps=cmd.max_bps, interval_ms=cmd.interval_ms or 1000)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.algos[algo_id] = algo
        algo.persist = self.persist
        self.persist(algo, algo.params())  # on disk before its first slice
        algo.on_tick(self.now(), self.books.get(cmd.symbol))
        self.persist(algo)
        return algo

    def _vwap_profile(self, cmd: cmds.Algo) -> Any:
        """Time-of-day volume profile from the symbol's 1m candles; with less than a day of history,
        the shape of the most recent candles; CommandError without candles."""
        from virtuoso_tui.trading.algos import volume_profile

        n = cmd.slices or max(1, int(cmd.duration_ms // 60_000))
        state = self.states().get(cmd.symbol)
        series = state.candles.get("1m") if state is not None else None
        if series is None or len(series) == 0:
            raise CommandError(f"vwap needs candle history for {cmd.symbol}; use twap instead")
        try:
            return volume_profile(series.ts, series.volume, self.now(), cmd.duration_ms, n)
        except ValueError:
            if len(series) < n or not series.volume[-n:].sum() > 0:
                raise CommandError(f"vwap needs {n} candles of {cmd.symbol} volume; use twap instead") from None
            return series.volume[-n:]

    def stop(self, algo_id: str) -> ExecutionAlgo:
        """Stop one algorithm (KeyError when there is none by that id); its open child is cancelled."""
        algo = self.algos[algo_id]
        algo.stop()
        self.persist(algo)
        return algo

    def stop_all(self) -> list[str]:
        """Stop every running algorithm; returns the ids stopped."""
        stopped = []
        for a in self.algos.values():
            if not a.done:
                stopped.append(a.id)
                a.stop()
                self.persist(a)
        return stopped

    # -- events -------------------------------------------------------------------------------------
    def tick(self, ts: int) -> None:
        """Market time moved to `ts`: running algorithms decide; one alert when one finishes."""
        for algo in list(self.algos.values()):
            if not algo.done:
                algo.on_tick(ts, self.books.get(algo.symbol))
                self.persist(algo)
                if algo.done:
                    self._emit_out("alert", self.manager.alert(**{"level": "info", "source": "algo",
                                                                  "symbol": algo.symbol, "message": algo_line(algo)}))

    def on_order(self, order: Order) -> None:
        """An order update; children (origin `algo:<id>`) reach their parent."""
        if order.origin.startswith("algo:"):
            algo = self.algos.get(order.origin[5:])
            if algo is not None:
                algo.on_order(order)
                self.persist(algo)

    def on_fill(self, fill: Fill, order: Order) -> None:
        """A fill; a child's (origin `algo:<id>`) counts toward its parent."""
        if order.origin.startswith("algo:"):
            algo = self.algos.get(order.origin[5:])
            if algo is not None:
                algo.on_fill(fill, order)
                self.persist(algo)


def algo_line(a: ExecutionAlgo) -> str:
    """One line of progress: done share, slices, average price against the arrival price."""
    p = a.progress()
    avg = "n/a" if p["filled"] == 0 else f"{p['avg_price']:.8g}"
    slip = "n/a" if p["filled"] == 0 else f"{p['slippage_bps']:+.1f} bps"
    return (f"{a.id} {a.side} {a.amount:.8g} {a.symbol}: {p['progress']:.0%} done in {p['slices']} slices, "
            f"avg {avg} vs arrival {a.arrival:.8g} ({slip})")
