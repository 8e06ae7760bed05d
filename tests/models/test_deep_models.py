"""The deep models through the Model contract: bundles, seeds, heads, seq2seq, panels."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from deep_helpers import market_samples
from safetensors import safe_open

from edgelab.errors import ModelError
from edgelab.models.base import Model, create_model

SMALL = {
    "lstm": {"hidden": 8, "layers": 1},
    "gru": {"hidden": 8},
    "transformer": {"d_model": 8, "n_heads": 2, "layers": 1, "ff": 16},
    "hybrid": {"d_model": 8, "n_heads": 2, "ff": 16, "lstm_hidden": 8, "lstm_layers": 1,
               "pool_heads": 2, "encoder_layers": 1},
    "resnet1d": {"channels": 4, "stages": [1, 1], "hidden": 8},
}  # fmt: skip
COMMON = {"window": 8, "epochs": 2, "batch_size": 128, "plots": False}


@pytest.fixture(scope="module")
def data():
    return market_samples(strength=0.4, n_bars=700, window=8)


@pytest.fixture(scope="module")
def panel_data():
    return market_samples(strength=0.4, n_bars=500, window=8, assets=3, classes=3)


def model(name, **kw):
    return create_model(name, **{**COMMON, **SMALL[name], **kw})


@pytest.mark.parametrize("name", list(SMALL))
def test_bundle_round_trip_gives_identical_predictions(name, data, tmp_path):
    heads = "both" if name in ("hybrid", "resnet1d") else "auto"
    m = model(name, heads=heads, plots=name == "lstm").fit(data["train"], data["val"])
    pred = m.predict(data["test"])
    assert pred.index.equals(data["test"].prediction_index())
    assert np.allclose(pred[["p_down", "p_up"]].sum(axis=1), 1.0)
    m.save(tmp_path / name)
    files = {p.name for p in (tmp_path / name).iterdir()}
    assert {"model.json", "weights.safetensors", "history.csv", "history.json"} <= files
    assert ("training.png" in files) == (name == "lstm")
    meta = json.loads((tmp_path / name / "model.json").read_text())
    assert meta["type"] == name and meta["state"]["network"]["n_features"] == 2
    with safe_open(str(tmp_path / name / "weights.safetensors"), "pt") as fh:
        assert len(list(fh.keys())) > 0
    again = Model.load(tmp_path / name)
    pd.testing.assert_frame_equal(again.predict(data["test"]), pred, check_exact=True)


@pytest.mark.parametrize("name", ["lstm", "transformer"])
def test_same_seed_same_predictions_other_seed_differs(name, data):
    a = model(name, seed=7).fit(data["train"], data["val"]).predict(data["test"])
    b = model(name, seed=7).fit(data["train"], data["val"]).predict(data["test"])
    c = model(name, seed=8).fit(data["train"], data["val"]).predict(data["test"])
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert not np.allclose(a.to_numpy(), c.to_numpy())


def test_heads_follow_the_target_and_the_params(data):
    both = model("lstm", heads="both").fit(data["train"])
    assert both.task == "both"
    assert list(both.predict(data["test"]).columns) == ["p_down", "p_up", "expected_return"]
    ret = market_samples(strength=0.4, n_bars=700, window=8, target="return")
    m = model("gru").fit(ret["train"], ret["val"])
    assert m.task == "return" and list(m.predict(ret["test"]).columns) == ["expected_return"]
    with pytest.raises(ModelError, match="class head needs class labels"):
        model("gru", heads="class").fit(ret["train"])


def test_seq2seq_trains_and_predicts_every_row(data):
    m = model("gru", seq2seq=True, chunk=64, chunks_per_batch=4).fit(data["train"], data["val"])
    pred = m.predict(data["test"])
    assert len(pred) == len(data["test"]) and np.isfinite(pred.to_numpy()).all()
    causal = model("transformer", seq2seq=True, causal=True, pooling="last", chunk=32)
    assert len(causal.fit(data["train"]).predict(data["test"])) == len(data["test"])
    with pytest.raises(ModelError, match="seq2seq needs a causal network"):
        model("lstm", seq2seq=True, bidirectional=True).fit(data["train"])


def test_panel_resnet_on_three_assets(panel_data, tmp_path):
    m = model("resnet1d", heads="both").fit(panel_data["train"], panel_data["val"])
    pred = m.predict(panel_data["test"])
    assert pred.index.names == ["asset", "timestamp"] and len(pred) == len(panel_data["test"])
    assert list(pred.columns) == ["p_flat", "p_up", "p_down", "expected_return"]
    m.save(tmp_path / "r")
    pd.testing.assert_frame_equal(Model.load(tmp_path / "r").predict(panel_data["test"]), pred)


def test_hybrid_attention_summary_over_lags(data, tmp_path):
    m = model("hybrid").fit(data["train"], data["val"])
    summary = m.attention_summary(data["test"])
    assert list(summary.index[:3]) == ["t", "t-1", "t-2"] and len(summary) == 8
    assert np.allclose(summary.sum(), 1.0)
    pd.testing.assert_frame_equal(m.attention_, m.attention_summary(data["val"]))
    m.save(tmp_path / "h")
    saved = pd.read_csv(tmp_path / "h" / "attention.csv", index_col="lag")
    pd.testing.assert_frame_equal(saved, m.attention_, check_exact=False)
    pd.testing.assert_frame_equal(Model.load(tmp_path / "h").attention_, m.attention_)


def test_profit_objective_and_class_weights_train(data):
    profit = model("lstm", objective="pnl", loss_weights={"class": 0.0}, monitor="sharpe")
    pred = profit.fit(data["train"], data["val"]).predict(data["test"])
    assert np.isfinite(pred.to_numpy()).all()
    assert {"val_sharpe", "val_auc"} <= set(profit.history_[0])
    model("gru", pos_weight="balanced").fit(data["train"])
    three = market_samples(strength=0.4, n_bars=600, window=8, classes=3)
    model("gru", class_weight="balanced").fit(three["train"])
    with pytest.raises(ModelError, match="class_weight must be"):
        model("gru", class_weight=[1.0]).fit(three["train"])


def test_parameter_and_input_errors(data):
    with pytest.raises(ModelError, match="did you mean 'hidden'"):
        create_model("lstm", hiden=8)
    with pytest.raises(ModelError, match="not fitted"):
        model("lstm").predict(data["test"])
    with pytest.raises(ModelError, match="longer than the Samples' window"):
        model("lstm", window=9).fit(data["train"])
    m = model("gru", epochs=1).fit(data["train"])
    other = market_samples(strength=0.4, n_bars=700, window=8)["test"]
    other.feature_names = ["a", "b"]
    with pytest.raises(ModelError, match="trained on features"):
        m.predict(other)


def test_empty_samples_give_an_empty_frame_with_the_columns(data):
    import dataclasses

    m = model("gru", epochs=1).fit(data["train"])
    empty = dataclasses.replace(data["test"], rows=data["test"].rows[:0])
    pred = m.predict(empty)
    assert len(pred) == 0 and list(pred.columns) == ["p_down", "p_up"]
