"""Calendar features of each bar's open time, in UTC: hour of day and day of week, raw and
as sine/cosine pairs (so that 23h sits next to 0h and Sunday next to Monday).

Columns: ``hour`` (0-23), ``dow`` (0 = Monday ... 6 = Sunday), ``hour_sin`` / ``hour_cos`` =
sin/cos(2 pi hour / 24), ``dow_sin`` / ``dow_cos`` = sin/cos(2 pi dow / 7). A bar's timestamp
is known when it opens, so these are causal with no warm-up.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from numba import njit

from edgelab.errors import FeatureError, unknown_name
from edgelab.features.indicators import Arrays, frame

CALENDAR_COLUMNS = ("hour", "dow", "hour_sin", "hour_cos", "dow_sin", "dow_cos")

_NS_PER_HOUR = 3_600_000_000_000
_NS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
_HOUR_ANGLE = 2.0 * np.pi * np.arange(24) / 24.0
_DOW_ANGLE = 2.0 * np.pi * np.arange(7) / 7.0
_TABLES = (np.sin(_HOUR_ANGLE), np.cos(_HOUR_ANGLE), np.sin(_DOW_ANGLE), np.cos(_DOW_ANGLE))


@njit(cache=True)
def _fill_calendar(
    stamps, factor, hour, dow, hour_sin, hour_cos, dow_sin, dow_cos, tables
):  # pragma: no cover
    # One pass writes every requested column (zero-length outputs are skipped). numba:
    # pandas' .hour/.day_of_week take ~20 ms per million rows each, and numpy's int64 // and
    # % ~10 ms per operation. Signed `//` and `%` floor like Python's, so times before 1970
    # come out right too.
    t_hsin, t_hcos, t_dsin, t_dcos = tables
    for i in range(stamps.shape[0]):
        ns = stamps[i] * factor
        if ns >= 0:  # unsigned division by a constant compiles to a multiply: 3x faster
            hours_u = np.uint64(ns) // np.uint64(_NS_PER_HOUR)
            h = np.int64(hours_u % np.uint64(24))
            d = np.int64((hours_u // np.uint64(24) + np.uint64(3)) % np.uint64(7))
        else:
            hours = ns // _NS_PER_HOUR
            h = hours % 24
            d = (hours // 24 + 3) % 7  # 1970-01-01 was a Thursday
        if hour.shape[0]:
            hour[i] = h
        if hour_sin.shape[0]:
            hour_sin[i] = t_hsin[h]
        if hour_cos.shape[0]:
            hour_cos[i] = t_hcos[h]
        if dow.shape[0]:
            dow[i] = d
        if dow_sin.shape[0]:
            dow_sin[i] = t_dsin[d]
        if dow_cos.shape[0]:
            dow_cos[i] = t_dcos[d]


def epoch_stamps(index: pd.Index) -> tuple[np.ndarray, int]:
    """The int64 epoch counts of a tz-aware DatetimeIndex (UTC, any unit) and the number of
    nanoseconds per count."""
    if not isinstance(index, pd.DatetimeIndex):
        raise FeatureError(
            f"calendar features need a DatetimeIndex, got {type(index).__name__}; "
            f"load the bars with edgelab.data (index 'timestamp', UTC)"
        )
    if index.tz is None:
        raise FeatureError(
            "calendar features need a tz-aware index (Bars are UTC); "
            "localize it with index.tz_localize('UTC') if the times are UTC"
        )
    # asi8 counts epoch units whatever the tz, so no conversion is needed for UTC offsets.
    return index.asi8, _NS_PER_UNIT[index.unit]


def calendar_arrays(index: pd.DatetimeIndex, columns: Iterable[str] = CALENDAR_COLUMNS) -> Arrays:
    """The requested calendar columns (see the module docstring) as float64 arrays."""
    columns = list(columns)
    unknown = [c for c in columns if c not in CALENDAR_COLUMNS]
    if unknown:
        raise FeatureError(unknown_name("calendar column", unknown[0], CALENDAR_COLUMNS))
    n = len(index)
    out = {name: np.empty(n if name in columns else 0) for name in CALENDAR_COLUMNS}
    stamps, factor = epoch_stamps(index)
    _fill_calendar(stamps, factor, *(out[c] for c in CALENDAR_COLUMNS), _TABLES)
    return {name: out[name] for name in columns}


def calendar_features(
    bars: pd.DataFrame | pd.DatetimeIndex, columns: Iterable[str] = CALENDAR_COLUMNS
) -> pd.DataFrame:
    """Hour and day-of-week features (UTC) of Bars (or of a DatetimeIndex), same index."""
    index = bars if isinstance(bars, pd.DatetimeIndex) else bars.index
    return frame(calendar_arrays(index, columns), index)
