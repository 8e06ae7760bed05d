"""`.bi5` decoding on files written here in the real format (struct + LZMA alone)."""

from __future__ import annotations

import lzma

import numpy as np
import pandas as pd
import pytest
from fake_datafeed import CANDLE, H0, TICK, candle_file, lzma_alone, tick_file

from edgelab.data.sources.dukascopy import (
    POINT_FACTORS,
    hour_key,
    hour_of_path,
    hour_url,
    instrument_point_factor,
    normalize_instrument,
    parse_candles,
    parse_ticks,
    read_tick_file,
)
from edgelab.errors import DataError, SourceError

RECORDS = [  # ms into the hour, ask, bid (points), ask volume, bid volume
    (994, 114545, 114543, 1.0, 2.06),
    (1271, 114546, 114544, 1.0, 1.0),
    (1271, 114547, 114545, 3.5, 0.75),  # same millisecond: allowed
    (3_599_999, 114560, 114557, 1.25, 8.35),
]


def test_tick_records_decode_to_exact_prices_times_and_volumes():
    ticks = parse_ticks(tick_file(RECORDS), H0, point=1e5, where="t")
    assert list(ticks.columns) == ["bid", "ask", "bid_volume", "ask_volume"]
    assert ticks.index.name == "timestamp" and str(ticks.index.tz) == "UTC"
    expected_times = [H0 + pd.Timedelta(milliseconds=r[0]) for r in RECORDS]
    assert list(ticks.index) == expected_times
    np.testing.assert_array_equal(ticks["ask"], [r[1] / 1e5 for r in RECORDS])
    np.testing.assert_array_equal(ticks["bid"], [r[2] / 1e5 for r in RECORDS])
    np.testing.assert_array_equal(ticks["bid_volume"], np.float32([r[4] for r in RECORDS]))
    assert ticks["bid"].iloc[0] == 1.14543 and ticks["ask"].iloc[-1] == 1.1456


def test_files_use_the_lzma_alone_container():
    raw = tick_file(RECORDS)
    # .lzma 'alone' header: properties byte 0x5D (lc=3, lp=0, pb=2), then dictionary size
    assert raw[0] == 0x5D and len(raw) > 13
    assert lzma.decompress(raw, format=lzma.FORMAT_ALONE) == b"".join(
        TICK.pack(*r) for r in RECORDS
    )


def test_point_factors_scale_each_instrument():
    jpy = parse_ticks(tick_file([(0, 109125, 109120, 1.0, 1.0)]), H0, point=1e3, where="t")
    btc = parse_ticks(tick_file([(0, 248571, 248500, 0.5, 0.5)]), H0, point=10.0, where="t")
    assert jpy["bid"].iloc[0] == 109.12 and btc["ask"].iloc[0] == 24857.1
    assert instrument_point_factor("EURUSD") == 1e5
    assert instrument_point_factor("usd/jpy") == 1e3
    assert instrument_point_factor("XAUUSD") == 1e3 and instrument_point_factor("BTCUSD") == 10
    assert POINT_FACTORS["GBPUSD"] == 1e5
    assert instrument_point_factor("NOSUCH", 100) == 100.0


def test_unknown_instrument_suggests_the_closest_and_the_override():
    with pytest.raises(SourceError, match=r"did you mean 'EURUSD'.*point_factor"):
        instrument_point_factor("EURUSF")
    with pytest.raises(SourceError):
        instrument_point_factor("EURUSD", 0)


def test_url_layout_uses_zero_based_months():
    assert hour_key("EURUSD", H0) == "EURUSD/2019/01/04/00h_ticks.bi5"
    assert hour_key("eur/usd", "2020-01-31 23:00") == "EURUSD/2020/00/31/23h_ticks.bi5"
    assert hour_key("XAUUSD", "2021-12-01 07:00Z") == "XAUUSD/2021/11/01/07h_ticks.bi5"
    assert (
        hour_url("EURUSD", H0)
        == "https://datafeed.dukascopy.com/datafeed/EURUSD/2019/01/04/00h_ticks.bi5"
    )
    assert (
        hour_url("EURUSD", H0, "http://mirror/x/")
        == "http://mirror/x/EURUSD/2019/01/04/00h_ticks.bi5"
    )
    assert hour_of_path("/cache/EURUSD/2019/01/04/13h_ticks.bi5") == (
        "EURUSD",
        H0 + pd.Timedelta(hours=13),
    )
    assert normalize_instrument("btc-usd") == "BTCUSD"
    with pytest.raises(DataError, match="start of an hour"):
        hour_key("EURUSD", "2019-02-04 00:30")


def test_read_tick_file_takes_instrument_and_hour_from_the_path(tmp_path):
    path = tmp_path / "USDJPY" / "2019" / "00" / "02" / "05h_ticks.bi5"
    path.parent.mkdir(parents=True)
    path.write_bytes(tick_file([(60_000, 108500, 108490, 1.0, 1.0)]))
    ticks = read_tick_file(path)
    assert ticks.index[0] == pd.Timestamp("2019-01-02 05:01", tz="UTC")
    assert ticks["bid"].iloc[0] == 108.49


def test_an_empty_file_is_an_hour_without_ticks():
    ticks = parse_ticks(b"", H0, point=1e5, where="t")
    assert ticks.empty and list(ticks.columns) == ["bid", "ask", "bid_volume", "ask_volume"]


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"\x00garbage that is not lzma at all" * 3, "not valid LZMA data"),
        (tick_file(RECORDS)[:-12], "truncated"),
        (tick_file(RECORDS) + b"junk!junk!junk!junk!", "trailing bytes"),
        (lzma_alone(b"\x00" * 30), "not a whole number of 20-byte records"),
        (tick_file([(3_600_000, 114545, 114543, 1.0, 1.0)]), "corrupt tick record 0"),
        (tick_file([(5, 114545, 0, 1.0, 1.0)]), "corrupt tick record 0"),
        (tick_file([(5, 114545, 114543, 1.0, 1.0), (4, 114545, 114543, 1.0, 1.0)]), "earlier"),
    ],
    ids=["garbage", "truncated", "trailing", "partial-record", "offset", "zero-bid", "order"],
)
def test_corrupt_files_raise_naming_the_file_never_zeros(raw, message):
    with pytest.raises(DataError, match=message) as info:
        parse_ticks(raw, H0, point=1e5, where="EURUSD/2019/01/04/00h_ticks.bi5")
    assert "EURUSD/2019/01/04/00h_ticks.bi5" in str(info.value)


def test_candle_records_are_open_close_low_high_volume():
    start = pd.Timestamp("2019-02-04", tz="UTC")
    raw = candle_file(
        [(0, 114543, 114569, 114542, 114570, 293.76), (60, 114569, 114575, 114565, 114580, 271.59)]
    )
    bars = parse_candles(raw, start, point=1e5, where="BID_candles_min_1.bi5")
    assert list(bars.columns) == ["open", "high", "low", "close", "volume"]
    assert list(bars.index) == [start, start + pd.Timedelta(minutes=1)]
    assert bars.iloc[0][["open", "high", "low", "close"]].tolist() == [
        1.14543,
        1.1457,
        1.14542,
        1.14569,
    ]
    assert bars["volume"].iloc[1] == np.float32(271.59)
    assert CANDLE.size == 24
    with pytest.raises(DataError, match="24-byte"):
        parse_candles(lzma_alone(b"\x01" * 20), start, point=1e5, where="c")
