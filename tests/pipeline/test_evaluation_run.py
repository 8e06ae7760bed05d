"""`edgelab run` with the evaluation wired in: calibration and thresholds fitted on
validation only, bundles that predict as the run did, edge.json beside a deterministic
metrics.json, the verdict in the report, the deliberate leak flagged."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from edgelab.config import parse_config
from edgelab.data.sources.synthetic import synthetic_market
from edgelab.errors import ConfigError
from edgelab.pipeline import check_config, evaluate_experiment, run_experiment
from edgelab.track.bundle import load_bundle

MODELS = [
    {"name": "bh", "type": "buy_hold"},
    {"name": "lr", "type": "logistic", "params": {"lags": 2}},
    {"name": "gbm", "type": "lightgbm", "params": {"lags": 2, "n_estimators": 20,
                                                   "min_child_samples": 20}},
]  # fmt: skip


def _cfg(**changes):
    data = {
        "name": "evalrun",
        "seed": 4,
        "data": {"source": "synthetic:assets=2,n=700,signal=ar,strength=0.3,seed=8"},
        "features": {"set": "core13"},
        "labels": {"kind": "direction", "horizon": 1},
        "models": MODELS,
        "calibration": {"method": "isotonic"},
        "thresholds": {"objective": "sharpe", "per_asset": True, "min_trades": 5},
        "backtest": {"costs": {"fee_bps": 1.0, "slippage_bps": 0.5, "spread_bps": 1.0}},
        "evaluation": {"n_boot": 200},
        "report": {"plots": False},
    }
    data.update(changes)
    return parse_config(data)


def test_calibrated_thresholded_run_is_deterministic_and_counts_trials(tmp_path):
    first = run_experiment(_cfg(), runs_dir=tmp_path, quiet=True)
    second = run_experiment(_cfg(), runs_dir=tmp_path, quiet=True)
    assert (first / "metrics.json").read_bytes() == (second / "metrics.json").read_bytes()
    e1 = json.loads((first / "edge.json").read_text())
    e2 = json.loads((second / "edge.json").read_text())
    assert (e1["n_trials"], e2["n_trials"]) == (3, 6)  # every model of every run on this data
    assert e2["earlier_runs"] == [first.name]
    for name in ("bh", "lr", "gbm"):
        assert e2["models"][name]["n_trials"] == 6
        assert e2["models"][name]["lines"][0].startswith("edge after costs: ")

    metrics = json.loads((first / "metrics.json").read_text())
    lr = metrics["models"]["lr"]
    assert lr["calibration"]["method"] == "isotonic"
    assert set(lr["thresholds"]["thresholds"]) == {"SYN0", "SYN1"}  # one per asset
    assert lr["thresholds"]["cost_bps"] == 2.5  # fee + slippage + spread
    for key in ("auc", "accuracy", "sharpe", "cagr"):
        ci = lr["intervals"][key]
        assert ci["low"] <= ci["estimate"] <= ci["high"] and ci["level"] == 0.95
    assert lr["vs_baseline"]["baseline"] in {"bh", "gbm"}
    assert (
        "calibration" not in metrics["models"]["bh"]
        or metrics["models"]["bh"]["calibration"]["method"] == "none"
    )  # rule baselines are not calibrated
    row = next(r for r in metrics["leaderboard"] if r["model"] == "lr")
    assert row["auc_low"] == lr["intervals"]["auc"]["low"]
    assert row["sharpe_high"] == lr["intervals"]["sharpe"]["high"]

    html = (first / "report.html").read_text()
    assert "edge after costs" in html and "deflated Sharpe ratio" in html
    assert "class='verdict" in html and "Trials counted on this data: 3" in html


def test_bundle_predicts_decides_and_positions_as_the_run(tmp_path):
    cfg = _cfg()
    run = run_experiment(cfg, runs_dir=tmp_path, quiet=True)
    _, out = evaluate_experiment(cfg, metrics=False)  # same config and seed: same dataset
    table = pd.read_parquet(run / "predictions.parquet")
    for name in ("lr", "gbm"):
        bundle = load_bundle(run / "models" / name)
        pred = bundle.predict(out.dataset["trade"])
        rows = table[(table.model == name) & (table.split == "test")]
        np.testing.assert_allclose(pred["p_up"].to_numpy(), rows["p_up"].to_numpy())
        decisions = bundle.decisions(pred)
        np.testing.assert_array_equal(
            decisions["expected_return"].to_numpy(), rows["decision"].to_numpy()
        )
        positions = bundle.policy().positions(decisions)
        got = positions.stack().reindex(pd.MultiIndex.from_arrays([rows.timestamp, rows.asset]))
        np.testing.assert_array_equal(got.to_numpy(), rows["position"].to_numpy())
        assert "raw_p_up" in rows and not np.allclose(rows["raw_p_up"], rows["p_up"])


def _file_source(tmp_path, name, bars):
    path = tmp_path / f"{name}.parquet"
    bars.to_parquet(path)
    return str(path)


def test_thresholds_and_calibration_never_see_the_test_span(tmp_path):
    """Two data files equal up to the last 10 % of bars (inside the test span): the
    validation-fitted state must be identical, the test positions not."""
    bars = synthetic_market(n_bars=900, seed=21, signal="ar", strength=0.3)["SYN0"]
    other = synthetic_market(n_bars=900, seed=99)["SYN0"]
    cut = int(0.9 * len(bars))
    changed = bars.copy()
    prices = [c for c in bars.columns if c not in ("volume", "spread")]
    scale = bars["close"].iloc[cut - 1] / other["open"].iloc[cut]
    changed.iloc[cut:, [bars.columns.get_loc(c) for c in prices]] = (
        other[prices].iloc[cut:].to_numpy() * scale
    )
    changed["spread"] = changed["ask_close"] - changed["bid_close"]
    states, tables = [], []
    for name, frame in (("a", bars), ("b", changed)):
        data = {"source": _file_source(tmp_path, name, frame)}
        cfg = _cfg(data=data, thresholds={"objective": "avg_profit", "min_trades": 5})
        run = run_experiment(cfg, runs_dir=tmp_path / name, quiet=True)
        states.append(
            {m: json.loads((run / "models" / m / "model.json").read_text())["postprocess"]
             for m in ("lr", "gbm")}
        )  # fmt: skip
        tables.append(pd.read_parquet(run / "predictions.parquet"))
    assert states[0]["lr"]["thresholds"]["thresholds"]["__all__"] is not None
    assert states[0]["lr"]["calibrator"]["kind"] == "isotonic"
    assert states[0] == states[1]
    val = [t[t.split == "val"].reset_index(drop=True) for t in tables]
    pd.testing.assert_frame_equal(val[0], val[1])
    test = [t[(t.split == "test") & (t.model == "lr")] for t in tables]
    assert not np.array_equal(test[0].p_up.to_numpy(), test[1].p_up.to_numpy())


def test_the_deliberate_leak_needs_consent_and_is_flagged(tmp_path):
    with pytest.raises(ConfigError, match=r"allow_leak: true"):
        _cfg(features={"set": "core13", "leak_next_return": True})
    cfg = _cfg(
        features={"set": "core13", "leak_next_return": True, "allow_leak": True},
        calibration={"method": "none"},
        thresholds={"objective": "none"},
        models=MODELS[:2],
    )
    run = run_experiment(cfg, runs_dir=tmp_path, quiet=True)
    metrics = json.loads((run / "metrics.json").read_text())
    assert "DELIBERATE LEAK" in metrics["warnings"][0]
    assert metrics["models"]["lr"]["test"]["roc_auc"] > 0.95  # the leak is all it needs
    bundle = json.loads((run / "models" / "lr" / "model.json").read_text())
    assert bundle["feature_names"][-1] == "leak_next_return"
    assert "DELIBERATE LEAK" in (run / "report.html").read_text()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"evaluation": {"baselines": ["lrr"]}}, r"'evaluation.baselines': unknown model 'lrr'"),
        (
            {"policy": {"kind": "threshold", "params": {"long_only": True}}},
            r"'thresholds.side' both would go short, but policy.params.long_only is true",
        ),
        (
            {"labels": {"kind": "forward_return"}, "models": [MODELS[2]],
             "policy": {"kind": "sign"}, "thresholds": {"objective": "none"}},
            r"'calibration.method' isotonic calibrates class probabilities",
        ),
        (
            {"thresholds": {"objective": "sharpe"}, "policy": {"kind": "bracket",
             "params": {"entry": "most_likely"}}, "calibration": {"method": "none"}},
            None,
        ),
    ],
)  # fmt: skip
def test_evaluation_config_checks(changes, message):
    cfg = _cfg(**changes)
    if message is None:
        check_config(cfg)  # a bracket takes the frozen decisions as its entry
        return
    with pytest.raises(ConfigError, match=message):
        check_config(cfg)


def test_f1_threshold_needs_the_long_side():
    with pytest.raises(ConfigError, match="objective f1 scores the long class only"):
        _cfg(thresholds={"objective": "f1"})
    assert _cfg(thresholds={"objective": "f1", "side": "long"}).thresholds.side == "long"
