"""The built-in signal-driven strategy: turns confluence LONG/SHORT signals into entries and exits,
sized by trading.sizing and protected by an ExitPlan (trading.stops). Off by default; on with
`[strategy] enabled = true` (name "prism"). The TradingDesk calls `on_signal` and sends the intents
through the order manager, so risk rules apply; when an entry fills the desk asks `exit_plan` for
the stops to attach.

Behaviour: a signal whose side CHANGED to LONG enters long when flat (and closes a short first);
SHORT closes a long and, with `allow_short`, enters short. NEUTRAL does nothing (the stops manage
the exit). Entry size: the configured sizing method with the stop `atr_mult` ATRs away (ATR from the
strategy timeframe's closed candles); with too few candles for an ATR there is no entry (no invented
stop distance).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from virtuoso_tui.model import OrderIntent
from virtuoso_tui.trading.sizing import Sizer, SizingError
from virtuoso_tui.trading.stops import ExitPlan, atr
from virtuoso_tui.trading.strategy import Strategy, StrategyContext

if TYPE_CHECKING:
    from virtuoso_tui.prism.face import Signal
    from virtuoso_tui.trading.portfolio import TradeStats


class SignalStrategy(Strategy):
    name: ClassVar[str] = "prism"
    description: ClassVar[str] = "trade the confluence signal with ATR stops and sized entries"
    params: ClassVar[dict[str, Any]] = {
        "allow_short": False, "atr_period": 14, "atr_mult": 2.0, "trailing": True,
        "breakeven_r": 1.0, "take_profit_r": 2.0, "take_profit_fraction": 0.5, "time_stop_bars": 0,
        "min_confidence": 0.0,
    }

    def __init__(self, params: dict[str, Any] | None = None, sizer: Sizer | None = None,
                 stats: TradeStats | None = None) -> None:
        super().__init__(params)
        self.sizer = sizer or Sizer({"method": "atr"})
        self.stats = stats
        self._atr: dict[str, float] = {}

    @property
    def warmup(self) -> int:
        return int(self.p["atr_period"]) + 1

    def _atr_of(self, ctx: StrategyContext) -> float:
        c = ctx.state.candles[ctx.timeframe]
        return atr(c.high, c.low, c.close, int(self.p["atr_period"]))

    def on_signal(self, ctx: StrategyContext, signal: Signal) -> list[OrderIntent]:
        if not signal.changed or signal.side == "NEUTRAL" or signal.confidence < float(self.p["min_confidence"]):
            return []
        held = ctx.position.amount
        origin = f"strategy:{self.name}"
        out: list[OrderIntent] = []
        want = "buy" if signal.side == "LONG" else "sell"
        if held and (held > 0) != (want == "buy"):
            out.append(OrderIntent(ctx.symbol, want, abs(held), reduce_only=True, origin=origin, tag="exit"))
        elif held:
            return []  # already positioned this way
        if want == "sell" and not self.p["allow_short"]:
            return out
        price = ctx.state.last_price
        a = self._atr_of(ctx)
        if price is None or not a > 0:
            return out
        self._atr[ctx.symbol] = a
        stop = price - a * float(self.p["atr_mult"]) if want == "buy" else price + a * float(self.p["atr_mult"])
        try:
            amount = self.sizer.amount(price, ctx.equity, stop=stop, atr=a, stats=self.stats)
        except SizingError:
            return out
        if amount > 0:
            out.append(OrderIntent(ctx.symbol, want, amount, origin=origin, tag="entry"))
        return out

    def exit_plan(self, symbol: str, side: str, entry: float, amount: float, ts: int,
                  timeframe_ms: int) -> ExitPlan | None:
        """Stops for a filled entry: ATR stop (trailing if set), break-even after `breakeven_r` R,
        a partial take-profit at `take_profit_r` R, an optional time stop in bars."""
        a = self._atr.get(symbol)
        if not a:
            return None
        r = a * float(self.p["atr_mult"])
        sign = 1.0 if side == "buy" else -1.0
        tps = []
        if self.p["take_profit_r"]:
            tps.append((entry + sign * r * float(self.p["take_profit_r"]), float(self.p["take_profit_fraction"])))
        bars = int(self.p["time_stop_bars"])
        return ExitPlan.from_atr(symbol, side, entry, amount, ts, a, float(self.p["atr_mult"]),  # type: ignore[arg-type]
                                 trailing=bool(self.p["trailing"]),
                                 breakeven_at=r * float(self.p["breakeven_r"]) if self.p["breakeven_r"] else None,
                                 take_profits=tps, time_stop_ms=bars * timeframe_ms if bars else None)
