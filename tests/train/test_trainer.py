"""The training loop: early stopping, schedules, clipping, logs, checkpoints, resume, seeds."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors import safe_open
from torch.optim.optimizer import register_optimizer_step_pre_hook
from train_helpers import Oracle, TinyNet, make_samples

from edgelab.errors import ModelError
from edgelab.train import Objective, TrainConfig, Trainer
from edgelab.train.device import amp_dtype, resolve_device
from edgelab.train.trainer import _CosineWarmup, validation_metrics
from edgelab.train.windows import ChunkSource, WindowSource

SIGN = torch.tensor([-1.0, 1.0])


def _objective(**kw) -> Objective:
    return Objective(n_logits=1, class_sign=SIGN, **kw)


def _sources(n=200, invert_val=False, seed=0):
    train = make_samples(n=n, seed=seed, identifiable=False)
    val = make_samples(n=n, seed=seed + 1, identifiable=False)
    if invert_val:  # what train teaches hurts validation: every epoch after the first is worse
        val.y[val.rows] = 1.0 - val.y[val.rows]
    return WindowSource(train, 32, shuffle=True, seed=seed), WindowSource(val, 64)


def _net(seed=0, **kw) -> TinyNet:
    torch.manual_seed(seed)
    return TinyNet(**kw)


def test_learns_and_reports_validation_metrics():
    train, val = _sources()
    net = _net()
    result = Trainer(epochs=8, lr=0.05, progress=False).fit(net, _objective(), train, val)
    last = result.history[-1]
    assert last["val_auc"] > 0.95 and last["val_accuracy"] > 0.9
    assert set(last) >= {
        "epoch",
        "train_loss",
        "val_loss",
        "val_pr_auc",
        "val_sharpe",
        "lr",
        "seconds",
    }
    assert math.isnan(last["val_ic"])  # no return head


def test_early_stopping_restores_the_best_epoch():
    train, val = _sources(invert_val=True)
    net = _net()
    trainer = Trainer(epochs=20, lr=0.05, patience=2, scheduler="none", progress=False)
    result = trainer.fit(net, _objective(), train, val)
    assert result.stopped_early and len(result.history) == 4  # best epoch 0 + 3 worse ones
    assert result.best_epoch == 0
    again = trainer.evaluate(net, _objective(), val)
    assert again["loss"] == pytest.approx(result.history[0]["val_loss"], rel=1e-6)


def test_plateau_halves_the_lr_after_each_bad_epoch():
    train, val = _sources(invert_val=True)
    cfg = TrainConfig(epochs=4, lr=0.01, patience=None, plateau_patience=0, progress=False)
    result = Trainer(cfg).fit(_net(), _objective(), train, val)
    assert [h["lr"] for h in result.history] == pytest.approx([0.01, 0.01, 0.005, 0.0025])


def test_cosine_warmup_schedule():
    f = _CosineWarmup(warmup=4, total=14, min_ratio=0.1)
    assert [f(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert (
        f(4) == pytest.approx(1.0) and f(9) == pytest.approx(0.55) and f(14) == pytest.approx(0.1)
    )
    train, val = _sources()
    cfg = TrainConfig(epochs=3, lr=0.01, scheduler="cosine", warmup_epochs=1, progress=False)
    result = Trainer(cfg).fit(_net(), _objective(), train, val)
    assert result.history[-1]["lr"] < result.history[1]["lr"] <= 0.01


def test_gradients_are_clipped_before_each_step():
    norms = []

    def hook(optimizer, args, kwargs):
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        norms.append(
            float(
                torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
            )
        )

    handle = register_optimizer_step_pre_hook(hook)
    try:
        train, _ = _sources()
        Trainer(epochs=1, grad_clip=1e-3, progress=False).fit(_net(), _objective(), train)
    finally:
        handle.remove()
    assert norms and max(norms) <= 1e-3 * (1 + 1e-5)


def test_same_seed_same_weights_other_seed_differs():
    def weights(seed):
        train, val = _sources()
        net = _net(0)
        Trainer(epochs=2, seed=seed, progress=False).fit(net, _objective(), train, val)
        return torch.cat([p.detach().flatten() for p in net.parameters()])

    assert torch.equal(weights(1), weights(1))
    assert not torch.equal(weights(1), weights(2))


def test_logs_plots_and_checkpoints(tmp_path):
    train, val = _sources()
    Trainer(epochs=3, log_dir=str(tmp_path), progress=False).fit(_net(), _objective(), train, val)
    hist = pd.read_csv(tmp_path / "history.csv")
    assert list(hist["epoch"]) == [0, 1, 2] and {"train_loss", "val_loss", "lr"} <= set(hist)
    assert json.loads((tmp_path / "history.json").read_text())[0]["epoch"] == 0
    assert (tmp_path / "training.png").read_bytes()[:4] == b"\x89PNG"
    with safe_open(str(tmp_path / "last.safetensors"), "pt") as fh:
        meta = json.loads(fh.metadata()["edgelab"])
        names = set(fh.keys())
        assert "model.cls.weight" in names and "rng.torch" in names
    assert meta["run"]["epoch"] == 3
    assert not list(tmp_path.glob("*.pt")) and not list(tmp_path.glob("*.pkl"))


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    def run(epochs, log_dir, resume=None):
        train, val = _sources()
        net = _net(0)
        cfg = TrainConfig(
            epochs=epochs, lr=0.02, log_dir=str(log_dir), resume=resume, progress=False
        )
        result = Trainer(cfg).fit(net, _objective(), train, val)
        return net, result

    full, full_result = run(4, tmp_path / "full")
    run(2, tmp_path / "half")
    resumed, resumed_result = run(
        4, tmp_path / "resumed", str(tmp_path / "half" / "last.safetensors")
    )
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert [h["val_loss"] for h in resumed_result.history] == [
        h["val_loss"] for h in full_result.history
    ]
    with pytest.raises(ModelError, match="no checkpoint"):
        run(4, tmp_path / "x", str(tmp_path / "missing.safetensors"))


def test_oracle_proves_windows_and_chunks_line_up():
    s = make_samples(n=300, window=6, assets=2)
    trainer = Trainer(progress=False)
    for source in (WindowSource(s, 64), ChunkSource(s, chunk=50, burn_in=5, batch_size=4)):
        metrics = trainer.evaluate(Oracle(), _objective(), source)
        assert metrics["accuracy"] == 1.0 and metrics["auc"] == 1.0


def test_validation_metrics_by_hand():
    got = {
        "proba": np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.1, 0.9]]),
        "y": np.array([0, 1, 1, 1]),
        "position": np.array([-0.6, 0.4, -0.2, 0.8]),
        "fwd": np.array([-0.01, 0.02, 0.01, 0.03]),
        "row": np.array([3, 0, 1, 2]),  # time order: rows 0, 1, 2, 3
        "asset": np.zeros(4, dtype=int),
    }
    m = validation_metrics(got, cost=0.001)
    assert m["accuracy"] == 0.75 and m["auc"] == pytest.approx(1.0)
    # in row order: positions +1, -1, +1, -1; turnover 1 (entry), 2, 2, 2
    pnl = np.array([0.02 - 0.001, -0.01 - 0.002, 0.03 - 0.002, 0.01 - 0.002])
    assert m["sharpe"] == pytest.approx(pnl.mean() / pnl.std())
    three = dict(got, proba=np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.6, 0.3, 0.1]]),
                 y=np.array([0, 1, 2, 0]))  # fmt: skip
    assert validation_metrics(three, 0.0)["auc"] == pytest.approx(1.0)


def test_bad_config_and_devices():
    with pytest.raises(ModelError, match="did you mean 'pr_auc'"):
        TrainConfig(monitor="pr-auc")
    with pytest.raises(ModelError, match="unknown scheduler"):
        TrainConfig(scheduler="step")
    assert resolve_device("auto").type in ("cuda", "mps", "cpu")
    with pytest.raises(ModelError, match="amp is only supported on CUDA"):
        amp_dtype(torch.device("cpu"), True)
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="CUDA is not available"):
            resolve_device("cuda")
    with pytest.raises(ModelError, match="no training batch"):
        empty = make_samples(n=3, window=5)
        Trainer(progress=False).fit(_net(), _objective(), WindowSource(empty))


def test_progress_bar_runs_and_shows_live_metrics():
    from edgelab.train.trainer import _progress

    train, val = _sources(n=100)
    result = Trainer(epochs=2, progress=True).fit(_net(), _objective(), train, val)
    assert len(result.history) == 2
    with _progress(True, total=4, done=0) as bar:
        bar.step(lambda: 0.5)
        bar.epoch_done(
            0, 2, {"train_loss": 0.5, "val_loss": 0.6, "val_auc": 0.7, "val_ic": float("nan")}
        )
        assert bar.text == " | epoch 1/2 val loss 0.6000 auc 0.7000"
