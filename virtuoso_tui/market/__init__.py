"""MarketState and its stores: ring-buffered candles per timeframe, the L2 order book, the trade
window and the funding / open-interest / liquidation / long-short series (see state.py)."""

from virtuoso_tui.market.book import BookSequenceError, Impact, OrderBook
from virtuoso_tui.market.candles import CandleSeries, candles_from_trades, resample
from virtuoso_tui.market.ringbuffer import RingBuffer
from virtuoso_tui.market.series import TimeSeries
from virtuoso_tui.market.state import MarketState
from virtuoso_tui.market.trades import TradeWindow

__all__ = [
    "BookSequenceError", "CandleSeries", "Impact", "MarketState", "OrderBook", "RingBuffer", "TimeSeries",
    "TradeWindow", "candles_from_trades", "resample",
]
