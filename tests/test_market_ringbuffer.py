"""RingBuffer: hand-worked contents, agreement with a plain list after many wraps, bounded memory,
cached read-only views, and one clear error per bad input."""

from __future__ import annotations

import numpy as np
import pytest

from virtuoso_tui.market.ringbuffer import RingBuffer

COLS = {"ts": np.int64, "price": np.float64}


def test_hand_worked_wrap():
    rb = RingBuffer(COLS, capacity=3)
    for i in range(1, 6):
        rb.append(ts=i * 1000, price=i + 0.5)
    assert len(rb) == 3 and rb.capacity == 3 and rb.total == 5
    assert rb.column("ts").tolist() == [3000, 4000, 5000]
    assert rb.column("price").tolist() == [3.5, 4.5, 5.5]
    assert rb.column("ts").dtype == np.int64 and rb.column("price").dtype == np.float64
    assert rb.last("price") == 5.5 and rb.row(0) == {"ts": 3000, "price": 3.5}


@pytest.mark.parametrize("capacity", [1, 2, 5, 7, 64])
def test_matches_a_plain_list_over_ten_times_capacity(capacity):
    rng = np.random.default_rng(capacity)
    rb = RingBuffer(COLS, capacity)
    ref: list[tuple[int, float]] = []
    i = 0
    while rb.total < 10 * capacity + 3:
        if rng.random() < 0.3:  # a chunk through extend, sometimes longer than the capacity
            n = int(rng.integers(0, 2 * capacity + 2))
            ts = np.arange(i, i + n, dtype=np.int64)
            price = rng.random(n)
            rb.extend(ts=ts, price=price)
            ref.extend(zip(ts.tolist(), price.tolist(), strict=True))
            i += n
        else:
            p = float(rng.random())
            rb.append_values(i, p) if i % 2 else rb.append(ts=i, price=p)
            ref.append((i, p))
            i += 1
        want = ref[-capacity:]
        assert len(rb) == len(want)
        assert rb.column("ts").tolist() == [t for t, _ in want]
        assert rb.column("price").tolist() == [p for _, p in want]
        assert rb.column("ts").flags.c_contiguous
    assert rb.total == len(ref)


def test_memory_is_bounded_and_preallocated():
    rb = RingBuffer(COLS, capacity=1000)
    before = rb.nbytes
    arrays = [rb._cols[n] for n in rb.names]
    for i in range(10_000):
        rb.append_values(i, float(i))
    assert len(rb) == 1000 and rb.total == 10_000
    assert rb.nbytes == before == 2 * 1000 * (8 + 8)
    assert all(a is b for a, b in zip(arrays, (rb._cols[n] for n in rb.names), strict=True))  # never reallocated
    assert rb.column("ts")[0] == 9000 and rb.column("ts")[-1] == 9999


def test_views_are_cached_read_only_and_refreshed_on_append():
    rb = RingBuffer(COLS, capacity=4)
    rb.append(ts=1, price=1.0)
    first = rb.column("price")
    assert rb.column("price") is first  # the faces' repeated reads cost a dict lookup
    with pytest.raises(ValueError):
        first[0] = 5.0
    rb.append(ts=2, price=2.0)
    assert rb.column("price") is not first and rb.column("price").tolist() == [1.0, 2.0]
    rb.replace_last(price=3.0)
    assert rb.column("price").tolist() == [1.0, 3.0]
    rb.clear()
    assert len(rb) == 0 and rb.last("ts") is None and rb.total == 2


def test_bad_input_gives_one_clear_error():
    with pytest.raises(ValueError, match="capacity"):
        RingBuffer(COLS, 0)
    with pytest.raises(ValueError, match="at least one column"):
        RingBuffer({}, 3)
    rb = RingBuffer(COLS, 3)
    with pytest.raises(ValueError, match="missing \\['price'\\]"):
        rb.append(ts=1)
    with pytest.raises(ValueError, match="expected 2 values"):
        rb.append_values(1)
    with pytest.raises(ValueError, match="equal length"):
        rb.extend(ts=np.arange(3), price=np.arange(2.0))
    with pytest.raises(KeyError, match="unknown column"):
        rb.column("volume")
    with pytest.raises(IndexError):
        rb.replace_last(price=1.0)
    assert len(rb) == 0 and rb.total == 0  # failed calls wrote nothing
