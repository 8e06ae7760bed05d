"""The verdict box: trials counted from history plus this run, baseline tests, intervals."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from edgelab.errors import ConfigError
from edgelab.evaluate.edge import (
    assess_models,
    compare_to_baseline,
    prediction_intervals,
    verdict_lines,
)
from edgelab.evaluate.trials import data_fingerprint

FP = {"SYN0": "d" * 64}


def _earlier_run(root, name, sharpes, fingerprints=FP, ppy=252.0):
    run = root / name
    run.mkdir(parents=True)
    config = {"provenance": {"fingerprints": fingerprints}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    models = {m: {"backtest": {"sharpe": s, "periods_per_year": ppy}} for m, s in sharpes.items()}
    (run / "metrics.json").write_text(json.dumps({"models": models}))


def test_trials_are_the_history_plus_this_run(tmp_path):
    rng = np.random.default_rng(0)
    returns = {"edge": rng.normal(0.002, 0.01, 800), "noise": rng.normal(0, 0.01, 800)}
    _earlier_run(tmp_path, "r1", {"a": 0.5, "b": -0.3, "c": 1.1})
    _earlier_run(tmp_path, "r2", {"a": 9.0}, fingerprints={"SYN0": "e" * 64})  # other data
    out = assess_models(returns, 252.0, fingerprints=FP, runs_dir=tmp_path, n_boot=200, seed=1)
    assert set(out) == {"edge", "noise"}
    assert out["edge"]["n_trials"] == 5  # 3 earlier + 2 now
    assert out["edge"]["trials"]["earlier_runs"] == ["r1"]
    assert out["edge"]["trials"]["fingerprint"] == data_fingerprint(FP)
    per_bar = [0.5 / math.sqrt(252), -0.3 / math.sqrt(252), 1.1 / math.sqrt(252)] + [
        np.mean(r) / np.std(r, ddof=1) for r in returns.values()
    ]
    assert out["edge"]["var_trials"] == pytest.approx(np.var(per_bar, ddof=1))
    assert out["edge"]["verdict"]["edge"] and not out["noise"]["verdict"]["edge"]
    json.dumps(out)  # JSON-safe for metrics.json


def test_this_run_already_on_disk_is_not_counted_twice(tmp_path):
    r = {"m": np.random.default_rng(1).normal(0.001, 0.01, 300)}
    _earlier_run(tmp_path, "now", {"m": 1.0})
    once = assess_models(
        r, 252.0, fingerprints=FP, runs_dir=tmp_path, exclude_run="now", n_boot=100
    )
    assert once["m"]["n_trials"] == 1
    alone = assess_models(r, 252.0, fingerprints=FP, runs_dir=None, n_boot=100)
    assert alone["m"]["n_trials"] == 1 and alone["m"]["dsr"] == pytest.approx(alone["m"]["psr"])


def test_more_trials_deflate_the_same_backtest(tmp_path):
    r = {"m": np.random.default_rng(2).normal(0.0012, 0.01, 500)}
    few = assess_models(r, 252.0, fingerprints=FP, runs_dir=tmp_path, n_boot=100)["m"]["dsr"]
    _earlier_run(tmp_path, "search", {f"v{i}": s for i, s in enumerate(np.linspace(-2, 2, 60))})
    many = assess_models(r, 252.0, fingerprints=FP, runs_dir=tmp_path, n_boot=100)["m"]["dsr"]
    assert many < few


def test_compare_to_the_best_baseline():
    rng = np.random.default_rng(3)
    weak = rng.normal(-0.001, 0.01, 600)
    strong = rng.normal(0.001, 0.01, 600)
    model = strong + 0.002 + rng.normal(0, 0.002, 600)
    out = compare_to_baseline(
        {"bh": weak, "sma": strong, "lstm": model, "copy": strong.copy()}, ["bh", "sma"], n_boot=200
    )
    assert set(out) == {"lstm", "copy"}
    assert out["lstm"]["baseline"] == "sma"
    assert out["lstm"]["diebold_mariano"]["p_value"] < 0.01
    assert out["lstm"]["paired_bootstrap_sharpe"]["p_value"] < 0.05
    assert "identical" in out["copy"]["note"]
    with pytest.raises(ConfigError, match="baselines"):
        compare_to_baseline({"lstm": model}, ["bh"])
    with pytest.raises(ConfigError, match="same span"):
        compare_to_baseline({"bh": weak, "lstm": model[:100]}, ["bh"])


def test_prediction_intervals_binary_and_three_classes():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 400)
    p1 = np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.2, 400), 0, 1)
    out = prediction_intervals(y, np.column_stack([1 - p1, p1]), n_boot=200, block=5)
    assert out["auc"]["estimate"] == pytest.approx(roc_auc_score(y, p1))
    assert out["auc"]["low"] > 0.6
    y3 = rng.integers(0, 3, 300)
    p3 = rng.dirichlet(np.ones(3), 300)
    macro = np.mean([roc_auc_score(y3 == c, p3[:, c]) for c in range(3)])
    out3 = prediction_intervals(y3, p3, n_boot=200, block=5)
    assert out3["auc"]["estimate"] == pytest.approx(macro)
    assert out3["auc"]["low"] <= 0.5 <= out3["auc"]["high"]


def test_verdict_lines_read_plainly(tmp_path):
    r = {"m": np.random.default_rng(5).normal(0.0, 0.01, 300)}
    entry = assess_models(r, 252.0, fingerprints=FP, runs_dir=None, n_boot=100)["m"]
    lines = verdict_lines(entry)
    assert lines[0] == "edge after costs: not shown"
    assert lines[1].startswith("Sharpe after costs") and "95% interval" in lines[1]
    assert "1 trials counted" in lines[3]
    assert any(line.startswith("- ") for line in lines)
    assert "luck" in lines[-1]
