"""`bert_tokens` under the model contract: registry, params, fit/predict on barrier labels
of synthetic bid/ask bars, save -> load -> identical tokens and predictions, the MLM table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from token_helpers import TINY

import edgelab.models.tokens  # noqa: F401  (registers bert_tokens)
from edgelab.errors import ModelError
from edgelab.models.base import Model, create_model, get_model_class
from edgelab.models.tokens import BertTokensModel
from edgelab.models.tokens.model import mlm_table
from edgelab.models.tokens.pipeline import TokenPipelineConfig, prepare_dataset


@pytest.fixture(scope="module")
def dataset():
    from edgelab.data.sources.synthetic import synthetic_market

    bars = synthetic_market(1200, assets=2, seed=4, signal="ar", strength=0.2)
    window = BertTokensModel(**TINY).input_window()
    return prepare_dataset(bars, TokenPipelineConfig(norm_window=30, max_horizon=12), window)


@pytest.fixture(scope="module")
def fitted(dataset):
    return BertTokensModel(**TINY, seed=7).fit(dataset["train"], dataset["val"])


def test_registered_and_params_checked():
    assert get_model_class("bert_tokens") is BertTokensModel
    with pytest.raises(ModelError, match="did you mean 'tokenizer'"):
        create_model("bert_tokens", tokenzer={})
    with pytest.raises(ModelError, match="did you mean 'd_model'"):
        create_model("bert_tokens", bert={"d_modle": 8})
    with pytest.raises(ModelError, match="vocab_size"):  # derived from the codebook
        create_model("bert_tokens", bert={"vocab_size": 8})
    m = create_model("bert_tokens", tokenizer={"patch": 2}, bert={"context": 10})
    assert m.input_window() == 20 and m.history() == 19
    assert m.supports("class") and not m.supports("return")


def test_fit_predict_on_barrier_labels(fitted, dataset):
    test = dataset["test"]
    pred = fitted.predict(test)
    assert list(pred.columns) == ["p_hold", "p_long", "p_short"]
    assert pred.index.equals(test.prediction_index())
    p = pred.to_numpy()
    assert np.isfinite(p).all() and np.allclose(p.sum(1), 1.0)
    report = fitted.report_
    assert len(report["mlm"]) == 1 and report["mlm"][0]["top1"] is not None
    tok = report["tokenizer"]
    assert tok["val"]["mean_mse"] > 0 and 0 < tok["train"]["usage"] <= 1


def test_save_load_gives_identical_tokens_and_predictions(fitted, dataset, tmp_path):
    test = dataset["test"]
    fitted.save(tmp_path / "m")
    files = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert files == ["mlm_epochs.csv", "model.json", "vocab.json", "weights.safetensors"]
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["type"] == "bert_tokens" and meta["state"]["bert"]["vocab_size"] == 32
    vocab = json.loads((tmp_path / "m" / "vocab.json").read_text())
    assert vocab["special"] == {"[PAD]": 32, "[MASK]": 33, "[CLS]": 34} and vocab["size"] == 35
    assert sum(vocab["train_counts"]) == int((fitted.tokens(dataset["train"]) < 32).sum())
    again = Model.load(tmp_path / "m")
    assert np.array_equal(again.tokens(test), fitted.tokens(test))
    pd.testing.assert_frame_equal(again.predict(test), fitted.predict(test), check_exact=True)


def test_same_seed_same_predictions(fitted, dataset):
    twin = BertTokensModel(**TINY, seed=7).fit(dataset["train"], dataset["val"])
    test = dataset["test"]
    pd.testing.assert_frame_equal(twin.predict(test), fitted.predict(test), check_exact=True)


def test_rejects_short_windows_and_other_features(fitted, dataset):
    import dataclasses

    train = dataset["train"]
    with pytest.raises(ModelError, match="window"):
        BertTokensModel(**TINY).fit(dataclasses.replace(train, window=4))
    renamed = dataclasses.replace(dataset["test"], feature_names=["a", "b", "c", "d"])
    with pytest.raises(ModelError, match="trained on features"):
        fitted.predict(renamed)
    with pytest.raises(ModelError, match="not fitted"):
        BertTokensModel(**TINY).predict(dataset["test"])


def test_mlm_table_prefers_the_trainer_hook_columns():
    history = [
        {"epoch": 0, "train_loss": 2.0, "val_loss": 1.5, "lr": 1e-3, "seconds": 1.0},
        {
            "epoch": 1,
            "train_loss": 1.0,
            "val_loss": 0.9,
            "val_top1": 0.7,
            "lr": 1e-3,
            "seconds": 1.0,
        },
    ]
    passes = [{"top1": 0.2, "top5": 0.5}, {"top1": 0.6, "top5": 0.8}]
    rows = mlm_table(history, passes)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[0]["top1"] == 0.2 and rows[1]["top1"] == 0.7 and rows[1]["top5"] == 0.8
