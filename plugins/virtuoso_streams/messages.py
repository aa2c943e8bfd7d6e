"""Typed wire messages for Binance and Bybit v5 public streams, decoded with msgspec.

The decoders run in lax mode (`strict=False`) so the exchanges' quoted numbers ("0.35130000") become
floats inside msgspec's C decoder: per design, a Python `float()` per level costs more than the book
update itself. Envelopes keep the payload as `msgspec.Raw` and the stream/topic name picks the typed
decoder, so one unknown stream never breaks the others. Neighbours: binance.py and bybit.py use these;
localbook.py applies the decoded levels.
"""

from __future__ import annotations

import msgspec

Level = tuple[float, float]
#: a side's levels decoded straight into a tuple: the BookDelta record takes it as is, no copy
Levels = tuple[Level, ...]


# --- Binance (combined stream `{"stream": ..., "data": ...}`) -------------------------------------


class BinanceEnvelope(msgspec.Struct):
    stream: str = ""
    data: msgspec.Raw = msgspec.Raw(b"")
    # replies to SUBSCRIBE requests and errors carry these instead
    result: object = None
    id: int | None = None


class BinanceDepth(msgspec.Struct, gc=False):
    # gc=False: never part of a cycle, so the collector need not track one per message (hot path)
    s: str
    U: int
    u: int
    b: Levels
    a: Levels
    E: int = 0
    T: int = 0
    pu: int | None = None  # futures only: the previous event's u


class BinanceDepthSnapshot(msgspec.Struct):
    lastUpdateId: int
    bids: list[Level]
    asks: list[Level]
    E: int = 0
    T: int = 0


class BinanceAggTrade(msgspec.Struct):
    s: str
    p: float
    q: float
    T: int
    m: bool  # buyer is the maker -> the aggressor sold
    a: int = 0
    t: int = 0  # `trade` streams carry t instead of a
    E: int = 0


class BinanceKlineBody(msgspec.Struct):
    t: int
    T: int
    i: str
    o: float
    c: float
    h: float
    l: float  # noqa: E741 - the exchange's field name
    v: float
    n: int
    x: bool
    V: float = float("nan")  # taker buy base volume


class BinanceKline(msgspec.Struct):
    s: str
    k: BinanceKlineBody
    E: int = 0


class BinanceMarkPrice(msgspec.Struct):
    s: str
    p: float  # mark
    E: int
    r: float | None = None  # funding rate (USDⓈ-M; COIN-M delivery contracts send "", unsupported)
    T: int | None = None  # next funding time
    i: float | None = None  # index


class BinanceForceOrderBody(msgspec.Struct):
    s: str
    S: str
    q: float
    p: float
    T: int
    ap: float | None = None
    z: float | None = None


class BinanceForceOrder(msgspec.Struct):
    o: BinanceForceOrderBody
    E: int = 0


# --- Bybit v5 public (`{"topic": ..., "type": ..., "ts": ..., "data": ...}`) ---------------------


class BybitEnvelope(msgspec.Struct):
    topic: str = ""
    type: str = ""
    ts: int = 0
    data: msgspec.Raw = msgspec.Raw(b"")
    cts: int | None = None
    # control replies: {"success": true, "op": "subscribe"|"pong", "ret_msg": ...}
    op: str = ""
    success: bool | None = None
    ret_msg: str = ""


class BybitBook(msgspec.Struct, gc=False):
    s: str
    b: Levels
    a: Levels
    u: int
    seq: int = 0


class BybitTrade(msgspec.Struct):
    T: int
    s: str
    S: str  # taker side "Buy"/"Sell"
    v: float
    p: float
    i: str = ""


class BybitTicker(msgspec.Struct, omit_defaults=True):
    """Linear tickers arrive as a snapshot then partial deltas: every field is optional and merged."""

    symbol: str
    lastPrice: float | None = None
    markPrice: float | None = None
    indexPrice: float | None = None
    bid1Price: float | None = None
    ask1Price: float | None = None
    highPrice24h: float | None = None
    lowPrice24h: float | None = None
    volume24h: float | None = None
    price24hPcnt: float | None = None
    fundingRate: float | None = None
    nextFundingTime: int | None = None
    openInterest: float | None = None
    openInterestValue: float | None = None


class BybitKline(msgspec.Struct):
    start: int
    end: int
    interval: str
    open: float
    close: float
    high: float
    low: float
    volume: float
    confirm: bool
    timestamp: int = 0


class BybitLiquidation(msgspec.Struct):
    T: int
    s: str
    S: str  # side of the liquidated POSITION: "Buy" = a long was liquidated
    v: float
    p: float


class BinanceDepthFrame(msgspec.Struct, gc=False):
    """A whole combined-stream depth frame, decoded in one pass (the hot path)."""

    stream: str
    data: BinanceDepth


class BybitBookFrame(msgspec.Struct, gc=False):
    """A whole orderbook topic frame, decoded in one pass (the hot path)."""

    topic: str
    type: str
    data: BybitBook
    ts: int = 0
    cts: int | None = None


def _lax(tp):
    return msgspec.json.Decoder(tp, strict=False)


decode_binance_envelope = msgspec.json.Decoder(BinanceEnvelope).decode
decode_binance_depth_frame = _lax(BinanceDepthFrame).decode
decode_binance_depth = _lax(BinanceDepth).decode
decode_binance_snapshot = _lax(BinanceDepthSnapshot).decode
decode_binance_trade = _lax(BinanceAggTrade).decode
decode_binance_kline = _lax(BinanceKline).decode
decode_binance_mark = _lax(BinanceMarkPrice).decode
decode_binance_force = _lax(BinanceForceOrder).decode

decode_bybit_envelope = msgspec.json.Decoder(BybitEnvelope).decode
decode_bybit_book_frame = _lax(BybitBookFrame).decode
decode_bybit_book = _lax(BybitBook).decode
decode_bybit_trades = _lax(list[BybitTrade]).decode
decode_bybit_ticker = _lax(BybitTicker).decode
decode_bybit_klines = _lax(list[BybitKline]).decode
decode_bybit_liquidations = _lax(list[BybitLiquidation]).decode

DecodeError = msgspec.DecodeError  # ValidationError is a subclass: wrong shapes are decode errors too
