"""Bundled real samples: present, parsed right, documented, licensed, and valid Bars."""

from __future__ import annotations

from importlib import metadata

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from edgelab.cli import app
from edgelab.data.sources import load_bars
from edgelab.data.sources.samples import SAMPLES, available_samples, get_sample, load_sample
from edgelab.errors import SourceError

PERMISSIVE = {"MIT", "NCSA", "BSD-3-Clause", "Apache-2.0"}


def test_all_four_samples_are_available():
    assert set(available_samples()) == {"eurusd_1h", "googl_1d", "sp500_1d", "nasdaq_1d"}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_matches_its_documented_span_rows_and_layout(name):
    sample = SAMPLES[name]
    bars = load_sample(name)
    assert len(bars) == sample.rows
    assert bars.index[0] == pd.Timestamp(sample.span[0], tz="UTC")
    assert bars.index[-1] == pd.Timestamp(sample.span[1], tz="UTC")
    assert bars.index.name == "timestamp" and str(bars.index.tz) == "UTC"
    assert list(bars.columns[:5]) == ["open", "high", "low", "close", "volume"]
    assert (bars.dtypes == "float64").all()
    assert bars.attrs["symbol"] == sample.symbol and bars.attrs["interval"] == sample.interval
    assert bars.attrs["source"] == f"sample:{name}"


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_recorded_licence_is_the_installed_package_licence(name):
    sample = SAMPLES[name]
    meta = metadata.metadata(sample.package)
    declared = meta.get("License-Expression") or meta.get("License")
    assert declared == sample.licence
    assert sample.licence in PERMISSIVE


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_passes_strict_validation_with_expected_closures(name):
    (bars,) = load_bars(f"sample:{name}", policy="strict").values()
    quality = bars.attrs["quality"]
    assert quality["ok"] and quality["repairs"] == []
    assert quality["calendar"] == SAMPLES[name].calendar
    assert quality["gaps"]["expected"] > 0  # weekends are closures, not faults
    assert bars.attrs["licence"] == SAMPLES[name].licence


def test_eurusd_is_ask_quotes_in_utc_with_weekend_closures_only():
    (bars,) = load_bars("sample:eurusd_1h").values()
    assert bars.attrs["quote"] == "ask"
    for part in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(bars[f"ask_{part}"], bars[part])
    # first and last rows of the file, parsed from day-first `01.01.2017 22:00:00.000`
    first, last = bars.iloc[0], bars.iloc[-1]
    assert (first["open"], first["close"], first["volume"]) == (1.05236, 1.05227, 143539993.3)
    assert (last["open"], last["close"]) == (1.19984, 1.20075)
    assert (bars.index.day_of_week != 5).all()  # no Saturday bars
    gaps = bars.attrs["quality"]["gaps"]
    assert gaps["expected"] == 51  # 51 weekends in the year
    assert gaps["count"] == 1 and "2017-12-25" in gaps["where"]  # the Christmas break


def test_daily_samples_parse_month_first_dates_and_skip_weekends():
    sp500 = load_sample("sp500_1d")  # the file writes 1/4/1999 (month/day/year)
    assert sp500.index[1] == pd.Timestamp("1999-01-05", tz="UTC")
    assert sp500["close"].iloc[0] == 1228.099976
    assert sp500["close"].iloc[-1] == 2506.850098
    for name in ("googl_1d", "sp500_1d", "nasdaq_1d"):
        assert (load_sample(name).index.day_of_week < 5).all()


def test_unknown_sample_suggests_the_closest_name():
    with pytest.raises(SourceError, match="did you mean 'sp500_1d'"):
        get_sample("sp500")


def test_cli_samples_lists_names_spans_and_licences():
    result = CliRunner().invoke(app, ["data", "samples"])
    assert result.exit_code == 0, result.output
    for sample in SAMPLES.values():
        assert sample.name in result.output and sample.span[0][:10] in result.output
        assert str(sample.rows) in result.output
    assert "NCSA" in result.output and "MIT" in result.output
