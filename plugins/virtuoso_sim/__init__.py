"""Built-in plugin virtuoso_sim."""
