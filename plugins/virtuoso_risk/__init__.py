"""Built-in plugin virtuoso_risk."""
