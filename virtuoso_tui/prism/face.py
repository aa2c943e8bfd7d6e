"""The Face contract and the records the prism produces.

A face scores one symbol's MarketState per timeframe. Each component score is DIRECTIONAL on 0-100
(0 strongly bearish, 50 neutral, 100 strongly bullish), or None when its data is missing (shown as
n/a, weight renormalised away). Non-directional measures (spread, depth, volatility level) feed the
face's confidence (0-1), never its direction. Each component keeps its raw values for the DIV table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from virtuoso_tui.market.state import MarketState

SignalSide = Literal["LONG", "SHORT", "NEUTRAL"]


@dataclass(slots=True)
class ComponentScore:
    """One row of a DIV table.

    `score` is the component's directional score after the timeframe blend and before DIV; `div` is the
    bounded divergence adjustment (points, signed); the row's final contribution is
    weight * clamp(score + div), with `weight` renormalised over the face's available components.
    `raw` keeps the inputs a trader wants to see (RSI value, bps, ...), per timeframe for candle-based
    components. FaceResults and their rows are reused while nothing they depend on changed, so a
    holder must not mutate them.
    """

    name: str
    score: float | None
    weight: float
    div: float = 0.0
    raw: dict[str, Any] = field(default_factory=dict)
    by_timeframe: dict[str, float | None] = field(default_factory=dict)
    detail: str = ""

    @property
    def available(self) -> bool:
        return self.score is not None

    @property
    def final(self) -> float | None:
        if self.score is None:
            return None
        return min(100.0, max(0.0, self.score + self.div))


@dataclass(slots=True)
class FaceResult:
    """A face's verdict for one symbol: score (None = the face is n/a), confidence, its rows."""

    face: str
    symbol: str
    ts: int
    score: float | None
    confidence: float
    components: list[ComponentScore]
    weight: float = 0.0  # the face's share of the confluence after renormalisation (set by the Prism)
    reason: str = ""  # why n/a, or the one-line summary shown beside the gauge


@dataclass(slots=True)
class Signal:
    """The confluence of all faces for one symbol at one moment."""

    symbol: str
    ts: int
    score: float | None
    side: SignalSide
    confidence: float
    faces: dict[str, FaceResult]
    reasons: list[str] = field(default_factory=list)
    changed: bool = False  # the side differs from the previous signal for this symbol


class Face:
    """Base class of a prism face. Subclasses set the class attributes and implement `score`."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    default_weight: ClassVar[float] = 0.0
    #: component name -> weight (weights of available components are renormalised)
    components: ClassVar[dict[str, float]] = {}
    #: data kinds needed: "candles", "trades", "book", "funding", "open_interest", "liquidations",
    #: "long_short". A face whose every component lacks data is n/a.
    requires: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = dict(options or {})

    def score(self, state: MarketState, timeframes: dict[str, float], touched: frozenset[str] | None = None) -> FaceResult:
        """Score `state` over `timeframes` (name -> blend weight, e.g. {"4h": .4, "15m": .35, "5m": .25}).

        `touched` (optional for a face to accept) is what changed since the last call, as
        MarketState.apply returns it ("trades", "book", "candles:5m", ...), or None for "score afresh";
        a face may reuse what that leaves alone. The Prism only passes it to faces whose `score`
        declares the parameter, so a third-party face may ignore it entirely. A face must return
        scores in [0, 100] or None and confidence in [0, 1]; anything else is reported as its error.
        """
        raise NotImplementedError
