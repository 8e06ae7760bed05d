"""One contract suite over the whole model registry, plus exact checks of the baselines."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from edgelab.dataset.samples import Samples, valid_window_rows
from edgelab.errors import ModelError
from edgelab.models.base import Model, class_columns, create_model, get_model_class, model_names

WINDOW = 4


def _samples(n=400, k=2, target="class", seed=0, assets=1) -> Samples:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    signal = X[:, 0] + 0.3 * rng.normal(size=n)
    if target == "return":
        y, label_map, sign = signal * 0.01, {}, {}
    elif k == 2:
        y, label_map, sign = (signal > 0).astype(float), {0: "down", 1: "up"}, {0: -1, 1: 1}
    else:
        y = np.where(signal > 0.5, 1.0, np.where(signal < -0.5, 2.0, 0.0))
        label_map, sign = {0: "flat", 1: "up", 2: "down"}, {0: 0, 1: 1, 2: -1}
    asset = np.repeat(np.arange(assets), n // assets).astype(np.int32)
    index = pd.DatetimeIndex(
        np.tile(pd.date_range("2024-01-01", periods=n // assets, freq="h", tz="UTC"), assets)
    )
    return Samples(
        X=X,
        y=y,
        index=index,
        asset=asset,
        rows=valid_window_rows(asset, np.ones(n, bool), WINDOW),
        feature_names=["a", "b", "c"],
        assets=[f"s{i}" for i in range(assets)],
        label_map=label_map,
        target=target,
        window=WINDOW,
        forward_return=signal * 0.01,
        meta={"close": 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n))), "label_sign": sign},
    )


def _cases():
    """Every registered model on binary labels; 3 classes and return targets too, where
    the model supports them (for networks, seconds each: marked slow)."""
    out = []
    for name in model_names():
        cls = get_model_class(name)
        more = [pytest.mark.slow] if cls.sequential else []
        out.append(pytest.param(name, "class", 2, id=f"{name}-binary"))
        out.append(pytest.param(name, "class", 3, id=f"{name}-3class", marks=more))
        if cls(**cls.smoke_params).supports("return"):
            out.append(pytest.param(name, "return", 0, id=f"{name}-return", marks=more))
    return out


@pytest.mark.parametrize(("name", "target", "k"), _cases())
def test_model_contract(name, target, k, tmp_path):
    cls = get_model_class(name)
    train, test = _samples(k=k, target=target, seed=0), _samples(k=k, target=target, seed=1)
    model = create_model(name, **cls.smoke_params)
    assert model.input_window() <= WINDOW
    assert model.fit(train, test) is model
    pred = model.predict(test)
    assert pred.index.equals(test.prediction_index())
    if target == "class":
        assert list(pred.columns) == class_columns(test.label_map)
        p = pred.to_numpy()
        assert np.isfinite(p).all() and (p >= 0).all() and np.allclose(p.sum(axis=1), 1.0)
    else:
        assert "expected_return" in pred.columns and np.isfinite(pred["expected_return"]).all()
    # save / load: model.json is plain JSON and predictions are bit-identical
    model.save(tmp_path / "m")
    json.loads((tmp_path / "m" / "model.json").read_text())
    assert not list((tmp_path / "m").glob("*.pkl"))
    again = Model.load(tmp_path / "m")
    pd.testing.assert_frame_equal(again.predict(test), pred, check_exact=True)
    # same params and seed: same predictions
    twin = create_model(name, **cls.smoke_params).fit(train, test)
    pd.testing.assert_frame_equal(twin.predict(test), pred, check_exact=True)


def test_registry_unknown_name_suggests():
    with pytest.raises(ModelError, match="did you mean 'logistic'"):
        create_model("logistik")


def test_buy_hold_is_always_long():
    s = _samples(k=3)
    pred = create_model("buy_hold").fit(s).predict(s)
    assert (pred["p_up"] == 1.0).all() and (pred[["p_flat", "p_down"]] == 0.0).all().all()


def test_sma_cross_matches_pandas_rolling():
    s = _samples(n=400, assets=2)
    model = create_model("sma_cross", fast=3, slow=10).fit(s)
    assert model.history() == 9
    pred = model.predict(s)
    close = pd.Series(s.meta["close"])
    expect = []
    for a in (0, 1):
        c = close[s.asset == a].reset_index(drop=True)
        sig = np.sign(c.rolling(3).mean() - c.rolling(10).mean()).fillna(0).to_numpy()
        expect.append(sig)
    signal = np.concatenate(expect)[s.rows]
    p_up = pred["p_up"].to_numpy()
    assert np.array_equal(p_up[signal > 0], np.ones((signal > 0).sum()))
    assert np.array_equal(p_up[signal < 0], np.zeros((signal < 0).sum()))
    assert np.allclose(p_up[signal == 0], 0.5)  # binary labels, no full slow average yet
    assert (signal == 0).sum() == 2 * (10 - WINDOW)


def test_logistic_uses_last_lags_rows_oldest_first():
    from edgelab.models.baselines import lagged_features

    s = _samples()
    feats = lagged_features(s, 2)
    r = s.rows[5]
    assert np.array_equal(feats[5], np.r_[s.X[r - 1], s.X[r]])
    with pytest.raises(ModelError, match="window >= lags"):
        lagged_features(s, WINDOW + 1)


def test_logistic_learns_and_rejects_return_target():
    train, test = _samples(seed=0), _samples(seed=1)
    pred = create_model("logistic", lags=1).fit(train).predict(test)
    acc = np.mean((pred["p_up"].to_numpy() > 0.5) == test.targets().astype(bool))
    assert acc > 0.75  # the signal is feature a plus noise
    with pytest.raises(ModelError, match="classifier"):
        create_model("logistic").fit(_samples(target="return"))


def test_lightgbm_missing_class_in_train_gets_zero_probability():
    train = _samples(k=3)
    train.y[train.y == 0] = 1.0  # no 'flat' targets at all
    pred = (
        create_model("lightgbm", **get_model_class("lightgbm").smoke_params)
        .fit(train)
        .predict(train)
    )
    assert (pred["p_flat"] == 0.0).all()
    assert np.allclose(pred.sum(axis=1), 1.0)
