"""Warm-up history: MarketState.backfill loads base candles before the live stream, builds every higher
timeframe from them with the live rules, and the live data carries on across the seam as if it had
all been live. Checked on real BTC-perp 1m candles against pandas resampling of the whole span."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from virtuoso_tui.market.state import MarketState
from virtuoso_tui.model import Trade

SYMBOL = "BTC/USDT:USDT"


@pytest.fixture(scope="module")
def minutes(shared_data):
    frame = pd.read_csv(shared_data / "ohlcv" / "nautilus" / "btc-perp-20211231-20220201_1m.csv")
    stamps = pd.to_datetime(frame["timestamp"], utc=True)
    ts = ((stamps - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)).to_numpy(dtype=np.int64)
    frame = frame.assign(ts=ts)
    return frame.iloc[:6000].reset_index(drop=True)


def _trades_for(row) -> list[Trade]:
    """Four trades that rebuild a 1m candle exactly: open, high, low, close (volume split evenly)."""
    ts, v = int(row.ts), float(row.volume) / 4
    path = [row.open, row.high, row.low, row.close] if row.close >= row.open else [row.open, row.low, row.high, row.close]
    return [Trade(SYMBOL, ts + 1 + 10 * k, float(p), v, "buy" if k % 2 else "sell") for k, p in enumerate(path)]


def _pandas(frame: pd.DataFrame, rule: str) -> pd.DataFrame:
    idx = pd.to_datetime(frame["ts"], unit="ms", utc=True)
    f = frame.set_index(idx)
    out = f.resample(rule, label="left", closed="left").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum", "ts": "count"})
    return out[out["ts"] == pd.Timedelta(rule) // pd.Timedelta("1min")]  # complete buckets only


def test_backfill_then_live_equals_all_along(minutes):
    seam = 3217  # not on an hour boundary: the seam cuts a 5m, 15m and 1h bucket in two
    hist, live = minutes.iloc[:seam], minutes.iloc[seam:]
    state = MarketState(SYMBOL, ("1m", "5m", "15m", "1h"), capacity=8000)
    n = state.backfill(hist.ts.to_numpy(), hist.open, hist.high, hist.low, hist.close, hist.volume)
    assert n == seam
    assert state.last_price == pytest.approx(float(hist.close.iloc[-1]))
    assert state.has("candles")
    for row in live.itertuples():
        for trade in _trades_for(row):
            state.apply(trade)
    state.advance(int(live.ts.iloc[-1]) + 60_000)

    ref1m = minutes
    got = state.candles["1m"]
    assert len(got) == len(ref1m)
    np.testing.assert_array_equal(got.ts, ref1m.ts.to_numpy())
    np.testing.assert_allclose(got.close, ref1m.close.to_numpy(), rtol=0, atol=0)
    np.testing.assert_allclose(got.volume, ref1m.volume.to_numpy(), rtol=1e-12)
    for tf, rule in (("5m", "5min"), ("15m", "15min"), ("1h", "1h")):
        ref = _pandas(minutes, rule)
        series = state.candles[tf]
        ref_ts = ((ref.index - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)).to_numpy(dtype=np.int64)
        # the first bucket is dropped as partial when the data does not start on its boundary
        common = np.intersect1d(series.ts, ref_ts)
        assert len(common) >= len(ref_ts) - 1
        sel_got = np.isin(series.ts, common)
        sel_ref = np.isin(ref_ts, common)
        for col in ("open", "high", "low", "close"):
            np.testing.assert_array_equal(getattr(series, col)[sel_got], ref[col].to_numpy()[sel_ref], err_msg=f"{tf} {col}")
        np.testing.assert_allclose(series.volume[sel_got], ref["volume"].to_numpy()[sel_ref], rtol=1e-12)


def test_backfill_keeps_only_capacity_and_refuses_after_live(minutes):
    state = MarketState(SYMBOL, ("1m", "5m"), capacity=100)
    state.backfill(minutes.ts.to_numpy(), minutes.open, minutes.high, minutes.low, minutes.close, minutes.volume)
    assert len(state.candles["1m"]) == 100
    assert len(state.candles["5m"]) == 100
    assert state.candles["1m"].ts[-1] == minutes.ts.iloc[-1]
    with pytest.raises(RuntimeError, match="before live data"):
        state.backfill(minutes.ts.to_numpy(), minutes.open, minutes.high, minutes.low, minutes.close, minutes.volume)


def test_backfill_rejects_unordered_or_misaligned(minutes):
    state = MarketState(SYMBOL, ("1m", "5m"))
    ts = minutes.ts.to_numpy()[:10].copy()
    with pytest.raises(ValueError, match="increasing time"):
        state.backfill(ts[::-1], *(np.ones(10),) * 5)
    with pytest.raises(ValueError, match="increasing time"):
        state.backfill(ts + 7, *(np.ones(10),) * 5)


def test_sim_warm_up_gives_every_face_a_past():
    from virtuoso_sim.source import SimSource

    source = SimSource([SYMBOL], {"seed": 2, "speed": 0})
    hist = source.candle_history(SYMBOL, "1m", 36_000)
    state = MarketState(SYMBOL, ("1m", "5m", "15m", "1h", "4h"))
    state.backfill(hist["ts"], hist["open"], hist["high"], hist["low"], hist["close"], hist["volume"],
                   buy_volume=hist["buy_volume"])
    assert len(state.candles["4h"]) == 36_000 // 240
    # the history ends where the live market starts, at the live start price
    assert int(hist["ts"][-1]) + 60_000 == source.market.now
    first_trade = next(r for r in source.market.run(60) if isinstance(r, Trade))
    assert abs(first_trade.price / hist["close"][-1] - 1) < 0.002


def test_sim_ticker_24h_window_includes_the_warm_up_history():
    from virtuoso_sim.source import SimSource

    from virtuoso_tui.model import Ticker

    source = SimSource([SYMBOL], {"seed": 2, "speed": 0})
    hist = source.candle_history(SYMBOL, "1m", 3000)
    ticker = next(r for r in source.market.run(5) if isinstance(r, Ticker))
    day_open = float(hist["open"][-1440])
    assert ticker.change_24h_pct == pytest.approx((ticker.last / day_open - 1) * 100, abs=1e-3)
    assert ticker.high_24h >= float(hist["high"][-1440:].max()) - 1e-9
    assert ticker.volume_24h == pytest.approx(float(hist["volume"][-1440:].sum()), rel=1e-3)
