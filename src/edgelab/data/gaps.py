"""Gaps in a bar index, and the market calendar that tells closures from faults.

`detect_calendar` guesses 'crypto' (24/7), 'fx' (round the clock on weekdays) or
'equity' (weekday sessions) from the days and hours bars occur on; `gap_summary` splits
the holes in the time grid into expected closures of that calendar (weekends, nights,
holidays) and faults, which `validate_bars` reports as warnings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from edgelab.data.intervals import format_interval
from edgelab.data.quality import FIRST_SHOWN, GapSummary

_WEEK = pd.Timedelta(days=7)
_WEEKEND_FROM = pd.Timedelta(days=4, hours=15)  # Friday 15:00 UTC, from Monday 00:00
_WEEKEND_TO = pd.Timedelta(days=7, hours=1)  # next Monday 01:00 UTC
_MONDAY = pd.Timestamp("1970-01-05", tz="UTC")


def detect_calendar(index: pd.DatetimeIndex, step: pd.Timedelta) -> tuple[str | None, str]:
    """Guess the market calendar from the bars' days and hours; returns (calendar, why).

    No bar on any Saturday over a span with >= 2 Saturdays: a weekday market, 'fx' when
    the bars cover >= 75 % of the day's slots (round the clock), else 'equity'. Bars of a
    week or longer cannot show it (None)."""
    if step >= pd.Timedelta(days=7) or len(index) < 2:
        return None, "bars too coarse or too few to tell"
    days = index.normalize()
    saturdays = np.busday_count(
        days[0].date(), (days[-1] + pd.Timedelta(days=1)).date(), weekmask="Sat"
    )
    if saturdays < 2:
        return "crypto", "span too short to see weekends; assumed 24/7"
    if (index.day_of_week == 5).any():
        return "crypto", "bars on Saturdays (24/7 market)"
    if step >= pd.Timedelta(days=1):
        return "equity", f"no Saturday bars over {saturdays} weekends (weekday market)"
    slots = pd.Timedelta(days=1) // step
    seen = len(np.unique(((index - days) // step).to_numpy()))
    calendar = "fx" if seen >= 0.75 * slots else "equity"
    return calendar, f"no Saturday bars over {saturdays} weekends, {seen}/{slots} daily slots"


def gap_summary(index: pd.DatetimeIndex, step: pd.Timedelta, calendar: str) -> GapSummary:
    """Gaps of a sorted UTC index against `step`, split into faults and expected closures.

    A gap is a spacing above `step`; its missing span runs from the bar after the last
    one present to the next bar present. Expected closures: for 'fx' and 'equity' a span
    inside Friday 15:00 to Monday 01:00 UTC (weekend); for 'equity' also intraday spans
    that cross midnight UTC (overnight) and daily spans with <= 2 missing weekdays
    (holidays). 'crypto' trades 24/7: every gap is a fault."""
    summary = GapSummary()
    if len(index) < 2:
        return summary
    diffs = index[1:] - index[:-1]
    at = np.flatnonzero(diffs > step)
    if not len(at):
        return summary
    start = index[at] + step
    end = index[at + 1]
    expected = np.zeros(len(at), dtype=bool)
    if calendar in ("fx", "equity"):
        offset = (start - _MONDAY) % _WEEK
        expected |= (offset >= _WEEKEND_FROM) & ((end - start) <= (_WEEKEND_TO - offset))
    if calendar == "equity":
        if step >= pd.Timedelta(days=1):
            day = "datetime64[D]"
            weekdays = np.busday_count(
                start.tz_localize(None).to_numpy().astype(day),
                end.tz_localize(None).to_numpy().astype(day),
            )
            expected |= weekdays <= 2
        else:
            expected |= start.normalize() != (end - pd.Timedelta(1, "us")).normalize()
    summary.expected = int(expected.sum())
    faults = ~expected
    summary.count = int(faults.sum())
    if not summary.count:
        return summary
    span = (end - start)[faults]
    summary.missing_bars = int(sum(span // step))
    worst = int(np.argmax(span))
    summary.longest = _duration(span[worst])
    fs, fe = start[faults], end[faults]
    summary.where = f"{fs[worst]} to {fe[worst]}"
    summary.first = [f"{s} to {e}" for s, e in zip(fs[:FIRST_SHOWN], fe[:FIRST_SHOWN], strict=True)]
    return summary


def _duration(delta: pd.Timedelta) -> str:
    seconds = int(pd.Timedelta(delta).total_seconds())
    return format_interval(pd.Timedelta(seconds=seconds)) if seconds > 0 else str(delta)
