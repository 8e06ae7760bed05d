"""Ticks -> bid/ask/mid bars: hand-computed values and properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fake_datafeed import H0
from hypothesis import given, settings
from hypothesis import strategies as st

from edgelab.data.resample import resample_bars
from edgelab.data.schema import validate_bars
from edgelab.data.sources.dukascopy import BAR_COLUMNS, ticks_to_bars
from edgelab.errors import DataError


def make_ticks(rows) -> pd.DataFrame:
    """rows: (seconds after H0, bid, ask, bid_volume, ask_volume)."""
    index = pd.DatetimeIndex([H0 + pd.Timedelta(seconds=r[0]) for r in rows], name="timestamp")
    return pd.DataFrame(
        [r[1:] for r in rows], index=index, columns=["bid", "ask", "bid_volume", "ask_volume"]
    )


TICKS = make_ticks(
    [
        (0.5, 1.0, 1.2, 1.0, 3.0),
        (10, 1.1, 1.2, 2.0, 2.0),
        (59.9, 0.9, 1.3, 1.0, 1.0),
        (150, 2.0, 2.5, 4.0, 0.0),  # minute 1 has no tick: minute 2 only
        (170, 2.2, 2.3, 1.0, 1.0),
    ]
)


def test_hand_computed_one_minute_bars():
    bars = ticks_to_bars(TICKS, "1m", symbol="EURUSD")
    assert list(bars.columns) == list(BAR_COLUMNS)
    assert list(bars.index) == [H0, H0 + pd.Timedelta(minutes=2)]  # empty minute omitted
    first = bars.iloc[0]
    assert first[["bid_open", "bid_high", "bid_low", "bid_close"]].tolist() == [1.0, 1.1, 0.9, 0.9]
    assert first[["ask_open", "ask_high", "ask_low", "ask_close"]].tolist() == [1.2, 1.3, 1.2, 1.3]
    mids = [1.1, 1.15, 1.1]  # (bid + ask) / 2 per tick
    assert first["open"] == pytest.approx(mids[0]) and first["close"] == pytest.approx(mids[-1])
    assert first["high"] == pytest.approx(max(mids)) and first["low"] == pytest.approx(min(mids))
    assert first["volume"] == pytest.approx((1 + 3 + 2 + 2 + 1 + 1) / 2)
    assert first["spread"] == pytest.approx((0.2 + 0.1 + 0.4) / 3)
    second = bars.iloc[1]
    assert second["spread"] == pytest.approx(0.3) and second["volume"] == pytest.approx(3.0)
    assert second["open"] == pytest.approx(2.25) and second["close"] == pytest.approx(2.25)
    assert bars.attrs == {"symbol": "EURUSD", "interval": "1m", "source": "dukascopy"}
    assert str(bars.index.tz) == "UTC" and bars.index.name == "timestamp"
    assert (bars.dtypes == np.float64).all()


def test_bars_meet_the_bars_contract():
    bars = ticks_to_bars(TICKS, "1m", symbol="EURUSD")
    checked, report = validate_bars(bars, policy="strict", interval="1m", calendar="fx")
    assert report.ok and len(checked) == 2
    assert report.gaps.count == 1  # the omitted minute is reported as a gap, not filled


def test_weekly_bars_start_on_monday_and_daily_at_midnight():
    ticks = make_ticks([(-3600 * 30, 1.0, 1.1, 1, 1), (3600 * 30, 1.2, 1.3, 1, 1)])
    weekly = ticks_to_bars(ticks, "1w")
    assert list(weekly.index) == [H0 - pd.Timedelta(days=7), H0]  # H0 is a Monday
    daily = ticks_to_bars(ticks, "1d")
    assert list(daily.index) == [H0 - pd.Timedelta(days=2), H0 + pd.Timedelta(days=1)]


def test_refuses_unsorted_or_empty_ticks():
    with pytest.raises(DataError, match="time order"):
        ticks_to_bars(TICKS.iloc[::-1], "1m")
    with pytest.raises(DataError, match="no ticks"):
        ticks_to_bars(TICKS.iloc[:0], "1m")


tick_lists = st.lists(
    st.tuples(
        st.integers(0, 6 * 3600 * 1000 - 1),  # ms over six hours
        st.integers(100_000, 100_200),  # bid points
        st.integers(0, 30),  # spread points
        st.floats(0.25, 10, width=32),
        st.floats(0.25, 10, width=32),
    ),
    min_size=1,
    max_size=300,
)


@settings(max_examples=25, deadline=None)
@given(tick_lists)
def test_coarse_bars_equal_resampled_fine_bars(rows):
    rows = sorted(rows)
    index = pd.DatetimeIndex([H0 + pd.Timedelta(milliseconds=r[0]) for r in rows])
    bid = np.array([r[1] for r in rows]) / 1e5
    ticks = pd.DataFrame(
        {"bid": bid, "ask": bid + np.array([r[2] for r in rows]) / 1e5,
         "bid_volume": [r[3] for r in rows], "ask_volume": [r[4] for r in rows]},
        index=index,
    )  # fmt: skip
    hourly = ticks_to_bars(ticks, "1h")
    fine = ticks_to_bars(ticks, "5m")
    prices = [c for c in BAR_COLUMNS if c not in ("volume", "spread")]
    pd.testing.assert_frame_equal(hourly[prices], resample_bars(fine, "1h")[prices])
    np.testing.assert_allclose(hourly["volume"], resample_bars(fine, "1h")["volume"])
    assert (hourly["bid_low"] <= hourly["low"]).all() and (
        hourly["high"] <= hourly["ask_high"]
    ).all()
    assert len(ticks_to_bars(ticks, "1h")) == len(np.unique(index.floor("h")))
