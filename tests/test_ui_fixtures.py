"""Hand-made, seeded market pieces for the console tests: a deterministic Source (random walk with
trades, books and tickers), a small prism double that scores from the MarketState it is given, a desk
double that parses with the real command language, and a runtime bundle. Independent of the simulator
and the real prism so the UI tests stay stable while those evolve; tests with the real runtime are in
test_ui_app.py. Also holds checks that these doubles behave (a double that lies makes every UI test lie).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from virtuoso_tui.bus import EventBus
from virtuoso_tui.engine import Engine
from virtuoso_tui.market.source import Source
from virtuoso_tui.model import BookSnapshot, Ticker, Trade
from virtuoso_tui.model.market import SourceHealth
from virtuoso_tui.plugins import PluginHost
from virtuoso_tui.prism.face import ComponentScore, FaceResult, Signal
from virtuoso_tui.trading.commands import parse

START_MS = 1_767_225_600_000  # 2026-01-01 00:00:00 UTC
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
BASE_PRICE = {"BTC/USDT": 65_000.0, "ETH/USDT": 3_200.0, "SOL/USDT": 150.0}
FACES = ("technical", "volume", "orderflow", "orderbook", "price_structure", "sentiment")


class WalkSource(Source):
    """One trade per symbol per second (seeded walk, alternating aggressor by the step's sign), a 15-level
    book every 5 s and a ticker every 10 s, for `seconds` of market time. Never sleeps."""

    name = "walk"

    def __init__(self, symbols=SYMBOLS, options=None) -> None:
        super().__init__(symbols, options)
        self.seconds = int(self.options.get("seconds", 3600))
        self.rng = np.random.default_rng(int(self.options.get("seed", 7)))

    async def events(self):
        prices = {s: BASE_PRICE.get(s, 100.0) for s in self.symbols}
        opens = dict(prices)
        yield SourceHealth("walk", START_MS, True, latency_ms=12.0, messages_per_s=40.0)
        for sec in range(self.seconds):
            ts = START_MS + sec * 1000
            for s in self.symbols:
                step = float(self.rng.normal(0, 0.0008))
                prices[s] *= 1 + step
                p = prices[s]
                side = "buy" if step >= 0 else "sell"
                yield Trade(s, ts, round(p, 2), round(float(self.rng.uniform(0.01, 2.0)), 4), side, f"{s}{sec}")
                if sec % 5 == 0:
                    tick = max(p * 1e-4, 0.01)
                    bids = tuple((round(p - tick * (i + 1), 2), round(1.0 + i * 0.5, 3)) for i in range(15))
                    asks = tuple((round(p + tick * (i + 1), 2), round(1.2 + i * 0.4, 3)) for i in range(15))
                    yield BookSnapshot(s, ts, bids, asks, sequence=sec)
                if sec % 10 == 0:
                    yield Ticker(s, ts, round(p, 2), change_24h_pct=(p / opens[s] - 1) * 100)
            if sec % 64 == 0:
                await asyncio.sleep(0)


class LastCloseFaces:
    """A prism double: each face's components score the state's own data (return over the last closed
    1m candles, buy share of recent trades), so the numbers move with the market and differ by symbol."""

    def update(self, state, touched):
        candles = state.candles["1m"]
        if len(candles) < 3:
            return None
        close = candles.close
        ret = float(close[-1] / close[-3] - 1.0)
        side = state.trades.side[-50:]
        buy_share = float((side > 0).mean()) if len(side) else 0.5
        faces = {}
        for i, name in enumerate(FACES):
            trend = max(0.0, min(100.0, 50 + ret * 20_000 * (1 + i / 10)))
            flow = 100 * buy_share
            comps = [ComponentScore("trend", trend, 0.6, div=(-1) ** i * 2.0), ComponentScore("flow", flow, 0.4)]
            if name == "sentiment":
                comps.append(ComponentScore("funding", None, 0.2))
            score = sum(c.final * c.weight for c in comps if c.available) / sum(c.weight for c in comps if c.available)
            faces[name] = FaceResult(name, state.symbol, state.now, score, 0.5 + i / 20, comps, weight=1 / 6)
        total = sum(f.score for f in faces.values()) / len(faces)
        side_ = "LONG" if total >= 65 else "SHORT" if total <= 35 else "NEUTRAL"
        return Signal(state.symbol, state.now, total, side_, 0.7, faces)


class ParsingDesk:
    """A desk double: the real command parser; a valid command is acknowledged, an invalid one raises."""

    def __init__(self) -> None:
        self.executed: list[str] = []

    def on_event(self, event, state) -> None:
        return None

    def execute(self, line, symbol):
        command = parse(line, symbol)
        self.executed.append(line)
        return f"accepted {type(command).__name__.lower()} on {getattr(command, 'symbol', symbol)}"


BROKEN_PLUGIN = "import no_such_module_for_virtuoso_tests\n"


PANEL_PLUGIN = '''
from textual.widgets import Static
from virtuoso_tui import hookimpl
from virtuoso_tui.trading.commands import Command


class FundingHeat(Static):
    def __init__(self):
        super().__init__("funding heat: calm", id="funding-heat")


class Broken(Static):
    def __init__(self):
        raise RuntimeError("panel exploded")


class Ping(Command):
    verb = "ping"
    usage = "ping [N]"
    help = "Answer pong."

    def run(self, args, ctx):
        return "pong"


@hookimpl
def virtuoso_panels():
    return [FundingHeat]


@hookimpl
def virtuoso_commands():
    return [Ping()]
'''

MOUNT_FAILS_PLUGIN = PANEL_PLUGIN.replace(
    "class Broken(Static):",
    "class MountFails(Static):\n    def on_mount(self):\n        raise RuntimeError('mount failed in plugin')\n\n\n"
    "class Broken(Static):").replace("return [FundingHeat]", "return [MountFails]").replace("return [Ping()]", "return []")
BAD_PANEL_PLUGIN = PANEL_PLUGIN.replace("return [FundingHeat]", "return [Broken]").replace("return [Ping()]", "return []")


def make_runtime(tmp_path: Path, *, seconds: int = 900, symbols=SYMBOLS, mode: str = "SIM",
                 theme: str = "dark", keys=None, seed: int = 7, plugins: dict[str, str] | None = None):
    """A runtime bundle with the fields VirtuosoApp reads; its plugin host holds one broken plugin and
    any `plugins` given as {module name: source}."""
    plugdir = tmp_path / "plugins"
    plugdir.mkdir(exist_ok=True)
    (plugdir / "broken_panel.py").write_text(BROKEN_PLUGIN)
    for name, source in (plugins or {}).items():
        (plugdir / f"{name}.py").write_text(source)
    host = PluginHost.load(entry_points=False, plugins_dirs=[plugdir])
    bus = EventBus()
    source = WalkSource(symbols, {"seconds": seconds, "seed": seed})
    engine = Engine(source=source, symbols=symbols, bus=bus, prism=LastCloseFaces(), desk=ParsingDesk(),
                    score_interval_ms=5_000)
    settings = SimpleNamespace(ui=SimpleNamespace(theme=theme, fps=10, keys=keys or {}),
                               source=SimpleNamespace(name="walk"))
    return SimpleNamespace(engine=engine, bus=bus, host=host, settings=settings, mode=mode, theme=theme,
                           source=source, problems=[], storage=None)


async def warm(runtime, seconds: float | None = None) -> None:
    """Run the whole seeded market (or `seconds` of it) before the app starts: a fixed, repeatable state."""
    await runtime.engine.run(market_seconds=seconds)


# ---------------------------------------------------------------------- the doubles behave
async def test_walk_market_is_repeatable_and_fills_the_state(tmp_path):
    a, b = make_runtime(tmp_path, seconds=300), make_runtime(tmp_path, seconds=300)
    await warm(a)
    await warm(b)
    sa, sb = a.engine.states["BTC/USDT"], b.engine.states["BTC/USDT"]
    assert len(sa.candles["1m"]) == 4  # 300 s of trades: minutes 0-3 closed, minute 4 forming
    np.testing.assert_array_equal(sa.candles["1m"].close, sb.candles["1m"].close)
    assert sa.book.best_bid < sa.book.best_ask
    assert set(a.engine.signals) == set(SYMBOLS)
    assert 0 <= a.engine.signals["BTC/USDT"].score <= 100


def test_broken_plugin_is_reported_failed(tmp_path):
    rt = make_runtime(tmp_path)
    broken = [i for i in rt.host.report() if i.name == "broken_panel"]
    assert broken and broken[0].status == "failed"
    assert "no_such_module_for_virtuoso_tests" in broken[0].error
