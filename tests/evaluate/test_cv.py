"""Walk-forward and purged k-fold generators: hand-made cases and a brute-force check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from edgelab.errors import ConfigError, DataError
from edgelab.evaluate.cv import (
    Fold,
    purged_kfold,
    stitch_predictions,
    walk_forward,
    walk_forward_predict,
)


def _folds(gen):
    return [(f.train.tolist(), f.test.tolist()) for f in gen]


def test_walk_forward_expanding_hand_made():
    folds = _folds(walk_forward(20, train_size=5, step=4, embargo=2))
    assert folds == [
        (list(range(0, 5)), [7, 8, 9, 10]),
        (list(range(0, 9)), [11, 12, 13, 14]),
        (list(range(0, 13)), [15, 16, 17, 18]),
        (list(range(0, 17)), [19]),
    ]


def test_walk_forward_rolling_keeps_the_window_length():
    folds = _folds(walk_forward(20, train_size=5, step=4, embargo=2, window="rolling"))
    assert [tr for tr, _ in folds] == [
        list(range(0, 5)),
        list(range(4, 9)),
        list(range(8, 13)),
        list(range(12, 17)),
    ]


def test_walk_forward_tests_tile_the_history_and_train_strictly_before():
    folds = list(walk_forward(103, train_size=30, step=7, embargo=3))
    tested = np.concatenate([f.test for f in folds])
    assert tested.tolist() == list(range(33, 103))  # no gap, no overlap
    for f in folds:
        assert f.train.max() + 3 < f.test.min()  # the embargo lies between


def test_walk_forward_label_end_purges_exactly():
    # Bar 3's label looks 4 bars ahead (to bar 7, inside the test window from 6);
    # every other label looks 1 bar ahead.
    label_end = np.arange(12) + 1
    label_end[3] = 7
    first = next(walk_forward(12, train_size=6, step=3, label_end=label_end))
    assert first.test.tolist() == [6, 7, 8]
    assert first.train.tolist() == [0, 1, 2, 4]  # 3 (t_end 7) and 5 (t_end 6) purged


def test_walk_forward_validation_rows_sit_between_fit_and_test():
    fold = next(walk_forward(30, train_size=12, step=5, embargo=2, val_size=3))
    # window [0, 12) before the embargo (12, 13); test [14, 19); val = last 3 of the
    # window; fit rows end another embargo (2 bars) before the validation rows.
    assert fold.test.tolist() == [14, 15, 16, 17, 18]
    assert fold.val.tolist() == [9, 10, 11]
    assert fold.train.tolist() == list(range(0, 7))
    assert fold.to_dict()["val_rows"] == 3
    with pytest.raises(ConfigError, match="val_size"):
        next(walk_forward(30, train_size=5, step=5, embargo=2, val_size=3))


def test_walk_forward_predict_with_an_oracle_lines_up_the_windows():
    """An oracle that predicts each test row's own position proves the stitched history
    is exactly the tested rows, in order, each from a model fitted on earlier bars only."""
    times = pd.date_range("2024-01-01", periods=40, freq="D", tz="UTC", name="timestamp")
    truth = pd.Series(np.arange(40.0), index=times)

    def oracle(fold: Fold) -> pd.DataFrame:
        assert fold.train.max() < fold.val.min() <= fold.val.max() < fold.test.min()
        return pd.DataFrame(
            {"expected_return": truth.iloc[fold.test].to_numpy()}, index=times[fold.test]
        )

    folds = walk_forward(40, train_size=10, step=7, embargo=1, val_size=2, window="rolling")
    stitched = walk_forward_predict(folds, oracle)
    assert stitched.index.equals(times[11:])
    np.testing.assert_array_equal(stitched["expected_return"], truth.iloc[11:])
    assert stitched["fold"].tolist() == [k for k in range(5) for _ in range(7)][:29]
    with pytest.raises(DataError, match="one prediction row per test row"):
        walk_forward_predict(
            walk_forward(20, train_size=5, step=5), lambda f: truth.iloc[:1].to_frame()
        )


def test_walk_forward_refuses_impossible_settings():
    with pytest.raises(ConfigError, match="train_size"):
        list(walk_forward(10, train_size=8, step=2, embargo=2))
    with pytest.raises(ConfigError, match="window"):
        list(walk_forward(10, train_size=3, step=2, window="sliding"))
    with pytest.raises(ConfigError, match="step"):
        list(walk_forward(10, train_size=3, step=0))


# --- purged k-fold ---------------------------------------------------------------------

TIMES = np.arange(12)
T_END = np.array([1, 5, 3, 3, 4, 6, 6, 9, 8, 10, 11, 11])


def test_purging_removes_exactly_the_overlapping_samples():
    # Test fold 1 holds rows 4..7: its labels span [4, max t_end = 9]. Rows outside
    # it whose [time, t_end] overlaps [4, 9]: row 1 ([1, 5]), row 8 ([8, 8]), row 9
    # ([9, 10]). Rows 0, 2, 3 end before 4; rows 10, 11 start after 9.
    folds = list(purged_kfold(TIMES, T_END, n_splits=3))
    assert folds[1].test.tolist() == [4, 5, 6, 7]
    assert folds[1].train.tolist() == [0, 2, 3, 10, 11]
    # Fold 0 (rows 0..3, labels up to 5): rows 4 and 5 start inside [0, 5].
    assert folds[0].train.tolist() == [6, 7, 8, 9, 10, 11]
    # Fold 2 (rows 8..11, from time 8): row 7 ends at 9 >= 8; nothing else reaches 8.
    assert folds[2].train.tolist() == [0, 1, 2, 3, 4, 5, 6]


def test_embargo_removes_the_bars_after_the_test_fold():
    folds = list(purged_kfold(TIMES, T_END, n_splits=3, embargo=3))
    # Times 8, 9, 10 follow the fold's last time 7: row 10 goes too (8, 9 were purged).
    assert folds[1].train.tolist() == [0, 2, 3, 11]
    # The embargo acts after the test fold only, never before it.
    assert folds[2].train.tolist() == [0, 1, 2, 3, 4, 5, 6]


def test_purged_kfold_matches_a_brute_force_definition():
    rng = np.random.default_rng(5)
    for _ in range(20):
        n = int(rng.integers(20, 60))
        times = np.sort(rng.integers(0, 40, n))
        t_end = times + rng.integers(0, 6, n)
        embargo = int(rng.integers(0, 4))
        distinct = np.unique(times)
        for fold in purged_kfold(times, t_end, n_splits=4, embargo=embargo):
            test = set(fold.test.tolist())
            lo, hi = times[fold.test].min(), times[fold.test].max()
            span_end = t_end[fold.test].max()
            after = distinct[distinct > hi][:embargo]
            expected = [
                i
                for i in range(n)
                if i not in test
                and not (times[i] <= span_end and t_end[i] >= lo)
                and times[i] not in after
            ]
            assert fold.train.tolist() == expected


def test_purged_kfold_never_splits_a_timestamp_between_assets():
    times = pd.DatetimeIndex(
        np.repeat(pd.date_range("2024-01-01", periods=10, freq="D"), 2), tz="UTC"
    )
    t_end = times + pd.Timedelta(days=1)
    for fold in purged_kfold(times, t_end, n_splits=5):
        test_times = set(times[fold.test])
        assert not test_times & set(times[fold.train])
        assert len(fold.test) == 4  # two days x two assets


def test_purged_kfold_refuses_bad_input():
    with pytest.raises(DataError, match="sorted"):
        list(purged_kfold([2, 1, 3], [2, 2, 3], n_splits=2))
    with pytest.raises(DataError, match="before its time"):
        list(purged_kfold([0, 1, 2], [0, 0, 2], n_splits=2))
    with pytest.raises(ConfigError, match="n_splits"):
        list(purged_kfold([0, 1, 2], [0, 1, 2], n_splits=4))
    with pytest.raises(DataError, match="row 1"):
        list(
            purged_kfold(
                pd.to_datetime(["2024-01-01", None, "2024-01-03"]),
                pd.to_datetime(["2024-01-01"] * 3),
                2,
            )
        )


def test_stitch_predictions_refuses_overlap_and_disorder():
    idx = pd.date_range("2024-01-01", periods=6, freq="h", tz="UTC")
    a = pd.DataFrame({"p_up": [0.1, 0.2, 0.3]}, index=idx[:3])
    b = pd.DataFrame({"p_up": [0.4, 0.5, 0.6]}, index=idx[3:])
    assert stitch_predictions([a, b])["p_up"].tolist() == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    with pytest.raises(DataError, match="same row"):
        stitch_predictions([a, pd.concat([a.iloc[-1:], b])])
    with pytest.raises(DataError, match="order"):
        stitch_predictions([b, a])
