"""Small hand-made Samples for the batching, loss and trainer tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from edgelab.dataset.samples import Samples, valid_window_rows


def make_samples(
    n: int = 60,
    f: int = 3,
    window: int = 5,
    assets: int = 1,
    seed: int = 0,
    k: int = 2,
    labeled: np.ndarray | None = None,
    shift: int = 0,
    identifiable: bool = True,
) -> Samples:
    """`assets` stacked runs of n rows each; X[i, j] = 100 * i + j (row-identifiable).

    y = code of the sign of feature 0 of the row (k = 2), forward_return = a seeded
    normal draw. `labeled` (bool, n * assets) marks labeled rows (default all);
    asset a's timestamps are shifted by `a * shift` hours (misaligned panels);
    `identifiable=False`: every feature is standard normal noise (for learning tests).
    """
    rng = np.random.default_rng(seed)
    total = n * assets
    X = (100.0 * np.arange(total)[:, None] + np.arange(f)[None, :]).astype(np.float32)
    if not identifiable:  # plain noise features (for learning)
        X = rng.normal(size=(total, f)).astype(np.float32)
    X[:, 0] = rng.normal(size=total)
    y = (X[:, 0] > 0).astype(np.float64) if k == 2 else rng.integers(0, k, total).astype(float)
    asset = np.repeat(np.arange(assets), n).astype(np.int32)
    times = [
        pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC") + pd.Timedelta(hours=a * shift)
        for a in range(assets)
    ]
    index = times[0].append(times[1:]) if assets > 1 else times[0]
    lab = np.ones(total, bool) if labeled is None else labeled
    y[~lab] = np.nan
    label_map = {0: "down", 1: "up"} if k == 2 else {0: "flat", 1: "up", 2: "down"}
    return Samples(
        X=X,
        y=y,
        index=pd.DatetimeIndex(index),
        asset=asset,
        rows=valid_window_rows(asset, lab, window),
        feature_names=[f"f{j}" for j in range(f)],
        assets=[f"A{a}" for a in range(assets)],
        label_map=label_map,
        window=window,
        forward_return=rng.normal(0, 0.01, total),
    )


class TinyNet(nn.Module):
    """Last row's features -> Linear -> Dropout -> one logit (or per step with per_step)."""

    supports_per_step = True

    def __init__(
        self, f: int = 3, hidden: int = 8, dropout: float = 0.2, return_head: bool = False
    ):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(f, hidden), nn.Tanh(), nn.Dropout(dropout))
        self.cls = nn.Linear(hidden, 1)
        self.ret = nn.Linear(hidden, 1) if return_head else None

    def forward(self, x: torch.Tensor, per_step: bool = False) -> dict[str, torch.Tensor]:
        h = self.body(x if per_step else x[:, -1])
        out = {"logits": self.cls(h)}
        if self.ret is not None:
            out["ret"] = self.ret(h).squeeze(-1)
        return out


class Oracle(nn.Module):
    """logit = 50 * feature 0 of the row being predicted: perfect iff windows line up."""

    supports_per_step = True

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, per_step: bool = False) -> dict[str, torch.Tensor]:
        z = 50.0 * (x[..., 0] if per_step else x[:, -1, 0])
        return {"logits": (z + self.dummy)[..., None]}
