"""`virtuoso backtest | optimize | walkforward`: argument handling and handlers.

virtuoso_tui/cli.py calls `add_backtest_commands(subparsers, common)`; each subcommand stores its
handler in `args.handler`, which returns the exit status (0 ok, 2 for a user error, printed as one
sentence on stderr). Data comes from `--data FILE` (any layout data.py reads), `--source sim` (the
seeded simulated market) or `--source db` (the SQLite store at --db: its candles, or with --events
every record a `virtuoso record` stored, replayed through MarketState so all six faces score). The
work is done by runner.py, optimize.py and walkforward.py; report.py writes --report.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXIT_USAGE = 2


def _data_args(p: argparse.ArgumentParser, has_common: bool) -> None:
    p.add_argument("--data", metavar="FILE", help="candle file: CSV, JSON, JSON.gz or feather")
    if not has_common:
        p.add_argument("--source", metavar="NAME", help="sim (simulated market) or db (the SQLite store)")
        p.add_argument("--seed", type=int, help="seed for the simulated market")
        p.add_argument("--db", metavar="PATH", help="database file for --source db and --save")
    p.add_argument("--symbol", help="symbol (ccxt form); guessed from freqtrade file names")
    p.add_argument("--timeframe", help="timeframe (1m 5m 15m 1h 4h 1d); inferred from the data if omitted")
    p.add_argument("--bars", type=int, default=1000, help="bars to simulate with --source sim")
    p.add_argument("--from", dest="start", metavar="DATE", help="first candle (ISO date/time, UTC)")
    p.add_argument("--to", dest="end", metavar="DATE", help="last candle (ISO date/time, UTC)")
    p.add_argument("--strategy", default="sma_cross", help="strategy name (default sma_cross)")
    p.add_argument("--fee", type=float, default=None,
                   help="fee as a fraction of traded notional (default 0.001; with --broker paper, [paper]'s "
                        "maker and taker fees)")
    p.add_argument("--slippage-bps", type=float, default=0.0, help="adverse move per fill, basis points")
    p.add_argument("--capital", type=float, default=None,
                   help="initial capital, quote currency (default 10000; with --broker paper, [paper] "
                        "starting_balance)")
    p.add_argument("--mode", choices=("auto", "event", "vector"), default="auto",
                   help="engine: vector when the strategy allows, event otherwise (auto)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def add_backtest_commands(subparsers: Any, common: Callable[[argparse.ArgumentParser], None] | None = None) -> None:
    """Add the three research subcommands; `common` adds the host's shared options to each."""
    bt = subparsers.add_parser("backtest", help="backtest a strategy on recorded or simulated candles")
    opt = subparsers.add_parser("optimize", help="search strategy parameters (grid, random or Bayesian)")
    wf = subparsers.add_parser("walkforward", help="walk-forward analysis: optimise in-sample, test out-of-sample")
    for p in (bt, opt, wf):
        if common is not None:
            common(p)
        _data_args(p, common is not None)
    bt.add_argument("--param", action="append", default=[], metavar="K=V", help="strategy parameter")
    bt.add_argument("--feed", choices=("replay", "market"), default="replay",
                    help="event engine state: zero-copy replay view, or the live MarketState")
    bt.add_argument("--funding", metavar="FILE", help="funding-rate file (freqtrade *-funding_rate.feather)")
    bt.add_argument("--trades", metavar="FILE",
                    help="replay a trades recording (freqtrade trades file) through MarketState instead of candles")
    bt.add_argument("--events", action="store_true",
                    help="replay every record (trades, books, funding, ...) through MarketState: with --source sim "
                         "the simulated ones, with --source db a `virtuoso record` database")
    bt.add_argument("--broker", choices=("default", "paper"), default="default",
                    help="fill path: the backtest's own broker (default), or paper: the real order manager, "
                         "risk rules and paper executor (event engine)")
    bt.add_argument("--report", metavar="HTML", help="write a self-contained HTML report")
    bt.add_argument("--save", action="store_true", help="store the run in the database (--db)")
    bt.set_defaults(handler=cmd_backtest)
    for p in (opt, wf):
        p.add_argument("--grid", action="append", default=[], metavar="K=A,B,C", help="values to try for K")
        p.add_argument("--random", "--space", dest="random", action="append", default=[], metavar="K=LO:HI",
                       help="range for K to sample (integers if both ends are; K=LO:HI:log samples "
                            "log-uniformly), or K=A,B,C choices; the space of --method random and bayes")
        p.add_argument("--method", choices=("grid", "random", "bayes"),
                       help="grid: every --grid combination; random: --iterations candidates; bayes: --trials "
                            "candidates chosen by optuna's TPE sampler (default: grid if --grid is given, else random)")
        p.add_argument("--iterations", type=int, default=50, help="random candidates per search")
        p.add_argument("--trials", type=int, metavar="N",
                       help="candidates per search for --method bayes or random (overrides --iterations)")
        p.add_argument("--objective", default="sharpe", help="metric to rank by (default sharpe)")
        p.add_argument("--workers", type=int, default=1, help="processes (0 = one per CPU)")
        p.add_argument("--scheduler", metavar="ADDRESS", help="run on a Dask cluster (tcp://host:port)")
    opt.add_argument("--top", type=int, default=10, help="results to print")
    opt.add_argument("--save", action="store_true",
                     help="store every candidate's metrics, and the best run with its trades, in the database (--db)")
    opt.set_defaults(handler=cmd_optimize)
    wf.add_argument("--folds", type=int, default=5, help="out-of-sample folds")
    wf.add_argument("--is-ratio", type=float, default=3.0, help="in-sample length / out-of-sample length")
    wf.add_argument("--anchored", action="store_true", help="in-sample windows all start at the first bar")
    wf.set_defaults(handler=cmd_walkforward)


class _UserError(Exception):
    pass


def _number(text: str) -> Any:
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def parse_pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise _UserError(f"{what} {item!r} must look like KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def parse_space(grid: list[str], rand: list[str]) -> tuple[dict[str, list], dict[str, Any]]:
    g = {k: [_number(v) for v in vals.split(",") if v] for k, vals in parse_pairs(grid, "--grid").items()}
    space: dict[str, Any] = {}
    for k, spec in parse_pairs(rand, "--random").items():
        if ":" in spec:
            parts = spec.split(":")
            log = len(parts) == 3 and parts[2].strip().lower() == "log"
            if len(parts) != 2 and not log:
                raise _UserError(f"--random {k}={spec}: write LO:HI or LO:HI:log")
            lo, hi = (_number(x.strip()) for x in parts[:2])
            if isinstance(lo, str) or isinstance(hi, str):
                raise _UserError(f"--random {k}={spec}: the range ends must be numbers")
            if lo > hi:
                raise _UserError(f"--random {k}={spec}: the range runs backwards")
            if log and lo <= 0:
                raise _UserError(f"--random {k}={spec}: a log range must start above 0")
            space[k] = (lo, hi, "log") if log else (lo, hi)
        else:
            space[k] = [_number(v) for v in spec.split(",") if v]
    for k, vals in g.items():
        if not vals:
            raise _UserError(f"--grid {k}= lists no value")
    return g, space


def load_data(args: argparse.Namespace):
    """The candles the arguments name, cut to --from/--to."""
    from virtuoso_tui.backtest.data import from_sim, from_storage, guess_symbol, load_candles, parse_time

    start = parse_time(args.start) if args.start else None
    end = parse_time(args.end) if args.end else None
    source = getattr(args, "source", None)
    if args.data:
        symbol = args.symbol or guess_symbol(args.data)
        candles = load_candles(args.data, symbol=symbol, timeframe=args.timeframe or "", start_ms=start, end_ms=end)
    elif source == "sim":
        candles = from_sim(args.symbol or "BTC/USDT", args.timeframe or "1m", bars=args.bars,
                           seed=args.seed if args.seed is not None else 7).between(start, end)
    elif source in ("db", "storage", "sqlite"):
        from virtuoso_tui.storage import Storage

        if not args.symbol or not args.timeframe:
            raise _UserError("--source db needs --symbol and --timeframe")
        storage = Storage(args.db or "virtuoso.db")
        try:
            candles = from_storage(storage, args.symbol, args.timeframe, start_ms=start, end_ms=end)
        finally:
            storage.close()
    else:
        raise _UserError("give --data FILE, --source sim or --source db")
    if len(candles) < 2:
        raise _UserError("fewer than 2 candles in the chosen range")
    return candles


def _guard(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from virtuoso_tui.backtest.data import DataError

        try:
            _money(args)
            return fn(args)
        except (_UserError, DataError, ValueError) as exc:
            print(f"virtuoso: {exc}", file=sys.stderr)
            return EXIT_USAGE
    run.__name__ = fn.__name__
    return run


def _print_metrics(metrics: dict[str, Any]) -> None:
    from virtuoso_tui.backtest.report import format_metric

    width = max(len(k) for k in metrics)
    for k, v in metrics.items():
        print(f"  {k:<{width}}  {format_metric(k, v)}")


def _save(args: argparse.Namespace, result: Any, kind: str) -> int | None:
    if not getattr(args, "save", False):
        return None
    from virtuoso_tui.storage import Storage

    storage = Storage(args.db or "virtuoso.db")
    try:
        trades = [{"entry_ts": t["entry_time"], "exit_ts": t["exit_time"], "side": t.get("side", "long"),
                   "amount": t["size"], "entry_price": t["entry_price"], "exit_price": t["exit_price"],
                   "pnl": t["pnl"], "fees": t["fees"]} for t in result.trades]
        metrics = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in result.metrics.items()}
        return storage.save_backtest_run(kind=kind, strategy=result.strategy, params=result.params,
                                         symbol=result.symbol, timeframe=result.timeframe,
                                         data=args.data or getattr(args, "source", "") or "", metrics=metrics,
                                         trades=trades, equity={"ts": result.ts, "equity": result.equity})
    finally:
        storage.close()


@_guard
def cmd_backtest(args: argparse.Namespace) -> int:
    from virtuoso_tui.backtest.data import load_funding
    from virtuoso_tui.backtest.report import write_report
    from virtuoso_tui.backtest.runner import run_backtest

    params = {**_configured_params(args), **parse_pairs(args.param, "--param")}
    if args.trades or (args.events and getattr(args, "source", None) in ("sim", "db")):
        result = _run_recording(args, params)
    else:
        candles = load_data(args)
        funding = load_funding(args.funding) if args.funding else None
        result = run_backtest(candles, args.strategy, params, fee=args.fee, slippage_bps=args.slippage_bps,
                              capital=args.capital, mode=args.mode, feed=args.feed, funding=funding,
                              timeframe=args.timeframe or None, broker=_broker(args),
                              rules=_risk_rules(args) if args.broker == "paper" else None, paper=args.paper)
    run_id = _save(args, result, "backtest")
    if args.report:
        write_report(result, args.report)
    if args.json:
        doc = result.to_json()
        if run_id is not None:
            doc["run_id"] = run_id
        json.dump(doc, sys.stdout, allow_nan=False)
        sys.stdout.write("\n")
    else:
        params = ", ".join(f"{k}={v}" for k, v in result.params.items())
        print(f"{result.strategy} ({params}) on {result.symbol or 'data'} {result.timeframe}: "
              f"{len(result.equity)} bars, {result.mode} path")
        _print_metrics(result.metrics)
        for warning in result.warnings:   # data gaps, orders the paper path refused
            print(f"warning: {warning}", file=sys.stderr)
        if args.report:
            print(f"report written to {args.report}")
    return 0


def _run_recording(args: argparse.Namespace, params: dict[str, str]):
    from virtuoso_tui.backtest.data import guess_symbol, parse_time, sim_events
    from virtuoso_tui.backtest.replay import trades_from_file
    from virtuoso_tui.backtest.runner import run_recorded
    from virtuoso_tui.model import timeframe_ms

    timeframe = args.timeframe or "1m"
    storage = None
    if args.trades:
        symbol = args.symbol or guess_symbol(args.trades) or "ASSET"
        events = trades_from_file(args.trades, symbol)
    elif args.source == "db":
        from virtuoso_tui.storage import Storage

        if not args.symbol:
            raise _UserError("--source db --events needs --symbol (one of the recorded symbols)")
        path = args.db or "virtuoso.db"
        if not Path(path).exists():
            raise _UserError(f"no database at {path} (record one with `virtuoso record ... --db {path}`)")
        symbol = args.symbol
        storage = Storage(path)
        events = storage.iter_recorded([symbol])
    else:
        symbol = args.symbol or "BTC/USDT"
        events = sim_events(symbol, args.bars * timeframe_ms(timeframe) / 1000.0,
                            seed=args.seed if args.seed is not None else 7)
    start = parse_time(args.start) if args.start else None
    end = parse_time(args.end) if args.end else None
    if start is not None or end is not None:
        events = (e for e in events if (start is None or e.ts >= start) and (end is None or e.ts <= end))
    paper = args.broker == "paper"
    try:
        return run_recorded(events, args.strategy, params, symbol=symbol, timeframe=timeframe, fee=args.fee,
                            slippage_bps=args.slippage_bps, capital=args.capital, broker="paper" if paper else "book",
                            rules=_risk_rules(args) if paper else None, paper=args.paper)
    finally:
        if storage is not None:
            storage.close()


def _settings(args: argparse.Namespace) -> Any:
    from virtuoso_tui.config import ConfigError, load_config

    try:
        return load_config(getattr(args, "config", None))
    except ConfigError as exc:
        raise _UserError(str(exc)) from exc


def _money(args: argparse.Namespace) -> None:
    """Fill --fee and --capital when not given: the backtest defaults, or with --broker paper what the
    paper desk trades with ([paper] starting_balance; maker and taker fees in `args.paper`), so a
    paper-broker backtest and a paper run of the same recording give the same trades."""
    args.paper = None
    if getattr(args, "broker", "default") == "paper":
        paper = _settings(args).paper
        if args.capital is None:
            args.capital = paper.starting_balance
        if args.fee is None:
            args.paper = {"maker_fee": paper.maker_fee, "taker_fee": paper.taker_fee}
            args.fee = paper.taker_fee
    if args.fee is None:
        args.fee = 0.001
    if args.capital is None:
        args.capital = 10_000.0


def _configured_params(args: argparse.Namespace) -> dict[str, Any]:
    """The strategy's defaults from the config (--config, else the search order), under --param, so a
    backtest runs what the trader runs live (`Strategy.config_params`: the prism strategy takes the
    configured prism — thresholds, weights, blend, face options — and [strategy.params])."""
    from virtuoso_tui.backtest.runner import resolve_strategy

    return resolve_strategy(args.strategy).config_params(_settings(args))


def _broker(args: argparse.Namespace) -> str | None:
    if args.broker != "paper":
        return None
    if args.mode == "vector":
        raise _UserError("--broker paper runs on the event engine; drop --mode vector")
    return "paper"


def _risk_rules(args: argparse.Namespace) -> list[Any]:
    """The configured risk rules (--config, else the default config) of the plugins'
    `virtuoso_risk_rules`, as paper trading builds them."""
    from virtuoso_tui.backtest.paper import configured_rules

    return configured_rules(_settings(args))


def _search_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    grid, space = parse_space(args.grid, args.random)
    if not grid and not space:
        raise _UserError("give --grid K=A,B,C or --random K=LO:HI")
    if args.method == "grid" and not grid:
        raise _UserError("--method grid needs --grid K=A,B,C")
    n_iter = args.trials if args.trials is not None else args.iterations
    if n_iter < 1:
        raise _UserError("--trials/--iterations must be at least 1")
    return {"grid": grid or None, "space": space or None, "method": args.method, "n_iter": n_iter,
            "objective": args.objective,
            "fee": args.fee, "slippage_bps": args.slippage_bps, "capital": args.capital, "mode": args.mode,
            "workers": None if args.workers == 0 else args.workers, "scheduler": args.scheduler,
            "seed": args.seed if args.seed is not None else 0, "base": _configured_params(args)}


def _save_sweep(args: argparse.Namespace, candles: Any, result: Any) -> None:
    """Every candidate's params and metrics as a run of kind "optimize"; the best again with its
    trades and equity as kind "optimize-best"."""
    from virtuoso_tui.backtest.runner import run_backtest
    from virtuoso_tui.storage import Storage

    storage = Storage(args.db or "virtuoso.db")
    try:
        for row in result.rows:
            metrics = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                       for k, v in row["metrics"].items()}
            if row.get("error"):
                metrics["error"] = row["error"]
            storage.save_backtest_run(kind="optimize", strategy=args.strategy, params=row["params"],
                                      symbol=candles.symbol, timeframe=candles.timeframe,
                                      data=args.data or getattr(args, "source", "") or "", metrics=metrics)
    finally:
        storage.close()
    if result.best is not None:
        best = run_backtest(candles, args.strategy, {**_configured_params(args), **result.best["params"]}, fee=args.fee,
                            slippage_bps=args.slippage_bps, capital=args.capital, mode=args.mode)
        _save(args, best, "optimize-best")


@_guard
def cmd_optimize(args: argparse.Namespace) -> int:
    from virtuoso_tui.backtest.optimize import optimize

    candles = load_data(args)
    result = optimize(candles, args.strategy, **_search_kwargs(args))
    if getattr(args, "save", False):
        _save_sweep(args, candles, result)
    if args.json:
        json.dump(result.to_json(args.top), sys.stdout, allow_nan=False)
        sys.stdout.write("\n")
        return 0
    from virtuoso_tui.backtest.report import format_metric

    print(f"{len(result.rows)} candidates ({result.extra.get('method', 'grid')} search) in {result.elapsed_s:.2f} s "
          f"({result.backend}, {result.workers} workers), "
          f"ranked by {result.objective}:")
    for row in result.rows[:args.top]:
        params = ", ".join(f"{k}={v}" for k, v in row["params"].items())
        if row.get("error"):
            print(f"  {params}: {row['error']}")
        else:
            m = row["metrics"]
            print(f"  {params}: {result.objective}={format_metric(result.objective, m.get(result.objective))} "
                  f"return={format_metric('total_return', m['total_return'])} trades={m['trades']}")
    return 0


@_guard
def cmd_walkforward(args: argparse.Namespace) -> int:
    from virtuoso_tui.backtest.report import format_metric
    from virtuoso_tui.backtest.walkforward import walkforward

    candles = load_data(args)
    result = walkforward(candles, args.strategy, folds=args.folds, is_ratio=args.is_ratio,
                         anchored=args.anchored, **_search_kwargs(args))
    if args.json:
        json.dump(result.to_json(), sys.stdout, allow_nan=False)
        sys.stdout.write("\n")
        return 0
    print(f"walk-forward, {len(result.folds)} folds ({'anchored' if args.anchored else 'rolling'}), "
          f"objective {result.objective}:")
    for f in result.folds:
        params = ", ".join(f"{k}={v}" for k, v in f["params"].items())
        print(f"  fold {f['fold']}: {params}  IS {format_metric('x', f['is_objective'])}  "
              f"OOS {format_metric('x', f['oos_objective'])}  OOS return {format_metric('total_return', f['oos_return'])}")
    print(f"degradation {format_metric('x', result.degradation)}, efficiency {format_metric('x', result.efficiency)}")
    print("stitched out-of-sample:")
    _print_metrics(result.metrics)
    return 0
