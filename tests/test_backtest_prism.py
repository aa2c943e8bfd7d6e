"""The `prism` strategy in backtests: the desk's SignalStrategy driven by a real Prism over the backtest's state.

Checked: it is THE desk strategy (registry entry = SignalStrategy subclass, same name, same on_signal /
exit_plan); it runs and trades on real candles (candle faces score, trade/book/funding faces n/a), on
the seeded sim through the CLI, and on a sim recording with trades, books and funding (all six faces,
fills against the book); runs are deterministic; a hand-worked scenario checks entry timing, ATR sizing,
the leverage cap and the stop exit; bad params fail with one clear error.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import talib

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

from virtuoso_tui.backtest.data import Candles, load_candles, sim_events  # noqa: E402
from virtuoso_tui.backtest.engine import run_events  # noqa: E402
from virtuoso_tui.backtest.replay import run_recording  # noqa: E402
from virtuoso_tui.backtest.runner import resolve_strategy, run_backtest, strategy_registry  # noqa: E402
from virtuoso_tui.cli import main  # noqa: E402
from virtuoso_tui.prism.face import ComponentScore, Face, FaceResult  # noqa: E402
from virtuoso_tui.trading.signal_strategy import SignalStrategy  # noqa: E402

OHLCV = ROOT.parent / "shared" / "data" / "ohlcv"
SIM_SYMBOL = "BTC/USDT:USDT"
CANDLE_FACES = {"technical", "volume", "price_structure"}
STREAM_FACES = {"orderflow", "orderbook"}
#: sentiment reads funding, long/short, liquidations, trades and OI; only its market mood comes from candles
SENTIMENT_STREAMS = {"funding", "long_short", "liquidations", "volume_sentiment", "open_interest"}


def btc_15m(n: int = 1500) -> Candles:
    return load_candles(OHLCV / "binance-spot-2024" / "BTC_USDT-15m.feather", symbol="BTC/USDT").slice(0, n)


@pytest.fixture(scope="module")
def sim_recording():
    """2.5 hours of the seeded sim: trades, book snapshots and deltas, tickers, funding, OI, long/short."""
    return list(sim_events(SIM_SYMBOL, 2.5 * 3600, seed=7))


def test_the_registered_prism_is_the_desk_strategy():
    cls = strategy_registry()["prism"]
    assert cls is resolve_strategy("prism")
    assert issubclass(cls, SignalStrategy) and cls.name == SignalStrategy.name == "prism"
    # one implementation: entries/exits and stops are inherited, never re-implemented
    assert cls.on_signal is SignalStrategy.on_signal and cls.exit_plan is SignalStrategy.exit_plan
    assert set(SignalStrategy.params) <= set(cls.params)
    # the desk's way of building it (params, sizer, stats) works on the registered class too
    from virtuoso_tui.trading.sizing import Sizer

    desk_style = cls({"atr_mult": 3.0}, Sizer({"method": "atr"}), None)
    assert desk_style.sizer.s["method"] == "atr" and desk_style.p["atr_mult"] == 3.0


def _trades_key(trades):
    return [(t["entry_time"], t["exit_time"], t["entry_price"], t["exit_price"], t["size"]) for t in trades]


def test_backtest_on_real_candles_trades_and_is_deterministic():
    candles = btc_15m(1000)
    a = run_backtest(candles, "prism", {"allow_short": True}, fee=0.001)
    b = run_backtest(candles, "prism", {"allow_short": True}, fee=0.001)
    assert a.mode == "event" and a.strategy == "prism"
    assert len(a.trades) >= 5
    assert {t["side"] for t in a.trades} == {"long", "short"}
    assert _trades_key(a.trades) == _trades_key(b.trades)
    assert np.array_equal(a.equity, b.equity)
    assert a.equity.shape == (len(candles),) and np.isfinite(a.equity).all()
    fees = sum(t["fees"] for t in a.trades)
    assert fees > 0 and a.metrics["trades"] == len(a.trades)


def test_replay_feed_and_live_marketstate_feed_trade_the_same():
    candles = btc_15m(700)
    replay = run_backtest(candles, "prism", {"allow_short": True}, mode="event", feed="replay")
    market = run_backtest(candles, "prism", {"allow_short": True}, mode="event", feed="market")
    assert replay.trades and _trades_key(replay.trades) == _trades_key(market.trades)
    assert np.array_equal(replay.equity, market.equity)


def test_candle_files_score_the_candle_faces_and_leave_the_others_na():
    candles = btc_15m(400)
    strategy = resolve_strategy("prism")({}, record=True)
    er = run_events(candles, strategy, fee=0.001)
    assert len(strategy.tape) == len(candles)
    assert strategy.timeframes == {"4h": 0.40, "15m": 0.35}   # 5m is below the data's timeframe
    ts, last = strategy.tape[-1]
    assert ts == int(candles.ts[-1])
    scored = {n for n, r in last.faces.items() if r.score is not None}
    assert scored == CANDLE_FACES | {"sentiment"}
    for name in STREAM_FACES:
        assert last.faces[name].score is None and last.faces[name].weight == 0.0
    sentiment = {c.name: c for c in last.faces["sentiment"].components}
    assert sentiment["market_mood"].score is not None
    assert all(sentiment[c].score is None and sentiment[c].detail.startswith("n/a") for c in SENTIMENT_STREAMS)
    # before 35 closed candles no face can score: no signal, no decision
    assert all(s.score is None for _, s in strategy.tape[:34]) and strategy.tape[34][1].score is not None
    assert all(bar >= 34 for bar, _ in er.decisions)
    # the confluence is the weighted sum of the candle faces alone
    sig = last
    eff = sum(r.weight * (50 + r.confidence * (r.score - 50)) for r in sig.faces.values() if r.score is not None)
    assert sig.score == pytest.approx(eff, abs=1e-12)


def test_entries_follow_the_signal_and_respect_the_leverage_cap():
    candles = btc_15m(1200)
    strategy = resolve_strategy("prism")({"max_leverage": 0.5}, record=True)
    er = run_events(candles, strategy, fee=0.0)
    assert [bar for bar, _ in strategy.orders] == [bar for bar, _ in er.decisions]
    entries = [(bar, i) for bar, intents in strategy.orders for i in intents if i.tag == "entry"]
    assert entries
    for bar, intent in entries:
        sig = strategy.tape[bar][1]
        assert sig.side == "LONG" and sig.changed and intent.side == "buy"   # allow_short is off
        assert intent.origin == "strategy:prism"
        assert intent.amount * candles.close[bar] <= 0.5 * er.equity[bar] * (1 + 1e-12)


class ScriptedFace(Face):
    """A test face whose score follows a script by bar (candles only): 50 until `long_at`, then 90."""

    name = "scripted"
    default_weight = 1.0
    requires = frozenset({"candles"})

    def __init__(self, options=None):
        super().__init__(options)
        self.long_at = int(self.options.get("long_at", 40))

    def score(self, state, timeframes):
        n = state.candles[state.own.base].total
        s = 90.0 if n - 1 >= self.long_at else 50.0
        return FaceResult(self.name, state.symbol, int(state.now or 0), s, 1.0, [ComponentScore("script", s, 1.0)])


def test_hand_worked_entry_size_and_stop_exit():
    # 80 hourly bars: a gentle rise with a fixed 1.0 range, then a fall through the stop at bar 60
    n = 80
    ts = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000 + np.arange(n, dtype=np.int64) * 3_600_000
    close = 100.0 + 0.05 * np.arange(n)
    close[60:] = close[59] - 4.0 - 0.5 * np.arange(n - 60)
    open_ = np.concatenate(([close[0]], close[:-1]))
    high, low = np.maximum(open_, close) + 0.5, np.minimum(open_, close) - 0.5
    candles = Candles(ts, open_, high, low, close, np.full(n, 10.0), "TEST/USDT", "1h")
    strategy = resolve_strategy("prism")({"timeframes": "1h", "trailing": False, "breakeven_r": 0.0,
                                          "take_profit_r": 0.0, "max_leverage": 10.0},
                                         faces=[ScriptedFace({"long_at": 40})], record=True)
    er = run_events(candles, strategy, fee=0.0, capital=10_000.0)
    assert [bar for bar, _ in er.decisions] == [40, 60] == [bar for bar, _ in strategy.orders]
    (entry,) = strategy.orders[0][1]
    a = talib.ATR(high[:41], low[:41], close[:41], 14)[-1]
    # ATR sizing: risk 1% of equity over a stop 2 ATR away (sized at the deciding close)
    assert entry.side == "buy" and entry.tag == "entry"
    assert entry.amount == pytest.approx(10_000 * 0.01 / (2 * a), rel=1e-12)
    stop = open_[41] - 2 * a                       # the entry filled at the next open
    assert low[59] > stop >= low[60]               # bar 60 is the first to trade through the stop
    (exit_,) = strategy.orders[1][1]
    assert exit_.side == "sell" and exit_.reduce_only and exit_.origin == "exit:stop"
    assert exit_.amount == pytest.approx(entry.amount)
    (trade,) = er.trades
    assert trade["entry_price"] == open_[41] and trade["exit_price"] == open_[61]   # next-event fills
    assert trade["pnl"] == pytest.approx(entry.amount * (open_[61] - open_[41]))


def test_cli_backtest_on_the_seeded_sim(capsys):
    args = ["backtest", "--source", "sim", "--symbol", SIM_SYMBOL, "--timeframe", "1m", "--bars", "150",
            "--strategy", "prism", "--param", "timeframes=1m:0.6,5m:0.4", "--param", "allow_short=true", "--json"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["strategy"] == "prism" and doc["mode"] == "event" and doc["symbol"] == SIM_SYMBOL
    assert doc["params"]["timeframes"] == "1m:0.6,5m:0.4" and doc["params"]["allow_short"] is True
    assert doc["equity"][0]["equity"] == 10_000.0 and len(doc["trades"]) >= 1
    assert main(args) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["trades"] == doc["trades"] and again["equity"] == doc["equity"]


def test_cli_backtest_replays_sim_trades_and_books(capsys):
    assert main(["backtest", "--source", "sim", "--events", "--symbol", SIM_SYMBOL, "--timeframe", "1m",
                 "--bars", "70", "--strategy", "prism", "--param", "timeframes=1m", "--param", "allow_short=true",
                 "--param", "long_threshold=58", "--param", "short_threshold=42", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["mode"] == "recording" and doc["metrics"]["book_fills"] >= 1 and len(doc["trades"]) >= 1


def test_recording_with_trades_books_and_funding_scores_all_six_faces(sim_recording):
    params = {"timeframes": "1m:0.6,5m:0.4", "allow_short": True}
    runs = []
    for _ in range(2):
        strategy = resolve_strategy("prism")(params, record=True)
        rr = run_recording(sim_recording, strategy, symbol=SIM_SYMBOL, timeframe="1m", fee=0.0005)
        runs.append((strategy, rr))
    (strategy, rr), (_, rr2) = runs
    last = strategy.tape[-1][1]
    assert {n for n, r in last.faces.items() if r.score is not None} == CANDLE_FACES | STREAM_FACES | {"sentiment"}
    sentiment = {c.name: c for c in last.faces["sentiment"].components}
    assert sentiment["funding"].score is not None and sentiment["open_interest"].score is not None
    assert len(rr.trades) >= 1 and rr.extra["book_fills"] >= 1   # orders walked the recorded book
    assert _trades_key(rr.trades) == _trades_key(rr2.trades) and np.array_equal(rr.equity, rr2.equity)


def test_weights_and_thresholds_reach_the_prism(sim_recording):
    events = sim_recording[: len(sim_recording) // 2]
    strategy = resolve_strategy("prism")({"timeframes": "1m", "w_orderflow": 0.0, "w_sentiment": 0.0,
                                          "long_threshold": 60.0, "short_threshold": 40.0, "hysteresis": 1.0},
                                         record=True)
    run_recording(events, strategy, symbol=SIM_SYMBOL, timeframe="1m")
    prism = strategy.prism
    assert prism.weights["orderflow"] == 0.0 and prism.weights["technical"] == 0.15
    assert (prism.long_threshold, prism.short_threshold, prism.hysteresis) == (60.0, 40.0, 1.0)
    sig = strategy.tape[-1][1]
    assert sig.faces["orderflow"].weight == 0.0 and sig.faces["orderbook"].weight > 0.0


def test_optimise_over_face_weights_and_thresholds():
    from virtuoso_tui.backtest.optimize import optimize

    candles = load_candles(OHLCV / "binance-spot-2024" / "BTC_USDT-4h.feather", symbol="BTC/USDT").slice(0, 500)
    result = optimize(candles, "prism", grid={"w_technical": [0.05, 0.6], "long_threshold": [58.0, 66.0]},
                      objective="total_return", workers=1)
    assert len(result.rows) == 4 and not any(r.get("error") for r in result.rows)
    returns = {(r["params"]["w_technical"], r["params"]["long_threshold"]): r["metrics"]["total_return"]
               for r in result.rows}
    assert len(set(returns.values())) > 1            # the weights and thresholds really reach the prism
    best = run_backtest(candles, "prism", result.best["params"])
    assert best.metrics["total_return"] == pytest.approx(max(returns.values()))


@pytest.mark.parametrize("params, message", [
    ({"timeframes": "7m:1"}, "timeframe '7m'"),
    ({"timeframes": "1h:-1"}, "must be positive"),
    ({"window": 50}, "at least 100"),
    ({"max_leverage": 0.0}, "max_leverage"),
    ({"nope": 1}, "no parameter 'nope'"),
])
def test_bad_params_fail_with_one_clear_error(params, message):
    with pytest.raises(ValueError, match=message):
        resolve_strategy("prism")(params)


def test_quiet_bars_and_repeated_calls_decide_nothing_twice():
    candles = btc_15m(120)
    strategy = resolve_strategy("prism")({}, record=True)
    run_events(candles, strategy)
    before = len(strategy.tape)
    # calling again without a newly closed candle neither rescans nor re-decides
    from virtuoso_tui.backtest.engine import ReplayState
    from virtuoso_tui.model import Position
    from virtuoso_tui.trading.strategy import StrategyContext

    state = strategy.view._source
    assert isinstance(state, ReplayState)
    ctx = StrategyContext("BTC/USDT", "15m", 0, state, Position("BTC/USDT"), 10_000.0, 10_000.0)
    assert strategy.on_bar(ctx) == [] and len(strategy.tape) == before
    assert math.isfinite(strategy.last_signal.score)


CONFIGURED = """
[timeframes]
weights = { ltf = 0.0, mtf = 0.5, htf = 0.5 }
[prism]
div_cap = 6.0
[prism.weights]
orderflow = 0.0
technical = 0.4
[prism.signal]
long_threshold = 58.0
short_threshold = 42.0
hysteresis = 1.5
[prism.options.technical]
rsi_period = 21
[strategy]
name = "prism"
[strategy.params]
allow_short = true
[strategy.sizing]
method = "fixed"
notional = 500.0
"""


def test_backtest_runs_the_configured_prism_not_the_defaults(tmp_path, capsys):
    """What the trader watches live is what `virtuoso backtest --strategy prism` scores: thresholds,
    weights, blend, div cap, face options and [strategy.params] come from the config; --param wins."""
    cfg = tmp_path / "virtuoso.toml"
    cfg.write_text(CONFIGURED, encoding="utf-8")
    from virtuoso_tui.config import load_config

    params = resolve_strategy("prism").config_params(load_config(str(cfg)))
    assert params["timeframes"] == "4h:0.5,15m:0.5" and params["div_cap"] == 6.0
    assert (params["long_threshold"], params["short_threshold"], params["hysteresis"]) == (58.0, 42.0, 1.5)
    assert params["w_orderflow"] == 0.0 and params["w_technical"] == 0.4 and params["allow_short"] is True
    assert json.loads(params["face_options"]) == {"technical": {"rsi_period": 21}}
    strategy = resolve_strategy("prism")(params, record=True)
    # the desk sizes the strategy's entries by [strategy.sizing]: so does the backtest
    assert strategy.sizer.s["method"] == "fixed" and strategy.sizer.amount(100.0, 10_000.0) == 5.0
    candles = btc_15m(400)
    run_events(candles, strategy)
    technical = next(f for f in strategy.prism.faces if f.name == "technical")
    assert technical.options["rsi_period"] == 21 and strategy.prism.div_cap == 6.0
    rsi = {c.name: c for c in strategy.tape[-1][1].faces["technical"].components}["rsi"]
    c = np.log(candles.close)   # the faces work on ln(price)
    assert rsi.raw["15m"]["rsi"] == pytest.approx(talib.RSI(c, 21)[-1], abs=1e-9)   # RSI(21), not RSI(14)
    assert rsi.raw["15m"]["rsi"] != pytest.approx(talib.RSI(c, 14)[-1], abs=1e-6)

    data = str(OHLCV / "binance-spot-2024" / "BTC_USDT-15m.feather")
    run = ["backtest", "--data", data, "--to", "2024-01-05", "--strategy", "prism", "--json", "--config", str(cfg)]
    assert main(run) == 0
    configured = json.loads(capsys.readouterr().out)
    assert {k: configured["params"][k] for k in params} == params
    assert main(run + ["--param", "long_threshold=70"]) == 0
    overridden = json.loads(capsys.readouterr().out)["params"]
    assert overridden["long_threshold"] == 70.0 and overridden["w_technical"] == 0.4


@pytest.mark.parametrize("options, message", [
    ('{"technical": {"rsi_period": 1}}', "face_options technical"),
    ('{"nobody": {"x": 1}}', "names no face of this prism: nobody"),
    ("[1, 2]", "JSON object of face -> options"),
])
def test_bad_face_options_fail_with_one_clear_error(options, message):
    with pytest.raises(ValueError, match=message):   # at construction, or at the first bar (faces known)
        run_events(btc_15m(150), resolve_strategy("prism")({"face_options": options}))


def test_cli_backtests_a_recorded_database_with_every_record(tmp_path, capsys, sim_recording):
    """`virtuoso record` then `virtuoso backtest --source db --events`: the trades, books, funding and
    the rest go through MarketState as recorded, so the run equals a replay of the same records."""
    from virtuoso_tui.backtest.runner import run_recorded
    from virtuoso_tui.storage import Storage

    events = sim_recording[: len(sim_recording) // 3]   # ~50 minutes
    db = tmp_path / "rec.db"
    storage = Storage(str(db), record=["trades", "books", "funding", "open_interest", "liquidations", "long_short"])
    stored = sum(storage.record(e) for e in events)
    storage.close()
    params = {"timeframes": "1m:0.6,5m:0.4", "allow_short": True, "long_threshold": 56.0, "short_threshold": 44.0}
    direct = run_recorded((e for e in events if type(e).__name__ != "Ticker"), "prism", params,
                          symbol=SIM_SYMBOL, timeframe="1m", fee=0.0005)
    args = ["backtest", "--source", "db", "--db", str(db), "--events", "--symbol", SIM_SYMBOL, "--timeframe", "1m",
            "--strategy", "prism", "--fee", "0.0005", "--json"] + [f"--param={k}={v}" for k, v in params.items()]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert stored > 1000 and doc["mode"] == "recording" and doc["metrics"]["book_fills"] >= 1
    assert len(doc["trades"]) == len(direct.trades) >= 1
    assert [t["entry_price"] for t in doc["trades"]] == pytest.approx([t["entry_price"] for t in direct.trades])
    assert main(["backtest", "--source", "db", "--db", str(tmp_path / "none.db"), "--events",
                 "--symbol", SIM_SYMBOL]) == 2
    assert "no database at" in capsys.readouterr().err
