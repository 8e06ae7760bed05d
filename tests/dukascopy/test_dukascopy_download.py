"""Downloads against a fake datafeed on 127.0.0.1 serving the real URL layout."""

from __future__ import annotations

import pandas as pd
import pytest
from fake_datafeed import H0, hour_path, lzma_alone, random_hour, tick_file

from edgelab.data.sources.dukascopy import (
    download_ticks,
    dukascopy_bars,
    parse_ticks,
    ticks_to_bars,
)
from edgelab.errors import DataError, DownloadError

HOUR = pd.Timedelta(hours=1)


def h(i: int) -> pd.Timestamp:
    return H0 + i * HOUR


def expected_ticks(hours: dict[int, list]) -> pd.DataFrame:
    """Ticks decoded independently of the download path, hour by hour."""
    frames = [
        parse_ticks(tick_file(r), h(i), point=1e5, where="x") for i, r in sorted(hours.items()) if r
    ]
    return pd.concat(frames)


@pytest.fixture
def six_hours(feed):
    """Hours 0-5: data, data (503 then ok), empty (closed), 404, data (drop, then short
    transfer, then ok), data (429 with Retry-After: 0, then ok)."""
    records = {0: random_hour(0), 1: random_hour(1), 2: [], 4: random_hour(4), 5: random_hour(5)}
    feed.put("EURUSD", h(0), tick_file(records[0]))
    feed.put("EURUSD", h(1), tick_file(records[1]), "503")
    feed.put("EURUSD", h(2), b"")
    feed.put("EURUSD", h(4), tick_file(records[4]), "drop", "short")
    feed.put("EURUSD", h(5), tick_file(records[5]), "429")
    return records


def test_download_retries_reports_gaps_and_equals_the_served_ticks(feed, six_hours, fast):
    ticks, report = download_ticks("EURUSD", h(0), h(6), base_url=feed.base_url, **fast)
    pd.testing.assert_frame_equal(ticks, expected_ticks(six_hours), check_index_type=False)
    assert report.empty_hours == [str(h(2))]  # 0-byte: closed, an expected gap
    assert report.missing_hours == [str(h(3))]  # 404: a reported gap
    assert report.hours == 6 and report.downloaded == 6 and report.cached == 0
    assert report.retries == 4 and report.requests == 10
    assert feed.requests(hour_path("EURUSD", h(4))) == 3  # drop, short, ok
    # back-off with jitter for 503/drop/short: 0.5 * 2**k * [1, 1.5); Retry-After: 0 honoured
    sleeps = fast["sleep"]
    assert sorted(sleeps)[0] == 0.0 and len(sleeps) == 4
    assert all(0.5 <= s < 0.75 or 1.0 <= s < 1.5 for s in sleeps if s)


def test_bars_over_several_hours_equal_bars_of_all_ticks(feed, six_hours, fast):
    bars, report = dukascopy_bars("EURUSD", "4h", h(0), h(6), base_url=feed.base_url, **fast)
    direct = ticks_to_bars(expected_ticks(six_hours), "4h", symbol="EURUSD")
    pd.testing.assert_frame_equal(bars, direct, check_freq=False, check_like=False)
    assert bars.attrs["calendar"] == "fx"
    assert report.bars == 2 and report.empty_bars == 0
    fine, fine_report = dukascopy_bars("EURUSD", "30m", h(0), h(6), base_url=feed.base_url, **fast)
    assert len(fine) == 8 and fine_report.empty_bars == 4  # hours 2 and 3 have no ticks
    assert fine_report.downloaded == 0 and fine_report.cached == 6  # 404 remembered too


def test_second_call_requests_nothing_already_cached(feed, six_hours, fast):
    first, _ = dukascopy_bars("EURUSD", "15m", h(0), h(6), base_url=feed.base_url, **fast)
    seen = list(feed.log)
    again, report = dukascopy_bars("EURUSD", "15m", h(0), h(6), base_url=feed.base_url, **fast)
    assert feed.log == seen  # closed and missing hours are remembered too (settled)
    assert report.cached == 6 and report.downloaded == 0 and report.requests == 0
    pd.testing.assert_frame_equal(first, again)
    feed.put("EURUSD", h(6), tick_file(random_hour(6)))
    _, more = dukascopy_bars("EURUSD", "15m", h(0), h(7), base_url=feed.base_url, **fast)
    assert feed.log[len(seen) :] == [hour_path("EURUSD", h(6))]
    assert more.downloaded == 1 and more.cached == 6


def test_workers_do_not_change_the_result(feed, six_hours, fast, tmp_path):
    one, _ = dukascopy_bars("EURUSD", "5m", h(0), h(6), base_url=feed.base_url, workers=1, **fast)
    fast["cache_dir"] = tmp_path / "other"
    many, _ = dukascopy_bars("EURUSD", "5m", h(0), h(6), base_url=feed.base_url, workers=6, **fast)
    pd.testing.assert_frame_equal(one, many)


@pytest.mark.parametrize(
    "body, reason",
    [
        (tick_file(random_hour(9))[:-40], "truncated"),
        (b"\x5d\x00\x00\x80\x00" + bytes(range(256)) * 4, "LZMA"),
        (lzma_alone(b"\x01" * 50), "whole number of 20-byte records"),
    ],
    ids=["truncated", "corrupt", "partial-record"],
)
def test_a_bad_file_fails_naming_its_url_after_retries_and_the_rest_resumes(
    feed, fast, body, reason
):
    feed.put("EURUSD", h(0), tick_file(random_hour(0)))
    bad = feed.put("EURUSD", h(1), body)
    feed.put("EURUSD", h(2), tick_file(random_hour(2)))
    with pytest.raises(DownloadError, match=reason) as info:
        dukascopy_bars("EURUSD", "1h", h(0), h(3), base_url=feed.base_url, **fast)
    assert f"{feed.base_url}/EURUSD/2019/01/04/01h_ticks.bi5" in str(info.value)
    assert "1 of 3 hours failed" in str(info.value)
    assert feed.requests(bad) == 4  # every attempt of the policy, then a clear error
    assert not (fast["cache_dir"] / "EURUSD/2019/01/04/01h_ticks.bi5").exists()
    feed.put("EURUSD", h(1), tick_file(random_hour(1)))  # the source is repaired
    seen = len(feed.log)
    bars, report = dukascopy_bars("EURUSD", "1h", h(0), h(3), base_url=feed.base_url, **fast)
    assert feed.log[seen:] == [bad] and len(bars) == 3 and report.cached == 2


def test_persistent_server_errors_back_off_exponentially_then_fail(feed, fast):
    path = feed.put("EURUSD", h(0), tick_file(random_hour(0)), "503", "503", "503", "503")
    with pytest.raises(DownloadError, match="failed after 4 attempts: HTTPError"):
        download_ticks("EURUSD", h(0), h(1), base_url=feed.base_url, **fast)
    assert feed.requests(path) == 4
    sleeps = fast["sleep"]
    assert len(sleeps) == 3
    for k, s in enumerate(sleeps):
        assert 0.5 * 2**k <= s < 0.5 * 2**k * 1.5


def test_a_client_error_is_not_retried(feed, fast):
    path = feed.put("EURUSD", h(0), tick_file(random_hour(0)), "403")
    with pytest.raises(DownloadError, match="01/04/00h_ticks.bi5: HTTP 403"):
        download_ticks("EURUSD", h(0), h(1), base_url=feed.base_url, **fast)
    assert feed.requests(path) == 1 and not fast["sleep"]


def test_no_tick_in_the_window_is_an_error_not_an_empty_frame(feed, fast):
    feed.put("EURUSD", h(0), b"")
    with pytest.raises(DataError, match="no EURUSD ticks .* 1 closed and 1 missing"):
        dukascopy_bars("EURUSD", "1h", h(0), h(2), base_url=feed.base_url, **fast)


def test_open_hours_are_never_fetched_and_recent_gaps_are_asked_again(feed, fast):
    feed.put("EURUSD", h(0), tick_file(random_hour(0)))
    feed.put("EURUSD", h(1), b"")
    now = h(2) + pd.Timedelta(minutes=40)  # hour 2 is still open
    bars, report = dukascopy_bars(
        "EURUSD", "15m", h(0), h(5), base_url=feed.base_url, clock=lambda: now, **fast
    )
    assert report.end == str(h(2)) and bars.index[-1] < h(1)
    assert hour_path("EURUSD", h(2)) not in feed.log
    # hour 1 was empty less than `settle` (6 h) ago: not cached, asked again next time
    assert not (fast["cache_dir"] / "EURUSD/2019/01/04/01h_ticks.bi5").exists()
    dukascopy_bars("EURUSD", "15m", h(0), h(2), base_url=feed.base_url, clock=lambda: now, **fast)
    assert feed.requests(hour_path("EURUSD", h(1))) == 2
    assert feed.requests(hour_path("EURUSD", h(0))) == 1


def test_a_damaged_cache_file_says_how_to_recover(feed, fast):
    feed.put("EURUSD", h(0), tick_file(random_hour(0)))
    dukascopy_bars("EURUSD", "1h", h(0), h(1), base_url=feed.base_url, **fast)
    cached = fast["cache_dir"] / "EURUSD/2019/01/04/00h_ticks.bi5"
    cached.write_bytes(cached.read_bytes()[:-30])
    with pytest.raises(DownloadError, match="truncated .*delete the cached file") as info:
        dukascopy_bars("EURUSD", "1h", h(0), h(1), base_url=feed.base_url, **fast)
    assert str(cached) in str(info.value) and len(feed.log) == 1
