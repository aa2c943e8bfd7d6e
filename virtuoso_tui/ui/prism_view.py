"""The DIV breakdown panel's content: the prism's own rich renderer (virtuoso_tui.prism.render), never
a second one — the TUI, `virtuoso analyze` and headless text show the same columns and gauges.

This module only picks one face's table or the confluence table of the selected symbol's latest
Signal, and turns "not scored yet" or "no such face" into a plain message instead of an exception.
Neighbours: virtuoso_tui.prism.render (the tables), ui/app.py (the panel).
"""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.text import Text

from virtuoso_tui.prism.render import confluence_table, face_table
from virtuoso_tui.ui.themes import Palette


def div_renderable(signal: Any, view: str, palette: Palette, width: int | None = None) -> RenderableType:
    """The DIV table for face `view` ("confluence" for the confluence table) of `signal`."""
    if signal is None:
        return Text("not scored yet — the prism needs more data for this symbol", style=palette.dim)
    if view == "confluence":
        return confluence_table(signal, width)
    face = signal.faces.get(view)
    if face is None:
        return Text(f"face {view!r} is not part of this signal (faces: {', '.join(signal.faces)})",
                    style=palette.warn)
    return face_table(face, symbol=signal.symbol, width=width)
