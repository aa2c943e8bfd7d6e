"""Golden outputs of the whole prism: `analyze_json` of fixed markets, recorded before the prism was
optimised, must come back unchanged (scores, weights, DIVs, impacts, confidences to 1e-12; raw display
values to 1e-12 relative; labels and reasons exactly).

The markets are the real-data markets of tests/test_prism_support.py at fixed seeds (with and without
1m candles, with data kinds missing), a seeded generated market with flat bars, empty bars and
unknown-side trades, and one incremental run (trades crossing orderflow chunk boundaries, then a 5m
candle close) so the caching paths are pinned as well as the full evaluation.
The recorded values live in tests/test_prism_golden.json; re-record ONLY for an intended change of
scoring:  .venv/bin/python tests/test_prism_golden.py --record
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
from test_prism_support import BLEND, generated_market, market
from virtuoso_prism import FACES

from virtuoso_tui.model.market import Candle, Trade
from virtuoso_tui.prism.engine import Prism
from virtuoso_tui.prism.render import analyze_json

GOLDEN = Path(__file__).with_suffix(".json")
TOLERANCE = 1e-12


def _incremental() -> dict:
    m = market(8, n={"1m": 300, "5m": 300, "15m": 200, "4h": 80}, trades=2500)
    state = m.state()
    prism = Prism(FACES, timeframes=BLEND)
    prism.evaluate(state)
    price = float(state.last_price)
    sig = None
    for i in range(130):
        trade = Trade(state.symbol, int(state.now) + 700, price * (1 + 2e-4 * (i % 5 - 2)), 0.2 + 0.05 * i,
                      "buy" if i % 3 else "sell")
        sig = prism.on_update(state, state.apply(trade))
    ts = int(m.candles["5m"]["ts"][-1]) + 300_000
    sig = prism.on_update(state, state.apply(Candle(state.symbol, "5m", ts, price, price * 1.01, price * 0.99,
                                                        price * 1.004, 12.0, 7.0)))
    return analyze_json(sig)


CASES = {
    "real_21": lambda: market(21).state(),
    "real_7_bench": lambda: market(7, n={"1m": 500, "5m": 500, "15m": 500, "4h": 500}, trades=10_000).state(),
    "real_11_no_book": lambda: market(11).without("book").state(),
    "real_4_no_funding_no_ls": lambda: market(4).without("funding").without("long_short").state(),
    "generated_5": lambda: generated_market(5).state(),
    "generated_17_flat": lambda: generated_market(17, flat_share=0.3).state(),
}


def produce(name: str) -> dict:
    if name == "incremental_8":
        return _incremental()
    return analyze_json(Prism(FACES, timeframes=BLEND).evaluate(CASES[name]()))


NAMES = [*CASES, "incremental_8"]


def assert_same(got, want, path: str = "", in_raw: bool = False) -> None:
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), f"{path}: keys {sorted(got)} != {sorted(want)}"
        for k in want:
            assert_same(got[k], want[k], f"{path}.{k}", in_raw or k == "raw")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{path}: {got!r} != {want!r}"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same(g, w, f"{path}[{i}]", in_raw)
    elif isinstance(want, float) and not isinstance(want, bool):
        assert isinstance(got, (int, float)) and not isinstance(got, bool), f"{path}: {got!r} != {want!r}"
        scale = max(1.0, abs(want)) if in_raw else 1.0
        assert math.isclose(got, want, rel_tol=0.0, abs_tol=TOLERANCE * scale), f"{path}: {got!r} != {want!r}"
    else:
        assert got == want, f"{path}: {got!r} != {want!r}"


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads(GOLDEN.read_text())


@pytest.mark.parametrize("name", NAMES)
def test_prism_output_equals_the_recorded_golden(name, golden):
    got = json.loads(json.dumps(produce(name), allow_nan=False))
    assert_same(got, golden[name], name)


def test_the_comparison_can_fail(golden):
    want = golden["real_21"]
    moved = json.loads(json.dumps(want))
    moved["faces"]["technical"]["components"]["rsi"]["score"] += 1e-9
    with pytest.raises(AssertionError, match="rsi.score"):
        assert_same(moved, want)


if __name__ == "__main__" and "--record" in sys.argv:
    GOLDEN.write_text(json.dumps({n: produce(n) for n in NAMES}, indent=1, allow_nan=False) + "\n")
    print(f"recorded {len(NAMES)} cases to {GOLDEN}")
