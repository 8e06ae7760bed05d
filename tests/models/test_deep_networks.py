"""The networks alone: output shapes, causal per-step outputs, overfitting one batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgelab.errors import ModelError
from edgelab.models.deep.gru import GRUConfig, GRUNet
from edgelab.models.deep.hybrid import HybridConfig, HybridNet, attention_summary
from edgelab.models.deep.lstm import LSTMConfig, LSTMNet
from edgelab.models.deep.resnet1d import ResNet1DConfig, ResNet1DNet
from edgelab.models.deep.transformer import TransformerConfig, TransformerNet
from edgelab.train.losses import class_loss

F = 3
TINY = {
    "lstm": (LSTMConfig, LSTMNet, {"hidden": 12, "layers": 2, "dropout": 0.0}),
    "bilstm": (LSTMConfig, LSTMNet, {"hidden": 12, "layers": 1, "bidirectional": True, "dropout": 0.0}),
    "gru": (GRUConfig, GRUNet, {"hidden": 12}),
    "transformer": (TransformerConfig, TransformerNet, {"d_model": 16, "n_heads": 2, "layers": 1, "ff": 32, "dropout": 0.0}),
    "transformer_cls_learned": (TransformerConfig, TransformerNet, {"d_model": 16, "n_heads": 2, "layers": 1, "ff": 32, "dropout": 0.0, "pooling": "cls", "positions": "learned", "max_len": 64}),
    "transformer_causal": (TransformerConfig, TransformerNet, {"d_model": 16, "n_heads": 2, "layers": 2, "ff": 32, "dropout": 0.0, "causal": True, "pooling": "last"}),
    "hybrid": (HybridConfig, HybridNet, {"d_model": 16, "n_heads": 2, "ff": 32, "lstm_hidden": 8, "pool_heads": 2, "dropout": 0.0}),
    "resnet1d": (ResNet1DConfig, ResNet1DNet, {"channels": 8, "stages": (1, 1), "hidden": 16, "dropout": 0.0}),
}  # fmt: skip
HEADS = [(1, False), (3, False), (0, True), (3, True)]


def build(name: str, n_logits: int, return_head: bool, n_assets: int = 2):
    config_class, net_class, kw = TINY[name]
    extra = {"n_assets": n_assets} if name == "resnet1d" else {}
    f = F * n_assets if name == "resnet1d" else F  # resnet1d: assets x features channels
    torch.manual_seed(0)
    return net_class(
        config_class(n_features=f, n_logits=n_logits, return_head=return_head, **extra, **kw)
    )


@pytest.mark.parametrize("name", TINY)
@pytest.mark.parametrize(("n_logits", "return_head"), HEADS)
def test_output_shapes_over_batch_sizes_and_window_lengths(name, n_logits, return_head):
    assets = 2
    net = build(name, n_logits, return_head, assets).eval()
    channels = F * assets if name == "resnet1d" else F
    for batch in (1, 4):
        for steps in (1, 9, 33):
            out = net(torch.randn(batch, steps, channels))
            lead = (batch, assets) if name == "resnet1d" else (batch,)
            if n_logits:
                assert out["logits"].shape == (*lead, n_logits)
            else:
                assert "logits" not in out
            if return_head:
                assert out["ret"].shape == lead
            else:
                assert "ret" not in out
            if name == "hybrid":
                assert out["attn"].shape == (batch, 2, steps)
                assert torch.allclose(out["attn"].sum(-1), torch.ones(batch, 2))


@pytest.mark.parametrize("name", ["lstm", "gru", "transformer_causal"])
def test_per_step_outputs_are_causal(name):
    net = build(name, 3, True).eval()
    x = torch.randn(2, 20, F)
    out = net(x, per_step=True)
    assert out["logits"].shape == (2, 20, 3) and out["ret"].shape == (2, 20)
    y = x.clone()
    y[:, 12:] = torch.randn(2, 8, F)  # change the future of step 11
    again = net(y, per_step=True)
    torch.testing.assert_close(again["logits"][:, :12], out["logits"][:, :12])
    assert not torch.allclose(again["logits"][:, 12:], out["logits"][:, 12:])
    # the last per-step output is the pooled (last-step) output
    torch.testing.assert_close(net(x)["logits"], out["logits"][:, -1])


@pytest.mark.parametrize("name", ["bilstm", "transformer"])
def test_non_causal_networks_refuse_per_step(name):
    with pytest.raises(ModelError, match="bidirectional|causal"):
        build(name, 1, False)(torch.randn(1, 5, F), per_step=True)


def test_invalid_transformer_configs():
    with pytest.raises(ModelError, match="CLS"):
        TransformerConfig(n_features=2, causal=True, pooling="cls")
    with pytest.raises(ModelError, match="divisible"):
        TransformerConfig(n_features=2, d_model=10, n_heads=4)
    with pytest.raises(ModelError, match="max_len"):
        build("transformer_cls_learned", 1, False)(torch.randn(1, 65, F))


@pytest.mark.parametrize("name", TINY)
def test_overfits_one_small_batch(name):
    """16 windows with random labels (and returns): the network must memorize them."""
    torch.manual_seed(1)
    assets = 2
    channels = F * assets if name == "resnet1d" else F
    x = torch.randn(16, 8, channels)
    net = build(name, 1 if name != "resnet1d" else 0, name == "resnet1d", assets)
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2 if name == "resnet1d" else 3e-2)
    y = torch.randint(0, 2, (16,)).float()
    r = torch.randn(16, assets)
    for _ in range(300):
        out = net(x)
        loss = (out["ret"] - r).abs().mean() if name == "resnet1d" else class_loss(out["logits"], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if float(loss.detach()) < 0.02:
            break
    assert float(loss.detach()) < 0.05


def test_attention_summary_labels_lags_from_the_last_bar():
    attn = np.zeros((4, 2, 5))
    attn[:, 0, -1] = 1.0  # head 0: all on the last bar (t)
    attn[:, 1, -2] = 1.0  # head 1: all on the bar before (t-1)
    frame = attention_summary(attn)
    assert list(frame.index) == ["t", "t-1", "t-2", "t-3", "t-4"]
    assert frame.loc["t", "head_0"] == 1.0 and frame.loc["t-1", "head_1"] == 1.0
    assert frame.loc["t", "mean"] == 0.5 and np.allclose(frame.sum(), 1.0)
