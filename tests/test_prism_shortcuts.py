"""The prism's shortcuts give exactly what the straightforward computation gives: swings found with
TA-Lib's rolling max/min against a brute-force scan, pivots derived from a longer swing search against
`pivots`, %R and CCI on the newest bars against the full history (bit for bit), numpy's mean/std
spelt out against numpy, and the batched divergence against one call per indicator."""

from __future__ import annotations

import numpy as np
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st
from test_prism_support import real_candles
from virtuoso_prism.technical import _tail

from virtuoso_tui.prism.blended import CandleView
from virtuoso_tui.prism.divergence import (
    divergence,
    divergences,
    pivots,
    pivots_from_swings,
    swing_highs,
    swing_lows,
)
from virtuoso_tui.prism.scoring import mean_std, zscore_last


def brute_swing_highs(x: np.ndarray, k: int) -> list[int]:
    return [i for i in range(k, len(x) - k)
            if all(x[i] > x[j] for j in range(i - k, i)) and all(x[i] >= x[j] for j in range(i + 1, i + k + 1))]


series = st.lists(st.integers(-6, 6), min_size=0, max_size=80).map(lambda v: np.array(v, dtype=np.float64) / 4)


@settings(max_examples=150, deadline=None)
@given(series, st.integers(1, 4))
def test_swings_equal_a_brute_force_scan(x, k):
    assert swing_highs(x, k).tolist() == brute_swing_highs(x, k)
    assert swing_lows(x, k).tolist() == brute_swing_highs(-x, k)  # ties (many, with integer steps) included


class _Series:
    def __init__(self, c: dict, sl: slice) -> None:
        self.ts, self.open, self.high, self.low, self.close, self.volume = (
            c["ts"][sl], c["open"][sl], c["high"][sl], c["low"][sl], c["close"][sl], c["volume"][sl])


@pytest.mark.parametrize("tf, end", [("4h", 300), ("1h", 4000), ("15m", 20_000), ("5m", 700)])
@pytest.mark.parametrize("n", [40, 61, 100, 137, 500])
def test_view_pivots_and_windowed_indicators_equal_the_full_computation(tf, end, n):
    c = real_candles(tf)
    view = CandleView(_Series(c, slice(end - n, end)), tf)
    full = pivots(view.h, view.l)
    assert view.pivots.highs.tolist() == full.highs.tolist() and view.pivots.lows.tolist() == full.lows.tolist()
    highs, lows = view.swings
    for lookback in (20, 60, 100):
        a, b = pivots_from_swings(view.n, highs, lows, 3, lookback), pivots(view.h, view.l, 3, lookback)
        assert (a.highs.tolist(), a.lows.tolist(), a.offset) == (b.highs.tolist(), b.lows.tolist(), b.offset)
    for fn, period in ((talib.WILLR, 14), (talib.CCI, 20), (talib.CCI, 7)):
        tail = fn(*_tail(view, period), period)
        whole = fn(view.h, view.l, view.c, period)
        k = min(61, tail.shape[0])
        assert np.array_equal(tail[-k:], whole[-k:], equal_nan=True), (fn.__name__, period)
        # and the divergence read from the short array is the full array's
        assert divergence(view.h, view.l, tail, view.pivots) == divergence(view.h, view.l, whole, view.pivots)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=300), st.integers(3, 400))
def test_mean_std_and_zscore_are_numpys_bit_for_bit(values, window):
    x = np.array(values)
    mean, sd = mean_std(x)
    assert mean == float(x.mean()) and sd == float(x.std())
    tail = x[-window:]
    if tail.shape[0] >= 3:
        ref_sd = float(tail.std())
        ref = 0.0 if not ref_sd > 0 else float((tail[-1] - tail.mean()) / ref_sd)
        assert zscore_last(x, window) == ref


def reference_divergence(high, low, indicator, piv):
    """The rule as first written: numpy scalars, an indicator as long as the prices."""
    strength, labels = 0.0, []
    if piv.lows.shape[0] == 2:
        a, b = piv.lows
        ia, ib = indicator[a], indicator[b]
        if ia == ia and ib == ib:
            if low[b] < low[a] and ib > ia:
                strength += 1.0
                labels.append("regular bullish")
            elif low[b] > low[a] and ib < ia:
                strength += 0.6
                labels.append("hidden bullish")
    if piv.highs.shape[0] == 2:
        a, b = piv.highs
        ia, ib = indicator[a], indicator[b]
        if ia == ia and ib == ib:
            if high[b] > high[a] and ib < ia:
                strength -= 1.0
                labels.append("regular bearish")
            elif high[b] < high[a] and ib > ia:
                strength -= 0.6
                labels.append("hidden bearish")
    return strength, ", ".join(labels)


def test_batched_divergences_equal_the_rule_applied_to_each_indicator():
    c = real_candles("1h")
    rng = np.random.default_rng(2)
    found = set()
    for end in range(300, c["close"].shape[0] + 1, 37):
        h, lo = np.log(c["high"][end - 200:end]), np.log(c["low"][end - 200:end])
        piv = pivots(h, lo)
        inds = [talib.RSI(np.log(c["close"][end - 200:end]), 14), rng.normal(size=200), rng.normal(size=int(rng.integers(50, 200)))]
        padded = [np.concatenate((np.full(200 - i.shape[0], np.nan), i)) for i in inds]  # a short one aligned at the end
        got = divergences(h, lo, piv, *inds)
        assert got == [reference_divergence(h, lo, i, piv) for i in padded]
        found.update(label for _, label in got)
    assert {"regular bullish", "hidden bullish", "regular bearish", "hidden bearish"} <= {x for f in found for x in f.split(", ")}


def test_band_depth_by_binary_search_equals_the_masked_sums():
    from test_prism_support import real_book

    from virtuoso_tui.prism.indicators import band_depth_ratio

    bids, asks = real_book()
    for levels in (1, 5, 50, 200):
        for shift in (0.0, 3e-4, -2e-3):
            bl, bs = np.log(bids[:levels, 0]), bids[:levels, 1]
            al, as_ = np.log(asks[:levels, 0]), asks[:levels, 1]
            mid = 0.5 * (bl[0] + al[0]) + shift
            bands = (1.0, 10.0, 25.0, 100.0, 1e4)
            _, got = band_depth_ratio(bl, bs, al, as_, mid, bands)
            want = [(float(bs[mid - bl <= b * 1e-4].sum()), float(as_[al - mid <= b * 1e-4].sum())) for b in bands]
            assert got == want
