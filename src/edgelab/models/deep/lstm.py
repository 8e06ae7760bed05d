"""LSTM over a window of feature rows: x (B, T, F) -> class logits and/or expected return.

The last step's output (bidirectional: the final forward and backward states) feeds the
heads. `per_step=True` returns an output at every step (unidirectional only: a
bidirectional LSTM's step t has read later bars), for sequence-to-sequence training.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from edgelab.errors import ModelError
from edgelab.models.deep.heads import Heads


@dataclass
class LSTMConfig:
    n_features: int
    n_logits: int = 1  # 0: no class head; 1: binary; K: K classes
    return_head: bool = False
    hidden: int = 64
    layers: int = 2
    dropout: float = 0.1
    bidirectional: bool = False


class LSTMNet(nn.Module):
    def __init__(self, config: LSTMConfig) -> None:
        super().__init__()
        c = self.config = config
        self.lstm = nn.LSTM(
            c.n_features, c.hidden, c.layers, batch_first=True,
            dropout=c.dropout if c.layers > 1 else 0.0, bidirectional=c.bidirectional,
        )  # fmt: skip
        self.drop = nn.Dropout(c.dropout)
        self.heads = Heads(c.hidden * (2 if c.bidirectional else 1), c.n_logits, c.return_head)
        self.supports_per_step = not c.bidirectional

    def forward(self, x: torch.Tensor, per_step: bool = False) -> dict[str, torch.Tensor]:
        seq, (h, _) = self.lstm(x)  # seq (B, T, H * dirs); h (layers * dirs, B, H)
        if per_step:
            if not self.supports_per_step:
                raise ModelError("a bidirectional LSTM has no causal per-step output")
            return self.heads(self.drop(seq))
        last = torch.cat([h[-2], h[-1]], -1) if self.config.bidirectional else seq[:, -1]
        return self.heads(self.drop(last))
