"""Themes: the .tcss files in the repository's themes/ directory (dark default, light, high-contrast).

A theme file is ordinary Textual CSS holding every colour of the console; the layout lives in
ui/app.tcss beside the app. Two conventions make one file serve both Textual and the rich Text the hot
panels prebuild:

- a first-line comment `/* base: textual-dark */` names the Textual built-in theme the widgets Textual
  draws itself (inputs, footer, notifications, command palette) take their colours from;
- `$vt-up`, `$vt-down`, `$vt-neutral`, `$vt-dim`, `$vt-accent`, `$vt-warn`, `$vt-live`, `$vt-bar`,
  `$vt-text` variables are read back into a `Palette` the renderers (ui/render.py) use, so a tape or a ladder follows the theme without Textual
  repainting a DataTable.

`load_theme(name)` raises `UnknownThemeError` naming the available themes; `--theme` and `[ui] theme`
both go through it.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path


def _themes_dir() -> Path:
    """Where the shipped themes are: the repository's themes/ (a source checkout or editable install),
    else <prefix>/share/virtuoso/themes, where a wheel install puts them (pyproject data-files)."""
    repo = Path(__file__).resolve().parents[2] / "themes"
    if repo.is_dir():
        return repo
    return Path(sys.prefix) / "share" / "virtuoso" / "themes"


THEMES_DIR = _themes_dir()
DEFAULT_THEME = "dark"

# prefixed: Textual CSS variables are global, and $accent or $panel would clobber Textual's own
_VAR = re.compile(r"^\s*\$vt-([a-z][a-z0-9_-]*)\s*:\s*([^;]+);", re.MULTILINE)
_BASE = re.compile(r"/\*\s*base:\s*([a-z0-9_-]+)\s*\*/")


class UnknownThemeError(LookupError):
    """The theme a user asked for does not exist; the message lists the available ones."""


@dataclass(frozen=True, slots=True)
class Palette:
    """Colours (rich colour strings) for prebuilt Text: rises, falls, neutral, muted, highlights."""

    up: str = "#26a69a"
    down: str = "#ef5350"
    neutral: str = "#b0bec5"
    dim: str = "#607d8b"
    accent: str = "#4fc3f7"
    warn: str = "#ffb74d"
    live: str = "#ff1744"
    bar: str = "#37474f"
    text: str = "#e0e0e0"


@dataclass(frozen=True, slots=True)
class Theme:
    name: str
    path: Path
    css: str
    base: str  # the Textual built-in theme beneath it
    palette: Palette


def available_themes(directory: Path = THEMES_DIR) -> list[str]:
    """Theme names (file stems) in `directory`, sorted, the default first."""
    names = sorted(p.stem for p in directory.glob("*.tcss")) if directory.is_dir() else []
    if DEFAULT_THEME in names:
        names.remove(DEFAULT_THEME)
        names.insert(0, DEFAULT_THEME)
    return names


def load_theme(name: str | None, directory: Path = THEMES_DIR) -> Theme:
    """Read theme `name` (None = the default). Unknown name -> UnknownThemeError listing the choices."""
    name = (name or DEFAULT_THEME).strip()
    path = directory / f"{name}.tcss"
    if not name or "/" in name or not path.is_file():
        known = ", ".join(available_themes(directory)) or "none (themes/ is missing)"
        raise UnknownThemeError(f"unknown theme {name!r} (available: {known})")
    css = path.read_text(encoding="utf-8")
    base_match = _BASE.search(css)
    base = base_match.group(1) if base_match else "textual-dark"
    fields = set(Palette.__slots__)
    colours = {k.replace("-", "_"): v.strip() for k, v in _VAR.findall(css) if k.replace("-", "_") in fields}
    return Theme(name=name, path=path, css=css, base=base, palette=Palette(**colours))
