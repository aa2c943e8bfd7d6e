"""Built-in plugin virtuoso_replay."""
