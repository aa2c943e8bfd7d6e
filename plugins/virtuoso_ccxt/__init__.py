"""Built-in plugin virtuoso_ccxt: market data from, and orders at, any ccxt exchange.

Registers the source `ccxt` (source.CcxtSource): an atomic parallel fetch per symbol (fetch.py) with
staleness, retries and metrics; and the executor `live` (executor.LiveExecutor). Credentials are kept
out of every message (secrets.py). ccxt itself is imported only when a source or executor runs;
importing this package stays cheap.
"""

from virtuoso_tui import hookimpl


@hookimpl
def virtuoso_sources():
    from virtuoso_ccxt.source import CcxtSource

    return [CcxtSource]


@hookimpl
def virtuoso_executors():
    from virtuoso_ccxt.executor import LiveExecutor

    return [LiveExecutor]
