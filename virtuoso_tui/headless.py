"""Headless mode (`virtuoso --no-ui`): engine events as JSON lines (or text) on stdout, logs on stderr,
commands from stdin when stdin is not a terminal.

Every line is one JSON object with a "type" (the bus topic): candle, signal, alert, order, fill,
position, health, error, command, lifecycle. With `--format text` each event is one readable line, and a
signal whose side changed is followed by its confluence DIV table (the renderer the TUI and `analyze` use). Raw trades and book updates are not printed unless asked
for with `--events`, since they arrive hundreds of times a second.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import logging
import math
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from virtuoso_tui.bus import EventBus

log = logging.getLogger(__name__)

DEFAULT_EVENTS = (
    "candle", "signal", "alert", "order", "fill", "position", "health", "error", "command", "lifecycle",
)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _plain(value.item())
    return value


def signal_record(signal: Any) -> dict[str, Any]:
    """The compact form of a Signal for one JSON line: scores per face, not every DIV row."""
    return {
        "symbol": signal.symbol,
        "ts": signal.ts,
        "score": _plain(signal.score),
        "side": signal.side,
        "confidence": _plain(signal.confidence),
        "faces": {
            name: {"score": _plain(face.score), "confidence": _plain(face.confidence)}
            for name, face in signal.faces.items()
        },
        "reasons": list(signal.reasons),
        # a side the thresholds give that has not held for confirm_s yet
        "pending": None if getattr(signal, "pending", None) is None else dict(
            zip(("side", "held_s", "needed_s"), signal.pending, strict=True)),
    }


def to_record(topic: str, payload: Any) -> dict[str, Any]:
    if topic == "signal" and hasattr(payload, "faces"):
        body = signal_record(payload)
    else:
        body = _plain(payload)
        if not isinstance(body, dict):
            body = {"value": body}
        if "type" in body:  # an order's own type (market, limit...) must not hide the topic
            body["order_type"] = body.pop("type")
    return {"type": topic, **body}


class HeadlessPrinter:
    """Subscribes to the bus and writes one line per event."""

    def __init__(self, bus: EventBus, out: TextIO, *, fmt: str = "jsonl", events: Iterable[str] = DEFAULT_EVENTS):
        self.out = out
        self.fmt = fmt
        self.events = set(events)
        for topic in self.events:
            bus.subscribe(topic, self.write)

    def write(self, topic: str, payload: Any) -> None:
        record = to_record(topic, payload)
        if self.fmt == "jsonl":
            line = json.dumps(record, separators=(",", ":"), default=str)
        else:
            line = format_text(record)
            if topic == "signal" and getattr(payload, "changed", False):
                # a new side is worth the whole story: the confluence DIV table, same renderer as the TUI
                from virtuoso_tui.prism.render import render_signal_text

                line += "\n" + render_signal_text(payload).rstrip()
        try:
            self.out.write(line + "\n")
            self.out.flush()
        except BrokenPipeError:  # the reader went away (`| head`): nothing more to say
            pass


def format_text(record: dict[str, Any]) -> str:
    kind = record["type"]
    if kind == "signal":
        faces = " ".join(
            f"{name}={face['score']:.1f}" if face["score"] is not None else f"{name}=n/a"
            for name, face in record["faces"].items()
        )
        score = "n/a" if record["score"] is None else f"{record['score']:.1f}"
        pending = record.get("pending")
        waiting = "" if pending is None else f" (→{pending['side']} in {pending['needed_s'] - pending['held_s']:.0f}s)"
        return (f"signal {record['symbol']} {record['side']:<7} {score}{waiting} conf={record['confidence']:.2f} "
                f"{faces}")
    if kind == "candle":
        return (f"candle {record['symbol']} {record['timeframe']} {record['ts']} o={record['open']:g} "
                f"h={record['high']:g} l={record['low']:g} c={record['close']:g} v={record['volume']:g}")
    rest = " ".join(f"{k}={v}" for k, v in record.items() if k != "type")
    return f"{kind} {rest}"


async def read_commands(engine: Any, stream: TextIO | None = None) -> None:
    """Feed stdin lines to the engine's command language until EOF; each result is a bus event."""
    stream = stream or sys.stdin
    loop = asyncio.get_running_loop()
    while not engine.stopping:
        line = await loop.run_in_executor(None, stream.readline)
        if not line:
            return
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            result = engine.execute(line)
        except Exception as exc:  # noqa: BLE001 - a bad command is a message, never a crash
            engine.bus.publish("error", {"message": str(exc), "command": line})
            continue
        if getattr(result, "ok", True):  # a refused command has already published its error
            engine.bus.publish("command", {"command": line, "result": getattr(result, "message", _plain(result))})
