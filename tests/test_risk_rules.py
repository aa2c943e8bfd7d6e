"""Each built-in risk rule allowing, resizing (where a smaller order helps) and rejecting; halts;
registration through the plugin hook; config option names."""

from __future__ import annotations

import numpy as np
import pytest
import virtuoso_risk
from virtuoso_risk.rules import (
    RULES,
    MaxCorrelation,
    MaxDailyLoss,
    MaxDrawdown,
    MaxExposure,
    MaxLeverage,
    MaxOrderRate,
    MaxPosition,
    PriceBand,
    build_rules,
)

from virtuoso_tui.model import OrderIntent, OrderType, Position, RiskDecision
from virtuoso_tui.risk.rule import RiskContext, combine

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
NOW = 1_700_000_000_000


def ctx(positions=(), marks=None, equity=10_000.0, sod=10_000.0, peak=10_000.0, order_times=(), returns=None):
    return RiskContext(NOW, equity, sod, peak, {p.symbol: p for p in positions},
                       marks or {BTC: 100.0, ETH: 10.0}, list(order_times), returns or {})


def buy(amount, sym=BTC, **kw):
    return OrderIntent(sym, "buy", amount, **kw)


def sell(amount, sym=BTC, **kw):
    return OrderIntent(sym, "sell", amount, **kw)


def test_max_position_amount_and_notional():
    r = MaxPosition({"notional": 1_000.0, "amount": {BTC: 5.0}})
    held = ctx([Position(BTC, 4.0, 100.0)])
    assert r.check(buy(0.5), held).action == "allow"
    d = r.check(buy(3.0), held)
    assert (d.action, d.amount) == ("resize", pytest.approx(1.0))  # 5 base cap - 4 held
    assert r.check(buy(1.0), ctx([Position(BTC, 5.0, 100.0)])).action == "reject"
    assert r.check(sell(9.0), held).action == "allow"  # 4 long to 5 short: within the 5 cap
    d = r.check(sell(12.0), held)  # flips: may go to -5 short, i.e. sell 9
    assert (d.action, d.amount) == ("resize", pytest.approx(9.0))
    assert r.check(buy(20.0, ETH), ctx()).action == "allow"  # notional cap: 1000 / 10 = 100 ETH
    d = r.check(buy(200.0, ETH), ctx())
    assert (d.action, d.amount) == ("resize", pytest.approx(100.0))
    assert r.check(sell(1.0, reduce_only=True), ctx([Position(BTC, 9.0, 100.0)])).action == "allow"


def test_max_exposure_counts_other_symbols():
    r = MaxExposure({"notional": 1_000.0})
    c = ctx([Position(ETH, -50.0, 10.0)])  # 500 gross already
    assert r.check(buy(4.0), c).action == "allow"
    d = r.check(buy(8.0), c)
    assert (d.action, d.amount) == ("resize", pytest.approx(5.0))
    assert r.check(buy(1.0), ctx([Position(ETH, -100.0, 10.0)])).action == "reject"


def test_max_leverage_scales_with_equity():
    r = MaxLeverage({"leverage": 2.0})
    assert r.check(buy(100.0), ctx(equity=10_000.0)).action == "allow"
    d = r.check(buy(300.0), ctx(equity=10_000.0))
    assert (d.action, d.amount) == ("resize", pytest.approx(200.0))
    assert r.check(buy(1.0), ctx([Position(ETH, 2_000.0, 10.0)], equity=10_000.0)).action == "reject"


def test_max_daily_loss_rejects_and_halts():
    r = MaxDailyLoss({"pct": 5.0})
    assert r.halts
    assert r.check(buy(1.0), ctx(equity=9_600.0)).action == "allow"
    d = r.check(buy(1.0), ctx(equity=9_500.0))
    assert d.action == "reject" and "daily loss 500.00 reached the limit 500.00" in d.reason
    assert r.check(sell(1.0, reduce_only=True), ctx(equity=9_000.0)).action == "allow"


def test_max_drawdown_rejects_and_halts():
    r = MaxDrawdown({"pct": 10.0})
    assert r.halts
    assert r.check(buy(1.0), ctx(equity=10_000.0, peak=11_000.0)).action == "allow"
    d = r.check(buy(1.0), ctx(equity=9_800.0, peak=11_000.0))
    assert d.action == "reject" and "drawdown 10.9% reached the limit 10.0%" in d.reason


def test_max_correlation():
    rng = np.random.default_rng(1)
    a = rng.normal(0, 0.01, 50)
    returns = {BTC: a.tolist(), ETH: (a + rng.normal(0, 0.001, 50)).tolist()}
    r = MaxCorrelation({"value": 0.8})
    long_btc = ctx([Position(BTC, 1.0, 100.0)], returns=returns)
    d = r.check(buy(10.0, ETH), long_btc)
    assert d.action == "reject" and "moves with the BTC/USDT:USDT position" in d.reason
    assert r.check(sell(10.0, ETH), long_btc).action == "allow"  # a hedge, not the same bet
    few = {BTC: a[:10].tolist(), ETH: a[:10].tolist()}
    assert r.check(buy(10.0, ETH), ctx([Position(BTC, 1.0, 100.0)], returns=few)).action == "allow"
    independent = {BTC: a.tolist(), ETH: rng.normal(0, 0.01, 50).tolist()}
    assert r.check(buy(10.0, ETH), ctx([Position(BTC, 1.0, 100.0)], returns=independent)).action == "allow"


def test_max_order_rate():
    r = MaxOrderRate({"per_minute": 3})
    assert r.check(buy(1.0), ctx(order_times=[NOW - 70_000, NOW - 1000, NOW - 500])).action == "allow"
    d = r.check(buy(1.0), ctx(order_times=[NOW - 3000, NOW - 1000, NOW - 500]))
    assert d.action == "reject" and "3 orders in the last minute" in d.reason
    assert r.check(sell(1.0, reduce_only=True), ctx(order_times=[NOW] * 10)).action == "allow"


def test_price_band():
    r = PriceBand({"pct": 2.0})
    assert r.check(buy(1.0, type=OrderType.LIMIT, price=101.5), ctx()).action == "allow"
    d = r.check(buy(1.0, type=OrderType.LIMIT, price=110.0), ctx())
    assert d.action == "reject" and "1,000 bps from the mark 100" in d.reason
    assert r.check(buy(1.0, type=OrderType.STOP, stop_price=90.0), ctx()).action == "reject"
    assert r.check(buy(1.0), ctx()).action == "allow"  # market orders have no price to fat-finger
    assert r.check(buy(1.0, "XRP/USDT", type=OrderType.LIMIT, price=1.0), ctx()).action == "reject"


def test_combine_strictest_wins():
    a, b = RiskDecision.resize("a", 3.0, ""), RiskDecision.resize("b", 2.0, "")
    assert combine([RiskDecision.allow("x"), a, b], 5.0) is b
    assert combine([a, RiskDecision.reject("z", "no")], 5.0).action == "reject"
    assert combine([RiskDecision.allow("x")], 5.0).action == "allow"


def test_usage_lines_for_the_risk_command():
    c = ctx([Position(BTC, 2.0, 100.0)], equity=9_800.0)
    lines = [rule.usage(c) for rule in build_rules({})]
    assert len(lines) == len(RULES) and all(line.startswith(rule.name) for line, rule in zip(lines, RULES, strict=True))
    assert "max_daily_loss: 200.00 / 500.00" in lines


def test_build_rules_and_hook_registration():
    assert [r.name for r in build_rules({"price_band": {"enabled": False}})] == [c.name for c in RULES if c.name != "price_band"]
    assert build_rules({"max_position": {"enabled": True, "notional": 5.0}})[0].options["notional"] == 5.0
    assert virtuoso_risk.virtuoso_risk_rules() == RULES
    with pytest.raises(ValueError, match=r"\[risk.price_band\] has no option 'bps'"):
        PriceBand({"bps": 5})


def test_rule_options_match_the_config_tables():
    """Every option the config declares for a built-in rule is one the rule understands."""
    from virtuoso_tui.config import RiskSettings

    rs = RiskSettings()
    for cls in RULES:
        opts = rs.options(cls.name)
        assert opts is not None, cls.name
        cls(opts)  # raises on an unknown option
