"""The DIV breakdown tables (rich) and the JSON shape of a Signal: one renderer for every view.

`face_table(result)` and `confluence_table(signal)` return rich Tables the TUI shows as they are;
`render_signal_text` prints them to a string for `virtuoso analyze` and headless text; `analyze_json`
is the `--json` shape. Layout per DESIGN §5: COMPONENT SCORE WEIGHT IMPACT DIV GAUGE, rows sorted by
impact, the gauge filled in proportion to the score and coloured by band, n/a rows greyed, a FINAL row
whose DIV is the sum of the rows'. Printed IMPACTs are rounded with the largest-remainder method so
they add up exactly to the printed FINAL (face table) or CONFLUENCE (confluence table).
Neighbours: records in prism/face.py, numbers from prism/engine.py; views never compute scores.
"""

from __future__ import annotations

import io
import math
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from virtuoso_tui.prism.face import ComponentScore, FaceResult, Signal
from virtuoso_tui.prism.scoring import effective_score, largest_remainder

GAUGE_WIDTH = 24
BULL, BEAR = 65.0, 35.0


def band_style(score: float | None) -> str:
    if score is None:
        return "grey50"
    return "green" if score >= BULL else "red" if score <= BEAR else "yellow"


def gauge(score: float | None, fill: str = "▓") -> Text:
    """A bar of GAUGE_WIDTH cells, round(score/100·width) of them filled, coloured by band."""
    if score is None:
        return Text("·" * GAUGE_WIDTH, style="grey50")
    n = max(0, min(GAUGE_WIDTH, round(score / 100.0 * GAUGE_WIDTH)))
    return Text.assemble((fill * n, band_style(score)), ("·" * (GAUGE_WIDTH - n), "grey50"))


#: below this many columns a DIV table drops its gauge and lets names shorten: numbers are never cut
COMPACT_WIDTH = 64


def _new_table(title: str, width: int | None = None, extra: int = 0) -> Table:
    """`extra`: columns a caller adds after DIV (the confluence's CONF), so compact names leave room."""
    compact = width is not None and width < COMPACT_WIDTH
    table = Table(title=title, title_justify="left", box=None, pad_edge=False, header_style="bold",
                  collapse_padding=compact)
    if compact:
        # the numbers take 5+6+6+5 columns and a space each; the name gets what is left, at least 6
        name_width = max(6, width - 26 - extra)
        table.add_column("COMPONENT", min_width=6, max_width=name_width, no_wrap=True, overflow="ellipsis")
    else:
        table.add_column("COMPONENT", min_width=18)
    for col in ("SCORE", "WEIGHT", "IMPACT", "DIV"):  # room for 71.07, 0.225, 16.7, +26.3
        table.add_column(col, justify="right", no_wrap=True, min_width=max(len(col), 5))
    if not compact:
        table.add_column("GAUGE", no_wrap=True)
    return table


def _row(table: Table, *cells) -> None:
    """Add a row, leaving out the gauge cell when the table has no GAUGE column (compact)."""
    names = [c.header for c in table.columns]
    cells = list(cells)
    if "GAUGE" not in names:
        del cells[5]
    table.add_row(*cells)


def _row_order(rows: list[ComponentScore]) -> list[ComponentScore]:
    live = sorted((c for c in rows if c.score is not None and c.weight > 0), key=lambda c: -c.weight * c.final)
    rest = [c for c in rows if not (c.score is not None and c.weight > 0)]
    return live + sorted(rest, key=lambda c: c.score is None)


def face_table(result: FaceResult, symbol: str | None = None, width: int | None = None) -> Table:
    """The DIV table of one face: its components sorted by impact and a FINAL row. `width` (the space it
    will get, when known) below COMPACT_WIDTH gives the compact layout: no gauge, names may shorten."""
    title = f" {symbol or result.symbol}  {result.face.replace('_', ' ').title()} score contribution"
    table = _new_table(title, width)
    rows = _row_order(result.components)
    live = [c for c in rows if c.score is not None and c.weight > 0]
    impacts = largest_remainder([c.weight * c.final for c in live], result.score or 0.0, 1)
    divs = largest_remainder([c.div for c in live], sum(c.div for c in live), 1)
    for c, imp, div in zip(live, impacts, divs, strict=True):
        _row(table, c.name, f"{c.score:.2f}", f"{c.weight:.2f}", f"{imp:.1f}", f"{div:+.1f}", gauge(c.final))
    for c in rows[len(live):]:
        if c.score is None and c.detail == "confidence only":
            _row(table, Text(c.name, style="grey50"), Text("conf", style="grey50"), "", "", "", Text("", style="grey50"))
        else:
            _row(table, Text(c.name, style="grey50"), Text("n/a", style="grey50"), Text("—", style="grey50"),
                          Text("—", style="grey50"), Text("—", style="grey50"), gauge(None))
    if result.score is None:
        _row(table, Text("FINAL SCORE", style="bold grey50"), Text("n/a", style="grey50"), "", "", "", gauge(None))
    else:
        _row(table, Text("FINAL SCORE", style="bold"), Text(f"{result.score:.2f}", style="bold"), "",
                      f"{sum(impacts):.1f}", f"{sum(divs):+.1f}", gauge(result.score, "▒"))
    table.caption = _caption(result, rows)
    table.caption_justify = "left"
    return table


def _caption(result: FaceResult, rows: list[ComponentScore]) -> str:
    notes = [f"confidence {result.confidence:.2f}"] + ([result.reason] if result.reason else [])
    notes += [f"{c.name}: {c.detail}" for c in rows if c.detail and c.detail != "confidence only"]
    return "  " + "\n  ".join(notes)


def confluence_table(signal: Signal, width: int | None = None) -> Table:
    """One row per face: SCORE, normalised WEIGHT, IMPACT = weight × confidence-shrunk score, DIV."""
    table = _new_table(f" {signal.symbol}  Confluence", width, extra=5)
    table.add_column("CONF", justify="right", no_wrap=True, min_width=4)
    live = sorted((r for r in signal.faces.values() if r.score is not None and r.weight > 0),
                  key=lambda r: -r.weight * effective_score(r))
    impacts = largest_remainder([r.weight * effective_score(r) for r in live], signal.score or 0.0, 1)
    face_divs = [sum(c.div for c in r.components if c.score is not None and c.weight > 0) for r in live]
    divs = largest_remainder(face_divs, sum(face_divs), 1)
    for r, imp, div in zip(live, impacts, divs, strict=True):
        _row(table, r.face, f"{r.score:.2f}", f"{r.weight:.3f}", f"{imp:.1f}", f"{div:+.1f}", gauge(r.score), f"{r.confidence:.2f}")
    missing = [r for r in signal.faces.values() if not any(r is x for x in live)]
    for r in missing:
        _row(table, Text(r.face, style="grey50"), Text("n/a", style="grey50"), Text("—", style="grey50"),
                      Text("—", style="grey50"), Text("—", style="grey50"), gauge(None), Text("—", style="grey50"))
    if signal.score is None:
        _row(table, Text("CONFLUENCE", style="bold grey50"), Text("n/a", style="grey50"), "", "", "", gauge(None), "")
    else:
        _row(table, Text("CONFLUENCE", style="bold"), Text(f"{signal.score:.2f}", style="bold"), "",
                      f"{sum(impacts):.1f}", f"{sum(divs):+.1f}", gauge(signal.score, "▒"), f"{signal.confidence:.2f}")
    pending = getattr(signal, "pending", None)
    waiting = "" if pending is None else f" ({pending[0]} wanted for {pending[1]:.0f} s of {pending[2]:.0f} s)"
    table.caption = (f"  signal {signal.side}{waiting}" + "".join(f"\n  · {r}" for r in signal.reasons)
                     + "".join(f"\n  {r.face}: {r.reason}" for r in missing))
    table.caption_justify = "left"
    return table


def render_signal_text(signal: Signal, face: str | None = None, *, color: bool = False, width: int = 100) -> str:
    """Plain (or ANSI-coloured) text of the tables: face None -> the confluence table only; "all" ->
    every face table then the confluence; a face name -> that face's table. An unknown name raises
    ValueError naming the faces present."""
    if face is None:
        parts = [confluence_table(signal)]
    elif face == "all":
        parts = [face_table(r, signal.symbol) for r in signal.faces.values()] + [confluence_table(signal)]
    elif face in signal.faces:
        parts = [face_table(signal.faces[face], signal.symbol)]
    else:
        raise ValueError(f"no face named {face!r} (faces: {', '.join(signal.faces)}, or 'all')")
    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system="standard" if color else None, force_terminal=color,
                      legacy_windows=False, emoji=False, highlight=False)
    console.print(Group(*[item for p in parts for item in (p, Text(""))]))
    return buf.getvalue()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def analyze_json(signal: Signal) -> dict[str, Any]:
    """The `virtuoso analyze --json` shape: symbol, confluence, signal, confidence, reasons, and per face
    score/confidence/weight/components{score, weight, impact, div, raw} (n/a: null score)."""
    faces = {}
    for name, r in signal.faces.items():
        comps = {}
        for c in r.components:
            live = c.score is not None and c.weight > 0
            comps[c.name] = {"score": c.score, "weight": c.weight, "impact": c.weight * c.final if live else None,
                             "div": c.div, "raw": _jsonable(c.raw), "detail": c.detail,
                             "by_timeframe": _jsonable(c.by_timeframe)}
        faces[name] = {"score": r.score, "confidence": r.confidence, "weight": r.weight, "reason": r.reason,
                       "components": comps}
    return {"symbol": signal.symbol, "ts": signal.ts, "confluence": signal.score, "signal": signal.side,
            "confidence": signal.confidence, "reasons": list(signal.reasons), "faces": _jsonable(faces)}
