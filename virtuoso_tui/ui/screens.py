"""The console's secondary screens: help, plugins, settings, stored backtest results, and the order
confirmation dialog.

Help lists every key binding (after `[ui] keys` remaps) and every command verb, built-in and plugin.
Plugins shows the host's report — failed plugins with their reason — and can disable or re-enable a
plugin's hooks for the rest of the session. Settings shows the effective configuration, secrets masked.
ConfirmOrder asks before a quick-key order; in LIVE mode the user must type the side to confirm.
Backtests (key r) lists the stored runs and shows the highlighted run's equity and drawdown charts,
metrics and trades.
Neighbours: ui/app.py pushes these; layout in ui/app.tcss, colours in themes/.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from itertools import zip_longest
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
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


def _data_name(data: str | None) -> str:
    """A run's data as a trader names it: the file name of a data file (its folder says nothing here and
    differs between machines), or the source description as stored."""
    if not data:
        return "—"
    return os.path.basename(data) if os.sep in data or "/" in data else data


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


class RunCurve(Widget):
    """The highlighted run's equity chart (with the run's title and params above it) or its drawdown
    chart, drawn at the widget's own size on every render, so a resize redraws it to fit."""

    def __init__(self, kind: str, palette: Any, *, id: str) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.kind = kind            # "equity" or "drawdown"
        self.palette = palette
        self.run: dict[str, Any] | None = None
        self.note = ""

    def show(self, run: dict[str, Any] | None, note: str = "") -> None:
        self.run, self.note = run, note
        self.refresh()

    def render(self) -> Text:
        from virtuoso_tui.ui.render import render_drawdown_curve, render_equity_curve

        run, pal = self.run, self.palette
        if run is None:
            return Text(self.note, style=pal.dim)
        width, height = max(self.size.width, 20), self.size.height
        ts, equity = run["equity"]["ts"], run["equity"]["equity"]
        out = Text()
        if self.kind == "drawdown":
            out.append("DRAWDOWN\n", style=pal.accent)
            out.append_text(render_drawdown_curve(ts, equity, width=width, height=max(height - 1, 3), palette=pal))
            return out
        params = "params " + ", ".join(f"{k}={v}" for k, v in run["params"].items())
        out.append(f"run {run['id']} · {run['strategy']} on {run['symbol']} {run['timeframe']} · "
                   f"{len(run['trades'])} trades · {run['kind']} · data {_data_name(run['data'])}\n", style="bold")
        out.append((params if len(params) <= width else params[:width - 1] + "…") + "\n", style=pal.dim)
        out.append("EQUITY\n", style=pal.accent)
        out.append_text(render_equity_curve(ts, equity, width=width, height=max(height - 3, 3), palette=pal))
        return out


class BacktestScreen(PageScreen):
    """Backtest runs stored in the database (`virtuoso backtest ... --save`): one row per run with its
    headline metrics; for the highlighted run (↑/↓), the whole-run equity chart and drawdown chart, every
    metric stored with it (backtest/metrics.py, formatted as the CLI and the HTML report print them) and
    its trades. Reads storage only when opened or when another run is highlighted."""

    HEADLINE = ("total_return", "sharpe", "max_drawdown", "trades", "win_rate", "profit_factor")
    DEFAULT_CSS = """
    BacktestScreen #runs { height: auto; max-height: 7; }
    BacktestScreen #run-body { height: auto; }
    BacktestScreen #charts { width: 1fr; height: auto; }
    BacktestScreen #run-detail { height: 11; }
    BacktestScreen #drawdown-chart { height: 7; }
    BacktestScreen #metrics { width: 66; height: auto; padding: 0 0 0 2; }
    BacktestScreen #trades { height: 1fr; min-height: 4; }
    """

    def __init__(self, storage: Any, palette: Any) -> None:
        super().__init__(id="backtests")
        self.storage = storage
        self.palette = palette
        self.run: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="page"):
            yield Static(Text("Backtest results  (↑/↓ choose a run, tab: its trades, Esc: back)", style="bold"))
            yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
            with Horizontal(id="run-body"):
                with Vertical(id="charts"):
                    yield RunCurve("equity", self.palette, id="run-detail")
                    yield RunCurve("drawdown", self.palette, id="drawdown-chart")
                yield Static("", id="metrics")
            yield DataTable(id="trades", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#runs", DataTable)
        for col in ("ID", "KIND", "STRATEGY", "SYMBOL", "TF", *(h.upper() for h in self.HEADLINE)):
            table.add_column(col)
        trades = self.query_one("#trades", DataTable)
        for col in TRADE_COLUMNS:
            trades.add_column(col, key=col)
        runs = self.storage.backtest_runs()
        for run in runs:
            metrics = run.get("metrics") or {}
            table.add_row(str(run["id"]), run["kind"], run["strategy"], run["symbol"], run["timeframe"],
                          *(_metric(metrics.get(h)) for h in self.HEADLINE), key=str(run["id"]))
        if not runs:
            self.query_one("#run-detail", RunCurve).show(
                None, "no backtest runs stored yet — run `virtuoso backtest ... --save` first")
        table.focus()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id != "runs" or event.row_key is None or event.row_key.value is None:
            return
        self.show_run(int(event.row_key.value))

    def show_run(self, run_id: int) -> None:
        """Load run `run_id` from storage and fill the charts, the metrics table and the trades list."""
        self.run = run = self.storage.backtest_run(run_id)
        self.query_one("#run-detail", RunCurve).show(run)
        self.query_one("#drawdown-chart", RunCurve).show(run)
        self.query_one("#metrics", Static).update(metrics_table(run.get("metrics") or {}))
        trades = self.query_one("#trades", DataTable)
        trades.clear()
        for k, t in enumerate(run["trades"], 1):
            trades.add_row(*trade_row(k, t, self.palette), key=str(k))


#: The trades list's columns (times UTC; prices and size as stored; pnl net of fees and funding).
TRADE_COLUMNS = ("#", "SIDE", "ENTRY (UTC)", "EXIT (UTC)", "ENTRY PX", "EXIT PX", "SIZE", "PNL", "FEES")


def _utc(ts_ms: Any) -> str:
    if ts_ms is None:
        return "open"
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(int(ts_ms) / 1000.0))


def trade_row(k: int, trade: dict[str, Any], palette: Any) -> tuple[Any, ...]:
    """One row of the trades list from a stored trade (Storage.backtest_run's `trades`)."""
    from virtuoso_tui.ui.render import fmt_price, fmt_qty

    pnl = trade.get("pnl")
    pnl_text = Text("—" if pnl is None else f"{pnl:+,.2f}",
                    style="" if pnl is None else (palette.up if pnl >= 0 else palette.down), justify="right")
    side = trade.get("side") or "—"
    return (str(k), Text(side, style=palette.up if side == "long" else palette.down), _utc(trade.get("entry_ts")),
            _utc(trade.get("exit_ts")), Text(fmt_price(trade.get("entry_price")), justify="right"),
            Text(fmt_price(trade.get("exit_price")), justify="right"),
            Text(fmt_qty(trade.get("amount")), justify="right"), pnl_text,
            Text(f"{trade.get('fees') or 0.0:,.2f}", justify="right"))


def metrics_table(metrics: dict[str, Any]) -> Table:
    """Every stored metric in two name/value column pairs, in the order compute_metrics gives them,
    formatted by backtest/report.format_metric (the CLI's and the HTML report's format)."""
    from virtuoso_tui.backtest.report import format_metric

    table = Table(title="METRICS", title_justify="left", expand=True, show_edge=False, pad_edge=False,
                  box=None)
    for _ in range(2):
        table.add_column("METRIC", no_wrap=True, style="dim")
        table.add_column("VALUE", justify="right", no_wrap=True)
    items = list(metrics.items())
    half = (len(items) + 1) // 2
    for left, right in zip_longest(items[:half], items[half:]):
        cells: list[str] = []
        for item in (left, right):
            cells += [item[0], format_metric(item[0], item[1])] if item else ["", ""]
        table.add_row(*cells)
    return table


def _metric(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)
