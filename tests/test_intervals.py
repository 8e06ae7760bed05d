import pandas as pd
import pytest

from edgelab.data.intervals import bars_per_year, format_interval, infer_interval, parse_interval
from edgelab.errors import DataError


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("1m", "1min"),
        ("15m", "15min"),
        ("1h", "1h"),
        ("4h", "4h"),
        ("1d", "1D"),
        ("1w", "7D"),
        ("30s", "30s"),
    ],
)
def test_parse_and_format_round_trip(text, delta):
    assert parse_interval(text) == pd.Timedelta(delta)
    assert format_interval(parse_interval(text)) == text


@pytest.mark.parametrize("bad", ["", "h", "0m", "15", "1y", "-1h", "1.5h"])
def test_bad_interval_names_the_fix(bad):
    with pytest.raises(DataError, match="invalid bar interval"):
        parse_interval(bad)


def test_infer_interval_uses_the_most_common_spacing():
    idx = pd.DatetimeIndex(
        ["2024-01-01 00:00", "2024-01-01 01:00", "2024-01-01 02:00", "2024-01-01 05:00"], tz="UTC"
    )
    assert infer_interval(idx) == pd.Timedelta("1h")
    assert infer_interval(idx[:1]) is None


def test_bars_per_year_by_calendar():
    assert bars_per_year(pd.Timedelta("1h"), "crypto") == pytest.approx(365.25 * 24)
    assert bars_per_year(pd.Timedelta("1D"), "equity") == pytest.approx(252)
    assert bars_per_year(pd.Timedelta("1h"), "fx") == pytest.approx(260 * 24)
    assert bars_per_year(pd.Timedelta("30min"), "equity") == pytest.approx(252 * 13)
    assert bars_per_year(pd.Timedelta("7D"), "equity") == pytest.approx(36)
    with pytest.raises(DataError, match="unknown market calendar"):
        bars_per_year(pd.Timedelta("1h"), "moon")
