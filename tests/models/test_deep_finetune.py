"""`TorchModel.fine_tune`: continues the fitted weights (not a fresh init), with its own
epochs and learning rate, deterministically; and walk-forward `mode: finetune` uses it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from deep_helpers import market_samples

from edgelab.errors import ModelError
from edgelab.models.base import create_model

LSTM = {"hidden": 8, "layers": 1, "window": 8, "batch_size": 128, "plots": False}


@pytest.fixture(scope="module")
def data():
    return market_samples(strength=0.4, n_bars=700, window=8)


@pytest.fixture(scope="module")
def later():  # the "next fold": other bars, same features and label map
    return market_samples(strength=0.4, n_bars=700, window=8, seed=1)


def lstm(**kw):
    return create_model("lstm", **{**LSTM, **kw})


def weights(model) -> torch.Tensor:
    return torch.cat([v.detach().flatten().clone() for v in model.net_.state_dict().values()])


def test_fine_tune_before_fit_and_on_other_inputs_raises(data):
    with pytest.raises(ModelError, match="not fitted: fine_tune continues a fitted network"):
        lstm().fine_tune(data["train"], data["val"])
    fitted = lstm(epochs=1).fit(data["train"])
    three = market_samples(strength=0.4, n_bars=700, window=8, classes=3)
    with pytest.raises(ModelError, match="label map"):
        fitted.fine_tune(three["train"])
    ret = market_samples(strength=0.4, n_bars=700, window=8, target="return")
    with pytest.raises(ModelError, match="fitted on class targets, fine_tune got return"):
        lstm(epochs=1, heads="return").fit(data["train"]).fine_tune(ret["train"])


def test_fine_tune_starts_from_the_fitted_weights(data, later):
    fitted = lstm(epochs=3, lr=3e-3, seed=4).fit(data["train"], data["val"])
    before = weights(fitted)
    tiny = {"finetune_epochs": 1, "finetune_lr": 1e-7}
    # the same fitted network, continued with a tiny step: it barely moves, but it moves
    tuned = lstm(epochs=3, lr=3e-3, seed=4, **tiny).fit(data["train"], data["val"])
    assert torch.equal(weights(tuned), before)
    tuned.fine_tune(later["train"], later["val"])
    moved = (weights(tuned) - before).abs().max().item()
    assert 0 < moved < 1e-5
    assert len(tuned.history_) == 1 and tuned.history_[0]["lr"] == pytest.approx(1e-7)
    assert tuned.fine_tunes_ == 1
    # a fresh fit with the same tiny settings stays at its init, far from the fitted weights
    fresh = lstm(epochs=1, lr=1e-7, seed=4).fit(later["train"], later["val"])
    assert (weights(fresh) - before).abs().max().item() > 1e-3


def test_default_fine_tune_is_shorter_and_slower_and_learns(data, later):
    m = lstm(epochs=8, lr=2e-3, patience=None, seed=3).fit(data["train"], data["val"])
    first = m.predict(later["test"])
    m.fine_tune(later["train"], later["val"])
    assert [row["epoch"] for row in m.history_] == [0, 1]  # epochs // 4
    assert m.history_[0]["lr"] == pytest.approx(2e-4)  # lr / 10
    assert not np.allclose(m.predict(later["test"]).to_numpy(), first.to_numpy())


def test_same_seed_same_predictions_after_fine_tune(data, later):
    def run(seed):
        m = lstm(epochs=2, seed=seed).fit(data["train"], data["val"])
        return m.fine_tune(later["train"], later["val"]).predict(later["test"])

    a, b, c = run(7), run(7), run(8)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert not np.allclose(a.to_numpy(), c.to_numpy())


def test_walkforward_finetune_mode_continues_the_lstm(tmp_path):
    from edgelab.config import parse_config
    from edgelab.evaluate.walkforward import run_walkforward

    cfg = parse_config(
        {
            "name": "wf_ft",
            "seed": 5,
            "data": {"source": "synthetic:n=900,seed=1"},
            "features": {"set": "core13"},
            "labels": {"kind": "direction", "horizon": 1},
            "models": [
                {
                    "name": "lstm",
                    "type": "lstm",
                    "params": {
                        "window": 8,
                        "hidden": 8,
                        "layers": 1,
                        "epochs": 3,
                        "finetune_epochs": 1,
                        "batch_size": 128,
                        "plots": False,
                    },
                },
                {"name": "lr", "type": "logistic", "params": {"lags": 2}},
            ],  # fmt: skip
            "walkforward": {"train_size": 300, "step": 200, "val_size": 60, "mode": "finetune"},
            "evaluation": {"n_boot": 50},
            "report": {"plots": False},
        }
    )
    run = run_walkforward(cfg, runs_dir=tmp_path, quiet=True)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["walkforward"]["n_folds"] >= 2
    # only the logistic regression was retrained; the lstm was continued
    assert metrics["walkforward"]["notes"] == [
        "lr: the model has no fine_tune(); retrained from scratch"
    ]
    # the last fold's lstm bundle carries the fine-tuning log (1 epoch), not a fit's (3)
    state = json.loads((run / "models" / "lstm" / "model.json").read_text())["state"]
    assert len(state["history"]) == 1
    assert (
        metrics["models"]["lstm"]["backtest"]["n_bars"]
        == metrics["walkforward"]["out_of_sample"]["bars"]
    )
