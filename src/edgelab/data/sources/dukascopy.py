"""Dukascopy downloads: hourly tick files over HTTP(S), cached raw, turned into Bars.

`dukascopy_bars(instrument, interval, start, end, cache_dir=...)` fetches the hours that
cover the window from ``{base_url}/{INSTRUMENT}/{YYYY}/{MM0}/{DD}/{HH}h_ticks.bi5`` with
urllib (the base URL is configurable, for mirrors and tests), each hour once: raw files are
cached on disk in the same layout and never fetched again, so re-runs and interrupted
downloads resume. A 0-byte file means no ticks that hour (market closed: an expected gap);
HTTP 404 is a missing hour (a reported gap). 5xx, 429 (Retry-After honoured), timeouts and
dropped connections are retried with exponential back-off and jitter; a body that is not a
valid tick file is retried too (a truncated transfer) and then fails with a DownloadError
naming its URL. Nothing is ever zero-filled. The format code lives in `dukascopy_bi5`,
whose public names are re-exported here.
"""

from __future__ import annotations

import http.client
import os
import random
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from edgelab.data.intervals import format_interval
from edgelab.data.sources.downloads import utc_now
from edgelab.data.sources.dukascopy_bi5 import (
    BAR_COLUMNS,
    CANDLE_DTYPE,
    CRYPTO,
    DEFAULT_BASE_URL,
    HOUR,
    POINT_FACTORS,
    SOURCE,
    TICK_DTYPE,
    _empty_parts,
    _finish,
    _grid,
    _reduce,
    _tick_parts,
    _utc,
    decompress_bi5,
    hour_key,
    hour_of_path,
    hour_url,
    instrument_point_factor,
    no_ticks,
    normalize_instrument,
    parse_candles,
    parse_ticks,
    read_tick_file,
    ticks_to_bars,
)
from edgelab.data.sources.retry import RetryPolicy, backoff_seconds, retry_after_seconds
from edgelab.errors import DataError, DownloadError

_UA = {"User-Agent": "edgelab (Python urllib)"}

__all__ = [
    "BAR_COLUMNS", "CANDLE_DTYPE", "DEFAULT_BASE_URL", "POINT_FACTORS", "SOURCE",
    "TICK_DTYPE", "DukascopyReport", "HourFetcher", "bar_window", "decompress_bi5",
    "download_ticks", "dukascopy_bars", "hour_key", "hour_of_path", "hour_url",
    "hours_between", "instrument_point_factor", "iter_hours", "normalize_instrument",
    "parse_candles", "parse_ticks", "raw_cache_dir", "read_tick_file", "ticks_to_bars",
]  # fmt: skip


# ------------------------------------------------------------------------- downloading
@dataclass
class DukascopyReport:
    """What a download did. `empty_hours` had a 0-byte file (no ticks: market closed, an
    expected gap); `missing_hours` answered 404 (a gap at the source); `empty_bars` counts
    bars of the window without a tick (omitted from the bars)."""

    instrument: str
    start: str | None = None
    end: str | None = None
    hours: int = 0
    downloaded: int = 0
    cached: int = 0
    requests: int = 0
    retries: int = 0
    ticks: int = 0
    crossed_ticks: int = 0  # bid > ask: kept as quoted
    bars: int = 0
    empty_bars: int = 0
    empty_hours: list[str] = field(default_factory=list)
    missing_hours: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-friendly copy."""
        return asdict(self)

    def summary(self) -> str:
        """One line for the CLI and logs."""
        return (
            f"{self.instrument} {self.start} to {self.end}: {self.hours} hours "
            f"({self.downloaded} downloaded, {self.cached} cached, {self.requests} requests), "
            f"{self.ticks:,} ticks -> {self.bars:,} bars; {len(self.empty_hours)} hours "
            f"without ticks (closed), {len(self.missing_hours)} missing (404), "
            f"{self.empty_bars} bars without ticks omitted"
        )


def raw_cache_dir(data_dir: str | os.PathLike[str]) -> Path:
    """Where a bar store root keeps raw Dukascopy files: `<root>/dukascopy-bi5/`."""
    return Path(data_dir) / "dukascopy-bi5"


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


_TRANSIENT = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError)


class HourFetcher:
    """Gets hourly tick files through the raw cache, with retries (thread-safe).

    Cache: `<cache_dir>/<INSTRUMENT>/<YYYY>/<MM0>/<DD>/<HH>h_ticks.bi5`, the body as served
    (0 bytes for a closed hour), plus an empty `<...>.missing` marker for a 404. Empty and
    404 answers for hours that ended less than `settle` ago are not cached (Dukascopy may
    publish them later). Bodies are checked before they are cached."""

    def __init__(self, cache_dir, *, base_url=None, retry: RetryPolicy | None = None,
                 timeout: float = 30.0, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], pd.Timestamp] = utc_now,
                 settle: pd.Timedelta = pd.Timedelta(hours=6)):  # fmt: skip
        self.cache_dir = Path(cache_dir)
        self.base_url = base_url or DEFAULT_BASE_URL
        self.retry = retry or RetryPolicy(attempts=5, base_delay=1.0, max_delay=30.0)
        self.timeout, self.sleep, self.clock, self.settle = timeout, sleep, clock, settle
        self._rng = random.Random(self.retry.seed)
        self._lock = threading.Lock()
        self.requests = self.retries = 0

    def get(
        self, instrument: str, hour: pd.Timestamp, point: float
    ) -> tuple[bool, pd.DataFrame | None]:
        """(from_cache, ticks) of one hour: ticks empty for a closed hour, None for a
        missing one (404)."""
        key = hour_key(instrument, hour)
        path = self.cache_dir / key
        marker = path.with_name(path.name + ".missing")
        if marker.is_file():
            return True, None
        if path.is_file():
            try:
                return True, parse_ticks(path.read_bytes(), hour, point=point, where=str(path))
            except DataError as exc:  # bodies are checked before caching: the disk changed
                raise DataError(
                    str(exc), fix="delete the cached file to download it again"
                ) from exc
        url = f"{self.base_url.rstrip('/')}/{key}"
        body, ticks = self._download(url, hour, point)
        settled = hour + HOUR <= self.clock() - self.settle
        if body is None and settled:
            _write_atomic(marker, b"")
        elif body is not None and (body or settled):
            _write_atomic(path, body)
        return False, ticks

    def _download(self, url: str, hour, point: float) -> tuple[bytes | None, pd.DataFrame | None]:
        """Body (None for 404) and its ticks; retries transient failures and bad bodies."""
        last: Exception | None = None
        for attempt in range(self.retry.attempts):
            with self._lock:
                self.requests += 1
                self.retries += attempt > 0
            wait = None
            try:
                request = urllib.request.Request(url, headers=_UA)
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    body = response.read()
                return body, parse_ticks(body, hour, point=point, where=url)
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    return None, None
                if exc.code != 429 and exc.code < 500:
                    raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
                last, wait = exc, retry_after_seconds(exc.headers)
            except (*_TRANSIENT, DataError) as exc:
                last = exc
            if attempt + 1 < self.retry.attempts:
                honour = wait is not None  # Retry-After, capped, instead of the back-off
                self.sleep(
                    min(wait, self.retry.max_retry_after) if honour else self._delay(attempt)
                )
        raise DownloadError(
            f"{url}: failed after {self.retry.attempts} attempts: {type(last).__name__}: "
            f"{str(last)[:200]}"
        )

    def _delay(self, attempt: int) -> float:
        with self._lock:  # worker threads share one seeded jitter stream
            return backoff_seconds(self.retry, attempt, self._rng)


HourCallback = Callable[[pd.Timestamp, str, int], None]


def hours_between(start, end) -> pd.DatetimeIndex:
    """Hour starts covering [start, end): from start's hour to the hour containing end - 1 ns."""
    first = _utc(start).floor("h")
    last = _utc(end) - pd.Timedelta(1, "ns")
    return (
        pd.date_range(first, last.floor("h"), freq="h") if last >= first else pd.DatetimeIndex([])
    )


def iter_hours(instrument, hours, fetcher: HourFetcher, report: DukascopyReport, *,
               point: float, workers: int = 4,
               on_hour: HourCallback | None = None) -> Iterator[pd.DataFrame]:  # fmt: skip
    """Ticks of each hour in order (empty frames for closed or missing hours), fetched by
    `workers` threads; fills `report`. Failed hours do not stop the others: their errors
    are raised together at the end, after every good hour is cached."""
    failures: list[str] = []

    def one(hour):
        try:
            return hour, *fetcher.get(instrument, hour, point), None
        except (DownloadError, DataError) as exc:
            return hour, False, None, exc

    batch = 8 * max(1, workers)  # submit in batches: bounded memory when fetching runs ahead
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for i in range(0, len(hours), batch):
            for hour, from_cache, ticks, error in pool.map(one, hours[i : i + batch]):
                report.hours += 1
                if error is not None:
                    failures.append(str(error))
                    continue
                report.cached += from_cache
                report.downloaded += not from_cache
                if ticks is None or ticks.empty:
                    gaps = report.missing_hours if ticks is None else report.empty_hours
                    gaps.append(str(hour))
                    ticks = no_ticks()
                report.ticks += len(ticks)
                report.crossed_ticks += int((ticks["bid"] > ticks["ask"]).sum())
                if on_hour is not None:
                    on_hour(hour, "cache" if from_cache else "download", len(ticks))
                yield ticks
    report.requests, report.retries = fetcher.requests, fetcher.retries
    if failures:
        raise DownloadError(
            f"{len(failures)} of {report.hours} hours failed: "
            + " | ".join(failures[:3])
            + (" | ..." if len(failures) > 3 else "")
            + " (the other hours are cached; run the same command again to retry)"
        )


def download_ticks(instrument: str, start, end, *, cache_dir, base_url: str | None = None,
                   point_factor: float | None = None, workers: int = 4,
                   on_hour: HourCallback | None = None,
                   **fetch_options) -> tuple[pd.DataFrame, DukascopyReport]:  # fmt: skip
    """All ticks with time in [start, end) (UTC; naive is UTC), hour files cached in
    `cache_dir`. For long spans prefer `dukascopy_bars`, which never holds every tick.
    `fetch_options` go to `HourFetcher` (retry, timeout, sleep, clock, settle)."""
    name = normalize_instrument(instrument)
    point = instrument_point_factor(name, point_factor)
    fetcher = HourFetcher(cache_dir, base_url=base_url, **fetch_options)
    report = DukascopyReport(name, str(_utc(start)), str(_utc(end)))
    hours = hours_between(start, end)
    parts = list(
        iter_hours(name, hours, fetcher, report, point=point, workers=workers, on_hour=on_hour)
    )
    ticks = pd.concat([p for p in parts if len(p)] or [no_ticks()])
    ticks = ticks[(ticks.index >= _utc(start)) & (ticks.index < _utc(end))]
    report.ticks = len(ticks)
    return ticks, report


def bar_window(interval: str, start, end, now) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[first, stop): `start` floored and `end` ceiled to the bar grid, with stop cut back
    so that every hour it needs has closed by `now` (Dukascopy publishes whole hours; the
    current bar is never made)."""
    step, origin = _grid(interval)
    a, b = _utc(start).value, _utc(end).value
    closed = _utc(now).floor("h").value
    first = a - (a - origin) % step
    stop = min(b + (-(b - origin)) % step, closed - (closed - origin) % step)
    return pd.Timestamp(first, tz="UTC"), pd.Timestamp(max(stop, first), tz="UTC")


def dukascopy_bars(instrument: str, interval: str, start, end, *, cache_dir,
                   base_url: str | None = None, point_factor: float | None = None,
                   workers: int = 4, on_hour: HourCallback | None = None,
                   allow_empty: bool = False,
                   **fetch_options) -> tuple[pd.DataFrame, DukascopyReport]:  # fmt: skip
    """Bid/ask/mid Bars of `instrument` at `interval` for the window `bar_window` gives.

    Fetches the hours covering the window (cached ones are not fetched again) and turns
    each hour's ticks into partial bars at once, so memory stays small for long spans.
    Columns and meaning as in `ticks_to_bars`; bars without ticks are omitted and counted
    in `report.empty_bars`. Raises DataError when the window holds no tick at all (unless
    `allow_empty`), DownloadError when hours fail after their retries."""
    name = normalize_instrument(instrument)
    point = instrument_point_factor(name, point_factor)
    clock = fetch_options.get("clock", utc_now)
    first, stop = bar_window(interval, start, end, clock())
    step, origin = _grid(interval)
    fetcher = HourFetcher(cache_dir, base_url=base_url, **fetch_options)
    report = DukascopyReport(name, str(first), str(stop))
    labels, parts = [], []
    for ticks in iter_hours(name, hours_between(first, stop), fetcher, report, point=point,
                            workers=workers, on_hour=on_hour):  # fmt: skip
        if len(ticks):
            lab, cols = _tick_parts(ticks, step, origin)
            labels.append(lab)
            parts.append(cols)
    canonical = format_interval(pd.Timedelta(step))
    report.empty_bars = (stop.value - first.value) // step
    if not labels:
        if allow_empty:
            return _finish(np.array([], np.int64), _empty_parts(), canonical, name), report
        raise DataError(
            f"no {name} ticks between {first} and {stop}: {len(report.empty_hours)} closed "
            f"and {len(report.missing_hours)} missing hours",
            fix="choose a window when the market was open",
        )
    merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    lab, cols = _reduce(np.concatenate(labels), merged)  # bins spanning several hours
    keep = (lab >= first.value) & (lab < stop.value)  # hour edges outside the window
    bars = _finish(lab[keep], {k: v[keep] for k, v in cols.items()}, canonical, name)
    bars.attrs["calendar"] = "crypto" if name in CRYPTO else "fx"
    report.bars = len(bars)
    report.empty_bars -= len(bars)
    return bars, report
