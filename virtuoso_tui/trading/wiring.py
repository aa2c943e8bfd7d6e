"""Wiring a trading desk from the plugin host and the settings (runtime.py calls build_desk).

    build_desk(host=, settings=, storage=, bus=, now=, states=, live=) -> TradingDesk
    live_executor(host, settings) -> Executor      the executor `--live` trades through
    session_prefix(journal, live=) -> str          the client-id prefix of this database

Neighbours: trading/desk.py is the TradingDesk built here (and re-exports these names);
venue_link.py defines LiveUnavailable; risk/rule.py the configured rules; the plugin host (plugins.py)
provides executors, algorithms, commands and strategies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from virtuoso_tui.trading.algos import ExecutionAlgo
from virtuoso_tui.trading.executor import Executor
from virtuoso_tui.trading.venue_link import LiveUnavailable

if TYPE_CHECKING:
    from virtuoso_tui.trading.desk import TradingDesk

#: [sources.ccxt] options the live executor shares with the ccxt source (the venue and its keys)
LIVE_FROM_SOURCE = ("exchange", "api_key", "secret", "password", "api_key_env", "secret_env", "password_env",
                    "base_url", "timeout_ms", "rate_limit_ms")


def live_executor(host: Any, settings: Any) -> Executor:
    """The live executor `--live` trades through: the executor (or the plugin providing one) named by
    [live] executor, with options [sources.ccxt] exchange and keys, [live] sandbox, then
    [plugins.<plugin>] on top. LiveUnavailable (one sentence) when it is off, missing or has no keys."""
    live = settings.live
    if not live.enabled:
        raise LiveUnavailable("--live needs [live] enabled = true in the config file")
    found = None
    for name, (plugin, cls) in host.registry("virtuoso_executors").items():
        if name == "paper" or (isinstance(cls, type) and issubclass(cls, ExecutionAlgo)):
            continue
        if live.executor in (name, plugin):
            found = (name, plugin, cls)
            break
    if found is None:
        raise LiveUnavailable(f"no live executor {live.executor!r} is loaded ([live] executor; see 'virtuoso plugins')")
    name, plugin, cls = found
    source = settings.source_options("ccxt")
    options = {k: v for k, v in source.items() if k in LIVE_FROM_SOURCE}
    options["sandbox"] = bool(live.sandbox)
    # the symbols the console watches: where the venue's positions are reconciled when the executor's
    # own `symbols` (whose open orders are fetched) are not given
    options["watch"] = list(settings.general.symbols)
    options.update(settings.plugins.options_for(plugin))
    ok, executor = host.guard(plugin, f"executor {name!r}", cls, options)
    if not ok:
        raise LiveUnavailable(f"the live executor {name!r} failed to build: {host.infos[plugin].error}")
    problem = executor.problem()
    if problem:
        raise LiveUnavailable(problem)
    return executor


def session_prefix(journal: Any, *, live: bool) -> str:
    """The client-id prefix of this database: "vt" for paper and backtests (reproducible ids), and for
    live trading a prefix drawn once per database and kept in it, so ids of a fresh database can never
    collide with orders an older database left open at the venue."""
    if not live:
        return "vt"
    prefix = journal.get_account("live_session")
    if not prefix:
        import secrets

        prefix = "vt" + secrets.token_hex(3)
        journal.set_account("live_session", prefix)
    return str(prefix)


def build_desk(*, host: Any, settings: Any, storage: Any, bus: Any, now: Callable[[], int],
               states: Callable[[], dict[str, Any]] | None = None, live: bool = False) -> TradingDesk:
    """Wire a desk from the plugin host (executors, algos, rules, commands) and the settings.
    `live` (the --live flag) with [live] enabled makes the live executor the default: orders go to
    the venue; paper stays available by name. LiveUnavailable when live trading cannot be set up."""
    # desk.py re-exports this module's names, so the desk is imported here, when a desk is built
    from virtuoso_tui.risk.rule import configured_rules
    from virtuoso_tui.trading.desk import TradingDesk
    from virtuoso_tui.trading.journal import SqliteJournal

    plain = settings.to_dict() if hasattr(settings, "to_dict") else dict(settings or {})
    paper = dict(plain.get("paper") or {})
    strategy = dict(plain.get("strategy") or {})
    execs: dict[str, Executor] = {}
    algos: dict[str, type[ExecutionAlgo]] = {}
    for name, (plugin, cls) in host.registry("virtuoso_executors").items():
        if isinstance(cls, type) and issubclass(cls, ExecutionAlgo):
            algos[name] = cls
        elif name == "paper":
            ok, executor = host.guard(plugin, f"executor {name!r}", cls, paper)
            if ok:
                execs[name] = executor
    rules = configured_rules(host, settings)
    default = "paper"
    if live:
        executor = live_executor(host, settings)
        execs[executor.name] = executor
        default = executor.name
    commands = [c for _plugin, c in host.collect("virtuoso_commands")]
    strategy_cls = None
    if strategy.get("enabled"):
        wanted = strategy.get("name", "prism")
        found = host.registry("virtuoso_strategies")
        if wanted not in found:
            raise ValueError(f"[strategy] name {wanted!r} is not a strategy any plugin provides "
                             f"(available: {', '.join(sorted(found)) or 'none'})")
        strategy_cls = found[wanted][1]
        # the params a backtest of this strategy starts from (Strategy.config_params: for the prism
        # strategy the configured prism and [strategy.sizing]), so paper/live trade what was tested
        if hasattr(strategy_cls, "config_params"):
            strategy["params"] = strategy_cls.config_params(settings)
    journal = storage if storage is not None else SqliteJournal(":memory:")
    return TradingDesk(journal, {"paper": paper, "strategy": strategy, "sizing": strategy.get("sizing") or {},
                                 "session": session_prefix(journal, live=bool(live))},
                       execs, rules, now, emit=bus.publish, plugin_commands=commands, algos=algos, states=states,
                       default_executor=default, strategy_cls=strategy_cls)
