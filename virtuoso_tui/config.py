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
The schema (sections, defaults, bounds, the secret-masking Table) is in settings.py.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import platformdirs
import tomli

from virtuoso_tui.model.market import TIMEFRAMES
from virtuoso_tui.settings import (  # noqa: F401 - RiskSettings re-exported for callers
    DEFAULT_SOURCES,
    MASK,
    RiskSettings,
    Settings,
    Table,
    default_storage_path,
    is_secret_name,
)
from virtuoso_tui.toml_text import dotted, dump_toml, locate_keys  # noqa: F401 - dump_toml re-exported

CONFIG_NAME = "virtuoso.toml"


class ConfigError(Exception):
    """A configuration the user must fix: one sentence `FILE:LINE: KEY ...`, with the parts as attributes."""

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None,
                 line: int | None = None) -> None:
        super().__init__(message)
        self.message, self.file, self.key, self.line = message, file, key, line


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
