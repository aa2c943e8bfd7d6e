"""The lookahead guard for faces (issue 6 item 8): truncating the data at a bar changes no face or component
score computed at or before it — on real candles (event and vectorised paths) and on a sim recording with
trades, books and funding (all six faces) — and the guard catches deliberately leaky faces.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

from virtuoso_prism import FACES  # noqa: E402

from virtuoso_tui.backtest.data import load_candles, sim_events  # noqa: E402
from virtuoso_tui.backtest.lookahead_faces import (  # noqa: E402
    check_faces_lookahead,
    check_faces_lookahead_recording,
    check_vector_lookahead,
    compare_tapes,
    face_tape,
    face_tape_recording,
)
from virtuoso_tui.prism.face import ComponentScore, Face, FaceResult  # noqa: E402
from virtuoso_tui.prism.vector import FaceScores, candle_faces  # noqa: E402

OHLCV = ROOT.parent / "shared" / "data" / "ohlcv"
SIM_SYMBOL = "BTC/USDT:USDT"
ALL_SIX = {"technical", "volume", "orderflow", "orderbook", "price_structure", "sentiment"}


def btc_1h(n: int = 360):
    return load_candles(OHLCV / "binance-spot-2024" / "BTC_USDT-1h.feather", symbol="BTC/USDT").slice(0, n)


class PeekAtTheEnd(Face):
    """Leaky: reaches through the state into the replay's whole-history arrays and scores the return
    from the current close to the LAST close of the data."""

    name = "peek_end"
    default_weight = 0.1
    requires = frozenset({"candles"})

    def score(self, state, timeframes):
        hidden = state.series._close          # the replay feed's arrays, future included
        x = 50.0 + 50.0 * float(np.tanh(20.0 * np.log(hidden[-1] / state.last_price)))
        return FaceResult(self.name, state.symbol, int(state.now or 0), x, 1.0, [ComponentScore("peek", x, 1.0)])


BLEND_1H = {"timeframes": "4h:0.4,1h:0.6"}   # 1h scores from bar 34, 4h joins from bar ~140


def test_every_builtin_face_passes_on_real_candles():
    report = check_faces_lookahead(btc_1h(), params=BLEND_1H, count=6, seed=3)
    assert report.ok, str(report)
    assert len(report.cuts) >= 6 and report.path == "event"
    # the guard compared real scores: the candle faces score on this data, on both timeframes
    assert report.compared > 1000
    tape = face_tape(btc_1h(), params=BLEND_1H)
    scored = {n for n, f in tape[-1][1].items() if f[0] is not None}
    assert {"technical", "volume", "price_structure", "sentiment"} == scored
    assert tape[-1][1]["technical"][2]["rsi"][0] is not None


def test_every_builtin_face_passes_on_a_sim_recording_with_trades_books_and_funding():
    events = list(sim_events(SIM_SYMBOL, 1.5 * 3600, seed=11))
    kinds = {type(e).__name__ for e in events}
    assert {"Trade", "BookSnapshot", "BookDelta", "Funding", "OpenInterest"} <= kinds
    report = check_faces_lookahead_recording(events, symbol=SIM_SYMBOL, timeframe="1m",
                                             params={"timeframes": "1m:0.6,5m:0.4"}, count=4, seed=1)
    assert report.ok, str(report)
    assert report.bars >= 80 and len(report.cuts) >= 4 and report.compared > 500
    last = face_tape_recording(events, symbol=SIM_SYMBOL, timeframe="1m", params={"timeframes": "1m:0.6,5m:0.4"})[-1]
    assert {n for n, f in last[1].items() if f[0] is not None} == ALL_SIX


def test_the_vectorised_candle_faces_pass():
    report = check_vector_lookahead(btc_1h(1500), count=25)
    assert report.ok, str(report)
    assert report.compared > 10_000


def test_the_guard_catches_a_leaky_face_on_the_event_path():
    report = check_faces_lookahead(btc_1h(200), params=BLEND_1H, faces=[*FACES, PeekAtTheEnd], count=3)
    assert not report.ok
    v = report.violations[0]
    assert v["face"] == "peek_end" and v["bar"] <= v["cut"]
    assert "LOOKAHEAD" in str(report) and "peek_end" in str(report)
    # only the leaky face is blamed
    assert {x["face"] for x in report.violations} == {"peek_end"}


def test_the_guard_catches_a_leaky_vectorised_face():
    def centred(candles):
        """Leaky: a technical 'score' from a centred moving average (half its window is the future)."""
        out = candle_faces(candles)
        c = np.log(candles.close)
        smooth = np.convolve(c, np.ones(9) / 9, mode="same")
        s = 50 + 50 * np.tanh((smooth - c) * 100)
        out["technical"] = FaceScores("technical", s, {"centred": (s, np.zeros_like(s))})
        return out

    report = check_vector_lookahead(btc_1h(300), centred, count=5)
    assert not report.ok
    assert {v["face"] for v in report.violations} == {"technical"}
    assert all(v["bar"] >= v["cut"] - 4 for v in report.violations)   # only the last 4 bars see the future


def test_compare_tapes_reports_missing_bars_and_changed_components():
    full = [(0, {"f": (50.0, 1.0, {"a": (50.0, 0.0)})}), (1, {"f": (60.0, 1.0, {"a": (70.0, 1.0)})})]
    assert compare_tapes(full, full, 1) == []
    assert compare_tapes(full, full[:1], 1)[0]["cut_value"] == "missing"
    changed = [full[0], (1, {"f": (60.0, 1.0, {"a": (70.0, 2.0)})})]
    (diff,) = compare_tapes(full, changed, 1)
    assert (diff["bar"], diff["component"], diff["what"]) == (1, "a", "div")
    na = [full[0], (1, {"f": (None, 0.0, {"a": (None, 0.0)})})]
    assert {d["what"] for d in compare_tapes(full, na, 1)} >= {"score", "confidence"}


@pytest.mark.parametrize("cut", [34, 35])
def test_an_explicit_cut_at_the_first_scoring_bar(cut):
    report = check_faces_lookahead(btc_1h(90), params=BLEND_1H, cuts=[cut])
    assert report.ok and report.cuts == [cut] and report.compared >= cut - 33
