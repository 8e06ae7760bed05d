"""`edgelab features ...` commands: list the named feature sets, describe one, compute one
on any data source and write it to Parquet or CSV (atomically)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import typer
from rich.table import Table

from edgelab.cli._common import console
from edgelab.errors import DataError, FeatureError, unknown_name

app = typer.Typer(help="List and compute named feature sets.", no_args_is_help=True)

_WRITERS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
_ATTR_KEYS = ("feature_set", "params", "warmup", "symbol", "assets", "interval", "source")


@app.command("list")
def list_sets() -> None:
    """List the named feature sets with their column counts and seed systems."""
    from edgelab.features import describe_feature_set, feature_set_names

    table = Table(title="feature sets (details: edgelab features describe NAME)")
    table.add_column("name", no_wrap=True)
    table.add_column("columns", no_wrap=True)
    table.add_column("min bars", no_wrap=True)
    table.add_column("seed system", no_wrap=True)
    table.add_column("params")
    for name in feature_set_names():
        d = describe_feature_set(name)
        params = ", ".join(f"{k}={v}" for k, v in d["params"].items()) or "-"
        per = " per asset" if d["input"].startswith("dict") else ""
        table.add_row(name, f"{d['n_columns']}{per}", str(d["min_bars"]), d["seed"], params)
    console.print(table)


@app.command("describe")
def describe(name: str = typer.Argument(..., help="feature set name, e.g. rich35")) -> None:
    """Show one feature set's columns in order."""
    from edgelab.features import describe_feature_set

    d = describe_feature_set(name)
    console.print(f"[bold]{d['name']}[/bold] ({d['seed']}): {d['description']}")
    console.print(
        f"input: {d['input']}; at least {d['min_bars']} bars; params: {d['params'] or '-'}"
    )
    for i, col in enumerate(d["columns"], 1):
        console.print(f"  {i:2d}  {col}")


def _parse_value(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("none", "null", "auto"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_params(items: list[str]) -> dict[str, Any]:
    """`["n=50", "use_mid=false"]` -> `{"n": 50, "use_mid": False}`."""
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise FeatureError(f"--param '{item}' is not KEY=VALUE (e.g. --param n=50)")
        params[key.strip()] = _parse_value(value)
    return params


def write_frame(df: pd.DataFrame, path: Path) -> None:
    """Write `df` (index included) to Parquet or CSV by extension, atomically: a temp file
    in the same folder, then os.replace, so a reader never sees a half-written file."""
    kind = _WRITERS.get(path.suffix.lower())
    if kind is None:
        raise DataError(
            f"cannot write '{path.suffix}' files", where=str(path), fix="use .parquet or .csv"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        if kind == "parquet":
            df.to_parquet(tmp)
        else:
            df.to_csv(tmp, index_label=df.index.name or "timestamp")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@app.command("compute")
def compute(
    source: str = typer.Argument(
        ..., help="data source spec: a file, sample:NAME, synthetic:..., cache:..."
    ),
    set_name: str = typer.Option(
        ..., "--set", "-s", help="feature set name (see `edgelab features list`)"
    ),
    output: Path = typer.Option(..., "--output", "-o", help="output file, .parquet or .csv"),
    symbol: str | None = typer.Option(
        None, "--symbol", help="asset to use when the source holds several"
    ),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="set parameter KEY=VALUE (repeatable)"
    ),
    policy: str = typer.Option("repair", help="validation policy for the loaded bars"),
    data_dir: Path | None = typer.Option(None, help="Parquet store for cache: sources"),
) -> None:
    """Compute a feature set on SOURCE and write it to a Parquet or CSV file."""
    from edgelab.data.sources import load_bars
    from edgelab.features import compute_features, get_feature_set

    if output.suffix.lower() not in _WRITERS:
        raise DataError(
            f"cannot write '{output.suffix}' files", where=str(output), fix="use .parquet or .csv"
        )
    spec = get_feature_set(set_name)
    params = parse_params(param)
    bars = load_bars(source, data_dir=data_dir, policy=policy)
    if symbol is not None:
        if symbol not in bars:
            raise FeatureError(unknown_name(f"symbol in '{source}'", symbol, bars))
        bars = {symbol: bars[symbol]}
    elif not spec.panel and len(bars) > 1:
        raise FeatureError(
            f"'{source}' holds {len(bars)} assets ({', '.join(bars)}) and set '{set_name}' takes one; "
            f"choose with --symbol, or use a panel set such as multi_asset8"
        )
    features = compute_features(bars, set_name, **params)
    out = features.copy(deep=False)
    # Parquet stores attrs as JSON: keep the JSON-safe description of what was computed.
    out.attrs = {k: features.attrs[k] for k in _ATTR_KEYS if k in features.attrs}
    write_frame(out, output)
    console.print(
        f"wrote {output}: {len(out)} rows x {out.shape[1]} columns of '{set_name}' "
        f"(first {features.attrs['warmup']} rows are warm-up with NaN)"
    )
