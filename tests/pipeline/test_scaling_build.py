"""Scaler (train-only fit, JSON state) and the Samples assembly (context, purge, codes)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pipe_helpers import make_bars, make_direction, make_features

from edgelab.config import SplitConfig
from edgelab.dataset.build import build_dataset
from edgelab.dataset.scaling import Scaler
from edgelab.dataset.splits import make_split
from edgelab.errors import ConfigError, FeatureError
from edgelab.labels.base import Labels


def test_standard_and_robust_match_hand_computation():
    X = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0], [10.0, 5.0]])
    std = Scaler("standard").fit(X)
    assert np.allclose(std.centre_, [4.0, 5.0])
    assert np.allclose(std.scale_, [np.std(X[:, 0]), 1.0])  # constant column: scale 1
    rob = Scaler("robust").fit(X)
    q1, med, q3 = np.percentile(X[:, 0], [25, 50, 75])
    assert np.allclose(rob.centre_[0], med) and np.allclose(rob.scale_[0], q3 - q1)
    out = rob.transform(X)
    assert out.dtype == np.float32
    assert np.allclose(out[:, 0], (X[:, 0] - med) / (q3 - q1))


def test_json_roundtrip_is_exact():
    X = np.random.default_rng(1).normal(size=(50, 3)) * 1e-3 + 7.1
    sc = Scaler("standard").fit(X, ["a", "b", "c"])
    back = Scaler.from_json(sc.to_json())
    assert back.feature_names_ == ["a", "b", "c"]
    assert np.array_equal(back.transform(X), sc.transform(X))


def test_nan_in_training_names_feature():
    X = np.ones((4, 2))
    X[2, 1] = np.nan
    with pytest.raises(FeatureError, match="feature 'b' is NaN/inf at training row 2"):
        Scaler().fit(X, ["a", "b"])


def _one_asset(n=300, horizon=2, warmup=3):
    bars = make_bars(n)
    feats = make_features(bars, warmup)
    labels = make_direction(bars, horizon)
    split = make_split(bars.index, SplitConfig(test=0.25, val=0.2), lookahead=horizon)
    return bars, feats, labels, split


def test_scaler_fitted_on_train_rows_only():
    bars, feats, labels, split = _one_asset()
    ds = build_dataset({"A": bars}, {"A": feats}, {"A": labels}, split, window=1)
    train_feats = feats.iloc[3:][split.train.mask(feats.index[3:])]
    assert np.allclose(ds.scaler.centre_, train_feats.mean().to_numpy())
    # changing test-span features leaves the scaler untouched
    feats2 = feats.copy()
    feats2.loc[split.test.mask(feats2.index)] *= 100
    ds2 = build_dataset({"A": bars}, {"A": feats2}, {"A": labels}, split, window=1)
    assert np.array_equal(ds2.scaler.centre_, ds.scaler.centre_)


def test_context_rows_targets_and_purge():
    bars, feats, labels, split = _one_asset(horizon=2)
    ds = build_dataset({"A": bars}, {"A": feats}, {"A": labels}, split, window=4, context=10)
    val = ds["val"]
    # 10 context rows before the validation start, none of them a target
    first_val = int(np.flatnonzero(val.index == split.val.start)[0])
    assert first_val == 10
    assert val.rows.min() >= first_val and np.isnan(val.y[:first_val]).all()
    # purge: every val target's outcome is known before the test span
    assert val.t_end.dtype == np.dtype("datetime64[ns]")
    assert (pd.DatetimeIndex(val.t_end[val.rows]).tz_localize("UTC") < split.test.start).all()
    # train: the first target has a full window after the 3-row feature warm-up
    train = ds["train"]
    assert train.index[0] == bars.index[3] and train.rows[0] == 3
    # y equals the labels at the target rows; windows end at the target row
    lab = labels.label.reindex(val.index).to_numpy()
    assert np.array_equal(val.targets(), lab[val.rows])
    w = val.windows()
    assert np.array_equal(w[:, -1, :], val.X[val.rows])
    # X of a single asset is a view on one scaled matrix (no copy per split)
    assert np.shares_memory(ds["train"].X, ds["val"].X)  # context reaches into train
    assert ds["train"].X.base is ds["test"].X.base
    # trade covers every test-span row, labeled or not (the last 2 bars have no label)
    trade = ds["trade"]
    assert trade.index[trade.rows][-1] == bars.index[-1]
    assert len(trade) == split.test.bars
    assert meta_close_is_raw(trade, bars)


def meta_close_is_raw(samples, bars) -> bool:
    return np.array_equal(samples.meta["close"], bars["close"].reindex(samples.index).to_numpy())


def test_label_codes_are_remapped_in_map_order():
    bars, feats, labels, split = _one_asset()
    frame = labels.frame.copy()
    frame["label"] = frame["label"].map({0.0: 5.0, 1.0: 9.0})
    odd = Labels(frame, {5: "down", 9: "up"}, labels.horizon, "direction", {}, {5: -1, 9: 1})
    ds = build_dataset({"A": bars}, {"A": feats}, {"A": odd}, split)
    assert ds.label_map == {0: "down", 1: "up"} and ds.label_sign == {0: -1, 1: 1}
    assert np.array_equal(
        ds["train"].targets(), labels.label.reindex(ds["train"].index).to_numpy()[ds["train"].rows]
    )


def test_multi_asset_same_boundaries_and_asset_ids():
    a, b = make_bars(200, seed=1), make_bars(200, seed=2)
    feats = {"a": make_features(a), "b": make_features(b)}
    labels = {"a": make_direction(a), "b": make_direction(b)}
    split = make_split(a.index, SplitConfig(), lookahead=1)
    ds = build_dataset({"a": a, "b": b}, feats, labels, split, window=3)
    test = ds["test"]
    assert set(test.asset[test.rows]) == {0, 1}
    idx = test.prediction_index()
    assert list(idx.names) == ["asset", "timestamp"]
    times = pd.DatetimeIndex(idx.get_level_values("timestamp"))
    assert times.min() == split.test.start
    # windows never cross from asset a into asset b
    starts = test.rows - 2
    assert (test.asset[starts] == test.asset[test.rows]).all()


def test_nan_after_warmup_names_asset_and_column():
    bars, feats, labels, split = _one_asset()
    feats = feats.copy()
    feats.iloc[50, 1] = np.nan
    with pytest.raises(FeatureError, match="asset 'A': feature 'r3' is NaN/inf"):
        build_dataset({"A": bars}, {"A": feats}, {"A": labels}, split)


def test_empty_split_after_purge_is_reported():
    bars, feats, labels, split = _one_asset()
    frame = labels.frame.copy()
    frame.loc[split.val.mask(frame.index), "label"] = np.nan
    gone = Labels(frame, labels.label_map, labels.horizon, "direction", {}, labels.label_sign)
    with pytest.raises(ConfigError, match="val split has no labeled rows"):
        build_dataset({"A": bars}, {"A": feats}, {"A": gone}, split)
