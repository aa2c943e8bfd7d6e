"""virtuoso.toml -> typed, validated, immutable Settings; every error names file, key and line.

The CLI (virtuoso_tui.cli) calls `load_config` once and hands sections to their users: `[source]` and
`[sources.NAME]` to the source plugin, `[prism]` to the prism, `[risk.NAME]` to risk rules,
`[paper]` to the paper executor, `[storage]` to virtuoso_tui.storage, `[ui]` to the Textual app.
Which file wins (first found is the only one read; files are not merged):

    ========  =========================================================  ==========================
    order     file                                                       when
    ========  =========================================================  ==========================
    1         the `--config PATH` argument                               given (missing = error)
    2         ./virtuoso.toml in the working directory                   exists
    3         <user config dir>/virtuoso.toml (platformdirs, e.g.        exists
              ~/.config/virtuoso/virtuoso.toml on Linux)
    4         built-in defaults (identical to the shipped virtuoso.toml) nothing above found
    ========  =========================================================  ==========================

Keys a file leaves out take the built-in default. String values may say `${NAME}` (an environment
variable, an error when unset) or `${NAME:-fallback}`; `$${` is a literal `${`. Keys that look like
secrets (`*key*`, `*secret*`, `*password*`, `*token*`, `*passphrase*`) and values taken from such
variables are masked in repr, in `check_report` and in error messages. tomli gives no positions, so
`locate_keys` (virtuoso_tui.toml_text) scans the TOML text itself to put a line number on every error.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import platformdirs
import tomli

from virtuoso_tui.model.market import TIMEFRAMES
from virtuoso_tui.toml_text import dotted, dump_toml, locate_keys

CONFIG_NAME = "virtuoso.toml"
MASK = "********"
RECORD_KINDS = ("candles", "trades", "books", "funding", "open_interest", "liquidations", "long_short",
                "signals", "alerts", "orders", "equity")
SIZING_METHODS = ("fixed", "risk", "atr", "kelly")


class ConfigError(Exception):
    """A configuration the user must fix: one sentence `FILE:LINE: KEY ...`, with the parts as attributes."""

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None,
                 line: int | None = None) -> None:
        super().__init__(message)
        self.message, self.file, self.key, self.line = message, file, key, line


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
    method: str = _field("str", "fixed", choices=SIZING_METHODS)
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


# ---------------------------------------------------------------- loading

_VAR = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_EXPECTED = {"int": "an integer", "float": "a number", "bool": "a boolean (true or false)",
             "str": "a string", "path": "a string", "strs": "an array of strings", "section": "a table",
             "floats": "a table of numbers", "strmap": "a table of strings", "free": "a table",
             "extra": "a table", "sources": "a table"}


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


class _Builder:
    def __init__(self, text: str, file: str, env: Mapping[str, str]) -> None:
        self.file, self.env = file, env
        self.lines = locate_keys(text) if text else {}
        self.secret_paths: set[tuple[str, ...]] = set()

    # -- errors
    def line_of(self, path: tuple[str, ...]) -> int | None:
        for n in range(len(path), 0, -1):
            if path[:n] in self.lines:
                return self.lines[path[:n]]
        return None

    def error(self, path: tuple[str, ...], message: str) -> ConfigError:
        line = self.line_of(path)
        where = f"{self.file}:{line}" if line else self.file
        return ConfigError(f"{where}: {dotted(path)} {message}", file=self.file, key=dotted(path), line=line)

    def show(self, path: tuple[str, ...], value: Any) -> str:
        if path in self.secret_paths or (path and is_secret_name(path[-1])):
            return MASK
        return repr(value)

    def wrong_type(self, path: tuple[str, ...], kind: str, value: Any) -> ConfigError:
        shown = "" if isinstance(value, (dict, list)) else " " + self.show(path, value)
        return self.error(path, f"must be {_EXPECTED[kind]}, got {_kind_of(value)}{shown}")

    # -- interpolation
    def interpolate(self, value: Any, path: tuple[str, ...]) -> Any:
        if isinstance(value, dict):
            return {k: self.interpolate(v, path + (k,)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.interpolate(v, path) for v in value]
        if not isinstance(value, str) or "$" not in value:
            return value

        def substitute(m: re.Match) -> str:
            if m.group(0) == "$${":
                return "${"
            name, fallback = m.group(1), m.group(2)
            if is_secret_name(name):
                self.secret_paths.add(path)
            if name in self.env:
                return self.env[name]
            if fallback is not None:
                return fallback
            raise self.error(path, f"uses ${{{name}}}, which is not set in the environment "
                                   f"(write ${{{name}:-}} to allow it to be empty)")

        return _VAR.sub(substitute, value)

    # -- sections
    def build(self, cls: type, raw: Any, path: tuple[str, ...]) -> Any:
        if not isinstance(raw, dict):
            raise self.wrong_type(path, "section", raw)
        known = {f.name: f for f in fields(cls) if f.metadata.get("kind") not in ("meta", "extra")}
        extra_field = next((f for f in fields(cls) if f.metadata.get("kind") == "extra"), None)
        extra: dict[str, Table] = {}
        for name, value in raw.items():
            if name in known:
                continue
            close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
            if extra_field is not None and isinstance(value, dict):
                near = difflib.get_close_matches(name, [k for k, f in known.items()
                                                        if f.metadata["kind"] == "section"], n=1, cutoff=0.8)
                if not (extra_field.metadata.get("near_miss") and near):
                    extra[name] = self.free(value, path + (name,))
                    continue
                close = near
            hint = (f"(did you mean {dotted(path + (close[0],))}?)" if close
                    else f"(known keys: {', '.join(known)})")
            raise self.error(path + (name,), f"is not a known key {hint}")
        values = {}
        for name, f in known.items():
            if name in raw:
                values[name] = self.value(f, raw[name], path + (name,))
            elif f.metadata["kind"] == "path":
                values[name] = default_storage_path()
            elif f.metadata["kind"] in ("sources", "section"):  # defaults that are computed at load
                values[name] = self.value(f, {}, path + (name,))
        if extra_field is not None:
            values[extra_field.name] = Table(extra)
        return cls(**values)

    def free(self, raw: Any, path: tuple[str, ...]) -> Table:
        if not isinstance(raw, dict):
            raise self.wrong_type(path, "free", raw)
        items = {k: self.free(v, path + (k,)) if isinstance(v, dict) else _freeze(v) for k, v in raw.items()}
        secret = frozenset(k for k in raw if path + (k,) in self.secret_paths)
        return Table(items, secret)

    def value(self, f: dataclasses.Field, raw: Any, path: tuple[str, ...]) -> Any:
        kind, meta = f.metadata["kind"], f.metadata
        if kind == "section":
            return self.build(meta["cls"], raw, path)
        if kind == "free":
            return self.free(raw, path)
        if kind == "sources":
            if not isinstance(raw, dict):
                raise self.wrong_type(path, kind, raw)
            merged = {name: dict(self.interpolate(table, path + (name,))) for name, table in
                      DEFAULT_SOURCES.items()}
            for name, table in raw.items():
                if not isinstance(table, dict):
                    raise self.wrong_type(path + (name,), "free", table)
                merged[name] = {**merged.get(name, {}), **table}
            return Table({name: self.free(table, path + (name,)) for name, table in merged.items()})
        if kind in ("floats", "strmap"):
            if not isinstance(raw, dict):
                raise self.wrong_type(path, kind, raw)
            item_kind = "float" if kind == "floats" else "str"
            merged = dict(f.default_factory())
            merged.update({k: self.scalar(item_kind, v, path + (k,), meta) for k, v in raw.items()})
            return Table(merged)
        if kind == "strs":
            if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
                raise self.wrong_type(path, kind, raw)
            for v in raw:
                self.check_choice(v, path, meta)
            return tuple(raw)
        return self.scalar(kind, raw, path, meta)

    def scalar(self, kind: str, raw: Any, path: tuple[str, ...], meta: Mapping[str, Any]) -> Any:
        if kind == "bool":
            ok = isinstance(raw, bool)
        elif kind == "int":
            ok = isinstance(raw, int) and not isinstance(raw, bool)
        elif kind == "float":
            ok = isinstance(raw, (int, float)) and not isinstance(raw, bool)
            if ok and not math.isfinite(raw):
                raise self.error(path, f"must be a finite number, got {raw!r}")
        else:
            ok = isinstance(raw, str)
        if not ok:
            raise self.wrong_type(path, kind, raw)
        value = float(raw) if kind == "float" else raw
        if kind == "path" and value not in ("", ":memory:"):
            value = os.path.expanduser(value)
        for bound, test, word in (("ge", float.__ge__, ">="), ("gt", float.__gt__, ">"),
                                  ("le", float.__le__, "<="), ("lt", float.__lt__, "<")):
            limit = meta.get(bound)
            if limit is not None and not test(float(value), float(limit)):
                raise self.error(path, f"must be {word} {_num_text(limit)}, got {_num_text(raw)}")
        self.check_choice(value, path, meta)
        return value

    def check_choice(self, value: Any, path: tuple[str, ...], meta: Mapping[str, Any]) -> None:
        choices = meta.get("choices")
        if choices and value not in choices:
            raise self.error(path, f"must be one of {', '.join(choices)}, got {self.show(path, value)}")


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(Table(v) if isinstance(v, dict) else _freeze(v) for v in value)
    return value


def _num_text(x: Any) -> str:
    return repr(int(x)) if isinstance(x, (int, float)) and float(x).is_integer() and abs(x) < 1e15 else repr(x)


def _validate(s: Settings, b: _Builder, raw: dict[str, Any]) -> None:
    """Cross-field rules that no single key can check."""
    def given(*paths: tuple[str, ...]) -> tuple[str, ...]:
        # blame the key the user wrote, not a default they never saw
        for p in paths:
            node: Any = raw
            for part in p:
                node = node.get(part) if isinstance(node, dict) else None
            if node is not None:
                return p
        return paths[0]

    if not any(w > 0 for w in s.prism.weights.values()):
        raise b.error(("prism", "weights"), "must give at least one face a weight > 0, all are 0")
    tw = s.timeframes.weights
    if tw.ltf + tw.mtf + tw.htf <= 0:
        raise b.error(("timeframes", "weights"), "must give at least one timeframe a weight > 0, all are 0")
    sig = s.prism.signal
    if sig.long_threshold <= sig.short_threshold:
        p = given(("prism", "signal", "long_threshold"), ("prism", "signal", "short_threshold"))
        if p[-1] == "long_threshold":
            raise b.error(p, f"must be > prism.signal.short_threshold ({_num_text(sig.short_threshold)}), "
                             f"got {_num_text(sig.long_threshold)}")
        raise b.error(p, f"must be < prism.signal.long_threshold ({_num_text(sig.long_threshold)}), "
                         f"got {_num_text(sig.short_threshold)}")
    gap = sig.long_threshold - sig.short_threshold
    if sig.hysteresis >= gap:
        raise b.error(("prism", "signal", "hysteresis"), f"must be smaller than the gap between the "
                      f"thresholds ({_num_text(gap)}), got {_num_text(sig.hysteresis)}")
    tf = s.timeframes
    base_ms = TIMEFRAMES[tf.base]
    previous = "base"
    for name in ("ltf", "mtf", "htf"):
        value = getattr(tf, name)
        if TIMEFRAMES[value] < TIMEFRAMES[getattr(tf, previous)]:
            if given(("timeframes", name), ("timeframes", previous))[-1] == name:
                raise b.error(("timeframes", name), f"({value}) must not be shorter than "
                              f"timeframes.{previous} ({getattr(tf, previous)})")
            raise b.error(("timeframes", previous), f"({getattr(tf, previous)}) must not be longer than "
                          f"timeframes.{name} ({value})")
        if TIMEFRAMES[value] % base_ms:
            if given(("timeframes", name), ("timeframes", "base"))[-1] == "base":
                raise b.error(("timeframes", "base"), f"({tf.base}) must divide timeframes.{name} ({value})")
            raise b.error(("timeframes", name), f"({value}) must be a whole number of "
                          f"timeframes.base candles ({tf.base})")
        previous = name
    from virtuoso_tui.trading.commands import CommandError, parse_size

    try:
        parse_size(s.ui.quick_size.strip())
    except CommandError as exc:
        raise b.error(("ui", "quick_size"), f"is not an order size ({exc})") from None
    if TIMEFRAMES[s.strategy.timeframe] % base_ms:
        raise b.error(("strategy", "timeframe"), f"({s.strategy.timeframe}) must be a whole number of "
                      f"timeframes.base candles ({tf.base})")


def parse_config(text: str, *, file: str = CONFIG_NAME, env: Mapping[str, str] | None = None) -> Settings:
    """Settings from TOML `text`; `file` is the name errors show. Raises ConfigError."""
    env = os.environ if env is None else env
    try:
        raw = tomli.loads(text)
    except tomli.TOMLDecodeError as exc:
        msg = getattr(exc, "msg", str(exc))
        line, col = getattr(exc, "lineno", None), getattr(exc, "colno", None)
        where = f"{file}:{line}" if line else file
        raise ConfigError(f"{where}: the file is not valid TOML ({msg[:1].lower() + msg[1:]} at column {col})",
                          file=file, line=line) from None
    builder = _Builder(text, file, env)
    raw = builder.interpolate(raw, ())
    settings = builder.build(Settings, raw, ())
    _validate(settings, builder, raw)
    return settings


def user_config_file() -> Path:
    """<user config dir>/virtuoso.toml, e.g. ~/.config/virtuoso/virtuoso.toml on Linux."""
    return Path(platformdirs.user_config_dir("virtuoso")) / CONFIG_NAME


def find_config(path: str | Path | None = None, *, cwd: str | Path | None = None) -> Path | None:
    """The file `load_config` reads (see the module docstring's table), or None for the defaults."""
    if path is not None:
        return Path(path)
    here = Path.cwd() if cwd is None else Path(cwd)
    for candidate in (here / CONFIG_NAME, user_config_file()):
        if candidate.is_file():
            return candidate
    return None


def load_config(path: str | Path | None = None, *, cwd: str | Path | None = None,
                env: Mapping[str, str] | None = None) -> Settings:
    """Find, read, interpolate and validate the configuration; see the module docstring for which
    file wins. Raises ConfigError (one sentence naming file, key and line) on anything wrong."""
    found = find_config(path, cwd=cwd)
    if found is None:
        return parse_config("", file="<defaults>", env=env)
    here = Path.cwd() if cwd is None else Path(cwd)
    label = str(path) if path is not None else (
        CONFIG_NAME if found.parent == here else str(found))
    try:
        text = found.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{label}: the config file does not exist", file=label) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "it is not UTF-8 text"
        raise ConfigError(f"{label}: the config file cannot be read ({reason})", file=label) from None
    settings = parse_config(text, file=label, env=env)
    return dataclasses.replace(settings, file=found)


def check_report(settings: Settings) -> str:
    """`virtuoso config check`: where the config came from, then the EFFECTIVE settings as TOML with
    every secret masked."""
    origin = str(settings.file) if settings.file else "built-in defaults (no virtuoso.toml found)"
    return f"# configuration OK, read from {origin}\n" + settings.to_toml_masked() + "\n"
