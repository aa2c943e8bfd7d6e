"""Key bindings as data: every console action has a stable id, a default key and a description.

The app builds its Textual `BINDINGS` from `KEY_ACTIONS`, the help screen and the command palette list
them, and `[ui] keys` in virtuoso.toml remaps them by id (`buy = "B"`, `quit = "ctrl+q"`; several keys
separated by commas). `remap(overrides)` validates the ids so a typo is one clear error, not a silently
dead key. Textual's own `App.set_keymap` applies the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KeyAction:
    id: str           # stable name used in [ui] keys
    key: str          # default key(s), Textual spelling, comma-separated
    action: str       # Textual action string
    description: str  # shown in the footer, help and the command palette
    show: bool = True  # shown in the footer
    priority: bool = False  # fires even when the command bar has focus


KEY_ACTIONS: tuple[KeyAction, ...] = (
    KeyAction("quit", "q", "quit", "Quit"),
    KeyAction("interrupt", "ctrl+c", "quit", "Quit", show=False, priority=True),
    KeyAction("help", "question_mark,f1", "help", "Help"),
    KeyAction("command", "colon,slash", "focus_command", "Command", show=False),
    KeyAction("leave", "escape", "leave", "Back", show=False),
    KeyAction("next_symbol", "j,down", "select_symbol(1)", "Next symbol", show=False),
    KeyAction("prev_symbol", "k,up", "select_symbol(-1)", "Prev symbol", show=False),
    KeyAction("next_timeframe", "t", "cycle_timeframe(1)", "Timeframe"),
    KeyAction("prev_timeframe", "T", "cycle_timeframe(-1)", "Prev timeframe", show=False),
    KeyAction("chart", "c", "show_chart", "Chart", show=False),
    KeyAction("line_chart", "l", "toggle_line", "Line/candles", show=False),
    KeyAction("confluence", "0", "show_face('confluence')", "Confluence table", show=False),
    KeyAction("face_1", "1", "show_face_index(0)", "Face 1 table", show=False),
    KeyAction("face_2", "2", "show_face_index(1)", "Face 2 table", show=False),
    KeyAction("face_3", "3", "show_face_index(2)", "Face 3 table", show=False),
    KeyAction("face_4", "4", "show_face_index(3)", "Face 4 table", show=False),
    KeyAction("face_5", "5", "show_face_index(4)", "Face 5 table", show=False),
    KeyAction("face_6", "6", "show_face_index(5)", "Face 6 table", show=False),
    KeyAction("buy", "b", "quick_order('buy')", "Buy"),
    KeyAction("sell", "s", "quick_order('sell')", "Sell"),
    KeyAction("plugins", "p", "plugins", "Plugins"),
    KeyAction("settings", "comma", "settings", "Settings", show=False),
    KeyAction("backtests", "r", "backtests", "Backtest results", show=False),
    KeyAction("theme", "ctrl+t", "cycle_theme", "Theme", show=False),
)

ACTIONS_BY_ID = {k.id: k for k in KEY_ACTIONS}


class KeyMapError(ValueError):
    """A remap names an action id that does not exist, or gives an empty key."""


def remap(overrides: Mapping[str, str] | None) -> dict[str, str]:
    """Validate `[ui] keys` (action id -> key) and return it as Textual's keymap; one clear error."""
    keymap: dict[str, str] = {}
    for action_id, key in (overrides or {}).items():
        if action_id not in ACTIONS_BY_ID:
            known = ", ".join(ACTIONS_BY_ID)
            raise KeyMapError(f"unknown key action {action_id!r} in [ui] keys (actions: {known})")
        if not isinstance(key, str) or not key.strip():
            raise KeyMapError(f"[ui] keys {action_id} must be a key name such as \"B\" or \"ctrl+b\"")
        keymap[action_id] = ",".join(k.strip() for k in key.split(",") if k.strip())
    return keymap


def key_for(action_id: str, keymap: Mapping[str, str] | None = None) -> str:
    """The key(s) bound to `action_id` after remapping, for help and palette text."""
    if keymap and action_id in keymap:
        return keymap[action_id]
    return ACTIONS_BY_ID[action_id].key
