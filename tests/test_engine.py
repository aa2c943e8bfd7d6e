"""The engine with plugins that misbehave: a plugin that raises everywhere is isolated and reported, and
the engine keeps producing signals; the engine's market clock and shutdown."""

from __future__ import annotations

import asyncio
import textwrap

import pytest

from virtuoso_tui.config import load_config
from virtuoso_tui.runtime import build_runtime

BAD_PLUGIN = '''
from virtuoso_tui import hookimpl
from virtuoso_tui.api import Face, RiskRule
from virtuoso_tui.monitor import AlertRule


class ExplodingFace(Face):
    name = "exploding"
    default_weight = 0.2
    components = {"boom": 1.0}
    requires = frozenset({"trades"})

    def score(self, state, timeframes, touched=None):
        raise RuntimeError("face blew up")


class ExplodingRuleCtor(RiskRule):
    name = "exploding_rule"

    def __init__(self, options=None):
        raise RuntimeError("rule cannot be built")


class ExplodingAlert(AlertRule):
    name = "exploding_alert"

    def check(self, signal, previous):
        raise KeyError("alert rule blew up")


@hookimpl
def virtuoso_faces(config):
    return [ExplodingFace]


@hookimpl
def virtuoso_risk_rules(config):
    return [ExplodingRuleCtor]


@hookimpl
def virtuoso_alert_rules(config):
    return [ExplodingAlert()]


@hookimpl
def virtuoso_on_signal(signal):
    raise ZeroDivisionError("on_signal blew up")


@hookimpl
def virtuoso_on_fill(fill):
    raise ValueError("on_fill blew up")
'''


@pytest.fixture
def bad_dir(tmp_path):
    (tmp_path / "chaos.py").write_text(textwrap.dedent(BAD_PLUGIN))
    return tmp_path


def test_plugin_raising_everywhere_leaves_the_engine_running(bad_dir):
    rt = build_runtime(load_config(), speed=0, db_path="", seed=5, plugins_dirs=[bad_dir])
    signals, fills, alerts = [], [], []
    rt.bus.subscribe("signal", lambda _t, s: signals.append(s))
    rt.bus.subscribe("fill", lambda _t, f: fills.append(f))
    rt.bus.subscribe("alert", lambda _t, a: alerts.append(a))

    async def main():
        task = asyncio.ensure_future(rt.engine.run(market_seconds=180))
        await asyncio.sleep(0.05)
        result = rt.engine.execute("buy 0.01 BTC/USDT:USDT")
        await task
        return result

    result = asyncio.run(main())
    info = rt.host.infos["chaos"]
    assert info.status == "failed"
    assert rt.engine.stopped_reason == "market duration reached"
    # the prism carries on: the exploding face is n/a, the six built-in faces score
    last = signals[-1]
    assert last.faces["exploding"].score is None
    assert sum(1 for f in last.faces.values() if f.score is not None) == 6
    assert len(signals) > 100
    # trading carries on: the rule that could not be built is left out, the order fills, on_fill's raise is isolated
    assert result.ok, result.message
    assert fills and fills[0].symbol == "BTC/USDT:USDT"
    assert "rule cannot be built" in info.error or "blew up" in info.error


def test_a_face_that_raises_is_reported_against_its_plugin(tmp_path):
    (tmp_path / "moody.py").write_text(textwrap.dedent('''
        from virtuoso_tui import hookimpl
        from virtuoso_tui.api import Face

        class Moody(Face):
            name = "moody"
            default_weight = 0.1
            components = {"mood": 1.0}
            requires = frozenset({"trades"})

            def score(self, state, timeframes, touched=None):
                raise ArithmeticError("no mood today")

        @hookimpl
        def virtuoso_faces(config):
            return [Moody]
    '''))
    rt = build_runtime(load_config(), speed=0, db_path="", seed=5, plugins_dirs=[tmp_path], with_trading=False)
    signals = []
    rt.bus.subscribe("signal", lambda _t, s: signals.append(s))
    asyncio.run(rt.engine.run(market_seconds=30))
    assert rt.host.infos["moody"].status == "failed"
    assert rt.host.infos["moody"].error == "face 'moody' raised ArithmeticError: no mood today"
    assert signals and all(s.faces["moody"].score is None for s in signals)
    assert signals[-1].score is not None


def test_market_clock_is_the_sources_time():
    rt = build_runtime(load_config(), speed=0, db_path="", seed=5, warm_up=False, with_trading=False)
    asyncio.run(rt.engine.run(market_seconds=90))
    start = 1_767_571_200_000  # the sim's fixed start, 2026-01-05 00:00 UTC
    assert start + 89_000 <= rt.engine.now <= start + 90_000
    closed = rt.engine.states["BTC/USDT:USDT"].candles["1m"]
    assert list(closed.ts) == [start]  # one complete minute; the second is still forming


def test_a_bar_strategy_from_the_registry_trades_in_paper(tmp_path):
    """[strategy] picks any registered strategy: sma_cross decides on each closed 1m candle of the live
    engine and its orders go through the same order manager and risk rules as the keyboard's."""
    cfg = tmp_path / "v.toml"
    cfg.write_text(textwrap.dedent("""
        [strategy]
        enabled = true
        name = "sma_cross"
        timeframe = "1m"

        [strategy.params]
        fast = 3
        slow = 8
    """))
    rt = build_runtime(load_config(cfg), speed=0, db_path="", seed=11, symbols=["BTC/USDT:USDT"])
    orders = []
    rt.bus.subscribe("order", lambda _t, o: orders.append(o))
    asyncio.run(rt.engine.run(market_seconds=3 * 3600))
    mine = [o for o in orders if o.origin == "strategy:sma_cross"]
    assert mine, "sma_cross never traded in three hours of 1m candles"
    assert {o.status.value for o in mine} & {"filled"}
    assert all(o.symbol == "BTC/USDT:USDT" for o in mine)


def test_unknown_strategy_name_is_a_clear_error(tmp_path):
    cfg = tmp_path / "v.toml"
    cfg.write_text('[strategy]\nenabled = true\nname = "moonshot"\n')
    with pytest.raises(ValueError, match="'moonshot' is not a strategy any plugin provides"):
        build_runtime(load_config(cfg), speed=0, db_path="")


PLUGIN_VERB = '''
from virtuoso_tui import hookimpl
from virtuoso_tui.api import Command, CommandError
from virtuoso_tui.model import OrderIntent


class Nibble(Command):
    verb = "nibble"
    usage = "nibble SYMBOL AMOUNT"
    help = "buy a small amount at market through the desk"

    def run(self, args, ctx):
        if len(args) != 2:
            raise CommandError("nibble needs a symbol and an amount, e.g. 'nibble BTC/USDT:USDT 0.001'")
        order = ctx.submit(OrderIntent(args[0], "buy", float(args[1]), origin="plugin:nibbler"))
        return f"nibbled {order.client_id} {order.status.value}"


@hookimpl
def virtuoso_commands(config):
    return [Nibble()]
'''


def test_a_plugin_verb_trades_through_the_same_order_manager_and_risk(tmp_path):
    (tmp_path / "nibbler.py").write_text(PLUGIN_VERB)
    cfg = tmp_path / "v.toml"
    cfg.write_text("[risk.max_position]\nnotional = 1000\n")
    rt = build_runtime(load_config(cfg), speed=0, db_path="", seed=5, plugins_dirs=[tmp_path])
    orders, errors = [], []
    rt.bus.subscribe("order", lambda _t, o: orders.append(o))
    rt.bus.subscribe("error", lambda _t, e: errors.append(e))

    async def main():
        task = asyncio.ensure_future(rt.engine.run(market_seconds=20))
        await asyncio.sleep(0.05)
        results = [rt.engine.execute(line) for line in
                   ("nibble BTC/USDT:USDT 0.001", "nibble BTC/USDT:USDT 1", "nibble", "help nibble")]
        await task
        return results

    small, big, bad, helped = asyncio.run(main())
    assert small.ok and small.message.startswith("nibbled vt-") and small.message.endswith("filled")
    # 1 BTC is ~65,000 notional: the max_position rule (1,000) resizes or rejects it, as for any order
    nib = [o for o in orders if o.origin == "plugin:nibbler" and o.status.is_terminal]
    assert len(nib) == 2
    assert nib[1].status.value == "rejected" or nib[1].amount * 65_000 <= 1_000 * 1.05
    assert not bad.ok and bad.message == "nibble needs a symbol and an amount, e.g. 'nibble BTC/USDT:USDT 0.001'"
    assert helped.ok and "buy a small amount at market" in helped.message
