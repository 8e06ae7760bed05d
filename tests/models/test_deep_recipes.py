"""The deep-model recipes in configs/ run end to end through `edgelab run` (1 epoch each)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from edgelab.config import parse_config
from edgelab.models.base import get_model_class
from edgelab.models.deep import TorchModel

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
RECIPES = ["daily_direction", "hybrid_35", "multi_asset_resnet", "gru_price_change"]


@pytest.mark.slow
@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_runs_end_to_end(recipe, tmp_path):
    from edgelab.pipeline import run_experiment

    data = yaml.safe_load((CONFIGS / f"{recipe}.yaml").read_text())
    deep = []
    for m in data["models"]:
        if issubclass(get_model_class(m["type"]), TorchModel):
            m.setdefault("params", {})["epochs"] = 1
            deep.append(m["name"])
    assert deep, f"{recipe} has no deep model"
    run = run_experiment(parse_config(data, recipe), runs_dir=tmp_path, quiet=True)
    metrics = json.loads((run / "metrics.json").read_text())
    for name in deep:
        bundle = run / "models" / name
        assert (bundle / "weights.safetensors").is_file() and (bundle / "history.csv").is_file()
        assert name in json.dumps(metrics)
    if recipe == "hybrid_35":
        assert (run / "models" / "hybrid" / "attention.csv").is_file()
