"""Resampling Bars to a coarser interval.

Bins are left-closed and labelled by their open time, anchored at the Unix epoch
(1970-01-01 00:00 UTC), so 1h bins start on the hour and 1d bins at 00:00 UTC; intervals
of whole weeks are anchored on Monday 1970-01-05 instead, so weeks start on Monday.
Aggregation: open first, high max, low min, close last, volume sum, bid/ask OHLC alike,
`spread` the mean over the bin (the average cost of crossing it during that bar, not the
spread at its close). Bins without source bars are omitted, never filled.
"""

from __future__ import annotations

import pandas as pd

from edgelab.data.intervals import format_interval, infer_interval, parse_interval
from edgelab.data.schema import Bars
from edgelab.errors import DataError

_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")
_MONDAY = pd.Timestamp("1970-01-05", tz="UTC")
_HOW = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
for _side in ("bid", "ask"):
    _HOW.update({f"{_side}_{part}": how for part, how in list(_HOW.items())[:4]})
_HOW["spread"] = "mean"


def resample_bars(bars: Bars, interval: str, *, drop_incomplete: bool = False) -> Bars:
    """Aggregate `bars` to `interval`, a whole multiple (>= 2x) of their own interval.

    Input: Bars with `attrs['interval']` (else inferred from the spacing). Output: Bars
    indexed by bin open time, one row per bin holding at least one source bar; `attrs`
    kept, `interval` set to the new one. A bar at t summarises source bars in
    [t, t + interval), so it is known only at t + interval (causal use: shift by one).
    `drop_incomplete` drops the LAST bin when it holds fewer source bars than the ratio
    (e.g. < 4 of 15m in 1h); earlier bins are kept as they are, so for markets with
    closures count-based completeness is only meaningful at the end. Raises DataError for
    a finer or non-multiple interval, unknown columns, or source bars that straddle a
    target bin (source bars not aligned to the target grid).
    """
    if bars.empty:
        raise DataError("cannot resample empty bars")
    source = _source_interval(bars)
    target = parse_interval(interval)
    if target <= source or target % source != pd.Timedelta(0):
        raise DataError(
            f"cannot resample {format_interval(source)} bars to {format_interval(target)}",
            where=bars.attrs.get("symbol"),
            fix=f"choose a coarser interval that is a whole multiple of {format_interval(source)}",
        )
    unknown = [c for c in bars.columns if c not in _HOW]
    if unknown:
        raise DataError(f"no aggregation rule for columns {unknown}", fix="drop those columns")
    origin = _MONDAY if target % pd.Timedelta(days=7) == pd.Timedelta(0) else _EPOCH
    index = bars.index
    offset = (index - origin) % target
    straddle = offset + source > target
    if straddle.any():
        raise DataError(
            f"the {format_interval(source)} bar at {index[straddle][0]} straddles a "
            f"{format_interval(target)} boundary: bars are not on the {format_interval(target)} grid",
            where=bars.attrs.get("symbol"),
            fix="resample only bars whose open times align with the target bins",
        )
    labels = pd.DatetimeIndex(index - offset, name=index.name)
    grouped = bars.groupby(labels, sort=True)
    out = grouped.agg({c: _HOW[c] for c in bars.columns})
    if drop_incomplete and grouped.size().iloc[-1] < target // source:
        out = out.iloc[:-1]
    out.attrs = {**bars.attrs, "interval": format_interval(target)}
    return out


def _source_interval(bars: Bars) -> pd.Timedelta:
    if bars.attrs.get("interval"):
        return parse_interval(bars.attrs["interval"])
    step = infer_interval(bars.index)
    if step is None:
        raise DataError(
            "bar interval unknown (no attrs['interval'] and too few rows to infer it)",
            fix="set bars.attrs['interval'], e.g. '1h'",
        )
    return step
