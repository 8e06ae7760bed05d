"""Calendar features: known dates, every index unit, other time zones, pre-1970."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from edgelab.errors import FeatureError
from edgelab.features import calendar_features


def test_known_dates():
    index = pd.DatetimeIndex(
        ["2024-01-01 00:00", "2024-01-07 23:30", "2024-02-29 06:00", "1969-12-31 23:00"], tz="UTC"
    )
    cal = calendar_features(index)
    # 2024-01-01 is a Monday, 2024-01-07 a Sunday, 2024-02-29 a Thursday, 1969-12-31 a Wednesday
    assert cal["dow"].tolist() == [0.0, 6.0, 3.0, 2.0]
    assert cal["hour"].tolist() == [0.0, 23.0, 6.0, 23.0]
    np.testing.assert_allclose(cal["hour_sin"], np.sin(2 * np.pi * cal["hour"] / 24), atol=1e-15)
    np.testing.assert_allclose(cal["hour_cos"], np.cos(2 * np.pi * cal["hour"] / 24), atol=1e-15)
    np.testing.assert_allclose(cal["dow_sin"], np.sin(2 * np.pi * cal["dow"] / 7), atol=1e-15)
    np.testing.assert_allclose(cal["dow_cos"], np.cos(2 * np.pi * cal["dow"] / 7), atol=1e-15)
    assert cal["hour_sin"].iloc[2] == 1.0  # 06:00 is a quarter of the day
    assert cal.index.equals(index)


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_matches_pandas_for_every_unit(unit):
    rng = np.random.default_rng(0)
    seconds = rng.integers(-10 * 365 * 86400, 60 * 365 * 86400, 2000)
    index = pd.DatetimeIndex(pd.to_datetime(np.sort(seconds), unit="s", utc=True)).as_unit(unit)
    cal = calendar_features(index)
    np.testing.assert_array_equal(cal["hour"], index.hour)
    np.testing.assert_array_equal(cal["dow"], index.day_of_week)


def test_other_time_zone_is_read_in_utc():
    utc = pd.date_range("2024-03-30", periods=72, freq="h", tz="UTC")  # spans a DST change
    berlin = utc.tz_convert("Europe/Berlin")
    pd.testing.assert_frame_equal(
        calendar_features(berlin).reset_index(drop=True),
        calendar_features(utc).reset_index(drop=True),
    )


def test_bars_input_and_bad_index(make_bars):
    bars = make_bars(30, 0)
    assert calendar_features(bars).index.equals(bars.index)
    with pytest.raises(FeatureError, match="tz-aware"):
        calendar_features(bars.tz_localize(None))
    with pytest.raises(FeatureError, match="DatetimeIndex"):
        calendar_features(bars.reset_index(drop=True))


def test_column_subset_and_unknown_column(make_bars):
    bars = make_bars(50, 0)
    full = calendar_features(bars)
    part = calendar_features(bars, ["dow_cos", "hour"])
    assert list(part.columns) == ["dow_cos", "hour"]
    pd.testing.assert_frame_equal(part, full[["dow_cos", "hour"]])
    with pytest.raises(FeatureError, match="unknown calendar column 'weekday'"):
        calendar_features(bars, ["weekday"])
