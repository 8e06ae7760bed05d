"""Chronological splits: boundaries, gaps, purging, errors naming the field."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgelab.config import SplitConfig
from edgelab.dataset.splits import make_split, split_from_dict, timeline
from edgelab.errors import ConfigError


def _times(n: int, freq: str = "h") -> pd.DatetimeIndex:
    return pd.date_range("2024-01-01", periods=n, freq=freq, tz="UTC", name="timestamp")


def test_fractions_hand_computed():
    times = _times(1000)
    split = make_split(times, SplitConfig(test=0.2, val=0.1), lookahead=3)
    # test = last 200 bars; pre-test = 800 - 3 (gap) = 797 bars; val = round(79.7) = 80
    assert split.test.start == times[800] and split.test.end == times[999]
    assert split.val.start == times[797 - 80] and split.val.end == times[796]
    assert split.train.start == times[0] and split.train.end == times[797 - 80 - 3 - 1]
    assert (split.train.bars, split.val.bars, split.test.bars) == (714, 80, 200)
    assert split.gap == 3


def test_dates_and_gap_between_spans():
    times = _times(500)
    cfg = SplitConfig(test=datetime(2024, 1, 15), val=datetime(2024, 1, 12), gap=5)
    split = make_split(times, cfg, lookahead=2)
    assert split.test.start == pd.Timestamp("2024-01-15", tz="UTC")
    assert split.val.start == pd.Timestamp("2024-01-12", tz="UTC")
    pos = {t: i for i, t in enumerate(times)}
    assert pos[split.val.start] - pos[split.train.end] - 1 == 5
    assert pos[split.test.start] - pos[split.val.end] - 1 == 5


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(200, 3000),
    test=st.floats(0.05, 0.5),
    val=st.floats(0.05, 0.5),
    look=st.integers(1, 30),
)
def test_spans_ordered_disjoint_with_gap(n, test, val, look):
    times = _times(n)
    try:
        split = make_split(times, SplitConfig(test=test, val=val), lookahead=look)
    except ConfigError:
        return  # too little data for these fractions: reported, not silently shrunk
    pos = times.get_indexer
    tr, va, te = (pos([s.start, s.end]) for s in (split.train, split.val, split.test))
    assert tr[0] == 0 and te[1] == n - 1
    assert va[0] - tr[1] - 1 >= look and te[0] - va[1] - 1 >= look
    # every train label (t + look) ends before validation starts
    assert tr[1] + look < va[0] and va[1] + look < te[0]


def test_purge_drops_rows_whose_outcome_reaches_next_span():
    times = _times(300)
    split = make_split(times, SplitConfig(test=0.3, val=0.2), lookahead=2)
    # labels that look 10 bars ahead (e.g. another asset's calendar): must be purged
    t_end = times.shift(10).to_numpy()
    keep = split.purge_mask("train", times, t_end)
    train_pos = np.flatnonzero(keep)
    assert times[train_pos[-1]] + pd.Timedelta(hours=10) < split.val.start
    assert times[train_pos[-1] + 1] + pd.Timedelta(hours=10) >= split.val.start
    # NaT t_end (unlabeled) never kept; test rows need no purge
    t_end_nat = pd.DatetimeIndex([pd.NaT] * len(times)).to_numpy()
    assert not split.purge_mask("val", times, t_end_nat).any()
    assert split.purge_mask("test", times, t_end).sum() == split.test.bars


def test_gap_shorter_than_lookahead_names_field():
    with pytest.raises(ConfigError, match=r"split\.gap.*look-ahead 4"):
        make_split(_times(500), SplitConfig(gap=2), lookahead=4)


def test_test_date_before_data_names_field():
    with pytest.raises(ConfigError, match=r"'split\.test'.*before the first bar"):
        make_split(_times(500), SplitConfig(test=datetime(2020, 1, 1)), lookahead=1)


def test_too_little_data_names_field():
    with pytest.raises(ConfigError, match=r"'split\.test'.*train span would have"):
        make_split(_times(30), SplitConfig(), lookahead=5)


def test_multi_asset_timeline_union_and_roundtrip():
    a, b = _times(100), _times(100)[50:].append(_times(200)[100:150])
    times = timeline([a, b])
    assert len(times) == 150 and times.is_monotonic_increasing
    split = make_split(times, SplitConfig(), lookahead=1)
    assert split_from_dict(split.to_dict()) == split
