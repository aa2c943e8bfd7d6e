"""The full-screen console: `VirtuosoApp(runtime)` and `run_app(runtime) -> int` (called by the CLI).

The app runs the engine in its own event loop, subscribes a ConsoleModel (ui/model.py) to the bus and
redraws the panels the model marks dirty on a frame timer (`[ui] fps`, default 10) with prebuilt rich
Text from ui/render.py; the DIV tables come from the prism's renderer. Keys are data (ui/keys.py) and
remappable from `[ui] keys`; themes are .tcss files in themes/ (ui/themes.py). Errors from the engine,
plugins or commands become notifications and log lines, never a traceback; q / ctrl+c stops the engine
and waits for it to finish before exiting. Layout lives in app.tcss beside this file.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer

from virtuoso_tui.trading.commands import HELP, USAGE
from virtuoso_tui.ui import render
from virtuoso_tui.ui.keys import KEY_ACTIONS, KeyMapError, remap
from virtuoso_tui.ui.model import ConsoleModel
from virtuoso_tui.ui.palette import VirtuosoCommands
from virtuoso_tui.ui.prism_view import div_renderable
from virtuoso_tui.ui.screens import BacktestScreen, ConfirmOrder, HelpScreen, PluginsScreen, SettingsScreen
from virtuoso_tui.ui.themes import Theme, UnknownThemeError, available_themes, load_theme
from virtuoso_tui.ui.widgets import CommandBar, HeaderBar, Panel, Watchlist

log = logging.getLogger(__name__)

ERROR_STORM = 20  # unhandled errors within 10 s after which the console gives up and exits
DIV_REFRESH_S = 0.5  # the DIV table redraws at most this often for the same symbol and face
DEFAULT_QUICK_SIZE = "$100"  # quote notional: sensible on any symbol's price scale
_ALGO_VERBS = ("twap", "vwap", "iceberg", "split")
_ORDER_WORDS = ("@", "stop", "limit", "reduce", "post", "over", "slices", "show", "bps", "every")


def _setting(runtime: Any, section: str, name: str, default: Any) -> Any:
    return getattr(getattr(getattr(runtime, "settings", None), section, None), name, default)


class VirtuosoApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "Virtuoso"
    AUTO_FOCUS = None  # letters are trading keys; the command bar takes focus only on ':' or '/'
    COMMANDS = App.COMMANDS | {VirtuosoCommands}
    BINDINGS = [
        Binding(k.key, k.action, k.description, show=k.show, priority=k.priority, id=k.id) for k in KEY_ACTIONS
    ]

    def __init__(self, runtime: Any, *, start_engine: bool = True, clock: Callable[[], float] = time.time,
                 fps: int | None = None) -> None:
        theme = load_theme(getattr(runtime, "theme", None) or _setting(runtime, "ui", "theme", None))
        keys = _setting(runtime, "ui", "keys", {}) or {}
        self.keymap_overrides = remap(dict(keys.to_dict() if hasattr(keys, "to_dict") else keys))
        super().__init__()
        self.runtime = runtime
        self.engine = runtime.engine
        self.host = getattr(runtime, "host", None)
        self.mode = str(getattr(runtime, "mode", "SIM")).upper()
        self.start_engine = start_engine
        self.clock = clock
        self.fps = fps or int(_setting(runtime, "ui", "fps", 10))
        self.quick_size = str(_setting(runtime, "ui", "quick_size", DEFAULT_QUICK_SIZE))
        self.model = ConsoleModel(self.engine)
        self.model.attach(runtime.bus)
        self.model.prime()
        self.symbols = list(self.engine.symbols)
        self.selected: str | None = self.symbols[0] if self.symbols else None
        self.timeframes = self._timeframes()
        self.timeframe = self.timeframes[0] if self.timeframes else "1m"
        self.view = "chart"  # or a face name, or "confluence"
        self.line_chart = False
        self._div_key: tuple[str | None, str, int] | None = None
        self._div_drawn_at = 0.0
        self._errors: list[float] = []
        self.frame_times: deque[float] = deque(maxlen=5000)  # seconds spent building each frame
        self._engine_task: asyncio.Task | None = None
        self._last_header_second = -1
        self._plugin_commands = self._collect("virtuoso_commands")
        self._theme: Theme = theme
        self.palette = theme.palette
        self._theme_key = (str(theme.path), "virtuoso-theme")
        self.stylesheet.add_source(theme.css, read_from=self._theme_key)
        if self.keymap_overrides:
            self.set_keymap(self.keymap_overrides)
        for problem in getattr(runtime, "problems", []) or []:
            self.model.notices.append(("warning", problem))
        self._known_failed = set(self._failed_plugins())
        if self._known_failed:
            names = ", ".join(sorted(self._known_failed))
            self.model.notices.append(("warning", f"plugins failed to load: {names} (p: plugins)"))

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield HeaderBar()
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield Watchlist(self.symbols)
                yield Panel("Positions · orders · PnL", id="trading")
            with Vertical(id="center"):
                yield Panel("Chart", id="chart")
                yield Panel("DIV", id="div")
                yield Panel("Prism", id="prism")
            with Vertical(id="right"):
                yield Panel("Order book", id="book")
                yield Panel("Trades", id="tape")
                yield from self._plugin_panels()
        yield Panel("Log", id="log")
        yield CommandBar(self._completions)
        yield Footer()

    def _plugin_panels(self) -> list[Any]:
        panels = []
        for plugin, cls in self._collect("virtuoso_panels"):
            try:
                widget = cls()
                widget.add_class("panel", "plugin-panel")
                widget.border_title = getattr(widget, "border_title", None) or plugin
                panels.append(widget)
            except Exception as exc:  # noqa: BLE001 - a plugin panel must not take the console down
                if self.host is not None and hasattr(self.host, "mark_failed"):
                    self.host.mark_failed(plugin, f"panel {getattr(cls, '__name__', cls)!s} failed: {exc}")
                self.model.notices.append(("error", f"plugin {plugin}: panel failed: {exc}"))
        return panels

    def _collect(self, hook: str) -> list[tuple[str, Any]]:
        if self.host is None or not hasattr(self.host, "collect"):
            return []
        try:
            return list(self.host.collect(hook))
        except Exception as exc:  # noqa: BLE001
            self.model.notices.append(("error", f"{hook} failed: {exc}"))
            return []

    def _timeframes(self) -> list[str]:
        states = getattr(self.engine, "states", {})
        if self.selected in states:
            return list(states[self.selected].candles)
        return ["1m", "5m", "15m", "1h", "4h"]

    def on_mount(self) -> None:
        self.theme = self._theme.base
        self.set_class(self.mode == "LIVE", "live")
        self.query_one("#div").display = False
        self.set_interval(1.0 / self.fps, self.frame, name="frame")
        if self.start_engine:
            self._engine_task = asyncio.create_task(self._run_engine())
        self.model.dirty.update(self._all_panels())

    def on_resize(self, event: Any) -> None:
        self.set_class(100 <= event.size.width < 140, "medium")
        self.set_class(event.size.width < 100, "narrow")
        self.set_class(event.size.height < 28, "short")

    def on_panel_resized(self, message: Panel.Resized) -> None:
        # redraw on the next frame, at the new size (the first layout also arrives this way)
        self.model.dirty.update(self._all_panels())

    async def _run_engine(self) -> None:
        try:
            await self.engine.run()
        except Exception as exc:  # noqa: BLE001 - shown, never a traceback on screen
            log.exception("engine stopped with an error")
            self.model.notices.append(("error", f"engine stopped: {exc}"))
            self.model.note("error", f"engine stopped: {exc}")

    def _handle_exception(self, error: Exception) -> None:
        """Textual calls this for any exception escaping a handler, a timer or a widget's render —
        including a plugin panel's. The console carries on and shows it, instead of leaving the screen
        with a traceback; only a storm (more than ERROR_STORM errors in 10 s) ends the app, cleanly."""
        now = time.monotonic()
        self._errors = [t for t in self._errors if now - t < 10.0] + [now]
        if len(self._errors) > ERROR_STORM or not self.is_running:
            self.engine.stop("console error")
            super()._handle_exception(error)
            return
        log.debug("console error", exc_info=error)  # debug: the log pane would show it twice
        where = type(error).__name__
        self.model.note("error", f"{where}: {error}")
        self.model.notices.append(("error", f"{where}: {error}"))

    # ------------------------------------------------------------------ the frame
    def _all_panels(self) -> set[str]:
        s = self.selected
        return {"header", "watch", "trading", "log", f"chart:{s}", f"book:{s}", f"tape:{s}", f"prism:{s}"}

    def frame(self) -> None:
        """Redraw what changed since the last frame. Never raises: a failure becomes a notification."""
        started = time.perf_counter()
        try:
            self._draw(self.model.take_dirty())
        except Exception as exc:  # noqa: BLE001
            log.exception("frame failed")
            self.notify(f"display error: {exc}", severity="error", timeout=6)
        for level, message in self.model.take_notices():
            self.notify(message, severity="error" if level == "error" else "warning", timeout=6)
        self.frame_times.append(time.perf_counter() - started)

    def _draw(self, dirty: set[str]) -> None:
        s = self.selected
        now = self.clock()
        if "header" in dirty or int(now) != self._last_header_second:
            self._last_header_second = int(now)
            self._draw_header(now)
            self._check_plugins()
        if "watch" in dirty:
            self._draw_watchlist()
        if s is None:
            return
        if f"chart:{s}" in dirty and self.view == "chart":
            self._draw_chart()
        if f"prism:{s}" in dirty:
            self._draw_prism()
        if f"book:{s}" in dirty:
            self._draw_book()
        if f"tape:{s}" in dirty:
            tape = self.query_one("#tape", Panel)
            tape.show(render.render_tape(self.model.tape.get(s, ()), self.palette, tape.size.height,
                                         tape.size.width))
        if "trading" in dirty or f"book:{s}" in dirty and self.model.positions:
            self._draw_trading()
        if "log" in dirty:
            panel = self.query_one("#log", Panel)
            panel.show(render.render_log(self.model.log, self.palette, panel.size.height))

    def _failed_plugins(self) -> dict[str, str]:
        if self.host is None or not hasattr(self.host, "report"):
            return {}
        return {i.name: i.error for i in self.host.report() if i.status == "failed"}

    def _check_plugins(self) -> None:
        """A plugin that fails while the console runs (a hook raised) is announced once."""
        failed = self._failed_plugins()
        for name in failed.keys() - self._known_failed:
            self.model.note("error", f"plugin {name} failed: {failed[name]}")
            self.model.notices.append(("error", f"plugin {name} failed: {failed[name]} (p: plugins)"))
        self._known_failed = set(failed)

    def _draw_header(self, now: float) -> None:
        source = getattr(getattr(self.runtime, "source", None), "name", None) or _setting(
            self.runtime, "source", "name", "sim")
        self.query_one(HeaderBar).show(render.render_header(
            source=str(source), symbols=len(self.symbols), mode=self.mode, health=self.model.health,
            market_ts=int(getattr(self.engine, "now", 0) or 0), wall_ts=now, lifecycle=self.model.lifecycle,
            palette=self.palette,
        ))

    def _draw_watchlist(self) -> None:
        rows = []
        states = self.engine.states
        for sym in self.symbols:
            state = states.get(sym)
            ticker = self.model.tickers.get(sym)
            last = getattr(state, "last_price", None) if state is not None else None
            if last is None and ticker is not None:
                last = ticker.last
            change = getattr(ticker, "change_24h_pct", None)
            rows.append((sym, last, change, self.model.signals.get(sym)))
        panel = self.query_one(Watchlist)
        index = self.symbols.index(self.selected) if self.selected in self.symbols else 0
        panel.first = render.watchlist_window(len(rows), index, panel.size.height - 1, panel.first)
        shown = rows[panel.first: panel.first + max(panel.size.height - 1, 0)] or rows
        panel.border_subtitle = f"{index + 1}/{len(rows)}" if len(shown) < len(rows) else ""
        panel.show(render.render_watchlist(shown, self.selected, self.palette, panel.size.width))

    def _draw_chart(self) -> None:
        panel = self.query_one("#chart", Panel)
        state = self.engine.states.get(self.selected)
        series = state.candles.get(self.timeframe) if state is not None else None
        signal = self.model.signals.get(self.selected)
        kind = "line" if self.line_chart else "candles"
        panel.border_title = f"{self.selected} · {self.timeframe} {kind}  (t: timeframe, l: line/candles, 1-6/0: DIV)"
        if series is None or len(series) == 0:
            panel.show(Text(f"waiting for {self.timeframe} candles…", style=self.palette.dim))
            return
        o, h, lo, c, ts = series.open, series.high, series.low, series.close, series.ts
        forming = series.forming
        if forming is not None:  # the candle still forming is the one a trader watches
            o, h, lo, c = (np.append(a, v) for a, v in ((o, forming.open), (h, forming.high), (lo, forming.low),
                                                         (c, forming.close)))
            ts = np.append(ts, forming.ts)
        panel.show(render.render_chart(o, h, lo, c, width=panel.size.width, height=panel.size.height,
                                       palette=self.palette, side=getattr(signal, "side", None),
                                       line=self.line_chart, ts=ts))

    def _draw_prism(self) -> None:
        signal = self.model.signals.get(self.selected)
        panel = self.query_one("#prism", Panel)
        selected = None if self.view == "chart" else self.view
        panel.show(render.render_gauges(signal, self.model.face_names(self.selected), selected, self.palette,
                                        width=panel.size.width))
        if self.view != "chart":
            # a rich Table costs ~10 ms to lay out: a human reads it, so twice a second is plenty
            now = time.monotonic()
            div = self.query_one("#div", Panel)
            width = div.size.width
            if width <= 0:  # just shown, not laid out yet: its Resized message brings the first draw
                return
            # a new symbol, view or width draws at once (never a table laid out for a stale width)
            key = (self.selected, self.view, width)
            if self._div_key == key and now - self._div_drawn_at < DIV_REFRESH_S:
                self.model.dirty.add(f"prism:{self.selected}")  # draw the newest one a little later
                return
            self._div_key, self._div_drawn_at = key, now
            div.border_title = f"{self.selected} · {self.view.replace('_', ' ')} DIV breakdown  (c/Esc: chart)"
            div.show(div_renderable(signal, self.view, self.palette, width=width))

    def _draw_book(self) -> None:
        panel = self.query_one("#book", Panel)
        book = getattr(self.engine.states.get(self.selected), "book", None)
        if book is None:
            panel.show(Text("no book for this source", style=self.palette.dim))
            return
        levels = max(1, (panel.size.height - 1) // 2)
        panel.show(render.render_book(book.bids(levels), book.asks(levels), levels=levels, width=panel.size.width,
                                      palette=self.palette, spread=book.spread,
                                      spread_bps=getattr(book, "spread_bps", None),
                                      valid=getattr(book, "valid", True), reason=getattr(book, "reason", "")))

    def _draw_trading(self) -> None:
        marks = {sym: getattr(st, "last_price", None) for sym, st in self.engine.states.items()}
        panel = self.query_one("#trading", Panel)
        portfolio = getattr(getattr(self.engine, "desk", None), "portfolio", None)
        if portfolio is not None and hasattr(portfolio, "equity"):
            panel.border_subtitle = f"equity {portfolio.equity():,.2f}"
        panel.show(render.render_trading(
            list(self.model.positions.values()), list(self.model.orders.values()), marks, self.palette,
            width=panel.size.width or None))

    # ------------------------------------------------------------------ actions
    def action_select_symbol(self, step: int) -> None:
        if not self.symbols:
            return
        i = self.symbols.index(self.selected) if self.selected in self.symbols else 0
        self.select(self.symbols[(i + step) % len(self.symbols)])

    def select(self, symbol: str) -> None:
        if symbol not in self.symbols:
            raise ValueError(f"unknown symbol {symbol!r}")
        self.selected = symbol
        self.model.dirty.update(self._all_panels())

    def on_watchlist_selected(self, message: Watchlist.Selected) -> None:
        self.select(message.symbol)

    def action_cycle_timeframe(self, step: int) -> None:
        i = self.timeframes.index(self.timeframe) if self.timeframe in self.timeframes else 0
        self.timeframe = self.timeframes[(i + step) % len(self.timeframes)]
        self.action_show_chart()

    def action_toggle_line(self) -> None:
        self.line_chart = not self.line_chart
        self.action_show_chart()

    def action_show_chart(self) -> None:
        self.view = "chart"
        self.remove_class("div-view")
        self.query_one("#div").display = False
        self.query_one("#chart").display = True
        self.model.dirty.update({f"chart:{self.selected}", f"prism:{self.selected}"})

    def action_show_face(self, name: str) -> None:
        self.view = name
        self.add_class("div-view")  # the table needs the width of the book and tape columns
        self.query_one("#chart").display = False
        self.query_one("#div").display = True
        self.model.dirty.add(f"prism:{self.selected}")

    def action_show_face_index(self, index: int) -> None:
        names = self.model.face_names(self.selected)
        if index >= len(names):
            self.notify(f"there is no face {index + 1} (faces: {', '.join(names)})", severity="warning")
            return
        self.action_show_face(names[index])

    def action_focus_command(self) -> None:
        self.query_one(CommandBar).focus()

    def action_leave(self) -> None:
        if isinstance(self.focused, CommandBar):
            self.set_focus(None)
        elif self.view != "chart":
            self.action_show_chart()

    def action_help(self) -> None:
        plugin_cmds = [(p, c) for p, c in self._plugin_commands if getattr(c, "verb", "")]
        self.push_screen(HelpScreen(self.keymap_overrides, USAGE, HELP, plugin_cmds))

    def action_plugins(self) -> None:
        if self.host is None:
            self.notify("no plugin host in this session", severity="warning")
            return
        self.push_screen(PluginsScreen(self.host))

    def action_settings(self) -> None:
        settings = getattr(self.runtime, "settings", None)
        try:
            from virtuoso_tui.config import check_report

            text = check_report(settings)
        except Exception as exc:  # noqa: BLE001 - a settings object the report cannot print
            text = f"settings cannot be shown: {exc}"
        self.push_screen(SettingsScreen(text))

    def action_backtests(self) -> None:
        storage = getattr(self.runtime, "storage", None)
        if storage is None or not hasattr(storage, "backtest_runs"):
            self.notify("no database in this session (started with --db ''), so no stored backtests",
                        severity="warning")
            return
        self.push_screen(BacktestScreen(storage, self.palette))

    def action_cycle_theme(self) -> None:
        names = available_themes()
        i = names.index(self._theme.name) if self._theme.name in names else -1
        self.apply_theme(names[(i + 1) % len(names)])

    def apply_theme(self, name: str) -> None:
        """Switch to theme `name`; an unknown name is a notification listing the available ones."""
        try:
            theme = load_theme(name)
        except UnknownThemeError as exc:
            self.notify(str(exc), severity="error")
            return
        self.stylesheet.source.pop(self._theme_key, None)
        self._theme_key = (str(theme.path), "virtuoso-theme")
        self.stylesheet.add_source(theme.css, read_from=self._theme_key)
        self._theme, self.palette = theme, theme.palette
        if self.theme != theme.base:
            self.theme = theme.base  # refreshes the CSS itself
        else:
            self.refresh_css()
        self.model.dirty.update(self._all_panels())
        self.notify(f"theme {theme.name}")

    @property
    def theme_name(self) -> str:
        return self._theme.name

    async def action_quit(self) -> None:
        """Stop the engine, wait for it to flush and close, then leave."""
        self.engine.stop("quit from the console")
        task = self._engine_task
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=10)
            except Exception:  # noqa: BLE001 - includes the timeout
                log.exception("engine did not stop cleanly")
        self.model.detach()
        self.exit(0)

    # ------------------------------------------------------------------ orders and commands
    def action_quick_order(self, side: str) -> None:
        symbol = self.selected
        if symbol is None:
            return
        last = getattr(self.engine.states.get(symbol), "last_price", None)
        summary = f"{side.upper()} {self.quick_size} of {symbol} at market (last {render.fmt_price(last)})"
        line = f"{side} {self.quick_size} {symbol}"

        def answered(ok: bool | None) -> None:
            if ok:
                self.run_command(line)
            else:
                self.model.note("info", f"cancelled: {line}")

        self.push_screen(ConfirmOrder(summary, side=side, live=self.mode == "LIVE"), answered)

    def on_input_submitted(self, event: CommandBar.Submitted) -> None:
        if not isinstance(event.input, CommandBar):
            return
        # ':' focuses the bar; typed again inside it (vim habit) it is the prompt, not the command
        line = event.value.strip().lstrip(":").strip()
        bar = event.input
        bar.value = ""
        if not line:
            return
        bar.remember(line)
        self.run_command(line)

    def run_command(self, line: str) -> Any:
        """Run one command-language line on the selected symbol. A refusal (an exception, or a result
        with ok=False such as a risk rejection) is one error notification and a log line."""
        try:
            result = self.engine.execute(line, self.selected)
        except Exception as exc:  # noqa: BLE001 - CommandError, no desk: all shown the same way
            self._command_failed(line, str(exc) or type(exc).__name__)
            return None
        text = getattr(result, "message", None) or (str(result) if result is not None else "ok")
        if getattr(result, "ok", True) is False:
            self._command_failed(line, text)
            return result
        self.model.note("info", f"{line} → {text}")
        self.notify(text, title=line, timeout=4)
        self.model.dirty.add("trading")
        return result

    def _command_failed(self, line: str, message: str) -> None:
        self.model.note("error", f"{line}: {message}")
        self.notify(message, title=line, severity="error", timeout=6)

    def prefill_command(self, verb: str) -> None:
        bar = self.query_one(CommandBar)
        bar.value = f"{verb} "
        bar.cursor_position = len(bar.value)
        bar.focus()

    def command_verbs(self) -> list[tuple[str | None, str, str]]:
        verbs: list[tuple[str | None, str, str]] = [(None, v, u) for v, u in USAGE.items()]
        verbs += [(p, c.verb, getattr(c, "usage", c.verb)) for p, c in self._plugin_commands if getattr(c, "verb", "")]
        return verbs

    def _completions(self, before: list[str]) -> list[str]:
        verbs = [v for _, v, _ in self.command_verbs()]
        if not before:
            return verbs
        verb = before[0]
        if verb in _ALGO_VERBS and len(before) == 1:
            return ["buy", "sell"]
        if verb == "close":
            return ["all", *self.symbols]
        if verb == "cancel":
            return ["all", *self.model.orders]
        if verb == "help":
            return verbs
        if verb == "risk":
            return ["reset"]
        return [*self.symbols, *_ORDER_WORDS]


class ConsoleLogHandler(logging.Handler):
    """While the console owns the terminal, log records go to the log pane (warnings and errors also
    as notifications) instead of stderr, where they would scribble over the screen."""

    def __init__(self, model: ConsoleModel) -> None:
        super().__init__(level=logging.WARNING)
        self.model = model

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level = "error" if record.levelno >= logging.ERROR else "warning"
            message = record.getMessage().splitlines()[0] if record.getMessage() else record.name
            self.model.note(level, f"{record.name}: {message}")
            self.model.notices.append((level, message))
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def run_app(runtime: Any) -> int:
    """Run the console until the user quits; returns the exit status. A bad theme or key map is one
    sentence on stderr and status 2, before the screen is taken over."""
    try:
        app = VirtuosoApp(runtime)
    except (UnknownThemeError, KeyMapError) as exc:
        print(f"virtuoso: {exc}", file=sys.stderr)
        return 2
    root = logging.getLogger()
    to_terminal = [h for h in root.handlers if isinstance(h, logging.StreamHandler)
                   and getattr(h, "stream", None) in (sys.stderr, sys.__stderr__, sys.stdout, sys.__stdout__)]
    handler = ConsoleLogHandler(app.model)
    for h in to_terminal:
        root.removeHandler(h)
    root.addHandler(handler)
    try:
        result = app.run()
    finally:
        root.removeHandler(handler)
        for h in to_terminal:
            root.addHandler(h)
        if not runtime.engine.stopping:
            runtime.engine.stop("console closed")
    return int(result or 0)
