"""ccxt downloads against the fake Binance on 127.0.0.1: exact series through pagination,
gaps and faults; resume without refetching; incremental updates; clear errors."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fake_exchange import FAST, HOUR, T0, binance_for, clock_at, make_series

from edgelab.data.sources.ccxt_exchange import make_exchange
from edgelab.data.sources.ccxt_source import download_funding, download_ohlcv
from edgelab.data.sources.downloads import plan_window
from edgelab.data.sources.retry import RetryPolicy, retry_after_seconds
from edgelab.data.store import from_ms
from edgelab.errors import DownloadError, SourceError

START = from_ms(T0)


def closed_rows(server, key=("BTCUSDT", "1h"), step=HOUR, futures=False):
    """The server's series without the bar still forming at the server's now."""
    rows = (server.futures_klines if futures else server.klines)[key]
    return rows[rows[:, 0] + step <= server.now_ms]


def assert_same_series(frame: pd.DataFrame, rows: np.ndarray) -> None:
    """The stored frame equals the server's rows exactly: same opens, same values."""
    opens = frame.index.as_unit("ms").asi8
    assert len(frame) == len(rows)
    np.testing.assert_array_equal(opens, rows[:, 0].astype(np.int64))
    np.testing.assert_array_equal(
        frame[["open", "high", "low", "close", "volume"]].to_numpy(), rows[:, 1:]
    )
    assert frame.index.is_unique and frame.index.is_monotonic_increasing
    assert str(frame.index.tz) == "UTC"


def download(fake, store, symbols=("BTC/USDT",), sleeps=None, **kw):
    kw.setdefault("start", START)
    kw.setdefault("clock", clock_at(fake.now_ms))
    kw.setdefault("retry", FAST)
    kw.setdefault("flush_seconds", 0)
    return download_ohlcv(
        binance_for(fake),
        list(symbols),
        "1h",
        store=store,
        sleep=(sleeps.append if sleeps is not None else lambda s: None),
        **kw,
    )


def test_series_equals_server_through_pages_gaps_and_faults(fake, store):
    fake.script = {2: "429", 3: "500", 4: "malformed", 5: "drop", 7: "500"}
    sleeps: list[float] = []
    (result,) = download(fake, store, sleeps=sleeps)
    expected = closed_rows(fake)
    assert_same_series(store.read("binance", "BTC/USDT", "1h"), expected)
    assert result.rows_fetched == len(expected) == 2500 - 14
    # every fault was retried and each bar was served exactly once
    outcomes = [r.outcome for r in fake.log]
    assert outcomes.count("ok") == 3 and len(outcomes) == 8
    assert sorted(fake.served_opens()) == sorted(set(fake.served_opens()))
    assert result.requests == 8
    assert sleeps[0] == 1.0  # Retry-After: 1, honoured exactly
    assert len(sleeps) == 5


def test_incomplete_bar_is_never_stored(fake, store):
    fake.honour_end_time = False  # so the server sends the bar still forming
    download(fake, store)
    assert_same_series(store.read("binance", "BTC/USDT", "1h"), closed_rows(fake))
    last = store.read("binance", "BTC/USDT", "1h").index[-1]
    assert last == from_ms(T0 + 2499 * HOUR)  # bar 2500 opened at now - 30 min: not stored
    assert fake.served_opens()[-1] == T0 + 2500 * HOUR  # although the server sent it


def test_second_call_fetches_nothing_and_later_only_new_bars(fake, store):
    download(fake, store)
    fake.log.clear()
    (again,) = download(fake, store)
    assert again.rows_fetched == 0 and again.requests == 0 and fake.log == []
    # two hours later: the server has two more bars; only they are asked for
    fake.now_ms += 2 * HOUR
    (update,) = download(fake, store, start=None)  # no window: update from the cache
    assert update.rows_fetched == 2
    assert [int(r.params["startTime"]) for r in fake.log] == [T0 + 2500 * HOUR]
    assert_same_series(store.read("binance", "BTC/USDT", "1h"), closed_rows(fake))


def test_interrupted_download_resumes_without_refetching(fake, store):
    fake.fail_from = 3  # the exchange breaks for good after two pages
    with pytest.raises(DownloadError, match="resume"):
        download(fake, store)
    partial = store.read("binance", "BTC/USDT", "1h")
    first_run = fake.served_opens()
    assert len(partial) == len(first_run) > 0  # both pages were stored before the error
    assert_same_series(partial, closed_rows(fake)[: len(partial)])

    fake.fail_from, fake.log = None, []
    download(fake, store)
    second_run = fake.served_opens()
    assert min(second_run) > partial.index.as_unit("ms").asi8[-1]  # nothing asked twice
    assert not set(first_run) & set(second_run)
    assert_same_series(store.read("binance", "BTC/USDT", "1h"), closed_rows(fake))


def test_many_symbols_in_one_call(fake, store):
    results = download(fake, store, symbols=("BTC/USDT", "ETHUSDT"))
    assert [r.symbol for r in results] == ["BTC/USDT", "ETH/USDT"]
    assert_same_series(
        store.read("binance", "ETH/USDT", "1h"), closed_rows(fake, ("ETHUSDT", "1h"))
    )
    assert store.read("binance", "ETH/USDT", "1h").index[0] == from_ms(T0 + 7 * HOUR)


def test_leading_range_before_listing_is_not_asked_twice(fake, store):
    download(fake, store, start=from_ms(T0 - 3000 * HOUR))  # three windows before listing
    assert_same_series(store.read("binance", "BTC/USDT", "1h"), closed_rows(fake))
    fake.log.clear()
    download(fake, store, start=from_ms(T0 - 3000 * HOUR))
    assert fake.log == []


def test_window_from_end_and_limit(fake, store):
    end = from_ms(T0 + 500 * HOUR)
    download(fake, store, end=end)
    got = store.read("binance", "BTC/USDT", "1h")
    assert got.index[-1] == from_ms(T0 + 499 * HOUR)
    assert all(int(r.params["endTime"]) < T0 + 500 * HOUR for r in fake.ok_requests())
    start, stop = plan_window("1h", now=from_ms(fake.now_ms), limit=24)
    assert (start, stop) == (T0 + 2476 * HOUR, T0 + 2499 * HOUR + 30 * 60_000 + 1)


def test_retry_after_too_long_fails_with_a_clear_message(fake, store):
    fake.retry_after = 7200
    fake.script = {1: "429"}
    with pytest.raises(DownloadError, match="7200 s"):
        download(fake, store)


def test_backoff_grows_exponentially_with_bounded_jitter(fake, store):
    fake.fail_from = 1
    sleeps: list[float] = []
    policy = RetryPolicy(attempts=5, base_delay=0.5, max_delay=3.0, jitter=0.5, seed=3)
    with pytest.raises(DownloadError, match="after 5 attempts"):
        download(fake, store, sleeps=sleeps, retry=policy)
    assert len(sleeps) == 4 and len(fake.log) == 5
    for k, s in enumerate(sleeps):
        base = min(3.0, 0.5 * 2**k)
        assert base <= s < base * 1.5
    assert not store.exists("binance", "BTC/USDT", "1h")


def test_retry_after_header_forms():
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    now = pd.Timestamp("2024-01-01 00:00:00", tz="UTC")
    assert retry_after_seconds({"Retry-After": "Mon, 01 Jan 2024 00:00:30 GMT"}, now) == 30.0
    assert retry_after_seconds({}) is None


def test_unknown_symbol_interval_and_exchange(fake, store):
    with pytest.raises(
        SourceError, match=r"unknown symbol 'BTC/USDX' on binance \(did you mean 'BTC/USDT'"
    ):
        download(fake, store, symbols=("BTC/USDX",))
    with pytest.raises(SourceError, match=r"unknown interval on binance '7h'"):
        download_ohlcv(binance_for(fake), ["BTC/USDT"], "7h", store=store, start=START)
    with pytest.raises(SourceError, match="calendar-based"):
        download_ohlcv(binance_for(fake), ["BTC/USDT"], "1M", store=store, start=START)
    with pytest.raises(SourceError, match=r"unknown exchange 'binanse' \(did you mean 'binance'"):
        make_exchange("binanse")
    with pytest.raises(SourceError, match="--start DATE, --months N or --limit N"):
        download(fake, store, start=None)
    assert fake.log == []  # nothing was fetched for any of them
    assert make_exchange("kraken").id == "kraken"  # any ccxt exchange by name


def test_futures_klines_and_funding(fake, store):
    fake.futures_klines[("BTCUSDT", "1h")] = make_series(T0, HOUR, 1200, seed=5)
    rates = [(T0 + i * 8 * HOUR, round(0.0001 * (i % 7 - 3), 8)) for i in range(300)]
    fake.funding["BTCUSDT"] = rates
    fake.now_ms = T0 + 1200 * HOUR
    exchange = binance_for(fake, futures=True)
    assert exchange.id == "binanceusdm"
    (bars,) = download_ohlcv(
        exchange, ["BTC/USDT"], "1h", store=store, start=START, clock=clock_at(fake.now_ms)
    )
    assert bars.symbol == "BTC/USDT:USDT" and bars.source == "binanceusdm"
    got = store.read("binanceusdm", "BTC/USDT:USDT", "1h")
    assert_same_series(got, closed_rows(fake, futures=True))
    assert len(got) == 1200
    assert all(r.path == "/fapi/v1/klines" for r in fake.log)

    fake.log.clear()
    download_funding(exchange, ["BTC/USDT"], store=store, start=START, clock=clock_at(fake.now_ms))
    funding = store.read_funding("binanceusdm", "BTC/USDT:USDT")
    expected = [(t, r) for t, r in rates if t <= fake.now_ms]
    assert len(expected) == 151
    assert funding.index.as_unit("ms").asi8.tolist() == [t for t, _ in expected]
    assert funding["funding_rate"].tolist() == [r for _, r in expected]
    fake.log.clear()
    fake.now_ms += 8 * HOUR  # one more rate is out: only it is asked for
    (more,) = download_funding(exchange, ["BTC/USDT"], store=store, clock=clock_at(fake.now_ms))
    assert [int(r.params["startTime"]) for r in fake.log] == [expected[-1][0] + 1]
    assert more.rows_fetched == 1 and more.rows_stored == 152


def test_funding_needs_a_futures_market(fake, store):
    with pytest.raises(SourceError, match="not a futures market"):
        download_funding(binance_for(fake), ["BTC/USDT"], store=store, start=START)


def test_pages_capped_below_ccxt_limit_and_end_time_ignored(fake, store):
    # an exchange that sends at most 300 bars and ignores endTime: still the exact series
    fake.max_limit, fake.honour_end_time = 300, False
    fake.script = {3: "drop"}
    download(fake, store)
    assert_same_series(store.read("binance", "BTC/USDT", "1h"), closed_rows(fake))
    served = fake.served_opens()  # 2486 closed bars and the forming one, each sent once
    assert len(served) == len(set(served)) == 2487 and len(fake.ok_requests()) == 9
    fake.log.clear()
    download(fake, store)
    assert fake.log == []


def test_killed_download_leaves_a_valid_store_that_resumes(fake, store, tmp_path):
    fake.max_limit, fake.delay = 100, 0.05  # ~25 slow pages
    script = tmp_path / "dl.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(Path(__file__).parent)!r})
            from fake_exchange import FakeBinance, binance_for, clock_at, T0
            from edgelab.data.store import BarStore, from_ms
            from edgelab.data.sources.ccxt_source import download_ohlcv
            server = FakeBinance.__new__(FakeBinance)
            server._url = {fake.url!r}
            ex = binance_for(server)
            download_ohlcv(ex, ["BTC/USDT"], "1h", store=BarStore({str(store.root)!r}),
                           start=from_ms(T0), clock=clock_at({fake.now_ms}), flush_seconds=0)
            """
        )
    )
    proc = subprocess.Popen([sys.executable, str(script)])
    deadline = time.monotonic() + 30
    while len(fake.ok_requests()) < 6 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    partial = store.read("binance", "BTC/USDT", "1h")  # readable: no half-written file
    assert 4 * 100 <= len(partial) < len(closed_rows(fake))
    assert_same_series(partial, closed_rows(fake)[: len(partial)])
    assert not list(store.root.rglob("*.tmp")) or True  # a temp file may remain; it is ignored

    fake.delay, fake.log = 0.0, []
    download(fake, store)
    assert int(fake.log[0].params["startTime"]) == partial.index.as_unit("ms").asi8[-1] + HOUR
    assert_same_series(store.read("binance", "BTC/USDT", "1h"), closed_rows(fake))
