"""The recorder: stores the market data a session sees, so it can be replayed and backtested.

Subscribes to the bus's market topics and writes every trade, book snapshot and delta, closed
candle, funding, open interest, liquidation and long/short record to the database in batches (one
transaction per batch: a crash loses at most the last batch, never half of one). `virtuoso record`
runs it headless for a duration; the `replay` source plays the database back.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from virtuoso_tui.bus import EventBus

#: bus topic -> the storage record kind it belongs to
TOPIC_KINDS = {
    "trade": "trades", "book": "books", "candle": "candles", "funding": "funding",
    "open_interest": "open_interest", "liquidation": "liquidations", "long_short": "long_short",
}
MARKET_KINDS = tuple(dict.fromkeys(TOPIC_KINDS.values()))


class Recorder:
    def __init__(self, bus: EventBus, storage: Any, *, kinds: Iterable[str] = MARKET_KINDS,
                 batch: int = 5_000, max_delay_s: float = 1.0, source: str = "",
                 candle_timeframe: str = "1m") -> None:
        self.storage = storage
        self.kinds = set(kinds)
        unknown = self.kinds - set(MARKET_KINDS)
        if unknown:
            raise ValueError(f"cannot record {sorted(unknown)[0]!r} (recordable: {', '.join(MARKET_KINDS)})")
        self.batch = batch
        self.max_delay_s = max_delay_s
        self.source = source
        self.counts: dict[str, int] = dict.fromkeys(self.kinds, 0)
        self._buffer: list[Any] = []
        self._last = time.monotonic()
        self._unsubscribe = [
            bus.subscribe(topic, self._on_event) for topic, kind in TOPIC_KINDS.items() if kind in self.kinds
        ]
        # only base-timeframe candles are stored: higher ones are rebuilt from them on replay
        self.candle_timeframe = candle_timeframe

    def _on_event(self, topic: str, record: Any) -> None:
        if topic == "candle" and record.timeframe != self.candle_timeframe:
            return
        self._buffer.append(record)
        self.counts[TOPIC_KINDS[topic]] += 1
        if len(self._buffer) >= self.batch or time.monotonic() - self._last >= self.max_delay_s:
            self.flush()

    def flush(self) -> None:
        self._last = time.monotonic()
        if not self._buffer:
            return
        records, self._buffer = self._buffer, []
        with self.storage.transaction():
            for record in records:
                self.storage.record(record, source=self.source)

    def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self.flush()
