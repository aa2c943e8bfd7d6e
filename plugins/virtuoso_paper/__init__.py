"""Built-in plugin virtuoso_paper."""
