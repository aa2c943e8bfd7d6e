"""Textual command palette provider: every console action (by its key-binding id) and every command verb,
built-in and plugin-provided. Choosing an action runs it; choosing a verb puts it in the command bar
ready for its arguments. Neighbours: ui/keys.py (the actions), ui/app.py (runs them).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from virtuoso_tui.ui.keys import KEY_ACTIONS, key_for


class VirtuosoCommands(Provider):
    def _entries(self) -> list[tuple[str, str, Any]]:
        app: Any = self.app
        entries: list[tuple[str, str, Any]] = []
        seen: set[str] = set()
        for k in KEY_ACTIONS:
            if k.description in seen:
                continue
            seen.add(k.description)
            keys = key_for(k.id, getattr(app, "keymap_overrides", {}))
            entries.append((k.description, f"action {k.id} · key {keys}", partial(app.run_action, k.action)))
        for plugin, verb, usage in app.command_verbs():
            origin = "built-in" if plugin is None else f"plugin {plugin}"
            entries.append((f"Command: {verb}", f"{usage} · {origin}", partial(app.prefill_command, verb)))
        return entries

    async def discover(self) -> Hits:
        for title, help_text, callback in self._entries():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._entries():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
