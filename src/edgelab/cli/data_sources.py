"""`edgelab data show SOURCE` and `edgelab data samples`: look at any source as rich tables.

A thin shell over `edgelab.data.sources` (load_bars, the sample catalogue) and the quality
report that `validate_bars` attaches to every loaded frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import typer
from rich import box
from rich.table import Table

from edgelab.cli._common import console
from edgelab.data.intervals import bars_per_year, parse_interval
from edgelab.data.quality import QualityReport, render_report
from edgelab.data.sources import load_bars
from edgelab.data.sources.samples import available_samples

_TAIL_COLUMNS = ("open", "high", "low", "close", "volume", "spread")


def register(app: typer.Typer) -> None:
    """Mount `show` and `samples` on the `edgelab data` sub-app."""
    app.command("show")(show)
    app.command("samples")(samples)


def show(
    source: str = typer.Argument(
        ...,
        help="sample:NAME, synthetic:KEY=VALUE,..., cache:EXCHANGE/SYMBOL/INTERVAL or a file",
    ),
    rows: int = typer.Option(5, "--rows", "-n", min=0, help="How many of the last bars to print."),
    policy: str = typer.Option("repair", help="Validation policy: repair or strict."),
    start: str | None = typer.Option(None, help="Keep bars opening at or after this UTC time."),
    end: str | None = typer.Option(None, help="Keep bars opening before this UTC time."),
    data_dir: Path | None = typer.Option(None, help="Parquet store for cache: sources."),
    quality: bool = typer.Option(False, "--quality", help="Also print the full quality report."),
) -> None:
    """Load SOURCE and print, per symbol: span, rows, gaps, a price summary and the last bars."""
    frames = load_bars(source, data_dir=data_dir, policy=policy, start=start, end=end)
    for symbol, bars in frames.items():
        report = bars.attrs["quality"]
        console.print(_summary_table(symbol, bars, report))
        if quality:
            console.print(render_report(QualityReport.from_dict(report)))
        if rows:
            console.print(_tail_table(bars, rows))


def samples() -> None:
    """List the real samples bundled in installed packages, with span, rows and licence."""
    table = Table(title="bundled samples (use as sample:NAME)", box=box.SIMPLE_HEAD)
    table.add_column("name", no_wrap=True)
    table.add_column("bars")
    table.add_column("span (UTC)")
    table.add_column("rows", justify="right")
    table.add_column("licence, package")
    for sample in available_samples().values():
        table.add_row(
            sample.name,
            f"{sample.symbol} {sample.interval} {sample.calendar}",
            f"{sample.span[0][:10]} to {sample.span[1][:10]}",
            str(sample.rows),
            f"{sample.licence}, {sample.package}",
        )
    console.print(table)
    for sample in available_samples().values():
        console.print(f"[bold]{sample.name}[/bold]: {sample.description}")


def _summary_table(symbol: str, bars: pd.DataFrame, report: dict) -> Table:
    """Key/value table: span, rows, interval, gaps, quality and the close-price summary."""
    table = Table(title=f"{symbol} ({bars.attrs.get('source', '?')})", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    interval = bars.attrs.get("interval") or report.get("interval")
    calendar = bars.attrs.get("calendar") or report.get("calendar") or "crypto"
    first, last = bars.index[0], bars.index[-1]
    table.add_row("span", f"{_stamp(first)} to {_stamp(last)} UTC ({(last - first).days} days)")
    table.add_row("rows", f"{len(bars):,}")
    table.add_row("interval", f"{interval or '-'} ({calendar} calendar)")
    table.add_row("gaps", _gap_text(report["gaps"]))
    table.add_row("quality", _quality_text(report))
    close = bars["close"].to_numpy()
    table.add_row("close first / last", f"{_price(close[0])} / {_price(close[-1])}")
    table.add_row("close min / max", f"{_price(close.min())} / {_price(close.max())}")
    table.add_row("return over span", f"{close[-1] / close[0] - 1.0:+.2%}")
    table.add_row("annualized vol", _annual_vol(close, interval, calendar))
    return table


def _gap_text(gaps: dict) -> str:
    closures = f"{gaps['expected']} expected market closures"
    if not gaps["count"]:
        return f"none unexpected; {closures}"
    return (
        f"{gaps['count']} unexpected ({gaps['missing_bars']} missing bars), longest "
        f"{gaps['longest']} at {gaps['where']}; {closures}"
    )


def _quality_text(report: dict) -> str:
    warnings = [f["rule"] for f in report["findings"] if f["severity"] != "info"]
    text = "ok" if report["ok"] else "repaired"
    if report["repairs"]:
        text += f", {len(report['repairs'])} repairs: " + "; ".join(report["repairs"])
    if warnings:
        text += f"; warnings: {', '.join(warnings)}"
    return text + " (--quality for the full report)"


def _annual_vol(close: np.ndarray, interval: str | None, calendar: str) -> str:
    """Std of log returns scaled by sqrt(bars per year of the calendar)."""
    if interval is None or len(close) < 3:
        return "-"
    returns = np.diff(np.log(close))
    per_year = bars_per_year(parse_interval(interval), calendar)
    return f"{returns.std(ddof=1) * np.sqrt(per_year):.1%} ({calendar}: {per_year:,.0f} bars/year)"


def _tail_table(bars: pd.DataFrame, rows: int) -> Table:
    columns = [c for c in _TAIL_COLUMNS if c in bars.columns]
    table = Table(title=f"last {min(rows, len(bars))} bars")
    table.add_column("timestamp (UTC)", no_wrap=True)
    for column in columns:
        table.add_column(column, justify="right")
    for stamp, values in zip(bars.index[-rows:], bars[columns].to_numpy()[-rows:], strict=True):
        cells = [_cell(c, v) for c, v in zip(columns, values, strict=True)]
        table.add_row(_stamp(stamp), *cells)
    return table


def _cell(column: str, value: float) -> str:
    if column == "volume":
        return f"{value:,.0f}"
    return f"{value:.4g}" if column == "spread" else _price(value)


def _price(value: float) -> str:
    return f"{value:.6g}"


def _stamp(stamp: pd.Timestamp) -> str:
    return stamp.strftime("%Y-%m-%d %H:%M")
