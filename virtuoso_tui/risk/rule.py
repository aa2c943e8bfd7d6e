"""The RiskRule contract: a pre-trade check that allows, resizes or rejects an OrderIntent.

Rules see a RiskContext (portfolio, market prices, recent order times, equity history) built by the
order manager; they never place or cancel orders themselves. The strictest verdict wins: any reject
rejects; otherwise the smallest resize applies (`combine`). A rule with `halts = True` (daily loss,
drawdown) that rejects puts the whole account in a trading halt, lifted only by `risk reset`; while
halted only reduce-only orders pass. Built-in rules live in plugins/virtuoso_risk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from virtuoso_tui.model import OrderIntent, Position, RiskDecision


@dataclass(slots=True)
class RiskContext:
    """What a rule may look at. Prices are the latest marks per symbol; `equity` in quote."""

    now: int
    equity: float
    start_of_day_equity: float
    peak_equity: float
    positions: dict[str, Position]
    marks: dict[str, float]
    order_times: list[int] = field(default_factory=list)   # ms timestamps of recent submissions, oldest first
    returns: dict[str, list[float]] = field(default_factory=dict)  # per-symbol recent returns
    halted: str = ""  # non-empty: trading halted, with the reason

    def mark(self, symbol: str) -> float | None:
        return self.marks.get(symbol)


class RiskRule:
    """Base class of a risk rule. Subclasses set `name` and implement `check`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    enabled_by_default: ClassVar[bool] = True
    #: A reject from this rule halts trading until `risk reset` (daily loss, drawdown).
    halts: ClassVar[bool] = False
    #: Every option the rule understands, with its default; unknown options are a config error.
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        opts = dict(options or {})
        opts.pop("enabled", None)
        unknown = set(opts) - set(self.defaults)
        if unknown:
            known = ", ".join(sorted(self.defaults)) or "none"
            raise ValueError(f"[risk.{self.name}] has no option {sorted(unknown)[0]!r} (options: {known})")
        self.options = {**self.defaults, **opts}

    def check(self, intent: OrderIntent, ctx: RiskContext) -> RiskDecision:
        raise NotImplementedError

    def usage(self, ctx: RiskContext) -> str:
        """A line for the `risk` command: the limit and how much of it is used."""
        return ""


def combine(decisions: list[RiskDecision], amount: float) -> RiskDecision:
    """The strictest verdict: the first reject, else the smallest resize below `amount`, else allow."""
    for d in decisions:
        if d.action == "reject":
            return d
    resizes = [d for d in decisions if d.action == "resize" and d.amount is not None and d.amount < amount]
    if resizes:
        return min(resizes, key=lambda d: d.amount)  # type: ignore[arg-type,return-value]
    return RiskDecision.allow("all")


def configured_rules(host: Any, settings: Any, *, strict: bool = False) -> list[RiskRule]:
    """Every `virtuoso_risk_rules` plugin's rule with its `[risk.NAME]` options: what paper, live and
    a paper-broker backtest all run. A rule without a section runs with its defaults when it is
    enabled by default; `enabled = false` leaves it out. A rule that cannot be built is, with
    strict=False (live sessions), reported through the host and left out — the rest still guard every
    order; with strict=True (backtests, which must not silently run with fewer rules) a ValueError."""
    risk = getattr(settings, "risk", None)
    rules: list[RiskRule] = []
    for name, (plugin, cls) in host.registry("virtuoso_risk_rules").items():
        opts = risk.options(name) if risk is not None else None
        if opts is None:
            if not getattr(cls, "enabled_by_default", True):
                continue
            opts = {}
        elif not opts.get("enabled", True):
            continue
        options = {k: v for k, v in opts.items() if k in getattr(cls, "defaults", opts)}
        if strict:
            try:
                rules.append(cls(options))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"risk rule {name!r} cannot be built: {exc}") from exc
            continue
        ok, rule = host.guard(plugin, f"risk rule {name!r}", cls, options)
        if ok:
            rules.append(rule)
    return rules
