"""Output heads shared by every network: class logits and/or an expected return.

`Heads(d_in, n_logits, return_head)` maps features (..., d_in) to `{"logits": (..., K),
"ret": (...)}`; K = 1 is one logit for class code 1 (binary), K >= 3 one per class. With
`hidden > 0` a Linear-GELU-Dropout layer comes first (an MLP head). With `n_assets` set
(panel networks) every output gains an asset axis: logits (..., A, K), ret (..., A).
"""

from __future__ import annotations

import torch
from torch import nn


class Heads(nn.Module):
    def __init__(
        self,
        d_in: int,
        n_logits: int,
        return_head: bool,
        hidden: int = 0,
        dropout: float = 0.0,
        n_assets: int | None = None,
    ) -> None:
        super().__init__()
        self.n_logits, self.n_assets = n_logits, n_assets
        self.trunk = (
            nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(), nn.Dropout(dropout))
            if hidden
            else nn.Identity()
        )
        d, a = hidden or d_in, n_assets or 1
        self.cls = nn.Linear(d, a * n_logits) if n_logits else None
        self.ret = nn.Linear(d, a) if return_head else None

    def forward(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.trunk(h)
        out: dict[str, torch.Tensor] = {}
        if self.cls is not None:
            z = self.cls(h)
            out["logits"] = (
                z if self.n_assets is None else z.unflatten(-1, (self.n_assets, self.n_logits))
            )
        if self.ret is not None:
            r = self.ret(h)
            out["ret"] = r.squeeze(-1) if self.n_assets is None else r
        return out
