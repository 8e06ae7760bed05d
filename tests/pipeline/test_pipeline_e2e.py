"""End to end: a tiny synthetic experiment, its run folder, determinism and bad configs."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import edgelab.pipeline_stages as stages
from edgelab.cli import app, main
from edgelab.config import load_config, parse_config
from edgelab.errors import ConfigError
from edgelab.models.base import Model
from edgelab.pipeline import run_experiment

TINY = {
    "name": "tiny",
    "seed": 3,
    "data": {"source": "synthetic:assets=1,n=400,signal=ar,strength=0.4,seed=5"},
    "features": {"set": "core13"},
    "labels": {"kind": "direction", "horizon": 2},
    "models": [
        {"name": "bh", "type": "buy_hold"},
        {"name": "sma", "type": "sma_cross", "params": {"fast": 5, "slow": 20}},
        {"name": "lr", "type": "logistic", "params": {"lags": 3}},
        {
            "name": "gbm",
            "type": "lightgbm",
            "params": {"lags": 2, "n_estimators": 20, "min_child_samples": 10},
        },
    ],
    "policy": {"kind": "threshold", "params": {"upper": 0.52}},
    "evaluation": {"n_boot": 200},  # bootstrap intervals: fewer resamples keep the test fast
    "report": {"plots": False},
}


def _cfg(**changes):
    data = json.loads(json.dumps(TINY))
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            data.setdefault(section, {})[field] = value
        else:
            data[section] = value
    return parse_config(data)


def test_tiny_run_folder_is_complete_and_deterministic(tmp_path):
    first = run_experiment(_cfg(), runs_dir=tmp_path, quiet=True)
    second = run_experiment(_cfg(), runs_dir=tmp_path, quiet=True)
    assert first != second and first.parent == second.parent == tmp_path
    assert (first / "metrics.json").read_bytes() == (second / "metrics.json").read_bytes()

    for name in ("config.yaml", "data.json", "metrics.json", "predictions.parquet", "report.html"):
        assert (first / name).is_file(), name
    metrics = json.loads((first / "metrics.json").read_text())
    assert [row["model"] for row in metrics["leaderboard"]] != []
    assert set(metrics["models"]) == {"bh", "sma", "lr", "gbm"}
    test = metrics["models"]["lr"]["test"]
    assert 0 <= test["accuracy"] <= 1 and test["n"] == metrics["dataset"]["test"]["targets"]
    # buy & hold through the policy is exactly the benchmark
    assert metrics["models"]["bh"]["backtest"]["total_return"] == pytest.approx(
        metrics["benchmark"]["buy_and_hold"]["total_return"], abs=1e-12
    )
    # the resolved config re-runs as is and records the data fingerprint
    saved = yaml.safe_load((first / "config.yaml").read_text())
    assert len(saved["provenance"]["fingerprints"]["SYN0"]) == 64
    assert load_config(first / "config.yaml") == _cfg()

    # the bundle describes itself and loads
    preds = pd.read_parquet(first / "predictions.parquet")
    mine = preds[(preds.model == "gbm") & (preds.split == "test")]
    bundle = json.loads((first / "models" / "gbm" / "model.json").read_text())
    assert bundle["feature_names"][:2] == ["log_ret_1", "vol_20"] and bundle["window"] == 2
    assert bundle["scaler"]["method"] == "standard" and bundle["label_map"] == {
        "0": "down",
        "1": "up",
    }
    model = Model.load(first / "models" / "gbm")
    assert isinstance(model, Model)
    # positions are the policy's reading of p_up on every test bar
    expect = np.where(mine.p_up >= 0.52, 1.0, np.where(mine.p_up <= 0.48, -1.0, 0.0))
    assert np.array_equal(mine.position.to_numpy(), expect)
    assert mine.timestamp.min() == pd.Timestamp(metrics["split"]["test"]["start"])
    assert mine.label.isna().sum() == 2  # the last `horizon` bars have no label


def test_multi_asset_return_target(tmp_path):
    cfg = _cfg(
        data={"source": "synthetic:assets=2,n=300,signal=ar,strength=0.4,seed=2"},
        labels={"kind": "forward_return", "horizon": 1},
        models=[
            {
                "name": "gbm",
                "type": "lightgbm",
                "params": {"lags": 2, "n_estimators": 10, "min_child_samples": 10},
            },
            {"name": "bh", "type": "buy_hold"},
        ],
        policy={"kind": "sign"},
    )
    run = run_experiment(cfg, runs_dir=tmp_path, quiet=True)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["target"] == "return"
    assert {"mae", "rmse", "spearman_ic"} <= set(metrics["models"]["gbm"]["test"])
    preds = pd.read_parquet(run / "predictions.parquet")
    assert set(preds.asset) == {"SYN0", "SYN1"}


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if the pipeline loads any data or writes a run folder."""

    def boom(*args, **kwargs):
        raise AssertionError("work started before the config was validated")

    monkeypatch.setattr(stages, "load_data", boom)
    import edgelab.pipeline as pipeline

    monkeypatch.setattr(pipeline, "load_data", boom)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"models": [{"name": "x", "type": "lightgmb"}]},
            r"'models\[0\]' \(x\)\.type: unknown model 'lightgmb' \(did you mean 'lightgbm'\?\)",
        ),
        (
            {"models": [{"name": "x", "type": "logistic", "params": {"lag": 2}}]},
            r"'models\[0\]' \(x\)\.params: unknown parameter.*'lag' \(did you mean 'lags'\?\)",
        ),
        (
            {"features__set": "rich53"},
            r"'features\.set': unknown feature set 'rich53' \(did you mean 'rich35'\?\)",
        ),
        (
            {"policy": {"kind": "treshold"}},
            r"'policy': unknown policy 'treshold' \(did you mean 'threshold'\?\)",
        ),
        (
            {"policy": {"kind": "sign"}},
            r"'policy\.kind' sign cannot use the predictions of labels\.kind 'direction'",
        ),
        (
            {
                "labels": {"kind": "forward_return"},
                "models": [{"name": "lr", "type": "logistic"}],
                "policy": {"kind": "sign"},
            },
            r"'models\[0\]' \(lr\)\.type: model 'logistic' cannot learn labels\.kind 'forward_return'",
        ),
    ],
)
def test_bad_config_stops_before_any_work(changes, message, tmp_path, no_work):
    with pytest.raises(ConfigError, match=message):
        run_experiment(_cfg(**changes), runs_dir=tmp_path, quiet=True)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"split__test": "2019-06-01"}, r"'split\.test' 2019-06-01.*before the first bar"),
        (
            {"labels": {"horizon": 5000}},
            r"'labels\.horizon' 5000 is longer than the data: asset 'SYN0' has 400 bars",
        ),
        (
            {"data": {"source": "synthetic:assets=1,n=60,seed=1"}},
            r"'features\.set' core13 needs 33 bars of warm-up.*train span of asset 'SYN0' has 39 bars, at least 55",
        ),
        (
            {"data": {"source": "synthetic:assets=1,n=400", "symbols": ["BTC"]}},
            r"'data\.symbols': unknown symbol 'BTC'",
        ),
    ],
)
def test_data_dependent_errors_stop_before_features(changes, message, tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("features computed before the data checks")

    import edgelab.features.sets as sets

    monkeypatch.setattr(sets, "compute_features", boom)
    with pytest.raises(ConfigError, match=message):
        run_experiment(_cfg(**changes), runs_dir=tmp_path, quiet=True)
    assert not any(tmp_path.iterdir())


def test_cli_run_with_overrides_and_exit_code(tmp_path, capsys):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    runs = tmp_path / "runs"
    result = CliRunner().invoke(
        app,
        [
            "run",
            str(path),
            "--set",
            "models=[{name: bh, type: buy_hold}]",
            "--runs-dir",
            str(runs),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    run_dir = runs / result.output.strip().splitlines()[-1].rsplit("/", 1)[-1]
    assert list(json.loads((run_dir / "metrics.json").read_text())["models"]) == ["bh"]
    with pytest.raises(SystemExit) as exc:
        main(["run", str(path), "--set", "models[0].type=lstn", "--runs-dir", str(runs)])
    assert exc.value.code == 2
    assert "did you mean" in capsys.readouterr().err
    assert sys.modules.get("mlflow") is None  # never imported without tracking.mlflow
