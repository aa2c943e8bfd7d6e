"""Built-in plugin virtuoso_prism: the six faces of the market prism, registered like a third party's.

One module per face (technical, volume, orderflow, orderbook, price_structure, sentiment); each is a
`virtuoso_tui.prism.blended.BlendedFace` whose docstring states every formula. The host builds a
`virtuoso_tui.prism.engine.Prism` from what `virtuoso_faces` returns and the weights in virtuoso.toml.
"""

from __future__ import annotations

from virtuoso_prism.orderbook import OrderbookFace
from virtuoso_prism.orderflow import OrderflowFace
from virtuoso_prism.price_structure import PriceStructureFace
from virtuoso_prism.sentiment import SentimentFace
from virtuoso_prism.technical import TechnicalFace
from virtuoso_prism.volume import VolumeFace
from virtuoso_tui import hookimpl

FACES = [TechnicalFace, VolumeFace, OrderflowFace, OrderbookFace, PriceStructureFace, SentimentFace]

__all__ = ["FACES", "OrderbookFace", "OrderflowFace", "PriceStructureFace", "SentimentFace", "TechnicalFace",
           "VolumeFace", "virtuoso_faces"]


@hookimpl
def virtuoso_faces() -> list[type]:
    """The six built-in faces (classes; the host instantiates them with their options)."""
    return list(FACES)
