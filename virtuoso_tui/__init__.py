"""Virtuoso: a plugin-based terminal trading console. Importing this package is cheap on purpose:
plugins write `from virtuoso_tui import hookimpl` and the contract types live in `virtuoso_tui.api`."""

import pluggy

__version__ = "0.1.0"

PROJECT = "virtuoso"
hookimpl = pluggy.HookimplMarker(PROJECT)
hookspec = pluggy.HookspecMarker(PROJECT)

__all__ = ["PROJECT", "__version__", "hookimpl", "hookspec"]
