"""Candle loading for the backtester: every layout in ../shared/data, warnings, errors, --from/--to."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from virtuoso_tui.backtest.data import (
    DataError,
    detect_layout,
    from_arrays,
    from_storage,
    guess_symbol,
    load_candles,
    load_funding,
    parse_time,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
OHLCV = DATA / "ohlcv"


def _reference(path: Path) -> pd.DataFrame:
    """An independent pandas read of the freqtrade feather (the layout's documented columns)."""
    return pd.read_feather(path)


def test_freqtrade_feather_matches_pandas_read():
    path = OHLCV / "binance-spot-2024" / "BTC_USDT-1h.feather"
    c = load_candles(path)
    ref = _reference(path)
    assert detect_layout(path) == "freqtrade-feather"
    assert len(c) == 5980 and c.timeframe == "1h" and not c.warnings
    assert c.ts.dtype == np.int64 and c.close.dtype == np.float64
    assert c.ts[0] == 1704067200000  # 2024-01-01 00:00 UTC, per the data README
    assert np.array_equal(c.ts, ref["date"].astype("int64").to_numpy() // 10**6)
    np.testing.assert_array_equal(c.close, ref["close"].to_numpy())


def test_json_gz_and_feather_hold_the_same_candles():
    a = load_candles(OHLCV / "freqtrade" / "XRP_USDT_USDT-1h-futures.json.gz")
    b = load_candles(OHLCV / "freqtrade" / "XRP_USDT_USDT-1h-futures.feather")
    assert detect_layout(OHLCV / "freqtrade" / "XRP_USDT_USDT-1h-futures.json.gz") == "freqtrade-json"
    assert len(a) == len(b) == 100
    np.testing.assert_array_equal(a.ts, b.ts)
    for col in ("open", "high", "low", "close", "volume"):
        np.testing.assert_allclose(getattr(a, col), getattr(b, col), rtol=1e-12)


def test_nautilus_csv_with_timestamp_header():
    c = load_candles(OHLCV / "nautilus" / "btc-perp-20211231-20220201_1m.csv")
    assert len(c) == 45031 and c.timeframe == "1m"
    assert c.ts[0] == int(pd.Timestamp("2021-12-31 23:01", tz="UTC").value // 10**6)
    assert c.open[0] == 46319.0 and c.close[0] == 46377.0


def test_finta_csv_with_shuffled_columns_and_gaps_reported():
    c = load_candles(OHLCV / "finta" / "bittrex_btc-usdt.csv")
    assert len(c) == 874 and c.timeframe == "1d"
    # first row: close,high,low,open,date,volume = 420,420,420,420,2015-12-12,...
    assert (c.open[0], c.close[0]) == (420.0, 420.0)
    assert c.ts[1] == parse_time("2015-12-15")
    gaps = [w for w in c.warnings if w.kind == "gap"]
    assert gaps and gaps[0].ts == parse_time("2015-12-12") and gaps[0].count == 2  # 13th and 14th missing
    assert len(c) == 874  # nothing filled in


def test_poloniex_records_with_unix_seconds():
    c = load_candles(OHLCV / "finta" / "poloniex_xrp-btc.json")
    assert detect_layout(OHLCV / "finta" / "poloniex_xrp-btc.json") == "records-json"
    assert len(c) == 90 and c.timeframe == "1d"
    assert c.ts[0] == 1549584000 * 1000 and c.close[0] == 8.534e-05


def test_headerless_binance_klines():
    c = load_candles(OHLCV / "nautilus" / "ADABTC-1m-2021-11-27.csv")
    assert detect_layout(OHLCV / "nautilus" / "ADABTC-1m-2021-11-27.csv") == "binance-kline-csv"
    assert len(c) == 10 and c.ts[0] == 1637971200000 and c.close[0] == 0.00002854


def test_duplicates_keep_first_and_warn(tmp_path, caplog):
    path = tmp_path / "dup.csv"
    path.write_text("timestamp,open,high,low,close,volume\n"
                    "2024-01-01 00:00,1,2,0.5,1.5,10\n"
                    "2024-01-01 00:01,1.5,2,1,1.8,11\n"
                    "2024-01-01 00:01,9,9,9,9,99\n"
                    "2024-01-01 00:02,1.8,2,1.7,1.9,12\n")
    with caplog.at_level(logging.WARNING):
        c = load_candles(path)
    assert len(c) == 3 and c.close.tolist() == [1.5, 1.8, 1.9]
    dup = [w for w in c.warnings if w.kind == "duplicate"]
    assert len(dup) == 1 and dup[0].count == 1 and dup[0].ts == parse_time("2024-01-01T00:01")
    assert "duplicate" in caplog.text


def test_missing_prices_dropped_and_named_unsorted_sorted():
    ts = np.array([3, 1, 2, 4], dtype=np.int64) * 60_000 + 1_700_000_040_000
    cols = {"open": [1.0, 1.0, np.nan, 1.0], "high": [1.0] * 4, "low": [1.0] * 4, "close": [3.0, 1.0, 2.0, 4.0],
            "volume": [1.0] * 4}
    c = from_arrays(ts, cols, timeframe="1m")
    kinds = [w.kind for w in c.warnings]
    assert kinds[:2] == ["missing_price", "unsorted"]
    assert c.close.tolist() == [1.0, 3.0, 4.0]
    assert "gap" in kinds  # the dropped row leaves a gap, which is reported, not filled


@pytest.mark.parametrize("content,why", [
    ("", "empty"),
    ("timestamp,open,high,low\n2024-01-01,1,1,1\n", "'close'"),
    ("open,high,low,close\n1,1,1,1\n", "time column"),
])
def test_unreadable_files_raise_one_clear_error(tmp_path, content, why):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError) as err:
        load_candles(path)
    assert str(path) in str(err.value) and why in str(err.value)


def test_corrupt_gzip_and_missing_file(tmp_path):
    bad = tmp_path / "x.json.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="x.json.gz"):
        load_candles(bad)
    with pytest.raises(DataError, match="no such file"):
        load_candles(tmp_path / "missing.feather")
    weird = tmp_path / "rows.json"
    weird.write_text(json.dumps([[1, 2, 3]]))
    with pytest.raises(DataError, match="rows.json"):
        load_candles(weird)


def test_from_to_filter_is_inclusive():
    path = OHLCV / "binance-spot-2024" / "BTC_USDT-4h.feather"
    c = load_candles(path, start_ms=parse_time("2024-02-01"), end_ms=parse_time("2024-02-02"))
    assert c.ts[0] == parse_time("2024-02-01") and c.ts[-1] == parse_time("2024-02-02")
    assert len(c) == 7


def test_parse_time_and_symbol_guess():
    assert parse_time("2024-01-01") == 1704067200000
    assert parse_time("1704067200") == 1704067200000  # seconds
    assert parse_time("1704067200000") == 1704067200000
    with pytest.raises(DataError):
        parse_time("yesterday")
    assert guess_symbol("BTC_USDT-1h.feather") == "BTC/USDT"
    assert guess_symbol("BTC_USDT_USDT-1h-futures.feather") == "BTC/USDT:USDT"
    assert guess_symbol("btc-perp-20211231-20220201_1m.csv") == ""


def test_funding_rates_from_freqtrade_file():
    ts, rate = load_funding(DATA / "derivatives" / "binance-usdm-futures" / "BTC_USDT_USDT-1h-funding_rate.feather")
    ref = pd.read_feather(DATA / "derivatives" / "binance-usdm-futures" / "BTC_USDT_USDT-1h-funding_rate.feather")
    assert len(ts) == 7323 and np.all(np.diff(ts) > 0)
    np.testing.assert_array_equal(rate, ref["open"].to_numpy())


def test_from_storage_round_trip():
    storage_mod = pytest.importorskip("virtuoso_tui.storage")
    from virtuoso_tui.model import Candle

    src = load_candles(OHLCV / "binance-spot-2024" / "BTC_USDT-1d.feather", symbol="BTC/USDT")
    store = storage_mod.Storage(":memory:")
    try:
        rows = zip(src.ts.tolist(), src.open.tolist(), src.high.tolist(), src.low.tolist(), src.close.tolist(),
                   src.volume.tolist(), strict=True)
        store.write_candles(Candle("BTC/USDT", "1d", int(t), o, h, lo, c, v) for t, o, h, lo, c, v in rows)
        store.flush()
        got = from_storage(store, "BTC/USDT", "1d", end_ms=int(src.ts[9]))
        assert len(got) == 10 and got.ts[-1] == src.ts[9]
        np.testing.assert_array_equal(got.close, src.close[:10])
        with pytest.raises(DataError, match="ETH/USDT"):
            from_storage(store, "ETH/USDT", "1d")
    finally:
        store.close()
