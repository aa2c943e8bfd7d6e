"""Built-in plugin virtuoso_streams."""
