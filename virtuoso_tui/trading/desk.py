"""The trading desk: the one facade the engine, the TUI and headless stdin use for trading.

    desk = TradingDesk(journal, settings, executors, rules, now, emit=bus.publish, ...)
    await desk.start_executors()                  executors' async start (live: connect, fetch the
                                                  venue's open orders); LiveUnavailable when one cannot
    desk.start()                                  restore from the journal (orders, positions and
                                                  running algorithms, which resume), reconcile executors
    await desk.run_polls()                        (a task while the engine runs) executors' poll();
                                                  after a failed poll answers again: resync + reconcile
    desk.on_source_reconnect()                    the market feed reconnected: resync + reconcile too
    desk.on_book_invalid(symbol, reason)          a book is resyncing: executors see no levels
    await desk.close_executors()                  on shutdown
    desk.execute(line, selected_symbol) -> CommandResult   the command language (never raises for
                                                  a user's mistake: ok=False, one-sentence message,
                                                  and an ("error", {"message", "command"}) event)
    desk.submit(intent) -> Order                  for plugins' commands and strategies
    desk.on_event(event, state)                   every market record (Trade, BookSnapshot/BookDelta,
                                                  Ticker, Funding, Candle) after MarketState applied it
    desk.on_signal(signal, state)                 confluence signals (drives the optional strategy)
    desk.snapshot() -> dict                       positions, open orders, algos, PnL, risk metrics
    events via emit(topic, payload): "order" (Order copy), "fill" (Fill), "position" (Position copy),
                                     "alert" (model Alert), "error" (dict message[, command|client_id])

`settings` is plain dicts: {"paper": {...}, "sizing": {...}, "strategy": {...}, "session": "vt"}
(keys as in virtuoso_tui.config). Neighbours: commands.py parses, orders.py is the one door for orders
(sizing + risk + journal), algos.py and stops.py generate orders through it, portfolio.py keeps score.
`build_desk(...)` wires one from the plugin host and settings (runtime.py calls it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from typing import Any

from virtuoso_tui.model import (
    BookDelta,
    BookSnapshot,
    Candle,
    Fill,
    Funding,
    Order,
    OrderIntent,
    OrderStatus,
    Ticker,
    Trade,
)
from virtuoso_tui.risk.rule import RiskRule
from virtuoso_tui.trading import commands as cmds
from virtuoso_tui.trading.algos import TWAP, VWAP, ExecutionAlgo, Iceberg, ImpactSplit, restore_algo
from virtuoso_tui.trading.bookview import ArrayBook
from virtuoso_tui.trading.commands import CommandError
from virtuoso_tui.trading.executor import Executor, UnusableBook
from virtuoso_tui.trading.orders import OrderManager
from virtuoso_tui.trading.portfolio import Portfolio
from virtuoso_tui.trading.signal_strategy import SignalStrategy
from virtuoso_tui.trading.sizing import Sizer
from virtuoso_tui.trading.stops import ExitPlan
from virtuoso_tui.trading.strategy import StrategyContext

log = logging.getLogger(__name__)

#: Equity is sampled (journal, curve, VaR, drawdown, start-of-day) once per this much market time.
EQUITY_INTERVAL_MS = 60_000


@dataclass(slots=True)
class CommandResult:
    ok: bool
    message: str
    orders: list[Order] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "message": self.message,
                "orders": [_plain(o) for o in self.orders], "data": self.data}


def _plain(obj: Any) -> Any:
    if is_dataclass(obj):
        return {k: (v.value if hasattr(v, "value") else v) for k, v in asdict(obj).items()}
    return obj


class TradingDesk:
    def __init__(self, journal: Any, settings: dict[str, Any] | None, executors: dict[str, Executor],
                 rules: list[RiskRule], now: Callable[[], int], *, emit: Callable[[str, Any], None] | None = None,
                 plugin_commands: list[cmds.Command] | None = None,
                 algos: dict[str, type[ExecutionAlgo]] | None = None,
                 states: Callable[[], dict[str, Any]] | None = None, default_executor: str = "paper",
                 strategy_cls: type | None = None) -> None:
        settings = settings or {}
        paper = dict(settings.get("paper") or {})
        self.settings = settings
        self.now = now
        self._emit_out = emit or (lambda topic, payload: None)
        self.states = states or (lambda: {})
        self.portfolio = Portfolio(float(paper.get("starting_balance", 100_000.0)),
                                   leverage=float(paper.get("leverage", 1.0)))
        self.sizer = Sizer(settings.get("sizing") or {})
        self.manager = OrderManager(journal, self.portfolio, executors, rules, now, sizer=self.sizer,
                                    session=str(settings.get("session", "vt")),
                                    default_executor=default_executor, emit=self._emit)
        self.manager.fill_listeners.append(self._on_fill)
        self.manager.quote = self.quote
        self.funding_enabled = bool(paper.get("funding", True))
        self.plugin_verbs = {c.verb: c for c in (plugin_commands or [])}
        self.algo_classes = {"twap": TWAP, "vwap": VWAP, "iceberg": Iceberg, "split": ImpactSplit, **(algos or {})}
        self.algos: dict[str, ExecutionAlgo] = {}
        self.exits: dict[str, ExitPlan] = {}
        self.books: dict[str, Any] = {}
        self._algo_seq = 0
        self._algo_written: dict[str, tuple] = {}  # per algo id: the key of its last journaled state
        self._last_equity_ts: int | None = None
        self._resyncs: set[asyncio.Task] = set()  # background executor resyncs (after reconnects)
        self._down: set[str] = set()               # executors whose last poll failed
        strat = dict(settings.get("strategy") or {})
        self.strategy: Any = None
        self.strategy_timeframe = str(strat.get("timeframe", "15m"))
        if strat.get("enabled"):
            cls = strategy_cls or SignalStrategy
            if strat.get("name", "prism") != cls.name:
                raise ValueError(f"[strategy] name {strat.get('name')!r} is not the strategy given ({cls.name!r})")
            params = strat.get("params") or {}
            if issubclass(cls, SignalStrategy):
                sizing = dict(strat.get("sizing") or settings.get("sizing") or {"method": "atr"})
                self.strategy = cls(params, Sizer(sizing), self.portfolio.stats)
            else:  # a bar strategy (sma_cross, donchian, a plugin's): called on each closed candle
                self.strategy = cls(params)

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> dict[str, Any]:
        """Restore orders/fills/positions from the journal and reconcile with the executors."""
        restored = self.manager.restore()
        algos = self._restore_algos()
        report = self.manager.reconcile()
        for pos in self.portfolio.open_positions():
            self._emit("position", replace(pos))
        return {"restored": asdict(restored), "reconcile": asdict(report), "algos": algos}

    def _restore_algos(self) -> list[str]:
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
                self._algo_seq = max(self._algo_seq, int(suffix))
            cls = self.algo_classes.get(row["kind"])
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
            algo.persist = self._persist_algo
            self.algos[algo.id] = algo
            if algo.status == row["status"]:
                self._algo_written[algo.id] = (algo.status, algo.filled, algo.decided, len(algo.rejections),
                                               algo.next_ts)
            else:  # its last child filled after the row was written: the row catches up
                self._persist_algo(algo)
            if not algo.done:
                running.append(algo.id)
                self._emit_out("alert", self.manager.alert(**{
                    "level": "info", "source": "algo", "symbol": algo.symbol,
                    "message": f"resumed {_algo_line(algo)}"}))
        return running

    def _persist_algo(self, algo: ExecutionAlgo, params: dict[str, Any] | None = None) -> None:
        """Journal the algorithm's parent state when it changed (always with `params`, at start)."""
        journal = self.manager.journal
        if not hasattr(journal, "upsert_algo"):
            return
        # Called on every market event for every running algo: compare a cheap key, build the row only
        # when something the journal holds moved.
        key = (algo.status, algo.filled, algo.decided, len(algo.rejections), algo.next_ts)
        if params is None and self._algo_written.get(algo.id) == key:
            return
        journal.upsert_algo(algo.state(), params)
        self._algo_written[algo.id] = key

    def stop(self) -> None:
        self.manager.update_equity(self.now())

    # -- executor life cycle (async; the engine awaits these) -----------------------------------------
    async def start_executors(self) -> None:
        """Await every executor's start() before market data flows; `start()` then reconciles with
        what they found. A failure is one LiveUnavailable sentence (and an "error" event)."""
        for name, ex in self.manager.executors.items():
            try:
                await ex.start()
            except Exception as exc:  # noqa: BLE001 - any start failure means this executor cannot trade
                message = _clean(ex, f"executor {name!r} cannot start: {exc}")
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
                    "message": _clean(ex, f"lost contact with the {name} executor ({type(exc).__name__}: {exc}); "
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
            self._emit_out("error", {"message": _clean(ex, f"resync of the {name} executor failed: {exc}"),
                                     "source": name})
            return None
        report = self.manager.reconcile(name)
        self._emit_out("alert", self.manager.alert(**{
            "level": "warning" if (report.unknown or report.missing) else "info", "source": "reconcile",
            "message": f"{name} reconciled after a reconnect: {len(report.unknown)} unknown at the venue, "
                       f"{len(report.missing)} missing there"}))
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

    def on_book_invalid(self, symbol: str, reason: str) -> None:
        """A book is being resynchronised: nothing may be matched or priced against it until the next
        snapshot (on_event hands executors the valid book again then)."""
        self.books.pop(symbol, None)
        blank = UnusableBook(symbol, self.now(), reason)
        for ex in self.manager.executors.values():
            ex.on_book(blank)

    async def close_executors(self) -> None:
        for task in list(self._resyncs):
            task.cancel()
        for name, ex in self.manager.executors.items():
            try:
                await ex.close()
            except Exception as exc:  # noqa: BLE001 - shutdown goes on
                log.warning("%s", _clean(ex, f"executor {name!r} close failed: {exc}"))

    # -- events -------------------------------------------------------------------------------------
    def _emit(self, topic: str, payload: Any) -> None:
        if topic == "order" and payload.origin.startswith("algo:"):
            algo = self.algos.get(payload.origin[5:])
            if algo is not None:
                algo.on_order(payload)
                self._persist_algo(algo)
        self._emit_out(topic, payload)

    def on_event(self, event: Any, state: Any = None) -> None:
        """Feed one market record to the executors, marks, stops and algorithms. Good-till-time
        orders due by the engine's clock expire first, so the record is never matched against them."""
        self.manager.expire_due()
        execs = self.manager.executors.values()
        symbol = event.symbol
        if isinstance(event, Trade):
            self.portfolio.mark(symbol, event.price)
            for ex in execs:
                ex.on_trade(event)
            self._manage_exits(symbol, event.price, event.ts)
        elif isinstance(event, BookSnapshot | BookDelta):
            book = getattr(state, "book", None)
            if book is None:
                if not isinstance(event, BookSnapshot):
                    return
                book = ArrayBook.from_snapshot(event)
            if not getattr(book, "valid", True):
                return  # a crossed or gapped book is a fault to resync, never a price to fill at
            self.books[symbol] = book
            for ex in execs:
                ex.on_book(book)
            if symbol not in self.portfolio.marks and book.mid is not None:
                self.portfolio.mark(symbol, book.mid)
        elif isinstance(event, Ticker):
            self.portfolio.mark(symbol, event.mark or event.last)
        elif isinstance(event, Funding):
            if event.mark:
                self.portfolio.mark(symbol, event.mark)
            if self.funding_enabled:
                for ex in execs:
                    ex.on_funding(event)
        elif isinstance(event, Candle) and event.closed:
            self._manage_exits(symbol, event.close, event.ts, event.high, event.low)
        self._tick_algos(event.ts)
        if self._last_equity_ts is None or event.ts - self._last_equity_ts >= EQUITY_INTERVAL_MS:
            self._last_equity_ts = event.ts
            self.manager.update_equity(event.ts)

    def quote(self, symbol: str, side: str) -> float | None:
        """The price a market order would start at: the best ask to buy, the best bid to sell, from
        the latest valid book (None without one, and the order manager falls back to the mark)."""
        book = self.books.get(symbol)
        if book is None or not getattr(book, "valid", True):
            return None
        return book.best_ask if side == "buy" else book.best_bid

    def on_candle(self, candle: Any, state: Any) -> list[Order]:
        """A closed candle: a bar strategy on its timeframe decides (its intents fill at the next event)."""
        if self.strategy is None or isinstance(self.strategy, SignalStrategy) or state is None:
            return []
        if candle.timeframe != self.strategy_timeframe:
            return []
        ctx = StrategyContext(candle.symbol, self.strategy_timeframe, self.now(), state,
                              self.portfolio.position(candle.symbol), self.portfolio.equity(), self.portfolio.cash)
        intents = self.strategy.on_bar(ctx)
        return [self.manager.submit(replace(i, origin=f"strategy:{self.strategy.name}")) for i in intents]

    def on_signal(self, signal: Any, state: Any) -> list[Order]:
        if self.strategy is None or state is None or not isinstance(self.strategy, SignalStrategy):
            return []
        ctx = StrategyContext(signal.symbol, self.strategy_timeframe, self.now(), state,
                              self.portfolio.position(signal.symbol), self.portfolio.equity(), self.portfolio.cash)
        return [self.manager.submit(i) for i in self.strategy.on_signal(ctx, signal)]

    def _on_fill(self, fill: Fill, order: Order) -> None:
        if order.origin.startswith("algo:"):
            algo = self.algos.get(order.origin[5:])
            if algo is not None:
                algo.on_fill(fill, order)
                self._persist_algo(algo)
        pos = self.portfolio.positions.get(fill.symbol)
        if pos is None or not pos.amount:
            self.exits.pop(fill.symbol, None)
        elif (isinstance(self.strategy, SignalStrategy) and order.origin == f"strategy:{self.strategy.name}"
              and not order.reduce_only):
            from virtuoso_tui.model import timeframe_ms

            plan = self.strategy.exit_plan(fill.symbol, pos.side, pos.entry_price, abs(pos.amount), fill.ts,
                                           timeframe_ms(self.strategy_timeframe))
            if plan is not None:
                self.exits[fill.symbol] = plan

    def attach_exit(self, plan: ExitPlan) -> None:
        """Attach stops/exits to a position (replacing any plan on that symbol)."""
        self.exits[plan.symbol] = plan

    def _manage_exits(self, symbol: str, price: float, ts: int, high: float | None = None,
                      low: float | None = None) -> None:
        plan = self.exits.get(symbol)
        if plan is None:
            return
        for ex in plan.update(price, ts, high, low):
            side = "sell" if plan.side == "buy" else "buy"
            self.manager.submit(OrderIntent(symbol, side, ex.amount, reduce_only=True, origin=f"exit:{ex.reason}"))
        if plan.done:
            self.exits.pop(symbol, None)

    def _tick_algos(self, ts: int) -> None:
        for algo in list(self.algos.values()):
            if not algo.done:
                algo.on_tick(ts, self.books.get(algo.symbol))
                self._persist_algo(algo)
                if algo.done:
                    self._emit_out("alert", self.manager.alert(**{"level": "info", "source": "algo", "symbol": algo.symbol,
                                             "message": _algo_line(algo)}))

    # -- commands -----------------------------------------------------------------------------------
    def submit(self, intent: OrderIntent, executor: str | None = None) -> Order:
        return self.manager.submit(intent, executor)

    def execute(self, line: str, selected_symbol: str | None = None, origin: str = "keyboard") -> CommandResult:
        try:
            cmd = cmds.parse(line, selected_symbol, self.plugin_verbs)
            return self._dispatch(cmd, origin)
        except CommandError as exc:
            self._emit_out("error", {"message": str(exc), "command": line})
            return CommandResult(False, str(exc))

    def _price(self, symbol: str) -> float | None:
        book = self.books.get(symbol)
        mid = getattr(book, "mid", None) if book is not None else None
        return mid or self.portfolio.mark_of(symbol)

    def _dispatch(self, cmd: Any, origin: str) -> CommandResult:
        if isinstance(cmd, cmds.PlaceOrder):
            base = cmd.size.to_base(cmd.price or self._price(cmd.symbol), self.portfolio.equity())
            expire = None if cmd.expire_after_ms is None else self.now() + cmd.expire_after_ms
            intent = OrderIntent(cmd.symbol, cmd.side, base, cmd.type, cmd.price, cmd.stop_price,
                                 cmd.reduce_only, cmd.post_only, origin, time_in_force=cmd.time_in_force,
                                 expire_ts=expire)
            return self._result(self.manager.submit(intent))
        if isinstance(cmd, cmds.Close):
            targets = [cmd.symbol] if cmd.symbol else [p.symbol for p in self.portfolio.open_positions()]
            orders = []
            for s in targets:
                pos = self.portfolio.positions.get(s)
                if pos is None or not pos.amount:
                    if cmd.symbol:
                        raise CommandError(f"there is no open {s} position to close")
                    continue
                side = "sell" if pos.amount > 0 else "buy"
                orders.append(self.manager.submit(OrderIntent(s, side, abs(pos.amount), reduce_only=True, origin=origin)))
            if not orders:
                return CommandResult(True, "no open positions")
            return CommandResult(all(o.status is not OrderStatus.REJECTED for o in orders),
                                 "; ".join(_order_line(o) for o in orders), orders)
        if isinstance(cmd, cmds.Cancel):
            if cmd.client_id is None:
                stopped = [a.id for a in self.algos.values() if not a.done]
                for a in self.algos.values():
                    if not a.done:
                        a.stop()
                        self._persist_algo(a)
                cancelled = self.manager.cancel_all()
                return CommandResult(True, f"cancelled {len(cancelled)} orders" +
                                     (f" and {len(stopped)} algos" if stopped else ""), cancelled)
            if cmd.client_id in self.algos:
                self.algos[cmd.client_id].stop()
                self._persist_algo(self.algos[cmd.client_id])
                return CommandResult(True, f"stopped {cmd.client_id}: {_algo_line(self.algos[cmd.client_id])}")
            try:
                order = self.manager.cancel(cmd.client_id)
            except KeyError:
                raise CommandError(f"there is no order {cmd.client_id!r}; 'cancel all' cancels every open order") from None
            except Exception as exc:  # IllegalTransition: already final
                raise CommandError(str(exc)) from None
            return CommandResult(True, _order_line(order), [order])
        if isinstance(cmd, cmds.Amend):
            order = self.manager.orders.get(cmd.client_id)
            amount = None
            if cmd.size is not None and order is not None:
                amount = cmd.size.to_base(cmd.price or order.price or self._price(order.symbol), self.portfolio.equity())
            try:
                order = self.manager.amend(cmd.client_id, price=cmd.price, amount=amount)
            except KeyError:
                raise CommandError(f"there is no order {cmd.client_id!r}") from None
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            return CommandResult(True, _order_line(order), [order])
        if isinstance(cmd, cmds.Algo):
            return self._start_algo(cmd)
        if isinstance(cmd, cmds.ShowRisk):
            return CommandResult(True, self.risk_report(), data=self.portfolio.risk_metrics())
        if isinstance(cmd, cmds.ResetRisk):
            was = self.manager.halted
            self.manager.reset_halt()
            return CommandResult(True, f"trading resumed (was halted: {was})" if was else "trading was not halted")
        if isinstance(cmd, cmds.Kill):
            return self.kill()
        if isinstance(cmd, cmds.Help):
            return CommandResult(True, cmds.help_text(cmd.verb, self.plugin_verbs))
        if isinstance(cmd, cmds.PluginCall):
            return CommandResult(True, cmd.command.run(list(cmd.args), self))
        raise CommandError(f"command {type(cmd).__name__} is not handled")

    def _result(self, order: Order) -> CommandResult:
        ok = order.status is not OrderStatus.REJECTED
        return CommandResult(ok, _order_line(order), [order])

    def _start_algo(self, cmd: cmds.Algo) -> CommandResult:
        arrival = self._price(cmd.symbol)
        if arrival is None:
            raise CommandError(f"no market price for {cmd.symbol} yet; wait for market data")
        amount = cmd.size.to_base(cmd.price or arrival, self.portfolio.equity())
        self._algo_seq += 1
        algo_id = f"{cmd.kind}-{self._algo_seq}"
        args = (algo_id, cmd.symbol, cmd.side, amount, self.now(), arrival, self.manager.submit, self.manager.cancel)
        cls = self.algo_classes[cmd.kind]
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
        algo.persist = self._persist_algo
        self._persist_algo(algo, algo.params())  # on disk before its first slice
        algo.on_tick(self.now(), self.books.get(cmd.symbol))
        self._persist_algo(algo)
        return CommandResult(True, f"started {_algo_line(algo)}", data=algo.progress())

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

    def kill(self) -> CommandResult:
        """Cancel every open order and algorithm, then flatten every position."""
        for a in self.algos.values():
            if not a.done:
                a.stop()
                self._persist_algo(a)
        cancelled = self.manager.cancel_all()
        self.exits.clear()
        closed = []
        for pos in self.portfolio.open_positions():
            side = "sell" if pos.amount > 0 else "buy"
            closed.append(self.manager.submit(OrderIntent(pos.symbol, side, abs(pos.amount), reduce_only=True,
                                                          origin="kill")))
        self._emit_out("alert", self.manager.alert(**{"level": "warning", "source": "kill",
                                 "message": f"kill: cancelled {len(cancelled)} orders, closing {len(closed)} positions"}))
        return CommandResult(True, f"cancelled {len(cancelled)} orders; " +
                             ("; ".join(_order_line(o) for o in closed) or "no positions"), cancelled + closed)

    # -- views --------------------------------------------------------------------------------------
    def risk_report(self) -> str:
        ctx = self.manager.risk_context()
        lines = [f"HALTED: {self.manager.halted} ('risk reset' lifts it)"] if self.manager.halted else []
        lines += [r.usage(ctx) or f"{r.name}: on" for r in self.manager.rules]
        m = self.portfolio.risk_metrics()
        lines.append(f"equity {m['equity']:,.2f}  exposure {m['gross_exposure']:,.0f} ({m['leverage']:.2f}x)  "
                     f"VaR95 {m['var95']:.2%} VaR99 {m['var99']:.2%} ES95 {m['es95']:.2%}  "
                     f"drawdown {m['drawdown']:.2%} (max {m['max_drawdown']:.2%})")
        return "\n".join(lines)

    def snapshot(self) -> dict[str, Any]:
        pf = self.portfolio
        positions = []
        for p in pf.open_positions():
            mark = pf.mark_of(p.symbol)
            positions.append({**_plain(p), "mark": mark, "unrealized_pnl": p.unrealized_pnl(mark or p.entry_price),
                              "liquidation_price": pf.liquidation_price(p.symbol)})
        return {"equity": pf.equity(), "cash": pf.cash, "unrealized": pf.unrealized(),
                "realized": sum(p.realized_pnl for p in pf.positions.values()),
                "fees": sum(p.fees for p in pf.positions.values()),
                "funding": sum(p.funding for p in pf.positions.values()),
                "positions": positions, "orders": [_plain(o) for o in self.manager.open.values()],
                "algos": [a.progress() for a in self.algos.values()], "halted": self.manager.halted,
                "metrics": pf.risk_metrics()}


class LiveUnavailable(ValueError):
    """Live trading cannot start (no keys, keys refused, venue unreachable). One sentence; a
    ValueError so the CLI reports it as a user error (exit 2)."""


def _clean(ex: Executor, text: str) -> str:
    """Messages about an executor pass through its redaction (keys never reach an event or a log)."""
    clean = getattr(ex, "clean", None)
    return clean(text) if callable(clean) else text


def _order_line(o: Order) -> str:
    what = f"{o.side} {o.amount:.8g} {o.symbol} {o.type.value}" + (f" @ {o.price:g}" if o.price else "")
    if o.stop_price:
        what += f" stop {o.stop_price:g}"
    if o.time_in_force != "gtc":
        what += f" {o.time_in_force}" + (f" until {o.expire_ts}" if o.expire_ts is not None else "")
    state = o.status.value
    if o.filled:
        state += f" {o.filled:.8g} @ {o.average_price:.8g}"
    return f"order {o.client_id} {what}: {state}" + (f" ({o.reason})" if o.reason else "")


def _algo_line(a: ExecutionAlgo) -> str:
    p = a.progress()
    avg = "n/a" if p["filled"] == 0 else f"{p['avg_price']:.8g}"
    slip = "n/a" if p["filled"] == 0 else f"{p['slippage_bps']:+.1f} bps"
    return (f"{a.id} {a.side} {a.amount:.8g} {a.symbol}: {p['progress']:.0%} done in {p['slices']} slices, "
            f"avg {avg} vs arrival {a.arrival:.8g} ({slip})")


#: [sources.ccxt] options the live executor shares with the ccxt source (the venue and its keys)
LIVE_FROM_SOURCE = ("exchange", "api_key", "secret", "password", "api_key_env", "secret_env", "password_env",
                    "base_url", "timeout_ms", "rate_limit_ms")


def live_executor(host: Any, settings: Any) -> Executor:
    """The live executor `--live` trades through: the executor (or the plugin providing one) named by
    [live] executor, with options [sources.ccxt] exchange and keys, [live] sandbox, then
    [plugins.<plugin>] on top. LiveUnavailable (one sentence) when it is off, missing or has no keys."""
    live = settings.live
    if not live.enabled:
        raise LiveUnavailable("--live needs [live] enabled = true in the config file")
    found = None
    for name, (plugin, cls) in host.registry("virtuoso_executors").items():
        if name == "paper" or (isinstance(cls, type) and issubclass(cls, ExecutionAlgo)):
            continue
        if live.executor in (name, plugin):
            found = (name, plugin, cls)
            break
    if found is None:
        raise LiveUnavailable(f"no live executor {live.executor!r} is loaded ([live] executor; see 'virtuoso plugins')")
    name, plugin, cls = found
    source = settings.source_options("ccxt")
    options = {k: v for k, v in source.items() if k in LIVE_FROM_SOURCE}
    options["sandbox"] = bool(live.sandbox)
    options.update(settings.plugins.options_for(plugin))
    ok, executor = host.guard(plugin, f"executor {name!r}", cls, options)
    if not ok:
        raise LiveUnavailable(f"the live executor {name!r} failed to build: {host.infos[plugin].error}")
    problem = executor.problem()
    if problem:
        raise LiveUnavailable(problem)
    return executor


def session_prefix(journal: Any, *, live: bool) -> str:
    """The client-id prefix of this database: "vt" for paper and backtests (reproducible ids), and for
    live trading a prefix drawn once per database and kept in it, so ids of a fresh database can never
    collide with orders an older database left open at the venue."""
    if not live:
        return "vt"
    prefix = journal.get_account("live_session")
    if not prefix:
        import secrets

        prefix = "vt" + secrets.token_hex(3)
        journal.set_account("live_session", prefix)
    return str(prefix)


def build_desk(*, host: Any, settings: Any, storage: Any, bus: Any, now: Callable[[], int],
               states: Callable[[], dict[str, Any]] | None = None, live: bool = False) -> TradingDesk:
    """Wire a desk from the plugin host (executors, algos, rules, commands) and the settings.
    `live` (the --live flag) with [live] enabled makes the live executor the default: orders go to
    the venue; paper stays available by name. LiveUnavailable when live trading cannot be set up."""
    from virtuoso_tui.trading.journal import SqliteJournal

    plain = settings.to_dict() if hasattr(settings, "to_dict") else dict(settings or {})
    paper = dict(plain.get("paper") or {})
    strategy = dict(plain.get("strategy") or {})
    execs: dict[str, Executor] = {}
    algos: dict[str, type[ExecutionAlgo]] = {}
    for name, (plugin, cls) in host.registry("virtuoso_executors").items():
        if isinstance(cls, type) and issubclass(cls, ExecutionAlgo):
            algos[name] = cls
        elif name == "paper":
            ok, executor = host.guard(plugin, f"executor {name!r}", cls, paper)
            if ok:
                execs[name] = executor
    from virtuoso_tui.risk.rule import configured_rules

    rules = configured_rules(host, settings)
    default = "paper"
    if live:
        executor = live_executor(host, settings)
        execs[executor.name] = executor
        default = executor.name
    commands = [c for _plugin, c in host.collect("virtuoso_commands")]
    strategy_cls = None
    if strategy.get("enabled"):
        wanted = strategy.get("name", "prism")
        found = host.registry("virtuoso_strategies")
        if wanted not in found:
            raise ValueError(f"[strategy] name {wanted!r} is not a strategy any plugin provides "
                             f"(available: {', '.join(sorted(found)) or 'none'})")
        strategy_cls = found[wanted][1]
    journal = storage if storage is not None else SqliteJournal(":memory:")
    return TradingDesk(journal, {"paper": paper, "strategy": strategy, "sizing": strategy.get("sizing") or {},
                                 "session": session_prefix(journal, live=bool(live))},
                       execs, rules, now, emit=bus.publish, plugin_commands=commands, algos=algos, states=states,
                       default_executor=default, strategy_cls=strategy_cls)
