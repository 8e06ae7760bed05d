"""The leakage canary: it passes on a clean pipeline (random walks show nothing, the
planted signal is found) and fails loudly when the deliberate leak is switched on."""

from __future__ import annotations

import pytest
import yaml

from edgelab.cli import main
from edgelab.config import parse_config
from edgelab.evaluate.canary import run_canary, scenario_config

CI = {
    "name": "canary-ci",
    "seed": 7,
    "features": {"set": "core13"},
    "labels": {"kind": "direction", "horizon": 1},
    "models": [
        {"name": "bh", "type": "buy_hold"},
        {"name": "lr", "type": "logistic", "params": {"lags": 2}},
        {"name": "gbm", "type": "lightgbm", "params": {"lags": 2, "n_estimators": 40,
                                                       "min_child_samples": 20}},
    ],
    "policy": {"kind": "threshold", "params": {"upper": 0.52}},
    "backtest": {"costs": {"fee_bps": 1.0, "slippage_bps": 0.5, "spread_bps": 1.0}},
    "evaluation": {"n_boot": 500},
    "canary": {"n_bars": 2000, "seeds": [1, 2]},
}  # fmt: skip


def test_scenarios_replace_only_the_data():
    cfg = parse_config({**CI, "split": {"test": "2017-06-01", "val": 0.1}})
    walk = scenario_config(cfg, seed=2, signal="none", strength=0.0)
    assert walk.data.source == (
        "synthetic:assets=1,n=2000,interval=1h,signal=none,strength=0.0,seed=2"
    )
    assert walk.split.test == 0.2  # a date of the real data means nothing on synthetic bars
    assert walk.models == cfg.models and walk.policy == cfg.policy
    assert walk.backtest.costs == cfg.backtest.costs and not walk.report.html


def test_canary_passes_on_the_clean_pipeline():
    result = run_canary(parse_config(CI), quiet=True)
    assert result.passed, result.failures
    walks = [c for c in result.checks if c.scenario.startswith("random walk")]
    # 2 seeds x (2 learned models' AUC + 3 Sharpe ratios); buy & hold's AUC is 0.5 by design
    assert len(walks) == 10 and all(c.level == pytest.approx(1 - 0.05 / 10) for c in walks)
    planted = [c for c in result.checks if c.scenario.startswith("planted")]
    assert {c.model for c in planted} == {"lr", "gbm"} and all(c.low > 0.5 for c in planted)


def test_canary_fails_loudly_with_the_deliberate_leak(tmp_path, capsys):
    leaky = {**CI, "features": {"set": "core13", "leak_next_return": True, "allow_leak": True}}
    path = tmp_path / "leaky.yaml"
    path.write_text(yaml.safe_dump(leaky))
    with pytest.raises(SystemExit) as exc:
        main(["canary", str(path), "-q"])
    assert exc.value.code == 3
    out = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    assert "CANARY FAILED" in out and "features.leak_next_return is on" in out
    assert "finds skill where none exists" in out
