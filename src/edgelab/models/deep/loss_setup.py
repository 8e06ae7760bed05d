"""Class signs and class / positive weights of a `TorchModel`'s loss, from its Samples.

This module owns `SIGN_OF_NAME`, `class_signs`, `class_weight` and `pos_weight`.
"""

from __future__ import annotations

import numpy as np
import torch

from edgelab.dataset.samples import Samples
from edgelab.errors import ModelError

SIGN_OF_NAME = {"up": 1, "long": 1, "buy": 1, "down": -1, "short": -1, "sell": -1}


def class_signs(train: Samples) -> list[float]:
    """Position each class code stands for (+1 long, -1 short, 0 flat), in code order."""
    signs = train.meta.get("label_sign")
    if signs:
        return [float(signs[k]) for k in sorted(train.label_map)]
    named = [
        float(SIGN_OF_NAME.get(train.label_map[k].lower(), 0)) for k in sorted(train.label_map)
    ]
    if len(named) == 2 and not any(named):
        return [-1.0, 1.0]  # binary with unknown names: code 1 is the long class
    return named


def class_weight(spec, y: np.ndarray, n_logits: int, k: int) -> torch.Tensor | None:
    if spec is None or n_logits <= 1:
        return None
    if spec == "balanced":
        counts = np.bincount(y.astype(int), minlength=k).astype(float)
        return torch.tensor(len(y) / (k * np.maximum(counts, 1)), dtype=torch.float32)
    if isinstance(spec, list | tuple) and len(spec) == k:
        return torch.tensor([float(v) for v in spec], dtype=torch.float32)
    raise ModelError(
        f"class_weight must be null, 'balanced' or a list of {k} numbers, got {spec!r}"
    )


def pos_weight(spec, y: np.ndarray, n_logits: int) -> torch.Tensor | None:
    if spec is None or n_logits != 1:
        return None
    if spec == "balanced":
        pos = float((y == 1).sum())
        return torch.tensor((len(y) - pos) / max(pos, 1.0))
    if isinstance(spec, int | float) and spec > 0:
        return torch.tensor(float(spec))
    raise ModelError(f"pos_weight must be null, 'balanced' or a number > 0, got {spec!r}")
