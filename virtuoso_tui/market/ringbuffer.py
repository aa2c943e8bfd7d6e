"""Fixed-capacity columnar ring buffer: the storage under candles, trades and every time series.

Each column is one preallocated numpy array of 2 x capacity rows that is never reallocated. Rows are
written one after another; when the write position reaches the end of the allocation, the newest
`capacity` rows are moved to the front (one memmove per `capacity` appends, amortised O(1)). This keeps
the live rows contiguous at all times, so `column(name)` is a zero-copy slice, oldest -> newest,
that indicators (TA-Lib) can take directly. The doubled allocation is the price of never copying on
read: faces read the same columns many times per tick, appends happen once per event.

Neighbours: CandleSeries (candles.py), TradeWindow (trades.py) and TimeSeries (series.py) wrap one
buffer each; MarketState (state.py) owns them all.

Arrays returned by `column()` are READ-ONLY views, cached until the next write. A view taken before a
later append stays correct until the buffer compacts (at most `capacity` appends later); a caller that
keeps data across ticks must copy it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


class RingBuffer:
    """Preallocated numpy columns holding the newest `capacity` rows.

    `columns` maps a column name to its dtype (float64 for prices and sizes, int64 for ms timestamps).
    Memory is bounded: 2 x capacity rows per column, allocated once.
    """

    __slots__ = ("_cols", "_names", "_capacity", "_alloc", "_start", "_end", "_total", "_views", "_arrays")

    def __init__(self, columns: Mapping[str, np.dtype | type | str], capacity: int) -> None:
        if not columns:
            raise ValueError("a RingBuffer needs at least one column")
        if int(capacity) < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity!r}")
        self._capacity = int(capacity)
        self._alloc = 2 * self._capacity
        self._names: tuple[str, ...] = tuple(columns)
        self._cols: dict[str, np.ndarray] = {
            name: np.zeros(self._alloc, dtype=np.dtype(dtype)) for name, dtype in columns.items()
        }
        # Column arrays in `_names` order, for the positional fast path.
        self._arrays: tuple[np.ndarray, ...] = tuple(self._cols[n] for n in self._names)
        self._start = 0  # index of the oldest live row
        self._end = 0  # one past the newest live row
        self._total = 0
        self._views: dict[str, np.ndarray] = {}

    # -- size -------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._end - self._start

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def total(self) -> int:
        """Rows ever appended (including those that have since fallen out)."""
        return self._total

    @property
    def names(self) -> tuple[str, ...]:
        return self._names

    @property
    def nbytes(self) -> int:
        """Bytes held by the column arrays (the whole allocation, live or not)."""
        return sum(a.nbytes for a in self._arrays)

    # -- writing ----------------------------------------------------------------------------------
    def _slot(self) -> int:
        """Index to write the next row at, compacting and dropping the oldest row as needed."""
        if self._end == self._alloc:
            # Move the newest capacity-1 rows to the front; the new row goes right after them.
            keep = min(self._end - self._start, self._capacity - 1)
            lo = self._end - keep
            for a in self._arrays:
                a[:keep] = a[lo:self._end]
            self._start, self._end = 0, keep
        i = self._end
        self._end = i + 1
        if self._end - self._start > self._capacity:
            self._start += 1
        self._total += 1
        if self._views:
            self._views = {}
        return i

    def append(self, **row: float) -> None:
        """Append one row; every column must be given (a ValueError names the missing ones)."""
        if len(row) != len(self._names) or row.keys() != self._cols.keys():
            missing = [n for n in self._names if n not in row]
            extra = [n for n in row if n not in self._cols]
            raise ValueError(f"row must give exactly the columns {self._names}; missing {missing}, unknown {extra}")
        i = self._slot()
        cols = self._cols
        for name, value in row.items():
            cols[name][i] = value

    def append_values(self, *values: float) -> None:
        """Append one row given positionally in column order (the hot-path form of `append`)."""
        if len(values) != len(self._arrays):
            raise ValueError(f"expected {len(self._arrays)} values ({self._names}), got {len(values)}")
        i = self._slot()
        for a, v in zip(self._arrays, values, strict=True):
            a[i] = v

    def extend(self, **arrays: np.ndarray) -> None:
        """Append many rows at once; all columns, equal lengths. Only the newest `capacity` are kept."""
        if arrays.keys() != self._cols.keys():
            raise ValueError(f"extend needs exactly the columns {self._names}, got {tuple(arrays)}")
        lengths = {len(np.atleast_1d(v)) for v in arrays.values()}
        if len(lengths) != 1:
            raise ValueError(f"extend needs columns of equal length, got lengths {sorted(lengths)}")
        n = lengths.pop()
        if n == 0:
            return
        self._total += n
        self._views = {}
        cap = self._capacity
        if n >= cap:
            for name, v in arrays.items():
                self._cols[name][:cap] = np.asarray(v)[n - cap:]
            self._start, self._end = 0, cap
            return
        if self._end + n > self._alloc:
            keep = min(len(self), cap - n)
            lo = self._end - keep
            for a in self._arrays:
                a[:keep] = a[lo:self._end]
            self._start, self._end = 0, keep
        i = self._end
        for name, v in arrays.items():
            self._cols[name][i:i + n] = np.asarray(v)
        self._end = i + n
        if self._end - self._start > cap:
            self._start = self._end - cap

    def replace_last(self, **row: float) -> None:
        """Overwrite columns of the newest row (a corrected candle). Unknown names raise ValueError."""
        if self._end == self._start:
            raise IndexError("replace_last on an empty RingBuffer")
        for name, value in row.items():
            try:
                self._cols[name][self._end - 1] = value
            except KeyError:
                raise ValueError(f"unknown column {name!r} (columns: {self._names})") from None
        self._views = {}

    def clear(self) -> None:
        """Forget every row (the allocation is kept; `total` is kept)."""
        self._start = self._end = 0
        self._views = {}

    # -- reading ----------------------------------------------------------------------------------
    def column(self, name: str) -> np.ndarray:
        """The live rows of `name`, oldest -> newest, as a contiguous read-only view (cached)."""
        view = self._views.get(name)
        if view is None:
            try:
                view = self._cols[name][self._start:self._end]
            except KeyError:
                raise KeyError(f"unknown column {name!r} (columns: {self._names})") from None
            view.flags.writeable = False
            self._views[name] = view
        return view

    def last(self, name: str, default: float | None = None) -> float | None:
        """The newest value of `name` as a Python scalar, or `default` when empty."""
        if self._end == self._start:
            return default
        return self._cols[name][self._end - 1].item()

    def row(self, index: int = -1) -> dict[str, float]:
        """One row as a dict of Python scalars (index counts like a list: 0 oldest, -1 newest)."""
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"row {index} out of range for {n} rows")
        i = self._start + (index % n)
        return {name: a[i].item() for name, a in zip(self._names, self._arrays, strict=True)}
