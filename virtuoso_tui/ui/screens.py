"""The console's secondary screens: help, plugins, settings, and the order confirmation dialog.

Help lists every key binding (after `[ui] keys` remaps) and every command verb, built-in and plugin.
Plugins shows the host's report — failed plugins with their reason — and can disable or re-enable a
plugin's hooks for the rest of the session. Settings shows the effective configuration, secrets masked.
ConfirmOrder asks before a quick-key order; in LIVE mode the user must type the side to confirm.
Neighbours: ui/app.py pushes these; layout in ui/app.tcss, colours in themes/.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Input, Label, Static

from virtuoso_tui.ui.keys import KEY_ACTIONS, key_for


class PageScreen(Screen):
    """A full screen page closed with Escape or q."""

    BINDINGS = [Binding("escape,q", "close", "Back")]

    def action_close(self) -> None:
        self.dismiss()


def help_tables(keymap: dict[str, str], usage: dict[str, str], help_text: dict[str, str],
                plugin_commands: Sequence[tuple[str, Any]]) -> tuple[Table, Table]:
    """The key table (id, keys, what) and the command table (verb, usage, what, from)."""
    keys = Table(title="Keys", title_justify="left", expand=True, show_edge=False, pad_edge=False)
    keys.add_column("ACTION ID", no_wrap=True)
    keys.add_column("KEYS", no_wrap=True)
    keys.add_column("DOES")
    for k in KEY_ACTIONS:
        keys.add_row(Text(k.id), Text(key_for(k.id, keymap).replace("question_mark", "?").replace("colon", ":")
                     .replace("slash", "/").replace("comma", ",")), Text(k.description))
    keys.add_row("", "", "")
    keys.add_row("(palette)", "ctrl+p", "Command palette: every action and plugin command")
    cmds = Table(title="Commands (type : then a command)", title_justify="left", expand=True, show_edge=False,
                 pad_edge=False)
    cmds.add_column("VERB", no_wrap=True)
    cmds.add_column("USAGE")
    cmds.add_column("DOES")
    cmds.add_column("FROM", no_wrap=True)
    for verb, line in usage.items():
        # Text, not str: usages are full of [brackets] that rich would read as markup
        cmds.add_row(Text(verb), Text(line), Text(help_text.get(verb, "")), Text("built-in"))
    for plugin, command in plugin_commands:
        cmds.add_row(Text(command.verb), Text(getattr(command, "usage", "") or command.verb),
                     Text(getattr(command, "help", "")), Text(plugin))
    return keys, cmds


class HelpScreen(PageScreen):
    def __init__(self, keymap: dict[str, str], usage: dict[str, str], help_text: dict[str, str],
                 plugin_commands: Sequence[tuple[str, Any]]) -> None:
        super().__init__(id="help")
        self.tables = help_tables(keymap, usage, help_text, plugin_commands)

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="page"):
            yield Static(Text("Virtuoso — help  (Esc to close)", style="bold"))
            for table in self.tables:
                yield Static(table)
        yield Footer()


class PluginsScreen(PageScreen):
    """Every plugin with version, origin, status and hooks; a failed plugin shows its reason."""

    BINDINGS = [Binding("d", "toggle", "Disable/enable")]

    def __init__(self, host: Any) -> None:
        super().__init__(id="plugins")
        self.host = host

    def compose(self) -> ComposeResult:
        with Vertical(classes="page"):
            yield Static(Text("Plugins  (d: disable/enable the selected plugin's hooks, Esc: back)",
                              style="bold"))
            yield DataTable(id="plugin-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="plugin-detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for col in ("PLUGIN", "VERSION", "ORIGIN", "STATUS", "HOOKS", "ERROR"):
            table.add_column(col, key=col)
        self.refill()
        table.focus()

    def refill(self) -> None:
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        for info in self.host.report():
            status = Text(info.status, style="bold red" if info.status == "failed" else
                          "green" if info.status == "ok" else "yellow")
            hooks = ", ".join(h.removeprefix("virtuoso_") for h in info.hooks)
            table.add_row(info.name, info.version or "—", info.origin, status, hooks, info.error or "",
                          key=info.name)
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))  # the plugin just toggled stays selected

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        infos = {i.name: i for i in self.host.report()}
        info = infos.get(event.row_key.value) if event.row_key is not None else None
        detail = self.query_one("#plugin-detail", Static)
        if info is None:
            detail.update("")
        else:
            detail.update(Text(f"{info.name}: {info.status}" + (f" — {info.error}" if info.error else ""),
                               style="red" if info.status == "failed" else ""))

    def action_toggle(self) -> None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return
        name = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        try:
            message = toggle_plugin(self.host, name)
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return
        self.notify(message)
        self.refill()


def toggle_plugin(host: Any, name: str) -> str:
    """Disable a loaded plugin's hooks, or re-enable a disabled one (PluginHost.disable/enable)."""
    info = host.infos.get(name)
    if info is None:
        raise ValueError(f"no plugin named {name!r}")
    if info.status == "disabled":
        host.enable(name)
        return f"plugin {name} enabled"
    host.disable(name)
    return f"plugin {name} disabled until re-enabled or restart"


class SettingsScreen(PageScreen):
    def __init__(self, text: str) -> None:
        super().__init__(id="settings")
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="page"):
            yield Static(Text("Settings (effective, secrets masked; edit virtuoso.toml and restart)  Esc: back",
                              style="bold"))
            yield Static(Text(self.text))
        yield Footer()


class ConfirmOrder(ModalScreen[bool]):
    """Asks before sending a quick-key order. In LIVE mode the side must be typed to confirm."""

    BINDINGS = [Binding("escape", "answer(False)", "Cancel"), Binding("n", "answer(False)", "No", show=False)]

    def __init__(self, summary: str, *, side: str, live: bool) -> None:
        super().__init__(id="confirm")
        self.summary = summary
        self.side = side
        self.live = live

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog live" if self.live else "dialog", id="dialog"):
            yield Label("Confirm order", classes="title")
            yield Label(self.summary, id="summary")
            if self.live:
                yield Label(f"LIVE TRADING — real money. Type {self.side!r} to confirm.", classes="warning")
                yield Input(placeholder=self.side, id="typed")
            with Horizontal(id="buttons"):
                yield Button("Send (y)", variant="error" if self.live else "primary", id="yes",
                             disabled=self.live)
                yield Button("Cancel (n)", id="no")

    def on_mount(self) -> None:
        if self.live:
            self.query_one("#typed", Input).focus()
        else:
            self.query_one("#yes", Button).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#yes", Button).disabled = event.value.strip().lower() != self.side

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip().lower() == self.side:
            self.dismiss(True)

    def on_key(self, event: Any) -> None:
        if not self.live and event.key == "y":
            event.stop()
            self.dismiss(True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class BacktestScreen(PageScreen):
    """Backtest runs stored in the database: one row per run with its headline metrics; the highlighted
    run's equity curve (a line chart) and every metric below. Reads storage only when opened or moved."""

    HEADLINE = ("total_return", "sharpe", "max_drawdown", "trades", "win_rate", "profit_factor")

    def __init__(self, storage: Any, palette: Any) -> None:
        super().__init__(id="backtests")
        self.storage = storage
        self.palette = palette

    def compose(self) -> ComposeResult:
        with Vertical(classes="page"):
            yield Static(Text("Backtest results  (↑/↓ choose a run, Esc: back)", style="bold"))
            yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
            yield Static("", id="run-detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for col in ("ID", "KIND", "STRATEGY", "SYMBOL", "TF", *(h.upper() for h in self.HEADLINE)):
            table.add_column(col)
        runs = self.storage.backtest_runs()
        for run in runs:
            metrics = run.get("metrics") or {}
            table.add_row(str(run["id"]), run["kind"], run["strategy"], run["symbol"], run["timeframe"],
                          *(_metric(metrics.get(h)) for h in self.HEADLINE), key=str(run["id"]))
        if not runs:
            self.query_one("#run-detail", Static).update(
                Text("no backtest runs stored yet — run `virtuoso backtest ...` first", style="dim"))
        table.focus()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is None or event.row_key.value is None:
            return
        from virtuoso_tui.ui.render import render_chart

        run = self.storage.backtest_run(int(event.row_key.value))
        equity = run["equity"]["equity"]
        detail = Text()
        detail.append(f"run {run['id']} · {run['strategy']} on {run['symbol']} {run['timeframe']} · "
                      f"{len(run['trades'])} trades · params {run['params']}\n", style="bold")
        detail.append("  ".join(f"{k} {_metric(v)}" for k, v in sorted((run.get("metrics") or {}).items())))
        detail.append("\n")
        if len(equity):
            width = max(self.size.width - 4, 20)
            detail.append_text(render_chart(equity, equity, equity, equity, width=width, height=10,
                                            palette=self.palette, line=True, ts=run["equity"]["ts"]))
        else:
            detail.append("no equity curve stored for this run", style="dim")
        self.query_one("#run-detail", Static).update(detail)


def _metric(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)
