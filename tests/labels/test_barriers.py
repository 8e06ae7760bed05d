"""The barrier walk and ATR barrier labels: hand-computed cases and a pure-Python reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from label_refs import make_bars, random_bars, ref_barrier_labels, ref_walk

from edgelab.errors import LabelError
from edgelab.labels import barrier_labels
from edgelab.labels.barriers import (
    HOLD,
    LONG,
    REASON_END,
    REASON_HORIZON,
    REASON_SL,
    REASON_TP,
    SHORT,
    _barrier_label_kernel,
    walk_barrier,
    walk_barriers_batch,
)


def arrays(rows):
    """rows of (open, high, low, close) -> four float64 arrays."""
    a = np.asarray(rows, dtype=np.float64)
    return a[:, 0].copy(), a[:, 1].copy(), a[:, 2].copy(), a[:, 3].copy()


ENTRY = (100, 100, 100, 100)


# ---------------------------------------------------------------- walk: hand-computed cases
@pytest.mark.parametrize(
    ("bar", "direction", "expected"),
    [
        # long: TP 103, SL 98
        ((100, 103, 99, 102), 1, (1, 103.0, REASON_TP)),
        ((100, 101, 98, 99), 1, (1, 98.0, REASON_SL)),
        ((100, 103.5, 97.5, 100), 1, (1, 98.0, REASON_SL)),  # both touched: stop first
        ((97, 99, 96, 98), 1, (1, 97.0, REASON_SL)),  # gap below the stop: fill at the open
        ((98, 99, 97, 98.5), 1, (1, 98.0, REASON_SL)),  # opens exactly at the stop
        ((104, 105, 103.5, 104), 1, (1, 104.0, REASON_TP)),  # gap above TP: better fill
        # short: TP 97, SL 102 (mirrored)
        ((100, 101, 97, 98), -1, (1, 97.0, REASON_TP)),
        ((100, 102, 99, 101), -1, (1, 102.0, REASON_SL)),
        ((100, 102.5, 96.5, 100), -1, (1, 102.0, REASON_SL)),  # both touched: stop first
        ((103, 104, 102.5, 103), -1, (1, 103.0, REASON_SL)),  # gap above the stop
        ((96, 96.5, 95, 96), -1, (1, 96.0, REASON_TP)),  # gap below TP: better fill
    ],
)
def test_walk_one_bar_cases(bar, direction, expected):
    o, h, lo, c = arrays([ENTRY, bar, (100, 100, 100, 100)])
    tp, sl = (103.0, 98.0) if direction == 1 else (97.0, 102.0)
    assert walk_barrier(o, h, lo, c, 0, 100.0, tp, sl, direction, 2) == expected


def test_walk_horizon_exit_at_close():
    o, h, lo, c = arrays(
        [ENTRY, (100, 101, 99, 100.5), (100.5, 102, 99, 101.5), (101, 110, 90, 95)]
    )
    # bar 3 would hit both levels, but the horizon (2 bars) ends at bar 2's close
    assert walk_barrier(o, h, lo, c, 0, 100.0, 103.0, 98.0, 1, 2) == (2, 101.5, REASON_HORIZON)


def test_walk_data_end():
    o, h, lo, c = arrays([ENTRY, (100, 101, 99, 100.5), (100.5, 102, 99, 101.5)])
    assert walk_barrier(o, h, lo, c, 0, 100.0, 103.0, 98.0, 1, 5) == (2, 101.5, REASON_END)
    # entry on the last bar: nothing to walk
    assert walk_barrier(o, h, lo, c, 2, 101.5, 110.0, 90.0, -1, 3) == (2, 101.5, REASON_END)


def test_walk_horizon_on_last_bar_is_not_end():
    o, h, lo, c = arrays([ENTRY, (100, 101, 99, 100.5), (100.5, 102, 99, 101.5)])
    assert walk_barrier(o, h, lo, c, 0, 100.0, 103.0, 98.0, 1, 2) == (2, 101.5, REASON_HORIZON)


def test_walk_infinite_levels_disable_them():
    o, h, lo, c = arrays([ENTRY, (100, 150, 50, 100), (100, 150, 50, 120)])
    assert walk_barrier(o, h, lo, c, 0, 100.0, np.inf, -np.inf, 1, 2) == (2, 120.0, REASON_HORIZON)
    assert walk_barrier(o, h, lo, c, 0, 100.0, np.inf, 90.0, 1, 2) == (1, 90.0, REASON_SL)


# ---------------------------------------------------------------- walk: reference, random
prices = st.integers(0, 20)


@st.composite
def bars_and_trade(draw):
    n = draw(st.integers(2, 25))
    rows = []
    for _ in range(n):
        o, c = draw(prices), draw(prices)
        hi = max(o, c) + draw(st.integers(0, 3))
        lo = min(o, c) - draw(st.integers(0, 3))
        rows.append((o, hi, lo, c))
    entry = draw(st.integers(0, n - 1))
    direction = draw(st.sampled_from([1, -1]))
    level = st.integers(-5, 25).map(float) | st.sampled_from([math.inf, -math.inf])
    return rows, entry, draw(level), draw(level), direction, draw(st.integers(0, 10))


@settings(max_examples=300, deadline=None)
@given(bars_and_trade())
def test_walk_matches_reference(case):
    rows, entry, tp, sl, direction, horizon = case
    o, h, lo, c = arrays(rows)
    got = walk_barrier(o, h, lo, c, entry, float(c[entry]), tp, sl, direction, horizon)
    assert got == ref_walk(o, h, lo, c, entry, tp, sl, direction, horizon)


def test_batch_equals_single_walks():
    bars = random_bars(600, seed=3)
    o, h, lo, c = (bars[k].to_numpy() for k in ("open", "high", "low", "close"))
    rng = np.random.default_rng(0)
    m = 400
    entry = rng.integers(0, len(c), m)
    direction = rng.choice([-1, 1], m)
    dist = rng.uniform(0.2, 3.0, (2, m))
    tp = c[entry] * (1 + direction * dist[0] / 100)
    sl = c[entry] * (1 - direction * dist[1] / 100)
    got = walk_barriers_batch(o, h, lo, c, entry, c[entry], tp, sl, direction, 12)
    want = [
        walk_barrier(o, h, lo, c, e, c[e], a, b, d, 12)
        for e, a, b, d in zip(entry, tp, sl, direction, strict=True)
    ]
    np.testing.assert_array_equal(got[0], [w[0] for w in want])
    np.testing.assert_array_equal(got[1], [w[1] for w in want])
    np.testing.assert_array_equal(got[2], [w[2] for w in want])
    assert set(np.unique(got[2])) <= {REASON_TP, REASON_SL, REASON_HORIZON, REASON_END}


# ---------------------------------------------------------------- labels: hand-computed cases
def label_one(rows, *, tp=1.5, sl=1.0, horizon=3, atr=2.0):
    """Label of bar 0 (close 100) with a fixed ATR; returns (code, end position)."""
    o, h, lo, c = arrays([ENTRY, *rows])
    atr_arr = np.full(len(c), np.nan)
    atr_arr[0] = atr
    code, end = _barrier_label_kernel(o, h, lo, c, atr_arr, tp, sl, horizon)
    assert np.isnan(code[1:]).all()
    return (None if np.isnan(code[0]) else int(code[0])), int(end[0])


QUIET = (100, 101, 99, 100)


def test_label_long_short_hold_cases():
    # ATR 2: long TP 103 / SL 98, short TP 97 / SL 102
    assert label_one([(100, 101.5, 99, 101), (101, 103, 100, 102)]) == (LONG, 2)
    assert label_one([(100, 101, 97, 97.5)]) == (SHORT, 1)
    assert label_one([(100, 103.5, 97.5, 100)]) == (HOLD, 1)  # both touched in one bar
    assert label_one([(100, 102, 99, 101), (101, 101, 97.5, 98)]) == (HOLD, 2)  # short SL, long SL
    assert label_one([QUIET, QUIET, QUIET, QUIET], horizon=3) == (HOLD, 3)  # horizon
    assert label_one([(104, 105, 103.5, 104)]) == (LONG, 1)  # gap through TP


def test_label_unknown_outcome_is_unlabeled_not_hold():
    assert label_one([QUIET, QUIET], horizon=5) == (None, -1)
    # the long is stopped, but the short is still open when the data ends
    assert label_one([(100, 101, 98, 99), QUIET], horizon=5) == (None, -1)


def test_label_when_both_trades_win():
    # tp 0.5 ATR (1.0) < sl 1.5 ATR (3.0): long TP 101 / SL 97, short TP 99 / SL 103
    assert label_one([(100, 101, 99.5, 100), (100, 100, 99, 99)], tp=0.5, sl=1.5) == (LONG, 1)
    assert label_one([(100, 100.5, 99, 100), (100, 101, 100, 101)], tp=0.5, sl=1.5) == (SHORT, 1)
    assert label_one([(100, 101, 99, 100)], tp=0.5, sl=1.5) == (HOLD, 1)  # tie in one bar


def test_barrier_labels_end_to_end_hand_case():
    # constant true range 2 -> ATR(3) = 2 from bar 3 on; bar 3 closes at 100
    rows = [(100, 101, 99, 100)] * 4 + [(100, 101.5, 99.5, 101), (101, 103.2, 101, 103)]
    labels = barrier_labels(make_bars(*arrays(rows)), atr_window=3, max_horizon=4)
    assert labels.label.iloc[:3].isna().all()  # ATR warm-up
    assert labels.label.iloc[3] == LONG  # 103 reached at bar 5, 98 never
    assert labels.t_end.iloc[3] == labels.index[5]
    assert labels.label.iloc[4:].isna().all()  # outcome unknown when the data ends
    assert labels.label_map == {0: "hold", 1: "long", 2: "short"}
    assert labels.label_sign == {0: 0, 1: 1, 2: -1}


# ---------------------------------------------------------------- labels: reference, random
@st.composite
def small_market(draw):
    n = draw(st.integers(4, 40))
    rows, prev = [], 60
    for _ in range(n):
        o = prev + draw(st.integers(-2, 2))
        c = o + draw(st.integers(-3, 3))
        rows.append(
            (o, max(o, c) + draw(st.integers(0, 2)), min(o, c) - draw(st.integers(0, 2)), c)
        )
        prev = c
    mults = st.sampled_from([0.5, 1.0, 1.5, 2.0])
    return rows, draw(mults), draw(mults), draw(st.integers(1, 4)), draw(st.integers(1, 8))


@settings(max_examples=150, deadline=None)
@given(small_market())
def test_barrier_labels_match_reference(case):
    rows, tp, sl, window, horizon = case
    o, h, lo, c = arrays(rows)
    if len(c) < window + 2:
        with pytest.raises(LabelError, match="too few bars"):
            barrier_labels(make_bars(o, h, lo, c), atr_window=window)
        return
    labels = barrier_labels(
        make_bars(o, h, lo, c), tp_atr=tp, sl_atr=sl, atr_window=window, max_horizon=horizon
    )
    codes, ends = ref_barrier_labels(o, h, lo, c, tp, sl, window, horizon)
    np.testing.assert_array_equal(labels.label.to_numpy(), codes)
    got_ends = np.where(labels.valid, labels.index.get_indexer(labels.t_end), -1)
    np.testing.assert_array_equal(got_ends, ends)


def test_long_label_is_the_long_trades_take_profit(bars_2k):
    labels = barrier_labels(bars_2k, max_horizon=12)
    o, h, lo, c = (bars_2k[k].to_numpy() for k in ("open", "high", "low", "close"))
    import talib

    atr = talib.ATR(h, lo, c, 14)
    for t in np.flatnonzero(labels.valid)[::7]:
        e, _, r = walk_barrier(o, h, lo, c, t, c[t], c[t] + 1.5 * atr[t], c[t] - atr[t], 1, 12)
        assert (labels.label.iloc[t] == LONG) == (r == REASON_TP)
        if r == REASON_TP:
            assert labels.index.get_loc(labels.t_end.iloc[t]) == e
    assert {HOLD, LONG, SHORT} <= set(labels.label.dropna().unique())


def test_truncated_data_gives_the_same_known_labels(bars_2k):
    full = barrier_labels(bars_2k, max_horizon=24)
    for k in (50, 333, 1500):
        part = barrier_labels(bars_2k.iloc[:k], max_horizon=24)
        known = (full.t_end.iloc[:k] <= bars_2k.index[k - 1]).to_numpy()
        np.testing.assert_array_equal(
            part.label.to_numpy()[known], full.label.to_numpy()[:k][known]
        )
        assert part.label.iloc[~known].isna().all()  # not yet decidable: no label, never hold


# ---------------------------------------------------------------- bad input
def test_barrier_bad_input(bars_2k):
    with pytest.raises(LabelError, match="too few bars: 10 given, at least 16"):
        barrier_labels(bars_2k.iloc[:10])
    nan = bars_2k.copy()
    nan.iloc[17, nan.columns.get_loc("low")] = np.nan
    with pytest.raises(LabelError, match=r"column 'low' has 1 NaN.*row 17"):
        barrier_labels(nan)
    with pytest.raises(LabelError, match="lack column"):
        barrier_labels(bars_2k.drop(columns="high"))
    with pytest.raises(LabelError, match="'tp_atr' must be a finite number > 0"):
        barrier_labels(bars_2k, tp_atr=0)
    with pytest.raises(LabelError, match="'max_horizon' must be an integer >= 1"):
        barrier_labels(bars_2k, max_horizon=0)
    with pytest.raises(LabelError, match="DatetimeIndex"):
        barrier_labels(bars_2k.reset_index(drop=True))


# ---------------------------------------------------------------- Heikin-Ashi variant
def test_heikin_ashi_variant_walks_mid_price_heikin_ashi_bars(bars_2k):
    from edgelab.features.candles import heikin_ashi_arrays

    bars = bars_2k.iloc[:400].copy()
    rng = np.random.default_rng(5)
    half = rng.uniform(0.01, 0.05, len(bars))  # a varying half-spread: mid != last price
    for p in ("open", "high", "low", "close"):
        shift = 0.3 * half
        bars[f"bid_{p}"] = bars[p] - half + shift
        bars[f"ask_{p}"] = bars[p] + half + shift
    mid = {
        p: (bars[f"bid_{p}"] + bars[f"ask_{p}"]).to_numpy() / 2
        for p in ("open", "high", "low", "close")
    }
    ha = heikin_ashi_arrays(mid["open"], mid["high"], mid["low"], mid["close"])
    labels = barrier_labels(bars, heikin_ashi=True, max_horizon=10)
    codes, ends = ref_barrier_labels(
        ha["open"], ha["high"], ha["low"], ha["close"], 1.5, 1.0, 14, 10
    )
    np.testing.assert_array_equal(labels.label.to_numpy(), codes)
    assert labels.params["heikin_ashi"] is True
    plain = barrier_labels(bars, max_horizon=10)
    assert not np.array_equal(plain.label.to_numpy(), codes, equal_nan=True)
