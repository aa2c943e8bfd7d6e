"""Market data records as sources emit them and MarketState consumes them.

Every record carries `symbol` and `ts` (int ms UTC). `side` on a trade is the AGGRESSOR's side
(the taker): "buy" lifted the ask, "sell" hit the bid. A trade whose aggressor is unknown has
side None and is never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Side = Literal["buy", "sell"]

#: Timeframes Virtuoso understands, in ms. ccxt's spelling.
TIMEFRAMES: dict[str, int] = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "8h": 28_800_000,
    "1d": 86_400_000,
}


def timeframe_ms(timeframe: str) -> int:
    """Length of `timeframe` in milliseconds; a ValueError names the timeframe and the known ones."""
    try:
        return TIMEFRAMES[timeframe]
    except KeyError:
        known = ", ".join(TIMEFRAMES)
        raise ValueError(f"unknown timeframe {timeframe!r} (known: {known})") from None


@dataclass(frozen=True, slots=True)
class Trade:
    symbol: str
    ts: int
    price: float
    amount: float
    side: Side | None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Candle:
    """One closed (or, with `closed=False`, forming) candle.

    `buy_volume` is taker-buy base volume when the source knows it (exchange klines, candles built
    from trades), NaN otherwise. `trades` is the trade count, 0 when unknown.
    """

    symbol: str
    timeframe: str
    ts: int  # open time
    open: float
    high: float
    low: float
    close: float
    volume: float
    buy_volume: float = float("nan")
    trades: int = 0
    closed: bool = True


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """A full L2 book: bids best-first (descending), asks best-first (ascending), (price, size)."""

    symbol: str
    ts: int
    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]
    sequence: int | None = None


@dataclass(frozen=True, slots=True)
class BookDelta:
    """Changed levels; size 0 deletes a level. `prev_sequence` is the sequence the delta follows
    (Binance futures `pu`, or first_update_id-1 style continuity), None when the venue gives none."""

    symbol: str
    ts: int
    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]
    sequence: int | None = None
    prev_sequence: int | None = None


@dataclass(frozen=True, slots=True)
class Ticker:
    symbol: str
    ts: int
    last: float
    bid: float | None = None
    ask: float | None = None
    high_24h: float | None = None
    low_24h: float | None = None
    volume_24h: float | None = None
    change_24h_pct: float | None = None
    mark: float | None = None
    index: float | None = None


@dataclass(frozen=True, slots=True)
class Funding:
    """A funding rate observation (fraction per funding interval, 0.0001 = 0.01%)."""

    symbol: str
    ts: int
    rate: float
    next_funding_ts: int | None = None
    interval_ms: int = 8 * 3_600_000
    mark: float | None = None
    settled: bool = False  # True for a rate applied at a funding time, False for a live estimate


@dataclass(frozen=True, slots=True)
class OpenInterest:
    """Open interest in base units (contracts converted); `value` in quote when given."""

    symbol: str
    ts: int
    amount: float
    value: float | None = None


@dataclass(frozen=True, slots=True)
class Liquidation:
    """A forced order. `side` is the side of the forced ORDER: a long being liquidated sells."""

    symbol: str
    ts: int
    side: Side
    price: float
    amount: float


@dataclass(frozen=True, slots=True)
class LongShortRatio:
    """Accounts long / accounts short (>1: more accounts long)."""

    symbol: str
    ts: int
    ratio: float
    long_share: float | None = None


MarketEvent = Trade | Candle | BookSnapshot | BookDelta | Ticker | Funding | OpenInterest | Liquidation | LongShortRatio


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """A source's connection health, published as an event the UI shows."""

    source: str
    ts: int
    connected: bool
    latency_ms: float | None = None
    messages_per_s: float | None = None
    resyncs: int = 0
    detail: str = ""
    extra: dict = field(default_factory=dict)
