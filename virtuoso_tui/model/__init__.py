"""Plain data types shared by every stage: market data, trading records, analysis results.

Value types are frozen, slotted dataclasses with int64-millisecond UTC timestamps and float prices
and sizes (ccxt's conventions). Symbols are ccxt unified (`BTC/USDT`, `BTC/USDT:USDT`). Nothing here
computes; MarketState (virtuoso_tui.market) holds the live state these records update.
"""

from virtuoso_tui.model.market import (
    TIMEFRAMES,
    BookDelta,
    BookSnapshot,
    Candle,
    Funding,
    Liquidation,
    LongShortRatio,
    MarketEvent,
    OpenInterest,
    Side,
    Ticker,
    Trade,
    timeframe_ms,
)
from virtuoso_tui.model.trading import (
    Alert,
    Fill,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    Position,
    RiskDecision,
)

__all__ = [
    "TIMEFRAMES", "Alert", "BookDelta", "BookSnapshot", "Candle", "Fill", "Funding", "Liquidation",
    "LongShortRatio", "MarketEvent", "OpenInterest", "Order", "OrderIntent", "OrderStatus",
    "OrderType", "Position", "RiskDecision", "Side", "Ticker", "Trade", "timeframe_ms",
]
