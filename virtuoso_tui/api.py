"""The public contract for plugin authors, in one place.

    from virtuoso_tui import hookimpl
    from virtuoso_tui.api import Face, Source, RiskRule, Executor, Strategy, Command

Everything a plugin needs is importable from here; anything not here is the host's internals and
may change. Names resolve on first use so importing this module stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    # data sources
    "Source": "virtuoso_tui.market.source",
    "SourceError": "virtuoso_tui.market.source",
    # market state (read-only for plugins)
    "MarketState": "virtuoso_tui.market.state",
    # the prism
    "Face": "virtuoso_tui.prism.face",
    "FaceResult": "virtuoso_tui.prism.face",
    "ComponentScore": "virtuoso_tui.prism.face",
    "Signal": "virtuoso_tui.prism.face",
    # risk
    "RiskRule": "virtuoso_tui.risk.rule",
    "RiskContext": "virtuoso_tui.risk.rule",
    # trading
    "Strategy": "virtuoso_tui.trading.strategy",
    "StrategyContext": "virtuoso_tui.trading.strategy",
    "Executor": "virtuoso_tui.trading.executor",
    "ExecutionAlgo": "virtuoso_tui.trading.algos",
    "ExitPlan": "virtuoso_tui.trading.stops",
    "Command": "virtuoso_tui.trading.commands",
    "CommandError": "virtuoso_tui.trading.commands",
    # monitor
    "AlertRule": "virtuoso_tui.monitor",
    "AlertSink": "virtuoso_tui.monitor",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"virtuoso_tui.api has no {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
