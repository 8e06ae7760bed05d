"""Post-processing fitted on validation: calibration, correction, frozen thresholds,
their JSON state, and the policies that read frozen decisions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from edgelab.backtest.policies import BracketPolicy, Hold, Sign
from edgelab.config import CalibrationConfig, ThresholdsConfig
from edgelab.errors import ConfigError
from edgelab.evaluate.calibration import calibration_scores
from edgelab.evaluate.postprocess import (
    decision_policy,
    fit_postprocess,
    next_bar_returns,
    postprocess_from_dict,
)

LABELS = {0: "down", 1: "up"}
SIGNS = {0: -1, 1: 1}


def _overconfident(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Predictions that are far too sure: p = sigmoid(3 logit(p_true)), y ~ p_true."""
    rng = np.random.default_rng(seed)
    p_true = rng.uniform(0.25, 0.75, n)
    y = (rng.random(n) < p_true).astype(float)
    p = expit(3.0 * logit(p_true))
    index = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC", name="timestamp")
    return pd.DataFrame({"p_down": 1 - p, "p_up": p}, index=index), y


def _fit(cal="none", thr="none", n=2000, seed=0, **thr_kw):
    pred, y = _overconfident(n, seed)
    rng = np.random.default_rng(seed + 1)
    returns = (2 * y - 1) * 0.001 + rng.normal(0, 0.001, n)
    pre = fit_postprocess(
        CalibrationConfig(method=cal),
        ThresholdsConfig(objective=thr, **thr_kw),
        val_pred=pred, val_y=y, label_map=LABELS, label_sign=SIGNS, asset="A",
        next_return=returns, horizon_return=returns, cost_bps=2.0, periods_per_year=8760,
    )  # fmt: skip
    return pre, pred, y


@pytest.mark.parametrize("method", ["platt", "isotonic", "temperature"])
def test_calibration_fitted_on_validation_lowers_test_ece(method):
    pre, _, _ = _fit(cal=method, seed=0)
    test, y = _overconfident(3000, seed=11)  # a fresh sample: out of sample for the calibrator
    raw = calibration_scores(y, test[["p_down", "p_up"]].to_numpy())["ece"]
    done = calibration_scores(y, pre.apply(test)[["p_down", "p_up"]].to_numpy())["ece"]
    assert raw > 0.08  # the overconfident model is clearly off
    assert done < raw / 3


def test_state_round_trips_through_json_and_predicts_identically():
    pre, pred, _ = _fit(cal="platt", thr="sharpe", side="both")
    state = pre.to_dict()
    again = postprocess_from_dict(json.loads(json.dumps(state)))
    test, _ = _overconfident(500, seed=5)
    pd.testing.assert_frame_equal(again.apply(test), pre.apply(test))
    pd.testing.assert_frame_equal(
        again.decisions(again.apply(test)), pre.decisions(pre.apply(test))
    )
    assert postprocess_from_dict(None).apply(test) is test  # nothing fitted: unchanged


def test_decisions_are_the_frozen_threshold_on_the_score():
    pre, _, _ = _fit(thr="avg_profit", side="both")
    t = pre.thresholds.threshold
    test, _ = _overconfident(400, seed=9)
    score = test["p_up"] - test["p_down"]
    expect = np.where(score > t, 1.0, np.where(score < -t, -1.0, 0.0))
    assert np.array_equal(pre.decisions(test)["expected_return"].to_numpy(), expect)
    assert pre.decisions(test).index.equals(test.index)


def test_f1_needs_class_labels_and_linear_correction_fits_regression():
    with pytest.raises(ConfigError, match="f1 needs class labels"):
        fit_postprocess(
            CalibrationConfig(), ThresholdsConfig(objective="f1", side="long"),
            val_pred=pd.DataFrame({"expected_return": [0.1, 0.2, 0.3]}), val_y=np.zeros(3),
            label_map={}, label_sign={}, asset="A", next_return=np.zeros(3),
            horizon_return=np.zeros(3), cost_bps=1.0, periods_per_year=1.0,
        )  # fmt: skip
    x = np.linspace(-1, 1, 50)
    pre = fit_postprocess(
        CalibrationConfig(linear_correction=True), ThresholdsConfig(),
        val_pred=pd.DataFrame({"expected_return": x}), val_y=0.5 * x + 0.1, label_map={},
        label_sign={}, asset="A", next_return=x, horizon_return=x, cost_bps=1.0,
        periods_per_year=1.0,
    )  # fmt: skip
    assert pre.correction.slope == pytest.approx(0.5) and pre.correction.intercept == pytest.approx(
        0.1
    )
    out = pre.apply(pd.DataFrame({"expected_return": [2.0]}))
    assert out["expected_return"].iloc[0] == pytest.approx(1.1)


def test_constant_probabilities_are_left_as_predicted_with_a_note():
    index = pd.date_range("2024-01-01", periods=50, freq="h", tz="UTC")
    pred = pd.DataFrame({"p_down": 0.0, "p_up": 1.0}, index=index)
    pre = fit_postprocess(
        CalibrationConfig(method="isotonic"), ThresholdsConfig(), val_pred=pred,
        val_y=np.r_[np.zeros(25), np.ones(25)], label_map=LABELS, label_sign=SIGNS, asset="A",
        next_return=np.zeros(50), horizon_return=np.zeros(50), cost_bps=1.0, periods_per_year=1.0,
    )  # fmt: skip
    assert pre.calibrator is None and "constant" in pre.notes[0]


def test_decision_policies_keep_holding_and_brackets():
    assert isinstance(decision_policy("threshold", {"upper": 0.6}), Sign)
    hold = decision_policy("hold", {"n_bars": 7, "entry": "most_likely"})
    assert isinstance(hold, Hold) and hold.n_bars == 7 and hold.entry == "sign"
    bracket = decision_policy("bracket", {"max_horizon": 12, "entry": "most_likely"})
    assert isinstance(bracket, BracketPolicy) and bracket.max_horizon == 12
    assert bracket.entry == "sign"


def test_next_bar_returns_per_asset():
    idx = pd.date_range("2024-01-01", periods=4, freq="h", tz="UTC")
    bars = {
        "A": pd.DataFrame({"close": [100.0, 110.0, 99.0, 99.0]}, index=idx),
        "B": pd.DataFrame({"close": [10.0, 5.0, 5.0, 10.0]}, index=idx),
    }
    assets = np.array(["A", "B", "A", "B"])
    times = pd.DatetimeIndex([idx[0], idx[0], idx[3], idx[2]])
    got = next_bar_returns(bars, assets, times)
    assert got[0] == pytest.approx(0.1) and got[1] == pytest.approx(-0.5)
    assert np.isnan(got[2]) and got[3] == pytest.approx(1.0)
