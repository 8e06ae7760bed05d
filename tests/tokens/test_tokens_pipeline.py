"""The token pipeline end to end: bars -> reports, and the recipe through `edgelab run`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from token_helpers import TINY

from edgelab.backtest import Costs
from edgelab.models.tokens.pipeline import TokenPipelineConfig, mlm_markdown, run_token_pipeline

RECIPE = Path(__file__).resolve().parents[2] / "configs" / "bert_heikin_ashi.yaml"


def test_run_token_pipeline_writes_every_report(tmp_path):
    from edgelab.data.sources.synthetic import synthetic_market

    bars = synthetic_market(900, assets=2, seed=5, interval="15m", calendar="fx")
    config = TokenPipelineConfig(model={**TINY, "seed": 1}, norm_window=30, max_horizon=12,
                                 costs=Costs(fee_bps=1.0), signal_bars=100)  # fmt: skip
    result = run_token_pipeline(bars, config, tmp_path / "run")
    out = tmp_path / "run"
    expected = {
        "metrics.json", "classification_report.txt", "mlm_epochs.md", "confusion.png",
        "asset_equity.png", "equity.png", "signals_SYN0.png", "signals_SYN1.png",
        "reconstruction.png", "model",
    }  # fmt: skip
    assert expected <= {p.name for p in out.iterdir()}
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["per_asset_final_equity"]) == {"SYN0", "SYN1"}
    assert metrics["classification"]["class_names"] == ["hold", "long", "short"]
    assert metrics["tokenizer"]["val"]["mse_ratio"] > 0
    assert "hold" in (out / "classification_report.txt").read_text()
    assert result.backtest.cost_model == Costs(fee_bps=1.0)
    assert (out / "model" / "vocab.json").is_file()


def test_mlm_markdown_formats_percent():
    rows = [{"epoch": 1, "train_loss": 2.0, "val_loss": 1.5, "top1": 0.25, "top5": 0.5,
             "base_top1": 0.05, "base_top5": 0.2, "lr": 1e-3, "seconds": 1.234}]  # fmt: skip
    text = mlm_markdown(rows)
    assert "| 1 | 2.0000 | 1.5000 | 25.0% | 50.0% | 5.0% | 20.0% | 1.00e-03 | 1.23 |" in text


@pytest.mark.slow
def test_recipe_runs_through_edgelab_run(tmp_path):
    """The recipe, shrunk (fewer bars, a tiny network), through the general pipeline."""
    from edgelab.config import load_config
    from edgelab.pipeline import read_metrics, run_experiment

    shrink = [
        "data.source=synthetic:assets=2,n=1500,interval=15m,calendar=fx,signal=ar,strength=0.1,seed=7",
        "models[0].params.tokenizer.codebook_size=32",
        "models[0].params.tokenizer.epochs=2",
        "models[0].params.bert.context=20",
        "models[0].params.bert.d_model=16",
        "models[0].params.pretrain.epochs=1",
        "models[0].params.finetune.epochs=1",
        "models[3].params.epochs=1",  # the lstm
    ]
    config = load_config(RECIPE, overrides=shrink)
    run = run_experiment(config, runs_dir=tmp_path, quiet=True)
    metrics = read_metrics(run)
    assert set(metrics["models"]) == {"bert", "logistic", "lightgbm", "lstm"}
    assert metrics["models"]["bert"]["type"] == "bert_tokens"
    assert (run / "models" / "bert" / "vocab.json").is_file()
