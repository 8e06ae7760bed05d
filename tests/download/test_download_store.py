"""The Parquet bar store: round trips, merge rules, coverage, listing, atomic writes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from edgelab.data import store as store_mod
from edgelab.data.store import (
    BarStore,
    default_root,
    sanitize,
    subtract_spans,
    to_ms,
    union_spans,
)
from edgelab.errors import DataError

H = 3_600_000


def bars(start: str, n: int, *, base: float = 100.0, drop=()) -> pd.DataFrame:
    index = pd.date_range(start, periods=n, freq="h", tz="UTC", name="timestamp")
    close = base + np.arange(n, dtype=float)
    frame = pd.DataFrame(
        {"open": close - 0.5, "high": close + 1, "low": close - 1, "close": close, "volume": 10.0},
        index=index,
    )
    return frame.drop(index[list(drop)])


def test_round_trip_keeps_values_attrs_and_the_real_symbol(store):
    frame = bars("2024-01-01", 48)
    path = store.write(frame, "binance", "BTC/USDT", "1h")
    assert path == store.root / "binance" / "1h" / "BTC_USDT.parquet"
    got = store.read("binance", "BTC/USDT", "1h")
    pd.testing.assert_frame_equal(got, frame, check_freq=False)
    assert got.attrs == {"symbol": "BTC/USDT", "interval": "1h", "source": "binance"}
    meta = json.loads(pq.read_schema(path).metadata[b"edgelab"])
    assert (meta["symbol"], meta["source"], meta["interval"], meta["rows"]) == (
        "BTC/USDT",
        "binance",
        "1h",
        48,
    )


def test_sanitized_names():
    assert sanitize("BTC/USDT") == "BTC_USDT"
    assert sanitize("^GSPC") == "_GSPC"
    assert sanitize("BTC/USDT:USDT") == "BTC_USDT_USDT"
    assert sanitize("EURUSD=X") == "EURUSD_X"
    with pytest.raises(DataError):
        sanitize("..")


def test_two_symbols_sharing_a_file_name_are_refused(store):
    store.write(bars("2024-01-01", 3), "yahoo", "BTC/USD", "1h")
    with pytest.raises(DataError, match="share one sanitized file name"):
        store.write(bars("2024-01-01", 3), "yahoo", "BTC_USD", "1h")
    with pytest.raises(DataError, match="share one sanitized file name"):
        store.read("yahoo", "BTC_USD", "1h")


def test_absent_series_names_the_download_command(store):
    with pytest.raises(DataError, match=r"edgelab data download kraken ETH/EUR 4h"):
        store.read("kraken", "ETH/EUR", "4h")
    store.write(bars("2024-01-01", 3), "binance", "BTC/USDT", "1h")
    with pytest.raises(DataError, match=r"\(did you mean 'BTC/USDT'\?\)"):
        store.read("binance", "BTCUSDT", "1h")


def test_merge_is_a_sorted_unique_union_where_new_rows_win(store):
    store.write(bars("2024-01-01 00:00", 10), "x", "S", "1h")
    newer = bars("2024-01-01 05:00", 10, base=500.0)  # overlaps hours 5..9
    merged = store.merge(newer, "x", "S", "1h")
    got = store.read("x", "S", "1h")
    pd.testing.assert_frame_equal(got, merged, check_freq=False)
    assert len(got) == 15 and got.index.is_unique and got.index.is_monotonic_increasing
    assert got["close"].iloc[:5].tolist() == [100.0, 101.0, 102.0, 103.0, 104.0]
    assert got["close"].iloc[5:].tolist() == [500.0 + i for i in range(10)]
    # merging something older in front keeps everything sorted
    store.merge(bars("2023-12-31 20:00", 2, base=1.0), "x", "S", "1h")
    assert store.read("x", "S", "1h")["close"].iloc[:2].tolist() == [1.0, 2.0]


def test_coverage_reports_holes_outside_verified_spans(store):
    frame = bars("2024-01-01", 24, drop=(5, 6, 7, 20))
    store.write(frame, "x", "S", "1h")  # no spans given: only the contiguous runs count
    cov = store.coverage("x", "S", "1h")
    t = pd.Timestamp("2024-01-01", tz="UTC")
    assert (cov.first, cov.last, cov.rows) == (t, t + pd.Timedelta(hours=23), 20)
    assert cov.missing == [
        (t + pd.Timedelta(hours=5), t + pd.Timedelta(hours=7)),
        (t + pd.Timedelta(hours=20), t + pd.Timedelta(hours=20)),
    ]
    # a source confirms hours 0..12 complete: the first hole is a gap at the source now
    store.merge(frame.iloc[:0], "x", "S", "1h", verified=[(to_ms(t), to_ms(t) + 13 * H)])
    cov = store.coverage("x", "S", "1h")
    assert cov.missing == [(t + pd.Timedelta(hours=20), t + pd.Timedelta(hours=20))]
    # what a downloader would ask for: the hole and the future, snapped to the bar grid
    start = to_ms(t) - 90 * 60_000  # snaps up to the bar at t - 1h
    assert store.missing("x", "S", "1h", start, to_ms(t) + 30 * H) == [
        (to_ms(t) - H, to_ms(t)),
        (to_ms(t) + 20 * H, to_ms(t) + 21 * H),
        (to_ms(t) + 24 * H, to_ms(t) + 30 * H),
    ]
    assert store.missing("x", "T", "1h", 0, 10) == [(0, 10)]  # nothing cached: all of it


def test_span_arithmetic():
    assert union_spans([(5, 8), (0, 3), (3, 4), (7, 9)]) == [(0, 4), (5, 9)]
    assert subtract_spans(0, 10, [(2, 4), (6, 12)]) == [(0, 2), (4, 6)]
    assert subtract_spans(0, 10, []) == [(0, 10)]
    assert subtract_spans(3, 5, [(0, 10)]) == []


def test_list_reports_every_series(store):
    store.write(bars("2024-01-01", 5), "binance", "ETH/USDT", "1h")
    store.write(bars("2024-02-01", 7), "yahoo", "^GSPC", "1h")
    entries = store.list()
    assert [(e.source, e.symbol, e.interval, e.rows) for e in entries] == [
        ("binance", "ETH/USDT", "1h", 5),
        ("yahoo", "^GSPC", "1h", 7),
    ]
    assert entries[1].first == pd.Timestamp("2024-02-01", tz="UTC")
    assert entries[1].last == pd.Timestamp("2024-02-01 06:00", tz="UTC")
    assert BarStore(store.root / "nothing").list() == []


def test_a_failed_write_leaves_the_old_file_whole(store, monkeypatch):
    store.write(bars("2024-01-01", 5), "x", "S", "1h")

    def broken(table, where, **kw):
        with open(where, "wb") as fh:
            fh.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(store_mod.pq, "write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        store.merge(bars("2024-01-01 05:00", 5), "x", "S", "1h")
    monkeypatch.undo()
    assert len(store.read("x", "S", "1h")) == 5
    assert [p.name for p in (store.root / "x" / "1h").iterdir()] == ["S.parquet"]


def test_contract_violations_are_refused_not_repaired(store):
    frame = bars("2024-01-01", 5)
    with pytest.raises(DataError, match="strictly increasing"):
        store.write(frame.iloc[[0, 2, 1, 3]], "x", "S", "1h")
    with pytest.raises(DataError, match="tz-aware"):
        store.write(frame.tz_localize(None), "x", "S", "1h")
    with pytest.raises(DataError, match="missing columns"):
        store.write(frame.drop(columns="volume"), "x", "S", "1h")


def test_root_from_argument_env_or_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGELAB_DATA_DIR", str(tmp_path / "env"))
    assert BarStore().root == tmp_path / "env"
    assert BarStore(tmp_path / "arg").root == tmp_path / "arg"
    monkeypatch.delenv("EDGELAB_DATA_DIR")
    assert default_root().parts[-2:] == ("edgelab", "bars")


def test_funding_series_round_trip(store):
    index = pd.date_range("2024-01-01", periods=3, freq="8h", tz="UTC", name="timestamp")
    rates = pd.DataFrame({"funding_rate": [0.0001, -0.0002, 0.0003]}, index=index)
    store.merge(rates, "binanceusdm", "BTC/USDT:USDT", "funding")
    got = store.read_funding("binanceusdm", "BTC/USDT:USDT")
    pd.testing.assert_frame_equal(got, rates, check_freq=False)
    assert store.coverage("binanceusdm", "BTC/USDT:USDT", "funding").rows == 3
