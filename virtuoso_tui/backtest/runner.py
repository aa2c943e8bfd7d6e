"""One backtest run: resolve the strategy by name, pick the path, compute metrics, shape the output.

`run_backtest` is what the CLI (cli.py), the optimiser (optimize.py) and the walk-forward call. It runs
the vectorised path (vector.py) when the strategy is vectorisable and nothing needs the event engine
(funding, a custom broker, `mode="event"`), the event engine (engine.py) otherwise; both give the same
trades (tests/test_backtest_parity.py). Strategies are looked up through the `virtuoso_strategies` hook
(plugins/virtuoso_strategies registers the built-ins), so a third party's strategy runs the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from virtuoso_tui.backtest.broker import Broker, FixedSlippage
from virtuoso_tui.backtest.data import Candles
from virtuoso_tui.backtest.engine import run_events
from virtuoso_tui.backtest.metrics import compute_metrics
from virtuoso_tui.backtest.vector import run_vector
from virtuoso_tui.model import TIMEFRAMES
from virtuoso_tui.trading.strategy import Strategy

_REGISTRY: dict[str, type[Strategy]] | None = None


def strategy_registry(host: Any = None) -> dict[str, type[Strategy]]:
    """Strategy classes by name from every plugin's `virtuoso_strategies` hook.

    host: a virtuoso_tui.plugins.PluginHost; without one, the entry-point plugins are loaded once
    (the built-in plugin package is also registered directly when its entry point is not installed).
    """
    global _REGISTRY
    if host is not None:
        return {name: item for name, (_, item) in host.registry("virtuoso_strategies").items()}
    if _REGISTRY is None:
        from virtuoso_tui.plugins import PluginHost

        host = PluginHost.load()
        found = {name: item for name, (_, item) in host.registry("virtuoso_strategies").items()}
        if "sma_cross" not in found:
            try:
                import virtuoso_strategies
            except ImportError:
                virtuoso_strategies = None
            if virtuoso_strategies is not None:
                for cls in virtuoso_strategies.virtuoso_strategies():
                    found.setdefault(cls.name, cls)
        _REGISTRY = found
    return dict(_REGISTRY)


def resolve_strategy(strategy: str | type[Strategy], host: Any = None) -> type[Strategy]:
    """A Strategy class from a name or a class; ValueError naming the known strategies otherwise."""
    if isinstance(strategy, type) and issubclass(strategy, Strategy):
        return strategy
    registry = strategy_registry(host)
    try:
        return registry[strategy]
    except KeyError:
        known = ", ".join(sorted(registry)) or "none"
        raise ValueError(f"unknown strategy {strategy!r} (known: {known})") from None


def coerce_params(cls: type[Strategy], params: dict[str, Any] | None) -> dict[str, Any]:
    """Cast string values (from --param k=v) to the type of the declared default."""
    out: dict[str, Any] = {}
    for key, value in (params or {}).items():
        default = cls.params.get(key)
        if isinstance(value, str) and default is not None:
            if isinstance(default, bool):
                value = value.lower() in ("1", "true", "yes", "on")
            elif isinstance(default, int):
                value = int(float(value)) if float(value).is_integer() else float(value)
            elif isinstance(default, float):
                value = float(value)
        out[key] = value
    return out


@dataclass(slots=True)
class BacktestResult:
    strategy: str
    params: dict[str, Any]
    mode: str                              # "vector" or "event"
    ts: np.ndarray
    equity: np.ndarray
    position: np.ndarray
    trades: list[dict[str, Any]]
    metrics: dict[str, float]
    symbol: str = ""
    timeframe: str = ""
    decisions: list[tuple[int, tuple]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The --json document: metrics, trades and per-bar equity starting with the capital.
        Non-finite numbers become null (JSON has no NaN or inf)."""
        return {
            "strategy": self.strategy, "params": self.params, "mode": self.mode, "symbol": self.symbol,
            "timeframe": self.timeframe,
            "metrics": {k: _finite(v) for k, v in self.metrics.items()},
            "trades": [{k: _finite(v) for k, v in t.items()} for t in self.trades],
            "equity": [{"time": int(t), "equity": float(e)} for t, e in zip(self.ts.tolist(), self.equity.tolist(), strict=True)],
            "warnings": self.warnings,
        }


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run_backtest(candles: Candles, strategy: str | type[Strategy] = "sma_cross",
                 params: dict[str, Any] | None = None, *, fee: float = 0.001, slippage_bps: float = 0.0,
                 capital: float = 10_000.0, mode: str = "auto", feed: str = "replay",
                 funding: tuple[np.ndarray, np.ndarray] | None = None, broker: Broker | str | None = None,
                 timeframe: str | None = None, host: Any = None, rules: list[Any] | None = None,
                 paper: dict[str, Any] | None = None) -> BacktestResult:
    """Backtest `strategy` (a name or class) with `params` over `candles`.

    fee: fraction of traded notional per fill; slippage_bps: adverse move per fill; mode: "auto"
    (vector when possible), "vector" or "event"; feed: "replay" or "market" for the event engine;
    funding: (ts ms, rate) settled funding for perpetuals (event engine only); broker: None or
    "candle" (CandleBroker), "paper" (paper.PaperBroker: the real order manager, risk `rules` and paper
    executor; event engine only; `paper`: its executor options, e.g. maker_fee/taker_fee, which then
    replace `fee`) or a Broker instance.
    """
    cls = resolve_strategy(strategy, host)
    params = coerce_params(cls, params)
    instance = cls(params)
    tf = timeframe or candles.timeframe
    if tf not in TIMEFRAMES:
        raise ValueError(f"the candles' timeframe {tf!r} is not one of {', '.join(TIMEFRAMES)}; pass timeframe=")
    if broker == "candle":
        broker = None
    elif broker == "paper":
        from virtuoso_tui.backtest.paper import PaperBroker

        broker = PaperBroker(candles.symbol or "ASSET", capital=capital, fee=fee, paper_options=paper,
                             slippage=FixedSlippage(slippage_bps), rules=rules or ())
    elif isinstance(broker, str):
        raise ValueError(f"unknown broker {broker!r} (candle or paper)")
    needs_event = funding is not None or broker is not None
    if mode == "auto":
        mode = "vector" if cls.vectorisable and not needs_event else "event"
    if mode == "vector":
        if not cls.vectorisable:
            raise ValueError(f"strategy {cls.name!r} is not vectorisable; use mode='event'")
        if needs_event:
            raise ValueError("funding and custom brokers need the event engine (mode='event')")
        targets = instance.target_positions(candles.ts, candles.open, candles.high, candles.low,
                                            candles.close, candles.volume)
        vr = run_vector(candles, targets, fee=fee, slippage_bps=slippage_bps, capital=capital)
        end_time = int(candles.ts[-1]) + TIMEFRAMES[tf] if len(candles) else 0
        equity, position, trades, decisions = vr.equity, vr.position, vr.trades(candles.ts, end_time), []
    elif mode == "event":
        er = run_events(candles, instance, timeframe=tf, fee=fee, slippage=FixedSlippage(slippage_bps),
                        capital=capital, broker=broker, feed=feed, funding=funding)
        equity, position, trades, decisions = er.equity, er.position, er.trades, er.decisions
    else:
        raise ValueError(f"unknown mode {mode!r} (auto, vector or event)")
    metrics = compute_metrics(equity, trades, timeframe=tf, exposure=position, close=candles.close)
    warnings = [w.message for w in candles.warnings] + _paper_notes(broker)
    return BacktestResult(cls.name, instance.p, mode, candles.ts, equity, position, trades, metrics,
                          candles.symbol, tf, decisions, warnings)


def _paper_notes(broker: Any) -> list[str]:
    """What the paper path refused: rejected orders (risk rules, margin) and a trading halt."""
    rejected = getattr(broker, "rejected", None)
    if not rejected:
        return []
    notes = [f"paper: {len(rejected)} order(s) rejected, the first: {rejected[0].reason}"]
    halted = getattr(getattr(broker, "manager", None), "halted", "")
    if halted:
        notes.append(f"paper: trading halted ({halted})")
    return notes


def run_recorded(events: Any, strategy: str | type[Strategy] = "sma_cross", params: dict[str, Any] | None = None,
                 *, symbol: str, timeframe: str, fee: float = 0.001, slippage_bps: float = 0.0,
                 capital: float = 10_000.0, host: Any = None, broker: str = "book",
                 rules: list[Any] | None = None, paper: dict[str, Any] | None = None) -> BacktestResult:
    """Backtest over a recording of market records (trades, books, funding ...) through MarketState,
    filling against the recorded book when there is one (replay.py). Equity is per closed candle.
    broker: "book" (default) or "paper" (the TradingDesk with the paper executor and `rules`; `paper`:
    its executor options, e.g. maker_fee/taker_fee, which then replace `fee`)."""
    from virtuoso_tui.backtest.replay import run_recording

    cls = resolve_strategy(strategy, host)
    instance = cls(coerce_params(cls, params))
    if timeframe not in TIMEFRAMES:
        raise ValueError(f"unknown timeframe {timeframe!r} (known: {', '.join(TIMEFRAMES)})")
    rr = run_recording(events, instance, symbol=symbol, timeframe=timeframe, fee=fee,
                       slippage=FixedSlippage(slippage_bps), capital=capital, broker=broker, rules=rules or (),
                       paper=paper)
    if not len(rr.equity):
        raise ValueError(f"the recording closed no {timeframe} candle of {symbol}")
    metrics = compute_metrics(rr.equity, rr.trades, timeframe=timeframe, exposure=rr.position,
                              close=rr.extra["close"])
    metrics["book_fills"] = rr.extra["book_fills"]
    return BacktestResult(cls.name, instance.p, "recording", rr.extra["ts"], rr.equity, rr.position, rr.trades,
                          metrics, symbol, timeframe, rr.decisions, _paper_notes(rr.extra.get("broker")))
