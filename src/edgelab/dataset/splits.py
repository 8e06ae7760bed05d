"""Chronological train / validation / test splits, with an embargo gap and purging.

This module owns the `Split` object: the one place where the fit window (train span) and
the evaluation spans are decided. Everything fitted later (scaler, models, thresholds)
asks the `Split` for its window; no stage types a date twice.

Rules:

- Spans are contiguous in time and ordered: train, gap, validation, gap, test.
- The split is made on one timeline: the sorted union of all assets' bar times, so that
  many assets share the same boundaries (a multi-asset model never trains on one asset's
  March while testing on another's).
- `gap` bars of that timeline separate the spans; it is at least the labels' look-ahead
  (`LabelsConfig.lookahead`), so a label computed inside one span can not reach into the
  next. On top of that, `purge_mask` drops any row whose `t_end` reaches the next span's
  start (needed when assets trade on different calendars, where a bar of one asset is
  more than one timeline step).
- `test` is the start of the test span: a fraction (0.2 = the last 20% of the timeline)
  or a date. `val` is a fraction of the pre-test span (default: its last 10%) or a date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from edgelab.config import SplitConfig
from edgelab.errors import ConfigError

SPAN_NAMES = ("train", "val", "test")
# Smallest spans that still give a model and its metrics something to work on.
MIN_ROWS = {"train": 20, "val": 5, "test": 5}


@dataclass(frozen=True)
class Span:
    """A closed interval of bar open times [start, end] (UTC) and its timeline length."""

    start: pd.Timestamp
    end: pd.Timestamp
    bars: int

    def mask(self, index: pd.DatetimeIndex) -> np.ndarray:
        """Boolean mask of `index` entries inside the span."""
        return np.asarray((index >= self.start) & (index <= self.end))

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "bars": self.bars}


@dataclass(frozen=True)
class Split:
    """Train, validation and test spans on a shared timeline.

    `gap` is the embargo in timeline bars between consecutive spans; `lookahead` the
    labels' look-ahead it was checked against.
    """

    train: Span
    val: Span
    test: Span
    gap: int
    lookahead: int

    def span(self, name: str) -> Span:
        if name not in SPAN_NAMES:
            raise ConfigError(f"unknown split '{name}'; known: {', '.join(SPAN_NAMES)}")
        return getattr(self, name)

    def next_start(self, name: str) -> pd.Timestamp | None:
        """Start of the span after `name` (None for test)."""
        i = SPAN_NAMES.index(name)
        return None if i == 2 else self.span(SPAN_NAMES[i + 1]).start

    def purge_mask(self, name: str, index: pd.DatetimeIndex, t_end: np.ndarray) -> np.ndarray:
        """Rows of span `name` whose label outcome is known before the next span starts.

        `t_end`: datetime64 per row (naive = UTC; NaT = unlabeled, never kept). Returns a boolean mask
        over `index`: inside the span, labeled, and `t_end < next span start`.
        """
        inside = self.span(name).mask(index)
        t_end = pd.DatetimeIndex(t_end)
        if t_end.tz is None:  # numpy datetime64 arrays carry UTC without a zone
            t_end = t_end.tz_localize("UTC")
        known = np.asarray(~t_end.isna())
        nxt = self.next_start(name)
        if nxt is None:
            return inside & known
        before = np.zeros(len(index), dtype=bool)
        before[known] = np.asarray(t_end[known] < nxt)
        return inside & before

    def to_dict(self) -> dict[str, Any]:
        return {
            **{name: self.span(name).to_dict() for name in SPAN_NAMES},
            "gap": self.gap,
            "lookahead": self.lookahead,
        }


def timeline(indexes: list[pd.DatetimeIndex]) -> pd.DatetimeIndex:
    """The sorted union of several assets' bar times."""
    if not indexes:
        raise ConfigError("no data to split: the data block yielded no assets")
    out = indexes[0]
    for idx in indexes[1:]:
        out = out.union(idx)
    return out.sort_values()


def _position(times: pd.DatetimeIndex, value: datetime, field: str) -> int:
    """First timeline position at or after `value`; ConfigError outside the data."""
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    if stamp <= times[0]:
        raise ConfigError(
            f"'split.{field}' {stamp} is at or before the first bar {times[0]}: that span "
            "would start before the train span; pick a later date or use a fraction"
        )
    if stamp > times[-1]:
        raise ConfigError(
            f"'split.{field}' {stamp} is after the last bar {times[-1]}: that span would be "
            "empty; pick an earlier date or use a fraction"
        )
    return int(times.searchsorted(stamp, side="left"))


def make_split(times: pd.DatetimeIndex, config: SplitConfig, lookahead: int) -> Split:
    """Decide the spans on `times` (sorted unique UTC bar times) from `config`.

    `lookahead`: the labels' look-ahead in bars (`LabelsConfig.lookahead`); the gap
    defaults to it and may not be smaller. Raises ConfigError naming the `split.*` field
    when a span would be empty, too short, or out of order.
    """
    if lookahead < 1:
        raise ConfigError(f"labels look-ahead must be >= 1 bar, got {lookahead}")
    gap = lookahead if config.gap is None else config.gap
    if gap < lookahead:
        raise ConfigError(
            f"'split.gap' {gap} is shorter than the labels' look-ahead {lookahead}: labels "
            f"would straddle the split boundaries; set split.gap >= {lookahead} or leave it unset"
        )
    if config.train_start is not None:
        times = times[_position(times, config.train_start, "train_start") :]
    n = len(times)
    if isinstance(config.test, datetime):
        test_pos = _position(times, config.test, "test")
    else:
        test_pos = n - int(round(config.test * n))
    pre = test_pos - gap  # timeline positions [0, pre) hold train, gap, val
    if isinstance(config.val, datetime):
        val_pos = _position(times, config.val, "val")
        if val_pos >= pre:
            raise ConfigError(
                f"'split.val' {config.val} leaves no validation span before the test span "
                f"(starting {times[min(test_pos, n - 1)]}, after a gap of {gap} bars)"
            )
    else:
        val_pos = pre - int(round(config.val * max(pre, 0)))
    train_end = val_pos - gap  # exclusive
    bounds = {"train": (0, train_end), "val": (val_pos, pre), "test": (test_pos, n)}
    for name, (lo, hi) in bounds.items():
        if hi - lo < MIN_ROWS[name]:
            field = {"train": "test", "val": "val", "test": "test"}[name]
            raise ConfigError(
                f"'split.{field}': the {name} span would have {max(hi - lo, 0)} bars (at least "
                f"{MIN_ROWS[name]} needed) out of {n} bars with a gap of {gap}; load more data "
                "or change split.test / split.val / labels horizon"
            )
    spans = {name: Span(times[lo], times[hi - 1], hi - lo) for name, (lo, hi) in bounds.items()}
    return Split(spans["train"], spans["val"], spans["test"], gap=gap, lookahead=lookahead)


def split_from_dict(data: dict[str, Any]) -> Split:
    """Rebuild a `Split` written by `Split.to_dict` (e.g. from a run's data.json)."""
    spans = {
        name: Span(pd.Timestamp(d["start"]), pd.Timestamp(d["end"]), int(d["bars"]))
        for name, d in ((n, data[n]) for n in SPAN_NAMES)
    }
    return Split(**spans, gap=int(data["gap"]), lookahead=int(data["lookahead"]))
