"""The event bus: how the engine tells views (TUI, headless printer, recorder, plugins) what happened.

Publishing is synchronous and cheap: a topic's subscribers are called in subscription order. A
subscriber that raises is reported on the "error" topic and stays subscribed; a view can never stop
the engine. Views never compute: they render what arrives here.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Subscriber = Callable[[str, Any], None]

#: Topics the engine publishes (see docs/architecture.md for payload types).
TOPICS = (
    "trade", "candle", "book", "ticker", "funding", "open_interest", "liquidation", "long_short",
    "signal", "alert", "order", "fill", "position", "health", "error", "command", "lifecycle",
)


class EventBus:
    def __init__(self) -> None:
        self._subs: dict[str, list[Subscriber]] = defaultdict(list)
        self._all: list[Subscriber] = []
        self.published: dict[str, int] = defaultdict(int)

    def subscribe(self, topic: str, fn: Subscriber) -> Callable[[], None]:
        """Call `fn(topic, payload)` for `topic` ("*" for every topic). Returns an unsubscribe function."""
        target = self._all if topic == "*" else self._subs[topic]
        target.append(fn)

        def unsubscribe() -> None:
            if fn in target:
                target.remove(fn)

        return unsubscribe

    def has_subscribers(self, topic: str) -> bool:
        return bool(self._all or self._subs.get(topic))

    def publish(self, topic: str, payload: Any) -> None:
        self.published[topic] += 1
        subs = self._subs.get(topic)
        if subs:
            for fn in tuple(subs):
                self._deliver(fn, topic, payload)
        for fn in tuple(self._all):
            self._deliver(fn, topic, payload)

    def _deliver(self, fn: Subscriber, topic: str, payload: Any) -> None:
        try:
            fn(topic, payload)
        except Exception as exc:  # noqa: BLE001 - a view must not stop the engine
            log.exception("subscriber %r failed on %s", fn, topic)
            if topic != "error":
                self.publish("error", {"message": f"a subscriber failed on {topic}: {exc}", "source": repr(fn)})
