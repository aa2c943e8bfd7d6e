"""Built-in plugin virtuoso_streams: Binance and Bybit v5 websocket sources with order book sync.

Registers the sources `binance` (binance.BinanceStream) and `bybit` (bybit.BybitStream). The hot path
is msgspec decoding (messages.py) into a per-symbol LocalBook (localbook.py) driven by the venue's
sequence rules (sync.py); connection.py reconnects with backoff and reports health.
"""

from virtuoso_tui import hookimpl


@hookimpl
def virtuoso_sources():
    from virtuoso_streams.binance import BinanceStream
    from virtuoso_streams.bybit import BybitStream

    return [BinanceStream, BybitStream]
