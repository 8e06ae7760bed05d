"""CSV bar files -> `RawBars`, with the file line of every row for error messages.

The delimiter (, ; tab |) is sniffed from the header line, decimal commas from the first
data row; a file without a header is read as Binance klines (12 columns) or
time,open,high,low,close[,volume]. Rows with the wrong number of fields, duplicated
column names and text that is not UTF-8 are errors naming the file and line.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from edgelab.data.raw_bars import (
    ALIASES,
    PRICE_PARTS,
    TIME_NAMES,
    RawBars,
    build_raw_bars,
    norm_name,
)
from edgelab.errors import DataError

_DELIMITERS = (",", ";", "\t", "|")
BINANCE_KLINE = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)


def read_csv_bars(path: Path, *, tz, dayfirst) -> RawBars:
    """One CSV file -> RawBars (times parsed, values not yet validated)."""
    where = path.name
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError("empty file", where=where, fix="the file holds no header and no rows")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"not UTF-8 text (byte {exc.start})",
            where=where,
            fix="is it a Parquet or Feather file with a .csv name?",
        ) from exc
    numbered = [(i + 1, line) for i, line in enumerate(text.splitlines()) if line.strip()]
    head_no, head_line = numbered[0]
    delim = _sniff(head_line, f"{where}, line {head_no}")
    head = [f.strip().strip('"') for f in head_line.split(delim)]
    has_header = any(norm_name(f) in TIME_NAMES or norm_name(f) in ALIASES for f in head)
    notes = [f"delimiter {delim!r}"] if delim != "," else []
    if has_header:
        _check_duplicates(head, f"{where}, line {head_no}")
        names, data = head, numbered[1:]
    else:
        names, data = _headerless_names(head, f"{where}, line {head_no}"), numbered
        notes.append(f"no header row: columns taken as {', '.join(names)}")
    if not data:
        raise DataError("header only: no data rows", where=where, fix="the file holds no bars")
    _check_field_counts(data, delim, len(names), where)
    decimal = _decimal(data[0][1], delim)
    if decimal == ",":
        notes.append("decimal commas")
    times = [n for n in names if norm_name(n) in TIME_NAMES]
    try:
        df = pd.read_csv(
            io.StringIO("\n".join(line for _, line in data)),
            sep=delim,
            header=None,
            names=names,
            dtype=dict.fromkeys(times, str),
            decimal=decimal,
            skipinitialspace=True,
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"cannot parse as CSV: {exc}", where=where) from exc
    lines = np.array([n for n, _ in data], dtype=np.int64)
    out = build_raw_bars(df, where, tz, dayfirst, lines=lines)
    out.notes[:0] = notes
    return out


def _sniff(line: str, where: str) -> str:
    counts = {d: line.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    if counts[best] == 0:
        raise DataError(
            f"only one column in the header {line[:60]!r}: the delimiter is not , ; tab or |",
            where=where,
            fix="separate the columns with commas",
        )
    return best


def _check_duplicates(head: list[str], where: str) -> None:
    seen: dict[str, str] = {}
    for name in head:
        if norm_name(name) in seen:
            raise DataError(
                f"duplicated column '{name}' (also '{seen[norm_name(name)]}')",
                where=where,
                fix="remove or rename one of them",
            )
        seen[norm_name(name)] = name


def _headerless_names(head: list[str], where: str) -> list[str]:
    """Binance klines (12 columns) and time,open,high,low,close[,volume] without header."""
    if not re.fullmatch(r"[\d\s.:/TZ+-]+", head[0]):
        raise DataError(
            f"no known column names in the header ({', '.join(head)})",
            where=where,
            fix="name the columns e.g. Date, Open, High, Low, Close, Volume",
        )
    layouts = {
        12: BINANCE_KLINE,
        6: ("timestamp", *PRICE_PARTS, "volume"),
        5: ("timestamp", *PRICE_PARTS),
    }
    if len(head) not in layouts:
        raise DataError(
            f"no header row and {len(head)} columns: cannot tell which column is which",
            where=where,
            fix="add a header such as timestamp,open,high,low,close,volume",
        )
    return list(layouts[len(head)])


def _check_field_counts(data: list[tuple[int, str]], delim: str, n: int, where: str) -> None:
    if any('"' in line for _, line in data):  # quoted fields: count like a CSV parser
        counts = [len(r) for r in csv.reader((line for _, line in data), delimiter=delim)]
    else:
        counts = [line.count(delim) + 1 for _, line in data]
    bad = np.flatnonzero(np.asarray(counts) != n)
    if not len(bad):
        return
    no, line = data[bad[0]]
    k = counts[bad[0]]
    other = [d for d in _DELIMITERS if d != delim and d in line]
    if k == 1 and other:
        why = f"it uses {other[0]!r} but the header uses {delim!r} (wrong delimiter)"
    else:
        why = "truncated row?" if k < n else "extra fields"
    raise DataError(
        f"{k} fields where the header has {n}: {why}",
        where=f"{where}, line {no}",
        fix="correct or remove that line",
    )


def _decimal(line: str, delim: str) -> str:
    if delim == ",":
        return "."
    fields = [f.strip() for f in line.split(delim)]
    return "," if any(re.fullmatch(r"-?\d+,\d+", f) for f in fields) else "."
