"""The source and live-executor options documented in the shipped virtuoso.toml: uncommented, the file
still passes the config check, and each source / the live executor is built from it and takes the
documented values. Also the Binance `market`/`testnet` options and the Bybit `testnet` option."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from virtuoso_ccxt.executor import LiveExecutor
from virtuoso_ccxt.source import CcxtSource
from virtuoso_replay import ReplaySource
from virtuoso_streams.binance import BinanceStream
from virtuoso_streams.bybit import BybitStream

from virtuoso_tui.config import parse_config
from virtuoso_tui.market.source import SourceError

SHIPPED = Path(__file__).resolve().parents[1] / "virtuoso.toml"
OPTION = re.compile(r"^# ([a-z_]+ = .*?)\s+# ")
HEADER = re.compile(r"^# (\[(sources|plugins)\.[a-z]+\])$")


def uncommented() -> str:
    """The shipped file with every documented source/plugin option line and header made live."""
    out, live_table = [], False
    for line in SHIPPED.read_text().splitlines():
        header, option = HEADER.match(line), OPTION.match(line)
        if header:
            out.append(header.group(1))
            live_table = True
        elif line.startswith("["):
            out.append(line)
            live_table = line.startswith(("[sources.", "[plugins"))
        elif option and live_table:
            out.append(option.group(1))
        else:
            out.append(line)
    return "\n".join(out)


def test_every_documented_option_parses_and_is_taken(tmp_path):
    db = tmp_path / "r.db"
    db.write_bytes(b"")
    text = uncommented().replace('path = "recording.db"', f'path = "{db}"')
    s = parse_config(text, file="virtuoso.toml", env={"BYBIT_API_KEY": "k" * 12, "BYBIT_API_SECRET": "s" * 12,
                                                       "EXCHANGE_PASSWORD": "p" * 8})
    b = s.source_options("binance")
    assert {"ws_url", "rest_url", "streams", "timeframes", "trade_stream", "snapshot_limit", "ping_interval_s",
            "backoff_max_s", "max_reconnects", "health_interval_s", "queue_size"} <= set(b)
    src = BinanceStream(["BTC/USDT:USDT"], b)
    assert src.ws_base == b["ws_url"] and src.snapshot_limit == b["snapshot_limit"]
    assert src.max_reconnects == b["max_reconnects"] and src.trade_stream == b["trade_stream"]
    by = s.source_options("bybit")
    assert BybitStream(["BTC/USDT:USDT"], by).depth == by["depth"]
    c = s.source_options("ccxt")
    cc = CcxtSource(["BTC/USDT:USDT"], dict(c))
    assert cc.window_ms == c["fetch_window_ms"] and cc.rounds == c["rounds"] and cc.poll_interval_s == c["poll_interval_s"]
    assert "k" * 12 not in repr(cc)
    r = s.source_options("replay")
    assert ReplaySource(["BTC/USDT"], r).start == r["start"]
    live = LiveExecutor({**{k: v for k, v in c.items() if k in ("exchange", "api_key", "secret")},
                         **s.plugins.options_for("ccxt")})
    assert live.exchange_id == "binance" and live.poll_interval_s == 2.0 and live.problem() == ""


def test_binance_market_must_match_the_symbols():
    with pytest.raises(SourceError, match="market = 'usdm' but BTC/USDT is a spot symbol"):
        BinanceStream(["BTC/USDT"], {"market": "usdm"})
    with pytest.raises(SourceError, match="market must be 'usdm' or 'spot'"):
        BinanceStream(["BTC/USDT"], {"market": "coinm"})
    assert not BinanceStream(["BTC/USDT"], {"market": "spot"}).futures


def test_testnet_endpoints():
    assert BinanceStream(["BTC/USDT:USDT"], {"testnet": True}).url().startswith("wss://stream.binancefuture.com/")
    spot = BinanceStream(["BTC/USDT"], {"testnet": True})
    assert spot.ws_base == "wss://stream.testnet.binance.vision" and spot.rest_base == "https://testnet.binance.vision"
    assert BybitStream(["BTC/USDT:USDT"], {"testnet": True}).ws_url == "wss://stream-testnet.bybit.com/v5/public/linear"
    assert BinanceStream(["BTC/USDT:USDT"], {"testnet": True, "ws_url": "ws://x"}).ws_base == "ws://x"
