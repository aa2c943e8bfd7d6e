"""The Strategy contract, shared by paper, live and the backtester.

A strategy is called on each CLOSED candle of its timeframe (and on each confluence signal) and
returns OrderIntents; sizing, risk rules, the order manager and the executor do the rest. It sees
only data up to the bar it decides on: `StrategyContext.state` is the live MarketState, in which the
newest closed candle is the last row. Intents are filled at the next event (next bar's open in a
candle-only backtest), never at the close that produced them.

A strategy that can also run on whole-history arrays sets `vectorisable = True` and implements
`target_positions`, returning the position (fraction of equity, 0..1 long-only or -1..1) held
from each bar's NEXT open; the vectorised fast path must produce the same trades as the event path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from virtuoso_tui.model import OrderIntent, Position

if TYPE_CHECKING:
    from virtuoso_tui.market.state import MarketState
    from virtuoso_tui.prism.face import Signal


@dataclass(slots=True)
class StrategyContext:
    symbol: str
    timeframe: str
    now: int
    state: MarketState
    position: Position
    equity: float
    cash: float


class Strategy:
    """Base class of strategies. `params` declares every parameter with its default."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    params: ClassVar[dict[str, Any]] = {}
    vectorisable: ClassVar[bool] = False

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        unknown = set(params or {}) - set(self.params)
        if unknown:
            known = ", ".join(sorted(self.params)) or "none"
            raise ValueError(
                f"strategy {self.name!r} has no parameter {sorted(unknown)[0]!r} (parameters: {known})"
            )
        self.p: dict[str, Any] = {**self.params, **(params or {})}

    @classmethod
    def config_params(cls, settings: Any) -> dict[str, Any]:
        """Params this strategy takes from the validated config (virtuoso.toml), which a backtest uses
        as defaults under the command line's --param, so it runs what the trader runs live. The base:
        [strategy.params] when [strategy] name is this strategy's."""
        plain = settings.to_dict()["strategy"]
        return dict(plain["params"]) if plain["name"] == cls.name else {}

    @property
    def warmup(self) -> int:
        """Closed candles needed before the first decision."""
        return 0

    def on_bar(self, ctx: StrategyContext) -> list[OrderIntent]:
        return []

    def on_signal(self, ctx: StrategyContext, signal: Signal) -> list[OrderIntent]:
        return []

    def on_trade(self, ctx: StrategyContext, price: float, ts: int) -> list[OrderIntent]:
        """Every trade between closes (a recording backtest and the desk call it alike): for what must
        not wait for the close, such as stops. Most strategies decide at closes only."""
        return []

    def target_positions(self, ts: np.ndarray, open_: np.ndarray, high: np.ndarray, low: np.ndarray,
                         close: np.ndarray, volume: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"strategy {self.name!r} is not vectorisable")
