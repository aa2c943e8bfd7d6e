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
(keys as in virtuoso_tui.config). This module keeps the facade: market events, the strategy and its
exits, the command language's dispatch and the views. Its parts: algo_desk.py (AlgoDesk: execution
algorithms started, ticked, journaled, restored), venue_link.py (VenueLink: the executors' async
lifecycle; LiveUnavailable), wiring.py (build_desk, live_executor, session_prefix; re-exported here).
Neighbours: commands.py parses, orders.py is the one door for orders (sizing + risk + journal),
algos.py and stops.py generate orders through it, portfolio.py keeps score.
"""

from __future__ import annotations

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
from virtuoso_tui.trading.algo_desk import AlgoDesk, algo_line
from virtuoso_tui.trading.algos import ExecutionAlgo
from virtuoso_tui.trading.bookview import ArrayBook
from virtuoso_tui.trading.commands import CommandError
from virtuoso_tui.trading.executor import Executor, UnusableBook
from virtuoso_tui.trading.orders import OrderManager
from virtuoso_tui.trading.portfolio import Portfolio
from virtuoso_tui.trading.signal_strategy import SignalStrategy
from virtuoso_tui.trading.sizing import Sizer
from virtuoso_tui.trading.stops import ExitPlan
from virtuoso_tui.trading.strategy import Strategy, StrategyContext
from virtuoso_tui.trading.venue_link import LiveUnavailable, VenueLink
from virtuoso_tui.trading.wiring import LIVE_FROM_SOURCE, build_desk, live_executor, session_prefix

__all__ = ["EQUITY_INTERVAL_MS", "LIVE_FROM_SOURCE", "CommandResult", "LiveUnavailable", "TradingDesk", "build_desk",
           "live_executor", "session_prefix"]

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
        self.exits: dict[str, ExitPlan] = {}
        self.books: dict[str, Any] = {}
        self.algo_desk = AlgoDesk(self.manager, self.books, now, self.states, self._price, self.portfolio.equity,
                                  self._emit_out, algos)
        self.venues = VenueLink(self.manager, self._emit_out)
        self._last_equity_ts: int | None = None
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
        #: a strategy with its own on_bar decides at each closed candle of its timeframe, exactly as in a
        #: backtest (the prism strategy: its own prism and stops; sma_cross ...); a plain SignalStrategy
        #: acts on the console's confirmed signal changes instead, with the desk managing its stops
        self.bar_driven = self.strategy is not None and type(self.strategy).on_bar is not Strategy.on_bar
        #: who watches the strategy's stops on every trade: the desk for a plain SignalStrategy; a bar
        #: strategy (prism) watches its own through `on_trade`, exactly as in its backtest, paper or live
        self.desk_stops = isinstance(self.strategy, SignalStrategy) and not self.bar_driven

    # -- lifecycle ----------------------------------------------------------------------------------
    @property
    def algos(self) -> dict[str, ExecutionAlgo]:
        """Execution algorithms by id, running and finished (the AlgoDesk's)."""
        return self.algo_desk.algos

    @property
    def algo_classes(self) -> dict[str, type[ExecutionAlgo]]:
        """Algorithm kinds the `algo` command can start: the built-ins and plugins'."""
        return self.algo_desk.classes

    def start(self) -> dict[str, Any]:
        """Restore orders/fills/positions from the journal and reconcile with the executors."""
        restored = self.manager.restore()
        algos = self.algo_desk.restore()
        report = self.manager.reconcile()
        for pos in self.portfolio.open_positions():
            self._emit("position", replace(pos))
        return {"restored": asdict(restored), "reconcile": asdict(report), "algos": algos}

    def stop(self) -> None:
        self.manager.update_equity(self.now())

    # -- executor life cycle (async; the engine awaits these; venue_link.py does the work) -----------
    async def start_executors(self) -> None:
        """Await every executor's start() before market data flows; `start()` then reconciles with
        what they found. A failure is one LiveUnavailable sentence (and an "error" event)."""
        await self.venues.start_executors()

    async def run_polls(self) -> None:
        """Poll executors that ask for it until cancelled; resync + reconcile after an outage."""
        await self.venues.run_polls()

    async def poll_executor(self, name: str, ex: Executor) -> bool:
        """One poll; True when it worked."""
        return await self.venues.poll_executor(name, ex)

    async def resync_executor(self, name: str) -> Any:
        """Resync one executor and reconcile: the ReconcileReport, None when it could not be reached."""
        return await self.venues.resync_executor(name)

    def on_source_reconnect(self) -> None:
        """The market feed reconnected: resync the venue executors in the background."""
        self.venues.on_source_reconnect()

    def on_book_invalid(self, symbol: str, reason: str) -> None:
        """A book is being resynchronised: nothing may be matched or priced against it until the next
        snapshot (on_event hands executors the valid book again then)."""
        self.books.pop(symbol, None)
        blank = UnusableBook(symbol, self.now(), reason)
        for ex in self.manager.executors.values():
            ex.on_book(blank)

    async def close_executors(self) -> None:
        await self.venues.close_executors()

    # -- events -------------------------------------------------------------------------------------
    def _emit(self, topic: str, payload: Any) -> None:
        if topic == "order":
            self.algo_desk.on_order(payload)
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
            if self.bar_driven and state is not None:
                self._strategy_trade(symbol, event, state)
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
        self.algo_desk.tick(event.ts)
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
        if not self.bar_driven or state is None:
            return []
        if candle.timeframe != self.strategy_timeframe:
            return []
        ctx = StrategyContext(candle.symbol, self.strategy_timeframe, self.now(), state,
                              self.portfolio.position(candle.symbol), self.portfolio.equity(), self.portfolio.cash)
        intents = self.strategy.on_bar(ctx)
        return [self.manager.submit(replace(i, origin=f"strategy:{self.strategy.name}")) for i in intents]

    def _strategy_trade(self, symbol: str, trade: Trade, state: Any) -> list[Order]:
        """Every trade to a bar strategy's `on_trade` (its stops), as a recording backtest does."""
        ctx = StrategyContext(symbol, self.strategy_timeframe, self.now(), state, self.portfolio.position(symbol),
                              self.portfolio.equity(), self.portfolio.cash)
        intents = self.strategy.on_trade(ctx, trade.price, trade.ts)
        return [self.manager.submit(replace(i, origin=f"strategy:{self.strategy.name}")) for i in intents]

    def on_signal(self, signal: Any, state: Any) -> list[Order]:
        if self.bar_driven or state is None or not isinstance(self.strategy, SignalStrategy):
            return []
        ctx = StrategyContext(signal.symbol, self.strategy_timeframe, self.now(), state,
                              self.portfolio.position(signal.symbol), self.portfolio.equity(), self.portfolio.cash)
        return [self.manager.submit(i) for i in self.strategy.on_signal(ctx, signal)]

    def _on_fill(self, fill: Fill, order: Order) -> None:
        self.algo_desk.on_fill(fill, order)
        pos = self.portfolio.positions.get(fill.symbol)
        if pos is None or not pos.amount:
            self.exits.pop(fill.symbol, None)
        elif (self.desk_stops and order.origin == f"strategy:{self.strategy.name}"
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
                stopped = self.algo_desk.stop_all()
                cancelled = self.manager.cancel_all()
                return CommandResult(True, f"cancelled {len(cancelled)} orders" +
                                     (f" and {len(stopped)} algos" if stopped else ""), cancelled)
            if cmd.client_id in self.algos:
                algo = self.algo_desk.stop(cmd.client_id)
                return CommandResult(True, f"stopped {cmd.client_id}: {algo_line(algo)}")
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
            algo = self.algo_desk.start(cmd)
            return CommandResult(True, f"started {algo_line(algo)}", data=algo.progress())
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

    def kill(self) -> CommandResult:
        """Cancel every open order and algorithm, then flatten every position."""
        self.algo_desk.stop_all()
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
