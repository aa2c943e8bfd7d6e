"""Indicator values against independent references: TA-Lib on real BTC candles (raw values the faces keep
for display must equal a direct talib call on the same log prices to 1e-9), and hand-worked examples
for what TA-Lib lacks (CMF, AO, VWAP, value area, VPIN, imbalance, impact, depth bands, divergence)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import talib
from test_prism_support import SYMBOL, real_candles
from virtuoso_prism.sentiment import SentimentFace
from virtuoso_prism.technical import TechnicalFace, rsi_score
from virtuoso_prism.volume import VolumeFace

from virtuoso_tui.market.state import MarketState
from virtuoso_tui.model.market import Candle
from virtuoso_tui.prism import indicators as ind
from virtuoso_tui.prism.divergence import divergence, pivots
from virtuoso_tui.prism.scoring import largest_remainder, squash, timeframe_divergence

N = 500


def hourly_state(end: int) -> tuple[MarketState, dict[str, np.ndarray]]:
    c = real_candles("1h")
    sl = slice(end - N, end)
    state = MarketState(SYMBOL, ("1h",), capacity=N)
    for i in range(sl.start, sl.stop):
        state.apply(Candle(SYMBOL, "1h", int(c["ts"][i]), c["open"][i], c["high"][i], c["low"][i], c["close"][i], c["volume"][i]))
    return state, {k: v[sl] for k, v in c.items()}


@pytest.mark.parametrize("end", [600, 2500, 5980])
def test_technical_raw_values_match_talib(end):
    state, c = hourly_state(end)
    h, lo, cl = np.log(c["high"]), np.log(c["low"]), np.log(c["close"])
    result = TechnicalFace().score(state, {"1h": 1.0})
    raw = {row.name: row.raw["1h"] for row in result.components}
    macd, signal, hist = talib.MACD(cl, 12, 26, 9)
    expected = {
        ("rsi", "rsi"): talib.RSI(cl, 14)[-1], ("macd", "macd"): macd[-1], ("macd", "signal"): signal[-1],
        ("macd", "hist"): hist[-1], ("williams_r", "williams_r"): talib.WILLR(h, lo, cl, 14)[-1],
        ("cci", "cci"): talib.CCI(h, lo, cl, 20)[-1], ("atr", "atr"): talib.ATR(h, lo, cl, 14)[-1],
        ("ao", "ao"): (talib.SMA((h + lo) / 2, 5) - talib.SMA((h + lo) / 2, 34))[-1],
    }
    for (comp, key), value in expected.items():
        assert raw[comp][key] == pytest.approx(value, abs=1e-9, rel=1e-9), (comp, key)
    rows = {r.name: r for r in result.components}
    assert rows["rsi"].by_timeframe["1h"] == pytest.approx(rsi_score(talib.RSI(cl, 14)[-1]), abs=1e-9)


@pytest.mark.parametrize("end", [600, 5980])
def test_volume_and_mood_raw_values_match_talib(end):
    state, c = hourly_state(end)
    h, lo, cl, v = np.log(c["high"]), np.log(c["low"]), np.log(c["close"]), c["volume"]
    vol = {r.name: r.raw["1h"] for r in VolumeFace().score(state, {"1h": 1.0}).components}
    assert vol["adl"]["adl"] == pytest.approx(talib.AD(h, lo, cl, v)[-1], rel=1e-9, abs=1e-9)
    assert vol["obv"]["obv"] == pytest.approx(talib.OBV(c["close"], v)[-1], rel=1e-9, abs=1e-9)
    assert vol["volume_delta"] == {}  # spot klines here carry no taker-buy volume: n/a, not guessed
    mood = {r.name: r.raw for r in SentimentFace().score(state, {"1h": 1.0}).components}["market_mood"]["1h"]
    assert mood["adx"] == pytest.approx(talib.ADX(h, lo, cl, 14)[-1], abs=1e-9)


def test_awesome_oscillator_hand_and_talib():
    high, low = np.array([3.0, 5.0, 7.0, 9.0]), np.array([1.0, 3.0, 5.0, 7.0])
    np.testing.assert_allclose(ind.awesome_oscillator(high, low, 2, 3), [np.nan, np.nan, 1.0, 1.0])
    c = real_candles("4h")
    med = (c["high"] + c["low"]) / 2
    np.testing.assert_allclose(ind.awesome_oscillator(c["high"], c["low"]), talib.SMA(med, 5) - talib.SMA(med, 34), atol=1e-7)


def test_chaikin_money_flow_hand_example():
    h, lo = np.array([10.0, 12.0, 11.0, 10.0]), np.array([8.0, 10.0, 9.0, 10.0])
    c, v = np.array([9.0, 12.0, 9.5, 10.0]), np.array([100.0, 200.0, 100.0, 50.0])
    # MFM: 0, +1, -0.5, 0 (flat bar) -> (0 + 200 - 50 + 0) / 450
    assert ind.chaikin_money_flow(h, lo, c, v, 4) == pytest.approx(1 / 3)
    assert math.isnan(ind.chaikin_money_flow(h, lo, c, v, 5))


def test_vwap_hand_example():
    assert ind.vwap(np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 2.0])) == pytest.approx(2.25)
    assert math.isnan(ind.vwap(np.array([1.0]), np.array([0.0])))


def test_value_area_hand_example():
    price = np.arange(10.0)  # one price per bin with 10 bins of width 0.9
    volume = np.array([1, 1, 2, 3, 10, 6, 4, 1, 1, 1], dtype=float)
    # POC bin 4 (10); grow: up 6 -> 16, up 4 -> 20, down 3 -> 23 >= 0.7 * 30
    poc, vah, val = ind.value_area(price, volume, bins=10)
    assert (poc, vah, val) == pytest.approx((4.05, 6.3, 2.7))
    assert ind.value_area(np.array([5.0, 5.0]), np.array([1.0, 2.0])) == (5.0, 5.0, 5.0)


def test_vpin_hand_examples():
    # buckets of 2: [buy 2] -> 1.0, [buy 1, sell 1] -> 0.0
    assert ind.vpin(np.ones(4), np.array([1, 1, -1, 1]), buckets=2) == pytest.approx((0.5, 1.0))
    # a trade of 3 straddles the boundary: bucket 1 = 2 bought, bucket 2 = 1 bought + 1 sold
    assert ind.vpin(np.array([3.0, 1.0]), np.array([1, -1]), buckets=2) == pytest.approx((0.5, 1.0))
    assert ind.vpin(np.array([1.0, 1.0]), np.array([-1, -1]), buckets=2) == pytest.approx((1.0, -1.0))
    assert all(math.isnan(x) for x in ind.vpin(np.ones(3), np.ones(3), buckets=5))


def test_weighted_imbalance_hand_example():
    # bid 10 bps below mid, ask 20 bps above, equal size: weights e^-1 vs e^-2 -> tanh(1/2)
    x = ind.weighted_imbalance(np.array([-10e-4]), np.array([1.0]), np.array([20e-4]), np.array([1.0]), 0.0)
    assert x == pytest.approx(math.tanh(0.5))


def test_sweep_cost_hand_example():
    logp, size = np.array([1e-4, 2e-4, 4e-4]), np.array([1.0, 1.0, 2.0])
    assert ind.sweep_cost_bps(logp, size, 0.0, 3.0) == pytest.approx(7 / 3)  # 1 + 2 + 4 bps over 3 units
    assert ind.sweep_cost_bps(logp, size, 0.0, 5.0) == pytest.approx(3.0)  # 1 beyond the book at 4 bps
    assert math.isnan(ind.sweep_cost_bps(logp, size, 0.0, 0.0))


def test_band_depth_ratio_hand_example():
    bids = np.log(np.array([99.95, 99.5])), np.array([2.0, 5.0])
    asks = np.log(np.array([100.05, 100.8])), np.array([1.0, 1.0])
    mean, bands = ind.band_depth_ratio(*bids, *asks, math.log(100.0), (10.0, 100.0))
    assert bands == [(2.0, 1.0), (7.0, 2.0)]
    assert mean == pytest.approx(((2 - 1) / 3 + (7 - 2) / 9) / 2)


def test_divergence_hand_example_and_its_mirror():
    low = np.array([5.0, 3.0, 5.0, 6.0, 5.0, 2.0, 5.0, 6.0])
    high = low + 1.0
    rsi = np.array([50.0, 20.0, 50.0, 50.0, 50.0, 30.0, 50.0, 50.0])
    piv = pivots(high, low, k=1, lookback=8)
    assert list(piv.lows) == [1, 5]
    assert divergence(high, low, rsi, piv) == (1.0, "regular bullish")  # lower low, higher RSI low
    mpiv = pivots(-low, -high, k=1, lookback=8)
    assert divergence(-low, -high, 100.0 - rsi, mpiv) == (-1.0, "regular bearish")
    hidden = rsi.copy()
    hidden[5] = 10.0
    assert divergence(high, low, hidden, piv) == (0.0, "")  # lower low with lower RSI: no divergence


def test_scoring_helpers():
    assert squash(0.0) == 50.0 and squash(1.0) == pytest.approx(50 + 50 * math.tanh(1))
    assert squash(float("nan")) is None
    assert squash(-2.0) == pytest.approx(100 - squash(2.0))
    assert largest_remainder([1.04, 2.04, 3.04], 6.12, 1) == [1.1, 2.0, 3.0]
    assert sum(largest_remainder([0.333] * 3, 0.999, 1)) == pytest.approx(1.0)
    order = ["4h", "15m", "5m"]
    w = {"4h": 0.4, "15m": 0.35, "5m": 0.25}
    assert timeframe_divergence({"4h": 70, "15m": 60, "5m": 80}, w, order, 10) == 0.0
    up = timeframe_divergence({"4h": 70, "15m": 30, "5m": 40}, w, order, 10)
    assert 0 < up <= 5 and timeframe_divergence({"4h": 30, "15m": 70, "5m": 60}, w, order, 10) == pytest.approx(-up)
    assert timeframe_divergence({"4h": 50, "15m": 20, "5m": 20}, w, order, 10) == 0.0  # continuous at 50


def test_orderflow_toxicity_is_vpin_of_the_settled_window():
    from test_prism_support import market
    from virtuoso_prism import OrderflowFace

    state = market(2).state()
    rows = {c.name: c for c in OrderflowFace().score(state, {}).components}
    t = state.trades
    end = len(t) - t.total % 50
    expected = ind.vpin(t.amount[end - 1000:end], t.side[end - 1000:end].astype(float))
    assert (rows["toxicity"].raw["vpin"], rows["toxicity"].raw["direction"]) == pytest.approx(expected, abs=1e-12)
    assert rows["toxicity"].score == pytest.approx(squash(2 * expected[0] * expected[1]), abs=1e-12)


HOUR = 3_600_000


def _sentiment_reading(events, component, now=None):
    state = MarketState(SYMBOL, ("1m",), capacity=10)
    for e in events:
        state.apply(e)
    if now is not None:
        state.now = now
    return SentimentFace().read_stream(state, {component})[component]


def test_long_short_reads_against_the_markets_own_normal_hand_example():
    """Retail sits long most of the time: parity is not neutral, the market's own average is.
    Ratios 1.5 for 20 observations then 3.0: normal b = mean ln r over all 21, recent = mean of the
    last 12, x = -((ln 3 - b) + 0.5 (ln 3 - recent)) / ln 2, score = 50 + 50 tanh(x)."""
    from virtuoso_tui.model.market import LongShortRatio

    ratios = [1.5] * 20 + [3.0]
    events = [LongShortRatio(SYMBOL, 1_700_000_000_000 + i * 300_000, r) for i, r in enumerate(ratios)]
    logs = np.log(ratios)
    x = -((math.log(3.0) - logs.mean()) + 0.5 * (math.log(3.0) - logs[-12:].mean())) / math.log(2.0)
    crowded = _sentiment_reading(events, "long_short")
    assert crowded.score == pytest.approx(50.0 + 50.0 * math.tanh(x), abs=1e-12) and crowded.score < 20
    assert crowded.raw["normal_ratio"] == pytest.approx(math.exp(logs.mean()))
    # a market that is always 1.5 long is at its normal: neutral, not bearish (the old parity reading gave 24)
    steady = _sentiment_reading(events[:20], "long_short")
    assert steady.score == pytest.approx(50.0, abs=1e-9)
    # mirror: accounts inverted, the reading mirrors
    mirrored = [LongShortRatio(SYMBOL, e.ts, 1.0 / e.ratio) for e in events]
    assert _sentiment_reading(mirrored, "long_short").score == pytest.approx(100.0 - crowded.score, abs=1e-9)


def test_liquidations_fade_as_they_age_hand_example():
    """x = Σ exp(-age/1h)·side·amount / Σ amount over the last 24 h (ages from the minute's start):
    a burst of forced sells reads bearish now and close to neutral hours later."""
    from virtuoso_tui.model.market import Liquidation

    t0 = 1_700_000_000_000 // 60_000 * 60_000
    burst = [Liquidation(SYMBOL, t0, "sell", 100.0, 2.0), Liquidation(SYMBOL, t0, "buy", 100.0, 0.5)]
    now = _sentiment_reading(burst, "liquidations", now=t0 + 30_000)   # same minute: age 0
    x = (0.5 - 2.0) / 2.5
    assert now.raw["net"] == pytest.approx(x) and now.score == pytest.approx(squash(x / 0.5), abs=1e-12)
    later = _sentiment_reading(burst, "liquidations", now=t0 + 5 * HOUR)
    assert later.raw["net"] == pytest.approx(x * math.exp(-5.0))
    assert 48.0 < later.score < 50.0 and now.score < 10.0
    gone = _sentiment_reading(burst, "liquidations", now=t0 + 25 * HOUR)   # older than a day: nothing
    assert gone.score == pytest.approx(50.0) and gone.raw["count"] == 0
