"""The configuration schema: typed, immutable Settings sections with their defaults and bounds, and
the secret-aware `Table` that holds free-form tables (plugin options, weights, key maps).

Each field carries its kind and bounds in its dataclass metadata (`_field`, `_num`, `_int`,
`_section`); config.py reads them to check a virtuoso.toml (types, bounds, choices, unknown keys) and
to build these objects, and to put file, key and line on every error. The defaults here are the
shipped virtuoso.toml's (tests/test_config.py holds them equal). Secrets: `is_secret_name` decides
which keys are credentials; a Table masks their values in repr and in `to_dict(masked=True)`.
Neighbours: config.py (loading, interpolation, validation, search order), toml_text.py.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import platformdirs

from virtuoso_tui.model.market import TIMEFRAMES
from virtuoso_tui.toml_text import dump_toml

MASK = "********"
RECORD_KINDS = ("candles", "trades", "books", "funding", "open_interest", "liquidations", "long_short",
                "signals", "alerts", "orders", "equity")
SIZING_METHODS = ("fixed", "risk", "atr", "kelly")

# ---------------------------------------------------------------- secrets and immutable tables

_SECRET_WORDS = ("secret", "password", "passwd", "token", "passphrase")
_SECRET_TOKENS = {"key", "apikey", "privatekey", "secretkey"}


def is_secret_name(name: str) -> bool:
    """True for key (or env var) names that hold credentials: api_key, apiKey, secret, PASSWORD...
    `key` counts only as a whole word so `ui.keys` and `monkey` are not secrets."""
    low = name.lower()
    if any(word in low for word in _SECRET_WORDS):
        return True
    words = re.split(r"[_\-.\s]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower())
    return any(w in _SECRET_TOKENS for w in words)


class Table(Mapping[str, Any]):
    """An immutable mapping (plugin options, weights, key maps) whose repr masks secret values."""

    __slots__ = ("_data", "_secret")

    def __init__(self, data: Mapping[str, Any] | None = None, secret: frozenset[str] = frozenset()) -> None:
        self._data = dict(data or {})
        self._secret = frozenset(k for k in self._data if k in secret or is_secret_name(k))

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def is_secret(self, key: str) -> bool:
        return key in self._secret

    def to_dict(self, masked: bool = False) -> dict[str, Any]:
        """Plain nested dicts/lists; with `masked`, secret values replaced by MASK."""
        out: dict[str, Any] = {}
        for k, v in self._data.items():
            if masked and k in self._secret:
                out[k] = MASK
            else:
                out[k] = _plain(v, masked)
        return out

    def __repr__(self) -> str:
        return f"Table({self.to_dict(masked=True)!r})"


def _plain(value: Any, masked: bool) -> Any:
    if isinstance(value, Table):
        return value.to_dict(masked)
    if isinstance(value, tuple):
        return [_plain(v, masked) for v in value]
    return value


# ---------------------------------------------------------------- schema helpers

def _field(kind: str, default: Any, **meta: Any) -> Any:
    if isinstance(default, (dict, Table)):
        frozen = dict(default)
        return field(default_factory=lambda: Table(frozen), metadata={"kind": kind, **meta})
    return field(default=default, metadata={"kind": kind, **meta})


def _num(default: float, **bounds: float) -> Any:
    return _field("float", default, **bounds)


def _int(default: int, **bounds: int) -> Any:
    return _field("int", default, **bounds)


def _section(cls: type) -> Any:
    return field(default_factory=cls, metadata={"kind": "section", "cls": cls})


_TF = tuple(TIMEFRAMES)


@dataclass(frozen=True)
class GeneralSettings:
    symbols: tuple[str, ...] = _field("strs", ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"))
    seed: int = _int(1)


@dataclass(frozen=True)
class SourceSettings:
    name: str = _field("str", "sim")
    speed: float = _num(1.0, ge=0)  # 1.0 = real time, 0 = as fast as possible


@dataclass(frozen=True)
class TimeframeWeights:
    ltf: float = _num(0.25, ge=0)
    mtf: float = _num(0.35, ge=0)
    htf: float = _num(0.40, ge=0)


@dataclass(frozen=True)
class TimeframeSettings:
    base: str = _field("str", "1m", choices=_TF)
    ltf: str = _field("str", "5m", choices=_TF)
    mtf: str = _field("str", "15m", choices=_TF)
    htf: str = _field("str", "4h", choices=_TF)
    weights: TimeframeWeights = _section(TimeframeWeights)


DEFAULT_FACE_WEIGHTS = {"technical": 0.15, "volume": 0.15, "orderflow": 0.225, "orderbook": 0.225,
                        "price_structure": 0.15, "sentiment": 0.10}


@dataclass(frozen=True)
class SignalSettings:
    long_threshold: float = _num(65.0, ge=0, le=100)
    short_threshold: float = _num(35.0, ge=0, le=100)
    hysteresis: float = _num(3.0, ge=0)
    confirm_s: float = _num(30.0, ge=0)


@dataclass(frozen=True)
class PrismSettings:
    weights: Table = _field("floats", DEFAULT_FACE_WEIGHTS, ge=0)
    div_cap: float = _num(10.0, ge=0)  # score points
    faces: Table = _field("strmap", {})
    signal: SignalSettings = _section(SignalSettings)
    options: Table = _field("free", {})  # [prism.options.FACE] tables, checked by the face (prism/face.py)


@dataclass(frozen=True)
class MaxPositionRule:
    enabled: bool = _field("bool", True)
    notional: float = _num(50_000.0, ge=0)
    amount: Table = _field("floats", {}, ge=0)  # symbol -> base units


@dataclass(frozen=True)
class MaxExposureRule:
    enabled: bool = _field("bool", True)
    notional: float = _num(150_000.0, ge=0)


@dataclass(frozen=True)
class MaxLeverageRule:
    enabled: bool = _field("bool", True)
    leverage: float = _num(5.0, ge=0)


@dataclass(frozen=True)
class MaxDailyLossRule:
    enabled: bool = _field("bool", True)
    pct: float = _num(5.0, ge=0, le=100)


@dataclass(frozen=True)
class MaxDrawdownRule:
    enabled: bool = _field("bool", True)
    pct: float = _num(15.0, ge=0, le=100)


@dataclass(frozen=True)
class MaxCorrelationRule:
    enabled: bool = _field("bool", True)
    value: float = _num(0.85, ge=0, le=1)
    lookback: int = _int(240, ge=2)  # candles


@dataclass(frozen=True)
class MaxOrderRateRule:
    enabled: bool = _field("bool", True)
    per_minute: int = _int(30, ge=0)


@dataclass(frozen=True)
class PriceBandRule:
    enabled: bool = _field("bool", True)
    pct: float = _num(2.0, ge=0)


@dataclass(frozen=True)
class RiskSettings:
    """Built-in rule tables, plus `extra`: `[risk.NAME]` tables of third-party rules, passed as is."""

    max_position: MaxPositionRule = _section(MaxPositionRule)
    max_exposure: MaxExposureRule = _section(MaxExposureRule)
    max_leverage: MaxLeverageRule = _section(MaxLeverageRule)
    max_daily_loss: MaxDailyLossRule = _section(MaxDailyLossRule)
    max_drawdown: MaxDrawdownRule = _section(MaxDrawdownRule)
    max_correlation: MaxCorrelationRule = _section(MaxCorrelationRule)
    max_order_rate: MaxOrderRateRule = _section(MaxOrderRateRule)
    price_band: PriceBandRule = _section(PriceBandRule)
    extra: Table = _field("extra", {}, near_miss=True)

    def options(self, rule: str) -> dict[str, Any] | None:
        """The options dict a RiskRule named `rule` is built with; None when config has no table."""
        if rule in self.extra:
            return self.extra[rule].to_dict()
        if rule in {f.name for f in fields(self)} and rule != "extra":
            return _to_plain(getattr(self, rule))
        return None


@dataclass(frozen=True)
class PaperSettings:
    starting_balance: float = _num(100_000.0, gt=0)  # quote currency
    maker_fee: float = _num(0.0002, ge=-0.01, lt=1)  # fraction of notional; negative = rebate
    taker_fee: float = _num(0.0005, ge=0, lt=1)
    leverage: float = _num(3.0, gt=0)
    funding: bool = _field("bool", True)


@dataclass(frozen=True)
class SizingSettings:
    method: str = _field("str", "atr", choices=SIZING_METHODS)
    notional: float = _num(1_000.0, gt=0)  # quote per trade (fixed)
    risk_pct: float = _num(1.0, gt=0, le=100)  # % of equity lost at the stop (risk, atr)
    atr_period: int = _int(14, ge=1)  # candles
    atr_multiple: float = _num(2.0, gt=0)  # stop distance in ATRs (atr)
    kelly_fraction: float = _num(0.5, gt=0, le=1)  # fraction of full Kelly (kelly)


@dataclass(frozen=True)
class StrategySettings:
    enabled: bool = _field("bool", False)
    name: str = _field("str", "prism")
    timeframe: str = _field("str", "15m", choices=_TF)
    params: Table = _field("free", {})
    sizing: SizingSettings = _section(SizingSettings)


def default_storage_path() -> str:
    """The database in the user data dir (e.g. ~/.local/share/virtuoso/virtuoso.db on Linux)."""
    return str(Path(platformdirs.user_data_dir("virtuoso")) / "virtuoso.db")


@dataclass(frozen=True)
class StorageSettings:
    path: str = _field("path", "")  # resolved at load: absent key -> default_storage_path()
    retention_days: int = _int(30, ge=0)  # 0 = keep market data forever
    record: tuple[str, ...] = _field("strs", ("candles", "signals", "orders"), choices=RECORD_KINDS)

    @property
    def enabled(self) -> bool:
        """False for `path = ""`: nothing is stored."""
        return self.path != ""


@dataclass(frozen=True)
class UiSettings:
    theme: str = _field("str", "dark")
    fps: int = _int(10, ge=1, le=60)
    quick_size: str = _field("str", "$100")  # size of the b/s quick orders, in the command language
    keys: Table = _field("strmap", {})


@dataclass(frozen=True)
class PluginSettings:
    allow: tuple[str, ...] = _field("strs", ())
    block: tuple[str, ...] = _field("strs", ())
    trace: bool = _field("bool", False)
    options: Table = _field("extra", {})  # [plugins.NAME] tables

    def options_for(self, plugin: str) -> dict[str, Any]:
        table = self.options.get(plugin)
        return table.to_dict() if table is not None else {}


@dataclass(frozen=True)
class LiveSettings:
    enabled: bool = _field("bool", False)
    executor: str = _field("str", "ccxt")
    sandbox: bool = _field("bool", True)


DEFAULT_SOURCES = {
    "binance": {"market": "usdm", "testnet": False},
    "ccxt": {"exchange": "bybit", "api_key": "${BYBIT_API_KEY:-}", "secret": "${BYBIT_API_SECRET:-}",
             "fetch_window_ms": 2000},
}


@dataclass(frozen=True)
class Settings:
    general: GeneralSettings = _section(GeneralSettings)
    source: SourceSettings = _section(SourceSettings)
    sources: Table = _field("sources", {})
    timeframes: TimeframeSettings = _section(TimeframeSettings)
    prism: PrismSettings = _section(PrismSettings)
    risk: RiskSettings = _section(RiskSettings)
    paper: PaperSettings = _section(PaperSettings)
    strategy: StrategySettings = _section(StrategySettings)
    storage: StorageSettings = _section(StorageSettings)
    ui: UiSettings = _section(UiSettings)
    plugins: PluginSettings = _section(PluginSettings)
    live: LiveSettings = _section(LiveSettings)
    file: Path | None = field(default=None, compare=False, metadata={"kind": "meta"})

    def source_options(self, name: str) -> dict[str, Any]:
        """The `[sources.NAME]` table as the options dict a Source is built with."""
        table = self.sources.get(name)
        return table.to_dict() if table is not None else {}

    def to_dict(self, masked: bool = False) -> dict[str, Any]:
        return _to_plain(self, masked)

    def to_toml_masked(self) -> str:
        return dump_toml(self.to_dict(masked=True))


def _to_plain(obj: Any, masked: bool = False) -> Any:
    if dataclasses.is_dataclass(obj):
        out = {}
        for f in fields(obj):
            if f.metadata.get("kind") == "meta":
                continue
            value = getattr(obj, f.name)
            if f.metadata.get("kind") == "extra":
                out.update(_to_plain(value, masked))  # extra tables sit beside the known ones
            else:
                out[f.name] = _to_plain(value, masked)
        return out
    return _plain(obj, masked)
