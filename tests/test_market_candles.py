"""Candles: `resample` and the streaming CandleSeries/MarketState candle building, checked against a
hand-worked example, pandas resample computed here independently, Binance's own higher-timeframe
klines, and candles built by freqtrade from the same real trades."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from virtuoso_tui.market import MarketState, candles_from_trades, resample
from virtuoso_tui.market.candles import CandleSeries
from virtuoso_tui.model import Candle, Trade

DATA = Path(__file__).parents[1].parent / "shared" / "data"
M = 60_000
NAN = float("nan")
OHLCV = ("open", "high", "low", "close", "volume")

# minute, open, high, low, close, volume, buy_volume -- minute 7 has no candle (no trades)
HAND = [
    (0, 10, 12, 9, 11, 1, 0.5),
    (1, 11, 13, 10, 12, 2, 1.0),
    (2, 12, 12, 8, 9, 3, 1.5),
    (3, 9, 10, 9, 10, 4, 2.0),
    (4, 10, 11, 10, 10.5, 5, 2.5),
    (5, 10.5, 11, 10, 11, 1, NAN),
    (6, 11, 14, 11, 13, 1, 1.0),
    (8, 13, 13, 7, 8, 2, 0.0),
    (9, 8, 9, 8, 9, 1, 1.0),
    (12, 1, 1, 1, 1, 1, 1.0),
]
# worked by hand: ts, open, high, low, close, volume, buy_volume, candles in the bucket
HAND_5M = [
    (0, 10, 13, 8, 10.5, 15, 7.5, 5),
    (5 * M, 10.5, 14, 7, 9, 5, NAN, 4),  # minute 7 missing; buy volume unknown for minute 5
    (10 * M, 1, 1, 1, 1, 1, 1.0, 1),
]


def hand_arrays():
    a = np.array(HAND, dtype=np.float64)
    return (a[:, 0].astype(np.int64) * M, *a[:, 1:6].T), a[:, 6]


def assert_same(got, want):
    np.testing.assert_array_equal(np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64))


def test_resample_hand_worked_example():
    cols, buy = hand_arrays()
    out = resample(*cols, 5 * M, buy_volume=buy, drop_incomplete=False)
    want = np.array(HAND_5M, dtype=np.float64)
    assert out["ts"].dtype == np.int64 and out["ts"].tolist() == [int(x) for x in want[:, 0]]
    for j, name in enumerate(("open", "high", "low", "close", "volume", "buy_volume"), start=1):
        assert_same(out[name], want[:, j])
    assert out["count"].tolist() == [5, 4, 1] and out["complete"].tolist() == [True, False, False]
    default = resample(*cols, 5 * M)  # drop_incomplete=True: only the full bucket survives
    assert default["ts"].tolist() == [0] and default["close"].tolist() == [10.5]


def test_resample_rejects_bad_input_with_one_clear_error():
    ts = np.array([0, M, 2 * M])
    x = np.ones(3)
    with pytest.raises(ValueError, match="strictly increasing"):
        resample(ts[::-1], x, x, x, x, x, 5 * M)
    with pytest.raises(ValueError, match="whole multiple"):
        resample(ts, x, x, x, x, x, 90_000)
    with pytest.raises(ValueError, match="one length"):
        resample(ts, x[:2], x, x, x, x, 5 * M)
    with pytest.raises(ValueError, match="not aligned"):
        resample(ts + 5, x, x, x, x, x, 5 * M)
    with pytest.raises(ValueError, match="from_ms"):
        resample(ts[:1], x[:1], x[:1], x[:1], x[:1], x[:1], 5 * M)
    empty = resample(ts[:0], x[:0], x[:0], x[:0], x[:0], x[:0], 5 * M)
    assert len(empty["ts"]) == 0 and len(empty["close"]) == 0


def test_streaming_klines_fold_into_higher_timeframes_with_gaps():
    state = MarketState("X/USDT", timeframes=("1m", "5m"))
    touched = []
    for minute, o, h, low, c, v, bv in HAND:
        candle = Candle("X/USDT", "1m", minute * M, o, h, low, c, v, bv, trades=2)
        touched.append(state.apply(candle))
    # the 5m bucket closes with its last minute (4, and 9 even though minute 7 is missing)
    assert touched[4] == {"candles:1m", "candles:5m"} and touched[8] == {"candles:1m", "candles:5m"}
    assert touched[3] == {"candles:1m"} and touched[9] == {"candles:1m"}
    five = state.candles["5m"]
    assert five.ts.tolist() == [0, 5 * M] and five.trades.tolist() == [10, 8]
    for j, name in enumerate(("open", "high", "low", "close", "volume", "buy_volume"), start=1):
        assert_same(getattr(five, name), [row[j] for row in HAND_5M[:2]])
    assert five.forming is not None and five.forming.ts == 10 * M and five.forming.closed is False
    assert state.advance(15 * M - 1) == frozenset()
    assert state.advance(15 * M) == {"candles:5m"}
    assert five.ts.tolist() == [0, 5 * M, 10 * M] and five.forming is None
    assert len(state.candles["1m"]) == len(HAND)  # no invented candle for the empty minutes


def test_candles_built_from_trades_hand_worked():
    state = MarketState("X/USDT", timeframes=("1m", "5m"))
    trades = [
        (0, 100, 1, "buy"), (10_000, 101, 2, "sell"), (59_999, 99, 1, "buy"),  # minute 0
        (60_000, 98, 1, None),  # minute 1: aggressor unknown -> buy volume unknown
        (130_000, 102, 1, "buy"),  # minute 2; minute 3 has no trades
        (250_000, 103, 2, "sell"),  # minute 4
        (310_000, 104, 1, "buy"),  # minute 5 closes minute 4 and with it the 5m bucket
    ]
    out = [state.apply(Trade("X/USDT", ts, p, a, s)) for ts, p, a, s in trades]
    assert out[:3] == [{"trades"}] * 3
    assert out[3] == {"trades", "candles:1m"} and out[6] == {"trades", "candles:1m", "candles:5m"}
    one = state.candles["1m"]
    assert one.ts.tolist() == [0, M, 2 * M, 4 * M]
    assert one.open.tolist() == [100, 98, 102, 103] and one.high.tolist() == [101, 98, 102, 103]
    assert one.low.tolist() == [99, 98, 102, 103] and one.close.tolist() == [99, 98, 102, 103]
    assert one.volume.tolist() == [4, 1, 1, 2] and one.trades.tolist() == [3, 1, 1, 1]
    assert_same(one.buy_volume, [2, NAN, 1, 0])
    five = state.candles["5m"].last
    assert (five.ts, five.open, five.high, five.low, five.close, five.volume, five.trades) == (0, 100, 103, 98, 103, 8, 6)
    assert math.isnan(five.buy_volume)
    forming = state.candles["5m"].forming  # the 5m forming candle includes the 1m forming one
    assert forming.ts == 5 * M and forming.close == 104 and forming.volume == 1
    assert state.advance(6 * M) == {"candles:1m"}
    assert state.advance(10 * M) == {"candles:5m"}
    assert state.candles["5m"].close.tolist() == [103, 104]
    assert state.last_price == 104 and state.now == 10 * M


def test_partial_first_candles_are_dropped_unless_asked():
    trades = [Trade("X/USDT", ts, 1.0, 1.0, "buy") for ts in (30_000, 70_000, 130_000, 301_000)]
    state = MarketState("X/USDT", timeframes=("1m", "5m"))
    for t in trades:
        state.apply(t)
    state.advance(10 * M)
    assert state.candles["1m"].ts.tolist() == [M, 2 * M, 5 * M]  # minute 0 began before the data
    assert state.candles["5m"].ts.tolist() == [5 * M] and state.candles["5m"].dropped_partial == 1
    keep = MarketState("X/USDT", timeframes=("1m", "5m"), keep_partial=True)
    for t in trades:
        keep.apply(t)
    keep.advance(10 * M)
    assert keep.candles["1m"].ts.tolist() == [0, M, 2 * M, 5 * M] and keep.candles["5m"].ts.tolist() == [0, 5 * M]


def test_streaming_equals_batch_on_random_trades():
    rng = np.random.default_rng(7)
    n = 4000
    ts = np.sort(rng.integers(0, 90 * M, n))
    ts[0] = 0
    price = 100 + np.cumsum(rng.normal(0, 0.1, n))
    amount = rng.exponential(1.0, n)
    side = rng.choice([1, -1, 1, -1, 0], n)
    names = {1: "buy", -1: "sell", 0: None}
    state = MarketState("X/USDT", timeframes=("1m", "5m", "15m"), capacity=500)
    for t, p, a, s in zip(ts.tolist(), price.tolist(), amount.tolist(), side.tolist(), strict=True):
        state.apply(Trade("X/USDT", t, p, a, names[s]))
    state.advance(90 * M)
    one = candles_from_trades(ts, price, amount, side, M)
    for tf, ms in (("1m", M), ("5m", 5 * M), ("15m", 15 * M)):
        want = one if ms == M else resample(one["ts"], *(one[k] for k in OHLCV), ms, buy_volume=one["buy_volume"],
                                            trades=one["trades"], from_ms=M, drop_incomplete=False)
        got = state.candles[tf]
        assert got.ts.tolist() == want["ts"].tolist()
        for k in ("open", "high", "low", "close", "trades"):
            assert_same(getattr(got, k), want[k])
        np.testing.assert_allclose(got.volume, want["volume"], rtol=1e-12)
        np.testing.assert_allclose(got.buy_volume, want["buy_volume"], rtol=1e-12)  # NaN where equal_nan
    assert np.isnan(state.candles["1m"].buy_volume).any()  # the unknown sides really were unknown


def test_candle_series_klines_replace_and_stale():
    s = CandleSeries("1m", capacity=10, symbol="X/USDT")
    assert s.append(Candle("X/USDT", "1m", M, 1, 2, 0.5, 1.5, 10))
    assert not s.append(Candle("X/USDT", "1m", M, 1, 2, 0.5, 1.5, 10))  # the same kline re-sent
    assert s.append(Candle("X/USDT", "1m", M, 1, 2, 0.5, 1.7, 11))  # corrected: replaces
    assert not s.append(Candle("X/USDT", "1m", 0, 1, 1, 1, 1, 1))  # older: stale
    assert len(s) == 1 and s.close.tolist() == [1.7] and s.version == 2
    with pytest.raises(ValueError, match="5m candle"):
        s.append(Candle("X/USDT", "5m", 0, 1, 1, 1, 1, 1))
    assert s.set_forming(Candle("X/USDT", "1m", 2 * M, 2, 2, 2, 2, 1, closed=False))
    assert s.forming.ts == 2 * M and not s.set_forming(Candle("X/USDT", "1m", M, 2, 2, 2, 2, 1, closed=False))


def test_capacity_respected_after_ten_times_appends():
    s = CandleSeries("1m", capacity=50)
    for i in range(500):
        s.append(Candle("", "1m", i * M, i, i, i, i, 1))
    assert len(s) == 50 and s.total == 500 and s.ts[0] == 450 * M and s.close[-1] == 499


# -- real data -----------------------------------------------------------------------------------
def _feather(path: Path) -> tuple[np.ndarray, pd.DataFrame]:
    df = pd.read_feather(path)
    return df["date"].dt.tz_convert(None).to_numpy().astype("datetime64[ms]").astype(np.int64), df


def test_nautilus_btc_perp_1m_resampled_matches_pandas():
    df = pd.read_csv(DATA / "ohlcv/nautilus/btc-perp-20211231-20220201_1m.csv", parse_dates=["timestamp"])
    ts = df["timestamp"].to_numpy().astype("datetime64[ms]").astype(np.int64)
    frame = df.set_index("timestamp")[list(OHLCV)]
    for rule, ms in (("5min", 5 * M), ("1h", 60 * M)):
        agg = frame.resample(rule, label="left", closed="left").agg(
            {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
        count = frame["close"].resample(rule, label="left", closed="left").count()
        full = agg[count == ms // M]
        got = resample(ts, *(df[k].to_numpy() for k in OHLCV), ms)
        assert got["ts"].tolist() == full.index.to_numpy().astype("datetime64[ms]").astype(np.int64).tolist()
        for k in ("open", "high", "low", "close"):
            assert_same(got[k], full[k])
        np.testing.assert_allclose(got["volume"], full["volume"], rtol=1e-12)
        assert len(got["ts"]) > 700  # the whole month, not an empty comparison


def test_nautilus_streaming_klines_match_batch():
    df = pd.read_csv(DATA / "ohlcv/nautilus/btc-perp-20211231-20220201_1m.csv", parse_dates=["timestamp"]).iloc[:3000]
    ts = df["timestamp"].to_numpy().astype("datetime64[ms]").astype(np.int64)
    state = MarketState("BTC/USDT:USDT", timeframes=("1m", "5m", "1h"), capacity=5000)
    for row in zip(ts.tolist(), *(df[k].tolist() for k in OHLCV), strict=True):
        state.apply(Candle("BTC/USDT:USDT", "1m", *row))
    for tf, ms in (("5m", 5 * M), ("1h", 60 * M)):
        want = resample(ts, *(df[k].to_numpy() for k in OHLCV), ms)  # complete buckets only
        got = state.candles[tf]
        assert got.ts.tolist() == want["ts"].tolist()  # the partial first hour (23:01 start) is dropped
        for k in ("open", "high", "low", "close"):
            assert_same(getattr(got, k), want[k])
        # streaming adds one candle at a time; numpy's reduceat sums pairwise: last-bit differences
        np.testing.assert_allclose(got.volume, want["volume"], rtol=1e-12)


@pytest.mark.parametrize("tf, ms", [("15m", 15 * M), ("1h", 60 * M), ("4h", 240 * M)])
def test_binance_spot_5m_resampled_matches_binance_klines(tf, ms):
    # Binance fills every 5m period (no gaps in this file), so every bucket of the overlap is complete
    # and must agree with Binance's own klines exactly; no mismatch was found.
    ts5, d5 = _feather(DATA / "ohlcv/binance-spot-2024/BTC_USDT-5m.feather")
    tsx, dx = _feather(DATA / f"ohlcv/binance-spot-2024/BTC_USDT-{tf}.feather")
    got = resample(ts5, *(d5[k].to_numpy() for k in OHLCV), ms)
    common, ia, ib = np.intersect1d(got["ts"], tsx, return_indices=True)
    assert len(common) == len(tsx)  # every Binance kline is covered by complete 5m buckets
    for k in ("open", "high", "low", "close"):
        assert_same(got[k][ia], dx[k].to_numpy()[ib])
    np.testing.assert_allclose(got["volume"][ia], dx["volume"].to_numpy()[ib], rtol=1e-9)


def test_xrp_eth_candles_from_real_trades_match_recorded_1m():
    trades = pd.read_feather(DATA / "trades/freqtrade/XRP_ETH-trades.feather")
    ts1, d1 = _feather(DATA / "ohlcv/freqtrade/XRP_ETH-1m.feather")
    side = np.where(trades["side"] == "buy", 1, -1)
    batch = candles_from_trades(trades["timestamp"].to_numpy(), trades["price"].to_numpy(),
                                trades["amount"].to_numpy(), side, M)
    assert batch["ts"].tolist() == ts1.tolist()  # the same minutes have trades
    for k in ("open", "high", "low", "close"):
        assert_same(batch[k], d1[k])
    np.testing.assert_allclose(batch["volume"], d1["volume"], rtol=1e-9)

    state = MarketState("XRP/ETH", timeframes=("1m", "5m"), capacity=3000, trade_capacity=2000)
    for t, p, a, s in zip(trades["timestamp"].tolist(), trades["price"].tolist(), trades["amount"].tolist(),
                          trades["side"].tolist(), strict=True):
        state.apply(Trade("XRP/ETH", t, p, a, s))
    state.advance(int(ts1[-1]) + M)
    one = state.candles["1m"]
    # the first trade came 11.6 s into the first minute, so that partial minute is dropped
    assert one.ts.tolist() == ts1[1:].tolist()
    for k in ("open", "high", "low", "close"):
        assert_same(getattr(one, k), d1[k].to_numpy()[1:])
    np.testing.assert_allclose(one.volume, d1["volume"].to_numpy()[1:], rtol=1e-9)
    buys = trades[trades["side"] == "buy"].groupby(trades["timestamp"] // M * M)["amount"].sum()
    want_buy = buys.reindex(ts1[1:], fill_value=0.0).to_numpy()
    np.testing.assert_allclose(one.buy_volume, want_buy, rtol=1e-9)
    assert len(state.trades) == 2000 and state.trades.total == len(trades)


def test_resampling_in_steps_equals_resampling_at_once():
    ts5, d5 = _feather(DATA / "ohlcv/binance-spot-2024/BTC_USDT-5m.feather")
    ts5, d5 = ts5[:20_000], d5.iloc[:20_000]
    direct = resample(ts5, *(d5[k].to_numpy() for k in OHLCV), 240 * M)
    q = resample(ts5, *(d5[k].to_numpy() for k in OHLCV), 15 * M)
    h = resample(q["ts"], *(q[k] for k in OHLCV), 60 * M, from_ms=15 * M)
    steps = resample(h["ts"], *(h[k] for k in OHLCV), 240 * M, from_ms=60 * M)
    assert steps["ts"].tolist() == direct["ts"].tolist() and len(direct["ts"]) > 250
    for k in ("open", "high", "low", "close"):
        assert_same(steps[k], direct[k])
    np.testing.assert_allclose(steps["volume"], direct["volume"], rtol=1e-12)
