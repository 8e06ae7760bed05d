"""BERT over token sequences: masked-LM pretraining and a [CLS] classification head.

ids (B, L) int64, L <= context + 1, position 0 holding [CLS] -> token embedding (codes
0..V-1 plus the special tokens [PAD] = V, [MASK] = V + 1, [CLS] = V + 2) + learned
position embedding -> LayerNorm, dropout -> pre-norm Transformer encoder (GELU) ->
final LayerNorm -> either
- the MLM head (dense, GELU, LayerNorm, then the transposed token embedding of the V real
  codes plus a bias: Devlin et al. tie input and output embeddings) -> `mlm_logits`
  (B, L, V), or
- the pooler on the [CLS] state (dense + tanh, as in BERT) -> dropout -> linear ->
  `logits` (B, n_classes).

`task` ("mlm" or "classify") chooses the head `forward` returns, so the one trainer can
train either stage by calling `net(x)`. Attention ignores [PAD] positions. The encoder is
bidirectional: a sequence's tokens must all be known when it is read (the pipeline builds
a sequence from tokens up to and including the bar being predicted, so it stays causal).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from edgelab.errors import ModelError

TASKS = ("mlm", "classify")


@dataclass
class BertConfig:
    vocab_size: int = 1536  # real tokens (the tokenizer's codebook size)
    context: int = 100  # tokens per sequence, [CLS] not counted
    d_model: int = 128
    n_heads: int = 4
    layers: int = 4
    ff: int = 512
    dropout: float = 0.1
    n_classes: int = 3

    def __post_init__(self) -> None:
        for name in ("vocab_size", "context", "d_model", "n_heads", "layers", "ff", "n_classes"):
            if int(getattr(self, name)) < 1:
                raise ModelError(f"BERT {name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads:
            raise ModelError(
                f"BERT d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ModelError(f"BERT dropout must be in [0, 1), got {self.dropout}")

    @property
    def pad_id(self) -> int:
        return self.vocab_size

    @property
    def mask_id(self) -> int:
        return self.vocab_size + 1

    @property
    def cls_id(self) -> int:
        return self.vocab_size + 2

    @property
    def n_embeddings(self) -> int:
        return self.vocab_size + 3

    def special_tokens(self) -> dict[str, int]:
        return {"[PAD]": self.pad_id, "[MASK]": self.mask_id, "[CLS]": self.cls_id}


class BertNet(nn.Module):
    """Token + position embeddings, Transformer encoder, MLM head and [CLS] head."""

    def __init__(self, config: BertConfig, task: str = "mlm") -> None:
        super().__init__()
        self.config = config
        self.task = task
        d = config.d_model
        self.tokens = nn.Embedding(config.n_embeddings, d)
        self.positions = nn.Parameter(torch.zeros(config.context + 1, d))
        self.embed_norm = nn.LayerNorm(d)
        self.drop = nn.Dropout(config.dropout)
        layer = nn.TransformerEncoderLayer(
            d, config.n_heads, config.ff, config.dropout,
            activation="gelu", batch_first=True, norm_first=True,
        )  # fmt: skip
        self.encoder = nn.TransformerEncoder(
            layer, config.layers, norm=nn.LayerNorm(d), enable_nested_tensor=False
        )
        self.mlm_transform = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.LayerNorm(d))
        self.mlm_bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.pooler = nn.Linear(d, d)
        self.classifier = nn.Linear(d, config.n_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # BERT's initialization: N(0, 0.02) for embeddings and dense layers, zero biases
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, std=0.02)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)
        nn.init.normal_(self.positions, std=0.02)

    @property
    def task(self) -> str:
        return self._task

    @task.setter
    def task(self, value: str) -> None:
        if value not in TASKS:
            raise ModelError(f"BERT task must be one of {', '.join(TASKS)}, got '{value}'")
        self._task = value

    def hidden(self, ids: torch.Tensor) -> torch.Tensor:
        """Final hidden states (B, L, d_model) of token ids (B, L)."""
        c = self.config
        if ids.ndim != 2 or ids.shape[1] > c.context + 1:
            raise ModelError(
                f"BERT input must be (batch, <= {c.context + 1}) token ids, got {tuple(ids.shape)}"
            )
        ids = ids.long()
        h = self.tokens(ids) + self.positions[: ids.shape[1]]
        h = self.drop(self.embed_norm(h))
        pad = ids == c.pad_id
        return self.encoder(h, src_key_padding_mask=pad if bool(pad.any()) else None)

    def mlm_logits(self, h: torch.Tensor) -> torch.Tensor:
        """(..., d_model) hidden states -> (..., vocab_size) logits over the real codes."""
        w = self.tokens.weight[: self.config.vocab_size]
        return self.mlm_transform(h) @ w.T + self.mlm_bias

    def class_logits(self, h: torch.Tensor) -> torch.Tensor:
        """(B, L, d_model) -> (B, n_classes) from the state at position 0 ([CLS])."""
        return self.classifier(self.drop(torch.tanh(self.pooler(h[:, 0]))))

    def forward(self, ids: torch.Tensor, task: str | None = None) -> dict[str, torch.Tensor]:
        """`{"mlm_logits": (B, L, V)}` for task "mlm", `{"logits": (B, n_classes)}` for
        "classify" (default: `self.task`)."""
        task = task or self.task
        h = self.hidden(ids)
        if task == "mlm":
            return {"mlm_logits": self.mlm_logits(h)}
        return {"logits": self.class_logits(h)}
