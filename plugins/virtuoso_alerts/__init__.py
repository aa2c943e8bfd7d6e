"""Built-in alert rules and sinks.

Rules: `signal_flip` (a symbol's signal changes side: NEUTRAL -> LONG, LONG -> SHORT, ...), and
`extreme_score` (the confluence enters the top or bottom `extreme` points, `[plugins.alerts] extreme`,
default 20: above 80 or below 20).
Sink: `jsonl_file` writes each alert as a JSON line to `[plugins.alerts] file` when set.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict

from virtuoso_tui import hookimpl
from virtuoso_tui.model import Alert
from virtuoso_tui.monitor import AlertRule, AlertSink

__version__ = "0.1.0"


class SignalFlip(AlertRule):
    name = "signal_flip"

    def check(self, signal, previous):
        if previous is None or previous.side == signal.side:
            return None
        level = "info" if signal.side == "NEUTRAL" else "warning"
        score = "n/a" if signal.score is None else f"{signal.score:.1f}"
        why = f" ({'; '.join(signal.reasons[:2])})" if signal.reasons else ""
        return Alert(signal.ts, level, f"{signal.symbol} {previous.side} -> {signal.side} at {score}{why}",
                     source=self.name, symbol=signal.symbol)


class ExtremeScore(AlertRule):
    name = "extreme_score"

    def __init__(self, extreme: float = 20.0) -> None:
        self.extreme = extreme

    def _zone(self, score):
        if score is None:
            return 0
        if score >= 100 - self.extreme:
            return 1
        if score <= self.extreme:
            return -1
        return 0

    def check(self, signal, previous):
        zone = self._zone(signal.score)
        if zone == 0 or (previous is not None and self._zone(previous.score) == zone):
            return None
        word = "bullish" if zone > 0 else "bearish"
        return Alert(signal.ts, "warning", f"{signal.symbol} confluence {signal.score:.1f}: extreme {word}",
                     source=self.name, symbol=signal.symbol)


class JsonlFileSink(AlertSink):
    name = "jsonl_file"

    def __init__(self, path: str) -> None:
        self.path = os.path.expanduser(path)

    def send(self, alert):
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(asdict(alert), default=str) + "\n")


@hookimpl
def virtuoso_alert_rules(config):
    return [SignalFlip(), ExtremeScore(float(config.get("extreme", 20.0)))]


@hookimpl
def virtuoso_alert_sinks(config):
    path = config.get("file", "")
    return [JsonlFileSink(path)] if path else []
