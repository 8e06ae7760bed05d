"""The token model's stages, each trained by the one `edgelab.train.Trainer`.

    normalized bars X (n, F) --fit_tokenizer--> VQVAE --tokenize--> tokens (n,)
    tokens --pretrain_mlm--> BertNet (MLM head) --finetune--> BertNet ([CLS] head)
    tokens + Samples --class_probabilities--> (n_targets, k)

`TokenModelConfig` gathers every hyper-parameter: the tokenizer's network (`VQVAEConfig`)
and training (`TokenizerFit`), BERT's network (`BertConfig`), pretraining (`PretrainFit`)
and fine-tuning (`FinetuneFit`). `TokenModelConfig.from_params` reads the nested dict a
YAML recipe gives (`tokenizer`, `bert`, `pretrain`, `finetune`, `seed`, `device`,
`log_dir`) and names any unknown key with a suggestion.

Everything fitted is fitted on the arrays it is given: callers pass the training split
only (the validation split drives early stopping and the reported metrics).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgelab.dataset.samples import Samples
from edgelab.errors import ModelError, unknown_name
from edgelab.models.tokens.bert import BertConfig, BertNet
from edgelab.models.tokens.objectives import (
    MLMObjective,
    MLMSource,
    PatchSource,
    SequenceSource,
    VQObjective,
    patch_rows,
    sequence_rows,
)
from edgelab.models.tokens.vqvae import VQVAE, VQVAEConfig
from edgelab.train.device import resolve_device
from edgelab.train.losses import Objective
from edgelab.train.trainer import TrainConfig, Trainer, TrainResult


@dataclass
class TokenizerFit:
    epochs: int = 10
    lr: float = 2e-3
    batch_size: int = 256
    weight_decay: float = 0.0
    commitment: float = 0.25
    patience: int | None = 3


@dataclass
class PretrainFit:
    epochs: int = 10
    lr: float = 5e-4
    batch_size: int = 64
    weight_decay: float = 0.01
    warmup_epochs: float = 1.0
    stride: int = 1  # rows between the ends of consecutive training sequences
    mask_rate: float = 0.15
    patience: int | None = None


@dataclass
class FinetuneFit:
    epochs: int = 10
    lr: float = 2e-4
    batch_size: int = 64
    weight_decay: float = 0.01
    warmup_epochs: float = 0.5
    class_weight: str | list[float] | None = "balanced"
    freeze_encoder: bool = False  # train only the pooler and classifier
    stride: int = 1  # train on every stride-th target row (neighbours' labels overlap)
    patience: int | None = 3
    monitor: str = "loss"


# network fields that come from the data, never from params
DERIVED = {"n_features", "vocab_size", "n_classes"}


@dataclass
class TokenModelConfig:
    vqvae: VQVAEConfig = field(default_factory=VQVAEConfig)
    tokenizer_fit: TokenizerFit = field(default_factory=TokenizerFit)
    bert: BertConfig = field(default_factory=BertConfig)
    pretrain: PretrainFit = field(default_factory=PretrainFit)
    finetune: FinetuneFit = field(default_factory=FinetuneFit)
    seed: int = 0
    device: str = "auto"
    log_dir: str | None = None

    @classmethod
    def from_params(cls, params: dict[str, Any], n_features: int = 4, n_classes: int = 3):
        """Build from `{tokenizer: {...}, bert: {...}, pretrain: {...}, finetune: {...},
        seed, device, log_dir}`; `tokenizer` takes VQVAEConfig and TokenizerFit fields."""
        top = {"tokenizer", "bert", "pretrain", "finetune", "seed", "device", "log_dir"}
        for key in params:
            if key not in top:
                raise ModelError(unknown_name("parameter of model 'bert_tokens'", key, top))
        tok = dict(params.get("tokenizer") or {})
        vq_keys, fit_keys = _names(VQVAEConfig) - DERIVED, _names(TokenizerFit)
        _check(tok, vq_keys | fit_keys, "tokenizer")
        vqvae = VQVAEConfig(n_features=n_features, **{k: v for k, v in tok.items() if k in vq_keys})
        bert_params = dict(params.get("bert") or {})
        _check(bert_params, _names(BertConfig) - DERIVED, "bert")
        bert = BertConfig(vocab_size=vqvae.codebook_size, n_classes=n_classes, **bert_params)
        pre, fine = dict(params.get("pretrain") or {}), dict(params.get("finetune") or {})
        _check(pre, _names(PretrainFit), "pretrain")
        _check(fine, _names(FinetuneFit), "finetune")
        return cls(
            vqvae=vqvae,
            tokenizer_fit=TokenizerFit(**{k: v for k, v in tok.items() if k in fit_keys}),
            bert=bert,
            pretrain=PretrainFit(**pre),
            finetune=FinetuneFit(**fine),
            seed=int(params.get("seed", 0)),
            device=str(params.get("device", "auto")),
            log_dir=params.get("log_dir"),
        )

    @property
    def window(self) -> int:
        """Rows of X one prediction reads: `context` tokens of `patch` bars."""
        return self.bert.context * self.vqvae.patch


def _names(klass) -> set[str]:
    return {f.name for f in dataclasses.fields(klass)}


def _check(given: dict, allowed: set[str], block: str) -> None:
    for key in given:
        if key not in allowed:
            raise ModelError(
                unknown_name(f"parameter of bert_tokens '{block}'", key, sorted(allowed))
            )


def _trainer(fit, config: TokenModelConfig, stage: str, **extra) -> Trainer:
    log = str(Path(config.log_dir) / stage) if config.log_dir else None
    return Trainer(
        TrainConfig(
            epochs=fit.epochs, lr=fit.lr, weight_decay=fit.weight_decay,
            scheduler="cosine", warmup_epochs=getattr(fit, "warmup_epochs", 0.0),
            patience=fit.patience, seed=config.seed, device=config.device,
            progress=False, log_dir=log, **extra,
        )
    )  # fmt: skip


def _seeded(seed: int, build):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


# --- tokenizer ------------------------------------------------------------------------------


def fit_tokenizer(
    X: np.ndarray,
    asset: np.ndarray,
    config: TokenModelConfig,
    X_val: np.ndarray | None = None,
    asset_val: np.ndarray | None = None,
) -> tuple[VQVAE, TrainResult]:
    """Train the VQ-VAE on every full patch of X (n, F) float32 (rows stacked per asset,
    `asset` the id per row); validation patches of X_val drive early stopping."""
    vq, fit = config.vqvae, config.tokenizer_fit
    if X.ndim != 2 or X.shape[1] != vq.n_features:
        raise ModelError(f"tokenizer input must be (rows, {vq.n_features}), got {X.shape}")
    net = _seeded(config.seed, lambda: VQVAE(vq))
    train = PatchSource(
        X, patch_rows(asset, vq.patch), vq.patch, fit.batch_size, shuffle=True, seed=config.seed
    )
    if len(train) == 0:
        raise ModelError(f"no full patch of {vq.patch} bars in the tokenizer's training rows")
    val = None
    if X_val is not None and len(X_val):
        val = PatchSource(X_val, patch_rows(asset_val, vq.patch), vq.patch, 4096)
    objective = VQObjective(vq.codebook_size, fit.commitment)
    result = _trainer(fit, config, "tokenizer").fit(net, objective, train, val)
    return net.eval(), result


def tokenize(vqvae: VQVAE, X: np.ndarray, asset: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Token per row of X (n, F): the code of the patch ending at that row, or the [PAD]
    id (= codebook_size) where the patch would start before the row's asset. (n,) int64.
    Deterministic and causal (row t reads rows t - patch + 1 .. t)."""
    p = vqvae.config.patch
    out = np.full(len(X), vqvae.config.codebook_size, dtype=np.int64)
    rows = patch_rows(np.asarray(asset), p)
    device = next(vqvae.parameters()).device
    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    for i in range(0, len(rows), chunk):
        r = torch.from_numpy(rows[i : i + chunk])
        patches = torch.stack([Xt[r - (p - 1) + j] for j in range(p)], 1)
        out[rows[i : i + chunk]] = vqvae.encode(patches.to(device)).cpu().numpy()
    return out


def token_counts(tokens: np.ndarray, vocab_size: int) -> np.ndarray:
    """How often each real token occurs (PAD and special ids excluded), (vocab_size,)."""
    t = np.asarray(tokens)
    return np.bincount(t[(t >= 0) & (t < vocab_size)], minlength=vocab_size)


def top_tokens(counts: np.ndarray, k: int = 5) -> tuple[int, ...]:
    """The k most frequent tokens, most frequent first (ties: lower id first)."""
    return tuple(int(i) for i in np.argsort(-counts, kind="stable")[:k])


# --- BERT -------------------------------------------------------------------------------------


def mlm_source(tokens, asset, config: TokenModelConfig, stride: int, training: bool):
    b, p = config.bert, config.vqvae.patch
    ends = sequence_rows(tokens, asset, b.context, p, b.pad_id)[::stride]
    return MLMSource(
        tokens, ends, asset, context=b.context, patch=p, vocab_size=b.vocab_size,
        batch_size=config.pretrain.batch_size, mask_rate=config.pretrain.mask_rate,
        shuffle=training, seed=config.seed,
    )  # fmt: skip


def pretrain_mlm(
    tokens: np.ndarray,
    asset: np.ndarray,
    config: TokenModelConfig,
    tokens_val: np.ndarray | None = None,
    asset_val: np.ndarray | None = None,
    net: BertNet | None = None,
) -> tuple[BertNet, TrainResult, MLMObjective]:
    """Masked-LM pretraining on the sequences of `tokens` (row-aligned with `asset`); the
    returned objective's `passes` hold the per-epoch validation top-1 / top-5 accuracy."""
    net = net or _seeded(config.seed, lambda: BertNet(config.bert))
    net.task = "mlm"
    stride = int(config.pretrain.stride)
    if stride < 1:
        raise ModelError(f"pretrain stride must be >= 1, got {stride}")
    train = mlm_source(tokens, asset, config, stride, training=True)
    if len(train) == 0:
        raise ModelError(
            f"no training sequence of {config.bert.context} tokens: the training split is too "
            "short for the context (lower bert.context or load more data)"
        )
    val = None
    if tokens_val is not None:
        val = mlm_source(tokens_val, asset_val, config, stride, training=False)
        val = val if len(val) else None
    counts = token_counts(tokens, config.bert.vocab_size)
    objective = MLMObjective(config.bert.vocab_size, top_tokens(counts))
    result = _trainer(config.pretrain, config, "pretrain").fit(net, objective, train, val)
    return net, result, objective


def _class_weight(spec, y: np.ndarray, k: int) -> torch.Tensor | None:
    if spec is None:
        return None
    if spec == "balanced":
        counts = np.bincount(y.astype(int), minlength=k).astype(float)
        return torch.tensor(len(y) / (k * np.maximum(counts, 1)), dtype=torch.float32)
    if isinstance(spec, list | tuple) and len(spec) == k:
        return torch.tensor([float(v) for v in spec], dtype=torch.float32)
    raise ModelError(f"finetune class_weight must be null, 'balanced' or {k} numbers, got {spec!r}")


def class_signs(label_map: dict[int, str], label_sign: dict | None = None) -> list[float]:
    """Position each class code stands for, in code order (+1 long/up, -1 short/down, 0)."""
    if label_sign:
        return [float(label_sign[k]) for k in sorted(label_map)]
    sign = {"long": 1.0, "up": 1.0, "buy": 1.0, "short": -1.0, "down": -1.0, "sell": -1.0}
    return [sign.get(label_map[k].lower(), 0.0) for k in sorted(label_map)]


def classification_objective(config: TokenModelConfig, train: Samples, cost: float) -> Objective:
    k = train.n_classes
    signs = class_signs(train.label_map, train.meta.get("label_sign"))
    return Objective(
        n_logits=k,
        class_weight=_class_weight(config.finetune.class_weight, train.targets(), k),
        class_sign=torch.tensor(signs, dtype=torch.float32),
        cost=cost,
    )


def sequence_source(samples: Samples, tokens, config: TokenModelConfig, training: bool, batch=None):
    b = config.bert
    return SequenceSource(
        samples, tokens, context=b.context, patch=config.vqvae.patch, cls_id=b.cls_id,
        batch_size=batch or config.finetune.batch_size, shuffle=training, seed=config.seed,
    )  # fmt: skip


def finetune(
    net: BertNet,
    train: Samples,
    tokens: np.ndarray,
    config: TokenModelConfig,
    val: Samples | None = None,
    tokens_val: np.ndarray | None = None,
    cost: float = 0.001,
) -> tuple[BertNet, TrainResult, Objective]:
    """Fine-tune the [CLS] head (and, unless `freeze_encoder`, the encoder) on the class
    labels of `train` (token sequences ending at each target row)."""
    if train.target != "class" or train.n_classes != config.bert.n_classes:
        raise ModelError(
            f"fine-tuning needs class labels with {config.bert.n_classes} classes, got "
            f"target '{train.target}' with {train.n_classes} classes"
        )
    net.task = "classify"
    head = ("pooler.", "classifier.")
    for name, p in net.named_parameters():
        p.requires_grad_(not config.finetune.freeze_encoder or name.startswith(head))
    fit = config.finetune
    if int(fit.stride) < 1:
        raise ModelError(f"finetune stride must be >= 1, got {fit.stride}")
    objective = classification_objective(config, train, cost)
    sub = dataclasses.replace(train, rows=train.rows[:: int(fit.stride)])
    src = sequence_source(sub, tokens, config, training=True)
    val_src = (
        sequence_source(val, tokens_val, config, False) if val is not None and len(val) else None
    )
    result = _trainer(fit, config, "finetune", monitor=fit.monitor, cost=cost).fit(
        net, objective, src, val_src
    )
    for p in net.parameters():
        p.requires_grad_(True)
    return net, result, objective


@torch.inference_mode()
def class_probabilities(
    net: BertNet, samples: Samples, tokens: np.ndarray, config: TokenModelConfig, batch: int = 512
) -> np.ndarray:
    """Class probabilities (len(samples.rows), k) in `samples.rows` order."""
    device = resolve_device(config.device)
    net = net.to(device).eval()
    parts = [
        torch.softmax(net(b.x.to(device), task="classify")["logits"].float(), -1).cpu().numpy()
        for b in sequence_source(samples, tokens, config, False, batch).batches(0)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, config.bert.n_classes))
