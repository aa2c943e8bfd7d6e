"""Built-in plugin virtuoso_ccxt."""
