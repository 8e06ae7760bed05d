"""Bar intervals: parse `1m`, `15m`, `1h`, `4h`, `1d`, `1w` into pandas offsets and back.

Intervals are fixed lengths of time; calendar months are not supported as bar intervals.
"""

from __future__ import annotations

import re

import pandas as pd

from edgelab.errors import DataError

_UNITS = {"s": "s", "m": "min", "h": "h", "d": "D", "w": "W"}
_PATTERN = re.compile(r"^(\d+)\s*([smhdw])$")


def parse_interval(text: str) -> pd.Timedelta:
    """`'15m'` -> `Timedelta('15min')`. Accepts s, m, h, d, w with a positive integer count."""
    match = _PATTERN.match(str(text).strip().lower())
    if not match or int(match.group(1)) <= 0:
        raise DataError(
            f"invalid bar interval '{text}'",
            fix="use a count and a unit such as 1m, 5m, 15m, 1h, 4h, 1d or 1w",
        )
    count, unit = int(match.group(1)), match.group(2)
    if unit == "w":
        return pd.Timedelta(days=7 * count)
    return pd.Timedelta(count, unit=_UNITS[unit])


def format_interval(delta: pd.Timedelta) -> str:
    """`Timedelta('15min')` -> `'15m'`, the inverse of `parse_interval` for whole units."""
    seconds = int(pd.Timedelta(delta).total_seconds())
    if seconds <= 0:
        raise DataError(f"invalid bar interval {delta}", fix="intervals must be positive")
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    raise AssertionError("unreachable: every whole second count divides by 1")


def infer_interval(index: pd.DatetimeIndex) -> pd.Timedelta | None:
    """The most common spacing of a sorted index (the bar interval), or None with < 2 rows."""
    if len(index) < 2:
        return None
    diffs = index.to_series().diff().dropna()
    diffs = diffs[diffs > pd.Timedelta(0)]
    if diffs.empty:
        return None
    return diffs.mode().iloc[0]


def bars_per_year(interval: pd.Timedelta, calendar: str = "crypto") -> float:
    """Bars per year for annualization: 24/7 for `crypto`, 252 trading days for `equity`
    (6.5 h sessions for intraday), 260 weekdays for `fx` (24 h on weekdays)."""
    interval = pd.Timedelta(interval)
    day = pd.Timedelta(days=1)
    if calendar == "crypto":
        return pd.Timedelta(days=365.25) / interval
    if calendar == "equity":
        per_day = 1.0 if interval >= day else pd.Timedelta(hours=6.5) / interval
        return 252.0 * per_day / max(interval / day, 1.0)
    if calendar == "fx":
        per_day = 1.0 if interval >= day else day / interval
        return 260.0 * per_day / max(interval / day, 1.0)
    raise DataError(f"unknown market calendar '{calendar}'", fix="use crypto, equity or fx")
