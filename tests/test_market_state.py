"""MarketState: dispatch and touched kinds, has(), the sentiment series, klines taking over from
trade-built candles, late and foreign records, bounded memory after 10x capacity, and the import
boundary (no pandas, no textual on the hot path)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from virtuoso_tui.market import MarketState, TimeSeries, TradeWindow
from virtuoso_tui.model import (
    BookDelta,
    BookSnapshot,
    Candle,
    Funding,
    Liquidation,
    LongShortRatio,
    OpenInterest,
    Ticker,
    Trade,
)
from virtuoso_tui.model.market import SourceHealth

S = "BTC/USDT:USDT"
M = 60_000


def test_every_record_kind_dispatches_and_reports_what_it_touched():
    st = MarketState(S)
    assert not st.has("trades") and not st.has("candles") and st.last_price is None and st.now is None
    assert st.apply(Ticker(S, 500, last=99.0, bid=98.9, ask=99.1)) == {"ticker"}
    assert st.last_price == 99.0 and st.ticker.bid == 98.9
    assert st.apply(Trade(S, 1_000, 100.0, 0.5, "buy")) == {"trades"}
    assert st.last_price == 100.0 and st.now == 1_000
    assert st.apply(Ticker(S, 1_100, last=98.0)) == {"ticker"} and st.last_price == 100.0  # trades win
    assert st.apply(BookSnapshot(S, 1_200, ((99.0, 1.0),), ((101.0, 1.0),), 5)) == {"book"}
    assert st.apply(BookDelta(S, 1_300, ((99.5, 1.0),), (), 6, 5)) == {"book"}
    assert st.apply(BookDelta(S, 1_301, ((99.5, 3.0),), (), 6, 5)) == frozenset()  # stale: nothing changed
    assert st.apply(BookDelta(S, 1_400, ((99.6, 1.0),), (), 9, 8)) == {"book"} and not st.book.valid  # gap
    assert st.apply(Funding(S, 1_500, 0.0001, next_funding_ts=28_800_000, mark=100.1)) == {"funding"}
    assert st.apply(OpenInterest(S, 1_600, 1234.0)) == {"open_interest"}
    assert st.apply(Liquidation(S, 1_700, "sell", 99.0, 2.0)) == {"liquidations"}
    assert st.apply(Liquidation(S, 1_700, "buy", 99.1, 1.0)) == {"liquidations"}  # same ms: both kept
    assert st.apply(LongShortRatio(S, 1_800, 1.25)) == {"long_short"}
    assert st.now == 1_800
    for kind in ("ticker", "trades", "book", "funding", "open_interest", "liquidations", "long_short"):
        assert st.has(kind), kind
    assert not st.has("candles") and not st.has("candles:1m")
    assert st.funding.rate.tolist() == [0.0001] and st.funding.mark.tolist() == [100.1]
    assert st.last_funding.next_funding_ts == 28_800_000
    assert math.isnan(st.open_interest.value[0]) and st.open_interest.amount.tolist() == [1234.0]
    assert st.liquidations.side.tolist() == [-1.0, 1.0] and st.liquidations.ts.tolist() == [1_700, 1_700]
    assert st.long_short.ratio.tolist() == [1.25] and math.isnan(st.long_short.long_share[0])
    assert st.apply(OpenInterest(S, 1_000, 1.0)) == frozenset() and len(st.open_interest) == 1  # older: dropped


def test_foreign_symbol_and_non_records_fail_clearly():
    st = MarketState(S)
    with pytest.raises(ValueError, match="ETH/USDT"):
        st.apply(Trade("ETH/USDT", 1, 1.0, 1.0, "buy"))
    with pytest.raises(TypeError, match="SourceHealth"):
        st.apply(SourceHealth("sim", 1, True))
    with pytest.raises(ValueError, match="side"):
        st.apply(Trade(S, 1, 1.0, 1.0, "long"))  # type: ignore[arg-type]
    assert not st.has("trades") and len(st.trades) == 0


@pytest.mark.parametrize("tfs", [("5m", "1m"), ("1m", "7m"), ("1m", "1m"), ()])
def test_bad_timeframes_rejected(tfs):
    with pytest.raises(ValueError, match="timeframe"):
        MarketState(S, timeframes=tfs)


def test_late_trades_are_dropped_and_counted():
    st = MarketState(S, timeframes=("1m",))
    st.apply(Trade(S, 10_000, 1.0, 1.0, "buy"))
    assert st.apply(Trade(S, 9_999, 2.0, 1.0, "buy")) == frozenset()
    assert st.late_trades == 1 and len(st.trades) == 1 and st.last_price == 1.0
    assert st.apply(Trade(S, 10_000, 3.0, 1.0, "sell")) == {"trades"}  # same ms is in order


def test_base_klines_take_over_from_trades_and_direct_higher_klines_stop_aggregation():
    st = MarketState(S, timeframes=("1m", "5m", "15m"))
    st.apply(Trade(S, 0, 10.0, 1.0, "buy"))
    st.apply(Candle(S, "1m", 0, 10, 11, 9, 10.5, 7.0))  # the venue's kline: the base now comes from klines
    st.apply(Trade(S, 61_000, 12.0, 100.0, "buy"))  # fills the trade window only
    assert len(st.trades) == 2 and st.candles["1m"].volume.tolist() == [7.0]
    assert st.candles["1m"].forming is None
    # a direct 15m kline: the 15m series is no longer built from base candles
    assert st.apply(Candle(S, "15m", 0, 1, 2, 0.5, 1.5, 99.0)) == {"candles:15m"}
    for m in range(1, 15):
        touched = st.apply(Candle(S, "1m", m * M, 10, 11, 9, 10.5, 7.0))
        assert "candles:15m" not in touched
    assert st.candles["5m"].volume.tolist() == [35.0, 35.0, 35.0]
    assert st.candles["15m"].volume.tolist() == [99.0]
    assert st.apply(Candle(S, "1m", 20 * M, 1, 1, 1, 1, 1.0, closed=False)) == frozenset()
    assert st.candles["1m"].forming.ts == 20 * M
    assert st.apply(Candle(S, "4h", 0, 1, 1, 1, 1, 1.0)) == frozenset()  # not tracked: ignored
    assert st.has("candles:5m") and st.has("candles")


def test_trade_window_columns_and_since():
    w = TradeWindow(capacity=4)
    for i, side in enumerate(["buy", "sell", None, "buy", "sell"]):
        w.append(Trade(S, 1_000 * i, 100.0 + i, 1.0 + i, side))
    assert len(w) == 4 and w.total == 5
    assert w.ts.tolist() == [1_000, 2_000, 3_000, 4_000] and w.side.tolist() == [-1, 0, 1, -1]
    assert w.since(2_500) == 2 and w.since(0) == 0 and w.since(10_000) == 4
    assert float((w.side * w.amount)[w.since(2_000):].sum()) == 0 * 3.0 + 4.0 - 5.0  # trades at 2s (unknown), 3s (buy), 4s (sell)
    with pytest.raises(ValueError, match="side"):
        w.append(Trade(S, 5_000, 1.0, 1.0, "up"))  # type: ignore[arg-type]


def test_time_series_errors_and_attributes():
    ts = TimeSeries(("rate",), capacity=3)
    assert ts.append(1, rate=0.1) and ts.append(2) and math.isnan(ts.rate[-1])
    with pytest.raises(ValueError, match="unknown columns"):
        ts.append(3, oops=1.0)
    with pytest.raises(AttributeError, match="no column"):
        ts.volume  # noqa: B018
    with pytest.raises(ValueError, match="implicit"):
        TimeSeries(("ts", "x"))


def test_memory_is_bounded_after_ten_times_capacity():
    st = MarketState(S, capacity=100, trade_capacity=500, series_capacity=50, max_levels=50)
    rng = np.random.default_rng(0)
    st.apply(BookSnapshot(S, 0, tuple((100.0 - i * 0.1, 1.0) for i in range(50)),
                          tuple((100.1 + i * 0.1, 1.0) for i in range(50)), 0))

    def feed(n_minutes, start):
        for k in range(start, start + n_minutes):
            t = k * M
            st.apply(Trade(S, t, 100.0, 1.0, "buy"))
            st.apply(Trade(S, t + 30_000, 100.05, 1.0, "sell"))
            st.apply(BookDelta(S, t, ((round(99.0 - rng.integers(0, 100) * 0.1, 1), 2.0),),
                               ((round(101.0 + rng.integers(0, 100) * 0.1, 1), 2.0),), k + 1, k))
            st.apply(OpenInterest(S, t, 1.0))
            st.apply(Funding(S, t, 0.0001))

    feed(100, 0)
    first = st.memory_bytes()
    feed(1000 - 100, 100)  # 10x the candle capacity, 4x the trade capacity
    assert len(st.candles["1m"]) == 100 and st.candles["1m"].total == 999
    assert len(st.trades) == 500 and st.trades.total == 2000
    assert len(st.open_interest) == 50 and st.book.levels("bid") <= 50 and st.book.levels("ask") <= 50
    assert st.memory_bytes() <= first * 1.05  # ring buffers never grow; the book stays within max_levels
    assert st.book.valid


def test_market_package_imports_neither_pandas_nor_textual():
    code = "import sys, virtuoso_tui.market; print(sorted(m for m in ('pandas', 'textual') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_corrected_base_kline_rebuilds_higher_candles_instead_of_adding_twice():
    st = MarketState(S, timeframes=("1m", "5m"))
    for m in range(7):
        st.apply(Candle(S, "1m", m * M, 10, 11, 9, 10, 1.0, trades=1))
    five = st.candles["5m"]
    assert five.volume.tolist() == [5.0] and five.forming.volume == 2.0
    # the venue re-sends minute 6 corrected: the forming 5m is rebuilt, not added to
    assert st.apply(Candle(S, "1m", 6 * M, 10, 15, 9, 14, 3.0, trades=2)) == {"candles:1m"}
    f = five.forming
    assert (f.high, f.close, f.volume, f.trades) == (15, 14, 4.0, 3)
    st.apply(Candle(S, "1m", 9 * M, 10, 11, 9, 10, 1.0, trades=1))  # closes the second 5m
    assert five.volume.tolist() == [5.0, 5.0]
    # and minute 9 corrected after its 5m closed: the newest closed 5m is rebuilt in place
    assert st.apply(Candle(S, "1m", 9 * M, 10, 11, 2, 3, 2.0, trades=1)) == {"candles:1m", "candles:5m"}
    assert five.volume.tolist() == [5.0, 6.0] and five.low.tolist() == [9.0, 2.0] and five.close[-1] == 3.0
    assert len(five) == 2
