"""read_bars / write_bars: round trips per format, column spellings, time layouts, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from edgelab.data.readers import BINANCE_KLINE, read_bars, read_bars_reports, write_bars
from edgelab.data.schema import validate_bars
from edgelab.errors import DataError

UTC = "UTC"


def hourly(n=5, start="2024-01-01"):
    return pd.date_range(start, periods=n, freq="h", tz=UTC, name="timestamp").as_unit("us")


def one(path, **kw):
    result = read_bars(path, **kw)
    assert len(result) == 1
    return next(iter(result.values()))


def notes(path, **kw):
    [(_, report)] = read_bars_reports(path, **kw).values()
    return " | ".join(f.message for f in report.findings if f.rule == "reader")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ---------------------------------------------------------------- round trips
@pytest.mark.parametrize("ext", [".csv", ".parquet", ".feather", ".json", ".tsv"])
def test_round_trip_is_exact(tmp_path, make_bars, ext):
    bars = make_bars(50, bid_ask=True)
    bars.iloc[3, 4] = 0.1 + 0.2  # a volume that needs all 17 digits
    bars, _ = validate_bars(bars)
    path = write_bars(bars, tmp_path / f"EURUSD{ext}")
    back = one(path)
    pd.testing.assert_frame_equal(back, bars, check_freq=False)
    assert back.attrs["symbol"] in ("TEST", "EURUSD")  # stored symbol, or the stem (CSV)
    assert back.attrs["interval"] == "1h"
    assert not list(tmp_path.glob(".*tmp"))  # no temp file left behind


def test_stored_attrs_survive_binary_formats(tmp_path, make_bars):
    bars = make_bars(10)
    bars.attrs = {"symbol": "BTCUSDT", "source": "binance", "interval": "1h"}
    for ext in (".parquet", ".feather", ".json"):
        back = read_bars(write_bars(bars, tmp_path / f"x{ext}"))
        assert list(back) == ["BTCUSDT"]
        assert back["BTCUSDT"].attrs == bars.attrs
    assert list(read_bars(tmp_path / "x.json", symbol="OTHER")) == ["OTHER"]


def test_write_bars_replaces_atomically_and_checks_extension(tmp_path, make_bars):
    path = tmp_path / "sub" / "bars.parquet"
    write_bars(make_bars(5), path)
    write_bars(make_bars(7), path)
    assert len(one(path)) == 7
    with pytest.raises(DataError, match="unknown file type '.xlsx'"):
        write_bars(make_bars(5), tmp_path / "bars.xlsx")
    bad = make_bars(5)
    bad.iloc[0, 0] = np.nan
    with pytest.raises(DataError, match="NaN or inf"):
        write_bars(bad, tmp_path / "bars.json")
    assert not (tmp_path / "bars.json").exists()


# ---------------------------------------------------------------- column spellings
def test_yahoo_style_daily_csv(tmp_path):
    path = write(
        tmp_path,
        "GOOGL.csv",
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2024-01-02,10,11,9,10.5,10.4,100\n2024-01-03,10.5,12,10,11,10.9,200\n",
    )
    bars = one(path)
    assert list(bars.columns) == ["open", "high", "low", "close", "volume"]
    assert bars.index[0] == pd.Timestamp("2024-01-02", tz=UTC)
    assert bars["close"].tolist() == [10.5, 11.0]  # Close, not Adj Close
    text = notes(path)
    assert "ignored columns: Adj Close" in text and "read as UTC days" in text


@pytest.mark.parametrize(
    "header",
    [
        "datetime,open,high,low,close,vol",
        "TIME,O,H,L,C,V",
        "<DATE>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<TICKVOL>",
        "Timestamp, Open Price, High Price, Low Price, Close Price, Volume",
        "open_time,Open,High,Low,Close,Volume",
    ],
)
def test_column_spellings(tmp_path, header):
    body = "2024-01-01T00:00:00Z,1,2,0.5,1.5,10\n2024-01-01T01:00:00Z,1.5,2,1,1.2,11\n"
    bars = one(write(tmp_path, "x.csv", header + "\n" + body))
    assert bars.index.equals(hourly(2))
    assert bars.iloc[1].tolist() == [1.5, 2.0, 1.0, 1.2, 11.0]


def test_bid_ask_columns(tmp_path):
    path = write(
        tmp_path,
        "q.csv",
        "time,open,high,low,close,volume,Bid,Ask,Spread\n"
        "2024-01-01T00:00:00Z,1,2,0.5,1.5,10,1.49,1.51,0.02\n",
    )
    bars = one(path)
    assert bars[["bid_close", "ask_close", "spread"]].iloc[0].tolist() == [1.49, 1.51, 0.02]


def test_date_and_time_in_two_columns(tmp_path):
    path = write(
        tmp_path,
        "mt.csv",
        "Date,Time,Open,High,Low,Close,Volume\n"
        "2024.01.01,00:00,1,2,0.5,1.5,10\n2024.01.01,01:00,1,2,0.5,1.5,10\n",
    )
    assert one(path, tz=UTC).index.equals(hourly(2))


# ---------------------------------------------------------------- times
@pytest.mark.parametrize("unit,scale", [("s", 1), ("ms", 10**3), ("us", 10**6), ("ns", 10**9)])
def test_epoch_units_detected(tmp_path, unit, scale):
    start = 1_704_067_200  # 2024-01-01 00:00 UTC
    rows = "".join(f"{(start + 3600 * i) * scale},1,2,0.5,1.5,3\n" for i in range(3))
    path = write(tmp_path, "e.csv", "timestamp,open,high,low,close,volume\n" + rows)
    assert one(path).index.equals(hourly(3))
    assert f"epoch {unit} read as UTC" in notes(path)


def test_dukascopy_day_first_gmt_time(tmp_path):
    path = write(
        tmp_path,
        "EURUSD.csv",
        "Gmt time,Open,High,Low,Close,Volume\n"
        "01.01.2017 22:00:00.000,1.05236,1.05253,1.05221,1.05227,143539993.3\n"
        "01.01.2017 23:00:00.000,1.05227,1.05426,1.05226,1.05282,253139999.4\n",
    )
    bars = one(path)
    assert bars.index[0] == pd.Timestamp("2017-01-01 22:00", tz=UTC)
    assert bars["close"].iloc[1] == 1.05282
    assert "GMT/UTC time column read as UTC" in notes(path)


def test_day_first_vs_month_first(tmp_path):
    head = "Date,Open,High,Low,Close,Volume\n"
    day_first = write(
        tmp_path, "d.csv", head + "13/01/2024,1,2,0.5,1.5,1\n14/01/2024,1,2,0.5,1.5,1\n"
    )
    month_first = write(
        tmp_path, "m.csv", head + "01/13/2024,1,2,0.5,1.5,1\n01/14/2024,1,2,0.5,1.5,1\n"
    )
    expected = pd.DatetimeIndex(["2024-01-13", "2024-01-14"], tz=UTC)
    assert one(day_first).index.equals(expected.as_unit("us").rename("timestamp"))
    assert one(month_first).index.equals(expected.as_unit("us").rename("timestamp"))
    ambiguous = write(
        tmp_path, "a.csv", head + "01/02/2024,1,2,0.5,1.5,1\n02/02/2024,1,2,0.5,1.5,1\n"
    )
    with pytest.raises(DataError, match="day- or month-first"):
        read_bars(ambiguous)
    assert one(ambiguous, dayfirst=True).index[0] == pd.Timestamp("2024-02-01", tz=UTC)
    assert one(ambiguous, dayfirst=False).index[0] == pd.Timestamp("2024-01-02", tz=UTC)


def test_mixed_offsets_are_converted_and_reported(tmp_path):
    path = write(
        tmp_path,
        "dst.csv",
        "Datetime,Open,High,Low,Close,Volume\n"
        "2024-03-31 01:00:00+01:00,1,2,0.5,1.5,1\n"
        "2024-03-31 03:00:00+02:00,1,2,0.5,1.5,1\n"
        "2024-03-31 02:00:00Z,1,2,0.5,1.5,1\n",
    )
    assert one(path).index.equals(
        pd.date_range("2024-03-31 00:00", periods=3, freq="h", tz=UTC).as_unit("us")
    )
    assert "mixed UTC offsets (+0000, +0100, +0200) converted to UTC" in notes(path)


def test_naive_times_need_tz_in_strict(tmp_path):
    path = write(
        tmp_path,
        "n.csv",
        "Datetime,Open,High,Low,Close,Volume\n2024-07-01 09:00,1,2,0.5,1.5,1\n2024-07-01 10:00,1,2,0.5,1.5,1\n",
    )
    with pytest.raises(DataError, match=r"n\.csv: \[naive_timestamps\]"):
        read_bars(path)
    assert one(path, tz=UTC).index[0] == pd.Timestamp("2024-07-01 09:00", tz=UTC)
    assert one(path, tz="America/New_York").index[0] == pd.Timestamp("2024-07-01 13:00", tz=UTC)
    assert one(path, policy="repair").index[0] == pd.Timestamp("2024-07-01 09:00", tz=UTC)
    with pytest.raises(DataError, match="unknown time zone 'Mars/Base'"):
        read_bars(path, tz="Mars/Base")


# ---------------------------------------------------------------- layouts
def _klines(rows=3, scale=1000):
    start = 1_704_067_200
    return "".join(
        f"{(start + 3600 * i) * scale},42000.1,42100.5,41900.2,42050.3,12.5,"
        f"{(start + 3600 * i + 3599) * scale + scale - 1},525000.7,1000,6.1,256000.3,0\n"
        for i in range(rows)
    )


@pytest.mark.parametrize("with_header", [True, False])
@pytest.mark.parametrize("scale", [10**3, 10**6])  # Binance spot moved to microseconds in 2025
def test_binance_klines(tmp_path, with_header, scale):
    text = (",".join(BINANCE_KLINE) + "\n" if with_header else "") + _klines(3, scale)
    bars = one(write(tmp_path, "BTCUSDT-1h-2024-01.csv", text))
    assert bars.index.equals(hourly(3))
    assert bars.iloc[0].tolist() == [42000.1, 42100.5, 41900.2, 42050.3, 12.5]
    assert bars.attrs["symbol"] == "BTCUSDT-1h-2024-01"


def test_semicolon_and_decimal_comma(tmp_path):
    path = write(
        tmp_path,
        "eu.csv",
        "Datum;Open;High;Low;Close;Volume\n".replace("Datum", "Date")
        + "2024-01-01T00:00:00Z;1,5;2,25;1,0;1,75;100\n",
    )
    assert one(path).iloc[0].tolist() == [1.5, 2.25, 1.0, 1.75, 100.0]
    assert "delimiter ';'" in notes(path) and "decimal commas" in notes(path)


def test_blank_lines_keep_file_line_numbers(tmp_path):
    path = write(
        tmp_path,
        "b.csv",
        "Date,Open,High,Low,Close,Volume\n\n2024-01-01T00:00:00Z,1,2,0.5,1.5,1\n\n"
        "2024-01-01T01:00:00Z,1,2,0.5,1.5,-1\n",
    )
    with pytest.raises(DataError, match=r"negative volume.*\(line 5\)"):
        read_bars(path)


def test_candle_export_json(tmp_path):
    ticks_2024 = 638396640000000000  # .NET ticks of 2024-01-01 00:00 UTC
    doc = [
        {
            "symbol": "EURUSD",
            "candles": [
                {"t": 1704067200000 + 3600000 * i, "o": 1.1, "h": 1.2, "l": 1.0, "c": 1.15, "v": 5}
                for i in range(3)
            ],
        },
        {
            "Symbol": "GBPUSD",
            "Candles": [
                {"Time": f"2024-01-01T0{i}:00:00Z", "O": 1.2, "H": 1.3, "L": 1.1, "C": 1.25, "V": 7}
                for i in range(3)
            ],
        },
        {
            "symbol": "USDJPY",
            "candles": [
                {
                    "time": ticks_2024 + 36_000_000_000 * i,
                    "o": 140,
                    "h": 141,
                    "l": 139,
                    "c": 140.5,
                    "v": 1,
                }
                for i in range(3)
            ],
        },
        {
            "symbol": "XAUUSD",
            "candles": [
                {
                    "time": f"/Date({1704067200000 + 3600000 * i})/",
                    "o": 2000,
                    "h": 2001,
                    "l": 1999,
                    "c": 2000.5,
                    "v": 1,
                }
                for i in range(3)
            ],
        },
    ]
    path = write(tmp_path, "export.json", json.dumps(doc))
    result = read_bars(path)
    assert list(result) == ["EURUSD", "GBPUSD", "USDJPY", "XAUUSD"]
    for bars in result.values():
        assert bars.index.equals(hourly(3)) and bars.attrs["interval"] == "1h"
    assert result["GBPUSD"]["close"].iloc[0] == 1.25
    assert result["EURUSD"].attrs["source"] == "file:export.json"
    assert list(read_bars(path, symbol="GBPUSD")) == ["GBPUSD"]
    with pytest.raises(DataError, match="unknown symbol 'EURUSDT' \\(did you mean 'EURUSD'"):
        read_bars(path, symbol="EURUSDT")


def test_candle_export_single_object_and_repeated_symbol(tmp_path):
    candle = {"t": 1704067200, "o": 1, "h": 2, "l": 0.5, "c": 1.5, "v": 1}
    single = write(tmp_path, "one.json", json.dumps({"symbol": "X", "candles": [candle]}))
    assert list(read_bars(single)) == ["X"]
    later = dict(candle, t=1704070800)
    doubled = write(
        tmp_path,
        "two.json",
        json.dumps([{"symbol": "X", "candles": [candle]}, {"symbol": "X", "candles": [later]}]),
    )
    assert len(read_bars(doubled)["X"]) == 2


def test_json_records_list(tmp_path):
    records = [
        {
            "date": "2024-01-01T00:00:00Z",
            "open": 1,
            "high": 2,
            "low": 0.5,
            "close": 1.5,
            "volume": 3,
        }
    ]
    assert one(write(tmp_path, "r.json", json.dumps(records)))["close"].iloc[0] == 1.5


def test_parquet_with_time_column_and_no_attrs(tmp_path, make_bars):
    bars = make_bars(6)
    frame = bars.reset_index()
    frame.attrs = {}
    frame.to_parquet(tmp_path / "plain.parquet")
    back = one(tmp_path / "plain.parquet")
    pd.testing.assert_frame_equal(back, bars, check_freq=False)
    assert back.index.equals(bars.index) and back.attrs["symbol"] == "plain"


# ---------------------------------------------------------------- errors name file, column, line
def test_error_names_file_column_and_line(tmp_path):
    path = write(
        tmp_path,
        "prices.csv",
        "Date,Open,High,Low,Close,Volume\n2024-01-01T00:00:00Z,1,2,0.5,1.5,1\n"
        "2024-01-01T01:00:00Z,1,2,0.5,1.5,1\n2024-01-01T02:00:00Z,1,2,0.5,oops,1\n",
    )
    with pytest.raises(DataError, match=r"^prices\.csv, column 'Close', line 4: text 'oops'"):
        read_bars(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_bars(tmp_path / "nope.csv")


def test_dukascopy_local_time_with_gmt_offsets(tmp_path):
    path = write(
        tmp_path,
        "EURUSD_local.csv",
        "Local time,Open,High,Low,Close,Volume\n"
        "31.03.2024 00:00:00.000 GMT+0100,1.08,1.09,1.07,1.085,10\n"
        "31.03.2024 03:00:00.000 GMT+0200,1.085,1.09,1.08,1.086,11\n",
    )
    bars = one(path)
    assert bars.index.tolist() == [
        pd.Timestamp("2024-03-30 23:00", tz=UTC),
        pd.Timestamp("2024-03-31 01:00", tz=UTC),
    ]
    assert "mixed UTC offsets (+0100, +0200)" in notes(path)
