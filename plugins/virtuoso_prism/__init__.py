"""Built-in plugin virtuoso_prism."""
