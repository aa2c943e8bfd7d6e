"""The market prism: faces score a MarketState 0-100 per component, the Prism combines them.

face.py        the Face contract and the records (ComponentScore, FaceResult, Signal)
blended.py     BlendedFace: timeframe blend, DIV, n/a handling and caching shared by the built-in faces
scoring.py     squash (50 + 50·tanh), timeframe divergence, largest-remainder rounding
divergence.py  swing pivots and regular/hidden price-indicator divergence
indicators.py  numpy indicators TA-Lib lacks (CMF, AO, VWAP, value area, VPIN, book measures)
engine.py      Prism: confluence, hysteresis, incremental updates
render.py      the rich DIV tables, headless text and the `analyze --json` shape
The six built-in faces live in plugins/virtuoso_prism. Importing this package imports nothing heavy.
"""
