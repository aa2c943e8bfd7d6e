"""The Prism engine: confluence arithmetic and its printed table, hysteresis, incremental updates equal a
full evaluation, a failing face is isolated, bad configuration fails with one clear error, the JSON shape,
the renderer, and registration through the plugin hook."""

from __future__ import annotations

import json
import re
import types

import pluggy
import pytest
import virtuoso_prism
from test_prism_support import BLEND, market
from virtuoso_prism import FACES, TechnicalFace

from virtuoso_tui import PROJECT, hookspecs
from virtuoso_tui import hookimpl as virtuoso_tui_hookimpl
from virtuoso_tui.model.market import Candle, Trade
from virtuoso_tui.prism.engine import Prism, build_prism
from virtuoso_tui.prism.face import ComponentScore, Face, FaceResult
from virtuoso_tui.prism.render import analyze_json, render_signal_text


class Fixed(Face):
    """A face whose score the test sets."""

    requires = frozenset({"book"})

    def __init__(self, name: str, score: float | None, confidence: float = 1.0, weight: float = 0.5) -> None:
        super().__init__()
        self.name, self.value, self.conf, self.default_weight = name, score, confidence, weight

    def score(self, state, timeframes):
        comps = [ComponentScore("x", self.value, 1.0)] if self.value is not None else []
        return FaceResult(self.name, state.symbol, 0, self.value, self.conf, comps)


class Boom(Fixed):
    def score(self, state, timeframes):
        raise RuntimeError("broken plugin")


@pytest.fixture(scope="module")
def full_state():
    return market(21).state()


def test_confluence_is_the_weighted_sum_printed_in_its_table(full_state):
    sig = Prism(FACES, timeframes=BLEND).evaluate(full_state)
    expected = sum(r.weight * (50 + r.confidence * (r.score - 50)) for r in sig.faces.values())
    assert sig.score == pytest.approx(expected, abs=1e-12)
    text = render_signal_text(sig)
    rows = re.findall(r"^(\w+)\s+(\d+\.\d\d)\s+(\d\.\d{3})\s+(\d+\.\d)\s+([+-]\d+\.\d)", text, re.M)
    assert {r[0] for r in rows} == set(sig.faces)
    final = re.search(r"^CONFLUENCE\s+(\d+\.\d\d)\s+(\d+\.\d)", text, re.M)
    printed_total = float(final.group(2))
    assert sum(float(r[3]) for r in rows) == pytest.approx(printed_total, abs=1e-9)
    assert printed_total == pytest.approx(float(final.group(1)), abs=0.05 + 1e-9)
    assert sum(float(r[2]) for r in rows) == pytest.approx(1.0, abs=2e-3)


def test_face_table_impacts_sum_to_final(full_state):
    sig = Prism(FACES, timeframes=BLEND).evaluate(full_state)
    for name, result in sig.faces.items():
        text = render_signal_text(sig, name)
        rows = re.findall(r"^(\w+)\s+(\d+\.\d\d)\s+(\d\.\d\d)\s+(\d+\.\d)\s+([+-]\d+\.\d)", text, re.M)
        final = re.search(r"^FINAL SCORE\s+(\d+\.\d\d)\s+(\d+\.\d)\s+([+-]\d+\.\d)", text, re.M)
        assert sum(float(r[3]) for r in rows) == pytest.approx(float(final.group(2)), abs=1e-9), name
        assert sum(float(r[4]) for r in rows) == pytest.approx(float(final.group(3)), abs=1e-9), name
        impacts = [float(r[3]) for r in rows]
        assert impacts == sorted(impacts, reverse=True), name
        assert float(final.group(1)) == pytest.approx(result.score, abs=0.005)


def test_hysteresis_keeps_a_side_until_the_band_is_crossed(full_state):
    face = Fixed("only", 50.0)
    prism = Prism([face], long_threshold=65, short_threshold=35, hysteresis=3)
    sides = []
    for value in (64.0, 66.0, 63.0, 62.5, 61.9, 34.0, 37.0, 38.1, 35.0):
        face.value = value
        sides.append(prism.evaluate(full_state).side)
    assert sides == ["NEUTRAL", "LONG", "LONG", "LONG", "NEUTRAL", "SHORT", "SHORT", "NEUTRAL", "SHORT"]


def test_a_new_side_must_hold_for_confirm_s_of_market_time():
    """Hysteresis alone let the sim's signal flap every ~14 s (microstructure moves the score by points
    within seconds): a side the thresholds give must persist, continuously, confirm_s seconds."""
    from types import SimpleNamespace

    face = Fixed("only", 50.0)
    prism = Prism([face], long_threshold=65, short_threshold=35, hysteresis=3, confirm_s=30)
    t0 = 1_700_000_000_000
    shown = []
    for second, value in ((0, 66.0), (10, 70.0), (20, 60.0), (25, 66.0), (40, 67.0), (54, 66.0),
                          (55, 66.0), (60, 63.0), (70, 50.0), (80, 63.0), (99, 50.0), (110, 50.0)):
        face.value = value
        sig = prism.evaluate(SimpleNamespace(symbol="X", now=t0 + second * 1000))
        shown.append((second, sig.side, sig.changed))
    assert shown == [
        (0, "NEUTRAL", False), (10, "NEUTRAL", False),
        (20, "NEUTRAL", False),                  # back under 65 before 30 s: the wait starts over
        (25, "NEUTRAL", False), (40, "NEUTRAL", False), (54, "NEUTRAL", False),
        (55, "LONG", True),                      # wanted LONG continuously since 25 s
        (60, "LONG", False),                     # 63 is inside the hysteresis band: LONG is kept
        (70, "LONG", False),                     # under the band: NEUTRAL wanted from 70 s ...
        (80, "LONG", False),                     # ... back in the band at 80 s: the wait is reset
        (99, "LONG", False), (110, "LONG", False),   # NEUTRAL wanted again since 99 s: 11 s so far
    ]
    waiting = prism.evaluate(SimpleNamespace(symbol="X", now=t0 + 110 * 1000))
    assert waiting.pending == ("NEUTRAL", 11.0, 30.0)   # shown in the confluence table's caption
    assert "signal LONG (NEUTRAL wanted for 11 s of 30 s)" in render_signal_text(waiting)
    face.value = 50.0
    later = prism.evaluate(SimpleNamespace(symbol="X", now=t0 + 129 * 1000))
    assert later.side == "NEUTRAL" and later.changed and later.pending is None   # 30 s after 99 s
    instant = Prism([face], confirm_s=0)
    face.value = 66.0
    assert instant.evaluate(SimpleNamespace(symbol="X", now=t0)).side == "LONG"   # 0: at once
    with pytest.raises(ValueError, match="confirm_s"):
        Prism([face], confirm_s=-1)


def test_confidence_shrinks_toward_50_and_na_faces_renormalise(full_state):
    a, b, c = Fixed("a", 80.0, 0.5, 0.3), Fixed("b", 40.0, 1.0, 0.1), Fixed("c", None, 1.0, 0.6)
    sig = Prism([a, b, c]).evaluate(full_state)
    assert sig.faces["c"].weight == 0.0
    assert sig.faces["a"].weight == pytest.approx(0.75)
    assert sig.score == pytest.approx(0.75 * 65.0 + 0.25 * 40.0)
    assert sig.confidence == pytest.approx((0.75 * 0.5 + 0.25 * 1.0) * 0.4)


def test_a_failing_face_is_isolated(full_state):
    prism = Prism([Fixed("ok", 70.0), Boom("bad", 10.0)])
    sig = prism.evaluate(full_state)
    assert sig.faces["bad"].score is None and "broken plugin" in prism.errors["bad"]
    assert sig.score == pytest.approx(70.0)


@pytest.mark.parametrize("kwargs, message", [
    ({"weights": {"nope": 1.0}}, "not loaded"),
    ({"weights": {"technical": -1.0}}, ">= 0"),
    ({"timeframes": {"7m": 1.0}}, "unknown timeframe"),
    ({"long_threshold": 30, "short_threshold": 40}, "short < long"),
    ({"hysteresis": 30}, "hysteresis"),
])
def test_bad_configuration_is_one_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Prism(FACES, **kwargs)


def test_incremental_updates_equal_a_full_evaluation():
    m = market(8)
    state = m.state()
    prism = Prism(FACES, timeframes=BLEND)
    prism.evaluate(state)
    calls = []
    technical = next(f for f in prism.faces if f.name == "technical")
    original = technical.read_timeframe
    technical.read_timeframe = lambda view, tf: calls.append(tf) or original(view, tf)
    price = float(state.last_price)
    for i in range(120):  # crosses chunk boundaries of the orderflow window (50 trades)
        touched = state.apply(Trade(state.symbol, int(state.now) + 500, price * (1 + 1e-4 * (i % 3 - 1)), 0.3 + i, "buy" if i % 2 else "sell"))
        sig = prism.on_update(state, touched)
    assert calls == []  # trades never touch the candle-only face
    fresh = Prism(FACES, timeframes=BLEND).evaluate(state)
    for name, r in fresh.faces.items():
        assert sig.faces[name].score == pytest.approx(r.score, abs=1e-12), name
        assert sig.faces[name].confidence == pytest.approx(r.confidence, abs=1e-12), name
        mine = {c.name: c for c in sig.faces[name].components}
        for c in r.components:
            got = mine[c.name]
            assert (got.score is None) == (c.score is None), (name, c.name)
            if c.score is not None:
                assert (got.score, got.div, got.weight) == pytest.approx((c.score, c.div, c.weight), abs=1e-12), (name, c.name)
                assert got.detail == c.detail
    assert sig.score == pytest.approx(fresh.score, abs=1e-12)
    assert sig.reasons == fresh.reasons
    last = m.candles["5m"]
    ts = int(last["ts"][-1]) + 300_000
    touched = state.apply(Candle(state.symbol, "5m", ts, price, price * 1.01, price * 0.99, price * 1.005, 10.0, 6.0))
    assert "candles:5m" in touched
    sig = prism.on_update(state, touched)
    assert calls == ["5m"]  # only the timeframe that closed is re-read
    fresh = Prism(FACES, timeframes=BLEND).evaluate(state)
    assert sig.faces["technical"].score == pytest.approx(fresh.faces["technical"].score, abs=1e-12)


def test_analyze_json_shape(full_state):
    sig = Prism(FACES, timeframes=BLEND).evaluate(full_state)
    data = json.loads(json.dumps(analyze_json(sig), allow_nan=False))
    assert {"symbol", "confluence", "signal", "faces"} <= set(data)
    assert set(data["faces"]) == {f.name for f in FACES}
    comp = data["faces"]["technical"]["components"]["rsi"]
    assert {"score", "weight", "impact", "div", "raw"} <= set(comp)
    assert comp["impact"] == pytest.approx(comp["weight"] * min(100, max(0, comp["score"] + comp["div"])))


def test_render_shows_na_rows_and_rejects_unknown_face():
    m = market(4).without("funding").without("long_short")
    sig = Prism(FACES, timeframes=BLEND).evaluate(m.state())
    text = render_signal_text(sig, "sentiment")
    assert re.search(r"^funding\s+n/a", text, re.M) and re.search(r"^long_short\s+n/a", text, re.M)
    assert "n/a: no funding" in text
    assert render_signal_text(sig, "all").count("score contribution") == 6
    assert "\x1b[" in render_signal_text(sig, color=True)
    with pytest.raises(ValueError, match="no face named 'nope'"):
        render_signal_text(sig, "nope")


def test_faces_register_through_the_plugin_hook():
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(virtuoso_prism)
    pm.check_pending()
    found = [cls for group in pm.hook.virtuoso_faces(config={}) for cls in group]
    assert {cls.name for cls in found} == {"technical", "volume", "orderflow", "orderbook", "price_structure", "sentiment"}
    assert sum(cls.default_weight for cls in found) == pytest.approx(1.0)
    assert TechnicalFace in found


def test_too_few_candles_is_na_not_guessed():
    m = market(6, n={"5m": 20, "15m": 20, "4h": 20})
    sig = Prism(FACES, timeframes=BLEND).evaluate(m.state())
    for name in ("technical", "volume", "price_structure"):
        assert sig.faces[name].score is None and sig.faces[name].reason == "n/a: too little data", name
    mood = next(c for c in sig.faces["sentiment"].components if c.name == "market_mood")
    assert mood.score is None and mood.weight == 0.0
    assert sig.faces["orderflow"].score is not None


class OutOfRange(Fixed):
    def score(self, state, timeframes):
        return FaceResult(self.name, state.symbol, 0, 120.0, 1.0, [])


def test_a_face_returning_an_out_of_range_score_is_reported(full_state):
    prism = Prism([Fixed("ok", 60.0), OutOfRange("wild", 0.0)])
    sig = prism.evaluate(full_state)
    assert sig.faces["wild"].score is None and "out of range" in prism.errors["wild"]
    assert sig.score == pytest.approx(60.0)


def test_build_prism_from_the_plugin_host_and_settings(full_state):
    from virtuoso_tui.config import parse_config
    from virtuoso_tui.plugins import PluginHost

    class Extra(Fixed):
        default_weight = 0.5

    def virtuoso_faces():
        return [Extra("flow_plus", 80.0)]  # an instance works as well as a class

    third = types.SimpleNamespace(virtuoso_faces=virtuoso_tui_hookimpl(virtuoso_faces))
    host = PluginHost()
    host.add(virtuoso_prism, "prism")
    host.add(third, "third")
    settings = parse_config('[prism.weights]\nsentiment = 0.0\nghost = 1.0\n[prism.signal]\nhysteresis = 5\n'
                            '[timeframes]\nltf = "15m"\n')
    prism = build_prism(host, settings)
    assert {f.name for f in prism.faces} == {f.name for f in FACES} | {"flow_plus"}
    assert prism.weights["sentiment"] == 0.0 and prism.weights["flow_plus"] == 0.5
    assert any("ghost" in p for p in host.problems)
    assert prism.timeframes == {"4h": 0.40, "15m": 0.60}  # ltf and mtf both 15m: weights add
    assert prism.hysteresis == 5.0 and prism.confirm_ms == 30_000   # [prism.signal] confirm_s default
    sig = prism.update(full_state, frozenset())
    assert sig.faces["sentiment"].weight == 0.0 and sig.faces["flow_plus"].weight > 0


def test_orderbook_shows_slippage_for_a_given_notional_without_scoring_it(full_state):
    from virtuoso_prism import OrderbookFace

    plain = OrderbookFace().score(full_state, BLEND)
    shown = OrderbookFace({"impact_notional": 1000.0}).score(full_state, BLEND)
    rows = {c.name: c for c in shown.components}
    assert rows["impact"].raw["notional_buy_bps"] == pytest.approx(full_state.book.impact("buy", 1000.0).slippage_bps)
    assert "1,000 quote" in rows["impact"].detail
    assert shown.score == plain.score


def test_a_third_party_face_replaces_a_built_in_only_when_config_says_so(full_state):
    from virtuoso_tui.config import parse_config
    from virtuoso_tui.plugins import PluginHost

    def virtuoso_faces():
        return [Fixed("orderflow", 90.0)]

    third = types.SimpleNamespace(virtuoso_faces=virtuoso_tui_hookimpl(virtuoso_faces))
    host = PluginHost()
    host.add(virtuoso_prism, "prism")
    host.add(third, "third")
    default = build_prism(host, parse_config(""))
    assert type(next(f for f in default.faces if f.name == "orderflow")).__module__.startswith("virtuoso_prism")
    chosen = build_prism(host, parse_config('[prism.faces]\norderflow = "third"\n'))
    replaced = next(f for f in chosen.faces if f.name == "orderflow")
    assert isinstance(replaced, Fixed)
    assert chosen.evaluate(full_state).faces["orderflow"].score == pytest.approx(90.0)
    assert len(chosen.faces) == len(FACES)


def test_div_tables_never_cut_a_number_on_a_narrow_screen(full_state):
    """At 80x24 the DIV panel is ~42 columns: the compact layout drops the gauge and may shorten names,
    but every score, weight, impact and DIV is printed whole."""
    import io

    from rich.console import Console

    from virtuoso_tui.prism.render import confluence_table, face_table

    prism = Prism(FACES)
    sig = prism.evaluate(full_state)
    for width in (40, 42, 50, 63):
        for table in [face_table(r, width=width) for r in sig.faces.values()] + [confluence_table(sig, width)]:
            buf = io.StringIO()
            Console(file=buf, width=width, color_system=None).print(table)
            text = buf.getvalue()
            assert all(len(line) <= width for line in text.splitlines())
            lines = text.splitlines()
            header = next(i for i, line in enumerate(lines) if line.startswith("COMPONENT"))
            last = next(i for i, line in enumerate(lines) if line.startswith(("FINAL SCORE", "CONFLU")))
            rows = [line for line in lines[header + 1:last + 1] if line and not line.startswith(" ")]
            assert rows, text
            for line in rows:
                cells = line.split()[2:] if line.startswith("FINAL SCORE") else line.split()[1:]
                numeric = [c for c in cells if any(ch.isdigit() for ch in c)]
                assert numeric or "n/a" in cells or "conf" in cells, line
                assert all(re.fullmatch(r"[+-]?\d+\.\d+", c) for c in numeric), line
