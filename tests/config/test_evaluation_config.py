"""The evaluation sections of the config: defaults keep `edgelab run` as before, bad
values name their field."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgelab.config import ExperimentConfig, load_config, parse_config
from edgelab.errors import ConfigError


def test_defaults_change_nothing_and_every_recipe_validates():
    cfg = ExperimentConfig()
    assert cfg.calibration.method == "none" and cfg.thresholds.objective == "none"
    assert cfg.evaluation.n_boot == 1000 and cfg.evaluation.level == 0.95
    assert cfg.walkforward.mode == "retrain" and cfg.canary.seeds == [1, 2, 3]
    assert not cfg.features.leak_next_return
    for name in ("default", "walkforward_daily"):
        load_config(Path(__file__).parents[2] / "configs" / f"{name}.yaml")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"calibration": {"methd": "platt"}}, r"unknown key 'calibration.methd' \(did you mean 'method'\?\)"),
        ({"calibration": {"method": "plat"}}, r"'calibration.method'"),
        ({"thresholds": {"objective": "f1"}}, "set side: long"),
        ({"evaluation": {"n_boot": 10}}, r"'evaluation.n_boot'"),
        ({"evaluation": {"level": 1.5}}, r"'evaluation.level'"),
        ({"walkforward": {"window": "sliding"}}, r"'walkforward.window'"),
        ({"walkforward": {"train_size": 5}}, r"'walkforward.train_size'"),
        ({"canary": {"strength": 1.2}}, r"'canary.strength'"),
        ({"features": {"leak_next_return": True}}, "features.allow_leak: true"),
    ],
)  # fmt: skip
def test_bad_evaluation_values_name_their_field(data, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(data)


def test_overrides_reach_the_new_sections():
    cfg = load_config(None, ["thresholds.objective=avg_profit", "thresholds.grid=[0.1, 0.2]",
                             "walkforward.step=50", "canary.seeds=[4, 5]"])  # fmt: skip
    assert cfg.thresholds.grid == [0.1, 0.2] and cfg.walkforward.step == 50
    assert cfg.canary.seeds == [4, 5]
