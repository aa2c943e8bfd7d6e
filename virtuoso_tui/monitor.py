"""The monitor: alert rules evaluated on every confluence signal, and sinks that deliver alerts.

Rules and sinks come from plugins (`virtuoso_alert_rules`, `virtuoso_alert_sinks`). Every alert goes
on the bus ("alert" topic: the TUI's log pane, headless output), into the database, and to each sink.
A rule or sink that raises is isolated by the plugin host and the others carry on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from virtuoso_tui.model import Alert

if TYPE_CHECKING:
    from virtuoso_tui.bus import EventBus
    from virtuoso_tui.plugins import PluginHost
    from virtuoso_tui.prism.face import Signal


class AlertRule:
    """A condition on signals. `check` returns an Alert or None; `previous` is the symbol's last signal."""

    name: ClassVar[str] = ""

    def check(self, signal: Signal, previous: Signal | None) -> Alert | None:
        raise NotImplementedError


class AlertSink:
    """A destination for alerts (a file, a webhook, a desktop notification)."""

    name: ClassVar[str] = ""

    def send(self, alert: Alert) -> None:
        raise NotImplementedError


class Monitor:
    def __init__(self, host: PluginHost, bus: EventBus, storage: Any = None) -> None:
        self.host = host
        self.bus = bus
        self.storage = storage
        self.rules = host.collect("virtuoso_alert_rules")
        self.sinks = host.collect("virtuoso_alert_sinks")
        self._previous: dict[str, Signal] = {}
        bus.subscribe("signal", self.on_signal)
        bus.subscribe("alert", self.deliver)

    def on_signal(self, _topic: str, signal: Signal) -> None:
        previous = self._previous.get(signal.symbol)
        self._previous[signal.symbol] = signal
        for plugin, rule in self.rules:
            ok, alert = self.host.guard(plugin, f"alert rule {rule.name!r}", rule.check, signal, previous)
            if ok and alert is not None:
                self.bus.publish("alert", alert)

    def deliver(self, _topic: str, alert: Any) -> None:
        if not isinstance(alert, Alert):
            return
        if self.storage is not None:
            self.storage.write_alert(alert)
        for plugin, sink in self.sinks:
            self.host.guard(plugin, f"alert sink {sink.name!r}", sink.send, alert)
