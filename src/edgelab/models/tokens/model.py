"""`bert_tokens`: the token model under the house `Model` contract (registry name).

fit(train, val): VQ-VAE on the training rows' features -> tokens -> BERT masked-LM
pretraining on the training token sequences -> fine-tuning of the [CLS] head on the
training labels; the validation split drives early stopping and the reported metrics.
predict(samples): tokens of `samples.X` -> `p_<class>` per target row.

The features are expected to be normalized bars (the `heikin_ashi_stoch` feature set: mid
price Heikin-Ashi, stochastically normalized); any float features work.

Bundle (`save(dir)`): `weights.safetensors` (`vqvae.*` and `bert.*` tensors), `model.json`
(every config, label map, feature names, codebook statistics, the per-stage histories
and the MLM table), `vocab.json` (token ids, special tokens, training frequencies),
`mlm_epochs.csv`, and `reconstruction.png` when the reconstruction sample is kept.
Loading reads safetensors and JSON only; the loaded model gives identical tokens and
predictions.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from edgelab.dataset.samples import Samples
from edgelab.errors import ModelError
from edgelab.models.base import Model, class_columns, register_model, write_json_atomic
from edgelab.models.tokens.bert import BertConfig, BertNet
from edgelab.models.tokens.stages import (
    FinetuneFit,
    PretrainFit,
    TokenizerFit,
    TokenModelConfig,
    class_probabilities,
    finetune,
    fit_tokenizer,
    pretrain_mlm,
    token_counts,
    tokenize,
)
from edgelab.models.tokens.vqvae import VQVAE, VQVAEConfig, codebook_stats

MLM_COLUMNS = (
    "epoch",
    "train_loss",
    "val_loss",
    "top1",
    "top5",
    "base_top1",
    "base_top5",
    "lr",
    "seconds",
)


def mlm_table(history: list[dict], passes: list[dict]) -> list[dict]:
    """Per-epoch MLM rows: trainer history + the validation accuracies of each epoch (from
    the trainer's `val_top1`... columns when its metrics hook exists, else the objective's
    per-pass record)."""
    rows = []
    for i, h in enumerate(history):
        extra = passes[i] if i < len(passes) else {}
        row = {
            "epoch": h["epoch"] + 1,
            "train_loss": h["train_loss"],
            "val_loss": h.get("val_loss"),
        }
        for key in ("top1", "top5", "base_top1", "base_top5"):
            row[key] = h.get(f"val_{key}", extra.get(key))
        row.update(lr=h["lr"], seconds=h["seconds"])
        rows.append(row)
    return rows


@register_model("bert_tokens")
class BertTokensModel(Model):
    """VQ-VAE tokens + BERT (see the module docstring). Params: `tokenizer`, `bert`,
    `pretrain`, `finetune` (dicts, see `TokenModelConfig.from_params`), `seed`, `device`,
    `log_dir`, `cost_bps` (validation Sharpe cost)."""

    task = "class"
    sequential = True
    smoke_params: ClassVar[dict[str, Any]] = {
        "tokenizer": {"codebook_size": 16, "hidden": 8, "code_dim": 4, "epochs": 1},
        "bert": {"context": 4, "d_model": 8, "n_heads": 2, "layers": 1, "ff": 16},
        "pretrain": {"epochs": 1},
        "finetune": {"epochs": 1},
    }

    def __init__(self, **params: Any) -> None:
        self.cost_bps = float(params.pop("cost_bps", 10.0))
        super().__init__(**params)
        self.config = TokenModelConfig.from_params(params)  # validates names early
        self.vqvae_: VQVAE | None = None
        self.bert_: BertNet | None = None

    def get_params(self) -> dict[str, Any]:
        return {**self.params, "cost_bps": self.cost_bps}

    def input_window(self) -> int:
        return self.config.window

    def supports(self, target: str) -> bool:
        return target == "class"

    # --- fit ----------------------------------------------------------------------------

    def fit(self, train: Samples, val: Samples | None = None) -> BertTokensModel:
        if train.target != "class" or train.n_classes < 2:
            raise ModelError("model 'bert_tokens' needs class labels with >= 2 classes")
        cfg = TokenModelConfig.from_params(self.params, train.n_features, train.n_classes)
        self.config = cfg
        if train.window < cfg.window:
            raise ModelError(
                f"bert_tokens reads {cfg.window} rows (context {cfg.bert.context} x patch "
                f"{cfg.vqvae.patch}); the Samples' window is {train.window}"
            )
        has_val = val is not None and len(val) > 0
        self.vqvae_, tok_result = fit_tokenizer(
            train.X, train.asset, cfg, val.X if has_val else None, val.asset if has_val else None
        )
        tokens = tokenize(self.vqvae_, train.X, train.asset)
        tokens_val = tokenize(self.vqvae_, val.X, val.asset) if has_val else None
        self.bert_, pre_result, mlm = pretrain_mlm(
            tokens, train.asset, cfg, tokens_val, val.asset if has_val else None
        )
        self.bert_, fine_result, _ = finetune(
            self.bert_, train, tokens, cfg, val if has_val else None, tokens_val,
            cost=self.cost_bps / 1e4,
        )  # fmt: skip
        self.label_map_ = dict(train.label_map)
        self.feature_names_ = list(train.feature_names)
        self.counts_ = token_counts(tokens, cfg.vqvae.codebook_size)
        self.report_ = {
            "tokenizer": self._tokenizer_report(
                train, val if has_val else None, tokens, tokens_val
            ),
            "tokenizer_history": tok_result.history,
            "mlm": mlm_table(pre_result.history, mlm.passes),
            "finetune_history": fine_result.history,
        }
        return self

    def _tokenizer_report(self, train, val, tokens, tokens_val) -> dict[str, Any]:
        """Codebook usage / perplexity (train, val) and reconstruction MSE vs the
        predict-the-training-mean baseline."""
        k = self.config.vqvae.codebook_size
        out: dict[str, Any] = {"train": codebook_stats(tokens, k)}
        ref = val if val is not None else train
        out["val" if val is not None else "train_fit"] = {
            **(codebook_stats(tokens_val, k) if val is not None else {}),
            **self.reconstruction_error(ref, train.X.mean(0)),
        }
        out["restarts"] = int(self.vqvae_.quantizer.restarts)
        return out

    def reconstruction_error(self, samples: Samples, mean: np.ndarray) -> dict[str, float]:
        """MSE of the tokens' reconstruction of `samples.X` against the MSE of predicting
        `mean` (per feature): the trivial baseline. Rows with a full patch only."""
        x, recon = self.reconstruct(samples.X, samples.asset)
        mse = float(np.mean((recon - x) ** 2))
        base = float(np.mean((x - mean) ** 2))
        return {
            "recon_mse": mse,
            "mean_mse": base,
            "mse_ratio": mse / base if base > 0 else float("nan"),
        }

    def reconstruct(self, X: np.ndarray, asset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(patches, reconstructions), each (n_tokens, patch, F), for every full patch of X."""
        tokens = tokenize(self.vqvae_, X, asset)
        p = self.config.vqvae.patch
        rows = np.flatnonzero(tokens != self.config.vqvae.codebook_size)
        x = np.stack([X[rows - (p - 1) + j] for j in range(p)], 1)
        device = next(self.vqvae_.parameters()).device
        recon = self.vqvae_.decode(torch.from_numpy(tokens[rows]).to(device)).cpu().numpy()
        return x, recon

    # --- predict ------------------------------------------------------------------------

    def tokens(self, samples: Samples) -> np.ndarray:
        """Token per row of `samples.X` ([PAD] where no full patch), (n_rows,) int64."""
        self._check_fitted()
        return tokenize(self.vqvae_, samples.X, samples.asset)

    def predict_proba(self, samples: Samples) -> np.ndarray:
        self._check_fitted()
        if list(samples.feature_names) != self.feature_names_:
            raise ModelError(
                f"bert_tokens was trained on features {self.feature_names_}, got "
                f"{list(samples.feature_names)}"
            )
        proba = class_probabilities(self.bert_, samples, self.tokens(samples), self.config)
        proba = proba.astype(np.float64)  # float32 softmax rows sum to 1 only within ~1e-7
        return proba / proba.sum(1, keepdims=True)

    def predict(self, samples: Samples) -> pd.DataFrame:
        proba = self.predict_proba(samples)
        cols = class_columns(self.label_map_)
        return pd.DataFrame(proba, index=samples.prediction_index(), columns=cols)

    def _check_fitted(self) -> None:
        if self.bert_ is None or self.vqvae_ is None:
            raise ModelError("model 'bert_tokens' is not fitted (call fit or load a bundle)")

    # --- persistence --------------------------------------------------------------------

    def vocab(self) -> dict[str, Any]:
        """The token vocabulary: real codes 0..V-1, special ids, what a token stands for."""
        v, b = self.config.vqvae, self.config.bert
        return {
            "size": b.n_embeddings,
            "codebook_size": v.codebook_size,
            "special": b.special_tokens(),
            "token": f"VQ-VAE code of {v.patch} bar(s) x {len(self.feature_names_)} features",
            "features": self.feature_names_,
            "patch": v.patch,
            "train_counts": [int(c) for c in self.counts_],
        }

    def state(self) -> dict[str, Any]:
        self._check_fitted()
        c = self.config
        return {
            "vqvae": dataclasses.asdict(c.vqvae),
            "bert": dataclasses.asdict(c.bert),
            "tokenizer_fit": dataclasses.asdict(c.tokenizer_fit),
            "pretrain": dataclasses.asdict(c.pretrain),
            "finetune": dataclasses.asdict(c.finetune),
            "label_map": {str(k): v for k, v in self.label_map_.items()},
            "feature_names": self.feature_names_,
            "report": self.report_,
        }

    def save_extra(self, directory: Path) -> None:
        self._check_fitted()
        tensors = {f"vqvae.{k}": v for k, v in self.vqvae_.state_dict().items()}
        tensors.update({f"bert.{k}": v for k, v in self.bert_.state_dict().items()})
        tmp = directory / ".weights.safetensors.tmp"
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp))
        tmp.replace(directory / "weights.safetensors")
        write_json_atomic(directory / "vocab.json", self.vocab())
        rows = self.report_.get("mlm") or []
        if rows:
            text = pd.DataFrame(rows, columns=list(MLM_COLUMNS)).to_csv(index=False)
            tmp = directory / ".mlm_epochs.csv.tmp"
            tmp.write_text(text)
            tmp.replace(directory / "mlm_epochs.csv")

    def set_state(self, state: dict[str, Any], directory: Path) -> None:
        path = Path(directory) / "weights.safetensors"
        if not path.is_file():
            raise ModelError(f"model bundle '{directory}' has no weights.safetensors")
        c = self.config
        c.vqvae, c.bert = VQVAEConfig(**state["vqvae"]), BertConfig(**state["bert"])
        c.tokenizer_fit = TokenizerFit(**state["tokenizer_fit"])
        c.pretrain, c.finetune = PretrainFit(**state["pretrain"]), FinetuneFit(**state["finetune"])
        tensors = load_file(str(path))
        self.vqvae_, self.bert_ = VQVAE(c.vqvae), BertNet(c.bert, task="classify")
        self.vqvae_.load_state_dict(
            {k[6:]: v for k, v in tensors.items() if k.startswith("vqvae.")}
        )
        self.bert_.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("bert.")})
        self.vqvae_.eval(), self.bert_.eval()
        self.label_map_ = {int(k): v for k, v in state["label_map"].items()}
        self.feature_names_ = list(state["feature_names"])
        self.report_ = state.get("report", {})
        vocab = Path(directory) / "vocab.json"
        counts = json.loads(vocab.read_text())["train_counts"] if vocab.is_file() else []
        self.counts_ = np.asarray(counts, dtype=np.int64)
