"""`edgelab data download | update | cached` (alias `list`): fill and show the bar store.

A thin shell over `edgelab.data.sources.ccxt_source`, `edgelab.data.sources.yahoo` and
`edgelab.data.store`; every error is an EdgelabError (exit code 2, one line).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from edgelab.cli._common import console, err_console
from edgelab.data.sources import ccxt_source, yahoo
from edgelab.data.store import FUNDING, BarStore
from edgelab.errors import DownloadError, EdgelabError, SourceError

_DATA_DIR_HELP = "Store folder (default: $EDGELAB_DATA_DIR, else the user cache dir)."


def _timestamp(text: str | None, flag: str) -> pd.Timestamp | None:
    if text is None:
        return None
    try:
        stamp = pd.Timestamp(text)
    except ValueError as exc:
        raise SourceError(
            f"{flag} '{text}' is not a date (use e.g. 2024-01-31 or 2024-01-31T12:00)"
        ) from exc
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _when(ts: pd.Timestamp | None) -> str:
    return "-" if ts is None else ts.strftime("%Y-%m-%d %H:%M")


def _notes(result: ccxt_source.DownloadResult) -> str:
    """Gaps at the source and repairs from the quality reports of the fetched rows."""
    gaps = sum(rep.gaps.count for rep in result.reports)
    repairs = [r for rep in result.reports for r in rep.repairs]
    parts = [f"{gaps} gap(s) at the source"] if gaps else []
    if repairs:
        parts.append(f"repaired: {'; '.join(repairs)[:80]}")
    return ", ".join(parts)


_COLUMNS = ("source", "symbol", "interval", "new rows", "requests", "stored", "first", "last")


def _results_table(results: list[ccxt_source.DownloadResult], title: str) -> Table:
    table = Table(title=title)
    for name in (*_COLUMNS, "notes"):
        table.add_column(name, justify="right" if name in _COLUMNS[3:6] else "left")
    for r in results:
        counts = (f"{r.rows_fetched:,}", str(r.requests), f"{r.rows_stored:,}")
        table.add_row(
            r.source, r.symbol, r.interval, *counts, _when(r.first), _when(r.last), _notes(r)
        )
    return table


class RichProgress:
    """A `DownloadProgress` shown with rich: a bar per series with rows fetched and the
    ETA, on stderr. Use as a context manager."""

    def __init__(self, console=err_console):
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[rows]:>9,} rows"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        )

    def __enter__(self) -> RichProgress:
        self._started = False  # shown from the first series on: errors before stay one line
        self._rows: dict[Any, int] = {}
        return self

    def __exit__(self, *exc) -> None:
        if self._started:
            self._progress.stop()

    def start(self, label: str, total_bars: int) -> Any:
        if not self._started:
            self._progress.start()
            self._started = True
        return self._progress.add_task(label, total=max(total_bars, 1), rows=0)

    def advance(self, task: Any, bars: int, rows: int) -> None:
        self._rows[task] = self._rows.get(task, 0) + rows
        self._progress.update(task, advance=bars, rows=self._rows[task])


def run_download(
    target: str,
    symbols: list[str],
    interval: str,
    *,
    store: BarStore,
    start=None,
    end=None,
    months: int | None = None,
    limit: int | None = None,
    futures: bool = False,
    funding: bool = False,
    adjust: str = "auto",
) -> list[ccxt_source.DownloadResult]:
    """Download `symbols` of `target` (a ccxt exchange name, "yahoo" or "dukascopy") into `store`."""
    window = dict(start=start, end=end, months=months, limit=limit)
    if target.lower() == "dukascopy":
        if futures or funding or adjust != "auto":
            raise SourceError("--futures, --funding and --adjust do not apply to dukascopy")
        from edgelab.cli.data_dukascopy import run_dukascopy_download

        return run_dukascopy_download(symbols, interval, store=store, **window)
    if target.lower() == yahoo.SOURCE:
        if futures or funding:
            raise SourceError("--futures and --funding apply to exchanges, not to yahoo")
        return yahoo.download_yahoo(symbols, interval, store=store, adjust=adjust, **window)
    exchange = ccxt_source.make_exchange(target, futures=futures or funding)
    with RichProgress() as progress:
        results = ccxt_source.download_ohlcv(
            exchange, symbols, interval, store=store, progress=progress, **window
        )
    if funding:
        if limit is not None:  # rates are not bars: take the span the klines cover
            start = min(r.first for r in results if r.first is not None)
        results += ccxt_source.download_funding(
            exchange, symbols, store=store, start=start, end=end, months=months
        )
    return results


def run_update(store: BarStore) -> tuple[list[ccxt_source.DownloadResult], list[str]]:
    """Bring every cached series up to its last closed bar; returns results and failures."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for entry in store.list():
        groups[(entry.source, entry.interval)].append(entry.symbol)
    results, failures = [], []
    for (source, interval), symbols in sorted(groups.items()):
        try:
            results += _update_group(store, source, interval, symbols)
        except EdgelabError as exc:  # keep updating the other series; report at the end
            failures.append(f"{source} {interval}: {exc}")
    return results, failures


def _update_group(store: BarStore, source: str, interval: str, symbols: list[str]):
    if source == yahoo.SOURCE:
        return yahoo.download_yahoo(symbols, interval, store=store)
    if source == "dukascopy":
        from edgelab.cli.data_dukascopy import run_dukascopy_download

        return run_dukascopy_download(symbols, interval, store=store, progress=False)
    futures = any(":" in s for s in symbols) and not source.startswith("binance")
    exchange = ccxt_source.make_exchange(source, futures=futures)
    if interval == FUNDING:
        return ccxt_source.download_funding(exchange, symbols, store=store)
    with RichProgress() as progress:
        return ccxt_source.download_ohlcv(
            exchange, symbols, interval, store=store, progress=progress
        )


def register(app: typer.Typer) -> None:
    """Mount `download`, `update`, `cached` and `list` on the `edgelab data` sub-app."""

    @app.command("download")
    def download(
        args: list[str] = typer.Argument(
            ..., metavar="EXCHANGE_OR_yahoo SYMBOL... INTERVAL", show_default=False
        ),
        start: str | None = typer.Option(None, help="First bar (UTC date or time)."),
        end: str | None = typer.Option(None, help="End, exclusive (default: now)."),
        months: int | None = typer.Option(None, help="The last N months."),
        limit: int | None = typer.Option(None, help="The last N closed bars."),
        futures: bool = typer.Option(False, help="Perpetual futures (Binance: USD-M)."),
        funding: bool = typer.Option(False, help="Also funding-rate history (implies --futures)."),
        adjust: str = typer.Option(
            "auto", help="Yahoo prices: auto (split/dividend adjusted) or none."
        ),
        data_dir: Path | None = typer.Option(None, "--data-dir", help=_DATA_DIR_HELP),
    ) -> None:
        """Download bars into the store, fetching only what it lacks.

        e.g. `edgelab data download binance BTC/USDT ETH/USDT 1h --months 3`,
        `edgelab data download yahoo BTC-USD ^GSPC 1d --start 2020-01-01`.
        """
        if len(args) < 3:
            raise SourceError(
                "expected EXCHANGE_OR_yahoo SYMBOL... INTERVAL, e.g. "
                "`edgelab data download binance BTC/USDT 1h --months 3`"
            )
        store = BarStore(data_dir)
        results = run_download(
            args[0],
            args[1:-1],
            args[-1],
            store=store,
            start=_timestamp(start, "--start"),
            end=_timestamp(end, "--end"),
            months=months,
            limit=limit,
            futures=futures,
            funding=funding,
            adjust=adjust,
        )
        console.print(_results_table(results, f"downloaded into {store.root}"))

    @app.command("update")
    def update(
        data_dir: Path | None = typer.Option(None, "--data-dir", help=_DATA_DIR_HELP),
    ) -> None:
        """Bring every cached series up to its last closed bar."""
        store = BarStore(data_dir)
        results, failures = run_update(store)
        if not results and not failures:
            console.print(f"nothing cached under {store.root}; use `edgelab data download`")
            return
        console.print(_results_table(results, f"updated {store.root}"))
        if failures:
            raise DownloadError(f"{len(failures)} group(s) failed: " + " | ".join(failures))

    def cached(
        data_dir: Path | None = typer.Option(None, "--data-dir", help=_DATA_DIR_HELP),
    ) -> None:
        """List cached series with their span, rows and holes."""
        store = BarStore(data_dir)
        entries = store.list()
        if not entries:
            console.print(f"nothing cached under {store.root}")
            return
        table = Table(title=f"cached series in {store.root}")
        for name in ("source", "symbol", "interval", "rows", "first", "last", "holes"):
            table.add_column(name, justify="right" if name in {"rows", "holes"} else "left")
        for e in entries:
            holes = len(store.coverage(e.source, e.symbol, e.interval).missing)
            table.add_row(
                e.source,
                e.symbol,
                e.interval,
                f"{e.rows:,}",
                _when(e.first),
                _when(e.last),
                str(holes),
            )
        console.print(table)

    app.command("cached")(cached)
    app.command("list", help="Alias of `cached`.")(cached)
