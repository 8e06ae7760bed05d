"""Threshold search: chosen on validation only, exact objective values, frozen for test."""

from __future__ import annotations

import inspect
import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from edgelab.errors import ConfigError, ModelError
from edgelab.evaluate.thresholds import (
    LinearCorrection,
    ThresholdResult,
    search_threshold,
    signal_score,
    threshold_png,
)

GRID = np.round(np.arange(0.0, 0.96, 0.05), 2)


def market(n: int, seed: int, winners: tuple[float, float]):
    """Scores uniform on [0, 1); a signal wins 1 % when its score is inside `winners`,
    loses 1 % otherwise."""
    rng = np.random.default_rng(seed)
    s = rng.random(n)
    lo, hi = winners
    r = np.where((s > lo) & (s <= hi), 0.01, -0.01)
    return s, r


def test_threshold_is_chosen_on_validation_and_never_looks_at_test():
    # Validation: only scores above 0.8 win, so the best threshold is 0.8. Test: the
    # opposite, scores above 0.8 LOSE and (0.2, 0.8] win, so test's own best is 0.2.
    val_s, val_r = market(3000, seed=1, winners=(0.8, 1.0))
    test_s, test_r = market(3000, seed=2, winners=(0.2, 0.8))
    chosen = search_threshold(val_s, objective="avg_profit", returns=val_r, cost_bps=5, grid=GRID)
    peeking = search_threshold(
        test_s, objective="avg_profit", returns=test_r, cost_bps=5, grid=GRID
    )
    assert chosen.threshold == pytest.approx(0.8)
    assert peeking.threshold == pytest.approx(0.2)  # what a leak would have picked
    # Frozen: applied to test scores, the validation threshold is what decides.
    pos = chosen.positions(test_s)
    np.testing.assert_array_equal(pos, (test_s > 0.8).astype(float))
    # ... and it loses on test, as it honestly should in this construction.
    assert (pos * test_r).sum() < 0
    # The search cannot even be handed test data.
    params = inspect.signature(search_threshold).parameters
    assert not any("test" in name for name in params)


def test_avg_profit_curve_by_hand():
    s = np.array([0.1, 0.4, 0.6, 0.9])
    r = np.array([-0.02, 0.01, 0.03, 0.05])
    res = search_threshold(
        s, objective="avg_profit", returns=r, cost_bps=10, grid=[0.0, 0.5, 0.8], min_trades=1
    )
    cost = 2 * 10 / 1e4  # a round trip per trade
    expected = [
        (-0.02 + 0.01 + 0.03 + 0.05) / 4 - cost,
        (0.03 + 0.05) / 2 - cost,
        0.05 - cost,
    ]
    np.testing.assert_allclose(res.curve["metric"], expected)
    assert res.curve["n_trades"].tolist() == [4, 2, 1]
    assert res.threshold == 0.8 and res.scores["__all__"] == pytest.approx(0.05 - cost)


def test_sharpe_after_costs_by_hand_with_shorts():
    s = np.array([0.5, 0.5, -0.5, 0.0, 0.5, -0.5])
    r = np.array([0.01, 0.02, -0.01, 0.03, -0.01, -0.02])
    res = search_threshold(
        s,
        objective="sharpe",
        returns=r,
        cost_bps=20,
        grid=[0.3],
        side="both",
        min_trades=1,
        periods_per_year=4,
    )
    pos = np.array([1, 1, -1, 0, 1, -1.0])
    change = np.abs(np.diff(pos, prepend=0.0))  # 1, 0, 2, 1, 1, 2
    pnl = pos * r - 0.002 * change
    expected = pnl.mean() / pnl.std(ddof=1) * 2.0
    assert res.curve["metric"].iloc[0] == pytest.approx(expected)
    assert res.curve["n_trades"].iloc[0] == 4  # entries into a non-zero position
    np.testing.assert_array_equal(res.positions(s), pos)


def test_costs_move_the_choice_away_from_frequent_trading():
    rng = np.random.default_rng(3)
    s = rng.random(4000)
    r = 0.0004 * (s - 0.5) + rng.normal(0, 0.002, s.size)  # tiny edge, mostly noise
    free = search_threshold(s, objective="avg_profit", returns=r, cost_bps=0.0, grid=GRID)
    costly = search_threshold(s, objective="avg_profit", returns=r, cost_bps=30.0, grid=GRID)
    assert costly.scores["__all__"] < free.scores["__all__"]
    assert costly.scores["__all__"] < 0  # costs eat the edge: no threshold is profitable


def test_f1_objective_is_scikit_learns_f1_at_each_threshold():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 500)
    s = np.clip(0.3 * y + rng.random(500) * 0.7, 0, 1)
    res = search_threshold(s, objective="f1", labels=y, grid=GRID)
    for t, m in zip(res.curve["threshold"], res.curve["metric"], strict=True):
        assert m == pytest.approx(f1_score(y, s > t))
    assert res.scores["__all__"] == pytest.approx(res.curve["metric"][res.curve["eligible"]].max())


def test_per_asset_thresholds_follow_each_assets_curve():
    a_s, a_r = market(2000, seed=5, winners=(0.7, 1.0))
    b_s, b_r = market(2000, seed=6, winners=(0.3, 1.0))
    s, r = np.concatenate([a_s, b_s]), np.concatenate([a_r, b_r])
    groups = np.repeat(["BTC", "ETH"], 2000)
    res = search_threshold(
        s, objective="avg_profit", returns=r, cost_bps=5, grid=GRID, groups=groups
    )
    assert res.per_asset
    assert res.thresholds == {"BTC": pytest.approx(0.7), "ETH": pytest.approx(0.3)}
    assert set(res.curve["asset"]) == {"BTC", "ETH"}
    probe = np.array([0.5, 0.5, 0.8])
    np.testing.assert_array_equal(res.positions(probe, ["BTC", "ETH", "BTC"]), [0, 1, 1])
    with pytest.raises(ModelError, match="SOL"):
        res.positions(probe, ["BTC", "SOL", "BTC"])
    with pytest.raises(ModelError, match="groups"):
        res.positions(probe)
    with pytest.raises(ModelError, match="per asset"):
        _ = res.threshold


def test_an_asset_without_enough_trades_is_not_traded_and_says_so():
    s = np.r_[np.linspace(0, 1, 50), np.full(50, 0.01)]
    r = np.full(100, 0.01)
    groups = np.repeat(["A", "B"], 50)
    res = search_threshold(
        s, objective="avg_profit", returns=r, cost_bps=1, grid=[0.5], groups=groups, min_trades=5
    )
    assert res.thresholds["B"] is None and "B: no threshold" in res.notes[0]
    assert res.positions(np.array([0.9, 0.9]), ["A", "B"]).tolist() == [1.0, 0.0]


def test_frozen_result_round_trips_through_json():
    s, r = market(1000, seed=7, winners=(0.6, 1.0))
    res = search_threshold(
        s, objective="sharpe", returns=r, cost_bps=5, grid=GRID, periods_per_year=252
    )
    again = ThresholdResult.from_dict(json.loads(json.dumps(res.to_dict())))
    probe = np.random.default_rng(8).random(300)
    np.testing.assert_array_equal(again.positions(probe), res.positions(probe))
    assert again.threshold == res.threshold


def test_search_refuses_missing_costs_and_unknown_objectives():
    s, r = market(100, seed=9, winners=(0.5, 1.0))
    with pytest.raises(ConfigError, match="cost_bps"):
        search_threshold(s, objective="sharpe", returns=r)
    with pytest.raises(ConfigError, match="did you mean 'sharpe'"):
        search_threshold(s, objective="sharp", returns=r, cost_bps=1)
    with pytest.raises(ConfigError, match="labels"):
        search_threshold(s, objective="f1")
    with pytest.raises(ConfigError, match="side"):
        search_threshold(s, objective="f1", labels=(s > 0.5).astype(int), side="both")
    with pytest.raises(ModelError, match="finite"):
        search_threshold(np.r_[s[:-1], np.nan], objective="avg_profit", returns=r, cost_bps=1)


def test_signal_score_uses_the_class_signs():
    pred = pd.DataFrame({"p_down": [0.2, 0.7], "p_flat": [0.3, 0.1], "p_up": [0.5, 0.2]})
    score = signal_score(pred, {0: "down", 1: "flat", 2: "up"}, {0: -1, 1: 0, 2: 1})
    np.testing.assert_allclose(score, [0.3, -0.5])
    reg = pd.DataFrame({"expected_return": [0.01, -0.02]})
    np.testing.assert_array_equal(signal_score(reg, {}, {}), [0.01, -0.02])
    with pytest.raises(ModelError, match="p_up"):
        signal_score(pred.drop(columns="p_up"), {0: "down", 2: "up"}, {0: -1, 2: 1})


def test_linear_correction_recovers_a_planted_bias():
    rng = np.random.default_rng(10)
    pred = rng.normal(0, 0.01, 2000)
    truth = 0.5 * pred + 0.002 + rng.normal(0, 1e-4, 2000)
    corr = LinearCorrection().fit(pred, truth)
    assert corr.slope == pytest.approx(0.5, rel=0.01)
    assert corr.intercept == pytest.approx(0.002, abs=1e-5)
    again = LinearCorrection.from_dict(json.loads(json.dumps(corr.to_dict())))
    np.testing.assert_array_equal(again.apply(pred[:5]), corr.apply(pred[:5]))
    with pytest.raises(ModelError, match="constant"):
        LinearCorrection().fit(np.ones(5), np.arange(5.0))
    with pytest.raises(ModelError, match="before fit"):
        LinearCorrection().apply([0.1])


def test_threshold_png_is_written(tmp_path):
    s, r = market(500, seed=11, winners=(0.5, 1.0))
    res = search_threshold(
        s, objective="avg_profit", returns=r, cost_bps=5, groups=np.repeat(["A", "B"], 250)
    )
    path = threshold_png(res, tmp_path / "thr.png", title="val")
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert math.isfinite(res.thresholds["A"])
