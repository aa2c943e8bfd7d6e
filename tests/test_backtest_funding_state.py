"""Funding in candle backtests reaches the market state, so the sentiment face's funding component scores.

run_events(funding=...) pays settled funding through the broker AND applies it to the state the strategy
reads (the replay view and the live MarketState alike), at the open of the first bar at or after each
funding time; rates settled before the data starts are history the state holds from the first bar.
Checked on real Binance USD-M BTC 1h candles and funding rates from ../shared/data: the funding
component scores with funding and is n/a without; at every decision the rate the face read is the last
one settled at or before that bar's open (independent numpy lookup in the file); both feeds agree.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

from virtuoso_tui.backtest.data import load_candles, load_funding  # noqa: E402
from virtuoso_tui.backtest.engine import run_events  # noqa: E402
from virtuoso_tui.backtest.runner import resolve_strategy, run_backtest  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
CANDLES = DATA / "ohlcv" / "binance-usdm-futures" / "BTC_USDT_USDT-1h-futures.feather"
FUNDING = DATA / "derivatives" / "binance-usdm-futures" / "BTC_USDT_USDT-1h-funding_rate.feather"
SYMBOL = "BTC/USDT:USDT"


@pytest.fixture(scope="module")
def market():
    candles = load_candles(CANDLES, symbol=SYMBOL)
    f_ts, f_rate = load_funding(FUNDING)
    # start a few days after funding begins, so some funding is history before the first bar
    start = int(np.searchsorted(candles.ts, f_ts[0] + 3 * 86_400_000))
    return candles.slice(start, start + 300), (f_ts, f_rate)


def _run(candles, funding, feed="replay"):
    strategy = resolve_strategy("prism")({"timeframes": "1h:0.6,4h:0.4"}, record=True)
    er = run_events(candles, strategy, fee=0.001, funding=funding, feed=feed)
    return strategy, er


def _funding_row(signal):
    return {c.name: c for c in signal.faces["sentiment"].components}["funding"]


def test_funding_component_scores_with_funding_and_is_na_without(market):
    candles, funding = market
    with_f, _ = _run(candles, funding)
    without, _ = _run(candles, None)
    row = _funding_row(with_f.tape[-1][1])
    assert row.score is not None and 0.0 <= row.score <= 100.0 and row.weight > 0.0
    bare = _funding_row(without.tape[-1][1])
    assert bare.score is None and bare.weight == 0.0
    # the sentiment face really changes with the funding it now reads
    assert with_f.tape[-1][1].faces["sentiment"].score != without.tape[-1][1].faces["sentiment"].score


def test_the_rate_read_at_each_close_is_the_last_settled_at_or_before_the_bar_open(market):
    candles, (f_ts, f_rate) = market
    strategy, _ = _run(candles, (f_ts, f_rate))
    checked = 0
    for bar_ts, signal in strategy.tape:
        row = _funding_row(signal)
        if signal.faces["sentiment"].score is None:
            continue
        k = int(np.searchsorted(f_ts, bar_ts, side="right")) - 1   # never a rate settled after the open
        assert row.raw["rate"] == pytest.approx(float(f_rate[k]), abs=0.0)
        checked += 1
    assert checked > 200
    # funding settled before the data starts is known at the first bar
    assert f_ts[0] < candles.ts[0]


def test_replay_view_and_live_marketstate_read_the_same_funding(market):
    candles, funding = market
    replay, er_r = _run(candles, funding, "replay")
    live, er_m = _run(candles, funding, "market")
    rates_r = [_funding_row(s).raw.get("rate") for _, s in replay.tape]
    rates_m = [_funding_row(s).raw.get("rate") for _, s in live.tape]
    assert rates_r == rates_m and any(r is not None for r in rates_r)
    assert [s.score for _, s in replay.tape] == [s.score for _, s in live.tape]
    assert er_r.funding_paid == er_m.funding_paid
    assert [(t["entry_time"], t["exit_time"], t["size"]) for t in er_r.trades] == \
        [(t["entry_time"], t["exit_time"], t["size"]) for t in er_m.trades]


def test_funding_still_pays_and_the_runner_passes_it(market):
    candles, funding = market
    result = run_backtest(candles, "prism", {"timeframes": "1h:0.6,4h:0.4", "allow_short": True,
                                             "long_threshold": 56.0, "short_threshold": 44.0},
                          funding=funding, fee=0.001)
    assert result.mode == "event" and result.trades
    # state and broker both get the funding: the trades still carry the payments made while they were open
    paid = sum(t.get("funding", 0.0) for t in result.trades)
    assert paid != 0.0
