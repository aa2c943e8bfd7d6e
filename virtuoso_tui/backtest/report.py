"""Backtest reports: a self-contained HTML page (inline SVG equity and drawdown charts, the metrics
table, the trades list) with no external file, script or font, so it opens anywhere offline.

The --json output is `BacktestResult.to_json()` (runner.py); the TUI backtest screen (virtuoso_tui/ui)
reads the same result object. Long curves are thinned for drawing by keeping each bucket's min and
max, so a drawdown spike never disappears from the chart.
"""

from __future__ import annotations

import html
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from virtuoso_tui.backtest.metrics import drawdown

CHART_W, CHART_H, PAD = 960, 260, 40
MAX_POINTS = 1200

_PERCENT = {"total_return", "annualised_return", "max_drawdown", "var_95", "es_95", "exposure",
            "buy_and_hold_return", "win_rate", "avg_trade"}


def _thin(x: np.ndarray, y: np.ndarray, limit: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    n = x.shape[0]
    if n <= limit:
        return x, y
    edges = np.linspace(0, n, limit // 2 + 1).astype(np.int64)
    keep = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        if b > a:
            seg = y[a:b]
            keep.extend(sorted({a + int(np.argmin(seg)), a + int(np.argmax(seg))}))
    keep.append(n - 1)
    idx = np.unique(np.array(keep))
    return x[idx], y[idx]


def svg_line(x: np.ndarray, y: np.ndarray, *, title: str, color: str, fill: bool = False,
             invert: bool = False, fmt: str = "{:,.0f}") -> str:
    """An inline SVG chart of y over x (x = ms timestamps), with min/max labels and start/end dates."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape[0] < 2:
        return f"<p>{html.escape(title)}: not enough bars to draw</p>"
    x, y = _thin(x, y)
    lo, hi = float(np.nanmin(y)), float(np.nanmax(y))
    if hi == lo:
        hi = lo + 1.0
    w, h = CHART_W - 2 * PAD, CHART_H - 2 * PAD
    px = PAD + (x - x[0]) / max(x[-1] - x[0], 1.0) * w
    frac = (y - lo) / (hi - lo)
    py = PAD + (frac if invert else 1.0 - frac) * h
    points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py, strict=True))
    shape = f'<polyline fill="none" stroke="{color}" stroke-width="1.4" points="{points}"/>'
    if fill:
        base = PAD if invert else PAD + h
        shape = (f'<polygon fill="{color}" fill-opacity="0.25" stroke="{color}" stroke-width="1" '
                 f'points="{px[0]:.1f},{base:.1f} {points} {px[-1]:.1f},{base:.1f}"/>')
    top_label, bottom_label = (fmt.format(lo), fmt.format(hi)) if invert else (fmt.format(hi), fmt.format(lo))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_W}" height="{CHART_H}" '
            f'viewBox="0 0 {CHART_W} {CHART_H}" role="img" aria-label="{html.escape(title)}">'
            f'<rect width="100%" height="100%" fill="#fff"/>'
            f'<text x="{PAD}" y="20" font-size="14" font-weight="bold">{html.escape(title)}</text>'
            f'<line x1="{PAD}" y1="{PAD + h}" x2="{PAD + w}" y2="{PAD + h}" stroke="#bbb"/>'
            f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{PAD + h}" stroke="#bbb"/>'
            f'<text x="{PAD + 4}" y="{PAD + 12}" font-size="11" fill="#555">{html.escape(top_label)}</text>'
            f'<text x="{PAD + 4}" y="{PAD + h - 4}" font-size="11" fill="#555">{html.escape(bottom_label)}</text>'
            f'<text x="{PAD}" y="{CHART_H - 12}" font-size="11" fill="#555">{_date(x[0])}</text>'
            f'<text x="{PAD + w}" y="{CHART_H - 12}" font-size="11" fill="#555" text-anchor="end">{_date(x[-1])}</text>'
            f'{shape}</svg>')


def _date(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def format_metric(name: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if name in _PERCENT:
        return f"{value * 100:.2f}%"
    if name == "max_drawdown_ms":
        return f"{value / 86_400_000:.1f} days"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.4f}" if abs(value) < 100 else f"{value:,.2f}"


def render_html(result: Any, *, title: str | None = None, max_trades: int = 2000) -> str:
    """The report page for a BacktestResult (or anything with ts, equity, metrics, trades, strategy,
    params, symbol, timeframe)."""
    ts, equity = np.asarray(result.ts), np.asarray(result.equity)
    title = title or f"{result.strategy} on {result.symbol or 'data'} {result.timeframe}"
    dd = drawdown(equity) * 100.0
    metrics_rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(format_metric(k, v))}</td></tr>"
                           for k, v in result.metrics.items())
    head = ("<tr><th>#</th><th>side</th><th>entry</th><th>exit</th><th>entry price</th><th>exit price</th>"
            "<th>size</th><th>pnl</th><th>fees</th><th>exit</th></tr>")
    rows = []
    for k, t in enumerate(result.trades[:max_trades], 1):
        cls = "win" if t["pnl"] > 0 else "loss"
        rows.append(f'<tr class="{cls}"><td>{k}</td><td>{html.escape(str(t.get("side", "long")))}</td>'
                    f'<td>{_date(t["entry_time"])}</td><td>{_date(t["exit_time"])}</td>'
                    f'<td>{t["entry_price"]:,.6g}</td><td>{t["exit_price"]:,.6g}</td><td>{t["size"]:.6g}</td>'
                    f'<td>{t["pnl"]:,.2f}</td><td>{t["fees"]:,.2f}</td>'
                    f'<td>{html.escape(str(t.get("exit_reason", "")))}</td></tr>')
    more = (f"<p>{len(result.trades) - max_trades} more trades not listed.</p>"
            if len(result.trades) > max_trades else "")
    params = ", ".join(f"{k}={v}" for k, v in result.params.items())
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in getattr(result, "warnings", [])[:50])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; }}
table {{ border-collapse: collapse; margin: 12px 0; font-size: 13px; }}
th, td {{ border: 1px solid #ddd; padding: 3px 8px; text-align: right; }}
th {{ background: #f4f4f4; text-align: left; }}
tr.win td {{ color: #116611; }} tr.loss td {{ color: #aa1111; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Strategy <b>{html.escape(result.strategy)}</b> ({html.escape(params)}), {len(equity):,} bars,
{html.escape(getattr(result, "mode", ""))} path.</p>
{svg_line(ts, equity, title="Equity", color="#1f5fbf")}
{svg_line(ts, dd, title="Drawdown (%)", color="#bf1f1f", fill=True, invert=True, fmt="{:.1f}%")}
<h2>Metrics</h2><table>{metrics_rows}</table>
<h2>Trades ({len(result.trades)})</h2><table>{head}{"".join(rows)}</table>{more}
{"<h2>Data warnings</h2><ul>" + warnings + "</ul>" if warnings else ""}
</body></html>
"""


def write_report(result: Any, path: str | Path, **kwargs: Any) -> Path:
    """Write the HTML report; the file is written whole (temporary file, then renamed)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_html(result, **kwargs), encoding="utf-8")
    tmp.replace(path)
    return path
