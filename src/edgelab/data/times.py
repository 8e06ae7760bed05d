"""Time columns of bar files -> DatetimeIndex: epochs, ISO strings, offsets, day-first dates.

`parse_times` tells epoch s/ms/us/ns apart by magnitude (the unit that puts the first
value in 1990..2100; every other value must fall there too), reads .NET ticks in the C#
candle export and .NET `/Date(ms)/` JSON dates, converts strings with UTC offsets
(ISO 8601 or Dukascopy's `01.01.2017 00:00:00.000 GMT+0200`) to UTC, and settles
DD.MM.YYYY against MM/DD/YYYY from the values (or `dayfirst`). Naive times stay naive
unless a zone is known (`tz`, a 'Gmt time' column, dates without a clock). Every error
names the file, the column and the first offending line or row.
"""

from __future__ import annotations

import re
import zoneinfo

import numpy as np
import pandas as pd

from edgelab.errors import DataError

_EPOCH_1990, _EPOCH_2100 = 631_152_000, 4_102_444_800  # seconds
_EPOCH_UNITS = (("s", 1), ("ms", 10**3), ("us", 10**6), ("ns", 10**9))
# .NET DateTime ticks (100 ns since 0001-01-01) for 1990..2100; as ns epochs they would
# all fall in 1990, so in the C# candle export they are read as ticks
_TICKS_1970, _TICKS_1990, _TICKS_2100 = 621355968 * 10**9, 627667488 * 10**9, 662379552 * 10**9
_OFFSET_RE = re.compile(r"\s*(?P<off>Z|UTC|GMT|(?:UTC|GMT)?\s*[+-]\d{2}:?\d{2})$", re.IGNORECASE)
_OFFSET_STRIP = r"\s*(?:Z|UTC|GMT|utc|gmt|(?:UTC|GMT|utc|gmt)?\s*[+-]\d{2}:?\d{2})$"  # for RE2
_DMY = re.compile(r"^(\d{1,2})([./-])(\d{1,2})\2(\d{4})(.*)$")
_CLOCK = re.compile(r"^([ T])\d{1,2}:\d{2}(:\d{2})?(\.\d+)?$")


def check_zone(tz: str) -> None:
    """Raise DataError unless `tz` is an IANA zone name ('UTC', 'America/New_York')."""
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise DataError(f"unknown time zone '{tz}'", fix="use an IANA name such as UTC") from exc


def row_where(where: str, column: object, lines: np.ndarray | None, pos: int) -> str:
    """'<file>, column '<c>', line N' (or 'row N' when the file lines are unknown)."""
    row = f"line {lines[pos]}" if lines is not None else f"row {pos + 1}"
    return f"{where}, column '{column}', {row}"


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
        return localize_index(index, tz, utc_names=utc_names, date_only=False, notes=notes)
    missing = values.isna().to_numpy()
    if missing.any():
        pos = int(np.flatnonzero(missing)[0])
        raise DataError(
            "missing time",
            where=row_where(where, column, lines, pos),
            fix="fill in or drop the row",
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
        _raise_mixed_offsets(text, aware, column, where, lines)
    if not aware.any():
        index = _parse_naive(text, column, where, lines, dayfirst, notes)
        date_only = ":" not in text.iloc[0]
        return localize_index(index, tz, utc_names=utc_names, date_only=date_only, notes=notes)
    if tz is not None:
        notes.append(f"times carry their own UTC offset; tz '{tz}' not used")
    return _parse_aware(text, offsets, column, where, lines, dayfirst, notes)


def _raise_mixed_offsets(text: pd.Series, aware: np.ndarray, column, where, lines) -> None:
    """Some times carry a UTC offset, others not: name the first without one."""
    pos = int(np.flatnonzero(~aware)[0])
    if pd.isna(pd.to_datetime(text.iloc[pos], errors="coerce", format="mixed")):
        raise DataError(
            f"cannot read {text.iloc[pos]!r} as a time",
            where=row_where(where, column, lines, pos),
            fix="use one time layout, e.g. ISO 8601",
        )
    raise DataError(
        f"times with and without UTC offset mixed; {text.iloc[pos]!r} has none",
        where=row_where(where, column, lines, pos),
        fix="give every time an offset, or none",
    )


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
                where=row_where(where, column, lines, 0),
                fix="check the time column",
            )
        notes.append(f"column '{column}': epoch {unit} read as UTC")
    outside = (values < _EPOCH_1990 * scale) | (values > _EPOCH_2100 * scale)
    if outside.any():
        pos = int(np.flatnonzero(outside)[0])
        raise DataError(
            f"epoch {values[pos]} is outside 1990..2100 in {unit}, the unit of the first row",
            where=row_where(where, column, lines, pos),
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
            where=row_where(where, column, lines, pos),
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


def localize_index(index, tz, *, utc_names: bool, date_only: bool, notes) -> pd.DatetimeIndex:
    """Aware times -> UTC; naive ones -> UTC when the zone is known (a GMT/UTC column,
    `tz`, or dates without a clock), else left naive for `validate_bars` to judge."""
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
