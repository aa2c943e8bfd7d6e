"""The console's widgets: thin Textual shells around prebuilt rich renderables.

Each panel holds the last renderable it was given and repaints only when the app's frame timer hands it
a new one (`show`), so a quiet panel costs nothing. Size-dependent panels (chart, book, tape, log) read
their own content size when the app builds their Text. The command bar adds history (up/down) and
completion (verbs, sides, symbols, order ids; Tab or → accepts). Neighbours: ui/render.py draws,
ui/app.py decides what and when.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.console import RenderableType
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.suggester import Suggester
from textual.widget import Widget
from textual.widgets import Input


class Panel(Widget):
    """A bordered box showing one renderable; `show()` replaces it and repaints without relayout."""

    DEFAULT_CSS = "Panel { height: 1fr; }"

    def __init__(self, title: str = "", *, id: str | None = None, classes: str = "panel") -> None:
        super().__init__(id=id, classes=classes)
        self._renderable: RenderableType = Text("")
        self.border_title = title

    class Resized(Message):
        """A panel's size changed: size-dependent content (rows of a ladder, chart columns) must be rebuilt."""

    def on_resize(self) -> None:
        self.post_message(self.Resized())

    def show(self, renderable: RenderableType) -> None:
        self._renderable = renderable
        self.refresh()

    @property
    def renderable(self) -> RenderableType:
        return self._renderable

    def render(self) -> RenderableType:
        return self._renderable


class HeaderBar(Panel):
    DEFAULT_CSS = "HeaderBar { height: 1; }"

    def __init__(self) -> None:
        super().__init__(id="header", classes="")


class Watchlist(Panel):
    """Clicking a symbol's row selects it (the first line is the column header)."""

    class Selected(Message):
        def __init__(self, symbol: str) -> None:
            super().__init__()
            self.symbol = symbol

    def __init__(self, symbols: Sequence[str]) -> None:
        super().__init__("Watchlist", id="watchlist")
        self.symbols = list(symbols)
        self.first = 0  # index of the first symbol shown (the list scrolls with the selection)

    def on_click(self, event: Any) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        row = offset.y - 1 + self.first  # line 0 is the column header
        if 0 <= row < len(self.symbols):
            self.post_message(self.Selected(self.symbols[row]))


class CommandSuggester(Suggester):
    """Completes the word being typed from the command language's vocabulary."""

    def __init__(self, words_for: Callable[[list[str]], Sequence[str]]) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.words_for = words_for

    async def get_suggestion(self, value: str) -> str | None:
        if not value or value.endswith(" "):
            return None
        words = value.split(" ")
        stem = words[-1]
        for candidate in self.words_for(words[:-1]):
            if candidate.startswith(stem) and candidate != stem:
                return value[: len(value) - len(stem)] + candidate
        return None


class CommandBar(Input):
    """The command line: history with up/down, completion with Tab, Escape hands focus back."""

    BINDINGS = [
        Binding("up", "history(-1)", "Previous command", show=False),
        Binding("down", "history(1)", "Next command", show=False),
        Binding("tab", "complete", "Complete", show=False),
    ]

    def __init__(self, words_for: Callable[[list[str]], Sequence[str]]) -> None:
        super().__init__(placeholder="command — buy 0.01 · sell 0.5 @ 65000 · close · cancel all · help",
                         id="command", suggester=CommandSuggester(words_for))
        self.history: list[str] = []
        self._cursor = 0

    def remember(self, line: str) -> None:
        if line and (not self.history or self.history[-1] != line):
            self.history.append(line)
        self._cursor = len(self.history)

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        self._cursor = max(0, min(len(self.history), self._cursor + step))
        self.value = self.history[self._cursor] if self._cursor < len(self.history) else ""
        self.cursor_position = len(self.value)

    def action_complete(self) -> None:
        if self._suggestion:
            self.value = self._suggestion
            self.cursor_position = len(self.value)
