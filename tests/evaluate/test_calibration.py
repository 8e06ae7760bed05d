"""Calibrators: they lower ECE out of sample, keep exact JSON state, and score as defined."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit, softmax
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import brier_score_loss

from edgelab.errors import ConfigError, ModelError
from edgelab.evaluate.calibration import (
    calibration_bins,
    calibration_scores,
    calibrator_from_dict,
    make_calibrator,
    reliability_png,
)


def overconfident_binary(n: int, seed: int, power: float = 3.0):
    """True p(up) uniform on (0.05, 0.95); the model reports sigmoid(power * logit(p))."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.95, n)
    y = (rng.random(n) < p).astype(int)
    q = expit(power * logit(p))
    return np.column_stack([1 - q, q]), y


def overconfident_three(n: int, seed: int, temperature: float = 2.5):
    """True probabilities softmax(z); the model reports softmax(temperature * z)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 0.8, (n, 3))
    truth = softmax(z, axis=1)
    y = (rng.random(n)[:, None] > truth.cumsum(axis=1)).sum(axis=1)
    return softmax(temperature * z, axis=1), y


@pytest.mark.parametrize("kind", ["platt", "isotonic", "temperature"])
def test_calibration_lowers_ece_out_of_sample_binary(kind):
    val_p, val_y = overconfident_binary(4000, seed=1)
    test_p, test_y = overconfident_binary(4000, seed=2)
    before = calibration_scores(test_y, test_p)
    cal = make_calibrator(kind).fit(val_p, val_y)  # fitted on validation only
    after = calibration_scores(test_y, cal.transform(test_p))
    assert before["ece"] > 0.08  # the synthetic model really is miscalibrated
    assert after["ece"] < before["ece"] / 3
    assert after["brier"] < before["brier"]


@pytest.mark.parametrize("kind", ["platt", "isotonic", "temperature"])
def test_calibration_lowers_ece_out_of_sample_three_classes(kind):
    val_p, val_y = overconfident_three(6000, seed=3)
    test_p, test_y = overconfident_three(6000, seed=4)
    before = calibration_scores(test_y, test_p)["ece"]
    cal = make_calibrator(kind).fit(val_p, val_y)
    out = cal.transform(test_p)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-12)
    assert before > 0.1
    assert calibration_scores(test_y, out)["ece"] < before / 3


def test_temperature_recovers_the_planted_temperature_and_keeps_the_argmax():
    p, y = overconfident_three(20000, seed=5, temperature=2.5)
    cal = make_calibrator("temperature").fit(p, y)
    assert cal.temperature_ == pytest.approx(2.5, rel=0.06)
    assert (cal.transform(p).argmax(axis=1) == p.argmax(axis=1)).all()


def test_platt_matches_scikit_learns_sigmoid_fit():
    sk = pytest.importorskip("sklearn.calibration")
    if not hasattr(sk, "_sigmoid_calibration"):
        pytest.skip("scikit-learn no longer exposes _sigmoid_calibration")
    p, y = overconfident_binary(3000, seed=6)
    cal = make_calibrator("platt").fit(p, y)
    a_sk, b_sk = sk._sigmoid_calibration(logit(p[:, 1]), y)  # p = 1 / (1 + exp(A f + B))
    ((a, b),) = cal.maps_
    assert a == pytest.approx(-a_sk, rel=1e-3)
    assert b == pytest.approx(-b_sk, abs=1e-3)
    assert a == pytest.approx(1 / 3, rel=0.1)  # undoes the power of 3


@pytest.mark.parametrize("kind", ["platt", "isotonic", "temperature"])
def test_json_state_round_trip_is_exact(kind):
    val_p, val_y = overconfident_three(2000, seed=7)
    cal = make_calibrator(kind).fit(val_p, val_y, columns=["p_down", "p_flat", "p_up"])
    state = json.loads(json.dumps(cal.to_dict()))
    again = calibrator_from_dict(state)
    test_p, _ = overconfident_three(500, seed=8)
    np.testing.assert_array_equal(again.transform(test_p), cal.transform(test_p))
    assert state["kind"] == kind and state["columns"] == ["p_down", "p_flat", "p_up"]


def test_isotonic_state_reproduces_scikit_learn_predict():
    p, y = overconfident_binary(1500, seed=9)
    state = make_calibrator("isotonic").fit(p, y).to_dict()
    iso = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(p[:, 1], y)
    probe = np.linspace(-0.1, 1.1, 301).clip(0, 1)
    restored = calibrator_from_dict(state).transform(np.column_stack([1 - probe, probe]))[:, 1]
    np.testing.assert_allclose(restored, iso.predict(probe), atol=1e-12)


def test_apply_rewrites_only_the_probability_columns():
    val_p, val_y = overconfident_binary(1000, seed=10)
    cal = make_calibrator("isotonic").fit(val_p, val_y, columns=["p_down", "p_up"])
    idx = pd.date_range("2024-01-01", periods=4, freq="D", tz="UTC", name="timestamp")
    pred = pd.DataFrame(
        {"p_down": [0.9, 0.6, 0.4, 0.05], "p_up": [0.1, 0.4, 0.6, 0.95], "expected_return": 0.01},
        index=idx,
    )
    out = cal.apply(pred)
    assert out.index.equals(pred.index) and list(out.columns) == list(pred.columns)
    assert (out["expected_return"] == 0.01).all()
    np.testing.assert_allclose(out[["p_down", "p_up"]].sum(axis=1), 1.0)
    np.testing.assert_array_equal(
        out[["p_down", "p_up"]].to_numpy(), cal.transform(pred[["p_down", "p_up"]])
    )
    assert pred["p_up"].iloc[0] == 0.1  # the input frame is untouched
    with pytest.raises(ModelError, match="p_up"):
        cal.apply(pred.drop(columns="p_up"))


def test_ece_mce_brier_by_hand():
    # Four bins of width .25. Top-label confidences .9 (hit), .8 (miss: says down, is up),
    # .6 (hit), .7 (miss): bin (.5, .75] holds .6, .7 and bin (.75, 1] holds .9, .8.
    proba = np.array([[0.1, 0.9], [0.8, 0.2], [0.4, 0.6], [0.3, 0.7]])
    y = np.array([1, 1, 1, 0])
    bins = calibration_bins(y, proba, n_bins=4)
    assert bins["count"].tolist() == [0, 0, 2, 2]
    # bin (.5,.75]: conf (.6 + .7) / 2 = .65, acc (1 + 0) / 2 = .5 -> gap .15
    # bin (.75,1]: conf (.9 + .8) / 2 = .85, acc (1 + 0) / 2 = .5 -> gap .35
    scores = calibration_scores(y, proba, n_bins=4)
    assert scores["ece"] == pytest.approx(0.5 * 0.15 + 0.5 * 0.35)
    assert scores["mce"] == pytest.approx(0.35)
    assert scores["brier"] == pytest.approx(brier_score_loss(y, proba[:, 1]))
    assert scores["brier"] == pytest.approx(np.mean((proba[:, 1] - y) ** 2))


def test_three_class_brier_is_the_summed_definition():
    p, y = overconfident_three(300, seed=11)
    onehot = np.eye(3)[y]
    assert calibration_scores(y, p)["brier"] == pytest.approx(
        np.mean(((p - onehot) ** 2).sum(axis=1))
    )


def test_confidence_of_one_falls_in_the_last_bin():
    bins = calibration_bins([1, 0], np.array([[0.0, 1.0], [1.0, 0.0]]), n_bins=10)
    assert bins["count"].iloc[-1] == 2


def test_errors_name_the_problem():
    with pytest.raises(ConfigError, match="did you mean 'isotonic'"):
        make_calibrator("isotonc")
    with pytest.raises(ModelError, match="row 1"):
        make_calibrator("platt").fit(np.array([[0.5, 0.5]] * 3), [0, np.nan, 1])
    with pytest.raises(ModelError, match="before fit"):
        make_calibrator("temperature").transform(np.array([[0.5, 0.5]]))
    cal = make_calibrator("temperature").fit(np.array([[0.3, 0.7], [0.6, 0.4]]), [1, 0])
    with pytest.raises(ModelError, match="2 classes"):
        cal.transform(np.array([[0.2, 0.3, 0.5]]))
    with pytest.raises(ModelError, match="malformed"):
        calibrator_from_dict({"kind": "platt", "n_classes": 2})


def test_reliability_png_is_written(tmp_path):
    p, y = overconfident_binary(500, seed=12)
    cal = make_calibrator("isotonic").fit(p, y)
    path = reliability_png(
        tmp_path / "plots" / "rel.png", y, {"raw": p, "isotonic": cal.transform(p)}
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(path.parent.glob(".*tmp*"))
