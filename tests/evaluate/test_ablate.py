"""Ablation: the variant grid, how each factor changes the config, and a tiny run whose
table carries intervals and counts every variant as a trial."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from edgelab.config import parse_config
from edgelab.errors import ConfigError
from edgelab.evaluate.ablate import default_grid, parse_grid, run_ablation, variants
from edgelab.evaluate.trials import collect_trials, run_fingerprint

BASE = {
    "name": "abl",
    "seed": 2,
    "data": {"source": "synthetic:assets=1,n=600,signal=ar,strength=0.3,seed=4"},
    "features": {"set": "core13"},
    "labels": {"kind": "direction", "horizon": 1},
    "models": [
        {"name": "bh", "type": "buy_hold"},
        {"name": "lr", "type": "logistic", "params": {"lags": 3}},
    ],
    "evaluation": {"n_boot": 100},
    "report": {"plots": False},
}


def test_default_grid_is_one_factor_at_a_time():
    cfg = parse_config(BASE)
    grid = default_grid(cfg)
    assert grid == {
        "features.set": ["core13", "rich35"],
        "window": [3, 6],
        "labels.horizon": [1, 3],
        "scaling.method": ["standard", "robust"],
    }
    found = variants(cfg, grid, full=False)
    assert [v.name for v in found] == [
        "base", "features.set=rich35", "window=6", "labels.horizon=3", "scaling.method=robust",
    ]  # fmt: skip
    window = found[2].config
    assert window.models[1].params["lags"] == 6 and window.models[0].params == {}
    assert found[3].config.labels.horizon == 3 and found[3].config.split.gap is None
    assert len(variants(cfg, grid, full=True)) == 16  # 2^4 combinations, base first


def test_grid_options_replace_a_factor_and_any_key_can_vary():
    cfg = parse_config(BASE)
    grid = parse_grid(["horizon=2,4", "labels.dead_band=0.001", "scaler=robust"], cfg)
    assert grid["labels.horizon"] == [1, 2, 4]  # the base value is kept first
    assert grid["labels.dead_band"] == [0.0, 0.001]
    assert grid["scaling.method"] == ["standard", "robust"]
    with pytest.raises(ConfigError, match="no such config key"):
        parse_grid(["labels.dead_bnd=1"], cfg)
    with pytest.raises(ConfigError, match="must look like factor=value1,value2"):
        parse_grid(["window"], cfg)


def test_bad_variant_stops_before_any_run(tmp_path):
    with pytest.raises(ConfigError, match="ablation variant 'features.set=rich53'"):
        run_ablation(parse_config(BASE), grid=["features.set=rich53"], runs_dir=tmp_path)
    assert not any(tmp_path.iterdir())


def test_tiny_ablation_table_with_intervals_and_trials(tmp_path):
    only_window = ["features.set=core13", "horizon=1", "scaler=standard"]
    out = run_ablation(parse_config(BASE), grid=only_window, runs_dir=tmp_path, quiet=True)
    table = pd.read_csv(out.folder / "ablation.csv")
    assert list(table.variant.unique()) == ["base", "window=6"]
    assert set(table.model) == {"bh", "lr"}
    lr = table[table.model == "lr"]
    assert (lr.auc_low <= lr.auc).all() and (lr.auc <= lr.auc_high).all()
    assert (lr.sharpe_low <= lr.sharpe_high).all()
    # trials: the first run saw 2, the second 4; finally every variant counts 4
    assert list(table.n_trials) == [2, 2, 4, 4] and (table.n_trials_final == 4).all()
    assert "| variant |" in (out.folder / "ablation.md").read_text()
    assert "window=6" in (out.folder / "report.html").read_text()
    summary = json.loads((out.folder / "summary.json").read_text())
    assert summary["kind"] == "ablation" and len(summary["runs"]) == 2
    # the summary folder is no run: the trial count ignores it without complaint
    run = tmp_path / summary["runs"][0]
    history = collect_trials(tmp_path, run_fingerprint(run))
    assert history.n_trials == 4 and history.skipped == []


def test_window_reaches_networks_and_leaves_rule_baselines_alone():
    nets = [
        {"name": "sma", "type": "sma_cross", "params": {"fast": 5, "slow": 20}},
        {"name": "lstm", "type": "lstm", "window": 16},
        {"name": "gru", "type": "gru", "params": {"window": 8}},
    ]
    cfg = parse_config({**BASE, "models": BASE["models"] + nets})
    grid = default_grid(cfg)
    assert grid["window"] == [16, 32]  # the longest look-back of any learned model
    doubled = variants(cfg, grid, full=False)[2].config
    by_name = {m.name: m for m in doubled.models}
    assert by_name["lr"].params["lags"] == 32 and by_name["lstm"].window == 32
    assert by_name["gru"].params["window"] == 32 and by_name["gru"].window is None
    assert by_name["sma"].params == {"fast": 5, "slow": 20} and by_name["sma"].window is None
