"""Reading and writing bar files: CSV, Parquet, Feather, JSON <-> `dict[str, Bars]`.

`read_bars` dispatches on the file extension to the CSV reader (`csv_reader`), the JSON
reader (`json_reader`) or pandas' Parquet/Feather readers; all of them map common column
spellings to the Bars columns (`raw_bars`) and parse the time column (`times`: epoch
s/ms/us/ns told apart by magnitude within 1990..2100, ISO strings with or without UTC
offsets, day-first strings such as Dukascopy's `01.01.2017 22:00:00.000`). Binance kline
CSVs (12 columns, with or without header) and the candle-export JSON of a C# trading app
are recognised. Each frame then goes to `validate_bars` with the file's line numbers, so
that every error names the file, the column and the first offending line or row.
`write_bars` writes one Bars atomically, the format chosen by the file extension.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from edgelab.data.csv_reader import BINANCE_KLINE, read_csv_bars
from edgelab.data.json_reader import read_json_bars
from edgelab.data.raw_bars import RawBars, build_raw_bars
from edgelab.data.schema import ATTRS, INDEX_NAME, Bars, QualityReport, validate_bars
from edgelab.data.times import check_zone, parse_times
from edgelab.errors import DataError, unknown_name

_CSV = (".csv", ".txt", ".tsv")
_PARQUET = (".parquet", ".pq")
_FEATHER = (".feather", ".arrow", ".ipc")

__all__ = [
    "BINANCE_KLINE",
    "RawBars",
    "parse_times",
    "read_bars",
    "read_bars_frame",
    "read_bars_reports",
    "write_bars",
]


def read_bars(
    path: str | os.PathLike,
    *,
    symbol: str | None = None,
    interval: str | None = None,
    policy: str = "strict",
    tz: str | None = None,
    dayfirst: bool | None = None,
) -> dict[str, Bars]:
    """Read a bar file into validated Bars keyed by symbol.

    Single-asset files give one entry keyed by `symbol` (default: the symbol stored in a
    Parquet/Feather/JSON file, else the file stem); the candle-export JSON gives one per
    symbol and `symbol` selects one. `tz` is the zone of naive times ('UTC',
    'America/New_York'); `dayfirst` settles dates like 01/02/2020. `policy` and
    `interval` go to `validate_bars`. Raises DataError naming file, column and line.
    """
    reports = read_bars_reports(
        path, symbol=symbol, interval=interval, policy=policy, tz=tz, dayfirst=dayfirst
    )
    return {name: bars for name, (bars, _) in reports.items()}


def read_bars_reports(
    path: str | os.PathLike,
    *,
    symbol: str | None = None,
    interval: str | None = None,
    policy: str = "strict",
    tz: str | None = None,
    dayfirst: bool | None = None,
) -> dict[str, tuple[Bars, QualityReport]]:
    """As `read_bars`, with each symbol's `QualityReport` (reader notes included)."""
    out = {}
    for name, raw in read_bars_frame(path, symbol=symbol, tz=tz, dayfirst=dayfirst).items():
        raw.frame.attrs = raw.attrs
        out[name] = validate_bars(
            raw.frame,
            policy=policy,
            interval=interval,
            where=raw.where,
            notes=raw.notes,
            lines=raw.lines,
        )
    return out


def read_bars_frame(
    path: str | os.PathLike,
    *,
    symbol: str | None = None,
    tz: str | None = None,
    dayfirst: bool | None = None,
) -> dict[str, RawBars]:
    """Low level: parse a file into `RawBars` per symbol, without validating values."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found" if not path.exists() else "not a file", where=str(path))
    if tz is not None:
        check_zone(tz)
    ext = path.suffix.lower()
    if ext in _CSV:
        raws = {"": read_csv_bars(path, tz=tz, dayfirst=dayfirst)}
    elif ext in _PARQUET + _FEATHER:
        raws = {"": _read_arrow(path, tz=tz, dayfirst=dayfirst)}
    elif ext == ".json":
        raws = read_json_bars(path, tz=tz, dayfirst=dayfirst)
    else:
        raise DataError(
            f"unknown file type '{ext or path.name}'",
            where=path.name,
            fix="use .csv, .parquet, .feather or .json",
        )
    if "" in raws:  # a single-asset file
        raw = raws[""]
        raws = {symbol or raw.attrs.get("symbol") or path.stem: raw}
    elif symbol is not None:
        if symbol not in raws:
            raise DataError(unknown_name("symbol", symbol, raws), where=path.name)
        raws = {symbol: raws[symbol]}
    for name, raw in raws.items():
        raw.attrs = {**raw.attrs, "symbol": name}
        raw.attrs.setdefault("source", f"file:{path.name}")
    return raws


def _read_arrow(path: Path, *, tz, dayfirst) -> RawBars:
    import pyarrow as pa

    kind = "Parquet" if path.suffix.lower() in _PARQUET else "Feather"
    try:
        df = pd.read_parquet(path) if kind == "Parquet" else pd.read_feather(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"cannot read as {kind}: {exc}", where=path.name) from exc
    if df.empty:
        raise DataError("no rows", where=path.name, fix="the file holds no bars")
    attrs = {k: df.attrs[k] for k in ATTRS if df.attrs.get(k)}
    if not isinstance(df.index, pd.DatetimeIndex | pd.RangeIndex) and df.index.name:
        df = df.reset_index()
    raw = build_raw_bars(df, path.name, tz, dayfirst)
    raw.attrs = attrs
    return raw


def write_bars(bars: Bars, path: str | os.PathLike) -> Path:
    """Write one Bars atomically (temp file, then rename); format by extension: .csv
    (ISO times with +00:00), .parquet, .feather (attrs kept), .json (`{"symbol",
    "interval", "source", "bars": [{"timestamp", "open", ...}]}`, floats exact)."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in _CSV + _PARQUET + _FEATHER + (".json",):
        raise DataError(
            f"unknown file type '{ext or path.name}'",
            where=str(path),
            fix="use .csv, .parquet, .feather or .json",
        )
    if not isinstance(bars, pd.DataFrame) or not isinstance(bars.index, pd.DatetimeIndex):
        raise DataError("write_bars needs Bars (a DataFrame with a DatetimeIndex)", where=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if ext in _CSV:  # times preformatted: to_csv formats tz-aware stamps slowly
            text = bars.set_axis(pd.Index(_iso(bars.index), name=INDEX_NAME))
            text.to_csv(tmp, sep="\t" if ext == ".tsv" else ",")
        elif ext in _PARQUET:
            bars.to_parquet(tmp, index=True)
        elif ext in _FEATHER:
            bars.rename_axis(INDEX_NAME).reset_index().to_feather(tmp)
        else:
            tmp.write_text(json.dumps(_json_doc(bars)), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _iso(index: pd.DatetimeIndex) -> np.ndarray:
    """ISO 8601 UTC strings ('2024-01-01T00:00:00Z'), formatted in C by numpy."""
    utc = index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index
    values = utc.to_numpy()
    whole = (utc.asi8 % (10**6 if utc.unit == "us" else 10**9) == 0).all()
    unit = "s" if whole else "us"
    return np.char.add(np.datetime_as_string(values, unit=unit), "Z" if index.tz else "")


def _json_doc(bars: Bars) -> dict:
    stamps = _iso(bars.index).tolist()
    columns = [str(c) for c in bars.columns]
    values = bars.to_numpy(dtype="float64")
    if not np.isfinite(values).all():
        raise DataError("NaN or inf in bars: JSON cannot hold them", fix="validate the bars first")
    rows = values.tolist()
    records = [
        {"timestamp": t, **dict(zip(columns, row, strict=True))}
        for t, row in zip(stamps, rows, strict=True)
    ]
    return {**{k: bars.attrs[k] for k in ATTRS if k in bars.attrs}, "bars": records}
