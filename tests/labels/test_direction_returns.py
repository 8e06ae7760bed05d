"""Direction and forward-return labels: hand cases, a pure-Python reference, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from label_refs import make_bars, ref_direction

from edgelab.errors import LabelError
from edgelab.labels import direction_labels, forward_returns


def close_bars(close):
    c = np.asarray(close, dtype=np.float64)
    return make_bars(c, c + 1, c - 1, c)


def test_binary_zero_return_is_down():
    bars = close_bars([100, 101, 101, 100, 100.5])
    labels = direction_labels(bars)
    np.testing.assert_array_equal(labels.label.to_numpy(), [1, 0, 0, 1, np.nan])
    assert labels.label_map == {0: "down", 1: "up"}
    assert list(labels.t_end.iloc[:4]) == list(bars.index[1:])
    assert labels.t_end.isna().iloc[4]
    np.testing.assert_allclose(labels.frame["forward_return"].iloc[:2], [0.01, 0.0])


def test_three_classes_dead_band_fraction_boundary_is_flat():
    # returns exactly 2**-7 = 0.0078125 are flat (inside the band, boundary included)
    bars = close_bars([64, 64.5, 64.5, 64, 64, 64.75])
    labels = direction_labels(bars, classes=3, dead_band=0.0078125)
    # moves: +2**-7 (flat), 0 (flat), -1/129 (inside: flat), 0 (flat), +0.75/64 (up)
    np.testing.assert_array_equal(labels.label.to_numpy(), [0, 0, 0, 0, 1, np.nan])
    labels = direction_labels(bars, classes=3, dead_band=0.007)
    np.testing.assert_array_equal(labels.label.to_numpy(), [1, 0, 2, 0, 1, np.nan])
    assert labels.label_map == {0: "flat", 1: "up", 2: "down"}


def test_dead_band_in_atr_units_and_binary_band_drops_inside_rows():
    # true range 2 on every bar -> ATR(2) = 2 from bar 2; band 0.5 ATR = 1.0 price unit
    bars = close_bars([100, 100, 100, 101, 100.5, 99, 99, 100])
    labels = direction_labels(
        bars, horizon=1, classes=3, dead_band=0.5, dead_band_unit="atr", atr_window=2
    )
    # bar 2: +1 (boundary: flat); bar 3: -0.5 flat; bar 4: -1.5 down; bar 5: 0 flat; bar 6: +1 flat
    np.testing.assert_array_equal(labels.label.to_numpy(), [np.nan, np.nan, 0, 0, 2, 0, 0, np.nan])
    binary = direction_labels(bars, dead_band=0.5, dead_band_unit="atr", atr_window=2)
    np.testing.assert_array_equal(binary.label.to_numpy(), [np.nan] * 4 + [0] + [np.nan] * 3)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(90, 110), min_size=8, max_size=40),
    st.integers(1, 4),
    st.sampled_from([2, 3]),
    st.sampled_from([0.0, 0.005, 0.01, 0.02, 0.5, 1.0]),
    st.sampled_from(["fraction", "atr"]),
)
def test_direction_matches_reference(closes, horizon, classes, band, unit):
    c = np.asarray(closes, dtype=np.float64)
    h, lo = c + 1.5, c - 0.5
    bars = make_bars(c, h, lo, c)
    labels = direction_labels(
        bars, horizon, classes=classes, dead_band=band, dead_band_unit=unit, atr_window=3
    )
    want = ref_direction(c, h, lo, horizon, classes, band, unit, 3)
    np.testing.assert_array_equal(labels.label.to_numpy(), want)
    ends = labels.index.get_indexer(labels.t_end[labels.valid])
    np.testing.assert_array_equal(ends, np.flatnonzero(labels.valid) + horizon)


def test_forward_returns_simple_and_log():
    bars = close_bars([100, 110, 99, 99])
    simple = forward_returns(bars, horizon=2)
    np.testing.assert_allclose(simple.label.to_numpy()[:2], [99 / 100 - 1, 99 / 110 - 1])
    assert simple.label.iloc[2:].isna().all()
    assert list(simple.t_end.iloc[:2]) == list(bars.index[2:])
    log = forward_returns(bars, horizon=1, kind="log")
    np.testing.assert_allclose(log.label.to_numpy()[:3], np.log([1.1, 0.9, 1.0]))
    assert not log.is_classification and log.label_map == {}


def test_direction_and_returns_bad_input():
    bars = close_bars([100, 101, 102])
    with pytest.raises(LabelError, match="too few bars: 3 given, at least 4"):
        direction_labels(bars, horizon=3)
    with pytest.raises(LabelError, match="too few bars"):
        forward_returns(bars, horizon=5)
    with pytest.raises(LabelError, match="'classes' must be 2 or 3"):
        direction_labels(bars, classes=4)
    with pytest.raises(LabelError, match="unknown dead band unit 'atrs' \\(did you mean 'atr'"):
        direction_labels(bars, dead_band=0.1, dead_band_unit="atrs")
    with pytest.raises(LabelError, match="'dead_band' must be a finite number >= 0"):
        direction_labels(bars, dead_band=-0.1)
    with pytest.raises(LabelError, match="unknown forward return kind 'logg'"):
        forward_returns(bars, kind="logg")
    nan = bars.copy()
    nan.iloc[1, nan.columns.get_loc("close")] = np.nan
    with pytest.raises(LabelError, match="column 'close' has 1 NaN.*row 1"):
        direction_labels(nan)
