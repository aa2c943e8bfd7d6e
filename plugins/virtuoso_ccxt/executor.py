"""The `live` executor: orders at a real venue through ccxt's async API.

The order manager calls `submit`/`cancel` synchronously (trading/executor.py contract); the network
work runs as tasks on the running loop and reports back through the manager (`report_fill`,
`report_status`), which journals every change. Our client id travels with the order (ccxt's unified
`clientOrderId`; Binance `newClientOrderId`), so after a restart `start()` fetches the venue's open
orders and `open_ids()` lists them by client id: the manager's `reconcile()` then surfaces orders the
venue holds that we do not know (an order without a client id shows as `exchange:<id>`), never
ignoring them. `amend()` changes price/amount through ccxt's edit_order (Binance spot: cancelReplace,
keeping our client id; Bybit v5 and Binance futures: in place); the venue's answer goes back through
the manager's `report_amend`. A venue that acknowledges an order with its ids only (Bybit v5 create and
amend), or answers a market order as open (Binance's ACK), has the order fetched at once, so fills and
status come from the venue, never assumed. Fills are reported from the venue's trades: an order seen
to have filled more than was reported, whose answer does not list the trades for it (a Binance spot
order query, Binance USDⓈ-M and Bybit v5 orders), has its trades fetched by order id, and each trade
not reported before becomes one fill with the venue's trade id, price, time, fee and maker/taker; only
when the trades cannot be had is the new quantity reported as one fill at the average price. `poll()`
(every `poll_interval_s` while the engine runs) picks up fills and closes that happened at the venue;
`resync()` after a reconnect refetches the venue's open orders and the final state of ours that closed
meanwhile, so the manager's reconcile that follows compares like with like. Positions: for the
configured linear-contract symbols, start() and resync() fetch the venue's net positions
(`positions()`), and the manager's reconcile reports any symbol where they differ from the journal.

Options (the desk builds them from [sources.ccxt] exchange/keys, [live] sandbox and
[plugins.virtuoso_ccxt]; see virtuoso.toml): exchange, symbols (markets whose open orders are
reconciled; default all), watch (the console's symbols, set by the host: positions are reconciled for
the linear contracts among `symbols`, else among these), api_key/secret/password or *_env
(secrets.py), sandbox (testnet), base_url,
rate_limit_ms, timeout_ms, poll_interval_s (2), retries, backoff_base_s, backoff_max_s.
Keys are required; they never appear in a log line, error or journal reason. The `--live` flag and the
typed confirmation are the host's; this class only trades what the order manager hands it.
Time in force: ioc and fok go to the venue as ccxt's unified `timeInForce` param ("IOC", "FOK");
the venue's EXPIRED (Binance's word for an IOC remainder, or a FOK that could not fill) comes back
as EXPIRED. gtt is sent as a plain good-till-cancelled order and the order manager cancels it at its
expiry in market time (most venues have no good-till-date), recording the cancel as EXPIRED.
Neighbours: source.py (market data), fetch.py (retry policy).
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any, ClassVar

from virtuoso_ccxt.fetch import CredentialsRefused, RetryPolicy, call_with_retry, now_ms
from virtuoso_ccxt.secrets import Credentials, RedactingFilter, redact
from virtuoso_ccxt.source import market_types, point_urls
from virtuoso_tui.api import Executor
from virtuoso_tui.model import Fill, Order, OrderStatus, OrderType

log = logging.getLogger(__name__)

#: ccxt unified order status -> ours (open orders stay as the manager has them)
_CLOSED = {"canceled": OrderStatus.CANCELLED, "cancelled": OrderStatus.CANCELLED,
           "expired": OrderStatus.EXPIRED, "rejected": OrderStatus.REJECTED}


#: our time in force -> ccxt's unified timeInForce param (gtc is the venues' default; gtt is served
#: by the order manager cancelling at expiry, so it is sent as a plain order)
_VENUE_TIF = {"ioc": "IOC", "fok": "FOK"}


def _tol(total: float) -> float:
    """Amounts of an order `total` large closer than this are equal (decimal strings summed as floats)."""
    return 1e-12 * max(abs(total), 1.0)


def order_request(order: Order) -> tuple[str, dict[str, Any]]:
    """The ccxt order type and the unified params `create_order` gets for one of our orders."""
    otype = "market" if order.type in (OrderType.MARKET, OrderType.STOP) else "limit"
    params: dict[str, Any] = {"clientOrderId": order.client_id}
    if order.stop_price is not None and order.type in (OrderType.STOP, OrderType.STOP_LIMIT):
        params["triggerPrice"] = order.stop_price
    if order.post_only:
        params["postOnly"] = True
    if order.reduce_only:
        params["reduceOnly"] = True
    tif = _VENUE_TIF.get(order.time_in_force)
    if tif is not None:
        params["timeInForce"] = tif
    return otype, params


class LiveExecutorError(Exception):
    """The live executor cannot trade (no keys, keys refused, markets not loadable). One sentence."""


class LiveExecutor(Executor):
    name: ClassVar[str] = "live"
    description: ClassVar[str] = "orders at the exchange through ccxt (needs --live and API keys)"
    volatile: ClassVar[bool] = False

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        options = dict(options or {})
        self._credentials = Credentials.from_options(options)
        super().__init__(options)
        o = self.options
        self.exchange_id = str(o.get("exchange", "binance"))
        self.symbols = list(o.get("symbols", []))
        self.watch = list(o.get("watch", []))  # the console's symbols (the host sets them)
        self.policy = RetryPolicy(int(o.get("retries", 2)), float(o.get("backoff_base_s", 0.5)),
                                  float(o.get("backoff_max_s", 4.0)), random.Random(o.get("seed")))
        self.poll_interval_s = float(o.get("poll_interval_s", 2.0))
        self.exchange = None
        #: client id -> the venue's view of the order (ccxt unified dict) for orders open there
        self.open: dict[str, dict] = {}
        self._reported: dict[str, float] = {}  # client id -> amount already reported filled
        #: client id -> amount filled on venue orders it replaced (an amend starts a new venue order)
        self._carried: dict[str, float] = {}
        #: (client id, venue order id) -> that venue order's cumulative fee already reported
        self._fees: dict[tuple[str, str], float] = {}
        #: client id -> the venue trade ids accounted for (reported, or covered by a fill at the average)
        self._trade_ids: dict[str, set[str]] = {}
        #: (client id, venue order id) -> amount reported by fills at the average price (its trades
        #: unknown then) that no venue trade has been matched to yet
        self._unmatched: dict[tuple[str, str], float] = {}
        self._tasks: set[asyncio.Task] = set()
        #: symbol -> the venue's signed net position (base units), for the contract symbols configured;
        #: None until fetched, or when no configured symbol is a linear contract
        self.venue_positions: dict[str, float] | None = None
        self.errors: list[str] = []
        self._filter = RedactingFilter(self._credentials.secrets())
        for name in ("ccxt.base.exchange", "ccxt.async_support.base.exchange", __name__):
            logging.getLogger(name).addFilter(self._filter)

    def __repr__(self) -> str:
        return f"LiveExecutor(exchange={self.exchange_id!r}, {self._credentials!r})"

    def clean(self, text: object) -> str:
        return redact(str(text), self._credentials.secrets())

    # --- life cycle ----------------------------------------------------------------------------
    def problem(self) -> str:
        if not self._credentials.present:
            return (f"the live executor needs API keys for {self.exchange_id}: set api_key and secret "
                    "in [sources.ccxt] (from the environment, e.g. ${BINANCE_API_KEY}) or api_key_env / "
                    "secret_env in [plugins.virtuoso_ccxt]")
        return ""

    async def start(self) -> None:
        """Connect, load markets and fetch the venue's open orders (the reconcile baseline)."""
        import ccxt
        import ccxt.async_support as ccxt_async

        if self.problem():
            raise LiveExecutorError(self.problem())
        cls = getattr(ccxt_async, self.exchange_id, None)
        if cls is None:
            raise LiveExecutorError(f"ccxt has no exchange {self.exchange_id!r} ([executors.live] exchange)")
        o = self.options
        # fetchOrder.acknowledged: Bybit's unified account finds an order by id among its last 500 only,
        # and ccxt refuses until told we know; we only fetch orders we placed or hold open
        config: dict[str, Any] = {"enableRateLimit": True, "timeout": int(o.get("timeout_ms", 10_000)),
                                  "options": {"fetchMargins": False, "warnOnFetchOpenOrdersWithoutSymbol": False,
                                              "fetchOrder": {"acknowledged": True}}}
        if self.symbols:
            config["options"]["fetchMarkets"] = {"types": market_types(self.symbols)}
        if o.get("rate_limit_ms") is not None:
            config["rateLimit"] = float(o["rate_limit_ms"])
        ex = cls({**config, **self._credentials.ccxt_config()})
        ex.has = dict(ex.has, fetchCurrencies=False)
        if o.get("sandbox"):
            ex.set_sandbox_mode(True)
        if o.get("base_url"):
            ex.urls["api"] = point_urls(ex.urls["api"], str(o["base_url"]))
        self.exchange = ex
        try:
            await call_with_retry(ex.load_markets, self.policy)
            await self.refresh_open()
            await self.refresh_positions()
        except CredentialsRefused as exc:
            raise LiveExecutorError(f"{self.exchange_id} refused the API credentials ({exc})") from None
        except ccxt.BaseError as exc:
            raise LiveExecutorError(self.clean(f"{self.exchange_id}: cannot start ({type(exc).__name__}: {exc})")) from None

    async def refresh_open(self) -> dict[str, dict]:
        """Replace `open` with the venue's open orders, keyed by client id."""
        ex = self.exchange
        found: dict[str, dict] = {}
        for sym in self.symbols or [None]:
            for o in await call_with_retry(lambda sym=sym: ex.fetch_open_orders(sym), self.policy):
                found[o.get("clientOrderId") or f"exchange:{o['id']}"] = o
        self.open = found
        return found

    def contract_symbols(self) -> list[str]:
        """The symbols whose venue position is reconciled: the linear contracts (`A/B:B`) among
        `symbols`, or among `watch` (the console's symbols) when `symbols` is not given (open orders
        are then fetched for every market, positions for the watched ones). Spot holdings are balances,
        not positions; inverse sizes are in contracts of the quote, which our base-unit portfolio
        cannot compare without a price, so neither is reconciled here."""
        return [s for s in (self.symbols or self.watch) if market_types([s]) == ["linear"]]

    async def refresh_positions(self) -> dict[str, float] | None:
        """Replace `venue_positions` with the venue's net position for each contract symbol
        (0.0 when flat). ccxt's unified position: `contracts` x `contractSize`, `side` long/short."""
        symbols = self.contract_symbols()
        if not symbols or not self.exchange.has.get("fetchPositions"):
            self.venue_positions = None
            return None
        found = dict.fromkeys(symbols, 0.0)
        rows = []
        for sym in symbols:  # one symbol a call: Bybit refuses a list of several
            rows += await call_with_retry(lambda sym=sym: self.exchange.fetch_positions([sym]), self.policy)
        for p in rows:
            if p.get("symbol") not in found:
                continue
            size = float(p.get("contracts") or 0.0) * float(p.get("contractSize") or 1.0)
            found[p["symbol"]] += -size if p.get("side") == "short" else size  # hedge mode: both legs net
        self.venue_positions = found
        return found

    def positions(self) -> dict[str, float] | None:
        """Executor contract: the venue's positions as last fetched (start / resync)."""
        return None if self.venue_positions is None else dict(self.venue_positions)

    async def drain(self) -> None:
        """Wait for every order request in flight (tests, and a clean shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        await self.drain()
        if self.exchange is not None:
            ex, self.exchange = self.exchange, None
            await ex.close()

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- the Executor contract -------------------------------------------------------------------
    def submit(self, order: Order) -> None:
        self._spawn(self._place(order))

    def cancel(self, client_id: str) -> bool:
        if client_id not in self.open:
            return False
        self._spawn(self._cancel(client_id))
        return True

    def open_ids(self) -> set[str]:
        return set(self.open)

    # --- venue calls -----------------------------------------------------------------------------
    async def _place(self, order: Order) -> None:
        import ccxt

        otype, params = order_request(order)
        try:
            # never retried: a timed-out create may have reached the venue; poll()/refresh_open() finds it
            placed = await self.exchange.create_order(order.symbol, otype, order.side, order.amount,
                                                      order.price if otype == "limit" else None, params)
        except ccxt.BaseError as exc:
            reason = self.clean(f"{self.exchange_id} refused the order: {type(exc).__name__}: {exc}")
            self.errors.append(reason)
            if self.sink is not None:
                self.sink.report_status(order.client_id, OrderStatus.REJECTED, reason)
            return
        asked = {"symbol": order.symbol, "side": order.side, "type": otype, "amount": order.amount,
                 "price": order.price, "filled": 0.0}
        settled = await self._settled(placed, asked, can_rest=order.type is not OrderType.MARKET)
        self._apply(order.client_id, await self._with_trades(order.client_id, settled))

    async def _settled(self, answer: dict, asked: dict, can_rest: bool = True) -> dict:
        """The venue's full view of an order whose answer leaves it unknown, fetched once, straight
        away: one answered with ids only (Bybit v5 acknowledges create and amend so: no status, amount
        or fills), or one that cannot rest (`can_rest` False: a market order) answered as open, as
        Binance's ACK answers even a market order that filled on arrival. If that fetch fails, the
        answer (for ids only, `asked`: what we sent, as an open order) stands until poll() fetches it."""
        import ccxt

        status = answer.get("status")
        if status is not None and (can_rest or status != "open"):
            return answer
        try:
            return await call_with_retry(lambda: self.exchange.fetch_order(answer["id"], asked["symbol"]), self.policy)
        except (ccxt.BaseError, CredentialsRefused) as exc:
            self.errors.append(self.clean(f"fetch {answer['id']}: {type(exc).__name__}: {exc}"))
            if status is not None:
                return answer
            return {**asked, "id": answer["id"], "clientOrderId": answer.get("clientOrderId"), "status": "open"}

    async def _with_trades(self, client_id: str, venue: dict) -> dict:
        """`venue` with its trades when it filled more than was reported and its answer does not list the
        trades for that: Binance USDⓈ-M orders and a Binance spot order query carry no fills (only the
        FULL answer to a spot create lists them), Bybit v5 orders carry totals and a fee only. The trades
        are fetched by order id (fetch_my_trades, kept only if ccxt says they are that order's), one
        call, and only then. If they cannot be had, the answer stands (its fill is reported at the
        average price) and the error is kept."""
        import ccxt

        filled = self._carried.get(client_id, 0.0) + float(venue.get("filled") or 0.0)
        new, tol = filled - self._reported.get(client_id, 0.0), _tol(filled)
        if new <= tol or not self.exchange.has.get("fetchMyTrades"):
            return venue
        owed = max(self._unmatched.get((client_id, str(venue["id"])), 0.0), 0.0)
        if sum(float(t["amount"]) for t in self._new_trades(client_id, venue)) - owed >= new - tol:
            return venue  # the answer lists them (Binance spot's FULL answer)
        try:
            trades = await call_with_retry(
                lambda: self.exchange.fetch_my_trades(venue["symbol"], params={"orderId": venue["id"]}), self.policy)
        except (ccxt.BaseError, CredentialsRefused) as exc:
            self.errors.append(self.clean(f"trades of {client_id}: {type(exc).__name__}: {exc}"))
            return venue
        return {**venue, "trades": [t for t in trades if t.get("order") == venue["id"]]}

    async def _cancel(self, client_id: str) -> None:
        import ccxt

        venue = self.open[client_id]
        try:
            await call_with_retry(lambda: self.exchange.cancel_order(venue["id"], venue["symbol"]), self.policy)
        except ccxt.OrderNotFound:
            pass  # already gone at the venue: closed there, which is what we wanted
        except ccxt.BaseError as exc:
            self.errors.append(self.clean(f"cancel {client_id}: {type(exc).__name__}: {exc}"))
            return
        self.open.pop(client_id, None)
        if self.sink is not None:
            self.sink.report_status(client_id, OrderStatus.CANCELLED, "cancelled at the exchange")

    def amend(self, client_id: str, *, price: float | None = None, amount: float | None = None) -> bool:
        """Executor contract: start changing an open order at the venue; False if it is not open here.
        `amount` is the order's new TOTAL amount (what was filled stays filled)."""
        if client_id not in self.open:
            return False
        self._spawn(self._amend(client_id, price, amount))
        return True

    async def amend_now(self, client_id: str, *, amount: float | None = None, price: float | None = None) -> dict:
        """Change an open order's amount and/or price at the venue now; returns the venue's new order.
        The client id is kept (the replacing order carries it), so the order manager's record stays
        the same order. Raises KeyError for an order not open here, ccxt errors as they come."""
        venue = self.open[client_id]
        done = self._carried.get(client_id, 0.0) + float(venue.get("filled") or 0.0)
        total = amount if amount is not None else self._carried.get(client_id, 0.0) + float(venue["amount"])
        replaces = self._amend_replaces(venue["symbol"])
        # rounded: 0.03 - 0.01 is 0.019999999999999997 in floats, which ccxt truncates to the step (0.01999)
        sent = round(total - done, 12) if replaces else total
        new_price = price if price is not None else venue["price"]
        new = await self.exchange.edit_order(venue["id"], venue["symbol"], venue["type"], venue["side"],
                                             sent, new_price, {"clientOrderId": client_id})
        new = await self._settled(new, {**venue, "amount": sent, "price": new_price})
        if replaces:
            # the replacing venue order starts at 0 filled: what the old one filled is carried over
            self._report_fills(client_id, venue)
            self._carried[client_id] = done
        self._apply(client_id, await self._with_trades(client_id, new))
        return new

    def _amend_replaces(self, symbol: str) -> bool:
        """Whether an amend cancels the order and places a new one whose fills start at 0 (Binance spot's
        cancelReplace, sent the remaining amount) rather than changing it in place, fills kept and the
        amount its new total (Bybit v5 amend, Binance futures)."""
        market = self.exchange.markets.get(symbol) or {}
        return self.exchange_id.startswith("binance") and bool(market.get("spot"))

    async def _amend(self, client_id: str, price: float | None, amount: float | None) -> None:
        import ccxt

        venue = self.open.get(client_id)
        if venue is None:
            return
        try:
            new = await self.amend_now(client_id, amount=amount, price=price)
        except ccxt.BaseError as exc:
            reason = self.clean(f"amend refused by {self.exchange_id}: {type(exc).__name__}: {exc}")
            self.errors.append(reason)
            if self.sink is not None and hasattr(self.sink, "report_amend"):
                self.sink.report_amend(client_id, venue.get("price"),
                                       self._carried.get(client_id, 0.0) + float(venue["amount"]), reason)
            await self._refetch(client_id, venue)  # refused because it closed meanwhile? find out
            return
        if self.sink is not None and hasattr(self.sink, "report_amend"):
            self.sink.report_amend(client_id, new.get("price"), self._carried.get(client_id, 0.0) + float(new["amount"]))

    async def _refetch(self, client_id: str, venue: dict) -> None:
        import ccxt

        try:
            latest = await call_with_retry(lambda: self.exchange.fetch_order(venue["id"], venue["symbol"]), self.policy)
        except ccxt.BaseError as exc:
            self.errors.append(self.clean(f"fetch {client_id}: {type(exc).__name__}: {exc}"))
            return
        self._apply(client_id, await self._with_trades(client_id, latest))

    async def resync(self) -> None:
        """After a reconnect: the venue's open orders again; ours that closed while we were away are
        fetched one by one so their fills and final status are reported before reconcile runs."""
        before = {cid: v for cid, v in self.open.items() if self._ours(cid)}
        await self.refresh_open()
        for cid, venue in before.items():
            if cid not in self.open:
                await self._refetch(cid, venue)
        await self.refresh_positions()  # after the fills above, so like is compared with like

    async def poll(self) -> None:
        """Fetch each open order of ours and report fills and closes that happened at the venue."""
        for cid, venue in list(self.open.items()):
            if not self._ours(cid):
                continue  # venue orders we do not know are for reconcile to surface, not ours to track
            latest = await call_with_retry(lambda v=venue: self.exchange.fetch_order(v["id"], v["symbol"]), self.policy)
            self._apply(cid, await self._with_trades(cid, latest))

    def _ours(self, client_id: str) -> bool:
        return self.sink is not None and client_id in getattr(self.sink, "orders", {})

    # --- venue order -> reports ------------------------------------------------------------------
    def _apply(self, client_id: str, venue: dict) -> None:
        status = venue.get("status")
        if status == "open":
            self.open[client_id] = venue
        else:
            self.open.pop(client_id, None)
        self._report_fills(client_id, venue)
        if status in _CLOSED and self.sink is not None:
            self.sink.report_status(client_id, _CLOSED[status], f"{status} at the exchange")

    def _report_fills(self, client_id: str, venue: dict) -> None:
        """Report what `venue` (plus what replaced orders filled) shows filled beyond what was reported:
        each of its trades not reported before as its own fill, oldest first, as long as their total
        stays within the order's `filled` (a trade made after the order was read waits for the next
        poll); what the trades do not account for, as one fill at the average price. A trade that such
        a fill already covered (its trades could not be had then) is skipped when it shows up later."""
        if self.sink is None:
            return
        done = self._reported.get(client_id, 0.0)
        filled = self._carried.get(client_id, 0.0) + float(venue.get("filled") or 0.0)
        room, tol = filled - done, _tol(filled)
        if room <= tol:
            return
        quote = (self.exchange.markets.get(venue["symbol"]) or {}).get("quote")
        seen = self._trade_ids.setdefault(client_id, set())
        key = (client_id, str(venue["id"]))
        owed = self._unmatched.get(key, 0.0)
        for t in self._new_trades(client_id, venue):
            amount = float(t["amount"])
            if owed > tol:  # reported already, in a fill at the average price
                seen.add(str(t["id"]))
                owed -= amount
                continue
            if amount > room + tol:
                break  # traded after the order was read: the next poll shows it in `filled`
            seen.add(str(t["id"]))
            self.sink.report_fill(self._fill(client_id, venue, t["price"], amount, t.get("fee"), t.get("timestamp"),
                                             t["id"], t.get("takerOrMaker"), quote))
            if (t.get("fee") or {}).get("cost") is not None:
                self._fees[key] = self._fees.get(key, 0.0) + float(t["fee"]["cost"])
            room -= amount
        if room > tol:  # only totals known: one fill for the rest at the average price
            price = venue.get("average") or venue.get("price")
            self.sink.report_fill(self._fill(client_id, venue, price, room, self._fee_increment(client_id, venue),
                                             venue.get("lastTradeTimestamp"), f"{venue['id']}-{filled:g}", None, quote))
            owed += room
        self._unmatched[key] = owed
        self._reported[client_id] = filled

    def _new_trades(self, client_id: str, venue: dict) -> list[dict]:
        """The trades `venue` lists (from its answer, or fetched) that are this order's and not yet
        accounted for, oldest first; trades without an id cannot be told apart and are left out."""
        seen = self._trade_ids.get(client_id, set())
        trades = [t for t in venue.get("trades") or [] if t.get("id") is not None and t.get("amount") is not None
                  and t.get("order") in (None, venue["id"]) and str(t["id"]) not in seen]
        return sorted(trades, key=lambda t: t.get("timestamp") or 0)

    def _fee_increment(self, client_id: str, venue: dict) -> dict | None:
        """The part of a venue order's cumulative fee (ccxt's order `fee`; Bybit v5 has no per-trade
        detail in an order) not reported yet (by earlier fills, from trades or totals), for a fill known
        by totals only."""
        fee = venue.get("fee") or {}
        if fee.get("cost") is None:
            return None
        key = (client_id, str(venue["id"]))
        paid = self._fees.get(key, 0.0)
        self._fees[key] = max(paid, float(fee["cost"]))
        return {"cost": max(float(fee["cost"]) - paid, 0.0), "currency": fee.get("currency")}

    def _fill(self, client_id, venue, price, amount, fee, ts, trade_id, liquidity, quote) -> Fill:
        cost = 0.0
        if fee and fee.get("cost") is not None:
            # fees in quote count as is, in base at the fill price; other assets (BNB) are not quote
            if fee.get("currency") == quote:
                cost = float(fee["cost"])
            elif fee.get("currency") == (self.exchange.markets.get(venue["symbol"]) or {}).get("base"):
                cost = float(fee["cost"]) * float(price)
        return Fill(client_id, venue["symbol"], venue["side"], int(ts or venue.get("timestamp") or now_ms()),
                    float(price), float(amount), cost, "maker" if liquidity == "maker" else "taker",
                    f"{self.exchange_id}:{trade_id}" if trade_id else "")
