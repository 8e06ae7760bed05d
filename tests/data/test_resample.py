"""resample_bars: exact values on hand-made bars, anchoring, errors, and a split property."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgelab.data.resample import resample_bars
from edgelab.data.schema import validate_bars
from edgelab.errors import DataError


def frame(rows, start="2024-01-01", freq="15min", interval="15m"):
    """rows: (minutes after start, open, high, low, close, volume)."""
    index = pd.DatetimeIndex(
        [pd.Timestamp(start, tz="UTC") + pd.Timedelta(minutes=m) for m, *_ in rows],
        name="timestamp",
    ).as_unit("us")
    out = pd.DataFrame(
        [r[1:] for r in rows],
        index=index,
        columns=["open", "high", "low", "close", "volume"],
        dtype=float,
    )
    out.attrs = {"symbol": "HAND", "interval": interval, "source": "test"}
    return out


HAND = frame(
    [
        (0, 10, 12, 9, 11, 1),
        (15, 11, 13, 10, 12, 2),
        (30, 12, 12.5, 8, 9, 3),
        (45, 9, 10, 8.5, 9.5, 4),
        (60, 9.5, 11, 9, 10, 5),
        (75, 10, 10.5, 9.8, 10.2, 6),
        # 01:30 missing
        (105, 10.2, 14, 10, 13, 7),
        # 02:00..02:45 missing: that bin is omitted, not filled
        (180, 13, 13.5, 12, 12.5, 1),
    ]
)


def test_hand_made_15m_to_1h():
    out = resample_bars(HAND, "1h")
    expected = frame(
        [(0, 10, 13, 8, 9.5, 10), (60, 9.5, 14, 9, 13, 18), (180, 13, 13.5, 12, 12.5, 1)],
        interval="1h",
    )
    pd.testing.assert_frame_equal(out, expected, check_exact=True)
    assert out.attrs == {"symbol": "HAND", "interval": "1h", "source": "test"}


def test_drop_incomplete_drops_only_the_last_bin():
    out = resample_bars(HAND, "1h", drop_incomplete=True)
    assert out.index.strftime("%H:%M").tolist() == ["00:00", "01:00"]  # 01:00 has 3 of 4, kept
    complete = resample_bars(HAND.iloc[:4], "1h", drop_incomplete=True)
    assert len(complete) == 1 and complete["volume"].iloc[0] == 10


def test_bid_ask_alike_and_spread_mean():
    bars = HAND.iloc[:4].copy()
    for side, shift in (("bid", -0.1), ("ask", 0.1)):
        for part in ("open", "high", "low", "close"):
            bars[f"{side}_{part}"] = bars[part] + shift
    bars["spread"] = [0.1, 0.3, 0.2, 0.4]
    out = resample_bars(bars, "1h").iloc[0]
    assert out[["bid_open", "bid_high", "bid_low", "bid_close"]].tolist() == pytest.approx(
        [9.9, 12.9, 7.9, 9.4]
    )
    assert out[["ask_open", "ask_high", "ask_low", "ask_close"]].tolist() == pytest.approx(
        [10.1, 13.1, 8.1, 9.6]
    )
    assert out["spread"] == pytest.approx(0.25)


def _hourly(start, n):
    bars = frame([(60 * i, 1, 2, 0.5, 1.5, 1) for i in range(n)], start=start, interval="1h")
    bars["close"] = np.arange(n, dtype=float) + 1  # to see which bar is last
    bars["high"] = bars["close"] + 1
    return bars


def test_bins_are_anchored_at_the_epoch():
    out = resample_bars(_hourly("2024-01-01 05:00", 8), "4h")  # 05..12
    assert out.index.strftime("%H:%M").tolist() == ["04:00", "08:00", "12:00"]
    assert out["volume"].tolist() == [3, 4, 1] and out["close"].tolist() == [3, 7, 8]
    daily = resample_bars(_hourly("2024-01-01 22:00", 4), "1d")
    assert daily.index.tolist() == [
        pd.Timestamp("2024-01-01", tz="UTC"),
        pd.Timestamp("2024-01-02", tz="UTC"),
    ]


def test_weeks_start_on_monday():
    days = frame(
        [(1440 * i, 1, 2, 0.5, 1.5, 1) for i in range(10)], start="2024-01-03", interval="1d"
    )
    out = resample_bars(days, "1w")  # Wed 2024-01-03 .. Fri 2024-01-12
    assert out.index.tolist() == [
        pd.Timestamp("2024-01-01", tz="UTC"),
        pd.Timestamp("2024-01-08", tz="UTC"),
    ]
    assert out["volume"].tolist() == [5, 5]


@pytest.mark.parametrize("target", ["90m", "30m", "1h", "45m"])
def test_only_coarser_whole_multiples(target):
    with pytest.raises(DataError, match="whole multiple of 1h"):
        resample_bars(_hourly("2024-01-01", 6), target)


def test_bars_off_the_target_grid_are_refused():
    with pytest.raises(DataError, match="straddles a 2h boundary"):
        resample_bars(_hourly("2024-01-01 01:30", 4), "2h")


def test_interval_inferred_and_unknown_columns():
    bars = _hourly("2024-01-01", 4)
    bars.attrs = {}
    assert resample_bars(bars, "2h").attrs == {"interval": "2h"}
    bars["rsi"] = 50.0
    with pytest.raises(DataError, match="no aggregation rule for columns \\['rsi'\\]"):
        resample_bars(bars, "2h")
    with pytest.raises(DataError, match="interval unknown"):
        resample_bars(bars.iloc[:1][["close"]], "2h")


def test_output_meets_the_bars_contract():
    out = resample_bars(HAND, "1h")
    again, report = validate_bars(out)
    pd.testing.assert_frame_equal(again, out)
    assert report.ok


# ---------------------------------------------------------------- property
@st.composite
def hourly_bars(draw):
    n = draw(st.integers(48, 24 * 6))
    keep = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    keep[0] = True
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    close = 100 + np.cumsum(rng.normal(0, 1, n))
    open_ = close + rng.normal(0, 0.5, n)
    index = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC", name="timestamp").as_unit(
        "us"
    )
    bars = pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + rng.uniform(0, 1, n),
            "low": np.minimum(open_, close) - rng.uniform(0, 1, n),
            "close": close,
            "volume": rng.uniform(0, 5, n),
        },
        index=index,
    )[keep]
    bars.attrs = {"symbol": "P", "interval": "1h"}
    return bars


@settings(max_examples=40, deadline=None)
@given(
    bars=hourly_bars(), target=st.sampled_from(["2h", "4h", "6h", "1d"]), cut_day=st.integers(1, 5)
)
def test_resample_commutes_with_an_aligned_split(bars, target, cut_day):
    boundary = pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(
        days=cut_day
    )  # aligned to target
    left, right = bars[bars.index < boundary], bars[bars.index >= boundary]
    whole = resample_bars(bars, target)
    pieces = [resample_bars(p, target) for p in (left, right) if len(p)]
    pd.testing.assert_frame_equal(whole, pd.concat(pieces), check_exact=True)


# ---------------------------------------------------------------- CLI
def _cli(args):
    from edgelab.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return exit_info.value.code


def test_cli_resample_writes_the_coarse_file(tmp_path, capsys):
    from edgelab.data.readers import read_bars, write_bars

    source = write_bars(HAND, tmp_path / "HAND.parquet")
    out = tmp_path / "HAND_1h.csv"
    assert (
        _cli(["data", "resample", str(source), "--to", "1h", "-o", str(out), "--drop-incomplete"])
        == 0
    )
    back = read_bars(out)["HAND_1h"]
    expected = resample_bars(HAND, "1h", drop_incomplete=True)
    pd.testing.assert_frame_equal(back, expected, check_freq=False)
    assert "8 bars of 15m -> 2 bars of 1h" in capsys.readouterr().out


def test_cli_resample_errors_exit_2(tmp_path, capsys):
    import json

    from edgelab.data.readers import write_bars

    source = write_bars(HAND, tmp_path / "HAND.parquet")
    assert (
        _cli(["data", "resample", str(source), "--to", "20m", "-o", str(tmp_path / "o.csv")]) == 2
    )
    assert "whole multiple of 15m" in capsys.readouterr().err
    candles = [
        {"t": 1704067200 + 60 * i, "o": 1, "h": 2, "l": 0.5, "c": 1.5, "v": 1} for i in range(4)
    ]
    many = tmp_path / "many.json"
    many.write_text(
        json.dumps([{"symbol": "A", "candles": candles}, {"symbol": "B", "candles": candles}])
    )
    assert _cli(["data", "resample", str(many), "--to", "2m", "-o", str(tmp_path / "o.csv")]) == 2
    assert "holds 2 symbols (A, B)" in capsys.readouterr().err
    assert (
        _cli(
            [
                "data",
                "resample",
                str(many),
                "--symbol",
                "B",
                "--to",
                "2m",
                "-o",
                str(tmp_path / "o.csv"),
            ]
        )
        == 0
    )
    assert not (tmp_path / "o.csv").with_suffix(".csv.tmp").exists()
