"""`download_dukascopy` into the bar store and the `edgelab data dukascopy` command."""

from __future__ import annotations

import pandas as pd
import pytest
import typer
from fake_datafeed import H0, hour_path, random_hour, tick_file
from typer.testing import CliRunner

from edgelab.cli.data_dukascopy import download_dukascopy, register, run_dukascopy_download
from edgelab.data.sources import load_bars
from edgelab.data.sources.dukascopy import parse_ticks, ticks_to_bars
from edgelab.data.store import BarStore
from edgelab.errors import SourceError

HOUR = pd.Timedelta(hours=1)


@pytest.fixture
def served(feed):
    """EURUSD hours 0-7 of 2019-02-04 with ticks, except an empty hour 3."""
    records = {i: ([] if i == 3 else random_hour(10 + i)) for i in range(8)}
    for i, rows in records.items():
        feed.put("EURUSD", H0 + i * HOUR, tick_file(rows))
    return records


def all_ticks(records, hours) -> pd.DataFrame:
    return pd.concat(
        parse_ticks(tick_file(records[i]), H0 + i * HOUR, point=1e5, where="x")
        for i in hours
        if records[i]
    )


def test_download_stores_bars_that_cache_specs_load(feed, served, tmp_path):
    bars = download_dukascopy(
        "EURUSD", "15m", "2019-02-04", "2019-02-04 06:00", data_dir=tmp_path,
        base_url=feed.base_url, progress=False,
    )  # fmt: skip
    expected = ticks_to_bars(all_ticks(served, range(6)), "15m", symbol="EURUSD")
    pd.testing.assert_frame_equal(bars, expected, check_freq=False)
    report = bars.attrs["dukascopy"]
    assert report["downloaded"] == 6 and report["empty_hours"] == [str(H0 + 3 * HOUR)]
    assert report["empty_bars"] == 4 and report["bars"] == 20
    loaded = load_bars("cache:dukascopy/EURUSD/15m", data_dir=tmp_path)["EURUSD"]
    pd.testing.assert_frame_equal(loaded[list(bars.columns)], bars, check_freq=False)
    assert loaded.attrs["quality"]["gaps"]["count"] == 1  # the closed hour, reported


def test_second_run_requests_nothing_and_extension_fetches_only_new_hours(feed, served, tmp_path):
    kwargs = dict(data_dir=tmp_path, base_url=feed.base_url, progress=False)
    download_dukascopy("EURUSD", "1h", "2019-02-04", "2019-02-04 06:00", **kwargs)
    seen = list(feed.log)
    again = download_dukascopy("EURUSD", "1h", "2019-02-04", "2019-02-04 06:00", **kwargs)
    assert feed.log == seen and again.attrs["dukascopy"]["hours"] == 0  # store verified it
    longer = download_dukascopy("EURUSD", "1h", "2019-02-04", "2019-02-04 08:00", **kwargs)
    assert sorted(feed.log[len(seen) :]) == [
        hour_path("EURUSD", H0 + 6 * HOUR),
        hour_path("EURUSD", H0 + 7 * HOUR),
    ]
    assert len(longer) == 7  # hours 0-7 without the empty hour 3
    coverage = BarStore(tmp_path).coverage("dukascopy", "EURUSD", "1h")
    assert coverage.missing == []  # the closed hour is a verified gap, not a hole


def test_other_intervals_reuse_the_raw_cache(feed, served, tmp_path):
    kwargs = dict(data_dir=tmp_path, base_url=feed.base_url, progress=False)
    download_dukascopy("EURUSD", "1h", "2019-02-04", "2019-02-04 04:00", **kwargs)
    seen = len(feed.log)
    bars = download_dukascopy("EURUSD", "1m", "2019-02-04", "2019-02-04 04:00", **kwargs)
    assert len(feed.log) == seen and bars.attrs["dukascopy"]["cached"] == 4


def test_command_prints_a_summary_and_reports_errors(feed, served, tmp_path):
    app = typer.Typer()
    register(app)

    @app.callback()
    def root() -> None:  # a group, so the command is invoked by name as under `edgelab data`
        pass

    runner = CliRunner()
    args = ["dukascopy", "EURUSD", "30m", "--start", "2019-02-04", "--end", "2019-02-04 04:00",
            "--base-url", feed.base_url, "--data-dir", str(tmp_path), "--no-progress"]  # fmt: skip
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "EURUSD 30m bars" in result.output and "2019-02-04 02:30" in result.output
    assert "hours closed (0-byte files)" in result.output
    assert BarStore(tmp_path).exists("dukascopy", "EURUSD", "30m")
    bad = runner.invoke(app, [*args[:1], "EURUSF", *args[2:]])
    assert isinstance(bad.exception, SourceError) and "did you mean 'EURUSD'" in str(bad.exception)


def test_download_and_update_adapters_report_like_the_other_downloaders(feed, served, tmp_path):
    store = BarStore(tmp_path)
    now = H0 + 8 * HOUR + pd.Timedelta(minutes=5)
    clock = {"clock": lambda: now, "base_url": feed.base_url, "progress": False}
    with pytest.raises(SourceError, match="not cached yet: give --start"):
        run_dukascopy_download(["EURUSD"], "1h", store=store, **clock)
    (first,) = run_dukascopy_download(["eur/usd"], "1h", store=store, limit=3, **clock)
    assert sorted(feed.log) == [hour_path("EURUSD", H0 + i * HOUR) for i in (5, 6, 7)]
    assert (first.source, first.symbol, first.interval) == ("dukascopy", "EURUSD", "1h")
    assert first.rows_fetched == 3 and first.rows_stored == 3 and first.last == H0 + 7 * HOUR
    feed.put("EURUSD", H0 + 8 * HOUR, tick_file(random_hour(99)))
    later = {**clock, "clock": lambda: now + HOUR}
    (update,) = run_dukascopy_download(["EURUSD"], "1h", store=store, **later)
    assert feed.log[3:] == [hour_path("EURUSD", H0 + 8 * HOUR)]  # only the new hour
    assert update.rows_stored == 4 and update.last == H0 + 8 * HOUR


def test_data_download_dukascopy_routes_to_the_dukascopy_downloader(
    feed, served, tmp_path, monkeypatch
):
    import edgelab.data.sources.dukascopy as dukascopy
    from edgelab.cli import main

    monkeypatch.setattr(dukascopy, "DEFAULT_BASE_URL", feed.base_url)
    argv = ["data", "download", "dukascopy", "EURUSD", "1h", "--start", "2019-02-04",
            "--end", "2019-02-04 06:00", "--data-dir", str(tmp_path)]  # fmt: skip
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    stored = BarStore(tmp_path).read("dukascopy", "EURUSD", "1h")
    assert len(stored) == 5  # hours 0-5 without the empty hour 3
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--futures"])
    assert exc.value.code == 2  # exchange-only flags are refused with a one-line message
