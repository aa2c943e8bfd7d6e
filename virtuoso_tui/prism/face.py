"""The Face contract and the records the prism produces.

A face scores one symbol's MarketState per timeframe. Each component score is DIRECTIONAL on 0-100
(0 strongly bearish, 50 neutral, 100 strongly bullish), or None when its data is missing (shown as
n/a, weight renormalised away). Non-directional measures (spread, depth, volatility level) feed the
face's confidence (0-1), never its direction. Each component keeps its raw values for the DIV table.
A face declares the options it takes (`option_defaults`); `[prism.options.NAME]` in virtuoso.toml
sets them per face and `check_options` turns a wrong one into one error naming the face and the key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
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
    #: (side, seconds held, seconds needed) while the thresholds give another side that has not yet
    #: held for the prism's confirm_s; None otherwise
    pending: tuple[SignalSide, float, float] | None = None


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

    #: the options this face takes, name -> default; `[prism.options.NAME]` in virtuoso.toml sets them
    #: per face (checked by `check_options`). A face that declares none takes none from the config.
    option_defaults: ClassVar[dict[str, Any]] = {}
    #: smallest value of a numeric option where 0+ is not enough (a period of 1 has no meaning)
    option_minimums: ClassVar[dict[str, float]] = {}
    #: options every face of this class takes beyond its own: div_cap, which the Prism hands to all
    #: (a face's own table may set it for that face alone)
    common_options: ClassVar[frozenset[str]] = frozenset({"div_cap"})

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = dict(options or {})

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """`options` validated against `option_defaults`: a plain dict, or ValueError naming this face
        and the offending key. A value must have its default's type (an int where a float is
        expected is fine); numbers must be finite and > 0; a None default means "off or a number > 0"."""
        out: dict[str, Any] = {}
        for key, value in options.items():
            if key in cls.common_options:
                out[key] = cls._common_option(key, value)
                continue
            if key not in cls.option_defaults:
                known = ", ".join(sorted(set(cls.option_defaults) | cls.common_options)) or "none"
                raise ValueError(f"face {cls.name!r} has no option {key!r} (its options: {known})")
            out[key] = value = _checked(cls.name, key, value, cls.option_defaults[key])
            low = cls.option_minimums.get(key)
            if low is not None and value is not None and value < low:
                raise ValueError(f"face {cls.name!r} option {key!r} must be >= {low:g}, got {value!r}")
        return out

    @classmethod
    def _common_option(cls, key: str, value: Any) -> Any:
        """A `common_options` value checked (div_cap: points >= 0); subclasses add their own."""
        if key == "div_cap":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value >= 0):
                raise ValueError(f"face {cls.name!r} option 'div_cap' must be a number >= 0, got {value!r}")
            return float(value)
        return value

    def score(self, state: MarketState, timeframes: dict[str, float], touched: frozenset[str] | None = None) -> FaceResult:
        """Score `state` over `timeframes` (name -> blend weight, e.g. {"4h": .4, "15m": .35, "5m": .25}).

        `touched` (optional for a face to accept) is what changed since the last call, as
        MarketState.apply returns it ("trades", "book", "candles:5m", ...), or None for "score afresh";
        a face may reuse what that leaves alone. The Prism only passes it to faces whose `score`
        declares the parameter, so a third-party face may ignore it entirely. A face must return
        scores in [0, 100] or None and confidence in [0, 1]; anything else is reported as its error.
        """
        raise NotImplementedError


def _checked(face: str, key: str, value: Any, default: Any) -> Any:
    """One option value checked against its default (see Face.check_options)."""
    where = f"face {face!r} option {key!r}"
    if isinstance(default, bool) or isinstance(value, bool):
        if not (isinstance(default, bool) and isinstance(value, bool)):
            raise ValueError(f"{where} must be {'true or false' if isinstance(default, bool) else 'a number'}, got {value!r}")
        return value
    if isinstance(default, Mapping):
        if not isinstance(value, Mapping):
            raise ValueError(f"{where} must be a table, got {value!r}")
        return dict(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ValueError(f"{where} must be a string, got {value!r}")
        return value
    if default is None and value is None:
        return None
    number = (int,) if isinstance(default, int) else (int, float)
    if not isinstance(value, number):
        kind = "a whole number" if isinstance(default, int) else "a number"
        raise ValueError(f"{where} must be {kind}, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{where} must be > 0, got {value!r}")
    return value if isinstance(default, int) else float(value)
