"""Hybrid: Transformer encoder -> BiLSTM -> attention pooling, with two heads.

x (B, T, F) -> Linear + LayerNorm -> + positions -> Transformer encoder (2 layers) ->
BiLSTM (2 layers) -> multi-head attention pooling (a learned query attends over the
BiLSTM states) -> class head (UP/DOWN/SIDEWAYS, or any K) and expected-return head. The
pooling weights come back as `attn` (B, pool_heads, T); `attention_summary` turns them
into mean attention per lag, where the window's last bar is `t`, the one before `t-1`...
The BiLSTM reads the whole window both ways, so this network has no per-step mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from edgelab.models.deep.heads import Heads
from edgelab.models.deep.transformer import SinusoidalPositions, check_length, positions


@dataclass
class HybridConfig:
    n_features: int
    n_logits: int = 3  # 0: no class head; 1: binary; K: K classes
    return_head: bool = True
    d_model: int = 64
    n_heads: int = 4
    encoder_layers: int = 2
    ff: int = 128
    lstm_hidden: int = 64
    lstm_layers: int = 2
    pool_heads: int = 4
    dropout: float = 0.1
    positions: str = "sinusoidal"  # or "learned"
    max_len: int = 1024


class HybridNet(nn.Module):
    supports_per_step = False

    def __init__(self, config: HybridConfig) -> None:
        super().__init__()
        c = self.config = config
        self.inp = nn.Sequential(nn.Linear(c.n_features, c.d_model), nn.LayerNorm(c.d_model))
        self.pos = positions(c.positions, c.d_model, c.max_len)
        layer = nn.TransformerEncoderLayer(
            c.d_model,
            c.n_heads,
            c.ff,
            c.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, c.encoder_layers, enable_nested_tensor=False)
        self.lstm = nn.LSTM(
            c.d_model, c.lstm_hidden, c.lstm_layers, batch_first=True, bidirectional=True,
            dropout=c.dropout if c.lstm_layers > 1 else 0.0,
        )  # fmt: skip
        d = 2 * c.lstm_hidden
        self.query = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.pool = nn.MultiheadAttention(d, c.pool_heads, batch_first=True)
        self.heads = Heads(d, c.n_logits, c.return_head, hidden=d, dropout=c.dropout)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        check_length(x.shape[1], self.config.max_len)
        h = self.inp(x)
        t = h.shape[1]
        h = h + (self.pos(t) if isinstance(self.pos, SinusoidalPositions) else self.pos[:t])
        s, _ = self.lstm(self.encoder(h))  # (B, T, 2H)
        q = self.query.expand(len(s), -1, -1)
        pooled, w = self.pool(q, s, s, need_weights=True, average_attn_weights=False)
        out = self.heads(pooled[:, 0])
        out["attn"] = w[:, :, 0]  # (B, pool_heads, T), rows sum to 1
        return out


def attention_summary(attn: np.ndarray | torch.Tensor) -> pd.DataFrame:
    """Mean attention per lag from weights (N, heads, T): rows `t`, `t-1`, ..., `t-(T-1)`
    (the window's last bar first), one column per head and their `mean`; columns sum to 1."""
    a = np.asarray(
        attn.detach().cpu() if isinstance(attn, torch.Tensor) else attn, dtype=np.float64
    )
    per_head = a.mean(0)[:, ::-1]  # (heads, T), lag 0 first
    lags = ["t"] + [f"t-{k}" for k in range(1, a.shape[2])]
    frame = pd.DataFrame(
        per_head.T,
        index=pd.Index(lags, name="lag"),
        columns=[f"head_{i}" for i in range(a.shape[1])],
    )
    frame["mean"] = per_head.mean(0)
    return frame
