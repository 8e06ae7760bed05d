"""Trials counted from the run history: same data fingerprint = same search."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import yaml

from edgelab.evaluate.trials import collect_trials, data_fingerprint, run_fingerprint

FP_A = {"BTC": "a" * 64, "ETH": "b" * 64}
FP_B = {"BTC": "a" * 64, "ETH": "c" * 64}


def write_run(root, name, fingerprints, models, *, metrics=True, ppy=365.25):
    """A run folder in the layout of edgelab.track.runs / pipeline: config.yaml with a
    provenance.fingerprints block and metrics.json with models.<name>.backtest."""
    run = root / name
    run.mkdir(parents=True)
    config = {"name": "x", "seed": 1, "provenance": {"seed": 1, "fingerprints": fingerprints}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    if metrics:
        payload = {
            "models": {
                m: {"type": "logistic", "backtest": {"sharpe": s, "periods_per_year": ppy}}
                for m, s in models.items()
            }
        }
        (run / "metrics.json").write_text(json.dumps(payload))
    return run


def test_every_model_of_every_run_on_the_same_data_is_a_trial(tmp_path):
    write_run(tmp_path, "20250101T000000Z-a", FP_A, {"lr": 1.2, "gbm": -0.4})
    write_run(tmp_path, "20250102T000000Z-b", dict(reversed(FP_A.items())), {"lr": 0.3})
    write_run(tmp_path, "20250103T000000Z-c", FP_B, {"lr": 9.0})  # other data: not counted
    history = collect_trials(tmp_path, data_fingerprint(FP_A))
    assert history.n_trials == 3
    assert history.runs == ["20250101T000000Z-a", "20250102T000000Z-b"]
    per_bar = np.array([1.2, -0.4, 0.3]) / math.sqrt(365.25)
    assert history.sharpes_per_bar() == pytest.approx(per_bar.tolist())
    assert history.var_sharpe_per_bar() == pytest.approx(np.var(per_bar, ddof=1))
    assert history.skipped == []
    assert collect_trials(tmp_path, data_fingerprint(FP_B)).n_trials == 1


def test_unreadable_folders_are_listed_not_counted(tmp_path):
    write_run(tmp_path, "r1", FP_A, {"lr": 0.5})
    write_run(tmp_path, "r2", FP_A, {"lr": 0.5}, metrics=False)  # crashed mid-run
    (tmp_path / "r3").mkdir()  # not a run
    bad = tmp_path / "r4"
    bad.mkdir()
    (bad / "config.yaml").write_text("provenance: [unclosed")
    write_run(tmp_path, "r5", FP_A, {}).joinpath("metrics.json").write_text("{not json")
    history = collect_trials(tmp_path, data_fingerprint(FP_A))
    assert history.n_trials == 1
    reasons = "\n".join(history.skipped)
    assert [s.split(":")[0] for s in history.skipped] == ["r2", "r3", "r4", "r5"]
    assert "no metrics.json" in reasons and "no config.yaml" in reasons
    assert "malformed YAML" in reasons and "malformed metrics.json" in reasons
    assert history.to_dict()["skipped"] == history.skipped


def test_a_model_without_a_sharpe_is_a_trial_but_not_in_the_variance(tmp_path):
    write_run(tmp_path, "r1", FP_A, {"lr": None, "gbm": 0.8})
    history = collect_trials(tmp_path, data_fingerprint(FP_A))
    assert history.n_trials == 2
    assert len(history.sharpes_per_bar()) == 1
    assert history.var_sharpe_per_bar() is None


def test_fingerprint_ignores_asset_order_and_sees_any_change(tmp_path):
    assert data_fingerprint(FP_A) == data_fingerprint(dict(reversed(FP_A.items())))
    assert data_fingerprint(FP_A) != data_fingerprint(FP_B)
    assert data_fingerprint({"BTC": "a" * 64}) != data_fingerprint(FP_A)
    run = write_run(tmp_path, "r1", FP_A, {"lr": 0.1})
    assert run_fingerprint(run) == data_fingerprint(FP_A)


def test_no_runs_dir_means_no_trials(tmp_path):
    history = collect_trials(tmp_path / "absent", data_fingerprint(FP_A))
    assert history.n_trials == 0 and history.var_sharpe_per_bar() is None


@pytest.mark.slow
def test_counts_the_trials_of_real_pipeline_runs(tmp_path):
    """Two runs on the same synthetic data (one copied: a byte-equal re-run) and one on
    other data."""
    from edgelab.config import parse_config
    from edgelab.pipeline import run_experiment

    def config(seed):
        return parse_config(
            {
                "name": "trials",
                "data": {"source": f"synthetic:assets=1,n=300,seed={seed}"},
                "features": {"set": "core13"},
                "labels": {"kind": "direction", "horizon": 1},
                "models": [
                    {"name": "bh", "type": "buy_hold"},
                    {"name": "sma", "type": "sma_cross", "params": {"fast": 5, "slow": 20}},
                ],
                "report": {"html": False},
            }
        )

    first = run_experiment(config(1), runs_dir=tmp_path, quiet=True)
    shutil.copytree(first, tmp_path / "20990101T000000Z-rerun")  # a re-run, byte-equal
    run_experiment(config(2), runs_dir=tmp_path, quiet=True)
    history = collect_trials(tmp_path, run_fingerprint(first))
    assert history.n_trials == 4 and len(history.runs) == 2
    assert len(history.sharpes_per_bar()) == 4
