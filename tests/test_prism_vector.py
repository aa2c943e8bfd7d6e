"""The vectorised candle-only prism equals the event path's Prism bar by bar, on real candles.

Reference: the `prism` strategy run by the event backtester (a real Prism over MarketState-held
candles, one bar at a time), recorded. prism/vector.py must give the same technical and volume face
scores (and each component's blended score and DIV) at every bar, to 1e-9, on: 15m candles blended
with 4h; 5m candles past the 1000-candle window (TA-Lib seeds differ, converged); 1m candles full of
gaps blended into 5m/15m (higher-timeframe visibility after a gap). Plus properties: bounds, scale
invariance, mirror antisymmetry, the n/a rule, and bad input.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

from virtuoso_prism import TechnicalFace, VolumeFace  # noqa: E402

from virtuoso_tui.backtest.data import Candles, load_candles  # noqa: E402
from virtuoso_tui.backtest.engine import run_events  # noqa: E402
from virtuoso_tui.backtest.runner import resolve_strategy  # noqa: E402
from virtuoso_tui.prism.vector import (  # noqa: E402
    MIN_CANDLES,
    blend_for,
    candle_face_scores,
    candle_faces,
    parse_blend,
    timeframe_history,
)

OHLCV = ROOT.parent / "shared" / "data" / "ohlcv"
TOL = 1e-9


def event_tape(candles: Candles, params: dict | None = None):
    strategy = resolve_strategy("prism")(params or {}, faces=[TechnicalFace, VolumeFace], record=True)
    run_events(candles, strategy)
    return strategy


def arrays(strategy, face: str):
    from virtuoso_strategies.prism import tape_arrays

    return tape_arrays(strategy.tape, face)


def assert_parity(candles: Candles, params: dict | None = None, *, expect_tfs: dict | None = None) -> None:
    strategy = event_tape(candles, params)
    if expect_tfs is not None:
        assert strategy.timeframes == expect_tfs
    got = candle_faces(candles, timeframes=strategy.timeframes, window=strategy.window)
    for face in ("technical", "volume"):
        ev = arrays(strategy, face)
        vec = got[face]
        assert np.array_equal(np.isnan(ev["score"]), np.isnan(vec.score)), face
        scored = ~np.isnan(vec.score)
        assert scored.sum() > len(candles) // 2
        assert np.max(np.abs(ev["score"][scored] - vec.score[scored])) <= TOL, face
        assert np.max(np.abs(ev["confidence"] - vec.confidence)) <= TOL, face
        for comp, (score, div) in vec.components.items():
            e_score, e_div = ev[f"{comp}.score"], ev[f"{comp}.div"]
            assert np.array_equal(np.isnan(e_score), np.isnan(score)), comp
            ok = ~np.isnan(score)
            if ok.any():
                assert np.max(np.abs(e_score[ok] - score[ok])) <= TOL, comp
                assert np.max(np.abs(e_div[ok] - div[ok])) <= TOL, comp


def test_parity_15m_blended_with_4h():
    candles = load_candles(OHLCV / "binance-spot-2024" / "BTC_USDT-15m.feather", symbol="BTC/USDT").slice(0, 1400)
    assert_parity(candles, expect_tfs={"4h": 0.40, "15m": 0.35})


def test_parity_past_the_window():
    # 2,300 5m candles: the 5m series is cut to its newest 1,000 candles by the event path's ring
    candles = load_candles(OHLCV / "binance-spot-2024" / "BTC_USDT-5m.feather", symbol="BTC/USDT").slice(0, 2300)
    assert_parity(candles, expect_tfs={"4h": 0.40, "15m": 0.35, "5m": 0.25})


def test_parity_on_gappy_1m_candles_blended_into_5m_and_15m():
    candles = load_candles(OHLCV / "freqtrade" / "UNITTEST_BTC-1m.feather", symbol="UNITTEST/BTC").slice(0, 1500)
    assert (np.diff(candles.ts) > 60_000).sum() > 10          # the data really has gaps
    assert_parity(candles, {"timeframes": "15m:0.6,5m:0.4"}, expect_tfs={"15m": 0.6, "5m": 0.4})


def test_higher_timeframes_follow_marketstate_rules():
    """Aggregation and visibility against a real MarketState fed the same candles one by one."""
    from virtuoso_tui.market.state import MarketState
    from virtuoso_tui.model import Candle

    c = load_candles(OHLCV / "freqtrade" / "UNITTEST_BTC-1m.feather", symbol="U/BTC").slice(3, 700)
    cols = {"open": c.open, "high": c.high, "low": c.low, "close": c.close, "volume": c.volume}
    hist, visible = timeframe_history(c.ts, cols, "1m", "15m")
    state = MarketState("U/BTC", timeframes=("1m", "15m"), capacity=2000)
    for i in range(len(c)):
        state.apply(Candle("U/BTC", "1m", int(c.ts[i]), float(c.open[i]), float(c.high[i]), float(c.low[i]),
                           float(c.close[i]), float(c.volume[i])))
        assert len(state.candles["15m"]) == visible[i]
    s = state.candles["15m"]
    assert np.array_equal(s.ts, hist["ts"][:len(s)])
    for k in ("open", "high", "low", "close"):
        assert np.array_equal(getattr(s, k), hist[k][:len(s)])
    assert np.allclose(s.volume, hist["volume"][:len(s)], rtol=1e-14)


def test_scores_are_bounded_scale_free_and_mirror():
    c = load_candles(OHLCV / "binance-spot-2024" / "BTC_USDT-1h.feather", symbol="BTC/USDT").slice(0, 1200)
    blend = {"4h": 0.5, "1h": 0.5}
    base = candle_face_scores(c.ts, c.open, c.high, c.low, c.close, c.volume, base="1h", timeframes=blend)
    k = 1000.0
    scaled = candle_face_scores(c.ts, c.open * k, c.high * k, c.low * k, c.close * k, c.volume / k, base="1h",
                                timeframes=blend)
    mirror = candle_face_scores(c.ts, 1 / c.open, 1 / c.low, 1 / c.high, 1 / c.close, c.volume, base="1h",
                                timeframes=blend)
    for face in ("technical", "volume"):
        s = base[face].score
        ok = ~np.isnan(s)
        assert ok[MIN_CANDLES - 1:].all() and not ok[:MIN_CANDLES - 1].any()
        assert ((s[ok] >= 0) & (s[ok] <= 100)).all()
        conf = base[face].confidence
        assert ((conf >= 0) & (conf <= 1)).all() and (conf[~ok] == 0).all() and (conf[ok] > 0).all()
        assert np.allclose(scaled[face].score[ok], s[ok], atol=1e-6)
        # a mirrored market (p -> 1/p, high <-> low) reads every direction the other way
        assert np.allclose(mirror[face].score[ok], 100.0 - s[ok], atol=1e-6), face


def test_volume_delta_needs_taker_buy_volume():
    c = load_candles(OHLCV / "binance-spot-2024" / "BTC_USDT-4h.feather", symbol="BTC/USDT").slice(0, 200)
    without = candle_faces(c)["volume"].components["volume_delta"][0]
    assert np.isnan(without).all()
    bv = c.volume * 0.7          # takers bought 70%: delta share 0.4 on every window
    with_bv = candle_face_scores(c.ts, c.open, c.high, c.low, c.close, c.volume, base="4h", buy_volume=bv)
    got = with_bv["volume"].components["volume_delta"][0]
    assert np.allclose(got[MIN_CANDLES - 1:], 50 + 50 * np.tanh(0.4 / 0.15))


def test_blend_helpers_and_bad_input():
    assert parse_blend("4h:0.4, 15m:0.35") == {"4h": 0.4, "15m": 0.35}
    assert parse_blend("1h") == {"1h": 1.0}
    assert blend_for("15m") == {"4h": 0.40, "15m": 0.35}
    assert blend_for("1d") == {"1d": 1.0}
    assert blend_for("1h", {"4h": 1.0, "30m": 1.0}) == {"4h": 1.0}
    for bad, msg in (("7m:1", "7m"), ("1h:x", "not a number"), ("", "no timeframe"), ("1h:0", "positive")):
        with pytest.raises(ValueError, match=msg):
            parse_blend(bad)
    c = load_candles(OHLCV / "binance-spot-2024" / "BTC_USDT-4h.feather", symbol="BTC/USDT").slice(0, 50)
    with pytest.raises(ValueError, match="window"):
        candle_faces(c, window=10)
    with pytest.raises(ValueError, match="length"):
        candle_face_scores(c.ts, c.open, c.high, c.low, c.close[:-1], c.volume, base="4h")
    with pytest.raises(ValueError, match="positive"):
        candle_face_scores(c.ts, c.open, c.high, c.low * 0, c.close, c.volume, base="4h")
    empty = candle_face_scores(c.ts[:0], c.open[:0], c.high[:0], c.low[:0], c.close[:0], c.volume[:0], base="4h")
    assert empty["technical"].score.shape == (0,)
    short = candle_faces(c.slice(0, MIN_CANDLES - 1))
    assert np.isnan(short["technical"].score).all()      # too little data: n/a, not invented
