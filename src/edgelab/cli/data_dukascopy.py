"""`edgelab data dukascopy INSTRUMENT INTERVAL --start --end`: Dukascopy ticks -> bar store.

A thin shell over `edgelab.data.sources.dukascopy`: `download_dukascopy` builds bid/ask/mid
bars from hourly tick files and merges them into the Parquet `BarStore` as source
"dukascopy", so `cache:dukascopy/EURUSD/15m` loads them. Raw `.bi5` files are kept under
`<store root>/dukascopy-bi5/`, so a re-run fetches nothing twice and only builds the bars
the store lacks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

import pandas as pd
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from edgelab.cli._common import console, err_console
from edgelab.data.intervals import format_interval, parse_interval
from edgelab.data.sources.downloads import DownloadResult, utc_now
from edgelab.data.sources.dukascopy import (
    SOURCE,
    DukascopyReport,
    bar_window,
    dukascopy_bars,
    hours_between,
    normalize_instrument,
    raw_cache_dir,
)
from edgelab.data.store import BarStore, from_ms, to_ms
from edgelab.errors import DataError, SourceError

_DATA_DIR_HELP = "Store folder (default: $EDGELAB_DATA_DIR, else the user cache dir)."


def _utc(text, flag: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(text)
    except ValueError as exc:
        raise SourceError(
            f"{flag} '{text}' is not a date (e.g. 2024-01-31 or 2024-01-31T12:00)"
        ) from exc
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _add(total: DukascopyReport, part: DukascopyReport) -> None:
    """Accumulate the report of one store hole into the call's report."""
    for f in fields(DukascopyReport):
        value = getattr(part, f.name)
        if isinstance(value, int | list) and not isinstance(value, bool):
            setattr(total, f.name, getattr(total, f.name) + value)


def download_dukascopy(
    instrument: str,
    interval: str,
    start,
    end=None,
    *,
    data_dir: str | Path | None = None,
    base_url: str | None = None,
    progress: bool = True,
    point_factor: float | None = None,
    workers: int = 4,
    clock: Callable[[], pd.Timestamp] = utc_now,
    **fetch_options,
) -> pd.DataFrame:
    """Download `instrument` ticks for [start, end) (UTC; `end` None = now), build Bars at
    `interval` and merge them into the bar store as source "dukascopy".

    Only the parts of the window the store has not verified are built (from the raw-file
    cache where possible, the network otherwise); the window is then verified, so hours
    without ticks are never asked for again. Returns the stored Bars of the window
    (bid/ask/mid OHLC, volume, spread; see `ticks_to_bars`) with the call's
    `DukascopyReport.to_dict()` in `attrs["dukascopy"]`. `fetch_options` go to
    `HourFetcher` (retry, timeout, sleep, settle). Raises DataError when the window holds
    no bar at all, DownloadError when hours fail after their retries (the rest is kept)."""
    store = BarStore(data_dir)
    name = normalize_instrument(instrument)
    interval = format_interval(parse_interval(interval))
    now = clock()
    first, stop = bar_window(
        interval, _utc(start, "--start"), now if end is None else _utc(end, "--end"), now
    )
    if stop <= first:
        raise DataError(f"no closed {interval} bar between {first} and {stop} (now {now})")
    holes = store.missing(SOURCE, name, interval, to_ms(first), to_ms(stop))
    total = DukascopyReport(name, str(first), str(stop))
    hours = sum(len(hours_between(from_ms(a), from_ms(b))) for a, b in holes)
    with _HourProgress(f"{name} {interval}", hours, enabled=progress and hours > 0) as bar:
        for a, b in holes:
            bars, report = dukascopy_bars(
                name, interval, from_ms(a), from_ms(b), cache_dir=raw_cache_dir(store.root),
                base_url=base_url, point_factor=point_factor, workers=workers,
                on_hour=bar.advance, allow_empty=True, clock=clock, **fetch_options,
            )  # fmt: skip
            _add(total, report)
            span = (to_ms(report.start), to_ms(report.end))
            if span[1] > span[0]:
                store.merge(bars, SOURCE, name, interval, verified=[span])
    return _window(store, name, interval, first, stop, total)


def _window(store, name, interval, first, stop, report) -> pd.DataFrame:
    bars = store.read(SOURCE, name, interval) if store.exists(SOURCE, name, interval) else None
    if bars is not None:
        attrs = dict(bars.attrs)
        bars = bars[(bars.index >= first) & (bars.index < stop)]
        bars.attrs = attrs
    if bars is None or bars.empty:
        raise DataError(
            f"no {name} ticks between {first} and {stop}: {len(report.empty_hours)} hours "
            f"closed and {len(report.missing_hours)} missing at Dukascopy",
            fix="choose a window when the market was open",
        )
    bars.attrs["dukascopy"] = report.to_dict()
    return bars


def run_dukascopy_download(
    symbols: list[str],
    interval: str,
    *,
    store: BarStore,
    start=None,
    end=None,
    months: int | None = None,
    limit: int | None = None,
    progress: bool = True,
    clock: Callable[[], pd.Timestamp] = utc_now,
    **options,
) -> list[DownloadResult]:
    """`download_dukascopy` for each symbol, reported as `DownloadResult`s like the ccxt and
    Yahoo downloaders (for `edgelab data download dukascopy ...` and `edgelab data update`).

    The window starts at `start`, else `months` months or `limit` bars before now, else
    (an update) at the last stored bar; it ends at `end` or now."""
    results = []
    for symbol in symbols:
        name = normalize_instrument(symbol)
        first = _start(store, name, interval, start, months, limit, clock())
        bars = download_dukascopy(
            name, interval, first, end, data_dir=store.root, progress=progress, clock=clock,
            **options,
        )  # fmt: skip
        report = bars.attrs["dukascopy"]
        coverage = store.coverage(SOURCE, name, bars.attrs["interval"])
        results.append(
            DownloadResult(
                SOURCE,
                name,
                bars.attrs["interval"],
                rows_fetched=report["bars"],
                requests=report["requests"],
                rows_stored=coverage.rows,
                first=coverage.first,
                last=coverage.last,
            )  # fmt: skip
        )
    return results


def _start(store, name, interval, start, months, limit, now) -> pd.Timestamp:
    if start is not None:
        return _utc(start, "--start")
    if months is not None:
        return now - pd.DateOffset(months=months)
    if limit is not None:
        return now - limit * parse_interval(interval)
    last = store.coverage(SOURCE, name, format_interval(parse_interval(interval))).last
    if last is None:
        raise SourceError(
            f"dukascopy/{name}/{interval} is not cached yet: give --start, --months or --limit"
        )
    return last


class _HourProgress:
    """A rich progress bar over hours (stderr) with the ticks read; silent when disabled."""

    def __init__(self, label: str, hours: int, *, enabled: bool):
        self.enabled = enabled
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} hours"),
            TextColumn("{task.fields[ticks]:>11,} ticks"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=err_console,
            disable=not enabled,
        )
        self._task = self._progress.add_task(label, total=max(hours, 1), ticks=0)
        self._ticks = 0

    def __enter__(self) -> _HourProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    def advance(self, hour: pd.Timestamp, origin: str, ticks: int) -> None:
        self._ticks += ticks
        self._progress.update(self._task, advance=1, ticks=self._ticks)


def _summary_table(bars: pd.DataFrame, root: Path) -> Table:
    """One row per fact (a narrow table that fits any terminal)."""
    report = bars.attrs["dukascopy"]
    table = Table(title=f"{bars.attrs['symbol']} {bars.attrs['interval']} bars in {root}")
    table.add_column("")
    table.add_column("", justify="right")
    rows = {
        "bars in window": f"{len(bars):,}",
        "bars built this run": f"{report['bars']:,}",
        "first / last": f"{bars.index[0]:%Y-%m-%d %H:%M} / {bars.index[-1]:%Y-%m-%d %H:%M}",
        "hours downloaded": str(report["downloaded"]),
        "hours from raw cache": str(report["cached"]),
        "hours closed (0-byte files)": str(len(report["empty_hours"])),
        "hours missing (HTTP 404)": str(len(report["missing_hours"])),
        "bars without ticks (omitted)": str(report["empty_bars"]),
        "ticks read": f"{report['ticks']:,}",
    }
    for name, value in rows.items():
        table.add_row(name, value)
    return table


def register(app: typer.Typer) -> None:
    """Mount `dukascopy` on the `edgelab data` sub-app."""

    @app.command("dukascopy")
    def dukascopy(
        instrument: str = typer.Argument(..., help="e.g. EURUSD, USDJPY, XAUUSD, BTCUSD."),
        interval: str = typer.Argument(..., help="Bar interval, e.g. 1m, 15m, 1h, 1d."),
        start: str = typer.Option(..., help="First bar (UTC date or time)."),
        end: str | None = typer.Option(None, help="End, exclusive (default: now)."),
        base_url: str | None = typer.Option(
            None, "--base-url", help="Datafeed root (default: Dukascopy's)."
        ),
        data_dir: Path | None = typer.Option(None, "--data-dir", help=_DATA_DIR_HELP),
        point_factor: float | None = typer.Option(
            None, help="Points per price unit, for instruments edgelab does not know."
        ),
        workers: int = typer.Option(4, min=1, max=16, help="Parallel downloads."),
        progress: bool = typer.Option(True, help="Show a progress bar over hours."),
    ) -> None:
        """Download Dukascopy ticks and store bid/ask/mid bars (e.g. `edgelab data dukascopy
        EURUSD 15m --start 2024-01-01 --end 2024-02-01`); load them as
        cache:dukascopy/EURUSD/15m."""
        bars = download_dukascopy(
            instrument, interval, start, end, data_dir=data_dir, base_url=base_url,
            progress=progress, point_factor=point_factor, workers=workers,
        )  # fmt: skip
        root = BarStore(data_dir).root
        console.print(_summary_table(bars, root))
        report = bars.attrs["dukascopy"]
        if report["missing_hours"]:
            shown = ", ".join(report["missing_hours"][:5])
            more = " ..." if len(report["missing_hours"]) > 5 else ""
            console.print(f"missing at Dukascopy (HTTP 404): {shown}{more}")
