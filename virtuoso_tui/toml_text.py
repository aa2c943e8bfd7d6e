"""TOML text, both ways: `locate_keys` finds the line each key path is written on, `dump_toml` writes
nested plain dicts back as TOML that reads back to the same values.

tomli parses but gives no positions, so virtuoso_tui.config uses `locate_keys` to put a line number on
every config error and `dotted` to name keys in them; `Settings.to_toml_masked` (and so `virtuoso
config check`) renders through `dump_toml`. Pure text in, text out: nothing here knows the settings.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import tomli

# ---------------------------------------------------------------- key locator

class _KeyScanner:
    """Walks valid TOML text recording the line where each key path is first written.

    Handles [table] and [[array]] headers, dotted and quoted keys, inline tables (also multi-line,
    TOML 1.1), arrays and multi-line strings, so text inside strings is never taken for a key."""

    def __init__(self, text: str) -> None:
        self.s, self.i, self.line = text, 0, 1
        self.found: dict[tuple[str, ...], int] = {}

    def _advance(self, n: int = 1) -> None:
        self.line += self.s.count("\n", self.i, self.i + n)
        self.i += n

    def _peek(self, n: int = 1) -> str:
        return self.s[self.i:self.i + n]

    def _skip(self, newlines: bool = False) -> None:
        while self.i < len(self.s):
            c = self.s[self.i]
            if c in " \t" or (newlines and c in "\r\n"):
                self._advance()
            elif c == "#":
                end = self.s.find("\n", self.i)
                self._advance((len(self.s) if end < 0 else end) - self.i)
            else:
                return

    def _record(self, path: tuple[str, ...], line: int) -> None:
        for n in range(1, len(path) + 1):
            self.found.setdefault(path[:n], line)

    def _string(self) -> str:
        quote = self.s[self.i]
        if self._peek(3) == quote * 3:
            end = self.s.find(quote * 3, self.i + 3)
            while quote == '"' and end > 0 and _escaped(self.s, end):
                end = self.s.find(quote * 3, end + 1)
            end = len(self.s) if end < 0 else end + 3
            while self.s[end:end + 1] == quote:  # up to two quotes may close the content
                end += 1
            raw = self.s[self.i:end]
            self._advance(end - self.i)
            return raw
        end = self.s.find(quote, self.i + 1)
        while quote == '"' and end > 0 and _escaped(self.s, end):
            end = self.s.find(quote, end + 1)
        end = len(self.s) - 1 if end < 0 else end
        raw = self.s[self.i:end + 1]
        self._advance(end + 1 - self.i)
        return raw

    def _key(self) -> tuple[str, ...]:
        parts = []
        while True:
            self._skip()
            if self._peek() in ('"', "'"):
                raw = self._string()
                parts.append(tomli.loads(f"k = {raw}")["k"])
            else:
                m = _BARE_KEY.match(self.s, self.i)
                if not m:
                    break
                parts.append(m.group())
                self._advance(m.end() - self.i)
            self._skip()
            if self._peek() != ".":
                break
            self._advance()
        return tuple(parts)

    def _value(self, path: tuple[str, ...] | None) -> None:
        c = self._peek()
        if c in ('"', "'"):
            self._string()
        elif c == "[":
            self._advance()
            while self.i < len(self.s):
                self._skip(newlines=True)
                start = self.i
                if self._peek() == "]":
                    self._advance()
                    return
                self._value(None)  # array items have no keys of their own
                self._skip(newlines=True)
                if self._peek() == "," or self.i == start:
                    self._advance()
        elif c == "{":
            self._advance()
            while self.i < len(self.s):
                self._skip(newlines=True)
                if self._peek() == "}":
                    self._advance()
                    return
                if self._peek() == "," or self._peek() == "":
                    self._advance()
                    continue
                line = self.line
                key = self._key()
                if path is not None:
                    self._record(path + key, line)
                self._skip()
                self._advance()  # '='
                self._skip()
                self._value(None if path is None else path + key)
        else:
            m = _SCALAR.match(self.s, self.i)
            self._advance(m.end() - self.i)

    def scan(self) -> dict[tuple[str, ...], int]:
        table: tuple[str, ...] = ()
        while True:
            self._skip(newlines=True)
            if self.i >= len(self.s):
                return self.found
            start = self.i
            if self._peek() == "[":
                double = self._peek(2) == "[["
                self._advance(2 if double else 1)
                line = self.line
                table = self._key()
                self._record(table, line)
                self._skip()
                self._advance(2 if double else 1)
            else:
                line = self.line
                key = self._key()
                self._record(table + key, line)
                self._skip()
                self._advance()  # '='
                self._skip()
                self._value(table + key)
            if self.i == start:  # never loop on text the scanner does not understand
                self._advance()


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR = re.compile(r"[^,\]}\n#]*")


def _escaped(s: str, pos: int) -> bool:
    backslashes = 0
    while pos - 1 - backslashes >= 0 and s[pos - 1 - backslashes] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


def locate_keys(text: str) -> dict[tuple[str, ...], int]:
    """Map every key path written in TOML `text` to the 1-based line where it first appears."""
    return _KeyScanner(text).scan()


def dotted(path: tuple[str, ...]) -> str:
    return ".".join(p if re.fullmatch(r"[A-Za-z0-9_-]+", p) else json.dumps(p) for p in path)


# ---------------------------------------------------------------- rendering

def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value.replace("${", "$${"), ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{dotted((k,))} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def dump_toml(data: Mapping[str, Any], _path: tuple[str, ...] = ()) -> str:
    """TOML text for nested plain dicts: scalars first, then one [table] per sub-dict.
    `$` in strings is escaped so reading the text back gives the same values."""
    tables = [(k, v) for k, v in data.items() if isinstance(v, dict)]
    lines = [f"{dotted((k,))} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    if _path and (lines or not tables):  # a header only where it holds keys or stands for an empty table
        lines.insert(0, f"[{dotted(_path)}]")
    out = "\n".join(lines)
    for k, v in tables:
        out += ("\n\n" if out else "") + dump_toml(v, _path + (k,))
    return out
