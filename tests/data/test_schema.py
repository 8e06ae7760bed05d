"""validate_bars: every rule under both policies, gaps and calendars, stale quotes, report."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from edgelab.data.gaps import detect_calendar, gap_summary
from edgelab.data.quality import QualityReport, render_report
from edgelab.data.schema import OHLCV, validate_bars
from edgelab.errors import DataError


def finding(report, rule):
    matches = [f for f in report.findings if f.rule == rule]
    assert len(matches) == 1, report.rules()
    return matches[0]


def test_valid_bars_pass_unchanged(make_bars):
    bars = make_bars(48)
    out, report = validate_bars(bars)
    pd.testing.assert_frame_equal(out, bars, check_freq=False)
    assert report.ok and report.repairs == []
    assert report.by_severity("error") == [] and report.by_severity("warning") == []
    assert (report.rows_in, report.rows_out, report.interval) == (48, 48, "1h")
    assert out.attrs == {"symbol": "TEST", "source": "test", "interval": "1h"}
    assert str(out.index.dtype) == "datetime64[us, UTC]" and out.index.name == "timestamp"
    again, report2 = validate_bars(out)  # idempotent
    pd.testing.assert_frame_equal(again, out) and report2.ok


def _set(frame, row, column, value):
    frame.iloc[row, frame.columns.get_loc(column)] = value
    return frame


def _cross(frame, row):
    """Put the whole ask side of `row` just below its bid side (consistent OHLC)."""
    for part in ("open", "high", "low", "close"):
        _set(frame, row, f"ask_{part}", frame[f"bid_{part}"].iloc[row] - 1e-6)
    return frame


# rule -> (corruption, rows it breaks): each corrupts rows 3 and 7 of 48 hourly bars
ROW_RULES = {
    "nan_inf": lambda b: _set(_set(b, 3, "close", np.nan), 7, "volume", np.inf),
    "non_positive_price": lambda b: _set(_set(b, 3, "low", 0.0), 7, "low", -1.0),
    "high_below_low": lambda b: _set(_set(b, 3, "high", b["low"].iloc[3] - 1), 7, "low", 1e6),
    "high_below_open_close": lambda b: _set(
        _set(b, 3, "high", b[["open", "close"]].iloc[3].max() - 1e-9),
        7,
        "high",
        b[["open", "close"]].iloc[7].max() - 1e-9,
    ),  # fmt: skip
    "low_above_open_close": lambda b: _set(
        _set(b, 3, "low", b[["open", "close"]].iloc[3].min() + 1e-9),
        7,
        "low",
        b[["open", "close"]].iloc[7].min() + 1e-9,
    ),  # fmt: skip
    "negative_volume": lambda b: _set(_set(b, 3, "volume", -1.0), 7, "volume", -0.5),
    "bid_above_ask": lambda b: _cross(_set(b, 7, "ask_low", b["bid_low"].iloc[7] - 1e-6), 3),
    "negative_spread": lambda b: _set(_set(b, 3, "spread", -0.1), 7, "spread", -1e-9),
}


@pytest.mark.parametrize("rule", sorted(ROW_RULES))
def test_row_rule_strict_raises_naming_rule_and_first_row(rule, make_bars):
    bars = ROW_RULES[rule](make_bars(48, bid_ask=True))
    with pytest.raises(DataError) as err:
        validate_bars(bars, where="x.csv")
    text = str(err.value)
    assert text.startswith(f"x.csv: [{rule}]")
    assert f"first at {bars.index[3]} (row 4)" in text
    assert "policy 'repair'" in text


@pytest.mark.parametrize("rule", sorted(ROW_RULES))
def test_row_rule_repair_drops_exactly_those_rows(rule, make_bars):
    clean = make_bars(48, bid_ask=True)
    bars = ROW_RULES[rule](clean.copy())
    out, report = validate_bars(bars, policy="repair")
    f = finding(report, rule)
    assert (f.severity, f.count) == ("error", 2)
    assert f.first == [f"{bars.index[3]} (row 4)", f"{bars.index[7]} (row 8)"]
    expected = clean.drop(clean.index[[3, 7]])
    pd.testing.assert_frame_equal(out, expected, check_freq=False)
    assert not report.ok
    assert any("dropped 2 rows that cannot be real bars" in r and rule in r for r in report.repairs)


def test_high_below_low_is_reported_first(make_bars):
    bars = _set(make_bars(10), 2, "high", 1.0)  # below low, open and close too
    with pytest.raises(DataError, match=r"\[high_below_low\].*also: high_below_open_close"):
        validate_bars(bars)


def test_unsorted_strict_and_repair(make_bars):
    clean = make_bars(20)
    bars = clean.iloc[[0, 1, 5, 2, 3, 4, *range(6, 20)]]
    with pytest.raises(DataError, match=r"\[unsorted\].*first at .*02:00:00\+00:00 \(row 4\)"):
        validate_bars(bars)
    out, report = validate_bars(bars, policy="repair")
    pd.testing.assert_frame_equal(out, clean, check_freq=False)
    assert finding(report, "unsorted").count == 1
    assert report.repairs == ["sorted 20 rows by time"]


def test_duplicates_keep_the_last(make_bars):
    clean = make_bars(10)
    late = clean.iloc[[4]].copy()
    late["close"] = late["open"]  # a corrected bar sent again later
    bars = pd.concat([clean.iloc[:5], late, clean.iloc[5:]])
    with pytest.raises(DataError, match=r"\[duplicate_timestamps\].*04:00:00\+00:00 \(row 5\)"):
        validate_bars(bars)
    out, report = validate_bars(bars, policy="repair")
    assert len(out) == 10 and out["close"].iloc[4] == late["close"].iloc[0]
    assert finding(report, "duplicate_timestamps").count == 1
    assert "dropped 1 rows with a duplicate timestamp (kept the last)" in report.repairs


def test_unsorted_duplicates_keep_the_last_in_file_order(make_bars):
    clean = make_bars(6)
    late = clean.iloc[[1]].copy()
    late["volume"] = 123.0
    bars = pd.concat([clean.iloc[:3], late, clean.iloc[3:]]).iloc[::-1]  # late comes first
    out, _ = validate_bars(bars, policy="repair")
    assert out["volume"].iloc[1] == clean["volume"].iloc[1]  # last in file order wins


def test_naive_timestamps(make_bars):
    bars = make_bars(10, tz=None)
    with pytest.raises(DataError, match=r"\[naive_timestamps\].*tz='UTC'"):
        validate_bars(bars)
    out, report = validate_bars(bars, policy="repair")
    assert str(out.index.tz) == "UTC"
    assert (out.index.tz_localize(None) == bars.index).all()
    assert finding(report, "naive_timestamps").severity == "error"
    assert report.repairs == ["took naive timestamps as UTC"]


def test_other_time_zone_is_converted_not_an_error(make_bars):
    bars = make_bars(10, tz="Europe/Berlin")
    out, report = validate_bars(bars)
    assert report.ok and finding(report, "timezone_converted").severity == "info"
    assert (out.index == bars.index).all() and str(out.index.tz) == "UTC"


def test_missing_timestamps(make_bars):
    bars = make_bars(10)
    bars.index = bars.index.where(np.arange(10) != 4, pd.NaT)
    with pytest.raises(DataError, match=r"\[missing_timestamps\]"):
        validate_bars(bars)
    out, _ = validate_bars(bars, policy="repair")
    assert len(out) == 9


def test_non_numeric_values(make_bars):
    bars = make_bars(10)
    bars["close"] = bars["close"].astype(object)
    bars.iloc[6, bars.columns.get_loc("close")] = "n/a?"
    with pytest.raises(DataError, match=r"\[non_numeric\] 1 non-numeric values in column 'close'"):
        validate_bars(bars)
    out, report = validate_bars(bars, policy="repair")
    assert len(out) == 9 and out["close"].dtype == np.float64
    assert {"non_numeric", "nan_inf"} <= set(report.rules())


@pytest.mark.parametrize("policy", ["strict", "repair"])
def test_missing_price_column_always_raises(make_bars, policy):
    with pytest.raises(DataError, match="missing column 'close'"):
        validate_bars(make_bars(5).drop(columns="close"), policy=policy)


def test_missing_volume(make_bars):
    bars = make_bars(5).drop(columns="volume")
    with pytest.raises(DataError, match=r"\[missing_volume\]"):
        validate_bars(bars)
    out, report = validate_bars(bars, policy="repair")
    assert list(out.columns) == list(OHLCV) and (out["volume"] == 0).all()
    assert "added column 'volume' = 0 (the input has none)" in report.repairs


def test_extra_and_differently_cased_columns(make_bars):
    bars = make_bars(5).rename(columns={"Open": "x"} | {"open": "Open"})
    bars["note"] = "hi"
    out, report = validate_bars(bars)
    assert list(out.columns) == list(OHLCV)
    assert finding(report, "extra_columns").message == "dropped columns ['note']"


def test_timestamp_column_is_accepted(make_bars):
    bars = make_bars(5)
    out, _ = validate_bars(bars.reset_index())
    pd.testing.assert_frame_equal(out, validate_bars(bars)[0], check_freq=False)


def test_empty_and_fully_dropped(make_bars):
    with pytest.raises(DataError, match="no bars"):
        validate_bars(make_bars(3).iloc[:0])
    bars = make_bars(3)
    bars["close"] = np.nan
    with pytest.raises(DataError, match="no bars left"):
        validate_bars(bars, policy="repair")


def test_bad_policy_and_calendar_names(make_bars):
    with pytest.raises(DataError, match="did you mean 'repair'"):
        validate_bars(make_bars(3), policy="repiar")
    with pytest.raises(DataError, match="unknown market calendar 'forex'"):
        validate_bars(make_bars(3), calendar="forex")


def test_where_and_lines_name_the_file_line(make_bars):
    bars = _set(make_bars(5), 2, "volume", -1.0)
    with pytest.raises(DataError, match=r"^f\.csv: .*\(line 13\)"):
        validate_bars(bars, where="f.csv", lines=[10, 11, 13, 14, 15])


# ---------------------------------------------------------------- interval, gaps
def test_interval_given_attr_or_inferred(make_bars):
    bars = make_bars(10, freq="15min")
    assert validate_bars(bars)[0].attrs["interval"] == "15m"
    bars.attrs["interval"] = "15m"
    _, report = validate_bars(bars)
    assert "interval" not in report.rules()  # from attrs, nothing to say
    out, report = validate_bars(bars, interval="5m")
    assert out.attrs["interval"] == "5m" and "interval" in report.rules()


def test_spacing_below_interval_warns(make_bars):
    bars = make_bars(10)
    out, report = validate_bars(bars, interval="2h")
    f = finding(report, "spacing_below_interval")
    assert f.severity == "warning" and f.count == 9 and report.ok


def test_gaps_are_warnings_with_count_longest_where(make_bars):
    bars = make_bars(48)
    bars = bars.drop(bars.index[[5, 20, 21, 22]])
    out, report = validate_bars(bars)  # strict: gaps do not raise
    assert len(out) == 44 and report.ok
    g = report.gaps
    assert (g.count, g.missing_bars, g.longest, g.expected) == (2, 4, "3h", 0)
    assert (
        g.where
        == f"{bars.index[0] + pd.Timedelta(hours=20)} to {bars.index[0] + pd.Timedelta(hours=23)}"
    )
    assert finding(report, "gaps").severity == "warning"


def _weekday_hours(build_bars, weeks: int, hours=range(24)):
    days = pd.date_range("2024-01-01", periods=7 * weeks, freq="D", tz="UTC")  # a Monday
    stamps = [d + pd.Timedelta(hours=h) for d in days if d.day_of_week < 5 for h in hours]
    return build_bars(len(stamps)).set_axis(
        pd.DatetimeIndex(stamps, name="timestamp").as_unit("us")
    )


def test_fx_weekends_are_expected_closures(make_bars):
    bars = _weekday_hours(make_bars, 3)
    _, report = validate_bars(bars)
    assert report.calendar == "fx"
    assert (report.gaps.count, report.gaps.expected) == (0, 2)
    _, crypto = validate_bars(bars, calendar="crypto")  # told it trades 24/7: faults
    assert crypto.gaps.count == 2 and crypto.gaps.longest == "2d"


def test_fx_midweek_hole_is_a_fault(make_bars):
    bars = _weekday_hours(make_bars, 3)
    bars = bars.drop(bars.index[30:33])
    _, report = validate_bars(bars, calendar="fx")
    assert (report.gaps.count, report.gaps.missing_bars, report.gaps.expected) == (1, 3, 2)


def test_fx_friday_evening_close_sunday_evening_open(make_bars):
    stamps = pd.date_range("2024-01-01", "2024-01-31", freq="h", tz="UTC")
    wd, hour = stamps.day_of_week, stamps.hour
    closed = ((wd == 4) & (hour >= 22)) | (wd == 5) | ((wd == 6) & (hour < 22))
    bars = make_bars(int((~closed).sum())).set_axis(
        stamps[~closed].as_unit("us").rename("timestamp")
    )
    _, report = validate_bars(bars)
    assert report.calendar == "fx" and report.gaps.count == 0 and report.gaps.expected == 4


def test_equity_daily_weekends_and_holidays(make_bars):
    days = pd.bdate_range("2024-01-01", "2024-03-29", tz="UTC")
    days = days.drop(pd.Timestamp("2024-01-15", tz="UTC"))  # a Monday holiday
    days = days.drop(pd.bdate_range("2024-02-12", "2024-02-16", tz="UTC"))  # a lost week
    bars = make_bars(len(days)).set_axis(days.as_unit("us").rename("timestamp"))
    _, report = validate_bars(bars)
    assert report.calendar == "equity"
    assert report.gaps.count == 1 and report.gaps.where.startswith("2024-02-10")
    # 12 weekends: one joined with the holiday (expected), two inside the lost week (fault)
    assert report.gaps.expected == 10


def test_equity_intraday_nights_are_closures(make_bars):
    bars = _weekday_hours(make_bars, 3, hours=range(14, 21))
    _, report = validate_bars(bars)
    assert report.calendar == "equity"
    assert report.gaps.count == 0 and report.gaps.expected == 14  # 15 sessions


def test_detect_calendar_cases(make_bars):
    step = pd.Timedelta(hours=1)
    assert detect_calendar(make_bars(24 * 20).index, step)[0] == "crypto"
    assert detect_calendar(make_bars(24 * 5).index, step)[0] == "crypto"  # too short
    assert detect_calendar(_weekday_hours(make_bars, 3).index, step)[0] == "fx"
    assert detect_calendar(make_bars(10, freq="7D").index, pd.Timedelta(days=7))[0] is None


def test_gap_summary_none_without_holes(make_bars):
    summary = gap_summary(make_bars(30).index, pd.Timedelta(hours=1), "crypto")
    assert (summary.count, summary.expected, summary.longest) == (0, 0, None)


# ---------------------------------------------------------------- stale quotes
def test_stale_quotes_reported_not_raised(make_bars):
    bars = make_bars(100)
    bars.iloc[10:35, bars.columns.get_loc("close")] = 101.0  # 25 equal closes
    bars["open"] = bars["close"]
    bars["high"] = bars["close"] + 1
    bars["low"] = bars["close"] - 1
    out, report = validate_bars(bars)
    f = finding(report, "stale_quotes")
    assert f.severity == "warning" and f.count == 1 and report.ok
    assert f.first == [f"{bars.index[10]} (25 bars)"]
    _, relaxed = validate_bars(bars, stale_bars=30)
    assert "stale_quotes" not in relaxed.rules()


def test_stale_default_is_shorter_for_daily(make_bars):
    bars = make_bars(30, freq="D")
    bars.iloc[5:11, bars.columns.get_loc("close")] = 100.0
    bars["high"] = np.maximum(bars["high"], 100.5)
    bars["low"] = np.minimum(bars["low"], 99.5)
    _, report = validate_bars(bars)
    assert finding(report, "stale_quotes").first == [f"{bars.index[5]} (6 bars)"]


# ---------------------------------------------------------------- report
def test_report_to_dict_is_json_and_renders(make_bars):
    bars = make_bars(48, tz=None)
    bars = bars.drop(bars.index[10:12])
    _, report = validate_bars(bars, policy="repair", where="demo.csv")
    doc = json.loads(json.dumps(report.to_dict()))
    assert QualityReport.from_dict(doc) == report
    assert doc["ok"] is False and doc["gaps"]["count"] == 1 and doc["where"] == "demo.csv"
    assert {f["rule"] for f in doc["findings"]} >= {"naive_timestamps", "gaps"}
    buffer = io.StringIO()
    Console(file=buffer, width=120).print(render_report(report))
    text = buffer.getvalue()
    assert (
        "demo.csv" in text and "naive_timestamps" in text and "took naive timestamps as UTC" in text
    )


# ---------------------------------------------------------------- property: nothing filled
@settings(max_examples=40, deadline=None)
@given(
    data=st.lists(
        st.tuples(
            st.integers(0, 30),  # hour
            st.sampled_from([1.0, 2.0, -1.0, 0.0, np.nan, np.inf]),
            st.floats(0.0, 3.0),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_repair_only_removes_rows_never_invents(data):
    start = pd.Timestamp("2024-01-01", tz="UTC")
    index = pd.DatetimeIndex([start + pd.Timedelta(hours=h) for h, _, _ in data], name="timestamp")
    level = np.array([p for _, p, _ in data])
    frame = pd.DataFrame(
        {
            "open": level,
            "high": level + 0.5,
            "low": level - 0.25,
            "close": level,
            "volume": [v for *_, v in data],
        },
        index=index,
    )
    try:
        out, report = validate_bars(frame, policy="repair")
    except DataError as exc:  # only when nothing valid is left
        assert "no bars left" in str(exc)
        return
    assert out.index.is_monotonic_increasing and out.index.is_unique
    last = frame[~frame.index.duplicated(keep="last")]
    for t, row in out.iterrows():  # every kept row is the input's last row at that time
        pd.testing.assert_series_equal(row, last.loc[t].astype("float64"), check_names=False)
    assert report.rows_out == len(out) <= report.rows_in == len(frame)
