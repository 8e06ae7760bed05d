"""Encoder-only Transformer over a window of feature rows.

x (B, T, F) -> Linear to d_model -> + positions (sinusoidal, or learned) -> pre-norm
encoder layers (GELU) -> pooled over time (mean, a CLS token, or the last step) -> GELU
MLP head -> class logits and/or expected return. With `causal=True` step t attends only to
steps <= t, so `per_step=True` gives one causal output per step (sequence-to-sequence).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from edgelab.errors import ModelError
from edgelab.models.deep.heads import Heads


@dataclass
class TransformerConfig:
    n_features: int
    n_logits: int = 1  # 0: no class head; 1: binary; K: K classes
    return_head: bool = False
    d_model: int = 64
    n_heads: int = 4
    layers: int = 2
    ff: int = 128
    dropout: float = 0.1
    positions: str = "sinusoidal"  # or "learned"
    pooling: str = "mean"  # or "cls", "last"
    causal: bool = False
    max_len: int = 1024

    def __post_init__(self) -> None:
        if self.positions not in ("sinusoidal", "learned"):
            raise ModelError(
                f"transformer positions must be 'sinusoidal' or 'learned', got '{self.positions}'"
            )
        if self.pooling not in ("mean", "cls", "last"):
            raise ModelError(
                f"transformer pooling must be 'mean', 'cls' or 'last', got '{self.pooling}'"
            )
        if self.causal and self.pooling == "cls":
            raise ModelError(
                "a causal transformer cannot pool on a CLS token (it sees nothing); use pooling: last"
            )
        if self.d_model % self.n_heads:
            raise ModelError(
                f"transformer d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})"
            )


class SinusoidalPositions(nn.Module):
    """Fixed sine/cosine positions (Vaswani et al.), (max_len, d); not saved with the weights."""

    def __init__(self, d: int, max_len: int) -> None:
        super().__init__()
        pos = torch.arange(max_len, dtype=torch.float32)[:, None]
        freq = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
        pe = torch.zeros(max_len, d)
        pe[:, 0::2] = torch.sin(pos * freq)
        pe[:, 1::2] = torch.cos(pos * freq[: d // 2])
        self.register_buffer("pe", pe, persistent=False)

    def forward(self, length: int) -> torch.Tensor:
        return self.pe[:length]


def positions(kind: str, d: int, max_len: int) -> nn.Module | nn.Parameter:
    if kind == "sinusoidal":
        return SinusoidalPositions(d, max_len)
    return nn.Parameter(torch.randn(max_len, d) * 0.02)


def check_length(length: int, max_len: int) -> None:
    if length > max_len:
        raise ModelError(
            f"sequence of {length} steps is longer than max_len {max_len}; raise max_len"
        )


class TransformerNet(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        c = self.config = config
        self.supports_per_step = c.causal
        self.inp = nn.Linear(c.n_features, c.d_model)
        self.pos = positions(c.positions, c.d_model, c.max_len + 1)  # + 1: room for CLS
        self.cls = nn.Parameter(torch.randn(1, 1, c.d_model) * 0.02) if c.pooling == "cls" else None
        layer = nn.TransformerEncoderLayer(
            c.d_model,
            c.n_heads,
            c.ff,
            c.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, c.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(c.d_model)
        self.heads = Heads(
            c.d_model, c.n_logits, c.return_head, hidden=c.d_model, dropout=c.dropout
        )

    def forward(self, x: torch.Tensor, per_step: bool = False) -> dict[str, torch.Tensor]:
        c = self.config
        check_length(x.shape[1], c.max_len)
        h = self.inp(x)
        if self.cls is not None:
            h = torch.cat([self.cls.expand(len(h), -1, -1), h], 1)
        t = h.shape[1]
        h = h + (self.pos(t) if isinstance(self.pos, SinusoidalPositions) else self.pos[:t])
        mask = (
            nn.Transformer.generate_square_subsequent_mask(t, device=h.device) if c.causal else None
        )
        h = self.norm(self.encoder(h, mask=mask, is_causal=c.causal))
        if per_step:
            if not c.causal:
                raise ModelError("per-step outputs need a causal transformer (causal: true)")
            return self.heads(h)
        pooled = h[:, 0] if c.pooling == "cls" else h[:, -1] if c.pooling == "last" else h.mean(1)
        return self.heads(pooled)
