"""The built-in pre-trade risk rules, one RiskRule class each, configured by `[risk.NAME]` tables.

Every order from every path passes every enabled rule in the order manager (virtuoso_tui.trading.orders)
after sizing; a rule allows, resizes (smaller amount) or rejects with a reason the user sees, and the
strictest verdict wins. Rules that cap size never block an order that only reduces a position, so a
user can always get flat. max_daily_loss and max_drawdown HALT trading until `risk reset`.

Options are the `[risk.NAME]` keys of virtuoso_tui.config, with the same defaults (quote currency
unless said otherwise; an option set to None is not enforced); every rule is on unless `enabled = false`:
  max_position     notional (per symbol, 50000), amount = {SYMBOL = base units}
  max_exposure     notional (total gross, 150000)
  max_leverage     leverage (gross exposure / equity, 5)
  max_daily_loss   pct (of start-of-day equity, 5)                              halts
  max_drawdown     pct (below peak equity, 15)                                  halts
  max_correlation  value (0.85, on sampled mark returns), lookback (240 samples, at least 20 used)
  max_order_rate   per_minute (30; reduce-only orders exempt)
  price_band       pct (2: a limit or stop price this far from the mark is a fat finger)
"""

from __future__ import annotations

import bisect
import math
from typing import Any, ClassVar

import numpy as np

from virtuoso_tui.model import OrderIntent, OrderType, RiskDecision
from virtuoso_tui.risk.rule import RiskContext, RiskRule


def _signed(intent: OrderIntent) -> float:
    return intent.amount if intent.side == "buy" else -intent.amount


def _held(ctx: RiskContext, symbol: str) -> float:
    pos = ctx.positions.get(symbol)
    return pos.amount if pos is not None else 0.0


def _reduces(intent: OrderIntent, ctx: RiskContext) -> bool:
    """True when the order can only make the position smaller (never flips past zero)."""
    held = _held(ctx, intent.symbol)
    return intent.reduce_only or (held != 0 and (held > 0) != (intent.side == "buy")
                                  and intent.amount <= abs(held) + 1e-12)


def _price(intent: OrderIntent, ctx: RiskContext) -> float | None:
    return intent.price if intent.price else ctx.mark(intent.symbol)


def _fit(rule: str, intent: OrderIntent, ctx: RiskContext, cap_amount: float, what: str) -> RiskDecision:
    """Allow, resize or reject so that |position after| <= cap_amount (base)."""
    held = _held(ctx, intent.symbol)
    same = held == 0 or (held > 0) == (intent.side == "buy")
    room = cap_amount - abs(held) if same else abs(held) + cap_amount
    if intent.amount <= room + 1e-12:
        return RiskDecision.allow(rule)
    if room <= 1e-12:
        return RiskDecision.reject(rule, f"{what} is already at its limit")
    return RiskDecision.resize(rule, room, f"{what} limit leaves room for {room:.8g}")


def _gross_other(ctx: RiskContext, symbol: str) -> float:
    total = 0.0
    for s, p in ctx.positions.items():
        if s != symbol and p.amount:
            total += abs(p.amount) * (ctx.mark(s) or p.entry_price)
    return total


class MaxPosition(RiskRule):
    name: ClassVar[str] = "max_position"
    description: ClassVar[str] = "maximum position size and notional per symbol"
    defaults: ClassVar[dict[str, Any]] = {"notional": 50_000.0, "amount": {}}

    def _caps(self, symbol: str) -> tuple[float | None, float | None]:
        return (self.options.get("amount") or {}).get(symbol), self.options["notional"]

    def check(self, intent: OrderIntent, ctx: RiskContext) -> RiskDecision:
        if _reduces(intent, ctx):
            return RiskDecision.allow(self.name)
        max_amount, max_notional = self._caps(intent.symbol)
        caps = [] if max_amount is None else [float(max_amount)]
        if max_notional is not None:
            price = _price(intent, ctx)
            if price is None:
                return RiskDecision.reject(self.name, f"no price for {intent.symbol} to check the notional limit")
            caps.append(float(max_notional) / price)
        if not caps:
            return RiskDecision.allow(self.name)
        return _fit(self.name, intent, ctx, min(caps), f"{intent.symbol} position")

    def usage(self, ctx: RiskContext) -> str:
        parts = []
        for s, p in ctx.positions.items():
            if p.amount:
                a, n = self._caps(s)
                parts.append(f"{s} {abs(p.amount):g}" + (f"/{a:g}" if a is not None else "")
                             + (f" ({abs(p.amount) * (ctx.mark(s) or p.entry_price):,.0f}/{n:,.0f})" if n else ""))
        return "max_position: " + (", ".join(parts) or "flat")


class MaxExposure(RiskRule):
    name: ClassVar[str] = "max_exposure"
    description: ClassVar[str] = "maximum total gross exposure"
    defaults: ClassVar[dict[str, Any]] = {"notional": 150_000.0}

    def limit(self, ctx: RiskContext) -> float | None:
        n = self.options["notional"]
        return None if n is None else float(n)

    def check(self, intent: OrderIntent, ctx: RiskContext) -> RiskDecision:
        if _reduces(intent, ctx):
            return RiskDecision.allow(self.name)
        limit = self.limit(ctx)
        if limit is None:
            return RiskDecision.allow(self.name)
        price = _price(intent, ctx)
        if price is None:
            return RiskDecision.reject(self.name, f"no price for {intent.symbol} to check exposure")
        cap = max(limit - _gross_other(ctx, intent.symbol), 0.0) / price
        return _fit(self.name, intent, ctx, cap, f"total exposure ({limit:,.0f} max)")

    def usage(self, ctx: RiskContext) -> str:
        limit = self.limit(ctx)
        gross = _gross_other(ctx, "")
        return f"max_exposure: {gross:,.0f}" + (f" / {limit:,.0f}" if limit is not None else "")


class MaxLeverage(MaxExposure):
    name: ClassVar[str] = "max_leverage"
    description: ClassVar[str] = "maximum gross exposure as a multiple of equity"
    defaults: ClassVar[dict[str, Any]] = {"leverage": 5.0}

    def limit(self, ctx: RiskContext) -> float | None:
        m = self.options["leverage"]
        return None if m is None else float(m) * max(ctx.equity, 0.0)

    def usage(self, ctx: RiskContext) -> str:
        lev = _gross_other(ctx, "") / ctx.equity if ctx.equity > 0 else float("inf")
        m = self.options["leverage"]
        return f"max_leverage: {lev:.2f}x" + (f" / {m:g}x" if m is not None else "")


class MaxDailyLoss(RiskRule):
    name: ClassVar[str] = "max_daily_loss"
    description: ClassVar[str] = "halt trading after losing this much since the start of the day"
    halts: ClassVar[bool] = True
    defaults: ClassVar[dict[str, Any]] = {"pct": 5.0}

    def limit(self, ctx: RiskContext) -> float:
        pct = self.options["pct"]
        return math.inf if pct is None else float(pct) / 100.0 * ctx.start_of_day_equity

    def check(self, intent: OrderIntent, ctx: RiskContext) -> RiskDecision:
        loss = ctx.start_of_day_equity - ctx.equity
        if intent.reduce_only or loss < self.limit(ctx):
            return RiskDecision.allow(self.name)
        return RiskDecision.reject(self.name, f"daily loss {loss:,.2f} reached the limit {self.limit(ctx):,.2f}")

    def usage(self, ctx: RiskContext) -> str:
        return f"max_daily_loss: {max(ctx.start_of_day_equity - ctx.equity, 0):,.2f} / {self.limit(ctx):,.2f}"


class MaxDrawdown(RiskRule):
    name: ClassVar[str] = "max_drawdown"
    description: ClassVar[str] = "halt trading when equity falls this fraction below its peak"
    halts: ClassVar[bool] = True
    defaults: ClassVar[dict[str, Any]] = {"pct": 15.0}

    def check(self, intent: OrderIntent, ctx: RiskContext) -> RiskDecision:
        cap = None if self.options["pct"] is None else float(self.options["pct"]) / 100.0
        dd = 1.0 - ctx.equity / ctx.peak_equity if ctx.peak_equity > 0 else 0.0
        if intent.reduce_only or cap is None or dd < float(cap):
            return RiskDecision.allow(self.name)
        return RiskDecision.reject(self.name, f"drawdown {dd:.1%} reached the limit {float(cap):.1%}")

    def usage(self, ctx: RiskContext) -> str:
        dd = 1.0 - ctx.equity / ctx.peak_equity if ctx.peak_equity > 0 else 0.0
        cap = None if self.options["pct"] is None else float(self.options["pct"]) / 100.0
        return f"max_drawdown: {dd:.1%}" + (f" / {float(cap):.1%}" if cap is not None else "")


class MaxCorrelation(RiskRule):
    name: ClassVar[str] = "max_correlation"
    description: ClassVar[str] = "refuse to stack positions whose returns move together"
    defaults: ClassVar[dict[str, Any]] = {"value": 0.85, "lookback": 240}
    #: fewer common return samples than this: correlation is unknown and the rule allows
    MIN_SAMPLES: ClassVar[int] = 20

    def check(self, intent: OrderIntent, ctx: RiskContext) -> RiskDecision:
        if _reduces(intent, ctx):
            return RiskDecision.allow(self.name)
        mine = np.asarray(ctx.returns.get(intent.symbol, []), dtype=np.float64)
        direction = 1.0 if intent.side == "buy" else -1.0
        for s, p in ctx.positions.items():
            if s == intent.symbol or not p.amount:
                continue
            other = np.asarray(ctx.returns.get(s, []), dtype=np.float64)
            n = min(len(mine), len(other), int(self.options["lookback"]))
            if n < self.MIN_SAMPLES:
                continue
            a, b = mine[-n:], other[-n:]
            if a.std() == 0 or b.std() == 0:
                continue
            corr = float(np.corrcoef(a, b)[0, 1])
            # Same-direction bets on positively correlated symbols (or opposite bets on negatively
            # correlated ones) are one bet twice.
            if corr * direction * math.copysign(1.0, p.amount) > float(self.options["value"]):
                return RiskDecision.reject(self.name, f"{intent.symbol} moves with the {s} position "
                                                      f"(correlation {corr:+.2f}, limit {self.options['value']:g})")
        return RiskDecision.allow(self.name)

    def usage(self, ctx: RiskContext) -> str:
        return f"max_correlation: limit {self.options['value']:g} over {self.options['lookback']} samples"


class MaxOrderRate(RiskRule):
    name: ClassVar[str] = "max_order_rate"
    description: ClassVar[str] = "maximum orders per time window (a runaway-loop guard)"
    defaults: ClassVar[dict[str, Any]] = {"per_minute": 30}

    def _count(self, ctx: RiskContext) -> int:
        # order_times is in time order: a binary search, not a scan, keeps this O(log n) per order
        return len(ctx.order_times) - bisect.bisect_right(ctx.order_times, ctx.now - 60_000)

    def check(self, intent: OrderIntent, ctx: RiskContext) -> RiskDecision:
        n = self._count(ctx)
        if intent.reduce_only or n < int(self.options["per_minute"]):
            return RiskDecision.allow(self.name)
        return RiskDecision.reject(self.name, f"{n} orders in the last minute (limit {self.options['per_minute']})")

    def usage(self, ctx: RiskContext) -> str:
        return f"max_order_rate: {self._count(ctx)} / {self.options['per_minute']} per minute"


class PriceBand(RiskRule):
    name: ClassVar[str] = "price_band"
    description: ClassVar[str] = "refuse limit and stop prices too far from the mark (fat finger)"
    defaults: ClassVar[dict[str, Any]] = {"pct": 2.0}

    def check(self, intent: OrderIntent, ctx: RiskContext) -> RiskDecision:
        prices = [p for p in (intent.price, intent.stop_price) if p]
        if intent.type is OrderType.MARKET or not prices:
            return RiskDecision.allow(self.name)
        mark = ctx.mark(intent.symbol)
        if mark is None:
            return RiskDecision.reject(self.name, f"no mark price for {intent.symbol} to check the price against")
        band = float(self.options["pct"]) * 100.0
        for p in prices:
            bps = abs(p / mark - 1.0) * 1e4
            if bps > band:
                return RiskDecision.reject(self.name, f"price {p:g} is {bps:,.0f} bps from the mark {mark:g} "
                                                      f"(band {band:g} bps)")
        return RiskDecision.allow(self.name)

    def usage(self, ctx: RiskContext) -> str:
        return f"price_band: {self.options['pct']:g}% from the mark"


RULES: list[type[RiskRule]] = [MaxPosition, MaxExposure, MaxLeverage, MaxDailyLoss, MaxDrawdown,
                               MaxCorrelation, MaxOrderRate, PriceBand]


def build_rules(settings: dict[str, Any] | None, classes: list[type[RiskRule]] | None = None) -> list[RiskRule]:
    """Instantiate the enabled rules from the `[risk]` table `{NAME: {options}}` (config's
    RiskSettings.options(NAME) gives the same dicts): a section turns a rule on unless it says
    `enabled = false`; a rule without a section is built with its defaults if `enabled_by_default`."""
    settings = settings or {}
    out = []
    for cls in classes or RULES:
        opts = settings.get(cls.name)
        if opts is None:
            if cls.enabled_by_default:
                out.append(cls({}))
            continue
        if opts.get("enabled", True):
            out.append(cls(opts))
    return out
