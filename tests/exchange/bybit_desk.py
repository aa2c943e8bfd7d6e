"""A Bybit v5 order desk for linear perpetuals (one-way mode) for the local REST server: create,
amend, cancel and query orders, the account's executions, and the net position each fill moves, so
the live executor runs the real ccxt bybit client against something that keeps state, positions included.

Recorded payloads in ../shared/data/exchange-payloads/bybit/nautilus are the templates; the fields
that depend on the request or the desk's state are filled in, every other field stays as recorded:
- /v5/order/realtime: http_get_orders_realtime.json (envelope and order row);
- /v5/position/list: http_get_positions.json, its BTCUSDT "Buy" row for a held position and its flat
  SOLUSDT row (side "", size "0") for a flat one;
- /v5/account/info: http_get_account_info.json as recorded (a unified account);
- /v5/execution/list: http_get_executions.json (envelope, and its first row, a maker BTCUSDT fill, for
  every execution). Each fill is one execution: ids, prices, quantities, fee, time, maker flag and the
  position it closed are filled in; markPrice and indexPrice are `last_price` (the desk has one price);
  `seq` counts up from the recorded one;
- fee rates: http_get_fee_rate.json (taker for orders that fill on arrival, maker for resting ones).
Not recorded, so built as Bybit's v5 API docs describe:
- /v5/order/create, /v5/order/amend, /v5/order/cancel: `{"retCode":0,"retMsg":"OK","result":
  {"orderId":..,"orderLinkId":..},"retExtInfo":{},"time":..}`; an order not open answers retCode
  110001 "Order does not exist.";
- /v5/user/query-api: the docs' example reply with `uta` 1, as the recorded account is unified (ccxt
  reads `unified`/`uta` to choose its unified-account code paths);
- `result.category` on order lists, which the capture lacks and the live API always sends, and
  `cumFeeDetail` on order rows, which the live API sends for unified accounts (ccxt's recorded linear
  order in ../ccxt carries it) and from which ccxt reads an order's fee.
/v5/order/realtime follows the docs: with orderId or orderLinkId it returns that order whatever its
status (the recent-orders window); otherwise open orders only (openOnly=0, the default) or the closed
ones (openOnly=1). /v5/execution/list answers the account's executions newest first (as Bybit
sorts them), filtered by symbol, orderId, orderLinkId and execType, at most `limit` (default 50, at
most 100) with no further page (nextPageCursor ""). Market orders, and limits that cross, fill at once at `last_price` (the recorded
BTCUSDT linear ticker's last price by default); other limits rest until `fill()`. `seed()` places a
resting order and `web_trade()` a filled one, the way the web UI or another session would.
"""

from __future__ import annotations

import copy
import json
import time
import uuid

from tests.exchange.recordings import PAYLOADS

NAUTILUS = PAYLOADS / "bybit" / "nautilus"
OPEN = ("New", "PartiallyFilled")
NOT_FOUND = (200, {"retCode": 110001, "retMsg": "Order does not exist.", "result": {}, "retExtInfo": {}})

#: GET /v5/user/query-api, the v5 docs' example (not recorded); uta 1: a unified trading account
QUERY_API = {
    "retCode": 0, "retMsg": "",
    "result": {"id": "13770661", "note": "XXXXXX", "apiKey": "XXXXXX", "readOnly": 0, "secret": "",
               "permissions": {"ContractTrade": ["Order", "Position"], "Spot": ["SpotTrade"],
                               "Wallet": ["AccountTransfer", "SubMemberTransfer"], "Options": ["OptionsTrade"],
                               "Derivatives": ["DerivativesTrade"], "CopyTrading": ["CopyTrading"],
                               "BlockTrade": [], "Exchange": ["ExchangeHistory"], "NFT": ["NFTQueryProductList"]},
               "ips": ["*"], "type": 1, "deadlineDay": 83, "expiredAt": "2023-05-15T03:21:05Z",
               "createdAt": "2022-10-16T02:24:40Z", "unified": 0, "uta": 1, "userID": 24600000, "inviterID": 0,
               "vipLevel": "No VIP", "mktMakerLevel": "0", "affiliateID": 0, "rsaPublicKey": "", "isMaster": True},
    "retExtInfo": {}, "time": 1676891757649,
}


def _template(name: str) -> dict:
    return json.loads((NAUTILUS / name).read_text(encoding="utf-8"))


def _num(x: float) -> str:
    """Bybit's decimal strings: no exponent, no trailing zeros."""
    text = f"{x:.8f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def _now() -> int:
    return int(time.time() * 1000)


def _ack(order: dict) -> tuple[int, dict]:
    """Bybit's reply to create/amend/cancel: the order's ids only (v5 docs)."""
    return 200, {"retCode": 0, "retMsg": "OK", "result": {"orderId": order["orderId"], "orderLinkId": order["orderLinkId"]},
                 "retExtInfo": {}, "time": _now()}


class BybitOrderDesk:
    def __init__(self, last_price: float = 51444.4) -> None:
        self.last_price = last_price
        self.orders: dict[str, dict] = {}  # orderId -> the order row as /v5/order/realtime shows it
        #: symbol -> (signed net size, average entry price): one-way mode, positionIdx 0
        self.positions: dict[str, tuple[float, float]] = {}
        self.next_id = 1
        self.realtime_t = _template("http_get_orders_realtime.json")
        self.positions_t = _template("http_get_positions.json")
        rows = self.positions_t["result"]["list"]
        self.held_t = next(p for p in rows if p["symbol"] == "BTCUSDT")
        self.flat_t = next(p for p in rows if p["side"] == "")
        self.account_info = _template("http_get_account_info.json")
        self.fees = {f["symbol"]: (float(f["takerFeeRate"]), float(f["makerFeeRate"]))
                     for f in _template("http_get_fee_rate.json")["result"]["list"]}
        self.executions_t = _template("http_get_executions.json")
        self.execution_t = self.executions_t["result"]["list"][0]
        self.next_seq = int(self.execution_t["seq"])
        self.executions: list[dict] = []  # the account's executions, oldest first

    # --- state -----------------------------------------------------------------------------------
    def seed(self, symbol: str, side: str, qty: float, price: float, link_id: str) -> dict:
        """An order placed elsewhere (web UI, another session): a resting limit, unknown to us."""
        return self._new({"symbol": symbol, "side": side, "orderType": "Limit", "qty": _num(qty),
                          "price": _num(price), "orderLinkId": link_id, "category": "linear"})

    def web_trade(self, symbol: str, side: str, qty: float) -> dict:
        """Someone trades on the web UI: a market order without a link id fills at `last_price` and
        moves the position behind our back."""
        return self._new({"symbol": symbol, "side": side, "orderType": "Market", "qty": _num(qty), "category": "linear"})

    def fill(self, order_id: str, qty: float | None = None) -> dict:
        """A resting order trades at its limit price (all that is left, or `qty` of it), as a maker."""
        order = self.orders[order_id]
        self._execute(order, float(order["leavesQty"]) if qty is None else qty, float(order["price"]), maker=True)
        return order

    def open_orders(self, symbol: str | None = None) -> list[dict]:
        return [o for o in self.orders.values() if o["orderStatus"] in OPEN and symbol in (None, o["symbol"])]

    def position(self, symbol: str) -> float:
        """The signed net size the venue holds for `symbol`."""
        return self.positions.get(symbol, (0.0, 0.0))[0]

    def _find(self, q: dict) -> dict | None:
        if q.get("orderId"):
            return self.orders.get(str(q["orderId"]))
        link = q.get("orderLinkId")
        return next((o for o in self.orders.values() if link and o["orderLinkId"] == link), None)

    def _new(self, q: dict) -> dict:
        now = _now()
        oid = str(uuid.UUID(int=self.next_id))
        self.next_id += 1
        market = q["orderType"] == "Market"
        qty = float(q["qty"])
        price = self.last_price if market else float(q["price"])
        o = copy.deepcopy(self.realtime_t["result"]["list"][0])
        o.update(orderId=oid, orderLinkId=q.get("orderLinkId", ""), symbol=q["symbol"], side=q["side"],
                 orderType=q["orderType"], qty=q["qty"], price=q["price"] if not market else _num(price),
                 # Bybit runs a market order as IOC (as its recorded linear market order shows)
                 timeInForce="IOC" if market else q.get("timeInForce", "GTC"),
                 reduceOnly=bool(q.get("reduceOnly", False)), lastPriceOnCreated=_num(self.last_price),
                 leavesQty=q["qty"], leavesValue=_num(qty * price), createdTime=str(now), updatedTime=str(now),
                 cumFeeDetail={})
        self.orders[oid] = o
        crosses = market or (q["side"] == "Buy" and price >= self.last_price) or (q["side"] == "Sell" and price <= self.last_price)
        if crosses:
            self._execute(o, qty, self.last_price, maker=False)
        return o

    def _execute(self, o: dict, qty: float, price: float, maker: bool) -> None:
        """`qty` of order `o` trades at `price`: the order's totals, an execution row and the symbol's
        position move."""
        rate = self.fees[o["symbol"]][1 if maker else 0]
        done = float(o["cumExecQty"]) + qty
        value = float(o["cumExecValue"]) + qty * price
        fee = float(o["cumExecFee"]) + qty * price * rate
        leaves = float(o["qty"]) - done
        o.update(orderStatus="Filled" if leaves <= 1e-12 else "PartiallyFilled", cumExecQty=_num(done),
                 cumExecValue=_num(value), cumExecFee=_num(fee), cumFeeDetail={"USDT": _num(fee)},
                 avgPrice=_num(value / done), leavesQty=_num(max(leaves, 0.0)),
                 leavesValue=_num(max(leaves, 0.0) * float(o["price"])), updatedTime=str(_now()))
        closed = self._move(o["symbol"], qty if o["side"] == "Buy" else -qty, price)
        self.next_seq += 1
        self.executions.append(dict(
            copy.deepcopy(self.execution_t), symbol=o["symbol"], orderId=o["orderId"], orderLinkId=o["orderLinkId"],
            side=o["side"], orderPrice=o["price"], orderQty=o["qty"], leavesQty=o["leavesQty"], orderType=o["orderType"],
            execFee=_num(qty * price * rate), execId=str(uuid.uuid4()), execPrice=_num(price), execQty=_num(qty),
            execType="Trade", execValue=_num(qty * price), execTime=o["updatedTime"], isMaker=maker, feeRate=_num(rate),
            markPrice=_num(self.last_price), indexPrice=_num(self.last_price), closedSize=_num(closed), seq=self.next_seq))

    def _move(self, symbol: str, signed: float, price: float) -> float:
        """Net one-way position: adding keeps a size-weighted entry, reducing keeps it, flipping
        starts a new one at `price`. Returns the size the move closed."""
        size, avg = self.positions.get(symbol, (0.0, 0.0))
        new = size + signed
        closed = min(abs(signed), abs(size)) if size and (size > 0) != (signed > 0) else 0.0
        if abs(new) < 1e-12:
            self.positions[symbol] = (0.0, 0.0)
        elif size == 0.0 or (size > 0) != (new > 0):
            self.positions[symbol] = (new, price)
        elif abs(new) > abs(size):
            self.positions[symbol] = (new, (abs(size) * avg + abs(signed) * price) / abs(new))
        else:
            self.positions[symbol] = (new, avg)
        return closed

    def _cancel(self, o: dict) -> None:
        o.update(orderStatus="Cancelled", cancelType="CancelByUser", updatedTime=str(_now()))

    def _amend(self, o: dict, q: dict) -> None:
        """In place, as Bybit amends: same orderId; `qty` is the order's new total quantity."""
        if q.get("qty") is not None:
            o["qty"] = q["qty"]
        if q.get("price") is not None:
            o["price"] = q["price"]
        leaves = float(o["qty"]) - float(o["cumExecQty"])
        o.update(leavesQty=_num(leaves), leavesValue=_num(leaves * float(o["price"])), updatedTime=str(_now()))
        price = float(o["price"])
        if (o["side"] == "Buy" and price >= self.last_price) or (o["side"] == "Sell" and price <= self.last_price):
            self._execute(o, leaves, self.last_price, maker=False)

    # --- replies ---------------------------------------------------------------------------------
    def _orders_reply(self, rows: list[dict], category: str) -> dict:
        r = copy.deepcopy(self.realtime_t)
        r["result"].update(list=copy.deepcopy(rows), nextPageCursor="", category=category)
        r["time"] = _now()
        return r

    def _position_row(self, symbol: str) -> dict:
        size, avg = self.positions.get(symbol, (0.0, 0.0))
        if size == 0.0:
            return dict(copy.deepcopy(self.flat_t), symbol=symbol)
        return dict(copy.deepcopy(self.held_t), symbol=symbol, side="Buy" if size > 0 else "Sell", size=_num(abs(size)),
                    avgPrice=_num(avg), positionValue=_num(abs(size) * avg), updatedTime=str(_now()))

    def _positions_reply(self, q: dict) -> dict:
        symbols = [q["symbol"]] if q.get("symbol") else [s for s, (size, _) in self.positions.items() if size != 0.0]
        r = copy.deepcopy(self.positions_t)
        r["result"].update(list=[self._position_row(s) for s in symbols], nextPageCursor="", category=q.get("category", "linear"))
        r["time"] = _now()
        return r

    def _executions_reply(self, q: dict) -> dict:
        rows = [e for e in self.executions[::-1] if q.get("symbol") in (None, e["symbol"])
                and q.get("orderId") in (None, e["orderId"]) and q.get("orderLinkId") in (None, e["orderLinkId"])
                and q.get("execType") in (None, e["execType"])]
        r = copy.deepcopy(self.executions_t)
        limit = min(int(q.get("limit", 50)), 100)
        r["result"].update(list=copy.deepcopy(rows[:limit]), nextPageCursor="", category=q.get("category", "linear"))
        r["time"] = _now()
        return r

    # --- HTTP --------------------------------------------------------------------------------------
    def answer(self, method: str, path: str, q: dict) -> tuple[int, object] | None:
        if path == "/v5/order/create" and method == "POST":
            return _ack(self._new(q))
        if path in ("/v5/order/cancel", "/v5/order/amend") and method == "POST":
            order = self._find(q)
            if order is None or order["orderStatus"] not in OPEN:
                return NOT_FOUND
            if path.endswith("cancel"):
                self._cancel(order)
            else:
                self._amend(order, q)
            return _ack(order)
        if path == "/v5/order/realtime" and method == "GET":
            category = q.get("category", "linear")
            if q.get("orderId") or q.get("orderLinkId"):
                found = self._find(q)
                return 200, self._orders_reply([found] if found is not None else [], category)
            closed = str(q.get("openOnly", "0")) == "1"
            rows = [o for o in self.orders.values() if (o["orderStatus"] not in OPEN) == closed
                    and q.get("symbol") in (None, o["symbol"])]
            return 200, self._orders_reply(rows[::-1], category)  # newest first, as Bybit sorts
        if path == "/v5/execution/list" and method == "GET":
            return 200, self._executions_reply(q)
        if path == "/v5/position/list" and method == "GET":
            return 200, self._positions_reply(q)
        if path == "/v5/user/query-api" and method == "GET":
            return 200, QUERY_API
        if path == "/v5/account/info" and method == "GET":
            return 200, self.account_info
        return None
