"""Prebuilt rich Text for the console's hot panels: header, watchlist, candle chart, prism gauges,
order book ladder, trades tape, positions/orders and the log; and the backtest screen's whole-run equity
and drawdown curves.

Pure functions of plain values (numpy arrays, model records, a Palette): no Textual, no engine, no
computation beyond layout, so they are cheap to call ten times a second and easy to test. The widgets in
ui/widgets.py call them with what ui/model.py collected; the DIV breakdown tables come from the prism's
own renderer (virtuoso_tui.prism), never from here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from rich.text import Text

from virtuoso_tui.ui.themes import Palette

GAUGE_WIDTH = 20
_BODY = "█"
_WICK = "│"
_SIDE_SHORT = {"NEUTRAL": "NEUT"}


# ---------------------------------------------------------------------------- number formats
def fmt_price(price: float | None) -> str:
    """Price with decimals by magnitude (2 above 1000, down to 6 significant below 1); '—' if unknown."""
    if price is None or not math.isfinite(price):
        return "—"
    a = abs(price)
    if a >= 1000:
        return f"{price:,.2f}"
    if a >= 10:
        return f"{price:.3f}"
    if a >= 1:
        return f"{price:.4f}"
    return f"{price:.6g}"


def fmt_qty(amount: float | None) -> str:
    """Size compactly: 1.23M, 4.56k, 12.345, 0.0123."""
    if amount is None or not math.isfinite(amount):
        return "—"
    a = abs(amount)
    if a >= 1e6:
        return f"{amount / 1e6:.2f}M"
    if a >= 1e4:
        return f"{amount / 1e3:.1f}k"
    if a >= 10:
        return f"{amount:.2f}"
    if a >= 1:
        return f"{amount:.3f}"
    return f"{amount:.4f}"


def fmt_clock(ts_ms: int | float | None) -> str:
    """HH:MM:SS UTC of a millisecond timestamp; '--:--:--' before any data."""
    if not ts_ms:
        return "--:--:--"
    return time.strftime("%H:%M:%S", time.gmtime(ts_ms / 1000.0))


def band_style(score: float | None, palette: Palette) -> str:
    """Colour of a 0-100 directional score: bullish (>=65), bearish (<=35), neutral, n/a dim."""
    if score is None or not math.isfinite(score):
        return palette.dim
    if score >= 65:
        return palette.up
    if score <= 35:
        return palette.down
    return palette.neutral


def gauge(score: float | None, width: int = GAUGE_WIDTH, palette: Palette | None = None) -> Text:
    """A bar filled in proportion to a 0-100 score, coloured by band; dots for the rest, n/a all dots."""
    palette = palette or Palette()
    if score is None or not math.isfinite(score):
        return Text("·" * width, style=palette.dim)
    filled = int(round(max(0.0, min(100.0, score)) / 100.0 * width))
    out = Text("▓" * filled, style=band_style(score, palette))
    out.append("·" * (width - filled), style=palette.dim)
    return out


# ---------------------------------------------------------------------------- header
def render_header(*, source: str, symbols: int, mode: str, health: Any, market_ts: int, wall_ts: float,
                  lifecycle: str, palette: Palette) -> Text:
    """One line: product, source, mode badge (LIVE unmistakable), connection health, market and wall clock."""
    out = Text(" VIRTUOSO ", style=f"bold {palette.accent}")
    out.append(f"│ {source} · {symbols} symbols ", style=palette.text)
    badge_style = {"LIVE": f"bold blink white on {palette.live}", "PAPER": f"bold black on {palette.warn}"}
    out.append(f" {mode} ", style=badge_style.get(mode, f"bold black on {palette.accent}"))
    out.append(" │ ", style=palette.dim)
    if health is None:
        out.append("○ waiting", style=palette.dim)
    elif getattr(health, "connected", False):
        out.append("● connected", style=palette.up)
        if getattr(health, "latency_ms", None) is not None:
            out.append(f" {health.latency_ms:.0f}ms", style=palette.text)
        if getattr(health, "messages_per_s", None) is not None:
            out.append(f" {health.messages_per_s:.0f}/s", style=palette.dim)
    else:
        out.append(f"● down {getattr(health, 'detail', '')}".rstrip(), style=f"bold {palette.down}")
    if lifecycle and lifecycle != "running":
        out.append(f" ({lifecycle})", style=palette.warn)
    out.append(" │ mkt ", style=palette.dim)
    out.append(fmt_clock(market_ts), style=palette.text)
    out.append(" │ ", style=palette.dim)
    out.append(time.strftime("%H:%M:%S UTC", time.gmtime(wall_ts)), style=palette.text)
    return out


# ---------------------------------------------------------------------------- watchlist
def watchlist_window(count: int, selected_index: int, visible: int, first: int) -> int:
    """The first row to show so the selected row stays in a `visible`-row window that scrolls only
    when the selection leaves it (no jumping while the user moves inside it)."""
    if visible <= 0 or count <= visible:
        return 0
    if selected_index < first:
        first = selected_index
    elif selected_index >= first + visible:
        first = selected_index - visible + 1
    return max(0, min(first, count - visible))


def render_watchlist(rows: Sequence[tuple[str, float | None, float | None, Any]], selected: str | None,
                     palette: Palette, width: int = 40) -> Text:
    """One line per symbol: name, last, 24h change %, confluence score and side. `rows` holds
    (symbol, last, change_pct, signal or None) for the rows to show; the selected symbol is highlighted."""
    compact = width < 40  # drop the 24h column rather than wrap every row
    out = Text()
    out.append(f"{'SYMBOL':<10}{'LAST':>10}{'' if compact else '24H%':>{0 if compact else 7}}{'SCORE':>6} SIG\n",
               style=f"bold {palette.dim}")
    for symbol, last, change, signal in rows:
        line = Text()
        mark = "▶" if symbol == selected else " "
        line.append(f"{mark}{symbol.split(':')[0][:9]:<9}", style=f"bold {palette.accent}" if symbol == selected
                    else palette.text)
        line.append(f"{fmt_price(last):>10}", style=palette.text)
        if not compact and (change is None or not math.isfinite(change)):
            line.append(f"{'—':>7}", style=palette.dim)
        elif not compact:
            line.append(f"{change:>+7.2f}", style=palette.up if change >= 0 else palette.down)
        score = getattr(signal, "score", None)
        side = getattr(signal, "side", "")
        if score is None:
            line.append(f"{'n/a':>6}", style=palette.dim)
        else:
            line.append(f"{score:>6.1f}", style=band_style(score, palette))
        side_style = {"LONG": palette.up, "SHORT": palette.down}.get(side, palette.dim)
        line.append(f" {_SIDE_SHORT.get(side, side or '—')}", style=f"bold {side_style}")
        if symbol == selected:
            line.stylize("reverse" if palette.bar == "#000000" else f"on {palette.bar}")
        out.append_text(line)
        out.append("\n")
    out.rstrip()
    return out


# ---------------------------------------------------------------------------- chart
def render_chart(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, *, width: int,
                 height: int, palette: Palette, side: str | None = None, line: bool = False,
                 ts: np.ndarray | None = None) -> Text:
    """Unicode candles (or, with `line`, a close-price line), newest at the right, one column per candle,
    price axis on the right, and with `ts` (open times, ms) a time axis on the bottom row.

    The last `width - 11` candles are drawn scaled between their lowest low and highest high (lowest and
    highest close for a line); the last close is marked on the axis and a LONG/SHORT signal by ▲ below /
    ▼ above the newest candle. No candle (or a panel too small) gives a one-line 'waiting' text.
    """
    axis = 11
    cols = width - axis
    n = min(len(close), max(cols, 0))
    time_axis = ts is not None and height >= 6 and n >= 1
    height = height - 1 if time_axis else height
    if n < 1 or height < 3:
        return Text("waiting for candles…", style=palette.dim)
    o, h, lo_, c = (np.asarray(a[-n:], dtype=float) for a in (open_, high, low, close))
    top, bottom = (float(np.nanmax(c)), float(np.nanmin(c))) if line else (float(np.nanmax(h)), float(np.nanmin(lo_)))
    if not math.isfinite(top) or not math.isfinite(bottom):
        return Text("waiting for candles…", style=palette.dim)
    if top - bottom <= 0:
        top, bottom = top + abs(top) * 1e-4 + 1e-9, bottom - abs(bottom) * 1e-4 - 1e-9
    scale = (height - 1) / (top - bottom)

    def row_of(p: np.ndarray) -> np.ndarray:
        return np.clip(np.rint((top - p) * scale), 0, height - 1).astype(int)

    rh, rl, ro, rc = row_of(h), row_of(lo_), row_of(o), row_of(c)
    rising = c >= o
    grid = [[(" ", "")] * n for _ in range(height)]
    if line:
        for i in range(n):
            prev = rc[i - 1] if i else rc[i]
            colour = palette.up if i == 0 or c[i] >= c[i - 1] else palette.down
            for r in range(min(prev, rc[i]) + 1, max(prev, rc[i])):
                grid[r][i] = ("│", colour)
            grid[rc[i]][i] = ("•", colour)
        rh = rl = rc
    else:
        body_top, body_bot = np.minimum(ro, rc), np.maximum(ro, rc)
        for i in range(n):
            colour = palette.up if rising[i] else palette.down
            for r in range(rh[i], rl[i] + 1):
                grid[r][i] = (_BODY if body_top[i] <= r <= body_bot[i] else _WICK, colour)
    if side in ("LONG", "SHORT"):
        last = n - 1
        if side == "LONG":
            r = rl[last] + 1 if rl[last] + 1 < height else rl[last]
            grid[r][last] = ("▲", f"bold {palette.up}")
        else:
            r = rh[last] - 1 if rh[last] > 0 else rh[last]
            grid[r][last] = ("▼", f"bold {palette.down}")
    labels = {0: top, height - 1: bottom, (height - 1) // 2: (top + bottom) / 2}
    close_row = int(rc[-1])
    out = Text()
    pad = " " * (cols - n)
    for r in range(height):
        out.append(pad)
        run, style = [], None
        for ch, st in grid[r]:
            if st != style and run:
                out.append("".join(run), style=style or None)
                run = []
            run.append(ch)
            style = st
        if run:
            out.append("".join(run), style=style or None)
        if r == close_row:
            out.append(f"◀{fmt_price(float(c[-1])):>10}", style=f"bold {palette.up if rising[-1] else palette.down}")
        elif r in labels:
            out.append(f" {fmt_price(labels[r]):>10}", style=palette.dim)
        if r < height - 1:
            out.append("\n")
    if time_axis:
        out.append("\n")
        out.append_text(_time_axis(np.asarray(ts[-n:]), cols - n, n, palette))
    return out


def _time_axis(ts: np.ndarray, pad: int, n: int, palette: Palette) -> Text:
    """Open times of the first and newest candle under their columns (HH:MM, or MM-DD over a day)."""
    fmt = "%m-%d" if ts[-1] - ts[0] >= 86_400_000 else "%H:%M"
    first, last = (time.strftime(fmt, time.gmtime(t / 1000.0)) for t in (ts[0], ts[-1]))
    if n < len(first) + len(last) + 1:
        return Text(" " * (pad + n - len(last)) + last, style=palette.dim)
    return Text(" " * pad + first + " " * (n - len(first) - len(last)) + last, style=palette.dim)


# ---------------------------------------------------------------------------- backtest curves
def curve_bins(n: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Split `n` points into min(n, cols) consecutive, near-equal bins: (first index, last index) of
    each, so a whole run fits a panel `cols` wide (one bin per column; with n <= cols, one point each)."""
    k = min(n, max(cols, 0))
    if k < 1:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    first = (np.arange(k, dtype=np.int64) * n) // k
    return first, np.append(first[1:], n) - 1


def render_equity_curve(ts: np.ndarray, equity: np.ndarray, *, width: int, height: int,
                        palette: Palette) -> Text:
    """A backtest's WHOLE equity curve (quote currency) as a line, one column per bin of bars showing the
    bin's last value (so the newest value is the last bar's), the value axis on the right with the final
    equity marked, and the first and last bar's times below. An empty curve gives a one-line note."""
    equity = np.asarray(equity, dtype=np.float64)
    first, last = curve_bins(len(equity), width - 11)
    if not len(first):
        return Text("no equity curve stored for this run", style=palette.dim)
    values = equity[last]
    times = np.asarray(ts, dtype=np.int64)[last].copy()
    times[0] = int(ts[0])       # the axis starts at the run's first bar, not the first bin's end
    return render_chart(values, values, values, values, width=width, height=height, palette=palette, line=True,
                        ts=times)


def render_drawdown_curve(ts: np.ndarray, equity: np.ndarray, *, width: int, height: int,
                          palette: Palette) -> Text:
    """Drawdown below the running peak of `equity` (percent, 0 at a new high) as bars hanging from the
    0% line, one column per bin of bars showing the bin's DEEPEST drawdown (so the maximum drawdown is
    always drawn); the axis runs from 0% down to minus the maximum drawdown, times below. A curve that
    never falls draws only the 0% line; an empty curve gives a one-line note."""
    equity = np.asarray(equity, dtype=np.float64)
    first, _ = curve_bins(len(equity), width - 11)
    time_axis = height >= 4
    rows = height - 1 if time_axis else height
    if not len(first) or rows < 2:
        return Text("no equity curve stored for this run", style=palette.dim)
    peak = np.maximum.accumulate(equity)
    dd = np.where(peak > 0, 1.0 - equity / np.where(peak > 0, peak, 1.0), 0.0)
    deepest = np.maximum.reduceat(dd, first)
    depth = float(deepest.max())
    n = len(first)
    # row 0 is the 0% line; a column's bar hangs from row 1 down to the row of its bin's deepest
    # drawdown (rounded up, so any drawdown shows and only the maximum reaches the bottom row's level)
    reach = np.ceil(deepest / depth * (rows - 1) - 1e-9).astype(int) if depth > 0 else np.zeros(n, dtype=int)
    labels = {0: " 0.00%"}
    if depth > 0:
        labels[rows - 1] = f"-{depth * 100:.2f}%"
        if rows >= 5:
            mid = (rows - 1) // 2
            labels[mid] = f"-{depth * 100 * mid / (rows - 1):.2f}%"
    out = Text()
    pad = " " * (width - 11 - n)
    for r in range(rows):
        out.append(pad)
        line = "─" * n if r == 0 else "".join("█" if r <= reach[i] else " " for i in range(n))
        # colour runs: bars in the falling colour, the untouched 0% line dim
        run_start = 0
        for i in range(1, n + 1):
            if i == n or (line[i] == "█") != (line[run_start] == "█"):
                out.append(line[run_start:i], style=palette.down if line[run_start] == "█" else palette.dim)
                run_start = i
        if r in labels:
            out.append(f" {labels[r]:>10}", style=palette.dim)
        if r < rows - 1:
            out.append("\n")
    if time_axis:
        times = np.asarray(ts, dtype=np.int64)
        out.append("\n")
        out.append_text(_time_axis(np.array([times[0], times[-1]]), len(pad), n, palette))
    return out


# ---------------------------------------------------------------------------- prism gauges
def render_gauges(signal: Any, face_names: Sequence[str], selected: str | None, palette: Palette,
                  width: int = 60) -> Text:
    """Six face gauges (numbered for the 1-6 keys) and the confluence line with side and confidence,
    or, while a new side waits for confirmation, that side and the seconds it still needs. Fits `width` columns: the bars shrink (to 3 cells) and confidences are dropped when space is short."""
    name_w = 15 if width >= 45 else 9
    fixed = 10 + name_w  # marker, key digit, name, score
    show_conf = width - fixed - 7 >= 8
    bar = max(3, min(GAUGE_WIDTH, width - fixed - (7 if show_conf else 0)))
    out = Text()
    faces = getattr(signal, "faces", {}) or {}
    for i, name in enumerate(face_names, start=1):
        face = faces.get(name)
        score = getattr(face, "score", None)
        conf = getattr(face, "confidence", None)
        marker = "▶" if name == selected else " "
        out.append(f"{marker}{i if i <= 9 else ' '} {name.replace('_', ' ')[:name_w]:<{name_w}} ",
                   style=f"bold {palette.accent}" if name == selected else palette.text)
        out.append_text(gauge(score, bar, palette))
        if score is None:
            out.append("   n/a", style=palette.dim)
        else:
            out.append(f" {score:5.1f}", style=band_style(score, palette))
        out.append(f"  c{conf:.2f}\n" if conf is not None and show_conf else "\n", style=palette.dim)
    score = getattr(signal, "score", None)
    side = getattr(signal, "side", "NEUTRAL") if signal is not None else "—"
    marker = "▶" if selected == "confluence" else " "
    conf_text = f" c{signal.confidence:.2f}" if signal is not None else ""
    pending = getattr(signal, "pending", None)
    # a side waiting for confirmation, with the seconds it still needs (it replaces the confidence)
    wait_text = "" if pending is None else f" →{pending[0]} {max(0.0, pending[2] - pending[1]):.0f}s"
    if wait_text:
        conf_text = ""
    if width - fixed - len(side) - 1 - len(conf_text) - len(wait_text) < 3:
        conf_text = wait_text = ""
    # the side must always show: the confluence bar gives way first
    conf_bar = max(1, min(bar, width - fixed - len(side) - 1 - len(conf_text) - len(wait_text)))
    out.append(f"{marker}0 {'CONFLUENCE'[:name_w]:<{name_w}} ", style=f"bold {palette.accent}")
    out.append_text(gauge(score, conf_bar, palette))
    out.append(f" {score:5.1f}" if score is not None else "   n/a", style=f"bold {band_style(score, palette)}")
    side_style = {"LONG": palette.up, "SHORT": palette.down}.get(side, palette.neutral)
    out.append(f" {side}", style=f"bold {side_style}")
    out.append(conf_text, style=palette.dim)
    if wait_text:
        out.append(wait_text, style={"LONG": palette.up, "SHORT": palette.down}.get(pending[0], palette.neutral))
    return out


# ---------------------------------------------------------------------------- book and tape
def render_book(bids: np.ndarray, asks: np.ndarray, *, levels: int, width: int, palette: Palette,
                spread: float | None = None, spread_bps: float | None = None, valid: bool = True,
                reason: str = "") -> Text:
    """The ladder: asks above (best ask nearest the middle), the spread, bids below. Each level shows
    price, size and a bar proportional to the CUMULATIVE size from the touch (depth), scaled to the
    deepest side shown. `spread`, `spread_bps` and validity come from the OrderBook, never computed here."""
    if not valid:
        return Text(f"book invalid: {reason or 'resyncing'}", style=f"bold {palette.warn}")
    if len(bids) == 0 and len(asks) == 0:
        return Text("waiting for the book…", style=palette.dim)
    b = np.asarray(bids[:levels], dtype=float).reshape(-1, 2)
    a = np.asarray(asks[:levels], dtype=float).reshape(-1, 2)
    cum_b, cum_a = np.cumsum(b[:, 1]), np.cumsum(a[:, 1])
    deepest = max(cum_b[-1] if len(cum_b) else 0.0, cum_a[-1] if len(cum_a) else 0.0) or 1.0
    bar_w = max(width - 23, 1)
    out = Text()

    def level(price: float, size: float, cum: float, colour: str) -> None:
        out.append(f"{fmt_price(price):>12}", style=colour)
        out.append(f"{fmt_qty(size):>9} ", style=palette.text)
        filled = max(1, int(round(cum / deepest * bar_w)))
        out.append("█" * filled, style=f"{colour} dim")
        out.append("\n")

    for i in range(len(a) - 1, -1, -1):
        level(a[i, 0], a[i, 1], cum_a[i], palette.down)
    if spread is not None:
        line = f"spread {fmt_price(spread)}" + (f"  {spread_bps:.1f} bps" if spread_bps is not None else "")
        out.append(f"{line:^{max(width, len(line))}}\n", style=f"bold {palette.accent}")
    else:
        out.append("\n")
    for i in range(len(b)):
        level(b[i, 0], b[i, 1], cum_b[i], palette.up)
    out.rstrip()
    return out


def render_tape(trades: Iterable[Any], palette: Palette, rows: int, width: int = 40) -> Text:
    """Recent trades, newest first: time, price, size, coloured by the aggressor (taker) side;
    unknown aggressor stays neutral — never guessed. Below 33 columns the time is left out."""
    with_time = width >= 33
    out = Text()
    for i, t in enumerate(trades):
        if i >= rows:
            break
        colour = {"buy": palette.up, "sell": palette.down}.get(t.side, palette.neutral)
        arrow = {"buy": "▲", "sell": "▼"}.get(t.side, "·")
        if with_time:
            out.append(f"{fmt_clock(t.ts)} ", style=palette.dim)
        out.append(f"{fmt_price(t.price):>12} {fmt_qty(t.amount):>9} {arrow}\n", style=colour)
    if not out:
        return Text("waiting for trades…", style=palette.dim)
    out.rstrip()
    return out


# ---------------------------------------------------------------------------- trading and log
#: columns the one-line position and order rows need; a narrower panel gets two lines per row
TRADING_WIDE = 62


def render_trading(positions: Sequence[Any], orders: Sequence[Any], marks: dict[str, float | None],
                   palette: Palette, width: int | None = None) -> Text:
    """Positions with unrealised PnL at the mark, open orders, and the PnL total line. Narrower than
    TRADING_WIDE columns, each position and order takes two lines instead of wrapping mid-number."""
    out = Text()
    wide = width is None or width >= TRADING_WIDE
    total_u = total_r = 0.0
    if not positions and not orders:
        out.append("no positions, no open orders", style=palette.dim)
    for p in positions:
        mark = marks.get(p.symbol)
        upnl = p.unrealized_pnl(mark) if mark is not None and p.amount else 0.0
        total_u += upnl
        total_r += p.realized_pnl
        side = "LONG" if p.amount > 0 else "SHORT" if p.amount < 0 else "FLAT"
        side_style = palette.up if p.amount > 0 else palette.down if p.amount < 0 else palette.dim
        upnl_style = palette.up if upnl >= 0 else palette.down
        symbol = p.symbol.split(":")[0][:10]
        if wide:
            out.append(f"{symbol:<10} {side:<5}", style=side_style)
            out.append(f"{fmt_qty(abs(p.amount)):>9} @ {fmt_price(p.entry_price):>10} ", style=palette.text)
            out.append(f"u{upnl:>+10.2f}", style=upnl_style)
            out.append(f" r{p.realized_pnl:>+9.2f}\n", style=palette.dim)
        else:
            out.append(f"{symbol} {side}", style=side_style)
            out.append(f" {fmt_qty(abs(p.amount))} @ {fmt_price(p.entry_price)}\n", style=palette.text)
            out.append(f"  u {upnl:+.2f}", style=upnl_style)
            out.append(f"  r {p.realized_pnl:+.2f}\n", style=palette.dim)
    for o in orders:
        price = fmt_price(o.price) if o.price is not None else "market"
        kind = o.type.value if hasattr(o.type, "value") else o.type
        status = o.status.value if hasattr(o.status, "value") else o.status
        side_style = palette.up if o.side == "buy" else palette.down
        if wide:
            out.append(f"{o.client_id[-8:]:<9}{o.side:<5}{kind:<6}", style=side_style)
            out.append(f"{fmt_qty(o.filled)}/{fmt_qty(o.amount)} @ {price} ", style=palette.text)
            out.append(f"{status}\n", style=palette.dim)
        else:
            out.append(f"{o.client_id[-8:]} {o.side} {kind}", style=side_style)
            out.append(f" {status}\n", style=palette.dim)
            out.append(f"  {fmt_qty(o.filled)}/{fmt_qty(o.amount)} @ {price}\n", style=palette.text)
    if positions:
        out.append("PnL ", style=f"bold {palette.text}")
        out.append(f"unrealised {total_u:+.2f}", style=palette.up if total_u >= 0 else palette.down)
        out.append(f"{'  ' if wide else chr(10) + '    '}realised {total_r:+.2f}",
                   style=palette.up if total_r >= 0 else palette.down)
    out.rstrip()
    return out


_LEVEL_TAGS = {"warning": "warn"}  # five columns: "warni" reads as a typo


def render_log(entries: Iterable[tuple[int, str, str]], palette: Palette, rows: int) -> Text:
    """The newest `rows` log lines (market time, level, message), oldest first."""
    items = list(entries)[-rows:] if rows > 0 else []
    out = Text()
    colours = {"error": palette.down, "warning": palette.warn, "info": palette.text, "trade": palette.accent}
    for ts, level, message in items:
        out.append(f"{fmt_clock(ts)} ", style=palette.dim)
        out.append(f"{_LEVEL_TAGS.get(level, level[:5]):<6}", style=f"bold {colours.get(level, palette.text)}")
        out.append(f"{message}\n", style=colours.get(level, palette.text))
    out.rstrip()
    return out
