"""The yfinance adapter on frames of the exact shape yfinance returns.

The frames are built by yfinance itself: `yf.download` runs for real, with only
`yfinance.multi.Ticker` replaced by a fake whose `history()` returns what Yahoo's chart API
gives per ticker (tz-aware exchange-time index, Open/High/Low/Close/Adj Close/Volume,
dividends, auto-adjusted or not like the real `history`). So the MultiIndex layout, the
column order, the tz handling and the NaN rows of a multi-ticker union are yfinance's own.
"""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest
import yfinance as yf
import yfinance.multi
import yfinance.utils
from fake_yahoo import FakeTicker, raw_history

from edgelab.data.sources.yahoo import download_yahoo, split_tickers, to_bars
from edgelab.errors import DownloadError, SourceError

# yfinance's own code uses inplace=, which pandas 3.1 deprecates; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword:DeprecationWarning")


@pytest.fixture
def yf_download(monkeypatch):
    """The real `yf.download`, with the fake Ticker underneath, and the calls it got."""
    monkeypatch.setattr(yfinance.multi, "Ticker", FakeTicker)
    calls = []

    def download(tickers, **kwargs):
        calls.append((tickers, kwargs))
        return yf.download(tickers, **kwargs)

    download.calls = calls
    return download


def clock(text: str):
    return lambda: pd.Timestamp(text, tz="UTC")


def test_yfinance_shape_is_what_the_adapter_expects(yf_download):
    frame = yf_download(["BTC-USD", "^GSPC"], start="2024-01-01", progress=False, actions=False)
    assert isinstance(frame.columns, pd.MultiIndex)
    assert list(frame.columns.names) == ["Price", "Ticker"]
    assert frame.columns[0] == ("Close", "BTC-USD")
    assert frame.index.tz is None and frame.index.name == "Date"  # daily: naive local dates
    assert frame[("Close", "^GSPC")].isna().sum() == 6  # weekend rows of the union index


def test_multi_ticker_daily_adjusted_into_the_store(yf_download, store):
    results = download_yahoo(
        ["BTC-USD", "^GSPC"],
        "1d",
        store=store,
        start="2024-01-01",
        clock=clock("2024-01-21 12:00"),
        download=yf_download,
    )
    assert [r.symbol for r in results] == ["BTC-USD", "^GSPC"]
    btc = store.read("yahoo", "BTC-USD", "1d")
    spx = store.read("yahoo", "^GSPC", "1d")
    # 2024-01-21 is still forming at 12:00 UTC: not stored
    assert btc.index[0] == pd.Timestamp("2024-01-01", tz="UTC") and len(btc) == 20
    # weekdays only, each labelled 00:00 UTC of its New York date, nothing filled in
    expected_days = pd.bdate_range("2024-01-01", "2024-01-19", tz="UTC", name="timestamp")
    assert spx.index.equals(expected_days) and spx.index.name == "timestamp"
    raw = raw_history("^GSPC", "1d").iloc[: len(spx)]
    ratio = (raw["Adj Close"] / raw["Close"]).to_numpy()
    np.testing.assert_allclose(spx["close"], raw["Adj Close"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(spx["open"], raw["Open"] * ratio, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(spx["volume"], raw["Volume"].astype(float))
    assert spx["close"].iloc[0] == pytest.approx(150.0 * 0.98)  # adjusted before the dividend
    assert spx.dtypes.unique().tolist() == [np.dtype("float64")]
    (tickers, kwargs) = yf_download.calls[0]
    assert tickers == ["BTC-USD", "^GSPC"] and kwargs["auto_adjust"] is True


def test_intraday_index_converted_from_new_york_to_utc(yf_download, store):
    (result,) = download_yahoo(
        ["AAPL"],
        "1h",
        store=store,
        start="2024-01-08",
        clock=clock("2024-01-09 20:45"),
        download=yf_download,
    )
    got = store.read("yahoo", "AAPL", "1h")
    # 09:30 New York (EST) is 14:30 UTC; the 15:30 bar of the 9th is still open at 20:45
    assert got.index[0] == pd.Timestamp("2024-01-08 14:30", tz="UTC")
    assert got.index[-1] == pd.Timestamp("2024-01-09 19:30", tz="UTC")
    assert len(got) == 13 and result.rows_stored == 13


@pytest.mark.parametrize(
    "kwargs",
    [
        {"group_by": "ticker"},  # ('Ticker', 'Price') columns
        {"group_by": "column"},  # ('Price', 'Ticker') columns
    ],
)
def test_both_column_orders_give_the_same_bars(yf_download, kwargs):
    frame = yf_download(["BTC-USD", "^GSPC"], start="2024-01-01", progress=False, **kwargs)
    parts = split_tickers(frame, ["BTC-USD", "^GSPC"])
    spx = to_bars(parts["^GSPC"], "^GSPC", "1d")
    raw = raw_history("^GSPC", "1d")
    assert len(spx) == len(raw)
    np.testing.assert_allclose(spx["close"], raw["Adj Close"], rtol=0, atol=1e-12)


def test_flat_columns_of_one_ticker(yf_download):
    frame = yf_download("^GSPC", start="2024-01-01", progress=False, multi_level_index=False)
    assert not isinstance(frame.columns, pd.MultiIndex)
    spx = to_bars(split_tickers(frame, ["^GSPC"])["^GSPC"], "^GSPC", "1d")
    assert len(spx) == 15 and spx.attrs["symbol"] == "^GSPC"


def test_adj_close_present_is_applied_or_dropped(yf_download):
    frame = yf_download("^GSPC", start="2024-01-01", progress=False, auto_adjust=False)
    assert "Adj Close" in frame.columns.get_level_values("Price")
    part = split_tickers(frame, ["^GSPC"])["^GSPC"]
    raw = raw_history("^GSPC", "1d")
    auto = to_bars(part, "^GSPC", "1d", adjust="auto")
    reference = yfinance.utils.auto_adjust(raw)  # yfinance's own adjustment
    np.testing.assert_allclose(auto["low"], reference["Low"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(auto["close"], reference["Close"], rtol=0, atol=1e-12)
    plain = to_bars(part, "^GSPC", "1d", adjust="none")
    np.testing.assert_array_equal(plain["close"], raw["Close"])
    assert "adj_close" not in plain.columns and "Adj Close" not in plain.columns


def test_unknown_ticker_is_named_and_the_others_are_stored(yf_download, store):
    with pytest.raises(DownloadError, match=r"no bars for NOPE-XYZ"):
        download_yahoo(
            ["BTC-USD", "NOPE-XYZ"],
            "1d",
            store=store,
            start="2024-01-01",
            clock=clock("2024-01-21 12:00"),
            download=yf_download,
        )
    assert store.exists("yahoo", "BTC-USD", "1d")


def test_unknown_interval_and_adjustment(store):
    with pytest.raises(SourceError, match=r"unknown Yahoo interval '4h'"):
        download_yahoo(["BTC-USD"], "4h", store=store, start="2024-01-01")
    with pytest.raises(SourceError, match=r"unknown adjustment 'raw'"):
        download_yahoo(["BTC-USD"], "1d", store=store, start="2024-01-01", adjust="raw")


def test_update_refetches_the_cached_span(yf_download, store):
    download_yahoo(
        ["^GSPC"],
        "1d",
        store=store,
        start="2024-01-08",
        clock=clock("2024-01-12 12:00"),
        download=yf_download,
    )
    assert len(store.read("yahoo", "^GSPC", "1d")) == 4
    (result,) = download_yahoo(
        ["^GSPC"], "1d", store=store, clock=clock("2024-01-20 12:00"), download=yf_download
    )
    _, kwargs = yf_download.calls[-1]
    assert pd.Timestamp(kwargs["start"]) == pd.Timestamp("2024-01-08")  # whole span again
    assert result.rows_stored == 10


def test_the_adapter_passes_only_keywords_yf_download_accepts(yf_download, store):
    download_yahoo(
        ["BTC-USD"],
        "1d",
        store=store,
        start="2024-01-01",
        clock=clock("2024-01-05"),
        download=yf_download,
    )
    _, kwargs = yf_download.calls[0]
    assert set(kwargs) <= set(inspect.signature(yf.download).parameters)
    assert kwargs["ignore_tz"] is True and kwargs["interval"] == "1d"
