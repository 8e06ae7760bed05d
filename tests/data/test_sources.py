"""The source registry (spec grammar, routing, validation, windows) and `edgelab data show`."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from edgelab.cli import app, main
from edgelab.data.sources import describe_sources, load_bars, parse_synthetic_params
from edgelab.data.sources.synthetic import synthetic_market
from edgelab.errors import DataError, SourceError


def test_parse_synthetic_params_types_aliases_and_defaults():
    assert parse_synthetic_params("") == {}
    parsed = parse_synthetic_params(
        "assets=3, n=5000,interval=1h,signal=ar,strength=0.3,seed=7,garch=0.1/0.1/0.8,"
        "regimes=off,start=2021-02-03T04:00"
    )
    assert parsed == {
        "assets": 3,
        "n_bars": 5000,
        "interval": "1h",
        "signal": "ar",
        "strength": 0.3,
        "seed": 7,
        "garch": (0.1, 0.1, 0.8),
        "regimes": False,
        "start": "2021-02-03T04:00",
    }
    assert parse_synthetic_params("garch=off") == {"garch": None}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sead=3", "unknown synthetic parameter 'sead' (did you mean 'seed'?)"),
        ("n=many", "n='many' is not a valid int"),
        ("regimes=maybe", "regimes='maybe' is not a valid bool"),
        ("garch=0.1/0.2", "omega/alpha/beta"),
        ("seed", "'seed' is not KEY=VALUE"),
    ],
)
def test_bad_synthetic_params_name_the_key(text, message):
    with pytest.raises(SourceError) as info:
        parse_synthetic_params(text)
    assert message in str(info.value)


def test_synthetic_spec_equals_the_function_and_carries_a_quality_report():
    spec = "synthetic:assets=2,n=400,signal=lead_lag,strength=0.4,seed=3"
    loaded = load_bars(spec)
    direct = synthetic_market(assets=2, n_bars=400, signal="lead_lag", strength=0.4, seed=3)
    assert list(loaded) == ["SYN0", "SYN1"]
    for symbol, bars in loaded.items():
        pd.testing.assert_frame_equal(bars, direct[symbol], check_freq=False)
        assert bars.attrs["source"] == spec and bars.attrs["interval"] == "1h"
        quality = bars.attrs["quality"]
        assert quality["ok"] and quality["rows_out"] == 400 and quality["where"] == spec
        assert quality["gaps"]["count"] == 0 and quality["calendar"] == "crypto"


def test_synthetic_passes_strict_validation_on_every_calendar():
    for calendar, interval in (("crypto", "5m"), ("fx", "1h"), ("equity", "30m"), ("equity", "1d")):
        spec = f"synthetic:n=3000,assets=2,calendar={calendar},interval={interval},seed=1"
        for bars in load_bars(spec, policy="strict").values():
            quality = bars.attrs["quality"]
            assert quality["ok"] and quality["calendar"] == calendar
            assert quality["gaps"]["count"] == 0, (spec, quality["gaps"])
            assert quality["repairs"] == []
            if calendar != "crypto":  # weekends (and nights) are expected closures
                assert quality["gaps"]["expected"] > 0


def test_sample_spec_routes_to_the_catalogue():
    (bars,) = load_bars("sample:EURUSD_1h").values()
    assert bars.attrs["symbol"] == "EURUSD" and bars.attrs["source"] == "sample:EURUSD_1h"
    assert len(bars) == 6225


def test_window_is_half_open_and_its_report_describes_the_window():
    (bars,) = load_bars("sample:eurusd_1h", start="2017-06-01", end="2017-06-02 10:00").values()
    assert bars.index[0] == pd.Timestamp("2017-06-01 00:00", tz="UTC")
    assert bars.index[-1] == pd.Timestamp("2017-06-02 09:00", tz="UTC")
    assert len(bars) == 34
    quality = bars.attrs["quality"]
    assert quality["rows_out"] == 34 and quality["gaps"]["count"] == 0
    with pytest.raises(SourceError, match="no bars in"):
        load_bars("sample:eurusd_1h", start="2030-01-01")


def test_file_source_by_path_and_prefix_keeps_the_reader_repairs(tmp_path):
    bars = synthetic_market(n_bars=300, seed=4)["SYN0"]
    path = tmp_path / "prices.csv"
    bars.iloc[::-1].to_csv(path)  # reversed rows: repair sorts them, strict refuses
    (loaded,) = load_bars(str(path)).values()
    np.testing.assert_allclose(loaded["close"].to_numpy(), bars["close"].to_numpy())
    assert loaded.attrs["symbol"] == "prices" and loaded.attrs["source"] == str(path)
    assert any("sorted" in r for r in loaded.attrs["quality"]["repairs"])
    with pytest.raises(DataError, match="unsorted"):
        load_bars(f"file:{path}", policy="strict")
    (window,) = load_bars(f"file:{path}", start=bars.index[100]).values()
    assert len(window) == 200 and window.attrs["quality"]["rows_out"] == 200
    assert any("sorted" in r for r in window.attrs["quality"]["repairs"])


def test_cache_source_reads_the_store_and_allows_slashes_in_symbols(tmp_path):
    from edgelab.data.store import BarStore

    bars = synthetic_market(n_bars=200, seed=5)["SYN0"]
    BarStore(tmp_path).write(bars, "binance", "BTC/USDT", "1h")
    loaded = load_bars("cache:binance/BTC/USDT/1h", data_dir=tmp_path)
    assert list(loaded) == ["BTC/USDT"]
    got = loaded["BTC/USDT"]
    np.testing.assert_array_equal(got["close"].to_numpy(), bars["close"].to_numpy())
    assert got.attrs["calendar"] == "crypto" and got.attrs["quality"]["ok"]
    with pytest.raises(DataError, match="edgelab data download"):
        load_bars("cache:binance/ETHUSDT/1h", data_dir=tmp_path)
    with pytest.raises(SourceError, match="cache:EXCHANGE/SYMBOL/INTERVAL"):
        load_bars("cache:binance/1h", data_dir=tmp_path)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("sampel:eurusd_1h", "unknown source prefix 'sampel:' (did you mean 'sample'?)"),
        ("sample:eurusd", "unknown sample 'eurusd' (did you mean 'eurusd_1h'?)"),
        ("eurusd_1h", "did you mean 'sample:eurusd_1h'?"),
        ("no/such/file.csv", "no such file 'no/such/file.csv'"),
        ("file:no_such.csv", "no such file 'no_such.csv'"),
        ("synthetic:signal=arr", "unknown synthetic signal 'arr' (did you mean 'ar'?)"),
    ],
)
def test_unknown_sources_raise_source_errors_with_suggestions(spec, message):
    with pytest.raises(SourceError) as info:
        load_bars(spec)
    assert message in str(info.value)


def test_describe_sources_lists_every_prefix_and_the_samples():
    rows = describe_sources()
    assert [row["spec"].split(":")[0] for row in rows] == ["sample", "synthetic", "cache", "file"]
    assert "eurusd_1h" in rows[0]["description"]
    assert load_bars(rows[1]["example"])  # the documented example spec works


def test_cli_show_prints_span_rows_gaps_and_price_summary():
    result = subprocess.run(
        [sys.executable, "-m", "edgelab", "data", "show", "sample:eurusd_1h", "--rows", "3"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for text in ("span", "2017-01-01 22:00 to 2017-12-29 21:00", "rows", "6,225", "gaps"):
        assert text in out
    assert "1 unexpected (14 missing bars), longest 14h" in out  # the Christmas break
    assert "51 expected market closures" in out  # the weekends
    assert "1.05227 / 1.20075" in out  # first / last close
    assert "+14.11%" in out and "annualized vol" in out
    assert "last 3 bars" in out and "2017-12-29 21:00" in out


def test_cli_show_synthetic_with_window_and_full_report():
    result = CliRunner().invoke(
        app,
        [
            "data",
            "show",
            "synthetic:n=100,assets=2",
            "--rows",
            "0",
            "--end",
            "2020-01-02",
            "--quality",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "SYN0" in result.output and "SYN1" in result.output
    assert "24 kept of 24" in result.output  # the full report, cut to [start, 2020-01-02)
    assert "timestamp (UTC)" not in result.output  # --rows 0: no tail


def test_cli_unknown_source_exits_2_with_a_one_line_suggestion(capsys):
    with pytest.raises(SystemExit) as info:
        main(["data", "show", "sample:eurusd"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "did you mean 'eurusd_1h'" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
