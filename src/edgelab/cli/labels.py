"""`edgelab labels ...` commands: compute labels to a file, plot one barrier label as a PNG.

    edgelab labels compute SOURCE --kind barrier [--param max_horizon=12 ...] -o labels.parquet
    edgelab labels plot SOURCE --at 2024-03-01T12:00 | --index I [--window 60] [--heikin-ashi] -o out.png

SOURCE is any spec `edgelab.data.sources.load_bars` accepts (sample:..., synthetic:...,
cache:..., a file path).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import typer
import yaml
from rich.table import Table

from edgelab.cli._common import console
from edgelab.errors import LabelError, unknown_name
from edgelab.labels import LABELERS, Labels, make_labels

app = typer.Typer(help="Compute and plot labels (direction, forward return, ATR barriers).",
                  no_args_is_help=True)  # fmt: skip


def _load(source: str) -> dict[str, pd.DataFrame]:
    from edgelab.data.sources import load_bars

    return load_bars(source)


def _one_asset(frames: dict[str, pd.DataFrame], symbol: str | None) -> pd.DataFrame:
    if symbol is None:
        if len(frames) == 1:
            return next(iter(frames.values()))
        raise LabelError(
            f"the source holds {len(frames)} assets ({', '.join(frames)}); pick one with --symbol"
        )
    if symbol not in frames:
        raise LabelError(unknown_name("symbol", symbol, frames))
    return frames[symbol]


def _parse_params(items: list[str]) -> dict[str, object]:
    params: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise LabelError(f"--param '{item}' must look like KEY=VALUE, e.g. max_horizon=12")
        params[key.strip()] = yaml.safe_load(value)
    return params


def _write_parquet(labels: dict[str, Labels], path: Path) -> None:
    """One long table (symbol, timestamp, label, t_end[, forward_return]) with the label map
    and parameters as JSON in the Parquet metadata; atomic write."""
    frames = [lab.frame.assign(symbol=sym).reset_index() for sym, lab in labels.items()]
    frames = [f[["symbol", *f.columns[:-1]]] for f in frames]
    table = pa.Table.from_pandas(pd.concat(frames, ignore_index=True), preserve_index=False)
    first = next(iter(labels.values()))
    meta = {
        "kind": first.kind,
        "params": first.params,
        "horizon": first.horizon,
        "label_map": {str(k): v for k, v in first.label_map.items()},
        "label_sign": {str(k): v for k, v in first.label_sign.items()},
    }
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), b"edgelab.labels": json.dumps(meta).encode()}
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".parquet", dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@app.command("compute")
def compute(
    source: str = typer.Argument(
        ..., help="bars spec: sample:NAME, synthetic:..., cache:..., PATH"
    ),
    kind: str = typer.Option("barrier", "--kind", "-k", help=f"one of {', '.join(LABELERS)}"),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="labeler parameter KEY=VALUE (repeatable)"
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Parquet file to write"),
) -> None:
    """Compute labels for every asset of SOURCE and write them to a Parquet file."""
    if kind not in LABELERS:  # before loading any data
        raise LabelError(unknown_name("label kind", kind, LABELERS))
    params = _parse_params(param)
    frames = _load(source)
    labels = {sym: make_labels(bars, kind, **params) for sym, bars in frames.items()}
    _write_parquet(labels, output)
    table = Table(title=f"{kind} labels -> {output}")
    table.add_column("symbol")
    names = list(next(iter(labels.values())).counts())
    for name in names:
        table.add_column(name, justify="right")
    for sym, lab in labels.items():
        counts = lab.counts()
        table.add_row(sym, *(str(counts[n]) for n in names))
    console.print(table)


@app.command("plot")
def plot(
    source: str = typer.Argument(
        ..., help="bars spec: sample:NAME, synthetic:..., cache:..., PATH"
    ),
    at: str | None = typer.Option(
        None, "--at", help="entry bar open time, e.g. 2024-03-01T12:00 (UTC)"
    ),
    index: int | None = typer.Option(
        None, "--index", "-i", help="entry bar row number (negative from the end)"
    ),
    window: int = typer.Option(60, "--window", "-w", help="bars shown"),
    heikin_ashi: bool = typer.Option(
        False, "--heikin-ashi", help="barriers and candles on Heikin-Ashi (mid) prices"
    ),
    tp_atr: float = typer.Option(1.5, "--tp-atr", help="take-profit distance in ATRs"),
    sl_atr: float = typer.Option(1.0, "--sl-atr", help="stop-loss distance in ATRs"),
    atr_window: int = typer.Option(14, "--atr-window", help="ATR period (bars)"),
    max_horizon: int = typer.Option(24, "--max-horizon", help="bars before a horizon exit"),
    symbol: str | None = typer.Option(
        None, "--symbol", "-s", help="asset, when SOURCE holds several"
    ),
    output: Path = typer.Option(..., "--output", "-o", help="PNG file to write"),
) -> None:
    """Draw one barrier label: candles, entry, take-profit and stop-loss lines, exits, label."""
    from edgelab.labels.plots import bar_position, barrier_figure, save_png

    bars = _one_asset(_load(source), symbol)
    pos = bar_position(bars, at=at, index=index)
    fig = barrier_figure(
        bars, pos, window=window, tp_atr=tp_atr, sl_atr=sl_atr, atr_window=atr_window,
        max_horizon=max_horizon, heikin_ashi=heikin_ashi,
    )  # fmt: skip
    save_png(fig, output)
    console.print(f"wrote {output} (bar {pos}, {bars.index[pos]})")
