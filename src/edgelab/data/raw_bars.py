"""A file's table -> `RawBars`: column spellings mapped to Bars columns, numbers checked,
the time column parsed.

Every reader (CSV, Parquet/Feather, JSON) ends here: `build_raw_bars` maps names such as
`Open`, `o`, `BidClose`, `Tick volume` to the Bars columns, picks the time column(s) by
priority (a `Date` plus a clock `Time` column are joined), turns text that is not a
number into an error naming its line, and leaves value checks to `validate_bars`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from edgelab.data.schema import COLUMNS, INDEX_NAME
from edgelab.data.times import localize_index, parse_times, row_where
from edgelab.errors import DataError

# time column spellings (normalised: lower case, letters and digits), in priority order
TIME_NAMES = (
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
PRICE_PARTS = ("open", "high", "low", "close")
ALIASES = {
    **dict.fromkeys(("open", "o", "openprice"), "open"),
    **dict.fromkeys(("high", "h", "highprice"), "high"),
    **dict.fromkeys(("low", "l", "lowprice"), "low"),
    **dict.fromkeys(("close", "c", "closeprice", "last"), "close"),
    **dict.fromkeys(("volume", "vol", "v", "tickvolume", "tickvol", "basevolume"), "volume"),
    **{f"{s}{p}": f"{s}_{p}" for s in ("bid", "ask") for p in PRICE_PARTS},
    **{f"{p}{s}": f"{s}_{p}" for s in ("bid", "ask") for p in PRICE_PARTS},
    "bid": "bid_close",
    "ask": "ask_close",
    "spread": "spread",
}


def norm_name(name: object) -> str:
    """A column name as matched against TIME_NAMES and ALIASES: lower case, [a-z0-9] only."""
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


def _map_columns(columns: list, where: str, notes: list[str]) -> tuple[dict, list]:
    """Source column -> Bars column, and the time columns in priority order."""
    times = sorted(
        (c for c in columns if norm_name(c) in TIME_NAMES),
        key=lambda c: TIME_NAMES.index(norm_name(c)),
    )
    mapping: dict = {}
    seen: dict[str, object] = {}
    ignored = []
    for col in columns:
        target = ALIASES.get(norm_name(col))
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
            where=row_where(where, column, lines, pos),
            fix="correct or remove that row",
        )
    return converted.to_numpy(dtype="float64")


def build_raw_bars(df: pd.DataFrame, where: str, tz, dayfirst, lines=None, ticks=False) -> RawBars:
    """Frame with the file's columns -> RawBars with Bars columns and a time index."""
    notes: list[str] = []
    if isinstance(df.index, pd.DatetimeIndex):
        mapping, _ = _map_columns([INDEX_NAME, *df.columns], where, notes)
        index = localize_index(df.index, tz, utc_names=False, date_only=False, notes=notes)
    else:
        mapping, times = _map_columns(list(df.columns), where, notes)
        index = _time_index(df, times, where, tz, dayfirst, lines, notes, ticks)
    data = {target: _numbers(df[col], where, col, lines) for col, target in mapping.items()}
    frame = pd.DataFrame(data, index=pd.DatetimeIndex(index, name=INDEX_NAME))
    return RawBars(frame[[c for c in COLUMNS if c in frame]], where, notes, lines)


def _time_index(df, times, where, tz, dayfirst, lines, notes, ticks) -> pd.DatetimeIndex:
    norms = [norm_name(c) for c in times]
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
        utc_names=norm_name(col) in _UTC_NAMES,
        ticks=ticks,
    )
