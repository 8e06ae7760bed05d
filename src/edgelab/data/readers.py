"""Reading and writing bar files: CSV, Parquet, Feather, JSON <-> `dict[str, Bars]`.

Readers map common column spellings to the Bars columns, parse the time column (epoch
s/ms/us/ns told apart by magnitude within 1990..2100, ISO strings with or without UTC
offsets, day-first strings such as Dukascopy's `01.01.2017 22:00:00.000`), recognise
Binance kline CSVs (12 columns, with or without header) and the candle-export JSON of a
C# trading app, then hand each frame to `validate_bars` with the file's line numbers, so
that every error names the file, the column and the first offending line or row.
`write_bars` writes one Bars atomically, the format chosen by the file extension.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from edgelab.data.schema import ATTRS, COLUMNS, INDEX_NAME, Bars, QualityReport, validate_bars
from edgelab.errors import DataError, unknown_name

_CSV = (".csv", ".txt", ".tsv")
_PARQUET = (".parquet", ".pq")
_FEATHER = (".feather", ".arrow", ".ipc")
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
# time column spellings (normalised: lower case, letters and digits), in priority order
_TIME_NAMES = (
    "timestamp",
    "datetime",
    "opentime",
    "gmttime",
    "utctime",
    "timeutc",
    "datetimeutc",
    "localtime",
    "date",
    "time",
    "t",
    "ts",
)
_UTC_NAMES = ("gmttime", "utctime", "timeutc", "datetimeutc")
_PARTS = ("open", "high", "low", "close")
_ALIASES = {
    **dict.fromkeys(("open", "o", "openprice"), "open"),
    **dict.fromkeys(("high", "h", "highprice"), "high"),
    **dict.fromkeys(("low", "l", "lowprice"), "low"),
    **dict.fromkeys(("close", "c", "closeprice", "last"), "close"),
    **dict.fromkeys(("volume", "vol", "v", "tickvolume", "tickvol", "basevolume"), "volume"),
    **{f"{s}{p}": f"{s}_{p}" for s in ("bid", "ask") for p in _PARTS},
    **{f"{p}{s}": f"{s}_{p}" for s in ("bid", "ask") for p in _PARTS},
    "bid": "bid_close",
    "ask": "ask_close",
    "spread": "spread",
}
_EPOCH_1990, _EPOCH_2100 = 631_152_000, 4_102_444_800  # seconds
_EPOCH_UNITS = (("s", 1), ("ms", 10**3), ("us", 10**6), ("ns", 10**9))
# .NET DateTime ticks (100 ns since 0001-01-01) for 1990..2100; as ns epochs they would
# all fall in 1990, so in the C# candle export they are read as ticks
_TICKS_1970, _TICKS_1990, _TICKS_2100 = 621355968 * 10**9, 627667488 * 10**9, 662379552 * 10**9
_OFFSET_RE = re.compile(r"\s*(?P<off>Z|UTC|GMT|(?:UTC|GMT)?\s*[+-]\d{2}:?\d{2})$", re.IGNORECASE)
_OFFSET_STRIP = r"\s*(?:Z|UTC|GMT|utc|gmt|(?:UTC|GMT|utc|gmt)?\s*[+-]\d{2}:?\d{2})$"  # for RE2
_DMY = re.compile(r"^(\d{1,2})([./-])(\d{1,2})\2(\d{4})(.*)$")
_CLOCK = re.compile(r"^([ T])\d{1,2}:\d{2}(:\d{2})?(\.\d+)?$")


def _norm(name: object) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


@dataclass
class RawBars:
    """One symbol as read, before validation: Bars columns, a DatetimeIndex (UTC, or
    naive when the file gives no zone), the file line of each row (CSV) and notes."""

    frame: pd.DataFrame
    where: str
    notes: list[str] = field(default_factory=list)
    lines: np.ndarray | None = None
    attrs: dict = field(default_factory=dict)


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
        _check_zone(tz)
    ext = path.suffix.lower()
    if ext in _CSV:
        raws = {"": _read_csv(path, tz=tz, dayfirst=dayfirst)}
    elif ext in _PARQUET + _FEATHER:
        raws = {"": _read_arrow(path, tz=tz, dayfirst=dayfirst)}
    elif ext == ".json":
        raws = _read_json(path, tz=tz, dayfirst=dayfirst)
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


def _check_zone(tz: str) -> None:
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise DataError(f"unknown time zone '{tz}'", fix="use an IANA name such as UTC") from exc


# ------------------------------------------------------------------ columns
def _map_columns(columns: list, where: str, notes: list[str]) -> tuple[dict, list]:
    """Source column -> Bars column, and the time columns in priority order."""
    times = sorted(
        (c for c in columns if _norm(c) in _TIME_NAMES), key=lambda c: _TIME_NAMES.index(_norm(c))
    )
    mapping: dict = {}
    seen: dict[str, object] = {}
    ignored = []
    for col in columns:
        target = _ALIASES.get(_norm(col))
        if col in times:
            continue
        if target is None:
            ignored.append(str(col))
        elif target in seen:
            raise DataError(
                f"columns '{seen[target]}' and '{col}' both give '{target}' (duplicated column)",
                where=where,
                fix="remove or rename one of them",
            )
        else:
            seen[target] = col
            mapping[col] = target
    listing = ", ".join(map(str, columns))
    if "close" not in seen:
        raise DataError(
            f"missing close column (columns: {listing})",
            where=where,
            fix="name the price columns Open, High, Low, Close",
        )
    if not times:
        raise DataError(
            f"missing time column (columns: {listing})",
            where=where,
            fix="name it Date, Datetime, Time, Timestamp or open_time",
        )
    if ignored:
        notes.append(f"ignored columns: {', '.join(ignored)}")
    return mapping, times


def _row(where: str, column: object, lines: np.ndarray | None, pos: int) -> str:
    row = f"line {lines[pos]}" if lines is not None else f"row {pos + 1}"
    return f"{where}, column '{column}', {row}"


def _numbers(values: pd.Series, where: str, column: object, lines) -> np.ndarray:
    """Column to float64; text that is not a number is an error naming its line."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype="float64")
    converted = pd.to_numeric(values, errors="coerce")
    text = values.astype("str").str.strip()
    bad = (converted.isna() & values.notna() & (text != "")).to_numpy()
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"text {values.iloc[pos]!r} where a number is expected",
            where=_row(where, column, lines, pos),
            fix="correct or remove that row",
        )
    return converted.to_numpy(dtype="float64")


def _build(df: pd.DataFrame, where: str, tz, dayfirst, lines=None, ticks=False) -> RawBars:
    """Frame with the file's columns -> RawBars with Bars columns and a time index."""
    notes: list[str] = []
    if isinstance(df.index, pd.DatetimeIndex):
        mapping, _ = _map_columns([INDEX_NAME, *df.columns], where, notes)
        index = _localize(df.index, tz, utc_names=False, date_only=False, notes=notes)
    else:
        mapping, times = _map_columns(list(df.columns), where, notes)
        index = _time_index(df, times, where, tz, dayfirst, lines, notes, ticks)
    data = {target: _numbers(df[col], where, col, lines) for col, target in mapping.items()}
    frame = pd.DataFrame(data, index=pd.DatetimeIndex(index, name=INDEX_NAME))
    return RawBars(frame[[c for c in COLUMNS if c in frame]], where, notes, lines)


def _time_index(df, times, where, tz, dayfirst, lines, notes, ticks) -> pd.DatetimeIndex:
    norms = [_norm(c) for c in times]
    if "date" in norms and "time" in norms:  # a date column plus a clock-time column
        date, clock = times[norms.index("date")], times[norms.index("time")]
        if df[clock].astype("str").str.match(r"^\d{1,2}:\d{2}").all():
            notes.append(f"time from columns '{date}' and '{clock}'")
            values = df[date].astype("str") + " " + df[clock].astype("str")
            return parse_times(values, f"{date} {clock}", where, lines, tz, dayfirst, notes)
    if len(times) > 1:
        notes.append(f"time from column '{times[0]}'; ignored {', '.join(map(str, times[1:]))}")
    col = times[0]
    return parse_times(
        df[col],
        col,
        where,
        lines,
        tz,
        dayfirst,
        notes,
        utc_names=_norm(col) in _UTC_NAMES,
        ticks=ticks,
    )


# ------------------------------------------------------------------ times
def parse_times(
    values: pd.Series,
    column,
    where: str,
    lines,
    tz,
    dayfirst,
    notes: list[str],
    *,
    utc_names: bool = False,
    ticks: bool = False,
) -> pd.DatetimeIndex:
    """A time column -> DatetimeIndex: UTC when the values say so (epoch, offsets, a
    'Gmt time' column, `tz` given, or dates without a clock), else naive."""
    if pd.api.types.is_datetime64_any_dtype(values):
        index = pd.DatetimeIndex(values)
        return _localize(index, tz, utc_names=utc_names, date_only=False, notes=notes)
    missing = values.isna().to_numpy()
    if missing.any():
        pos = int(np.flatnonzero(missing)[0])
        raise DataError(
            "missing time", where=_row(where, column, lines, pos), fix="fill in or drop the row"
        )
    if pd.api.types.is_numeric_dtype(values):
        return _epoch(values.to_numpy(), column, where, lines, notes, ticks)
    text = values.astype("str").str.strip()
    if text.str.fullmatch(r"-?\d+(\.\d+)?").all():
        return _epoch(pd.to_numeric(text).to_numpy(), column, where, lines, notes, ticks)
    if text.str.startswith("/Date(").all():  # .NET JSON dates: /Date(ms[+hhmm])/
        notes.append(f"column '{column}': .NET /Date(ms)/ values read as UTC")
        millis = text.str.extract(r"^/Date\((-?\d+)")[0].astype("int64").to_numpy()
        return pd.DatetimeIndex(pd.to_datetime(millis, unit="ms", utc=True))
    offsets = _offsets(text)
    aware = (offsets.notna() & text.str.contains(":", regex=False)).to_numpy()
    if aware.any() and not aware.all():
        pos = int(np.flatnonzero(~aware)[0])
        if pd.isna(pd.to_datetime(text.iloc[pos], errors="coerce", format="mixed")):
            raise DataError(
                f"cannot read {text.iloc[pos]!r} as a time",
                where=_row(where, column, lines, pos),
                fix="use one time layout, e.g. ISO 8601",
            )
        raise DataError(
            f"times with and without UTC offset mixed; {text.iloc[pos]!r} has none",
            where=_row(where, column, lines, pos),
            fix="give every time an offset, or none",
        )
    if not aware.any():
        index = _parse_naive(text, column, where, lines, dayfirst, notes)
        date_only = ":" not in text.iloc[0]
        return _localize(index, tz, utc_names=utc_names, date_only=date_only, notes=notes)
    if tz is not None:
        notes.append(f"times carry their own UTC offset; tz '{tz}' not used")
    return _parse_aware(text, offsets, column, where, lines, dayfirst, notes)


def _offsets(text: pd.Series) -> pd.Series:
    """Per row the UTC offset as '+HHMM' (None when there is none). The regex runs on
    the distinct line endings only: per-row Python regexes cost seconds per 100k rows."""
    suffix = text.str[-12:]
    found = {}
    for tail in suffix.unique():
        match = _OFFSET_RE.search(tail)
        off = match.group("off").upper() if match else None
        if off is not None:
            off = re.sub(r"UTC|GMT|Z|\s|:", "", off) or "+0000"
        found[tail] = off
    return suffix.map(found)


def _parse_aware(text, offsets, column, where, lines, dayfirst, notes) -> pd.DatetimeIndex:
    distinct = sorted(offsets.unique())
    if len(distinct) > 1:
        shown = ", ".join(distinct[:4])
        notes.append(f"column '{column}': mixed UTC offsets ({shown}) converted to UTC")
    if re.match(r"^\d{4}-\d{2}-\d{2}", text.iloc[0]):  # ISO 8601: pandas parses offsets
        parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
        if not parsed.isna().any():
            return pd.DatetimeIndex(parsed)
    # other layouts (Dukascopy 'Local time': 01.01.2017 00:00:00.000 GMT+0200): parse the
    # clock time without its offset, then subtract the offset
    signed = {o: (-1 if o[0] == "-" else 1) * (int(o[1:3]) * 60 + int(o[3:5])) for o in distinct}
    minutes = offsets.map(signed)
    bare = text.str.replace(_OFFSET_STRIP, "", regex=True)
    local = _parse_naive(bare, column, where, lines, dayfirst, notes)
    return (local - pd.to_timedelta(minutes.to_numpy(dtype="int64"), unit="min")).tz_localize("UTC")


def _epoch(values: np.ndarray, column, where, lines, notes, ticks) -> pd.DatetimeIndex:
    """Epoch numbers -> UTC times; the unit is the one that puts the first value in
    1990..2100, and every other value must fall there too."""
    values = np.asarray(values)
    if ticks and _TICKS_1990 <= values[0] <= _TICKS_2100:
        notes.append(f"column '{column}': .NET ticks (100 ns since year 1) read as UTC")
        values = (values.astype(np.int64) - _TICKS_1970) // 10
        unit, scale = "us", 10**6
    else:
        unit, scale = next(
            (
                (u, s)
                for u, s in _EPOCH_UNITS
                if _EPOCH_1990 * s <= abs(values[0]) <= _EPOCH_2100 * s
            ),
            (None, None),
        )
        if unit is None:
            raise DataError(
                f"{values[0]} is not an epoch time in s, ms, us or ns between 1990 and 2100",
                where=_row(where, column, lines, 0),
                fix="check the time column",
            )
        notes.append(f"column '{column}': epoch {unit} read as UTC")
    outside = (values < _EPOCH_1990 * scale) | (values > _EPOCH_2100 * scale)
    if outside.any():
        pos = int(np.flatnonzero(outside)[0])
        raise DataError(
            f"epoch {values[pos]} is outside 1990..2100 in {unit}, the unit of the first row",
            where=_row(where, column, lines, pos),
            fix="check the time column (mixed units?)",
        )
    return pd.DatetimeIndex(pd.to_datetime(values, unit=unit, utc=True))


def _parse_naive(text: pd.Series, column, where, lines, dayfirst, notes) -> pd.DatetimeIndex:
    """Strings without offsets -> naive times; day-first forms get an explicit format."""
    match = _DMY.match(text.iloc[0])
    if match and (not match.group(5) or _CLOCK.match(match.group(5))):
        sep = match.group(2)
        first = _day_first(text, sep, column, where, dayfirst, notes)
        clock = match.group(5)
        fmt = f"%d{sep}%m{sep}%Y" if first else f"%m{sep}%d{sep}%Y"
        if clock:
            fmt += clock[0] + "%H:%M" + (":%S" if clock.count(":") == 2 else "")
            fmt += ".%f" if "." in clock else ""
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
    elif re.match(r"^\d{4}-\d{2}-\d{2}", text.iloc[0]):
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
    else:  # other layouts (2020.01.01 10:00, 2020/01/01): pandas infers from the first
        parsed = pd.to_datetime(text, errors="coerce", dayfirst=bool(dayfirst))
    bad = parsed.isna().to_numpy()
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"cannot read {text.iloc[pos]!r} as a time (like {text.iloc[0]!r})",
            where=_row(where, column, lines, pos),
            fix="use one time layout, e.g. ISO 8601",
        )
    return pd.DatetimeIndex(parsed)


def _day_first(text: pd.Series, sep: str, column, where, dayfirst, notes) -> bool:
    if dayfirst is not None:
        return dayfirst
    heads = [re.match(r"^(\d{1,2})\D(\d{1,2})\D", h) for h in text.str[:6].unique()]
    parts = np.array([[int(m.group(1)), int(m.group(2))] for m in heads if m]).reshape(-1, 2)
    if (parts[:, 0] > 12).any():
        return True
    if (parts[:, 1] > 12).any():
        return False
    if sep == ".":
        notes.append(f"column '{column}': DD.MM.YYYY dates read day-first")
        return True
    raise DataError(
        f"column '{column}': dates such as {text.iloc[0]!r} could be day- or month-first",
        where=where,
        fix="pass dayfirst=True or False (CLI: --dayfirst / --monthfirst)",
    )


def _localize(index, tz, *, utc_names: bool, date_only: bool, notes) -> pd.DatetimeIndex:
    if index.tz is not None:
        return index.tz_convert("UTC")
    if utc_names:
        notes.append("GMT/UTC time column read as UTC")
        return index.tz_localize("UTC")
    if tz is not None:
        try:
            local = index.tz_localize(tz, ambiguous="infer", nonexistent="raise")
        except ValueError as exc:
            raise DataError(f"times invalid in zone '{tz}': {exc}", fix="check tz") from exc
        notes.append(f"naive times read in zone '{tz}' and converted to UTC")
        return local.tz_convert("UTC")
    if date_only:
        notes.append("dates without a clock time read as UTC days")
        return index.tz_localize("UTC")
    return index


# ------------------------------------------------------------------ CSV
def _read_csv(path: Path, *, tz, dayfirst) -> RawBars:
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
    has_header = any(_norm(f) in _TIME_NAMES or _norm(f) in _ALIASES for f in head)
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
    times = [n for n in names if _norm(n) in _TIME_NAMES]
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
    out = _build(df, where, tz, dayfirst, lines=lines)
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
        if _norm(name) in seen:
            raise DataError(
                f"duplicated column '{name}' (also '{seen[_norm(name)]}')",
                where=where,
                fix="remove or rename one of them",
            )
        seen[_norm(name)] = name


def _headerless_names(head: list[str], where: str) -> list[str]:
    """Binance klines (12 columns) and time,open,high,low,close[,volume] without header."""
    if not re.fullmatch(r"[\d\s.:/TZ+-]+", head[0]):
        raise DataError(
            f"no known column names in the header ({', '.join(head)})",
            where=where,
            fix="name the columns e.g. Date, Open, High, Low, Close, Volume",
        )
    layouts = {12: BINANCE_KLINE, 6: ("timestamp", *_PARTS, "volume"), 5: ("timestamp", *_PARTS)}
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


# ------------------------------------------------------------------ Parquet, Feather
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
    raw = _build(df, path.name, tz, dayfirst)
    raw.attrs = attrs
    return raw


# ------------------------------------------------------------------ JSON
def _read_json(path: Path, *, tz, dayfirst) -> dict[str, RawBars]:
    """Three layouts: the candle export `[{"symbol", "candles": [{t|time, o, h, l, c, v}]}]`
    (or one such object), `write_bars` output `{"symbol", ..., "bars": [records]}`, and a
    plain list of records. Keys are matched case-insensitively."""
    where = path.name
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError("not UTF-8 text", where=where) from exc
    if not text.strip():
        raise DataError("empty file", where=where, fix="the file holds no JSON")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            where=where,
            fix="check the file is complete JSON",
        ) from exc
    low = {str(k).lower(): v for k, v in doc.items()} if isinstance(doc, dict) else {}
    if "bars" in low:
        raw = _records(low["bars"], where, tz, dayfirst, ticks=False)
        raw.attrs = {k: low[k] for k in ATTRS if isinstance(low.get(k), str)}
        return {"": raw}
    entries = [doc] if "candles" in low else doc
    if (
        isinstance(entries, list)
        and entries
        and all(isinstance(e, dict) and "candles" in {str(k).lower() for k in e} for e in entries)
    ):
        return _candle_export(entries, where, tz, dayfirst)
    if isinstance(doc, list) and doc and all(isinstance(e, dict) for e in doc):
        return {"": _records(doc, where, tz, dayfirst, ticks=False)}
    raise DataError(
        "unknown JSON layout",
        where=where,
        fix='expected [{"symbol": ..., "candles": [{"t", "o", "h", "l", "c", "v"}]}] '
        'or a list of {"timestamp", "open", ...} records',
    )


def _candle_export(entries: list[dict], where: str, tz, dayfirst) -> dict[str, RawBars]:
    found: dict[str, list] = {}
    for i, entry in enumerate(entries, start=1):
        low = {str(k).lower(): v for k, v in entry.items()}
        name = low.get("symbol")
        if not isinstance(name, str) or not name:
            raise DataError(f"entry {i} has no 'symbol'", where=where, fix='add "symbol": "NAME"')
        found.setdefault(name, []).append(low["candles"])
    out = {}
    for name, chunks in found.items():
        candles = [c for chunk in chunks for c in (chunk if isinstance(chunk, list) else [None])]
        raw = _records(candles, f"{where}, symbol '{name}'", tz, dayfirst, ticks=True)
        if len(chunks) > 1:
            raw.notes.append(f"{len(chunks)} entries for '{name}' joined")
        out[name] = raw
    return out


def _records(records, where: str, tz, dayfirst, *, ticks: bool) -> RawBars:
    if not isinstance(records, list) or not records:
        raise DataError("no candles/bars (empty list)", where=where, fix="the file holds no bars")
    for i, rec in enumerate(records, start=1):
        if not isinstance(rec, dict):
            raise DataError(f"candle {i} is {type(rec).__name__}, not an object", where=where)
    return _build(pd.DataFrame.from_records(records), where, tz, dayfirst, ticks=ticks)


# ------------------------------------------------------------------ writing
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
