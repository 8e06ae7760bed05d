"""GRU over a window of feature rows, with per-step outputs (the workshop model).

x (B, T, F) -> class logits and/or expected return from the last step, or with
`per_step=True` at every step: logits (B, T, K), which is how the workshop model reads a
close/close-ratio series and emits up/down logits at each bar. Per-step outputs are causal
(step t reads rows <= t), so they can be trained sequence-to-sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from edgelab.models.deep.heads import Heads


@dataclass
class GRUConfig:
    n_features: int
    n_logits: int = 1  # 0: no class head; 1: binary; K: K classes
    return_head: bool = False
    hidden: int = 32
    layers: int = 1
    dropout: float = 0.0


class GRUNet(nn.Module):
    supports_per_step = True

    def __init__(self, config: GRUConfig) -> None:
        super().__init__()
        c = self.config = config
        self.gru = nn.GRU(
            c.n_features, c.hidden, c.layers, batch_first=True,
            dropout=c.dropout if c.layers > 1 else 0.0,
        )  # fmt: skip
        self.drop = nn.Dropout(c.dropout)
        self.heads = Heads(c.hidden, c.n_logits, c.return_head)

    def forward(self, x: torch.Tensor, per_step: bool = False) -> dict[str, torch.Tensor]:
        seq, _ = self.gru(x)  # (B, T, H)
        return self.heads(self.drop(seq if per_step else seq[:, -1]))
