"""A Binance spot order desk for the local REST server: create, amend (cancelReplace), cancel and
fetch orders, and the account's trades, so the live executor runs the real ccxt client against
something that keeps state.

Replies are the recorded Binance payloads in ../shared/data/exchange-payloads/binance/nautilus
(new-order FULL response, cancel response, order query, GET /api/v3/myTrades) used as templates: the
fields that depend on the request or the desk's state (ids, symbol, side, type, quantities, prices,
status, fills, commissions, times) are filled in, every other field stays as recorded. Market orders,
and limit orders that cross, fill at once at `last_price` (the recorded BTCUSDT 24h ticker's last
price by default), as takers; other limit orders rest until `fill()`, which trades them as makers.
Every fill is one trade, charged FEE_RATE of its notional (Binance spot's standard rate, maker and
taker alike) in the quote asset, or with `bnb_price` set in BNB at that price in quote (Binance's BNB
discount not modelled), to test a fee in an asset that is neither base nor quote. An order query's
updateTime is its last fill's time. `seed()` places an order the way another session or the web UI
would, to test reconciliation.
"""

from __future__ import annotations

import copy
import json
import time

from tests.exchange.recordings import PAYLOADS

NAUTILUS = PAYLOADS / "binance" / "nautilus"
FEE_RATE = 0.001


def _template(name: str) -> dict:
    return json.loads((NAUTILUS / name).read_text(encoding="utf-8"))


def _num(x: float) -> str:
    return f"{x:.8f}"


class BinanceOrderDesk:
    def __init__(self, last_price: float = 73369.84, bnb_price: float | None = None) -> None:
        self.last_price = last_price
        self.bnb_price = bnb_price
        self.orders: dict[int, dict] = {}
        self.trades: list[dict] = []  # the account's trades, as GET /api/v3/myTrades shows them
        self.updated: dict[int, int] = {}  # orderId -> when it last traded (the order query's updateTime)
        self.next_id = 1000
        self.next_trade = 5000
        self.new_t = _template("crate_spot_new_order_full_response.json")
        self.cancel_t = _template("crate_spot_cancel_order_response.json")
        self.query_t = _template("crate_spot_order_response.json")
        self.trade_t = _template("crate_spot_account_trades_response.json")[0]

    # --- state -----------------------------------------------------------------------------------
    def seed(self, symbol: str, side: str, qty: float, price: float, client_id: str) -> dict:
        """An order placed elsewhere (web UI, another session): resting limit, unknown to us."""
        return self._new({"symbol": symbol, "side": side, "type": "LIMIT", "quantity": str(qty),
                          "price": str(price), "newClientOrderId": client_id, "timeInForce": "GTC"})

    def fill(self, order_id: int, qty: float | None = None) -> dict:
        """A resting order trades at its limit price (all that is left, or `qty` of it), as a maker."""
        order = self.orders[int(order_id)]
        left = float(order["origQty"]) - float(order["executedQty"])
        self._execute(order, left if qty is None else qty, float(order["price"]), maker=True)
        return order

    def open_orders(self, symbol: str | None = None) -> list[dict]:
        return [o for o in self.orders.values() if o["status"] in ("NEW", "PARTIALLY_FILLED")
                and (symbol is None or o["symbol"] == symbol)]

    def _find(self, q: dict) -> dict | None:
        if "orderId" in q:
            return self.orders.get(int(q["orderId"]))
        cid = q.get("origClientOrderId")
        return next((o for o in self.orders.values() if o["clientOrderId"] == cid), None)

    def _new(self, q: dict) -> dict:
        now = int(time.time() * 1000)
        oid = self.next_id
        self.next_id += 1
        qty = float(q["quantity"])
        side, otype = q["side"].upper(), q["type"].upper()
        price = float(q.get("price", 0) or 0)
        crosses = otype == "MARKET" or (side == "BUY" and price >= self.last_price) or (side == "SELL" and price <= self.last_price)
        r = copy.deepcopy(self.new_t)
        r.update(symbol=q["symbol"], orderId=oid, clientOrderId=q.get("newClientOrderId") or f"desk{oid}",
                 transactTime=now, workingTime=now, price=_num(price), origQty=_num(qty), side=side, type=otype,
                 timeInForce=q.get("timeInForce", "GTC"), status="NEW", executedQty=_num(0), cummulativeQuoteQty=_num(0),
                 fills=[])
        if crosses:
            r["fills"] = [self._execute(r, qty, self.last_price, maker=False)]
        self.orders[oid] = r
        return r

    def _execute(self, order: dict, qty: float, price: float, maker: bool) -> dict:
        """`qty` of `order` trades at `price`: the order's totals and a trade row. Returns the fill as
        a FULL new-order answer lists it."""
        now = int(time.time() * 1000)
        done = float(order["executedQty"]) + qty
        order.update(status="FILLED" if done >= float(order["origQty"]) - 1e-12 else "PARTIALLY_FILLED",
                     executedQty=_num(done), cummulativeQuoteQty=_num(float(order["cummulativeQuoteQty"]) + qty * price))
        self.updated[order["orderId"]] = now
        self.next_trade += 1
        fee = qty * price * FEE_RATE
        commission, asset = (fee, "USDT") if self.bnb_price is None else (fee / self.bnb_price, "BNB")
        fill = dict(self.new_t["fills"][0], price=_num(price), qty=_num(qty), commission=_num(commission),
                    commissionAsset=asset, tradeId=self.next_trade)
        self.trades.append(dict(copy.deepcopy(self.trade_t), symbol=order["symbol"], id=self.next_trade,
                                orderId=order["orderId"], price=_num(price), qty=_num(qty), quoteQty=_num(qty * price),
                                commission=_num(commission), commissionAsset=asset, time=now,
                                isBuyer=order["side"] == "BUY", isMaker=maker))
        return fill

    def _cancel(self, order: dict, new_client_id: str | None = None) -> dict:
        order["status"] = "CANCELED"
        r = copy.deepcopy(self.cancel_t)
        r.update({k: order[k] for k in ("symbol", "orderId", "price", "origQty", "executedQty",
                                        "cummulativeQuoteQty", "timeInForce", "type", "side")})
        r.update(status="CANCELED", origClientOrderId=order["clientOrderId"],
                 clientOrderId=new_client_id or f"cancel{order['orderId']}", transactTime=int(time.time() * 1000))
        return r

    def _query(self, order: dict) -> dict:
        r = copy.deepcopy(self.query_t)
        r.update({k: order[k] for k in ("symbol", "orderId", "clientOrderId", "price", "origQty", "executedQty",
                                        "cummulativeQuoteQty", "status", "timeInForce", "type", "side")})
        r.update(time=order["transactTime"], updateTime=self.updated.get(order["orderId"], order["transactTime"]),
                 workingTime=order["transactTime"],
                 isWorking=order["status"] in ("NEW", "PARTIALLY_FILLED"))
        return r

    # --- HTTP --------------------------------------------------------------------------------------
    def answer(self, method: str, path: str, q: dict) -> tuple[int, object] | None:
        unknown = (400, {"code": -2011, "msg": "Unknown order sent."})
        if path == "/api/v3/order":
            if method == "POST":
                return 200, self._new(q)
            order = self._find(q)
            if order is None:
                return unknown
            if method == "DELETE":
                if order["status"] not in ("NEW", "PARTIALLY_FILLED"):
                    return unknown
                return 200, self._cancel(order, q.get("newClientOrderId"))
            return 200, self._query(order)
        if path == "/api/v3/myTrades" and method == "GET":
            return 200, copy.deepcopy([t for t in self.trades if t["symbol"] == q["symbol"]
                                       and (not q.get("orderId") or t["orderId"] == int(q["orderId"]))])
        if path == "/api/v3/openOrders" and method == "GET":
            return 200, [self._query(o) for o in self.open_orders(q.get("symbol"))]
        if path == "/api/v3/order/cancelReplace" and method == "POST":
            order = self._find({"orderId": q["cancelOrderId"]} if "cancelOrderId" in q
                               else {"origClientOrderId": q.get("cancelOrigClientOrderId")})
            if order is None or order["status"] not in ("NEW", "PARTIALLY_FILLED"):
                return 400, {"code": -2022, "msg": "Order cancel-replace failed.",
                             "data": {"cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED"}}
            cancelled = self._cancel(order)
            return 200, {"cancelResult": "SUCCESS", "newOrderResult": "SUCCESS", "cancelResponse": cancelled,
                         "newOrderResponse": self._new(q)}
        return None
