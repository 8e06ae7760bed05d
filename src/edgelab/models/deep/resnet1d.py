"""ResNet1D over a multi-asset panel: residual 1-D convolutions, no batch norm.

x (B, T, C) with C = assets x features as channels (e.g. 20 x 8 over 512 steps)
-> stem convolution -> stages of residual blocks (each stage after the first halves time
and doubles channels) -> [average over time, last step] -> FC -> per-asset heads: ret
(B, A) and/or logits (B, A, K). The last step is kept beside the average because the
freshest bars usually carry most of the signal, which an average over 512 steps dilutes. Without batch norm, each block's last convolution starts at
zero, so every block starts as its skip path and the deep stack trains stably.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from edgelab.models.deep.heads import Heads


@dataclass
class ResNet1DConfig:
    n_features: int  # input channels: assets x features per asset
    n_assets: int = 1  # outputs: one per asset
    n_logits: int = 0  # 0: no class head; 1: binary; K: K classes
    return_head: bool = True
    channels: int = 32
    stages: tuple[int, ...] = (1, 1, 1)  # residual blocks per stage
    kernel: int = 5
    hidden: int = 64
    dropout: float = 0.1

    def __post_init__(self) -> None:
        self.stages = tuple(int(s) for s in self.stages)


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__()
        pad = kernel // 2
        self.conv1 = nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=pad)
        self.conv2 = nn.Conv1d(c_out, c_out, kernel, padding=pad)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        same = c_in == c_out and stride == 1
        self.skip = nn.Identity() if same else nn.Conv1d(c_in, c_out, 1, stride=stride)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.skip(x) + self.conv2(self.act(self.conv1(x))))


class ResNet1DNet(nn.Module):
    supports_per_step = False
    panel = True

    def __init__(self, config: ResNet1DConfig) -> None:
        super().__init__()
        c = self.config = config
        self.stem = nn.Sequential(nn.Conv1d(c.n_features, c.channels, 7, padding=3), nn.ReLU())
        blocks, ch = [], c.channels
        for i, n in enumerate(c.stages):
            out = c.channels * 2**i
            for j in range(n):
                blocks.append(ResBlock(ch, out, c.kernel, stride=2 if i > 0 and j == 0 else 1))
                ch = out
        self.blocks = nn.Sequential(*blocks)
        self.heads = Heads(
            2 * ch,
            c.n_logits,
            c.return_head,
            hidden=c.hidden,
            dropout=c.dropout,
            n_assets=c.n_assets,
        )

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.blocks(self.stem(x.transpose(1, 2)))  # (B, C, T')
        return self.heads(torch.cat([h.mean(-1), h[..., -1]], -1))
