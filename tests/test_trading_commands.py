"""The command language parser: every verb, every error (one sentence, nothing sent)."""

from __future__ import annotations

import pytest

from virtuoso_tui.model import OrderType
from virtuoso_tui.trading.commands import (
    Algo,
    Cancel,
    Close,
    Command,
    CommandError,
    Help,
    Kill,
    PlaceOrder,
    PluginCall,
    ResetRisk,
    ShowRisk,
    Size,
    help_text,
    parse,
    parse_duration_ms,
)

SEL = "BTC/USDT:USDT"


def test_market_order_with_symbol_and_selected_default():
    c = parse("buy 0.01 BTC/USDT:USDT")
    assert c == PlaceOrder("buy", Size("base", 0.01), "BTC/USDT:USDT")
    c = parse("sell 0.5", SEL)
    assert c.side == "sell" and c.symbol == SEL and c.type is OrderType.MARKET


def test_symbol_is_upper_cased():
    assert parse("buy 1 eth/usdt").symbol == "ETH/USDT"


@pytest.mark.parametrize("line, kind, value", [
    ("buy 0.01", "base", 0.01), ("buy $500", "quote", 500.0), ("buy 5%", "percent", 5.0),
    ("buy 1,000", "base", 1000.0), ("buy $1_000", "quote", 1000.0),
])
def test_sizes(line, kind, value):
    assert parse(line, SEL).size == Size(kind, value)


def test_limit_stop_stop_limit_and_flags():
    c = parse("sell 0.5 @ 65000", SEL)
    assert (c.type, c.price, c.stop_price) == (OrderType.LIMIT, 65000.0, None)
    assert parse("sell 0.5 @65000", SEL).price == 65000.0
    c = parse("buy 1 stop 64000", SEL)
    assert (c.type, c.price, c.stop_price) == (OrderType.STOP, None, 64000.0)
    c = parse("buy 1 stop 64000 limit 64100", SEL)
    assert (c.type, c.price, c.stop_price) == (OrderType.STOP_LIMIT, 64100.0, 64000.0)
    c = parse("sell 1 BTC/USDT @ 70000 post reduce", SEL)
    assert c.post_only and c.reduce_only and c.symbol == "BTC/USDT"
    assert parse("sell 1 reduce", SEL).reduce_only


def test_size_conversion():
    assert Size("quote", 500).to_base(100.0, 0) == 5.0
    assert Size("percent", 5).to_base(50.0, 10_000) == pytest.approx(10.0)
    assert Size("base", 2).to_base(None, 0) == 2
    with pytest.raises(CommandError, match="without a market price"):
        Size("quote", 500).to_base(None, 0)


def test_close_cancel_risk_kill_help():
    assert parse("close", SEL) == Close(SEL)
    assert parse("close eth/usdt") == Close("ETH/USDT")
    assert parse("close all") == Close(None)
    assert parse("cancel vt-000001") == Cancel("vt-000001")
    assert parse("cancel all") == Cancel(None)
    assert parse("risk") == ShowRisk()
    assert parse("risk reset") == ResetRisk()
    assert parse("kill") == Kill()
    assert parse("help") == Help(None)
    assert parse("HELP twap") == Help("twap")
    assert "twap buy|sell SIZE" in help_text()
    assert "post-only" in help_text("buy")


def test_algos():
    c = parse("twap buy 1 over 10m slices 5", SEL)
    assert c == Algo("twap", "buy", Size("base", 1.0), SEL, duration_ms=600_000, slices=5)
    c = parse("vwap sell $2000 ETH/USDT over 1h")
    assert (c.kind, c.symbol, c.duration_ms, c.slices) == ("vwap", "ETH/USDT", 3_600_000, None)
    c = parse("iceberg buy 10 @ 100 show 1", SEL)
    assert (c.price, c.display) == (100.0, 1.0)
    c = parse("split sell 3 bps 5 every 30s", SEL)
    assert (c.max_bps, c.interval_ms) == (5.0, 30_000)


def test_durations():
    assert parse_duration_ms("30s") == 30_000
    assert parse_duration_ms("1.5h") == 5_400_000
    with pytest.raises(CommandError, match="needs a unit"):
        parse_duration_ms("10")


class Echo(Command):
    verb = "echo"
    usage = "echo WORDS"
    help = "say it back"

    def run(self, args, ctx):
        return " ".join(args)


def test_plugin_verbs():
    c = parse("echo hello world", SEL, {"echo": Echo()})
    assert isinstance(c, PluginCall) and c.args == ("hello", "world")
    assert c.command.run(list(c.args), None) == "hello world"
    assert "echo WORDS" in help_text(None, {"echo": Echo()})
    assert parse("help echo", None, {"echo": Echo()}) == Help("echo")


@pytest.mark.parametrize("line, message", [
    ("", "empty command"),
    ("frob 1", "unknown command 'frob'"),
    ("buy", "'buy' needs a size"),
    ("buy abc", "the size must be a number, not 'abc'"),
    ("buy -1", "must be a positive number"),
    ("buy 0", "must be a positive number"),
    ("buy nan", "must be a positive number"),
    ("buy 150%", "more than all the equity"),
    ("buy $", "must be a number"),
    ("buy BTC/USDT 1", "the size must come before the symbol"),
    ("buy 1 @", "expects a price after '@'"),
    ("buy 1 @ x", "the limit price must be a number"),
    ("buy 1 @ 5 @ 6", "'@' is given twice"),
    ("buy 1 stop", "expects a stop price"),
    ("buy 1 stop 5 limit", "expects a limit price"),
    ("buy 1 @ 5 stop 4", "a stop order cannot also take '@ PRICE'"),
    ("buy 1 post", "'post' (post-only) applies only to limit orders"),
    ("buy 1 reduce reduce", "'reduce' is given twice"),
    ("buy 1 fast", "unexpected 'fast' in the buy command"),
    ("buy 1 @ 5 BTC/USDT", "the symbol goes right after the size"),
    ("close BTC/USDT ETH/USDT", "'close' takes one symbol or 'all'"),
    ("close btc", "'close' takes a symbol like BTC/USDT or 'all'"),
    ("cancel", "'cancel' takes one order id or 'all'"),
    ("cancel a b", "'cancel' takes one order id or 'all'"),
    ("risk now", "'risk' takes nothing or 'reset'"),
    ("kill now", "'kill' takes no arguments"),
    ("help a b", "'help' takes at most one verb"),
    ("help frob", "no help for unknown command 'frob'"),
    ("twap", "needs a side"),
    ("twap hold 1 over 1m", "needs buy or sell, not 'hold'"),
    ("twap buy", "'twap' needs a size"),
    ("twap buy 1", "needs a duration"),
    ("twap buy 1 over 10", "needs a unit"),
    ("twap buy 1 over 1m slices 2.5", "whole number"),
    ("twap buy 1 over 1m show 3", "unexpected 'show' in the twap command"),
    ("iceberg buy 10 @ 100", "needs '@ PRICE' and 'show DISPLAY'"),
    ("iceberg buy 1 @ 100 show 2", "display size is larger than its total size"),
    ("split buy 1", "needs a slippage limit"),
])
def test_errors_are_one_sentence(line, message):
    with pytest.raises(CommandError) as err:
        parse(line, SEL)
    text = str(err.value)
    assert message in text
    assert "\n" not in text and text.replace("e.g. ", "").count(". ") == 0


def test_no_symbol_and_none_selected():
    with pytest.raises(CommandError, match="no symbol given and none selected"):
        parse("buy 1")
    with pytest.raises(CommandError, match="no symbol given"):
        parse("close")
