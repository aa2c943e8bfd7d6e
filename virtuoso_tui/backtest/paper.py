"""The paper path as a backtest broker: a real TradingDesk (order manager, sizing, every risk rule,
the book-matching PaperExecutor of plugins/virtuoso_paper, the margin-style Portfolio) behind the
backtester's Broker calls, so a backtest run with `broker="paper"` takes the code path paper trading
takes, and tests/test_backtest_parity.py can show both give the same trades.

How the replay is presented to the desk (the conventions that make the paper path and the default
brokers of broker.py / replay.py agree by design):

  * Candle-only data has no book, and the paper executor fills market orders only against a book. At
    each bar's open (`on_open`) the desk sees, as live market records and in this order:
      1. a Trade at the open price (amount 0, no side): the print that marks the portfolio, moves
         resting stops and limits, and times the fill;
      2. a one-level BookSnapshot whose ask is `slippage.price("buy", open)` and whose bid is
         `slippage.price("sell", open)`, each DEPTH deep: the slippage model becomes the spread, so a
         market order walks exactly one level and fills at the price CandleBroker would charge;
    then the intents decided at the previous close are sent through `desk.submit` (sizing, risk,
    journal, executor). Fees: the executor's maker and taker fee are both the backtest's `fee`.
  * `equity_fraction` intents are sized by the order manager at submit (trading/orders.py) with the
    touch this broker quotes (`manager.quote`) and the executor's taker fee: the same formula and
    inputs as CandleBroker at the fill (equity marked at the open, price the slipped fill price).
  * The position closed at the end of the data is closed the same way at the last close.
  * Recorded markets (replay.py, `fill_from_book` / `on_market`): every record goes to
    `desk.on_event` after MarketState applied it, and an intent decided at a candle boundary is sent
    at that boundary, meeting the recorded book as it is then (as paper trading would).
  * Funding: like paper trading, settled only on perpetual symbols (with ':'); CandleBroker pays
    whatever funding the backtest is given.
  * A decision made before the recording has a valid book: the book broker fills it at the next
    trade, the paper executor rejects it ("no order book") — compare recordings that carry a book
    from their start (the simulated market does); the rejections are listed in `rejected`.
The portfolio keeps margin-style accounts (cash moves by realized PnL, fees and funding), so `cash`
here is the spot-style equivalent the engine marks with: portfolio cash - position * entry price
(cash + position * close is then the portfolio's equity at that close). Bars, sides, times and exit
reasons come out identical; prices, sizes and PnL agree to the last few bits only, because the
executor reports cost / filled as the fill price and the portfolio books cash from realized PnL (the
same numbers, added in another order). Neighbours: engine.py and replay.py (the callers), broker.py
(the Broker interface and the default brokers).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from virtuoso_tui.backtest.broker import FixedSlippage, SlippageModel
from virtuoso_tui.model import BookSnapshot, Fill, Funding, Order, OrderIntent, Position, Trade
from virtuoso_tui.trading.journal import SqliteJournal

#: Base size of each side of the synthetic book shown at a candle's open: deeper than any order.
DEPTH = 1e30


class PaperBroker:
    """The Broker interface (engine.py) on a TradingDesk with the paper executor.

    symbol, capital (quote), fee (fraction of notional, maker and taker, unless paper_options give
    maker_fee and taker_fee), slippage (the synthetic
    book's half-spread for candle data); rules: RiskRule instances checked on every order; settings:
    extra desk settings ("sizing", "paper" keys as in virtuoso_tui.config; starting balance and fees
    are set from capital and fee); journal: any OrderJournal, an in-memory SqliteJournal by default.
    """

    #: limits and stops may rest at the executor, so the engine shows this broker every open
    resting_orders = True

    def __init__(self, symbol: str, *, capital: float = 10_000.0, fee: float = 0.0,
                 slippage: SlippageModel | None = None, rules: Iterable[Any] = (),
                 settings: dict[str, Any] | None = None, journal: Any = None,
                 paper_options: dict[str, Any] | None = None) -> None:
        try:
            from virtuoso_paper.matching import PaperExecutor
        except ImportError as exc:  # the built-in plugin package is not on the path
            raise ValueError("the paper broker needs the virtuoso_paper plugin (plugins/virtuoso_paper)") from exc
        from virtuoso_tui.trading.desk import TradingDesk

        self.symbol = symbol
        self.fee = float(fee)
        self.slippage = slippage or FixedSlippage(0.0)
        settings = dict(settings or {})
        settings["paper"] = {**(settings.get("paper") or {}), "starting_balance": float(capital)}
        settings.setdefault("session", "bt")
        # one `fee` for maker and taker, unless the options give the paper desk's own two
        fees = {"maker_fee": self.fee, "taker_fee": self.fee}
        options = dict(paper_options or {})
        if "maker_fee" in options and "taker_fee" in options:
            fees = {}
        self.executor = PaperExecutor({**options, **fees})
        self.journal = journal if journal is not None else SqliteJournal(":memory:")
        self._now = 0
        self.desk = TradingDesk(self.journal, settings, {"paper": self.executor}, list(rules), lambda: self._now)
        self.manager = self.desk.manager
        self.portfolio = self.desk.portfolio
        self.manager.quote = self._touch
        self.manager.fill_listeners.append(self._on_fill)
        self._position = self.portfolio.position(symbol)   # the portfolio mutates this one object
        self._pending: list[OrderIntent] = []
        self._fills: list[Fill] = []
        self.rejected: list[Order] = []

    # -- what the engine reads ----------------------------------------------------------------------
    @property
    def position(self) -> Position:
        return self._position

    @property
    def cash(self) -> float:
        """Spot-style cash: equity at price p is cash + position * p (see the module docstring)."""
        pos = self._position
        return self.portfolio.cash - pos.amount * pos.entry_price

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    # -- the Broker calls ---------------------------------------------------------------------------
    def submit(self, intent: OrderIntent, ts: int) -> None:
        """Hold the intent for the next event (the next open, or the boundary's book in a recording)."""
        self._pending.append(intent)

    def on_open(self, ts: int, price: float) -> list[Fill]:
        """Show the desk the bar's open (trade, then the one-level book) and send what is pending."""
        self._present(ts, price)
        return self._send()

    def on_funding(self, ts: int, rate: float, mark: float) -> float:
        """A settled funding event through the desk; returns the cash received (negative = paid)."""
        before = self.portfolio.cash
        self._now = max(self._now, ts)
        self.desk.on_event(Funding(self.symbol, ts, rate, mark=mark, settled=True))
        return self.portfolio.cash - before

    def close_all(self, ts: int, price: float) -> list[Fill]:
        """Cancel what rests, drop what is pending, and close the position at `price` (slipped)."""
        self._pending = []
        self._now = max(self._now, ts)
        if self.manager.open:
            self.manager.cancel_all()
        held = self._position.amount
        if held == 0:
            return self._drain()
        self._present(ts, price)
        self._pending.append(OrderIntent(self.symbol, "sell" if held > 0 else "buy", abs(held), reduce_only=True,
                                         origin="backtest:end"))
        return self._send()

    # -- recorded markets (replay.py) ---------------------------------------------------------------
    def on_market(self, event: Any, state: Any) -> list[Fill]:
        """One recorded market record, after MarketState applied it; fills of resting orders.
        Settled funding is left to `on_funding` (the replay loop pays it there, once)."""
        if isinstance(event, Funding) and event.settled:
            return []
        self._now = max(self._now, event.ts)
        self.desk.on_event(event, state)
        return self._drain()

    def fill_from_book(self, ts: int) -> list[Fill]:
        """Send the pending intents now, at market time `ts`, against the book the desk holds."""
        self._now = max(self._now, ts)
        return self._send()

    # -- inside -------------------------------------------------------------------------------------
    def _present(self, ts: int, price: float) -> None:
        self._now = max(self._now, ts)
        sym = self.symbol
        self.desk.on_event(Trade(sym, ts, price, 0.0, None))
        bid, ask = self.slippage.price("sell", price, 0.0), self.slippage.price("buy", price, 0.0)
        self.desk.on_event(BookSnapshot(sym, ts, ((bid, DEPTH),), ((ask, DEPTH),)))

    def _send(self) -> list[Fill]:
        pending, self._pending = self._pending, []
        for intent in pending:
            order = self.desk.submit(intent)
            if order.status.value == "rejected":
                self.rejected.append(order)
        return self._drain()

    def _drain(self) -> list[Fill]:
        fills, self._fills = self._fills, []
        return fills

    def _on_fill(self, fill: Fill, order: Order) -> None:
        if fill.symbol == self.symbol:
            self._fills.append(fill)

    def _touch(self, symbol: str, side: str) -> float | None:
        """The price a market order of `side` meets first: the best ask for a buy, best bid for a sell."""
        book = self.desk.books.get(symbol)
        if book is None:
            return None
        return book.best_ask if side == "buy" else book.best_bid


def configured_rules(settings: Any = None, host: Any = None) -> list[Any]:
    """The risk rules paper trading would run: every `virtuoso_risk_rules` plugin's rule with its
    `[risk.NAME]` options (enabled-by-default rules without a section get their defaults), as
    trading/desk.build_desk builds them. settings: a virtuoso_tui.config Settings (the defaults when
    None); host: a PluginHost (the entry-point plugins when None). A rule that cannot be built with
    its options raises ValueError naming it (a backtest must not silently run with fewer rules)."""
    if settings is None:
        from virtuoso_tui.config import load_config

        settings = load_config()
    if host is None:
        from virtuoso_tui.plugins import PluginHost

        host = PluginHost.load()
    from virtuoso_tui.risk.rule import configured_rules as _configured

    return _configured(host, settings, strict=True)
