"""Persistence of a `TorchModel`: its JSON state, safetensors weights and history files.

This module owns the bodies of `TorchModel.state`, `save_extra` and `set_state` (the
methods delegate here): nothing is pickled; loading rebuilds the network from its
config and reads the weights with safetensors.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from edgelab.errors import ModelError
from edgelab.train.losses import Objective
from edgelab.train.trainer import plot_history, write_history


def torch_state(model) -> dict[str, Any]:
    """The JSON state of a fitted `TorchModel` (`Model.state`): config, layout, history."""
    if model.net_ is None:
        raise ModelError(f"model '{model.registry_name}' is not fitted: nothing to save")
    return {
        "network": dataclasses.asdict(model.net_.config),
        "task": model.task,
        "window": model.window_,
        "feature_names": model.feature_names_,
        "assets": model.assets_,
        "label_map": {str(k): v for k, v in model.label_map_.items()},
        "target": model.target_,
        "return_target": model.return_target_,
        "ret_scale": model.ret_scale_,
        "class_sign": model.class_sign_,
        "best_epoch": model.best_epoch_,
        "history": model.history_,
    }


def save_weights(model, directory: Path) -> None:
    """`weights.safetensors` (atomic), history files and training.png (`Model.save_extra`)."""
    weights = {k: v.detach().cpu().contiguous() for k, v in model.net_.state_dict().items()}
    tmp = directory / ".weights.safetensors.tmp"
    save_file(weights, str(tmp))
    tmp.replace(directory / "weights.safetensors")
    if model.history_:
        write_history(model.history_, directory)
        if model.p("plots"):
            plot_history(model.history_, directory / "training.png")


def restore_state(model, state: dict[str, Any], directory: Path) -> None:
    """Rebuild the network from `state` and read its weights (`Model.set_state`)."""
    path = Path(directory) / "weights.safetensors"
    if not path.is_file():
        raise ModelError(f"model bundle '{directory}' has no weights.safetensors")
    model.net_ = model.net_class(model.config_class(**state["network"]))
    model.net_.load_state_dict(load_file(str(path)))
    model.net_.eval()
    model.task, model.window_ = state["task"], int(state["window"])
    model.feature_names_, model.assets_ = list(state["feature_names"]), list(state["assets"])
    model.label_map_ = {int(k): v for k, v in state["label_map"].items()}
    model.target_, model.return_target_ = state["target"], state["return_target"]
    model.ret_scale_, model.class_sign_ = float(state["ret_scale"]), list(state["class_sign"])
    model.best_epoch_, model.history_ = state["best_epoch"], state["history"]
    model.n_logits_ = state["network"]["n_logits"]
    model.return_head_ = state["network"]["return_head"]
    model.objective_ = Objective(
        n_logits=model.n_logits_, return_head=model.return_head_, return_target=model.return_target_,
        class_sign=torch.tensor(model.class_sign_) if model.class_sign_ else None,
        ret_scale=model.ret_scale_,
    )  # fmt: skip
