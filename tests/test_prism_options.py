"""Per-face options: `[prism.options.NAME]` in virtuoso.toml reaches the face called NAME and changes
what it computes (checked against TA-Lib and hand computations on real data); a bad option is one
clear error naming the face and the key; a table for a face nobody provides is reported, not fatal."""

from __future__ import annotations

import math

import numpy as np
import pytest
import talib
import virtuoso_prism
from test_prism_support import BLEND, market
from virtuoso_prism import FACES, OrderbookFace, OrderflowFace, TechnicalFace, VolumeFace

from virtuoso_tui.config import parse_config
from virtuoso_tui.plugins import PluginHost
from virtuoso_tui.prism.blended import candle_view
from virtuoso_tui.prism.engine import Prism, build_prism
from virtuoso_tui.prism.indicators import vpin


@pytest.fixture(scope="module")
def state():
    return market(21, trades=3000).state()


def rows(result):
    return {c.name: c for c in result.components}


def prism_from(toml: str) -> tuple[Prism, PluginHost]:
    host = PluginHost()
    host.add(virtuoso_prism, "prism")
    return build_prism(host, parse_config(toml)), host


def test_shipped_defaults_have_no_face_options():
    settings = parse_config("")
    assert dict(settings.prism.options) == {}
    prism, _ = prism_from("")
    for face in prism.faces:
        assert {k: v for k, v in face.options.items() if k != "div_cap"} == type(face).option_defaults


def test_rsi_period_from_the_config_reaches_the_technical_face(state):
    prism, _ = prism_from("[prism.options.technical]\nrsi_period = 21\ncci_period = 30\n")
    technical = next(f for f in prism.faces if f.name == "technical")
    assert technical.options["rsi_period"] == 21 and technical.options["cci_period"] == 30
    result = technical.score(state, BLEND)
    for tf in BLEND:
        view = candle_view(state.candles[tf], tf)
        raw = rows(result)
        assert raw["rsi"].raw[tf]["rsi"] == pytest.approx(talib.RSI(view.c, 21)[-1], abs=1e-9)
        assert raw["cci"].raw[tf]["cci"] == pytest.approx(talib.CCI(view.h, view.l, view.c, 30)[-1], abs=1e-9)
    default = rows(TechnicalFace().score(state, BLEND))
    assert default["rsi"].raw["5m"]["rsi"] != pytest.approx(rows(result)["rsi"].raw["5m"]["rsi"], abs=1e-6)


def test_component_weights_of_a_face_are_set_per_face(state):
    face = TechnicalFace({"weights": {"rsi": 0.5, "cci": 0.0}})
    result = face.score(state, BLEND)
    nominal = {"ao": 0.20, "rsi": 0.5, "macd": 0.15, "williams_r": 0.15, "cci": 0.0}
    total = sum(nominal.values())
    got = rows(result)
    for name, w in nominal.items():
        assert got[name].weight == pytest.approx(w / total, abs=1e-12), name
    assert result.score == pytest.approx(sum(got[n].weight * got[n].final for n in nominal), abs=1e-9)
    assert TechnicalFace.components["rsi"] == 0.20  # the class's weights are untouched


def test_vpin_bucket_count_reaches_the_orderflow_face(state):
    trades = state.trades
    face = OrderflowFace({"vpin_buckets": 40})
    tox = rows(face.score(state, BLEND))["toxicity"].raw
    chunk = 1000 // 20
    end = len(trades) - trades.total % chunk  # the window ends at the last complete chunk
    amount, side = trades.amount[end - 1000:end], trades.side[end - 1000:end]
    expected, direction = vpin(amount, side, 40)
    assert tox["vpin"] == pytest.approx(expected, rel=1e-9)
    assert tox["direction"] == pytest.approx(direction, rel=1e-9, abs=1e-12)
    assert tox["vpin"] != pytest.approx(vpin(amount, side, 50)[0], rel=1e-6)


def test_volume_window_and_book_levels(state):
    rv = rows(VolumeFace({"window": 10}).score(state, BLEND))["relative_volume"].raw["15m"]["rvol"]
    v = state.candles["15m"].volume
    assert rv == pytest.approx(v[-3:].mean() / v[-10:].mean(), rel=1e-12)
    liq = rows(OrderbookFace({"levels": 5}).score(state, BLEND))["liquidity"].raw
    bids, asks = state.book.bids(5), state.book.asks(5)
    mid = math.sqrt(bids[0, 0] * asks[0, 0])
    within = lambda side, bps: float(side[np.abs(np.log(side[:, 0] / mid)) * 1e4 <= bps, 1].sum())  # noqa: E731
    assert liq["bid_ask_100bps"] == pytest.approx((within(bids, 100), within(asks, 100)), rel=1e-12)


@pytest.mark.parametrize("toml, message", [
    ("[prism.options.technical]\nrsi_perod = 21\n",
     "[prism.options.technical] face 'technical' has no option 'rsi_perod' (its options: ao_fast, "),
    ("[prism.options.technical]\nrsi_period = 1\n", "[prism.options.technical] face 'technical' option 'rsi_period' must be >= 2"),
    ("[prism.options.technical]\nrsi_period = 14.5\n", "option 'rsi_period' must be a whole number, got 14.5"),
    ("[prism.options.orderflow]\nvpin_buckets = 'many'\n", "face 'orderflow' option 'vpin_buckets' must be a whole number"),
    ("[prism.options.orderbook]\nimpact_notional = -5\n", "face 'orderbook' option 'impact_notional' must be > 0, got -5"),
    ("[prism.options.volume]\nweights = { nope = 1 }\n", "face 'volume' option 'weights': 'nope' is not one of its components"),
    ("[prism.options.volume]\nweights = { cmf = -1 }\n", "option 'weights': cmf must be a number >= 0, got -1"),
    ("[prism.options.sentiment]\nweights = { funding = 0, long_short = 0, liquidations = 0, volume_sentiment = 0, "
     "market_mood = 0, open_interest = 0 }\n", "leaves every component at weight 0"),
    ("[prism.options.technical]\ndiv_cap = -1\n", "option 'div_cap' must be a number >= 0"),
    ("[prism.options]\ntechnical = 3\n", "[prism.options] technical must be a table"),
])
def test_a_bad_option_is_one_clear_error_naming_face_and_key(toml, message):
    with pytest.raises(ValueError) as info:
        prism_from(toml)
    assert message in str(info.value)


def test_a_bad_option_fails_direct_construction_too():
    with pytest.raises(ValueError, match="face 'orderflow' has no option 'windw'"):
        OrderflowFace({"windw": 500})


def test_options_for_a_face_nobody_provides_are_reported_and_ignored():
    prism, host = prism_from("[prism.options.ghost]\nx = 1\n")
    assert {f.name for f in prism.faces} == {f.name for f in FACES}
    assert any("[prism.options.ghost]" in p and "ignored" in p for p in host.problems)


def test_the_cli_stops_with_the_error(tmp_path, capsys):
    from virtuoso_tui.cli import main

    bad = tmp_path / "virtuoso.toml"
    bad.write_text("[prism.options.technical]\nrsi_perod = 21\n")
    assert main(["analyze", "BTC/USDT:USDT", "--config", str(bad), "--warmup", "60"]) != 0
    err = capsys.readouterr().err
    assert "[prism.options.technical]" in err and "'rsi_perod'" in err
