"""Policies: predictions -> positions, the registry and `run_policy`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bt_bars import random_bars

from edgelab.backtest import POLICIES, Costs, backtest_trades, get_policy, run_policy
from edgelab.errors import BacktestError, ConfigError

INDEX = pd.date_range("2024-01-01", periods=5, freq="1h", tz="UTC", name="timestamp")


def probs(up, down=None, flat=None, names=("p_up", "p_down", "p_flat")) -> pd.DataFrame:
    cols = {names[0]: up}
    if down is not None:
        cols[names[1]] = down
    if flat is not None:
        cols[names[2]] = flat
    return pd.DataFrame(cols, index=INDEX[: len(up)])


def test_threshold_long_short_and_long_only():
    pred = probs([0.7, 0.55, 0.5, 0.45, 0.2])
    assert get_policy("threshold").positions(pred).tolist() == [1, 1, 0, -1, -1]
    assert get_policy("threshold", upper=0.6, lower=0.3).positions(pred).tolist() == [
        1,
        0,
        0,
        0,
        -1,
    ]
    long_only = get_policy("threshold", upper=0.6, long_only=True).positions(pred)
    assert long_only.tolist() == [1, 0, 0, 0, 0]
    assert long_only.index.equals(pred.index)
    with pytest.raises(ConfigError, match="lower <= upper"):
        get_policy("threshold", upper=0.4, lower=0.5)


def test_most_likely_goes_all_in_and_stays_flat_on_ties():
    pred = probs(
        [0.5, 0.2, 0.3, 0.4, 0.1],
        [0.3, 0.6, 0.3, 0.4, 0.1],
        [0.2, 0.2, 0.4, 0.2, 0.8],
        names=("p_long", "p_short", "p_hold"),
    )
    assert get_policy("most_likely").positions(pred).tolist() == [1, -1, 0, 0, 0]


def test_prob_diff_sizes_by_the_difference():
    pred = probs([0.6, 0.2, 0.5], [0.1, 0.7, 0.5], [0.3, 0.1, 0.0])
    np.testing.assert_allclose(get_policy("prob_diff").positions(pred), [0.5, -0.5, 0.0])


def test_sign_and_scaled_regression_policies():
    pred = pd.DataFrame({"expected_return": [0.02, -0.001, 0.0005, -0.03, 0.004]}, index=INDEX)
    assert get_policy("sign").positions(pred).tolist() == [1, -1, 1, -1, 1]
    assert get_policy("sign", threshold=0.001).positions(pred).tolist() == [1, 0, 0, -1, 1]
    np.testing.assert_allclose(
        get_policy("scaled", scale=0.01).positions(pred), [1.0, -0.1, 0.05, -1.0, 0.4]
    )


def test_hold_keeps_each_entry_for_n_bars_and_ignores_signals_meanwhile():
    index = pd.date_range("2024-01-01", periods=10, freq="1h", tz="UTC")
    r = [0.0, 0.01, -0.01, 0.0, 0.0, -0.02, 0.0, 0.0, 0.0, 0.01]
    pred = pd.DataFrame({"expected_return": r}, index=index)
    held = get_policy("hold", n_bars=3, entry="sign").positions(pred)
    # entry at bar 1 held over bars 1-3 (bar 2's short ignored); bar 5's short 5-7; bar 9
    assert held.tolist() == [0, 1, 1, 1, 0, -1, -1, -1, 0, 1]


def test_registry_names_unknown_policies_and_parameters():
    assert set(POLICIES) == {
        "threshold",
        "most_likely",
        "prob_diff",
        "sign",
        "scaled",
        "hold",
        "bracket",
    }
    with pytest.raises(
        ConfigError, match="unknown policy 'treshold' \\(did you mean 'threshold'\\?\\)"
    ):
        get_policy("treshold")
    with pytest.raises(ConfigError, match="no parameter 'uper' \\(did you mean 'upper'\\?\\)"):
        get_policy("threshold", uper=0.6)
    with pytest.raises(ConfigError, match="unknown policy"):
        get_policy("hold", entry="nope")
    with pytest.raises(ConfigError, match="bracket"):
        get_policy("bracket", unit="pips")


def test_bad_predictions_are_errors_naming_the_row():
    with pytest.raises(BacktestError, match="'p_up' is nan at 2024-01-01 01:00"):
        get_policy("threshold").positions(probs([0.5, np.nan]))
    with pytest.raises(BacktestError, match="need a column p_up or p_long"):
        get_policy("threshold").positions(pd.DataFrame({"p_x": [0.1]}, index=INDEX[:1]))
    with pytest.raises(BacktestError, match="expected_return"):
        get_policy("sign").positions(probs([0.5]))


def test_many_assets_give_one_column_each():
    index = pd.MultiIndex.from_product([INDEX[:3], ["A", "B"]], names=["timestamp", "asset"])
    pred = pd.DataFrame({"expected_return": [0.1, -0.1, 0.0, 0.2, -0.3, 0.0]}, index=index)
    wide = get_policy("sign").positions(pred)
    assert list(wide.columns) == ["A", "B"]
    assert wide["A"].tolist() == [1, 0, -1] and wide["B"].tolist() == [-1, 1, 0]


def test_run_policy_dispatches_positions_and_brackets():
    bars = random_bars(300, seed=5)
    rng = np.random.default_rng(5)
    up = rng.random(len(bars))
    pred = pd.DataFrame({"p_up": up, "p_down": 1 - up}, index=bars.index).iloc[20:]
    result = run_policy(bars, pred, get_policy("threshold", upper=0.6), Costs())
    assert result.equity.index.equals(pred.index)
    assert result.kpis["n_trades"] > 5
    bracket = get_policy("bracket", entry="threshold", entry_params={"upper": 0.8})
    via_policy = run_policy(bars, pred, bracket, Costs())
    signal = np.sign(get_policy("threshold", upper=0.8).positions(pred))
    direct = backtest_trades(bars, signal, bracket.bracket, Costs())
    np.testing.assert_array_equal(via_policy.equity.to_numpy(), direct.equity.to_numpy())
    assert set(via_policy.trades["reason"]) <= {"take_profit", "stop_loss", "horizon", "open"}
    with pytest.raises(BacktestError, match="no per-bar positions"):
        bracket.positions(pred)
