"""TimeSeries: a small ring of timestamped observations - funding rates, open interest, liquidations,
long/short ratios - for the sentiment and positioning faces.

`ts` is int64 ms UTC; every other column is float64 with NaN for a value the source did not give
(missing is missing). Observations are kept in time order: one older than the newest held is dropped
(`append` returns False); equal timestamps are kept (several liquidations in one millisecond).
MarketState (state.py) owns one per kind and fills it from the model records.
"""

from __future__ import annotations

import numpy as np

from virtuoso_tui.market.ringbuffer import RingBuffer

_NAN = float("nan")


class TimeSeries:
    """Ring of (ts, columns...) rows; columns are read as attributes (`oi.amount`) or `column(name)`."""

    def __init__(self, columns: tuple[str, ...], capacity: int = 5000) -> None:
        if "ts" in columns:
            raise ValueError("'ts' is implicit in a TimeSeries; name only the value columns")
        if len(set(columns)) != len(columns) or not columns:
            raise ValueError(f"TimeSeries needs distinct column names, got {columns!r}")
        self.columns = tuple(columns)
        spec: dict[str, type] = {"ts": np.int64}
        spec.update({c: np.float64 for c in columns})
        self._buf = RingBuffer(spec, capacity)

    def append(self, ts: int, **values: float | None) -> bool:
        """Add an observation; unknown names raise ValueError, omitted or None values are NaN.
        Returns False (and stores nothing) when `ts` is older than the newest held observation."""
        unknown = [k for k in values if k not in self.columns]
        if unknown:
            raise ValueError(f"unknown columns {unknown} (columns: {self.columns})")
        last = self._buf.last("ts")
        if last is not None and ts < last:
            return False
        row = [ts]
        for c in self.columns:
            v = values.get(c)
            row.append(_NAN if v is None else v)
        self._buf.append_values(*row)
        return True

    def __len__(self) -> int:
        return len(self._buf)

    @property
    def capacity(self) -> int:
        return self._buf.capacity

    @property
    def total(self) -> int:
        return self._buf.total

    @property
    def nbytes(self) -> int:
        return self._buf.nbytes

    @property
    def ts(self) -> np.ndarray:
        return self._buf.column("ts")

    def column(self, name: str) -> np.ndarray:
        return self._buf.column(name)

    def __getattr__(self, name: str) -> np.ndarray:
        # only reached for names that are not real attributes: the value columns
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._buf.column(name)
        except KeyError:
            raise AttributeError(f"TimeSeries has no column {name!r} (columns: {self.columns})") from None

    def last(self, name: str) -> float | None:
        """Newest value of `name` (None when empty; NaN when that observation lacked it)."""
        return self._buf.last(name)

    def since(self, ts: int) -> int:
        """Index of the first observation with timestamp >= ts (len(self) when none)."""
        return int(np.searchsorted(self._buf.column("ts"), ts, side="left"))
