"""The `virtuoso` command: the TUI by default, `--no-ui` headless, and subcommands.

    virtuoso [options]                      the full-screen console (default source: sim)
    virtuoso --no-ui [--duration S] ...     headless: JSON lines on stdout, commands on stdin
    virtuoso config check                   validate and print the effective config, secrets masked
    virtuoso plugins                        every plugin: name, version, origin, health, hooks
    virtuoso analyze SYMBOL [...]           the six face tables and the confluence table
    virtuoso backtest|optimize|walkforward  research on recorded or simulated data

A user error (config, arguments, unknown source) prints one sentence on stderr and exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any

from virtuoso_tui import __version__

log = logging.getLogger("virtuoso")

EXIT_USAGE = 2


class UserError(Exception):
    """Something the user can fix; printed as one sentence, exit status 2."""


def _common(parser: argparse.ArgumentParser, *, sub: bool = True) -> None:
    """Options accepted before and after a subcommand. On a subparser they default to SUPPRESS so a
    value given before the subcommand (`virtuoso --config X plugins`) is not overwritten by None."""
    d = {"default": argparse.SUPPRESS} if sub else {}
    g = parser.add_argument_group("common options")
    g.add_argument("--config", metavar="PATH", help="config file (default: ./virtuoso.toml, then the user config dir)",
                   **d)
    g.add_argument("--source", metavar="NAME", help="data source plugin (default from config: sim)", **d)
    g.add_argument("--symbols", metavar="S,S", help="comma-separated symbols (ccxt unified form)", **d)
    g.add_argument("--seed", type=int, help="seed for the simulated market and for random/bayes search", **d)
    g.add_argument("--speed", type=float, help="market speed: 1 = real time, 0 = as fast as possible", **d)
    g.add_argument("--plugins-dir", action="append", metavar="DIR", help="load drop-in plugin files",
                   **(d or {"default": []}))
    g.add_argument("--db", metavar="PATH", help="database file ('' for none, ':memory:' for a throwaway one)", **d)
    g.add_argument("-v", "--verbose", action="count", help="more logging on stderr", **(d or {"default": 0}))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="virtuoso", description="Virtuoso: a terminal trading console.")
    parser.add_argument("--version", action="version", version=f"virtuoso {__version__}")
    _common(parser, sub=False)
    parser.add_argument("--no-ui", action="store_true", help="headless: JSON lines on stdout, logs on stderr")
    parser.add_argument("--duration", type=float, metavar="S", help="headless: exit after S seconds (wall clock)")
    parser.add_argument("--market-seconds", type=float, metavar="S",
                        help="exit after S seconds of MARKET time (deterministic with --speed 0)")
    parser.add_argument("--format", choices=("jsonl", "text"), default="jsonl", help="headless output format")
    parser.add_argument("--events", metavar="T,T", help="headless: topics to print (default: all but trade/book)")
    parser.add_argument("--theme", help="UI theme (dark, light, high-contrast or a themes/*.tcss name)")
    parser.add_argument("--live", action="store_true", help="trade for real through the live executor")

    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    config = sub.add_parser("config", help="configuration tools")
    _common(config)
    config.add_argument("action", choices=("check",), help="check: validate and print the effective config")
    plugins = sub.add_parser("plugins", help="list plugins with their health")
    _common(plugins)
    analyze = sub.add_parser("analyze", help="print the prism's face tables for one symbol")
    _common(analyze)
    analyze.add_argument("symbol")
    analyze.add_argument("--face", default="all", help="a face name, or all")
    analyze.add_argument("--json", action="store_true", help="print JSON instead of tables")
    analyze.add_argument("--warmup", type=float, default=900,
                         help="market seconds of data to gather before scoring (sim/replay)")
    record = sub.add_parser("record", help="record market data to a database for replay and backtests")
    _common(record)
    record.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (wall clock)")
    record.add_argument("--market-seconds", type=float, metavar="S", help="stop after S seconds of market time")
    record.add_argument("--kinds", metavar="K,K", help="what to record (default: every market kind)")
    try:
        from virtuoso_tui.backtest.cli import add_backtest_commands
    except ImportError:
        add_backtest_commands = None
    if add_backtest_commands is not None:
        add_backtest_commands(sub, _common)
    return parser


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _settings(args: argparse.Namespace) -> Any:
    from virtuoso_tui.config import ConfigError, load_config

    try:
        return load_config(args.config)
    except ConfigError as exc:
        raise UserError(str(exc)) from None


def _runtime(args: argparse.Namespace, settings: Any, **extra: Any) -> Any:
    from virtuoso_tui.market.source import SourceError
    from virtuoso_tui.runtime import build_runtime

    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()] if args.symbols else None
    try:
        return build_runtime(
            settings, source=args.source, symbols=symbols, seed=args.seed, speed=args.speed,
            plugins_dirs=args.plugins_dir, db_path=args.db, theme=getattr(args, "theme", None),
            live=bool(getattr(args, "live", False)), **extra,
        )
    except (SourceError, FileNotFoundError, LookupError, ValueError) as exc:
        raise UserError(str(exc)) from None


# ---------------------------------------------------------------------- commands
def cmd_config_check(args: argparse.Namespace) -> int:
    from virtuoso_tui.config import check_report

    settings = _settings(args)
    print(check_report(settings))
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from virtuoso_tui.runtime import build_host

    settings = _settings(args)
    host = build_host(settings, args.plugins_dir)
    # resolve each registry once so hook-level failures show up too
    for hook in ("virtuoso_sources", "virtuoso_faces", "virtuoso_risk_rules", "virtuoso_executors",
                 "virtuoso_strategies", "virtuoso_commands"):
        host.collect(hook)
    print(host.format_report())
    return 0


def _publish_problems(runtime: Any) -> None:
    """Configuration problems found while wiring plugins, and plugins that failed to load, as alerts."""
    from virtuoso_tui.model import Alert

    for problem in runtime.problems:
        runtime.bus.publish("alert", Alert(0, "warning", problem, source="plugins"))
    for info in runtime.host.report():
        if info.status == "failed":
            runtime.bus.publish("alert", Alert(0, "error", f"plugin {info.name} failed: {info.error}", source="plugins"))


def cmd_headless(args: argparse.Namespace) -> int:
    from virtuoso_tui.headless import DEFAULT_EVENTS, HeadlessPrinter, read_commands

    settings = _settings(args)
    runtime = _runtime(args, settings)
    events = args.events.split(",") if args.events else DEFAULT_EVENTS
    HeadlessPrinter(runtime.bus, sys.stdout, fmt=args.format, events=events)
    _publish_problems(runtime)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, runtime.engine.stop, f"signal {sig.name}")
        reader = None
        if not sys.stdin.isatty() and runtime.desk is not None:
            reader = asyncio.ensure_future(read_commands(runtime.engine, sys.stdin))
        try:
            await runtime.engine.run(wall_seconds=args.duration, market_seconds=args.market_seconds)
        finally:
            if reader is not None:
                reader.cancel()

    from virtuoso_tui.trading.desk import LiveUnavailable

    try:
        asyncio.run(main())
    except LiveUnavailable as exc:  # keys refused when the venue was first asked
        raise UserError(str(exc)) from None
    finally:
        runtime.close()
    return 0


def cmd_tui(args: argparse.Namespace) -> int:
    settings = _settings(args)
    runtime = _runtime(args, settings)
    try:
        from virtuoso_tui.ui.app import run_app
    except ImportError as exc:
        raise UserError(f"the console is not available ({exc}); use --no-ui") from None
    try:
        return run_app(runtime)
    finally:
        runtime.close()


def cmd_record(args: argparse.Namespace) -> int:
    from virtuoso_tui.recorder import MARKET_KINDS, Recorder
    from virtuoso_tui.storage import Storage

    settings = _settings(args)
    db = getattr(args, "db", None)
    if not db:
        raise UserError("record needs a database file: --db PATH")
    kinds = [k.strip() for k in args.kinds.split(",")] if args.kinds else list(MARKET_KINDS)
    args.db = ""  # the engine's own storage stays off; the recorder owns the file
    runtime = _runtime(args, settings, with_prism=False, with_trading=False)
    storage = Storage(db, retention_days=0, record=kinds)
    try:
        recorder = Recorder(runtime.bus, storage, kinds=kinds, source=runtime.source.name,
                            candle_timeframe=settings.timeframes.base)
    except ValueError as exc:
        storage.close()
        raise UserError(str(exc)) from None

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, runtime.engine.stop, f"signal {sig.name}")
        await runtime.engine.run(wall_seconds=args.duration, market_seconds=args.market_seconds)

    try:
        asyncio.run(main())
    finally:
        recorder.close()
        storage.close()
        runtime.close()
    summary = ", ".join(f"{n} {k}" for k, n in sorted(recorder.counts.items()))
    print(f"recorded {summary} to {db}", file=sys.stderr)
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    import json

    from virtuoso_tui.prism.engine import analyze_json, render_signal_text

    settings = _settings(args)
    if args.speed is None:
        args.speed = 0.0
    if args.db is None:
        args.db = ""
    args.symbols = args.symbol
    runtime = _runtime(args, settings, with_trading=False)

    async def gather() -> None:
        await runtime.engine.run(market_seconds=args.warmup)

    asyncio.run(gather())
    if args.symbol not in runtime.engine.states:
        raise UserError(f"no data for {args.symbol}")
    signal_ = runtime.engine.score(args.symbol)
    if signal_ is None:
        raise UserError(f"the prism could not score {args.symbol}: not enough data")
    face = None if args.face == "all" else args.face
    if face is not None and face not in signal_.faces:
        raise UserError(f"unknown face {face!r} (faces: {', '.join(signal_.faces)})")
    if args.json:
        out = analyze_json(signal_)
        if face is not None:
            out["faces"] = {face: out["faces"][face]}
        print(json.dumps(out, indent=2, default=str))
    else:
        print(render_signal_text(signal_, face=face or "all"))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    try:
        if args.command == "config":
            return cmd_config_check(args)
        if args.command == "plugins":
            return cmd_plugins(args)
        if args.command == "analyze":
            return cmd_analyze(args)
        if args.command == "record":
            return cmd_record(args)
        if args.command in ("backtest", "optimize", "walkforward") and hasattr(args, "handler"):
            return int(args.handler(args) or 0)
        if args.no_ui:
            return cmd_headless(args)
        return cmd_tui(args)
    except UserError as exc:
        print(f"virtuoso: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
