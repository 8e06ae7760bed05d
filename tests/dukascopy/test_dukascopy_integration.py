"""Opt-in checks on the real Dukascopy sample in ../shared/data (skipped when absent).

48 hours of real EURUSD ticks (2019-02-04/05) must rebuild Dukascopy's own 1-minute and
1-hour BID candles exactly, both directly and after a round trip through `.bi5` files
served by the fake datafeed and fetched by the downloader.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fake_datafeed import TICK, lzma_alone

from edgelab.data.sources.dukascopy import dukascopy_bars, ticks_to_bars

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
TICKS = SHARED / "dukascopy_EURUSD_ticks_2019-02-04_05.parquet"
CANDLES_1M = SHARED / "dukascopy_EURUSD_1m_bid_2019-02-04_05.parquet"
CANDLES_1H = SHARED / "dukascopy_EURUSD_1h_bid_2019-01_02.parquet"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not TICKS.is_file(), reason=f"real data folder absent: {SHARED}"),
]
BID = ["bid_open", "bid_high", "bid_low", "bid_close"]
OHLC = ["open", "high", "low", "close"]


def candles(path) -> pd.DataFrame:
    frame = pd.read_parquet(path).set_index("timestamp")
    return frame[(frame.index >= "2019-02-04") & (frame.index < "2019-02-06")]


@pytest.fixture(scope="module")
def ticks() -> pd.DataFrame:
    return pd.read_parquet(TICKS).set_index("timestamp")


def test_real_ticks_rebuild_dukascopy_bid_candles_exactly(ticks):
    bars = ticks_to_bars(ticks, "1m", symbol="EURUSD")
    reference = candles(CANDLES_1M)
    assert len(bars) == len(reference) == 2880
    assert (bars.index == reference.index).all()
    np.testing.assert_array_equal(bars[BID].to_numpy(), reference[OHLC].to_numpy())
    assert (bars["ask_low"] >= bars["bid_low"]).all() and (bars["spread"] > 0).all()
    assert ((bars["low"] >= bars["bid_low"]) & (bars["high"] <= bars["ask_high"])).all()


def test_real_ticks_through_bi5_files_and_the_downloader(ticks, feed, tmp_path):
    hours = ticks.index.floor("h")
    for hour in hours.unique():
        part = ticks[hours == hour]
        ms = ((part.index - hour) // pd.Timedelta(milliseconds=1)).to_numpy()
        ask = np.round(part["ask"].to_numpy() * 1e5).astype(int)
        bid = np.round(part["bid"].to_numpy() * 1e5).astype(int)
        rows = zip(ms, ask, bid, part["ask_volume"], part["bid_volume"], strict=True)
        feed.put("EURUSD", hour, lzma_alone(b"".join(TICK.pack(*r) for r in rows), preset=1))
    for interval, path, n in (("1m", CANDLES_1M, 2880), ("1h", CANDLES_1H, 48)):
        bars, report = dukascopy_bars(
            "EURUSD", interval, "2019-02-04", "2019-02-06", cache_dir=tmp_path,
            base_url=feed.base_url,
        )  # fmt: skip
        reference = candles(path)
        assert len(bars) == len(reference) == n and report.ticks == len(ticks) == 266_219
        np.testing.assert_array_equal(bars[BID].to_numpy(), reference[OHLC].to_numpy())
    assert len(feed.log) == 48  # the second interval came from the raw cache
