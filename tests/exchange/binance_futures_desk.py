"""A Binance USDⓈ-M futures order desk (one-way mode) for the local REST server: create, modify,
cancel and query orders, the account's trades, and the net position each fill moves, so the live
executor runs the real ccxt binance client against something that keeps state, positions included.

Recorded payloads in ../shared/data/exchange-payloads/binance are the templates; the fields that
depend on the request or the desk's state are filled in, every other field stays as recorded:
- order rows (POST/PUT/DELETE/GET /fapi/v1/order, GET /fapi/v1/openOrders, a list of rows as
  nautilus/http_futures_account_orders.json shows): nautilus/crate_futures_order_response.json;
- GET /fapi/v1/userTrades: the first row of nautilus/http_futures_account_trades.json;
- GET /fapi/v3/positionRisk: the v3 BTCUSDT row of ccxt's recorded fetchPositions
  (ccxt/ccxt_static_response_binance_subset.json; the nautilus position-risk files are the v2 shape,
  which ccxt 4.5 no longer asks for). Its initial and maintenance margin keep the recorded ratios to
  the notional and its break-even price is the entry moved by the taker rate, as recorded (67445.9 x
  1.0005). The desk keeps no wallet, so liquidationPrice is "0" (Binance's value when there is none)
  and the open-order margin fields stay as recorded;
- fee rates: nautilus/http_futures_wallet_commission_rate_{btcusdt,ethusdt}.json (taker for what fills
  on arrival, maker for a resting order that fills later);
- `last_price`, also the mark price: nautilus/http_futures_market_premium_index.json's mark price at
  BTCUSDT's recorded 0.01 tick (the recorded 24h ticker's last price, 4.000002, is an API-doc
  placeholder below BTCUSDT's recorded minimum price of 556.72). Decimals follow the recorded
  exchangeInfo (cryptofeed/BINANCE_FUTURES.0): pricePrecision 2, quantityPrecision 3.
Not recorded, so built as Binance's USDⓈ-M API docs describe:
- GET /fapi/v1/leverageBracket: a list of `{"symbol", "brackets": [...]}`, each symbol given the
  docs' example bracket (bracket 1, initialLeverage 75, notionalCap 10000, notionalFloor 0,
  maintMarginRatio 0.0065, cum 0);
- errors, from Binance's futures error-code list: -2013 "Order does not exist." (query), -2011
  "Unknown order sent." (cancel), -5027 "No need to modify the order."; a modify of an order that is
  not open answers -2013 (which of the two Binance sends there is not documented);
- newOrderRespType: RESULT answers the order as matching left it, ACK (Binance's default) as it was
  accepted (NEW, nothing filled, even for a market order that filled at once). `ack_only` answers
  ACK whatever was asked, to test that a fill the answer does not show is found later;
- PUT /fapi/v1/order modifies in place: same orderId, `quantity` is the new total and what filled
  stays filled; a modified limit that now crosses fills at once, as a taker.
v3 positionRisk lists the symbols with a position or open orders only. Market orders, and limits that
cross, fill at once at `last_price`; an IOC/FOK limit that does not cross, and a GTX (post-only) one
that would, expire; other limits rest until `fill()`. `seed()` places a resting order and
`web_trade()` a filled one, the way the web UI or another session would.
"""

from __future__ import annotations

import copy
import json
import time

from tests.exchange.recordings import PAYLOADS

NAUTILUS = PAYLOADS / "binance" / "nautilus"
CCXT = PAYLOADS / "binance" / "ccxt" / "ccxt_static_response_binance_subset.json"
OPEN = ("NEW", "PARTIALLY_FILLED")
#: GET /fapi/v1/leverageBracket, the USDⓈ-M docs' example bracket (not recorded)
DOC_BRACKET = {"bracket": 1, "initialLeverage": 75, "notionalCap": 10000, "notionalFloor": 0,
               "maintMarginRatio": 0.0065, "cum": 0}


def _template(name: str) -> object:
    return json.loads((NAUTILUS / name).read_text(encoding="utf-8"))


def _now() -> int:
    return int(time.time() * 1000)


def _px(x: float) -> str:
    return f"{x:.2f}"


def _qty(x: float) -> str:
    return f"{x:.3f}"


def _dec(x: float) -> str:
    return f"{round(x, 8) + 0.0:.8f}"  # + 0.0: never "-0.00000000"


def _trim(x: float) -> str:
    """An entry price as Binance writes it: no trailing zeros ("67445.9")."""
    return f"{x:.8f}".rstrip("0").rstrip(".")


def _error(code: int, msg: str) -> tuple[int, dict]:
    return 400, {"code": code, "msg": msg}


class BinanceFuturesDesk:
    def __init__(self, last_price: float | None = None, ack_only: bool = False) -> None:
        mark = float(_template("http_futures_market_premium_index.json")["markPrice"])
        self.last_price = round(mark, 2) if last_price is None else last_price
        self.ack_only = ack_only
        self.orders: dict[int, dict] = {}  # orderId -> the order row as GET /fapi/v1/order shows it
        self.trades: list[dict] = []  # the account's trades, as GET /fapi/v1/userTrades shows them
        #: symbol -> (signed positionAmt, entryPrice): one-way mode, positionSide BOTH
        self.positions: dict[str, tuple[float, float]] = {}
        self.next_id = 4_000_000
        self.next_trade = 700_000
        self.order_t = _template("crate_futures_order_response.json")
        self.trade_t = _template("http_futures_account_trades.json")[0]
        recorded = json.loads(CCXT.read_text(encoding="utf-8"))["methods"]["fetchPositions"]
        self.position_t = next(e["httpResponse"][0] for e in recorded if e["input"] == [["BTC/USDT:USDT"]])
        notional = float(self.position_t["notional"])
        self.im_rate = float(self.position_t["initialMargin"]) / notional
        self.mm_rate = float(self.position_t["maintMargin"]) / notional
        self.fees: dict[str, tuple[float, float]] = {}  # symbol -> (taker, maker)
        for name in ("btcusdt", "ethusdt"):
            r = _template(f"http_futures_wallet_commission_rate_{name}.json")
            self.fees[r["symbol"]] = (float(r["takerCommissionRate"]), float(r["makerCommissionRate"]))

    # --- state -----------------------------------------------------------------------------------
    def seed(self, symbol: str, side: str, qty: float, price: float, client_id: str) -> dict:
        """An order placed elsewhere (web UI, another session): a resting limit, unknown to us."""
        return self._new({"symbol": symbol, "side": side, "type": "LIMIT", "quantity": _qty(qty),
                          "price": _px(price), "timeInForce": "GTC", "newClientOrderId": client_id})

    def web_trade(self, symbol: str, side: str, qty: float) -> dict:
        """Someone trades on the web UI: a market order fills at `last_price` and moves the position
        behind our back."""
        return self._new({"symbol": symbol, "side": side, "type": "MARKET", "quantity": _qty(qty)})

    def fill(self, order_id: int, qty: float | None = None) -> dict:
        """A resting order trades at its limit price (all that is left, or `qty` of it), as a maker."""
        order = self.orders[int(order_id)]
        left = float(order["origQty"]) - float(order["executedQty"])
        self._execute(order, left if qty is None else qty, float(order["price"]), maker=True)
        return order

    def open_orders(self, symbol: str | None = None) -> list[dict]:
        return [o for o in self.orders.values() if o["status"] in OPEN and symbol in (None, o["symbol"])]

    def position(self, symbol: str) -> float:
        """The signed positionAmt the venue holds for `symbol`."""
        return self.positions.get(symbol, (0.0, 0.0))[0]

    def _find(self, q: dict) -> dict | None:
        if q.get("orderId"):
            return self.orders.get(int(q["orderId"]))
        cid = q.get("origClientOrderId")
        return next((o for o in self.orders.values() if cid and o["clientOrderId"] == cid), None)

    def _crosses(self, o: dict) -> bool:
        if o["type"] == "MARKET":
            return True
        price = float(o["price"])
        return price >= self.last_price if o["side"] == "BUY" else price <= self.last_price

    def _new(self, q: dict) -> dict:
        """Place an order; returns the answer newOrderRespType asks for (see the module docstring)."""
        now = _now()
        oid = self.next_id
        self.next_id += 1
        otype, side = q["type"].upper(), q["side"].upper()
        o = copy.deepcopy(self.order_t)
        o.update(orderId=oid, symbol=q["symbol"], status="NEW", clientOrderId=q.get("newClientOrderId") or f"web_{oid}",
                 price=_px(float(q["price"])) if otype != "MARKET" else "0", avgPrice=_px(0), origQty=_qty(float(q["quantity"])),
                 executedQty=_qty(0), cumQuote=_px(0), timeInForce=q.get("timeInForce", "GTC"), type=otype, origType=otype,
                 reduceOnly=str(q.get("reduceOnly", "false")).lower() == "true", side=side, time=now, updateTime=now)
        self.orders[oid] = o
        accepted = copy.deepcopy(o)
        crosses = self._crosses(o)
        if (o["timeInForce"] == "GTX" and crosses) or (o["timeInForce"] in ("IOC", "FOK") and not crosses):
            o.update(status="EXPIRED", updateTime=_now())
        elif crosses:
            self._execute(o, float(o["origQty"]), self.last_price, maker=False)
        if self.ack_only or q.get("newOrderRespType", "ACK") != "RESULT":
            return accepted
        return copy.deepcopy(o)

    def _execute(self, o: dict, qty: float, price: float, maker: bool) -> None:
        """`qty` of order `o` trades at `price`: the order's totals, a trade row and the position move."""
        now = _now()
        done = float(o["executedQty"]) + qty
        quote = float(o["cumQuote"]) + qty * price
        o.update(status="FILLED" if done >= float(o["origQty"]) - 1e-12 else "PARTIALLY_FILLED", executedQty=_qty(done),
                 cumQuote=_dec(quote), avgPrice=_dec(quote / done), updateTime=now)
        pnl = self._move(o["symbol"], qty if o["side"] == "BUY" else -qty, price)
        self.next_trade += 1
        commission = qty * price * self.fees[o["symbol"]][1 if maker else 0]
        self.trades.append(dict(copy.deepcopy(self.trade_t), symbol=o["symbol"], id=self.next_trade, orderId=o["orderId"],
                                side=o["side"], price=_px(price), qty=_qty(qty), realizedPnl=_dec(pnl), marginAsset="USDT",
                                quoteQty=_dec(qty * price), commission=_dec(commission), commissionAsset="USDT", time=now,
                                positionSide="BOTH", buyer=o["side"] == "BUY", maker=maker))

    def _move(self, symbol: str, signed: float, price: float) -> float:
        """Net one-way position: adding keeps a size-weighted entry, reducing keeps it, flipping starts
        a new one at `price`. Returns the PnL the reduced part realised."""
        size, entry = self.positions.get(symbol, (0.0, 0.0))
        new = size + signed
        closed = min(abs(signed), abs(size)) if size and (size > 0) != (signed > 0) else 0.0
        pnl = closed * (price - entry) * (1.0 if size > 0 else -1.0)
        if abs(new) < 1e-12:
            self.positions[symbol] = (0.0, 0.0)
        elif size == 0.0 or (size > 0) != (new > 0):
            self.positions[symbol] = (new, price)
        elif abs(new) > abs(size):
            self.positions[symbol] = (new, (abs(size) * entry + abs(signed) * price) / abs(new))
        else:
            self.positions[symbol] = (new, entry)
        return pnl

    def _modify(self, o: dict, q: dict) -> tuple[int, dict]:
        """PUT /fapi/v1/order: in place, `quantity` the new total, fills kept (module docstring)."""
        qty, price = float(q["quantity"]), float(q["price"])
        if _qty(qty) == o["origQty"] and _px(price) == o["price"]:
            return _error(-5027, "No need to modify the order.")
        o.update(origQty=_qty(qty), price=_px(price), updateTime=_now())
        if self._crosses(o):
            self._execute(o, qty - float(o["executedQty"]), self.last_price, maker=False)
        return 200, copy.deepcopy(o)

    # --- replies ---------------------------------------------------------------------------------
    def _position_row(self, symbol: str) -> dict:
        amt, entry = self.positions.get(symbol, (0.0, 0.0))
        notional = amt * self.last_price
        taker = self.fees[symbol][0]
        return dict(copy.deepcopy(self.position_t), symbol=symbol, positionAmt=_qty(amt), entryPrice=_trim(entry) if amt else "0.0",
                    breakEvenPrice=f"{entry * (1 + taker if amt > 0 else 1 - taker):.5f}" if amt else "0.0",
                    markPrice=_dec(self.last_price), unRealizedProfit=_dec((self.last_price - entry) * amt if amt else 0.0),
                    liquidationPrice="0", notional=_dec(notional), initialMargin=_dec(abs(notional) * self.im_rate),
                    positionInitialMargin=_dec(abs(notional) * self.im_rate), maintMargin=_dec(abs(notional) * self.mm_rate),
                    updateTime=_now() if amt else 0)

    def _position_risk(self, q: dict) -> list[dict]:
        held = {s for s, (amt, _) in self.positions.items() if amt} | {o["symbol"] for o in self.open_orders()}
        return [self._position_row(s) for s in sorted(held) if q.get("symbol") in (None, s)]

    def _user_trades(self, q: dict) -> list[dict]:
        return copy.deepcopy([t for t in self.trades if t["symbol"] == q["symbol"]
                              and (not q.get("orderId") or t["orderId"] == int(q["orderId"]))])

    # --- HTTP --------------------------------------------------------------------------------------
    def answer(self, method: str, path: str, q: dict) -> tuple[int, object] | None:
        if path == "/fapi/v1/order":
            if method == "POST":
                return 200, self._new(q)
            order = self._find(q)
            if method == "GET":
                return (200, copy.deepcopy(order)) if order is not None else _error(-2013, "Order does not exist.")
            if method == "PUT":
                if order is None or order["status"] not in OPEN:
                    return _error(-2013, "Order does not exist.")
                return self._modify(order, q)
            if method == "DELETE":
                if order is None or order["status"] not in OPEN:
                    return _error(-2011, "Unknown order sent.")
                order.update(status="CANCELED", updateTime=_now())
                return 200, copy.deepcopy(order)
        if path == "/fapi/v1/openOrders" and method == "GET":
            return 200, copy.deepcopy(self.open_orders(q.get("symbol")))
        if path == "/fapi/v1/userTrades" and method == "GET":
            return 200, self._user_trades(q)
        if path == "/fapi/v3/positionRisk" and method == "GET":
            return 200, self._position_risk(q)
        if path == "/fapi/v1/leverageBracket" and method == "GET":
            return 200, [{"symbol": s, "brackets": [dict(DOC_BRACKET)]} for s in self.fees]
        return None
