"""API keys never appear in logs, health records, reprs or error output, even when the exchange
quotes the refused key back in its error body (the local server does exactly that)."""

from __future__ import annotations

import logging

import pytest
from virtuoso_ccxt.secrets import Credentials, redact
from virtuoso_ccxt.source import CcxtSource

from tests.exchange import RestFault, RestServer
from virtuoso_tui.market.source import SourceError

KEY = "vK3yFAKEapiKEY0123456789abcdefXYZ"
SECRET = "sEcr3tFAKE/+=secret9876543210zyx"


@pytest.fixture
async def server():
    s = RestServer()
    await s.start()
    yield s
    await s.stop()


def leaks(text: str) -> list[str]:
    return [s for s in (KEY, SECRET, SECRET.replace("/", "%2F").replace("+", "%2B").replace("=", "%3D")) if s in text]


async def test_keys_from_env_never_leak(server, monkeypatch, caplog):
    monkeypatch.setenv("VIRTUOSO_TEST_KEY", KEY)
    monkeypatch.setenv("VIRTUOSO_TEST_SECRET", SECRET)
    server.faults = [RestFault("/api/v3/account", "auth")]
    caplog.set_level(logging.DEBUG)
    options = {"exchange": "binance", "base_url": server.url, "api_key_env": "VIRTUOSO_TEST_KEY",
               "secret_env": "VIRTUOSO_TEST_SECRET", "verify_keys": True, "rounds": 1, "rate_limit_ms": 1}
    src = CcxtSource(["BTC/USDT"], options)
    events = []
    with pytest.raises(SourceError) as err:
        async for e in src.events():
            events.append(e)
    # the key really went to the exchange, and the exchange quoted it back
    sent = [r for r in server.requests if r.path == "/api/v3/account"]
    assert sent and sent[0].headers.get("X-MBX-APIKEY") == KEY
    assert "refused the API credentials" in str(err.value)
    outputs = [str(err.value), repr(err.value), repr(src), str(src.options), caplog.text,
               *(repr(e) for e in events), *(str(e.__cause__) for e in [err.value] if e.__cause__)]
    assert not [leak for text in outputs for leak in leaks(text)]
    assert "Credentials(apiKey=set, secret=set, password=unset)" in repr(src)


async def test_errors_logged_by_the_source_are_redacted(server, caplog):
    server.faults = [RestFault("/api/v3/depth", "500", times=10)]
    caplog.set_level(logging.DEBUG)
    src = CcxtSource(["BTC/USDT"], {"exchange": "binance", "base_url": server.url, "api_key": KEY, "secret": SECRET,
                                    "rounds": 1, "retries": 1, "backoff_base_s": 0.01, "rate_limit_ms": 1})
    events = [e async for e in src.events()]
    logging.getLogger("virtuoso_ccxt.source").warning("a line quoting %s", KEY)
    assert not leaks(caplog.text) and "***" in caplog.text
    assert not [leak for e in events for leak in leaks(repr(e))]


def test_redact_and_credentials_repr():
    c = Credentials.from_options(opts := {"api_key": KEY, "secret": SECRET, "timeframes": ["1m"]})
    assert opts == {"timeframes": ["1m"]}  # popped, not kept in the options dict
    assert KEY not in repr(c) and SECRET not in str(c)
    assert redact(f"GET /x?signature=1&k={KEY} body {SECRET}", c.secrets()) == "GET /x?signature=1&k=*** body ***"
    assert redact("sEcr3tFAKE%2F%2B%3Dsecret9876543210zyx", c.secrets()) == "***"
