"""Every hook a Virtuoso plugin can implement. Each docstring is the plugin author's documentation.

Convention: registration hooks RETURN A LIST of contributions (classes or instances, each with a
`name`); the host gathers the lists of every plugin. A contribution whose name matches a built-in
replaces it only when config says so (`[prism.faces] orderflow = "my-plugin"`), otherwise a duplicate
name is reported and the first registered wins. Notification hooks return nothing; an exception in one
plugin's notification is caught, the plugin is marked failed with the error, and the rest carry on.

Arguments are passed by keyword; an implementation may accept any subset of a spec's arguments.
Every registration hook receives `config`: the plugin's own `[plugins.<name>]` table from virtuoso.toml
(an empty dict when absent), so a plugin reads its settings without reaching into the host.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from virtuoso_tui import hookspec

if TYPE_CHECKING:
    from virtuoso_tui.api import (
        AlertRule,
        AlertSink,
        Command,
        Executor,
        Face,
        RiskRule,
        Source,
        Strategy,
    )
    from virtuoso_tui.model import Alert, Fill
    from virtuoso_tui.prism.face import Signal


@hookspec
def virtuoso_sources(config: dict[str, Any]) -> list[type[Source]]:
    """Data sources by name (`sim`, `replay`, `ccxt`, `binance`, `bybit`, ...).

    Return a list of `virtuoso_tui.api.Source` subclasses. The host instantiates the one the user
    selects with `--source NAME` or `[source] name`, as `cls(symbols=..., options=...)` where options is
    the `[sources.NAME]` table of virtuoso.toml. A source emits model records (Trade, Candle,
    BookSnapshot, BookDelta, Ticker, Funding, OpenInterest, Liquidation, LongShortRatio) from its
    `events()` async iterator, in timestamp order per symbol.
    """


@hookspec
def virtuoso_faces(config: dict[str, Any]) -> list[type[Face]]:
    """Prism faces. Return a list of `virtuoso_tui.api.Face` subclasses.

    A face has a `name`, a `default_weight`, `components` (name -> weight) and `requires` (the data
    kinds it needs); `score(view)` returns a FaceResult with directional component scores 0-100
    (50 neutral), confidence 0-1, and raw values for the DIV table. A face whose name is new joins the
    prism with its weight (`[prism.weights] NAME = w`, default `default_weight`), and weights are
    renormalised; one whose name matches a built-in replaces it when `[prism.faces] NAME = "plugin"`.
    """


@hookspec
def virtuoso_risk_rules(config: dict[str, Any]) -> list[type[RiskRule]]:
    """Pre-trade risk rules. Return a list of `virtuoso_tui.api.RiskRule` subclasses.

    Each rule is built with its `[risk.NAME]` options (absent section = rule disabled unless the rule
    says `enabled_by_default`). `check(intent, ctx)` returns a RiskDecision: allow, resize (smaller
    amount) or reject with a reason the user sees. Every order from every path passes every rule.
    """


@hookspec
def virtuoso_executors(config: dict[str, Any]) -> list[type[Executor]]:
    """Executors by name: `paper`, `live`, and execution algorithms (`twap`, `vwap`, `iceberg`).

    Return a list of `virtuoso_tui.api.Executor` subclasses. The order manager hands them orders that
    have passed risk; they report fills and state changes back through the manager. Execution
    algorithms subclass `virtuoso_tui.api.ExecutionAlgo` instead: they slice a parent order into
    child orders that go through the order manager (and so through every risk rule) one by one.
    """


@hookspec
def virtuoso_strategies(config: dict[str, Any]) -> list[type[Strategy]]:
    """Strategies by name (`prism`, `sma_cross`, ...), used by paper, live and backtests alike.

    Return a list of `virtuoso_tui.api.Strategy` subclasses. A strategy sees closed candles and
    signals and returns OrderIntents; it never sees data later than the bar it decides on.
    """


@hookspec
def virtuoso_commands(config: dict[str, Any]) -> list[Command]:
    """Verbs for the command language (TUI command bar and headless stdin).

    Return a list of `virtuoso_tui.api.Command` instances: `verb`, `usage`, `help`, and
    `run(args, ctx) -> str` which returns the line shown to the user, or raises CommandError with one
    clear sentence (nothing is sent then).
    """


@hookspec
def virtuoso_alert_rules(config: dict[str, Any]) -> list[AlertRule]:
    """Monitor conditions evaluated on every signal: return `virtuoso_tui.api.AlertRule` instances."""


@hookspec
def virtuoso_alert_sinks(config: dict[str, Any]) -> list[AlertSink]:
    """Where alerts go besides the UI and the database: return `virtuoso_tui.api.AlertSink` instances."""


@hookspec
def virtuoso_panels(config: dict[str, Any]) -> list[Any]:
    """Extra TUI panels: return a list of Textual widget classes (constructed with no arguments).

    Only the TUI calls this hook, so only a plugin's panel module needs to import textual.
    """


@hookspec
def virtuoso_on_signal(signal: Signal) -> None:
    """Called for every confluence Signal (one per symbol per scoring pass), after the bus has it."""


@hookspec
def virtuoso_on_fill(fill: Fill) -> None:
    """Called for every fill, paper or live, after the portfolio has booked it."""


@hookspec
def virtuoso_on_alert(alert: Alert) -> None:
    """Called for every alert raised by the monitor, the risk rules or the host, after it is stored."""
