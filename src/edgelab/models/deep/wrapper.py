"""`TorchModel`: the one adapter between the `Model` contract and every network.

It builds the network from its config dataclass (input size, heads and classes come from
the training `Samples`, the rest from the model's params), makes batch sources from
`Samples` (windows, seq2seq chunks or asset panels), trains with `edgelab.train.Trainer`,
predicts, and saves `weights.safetensors` + `model.json` (network config, window, feature
names, label map, return scale, training history) beside `history.csv`/`history.json` and
`training.png`. Loading rebuilds the network from model.json and reads the weights with
safetensors: nothing is unpickled (the bodies live in `persistence`; the loss's class
signs and weights in `loss_setup`).

Params (all optional; unknown names are errors with a suggestion):
- network: the fields of the network's config dataclass (`hidden`, `layers`, ...);
- heads: `heads` ("auto": class for class Samples, return for return Samples; "class",
  "return", "both"), `return_loss` (l1, huber, mse), `objective` (None, "pnl", "sharpe":
  a trading loss added to the head losses), `loss_weights` ({class, return, trading}),
  `class_weight` (None, "balanced", list), `pos_weight` (None, "balanced", float),
  `cost_bps` (trading cost per unit turnover, for the trading loss and validation Sharpe);
- batching: `window` (rows per window; default: all of Samples.window, which the pipeline
  builds from `models[].window` or 32), `batch_size`, `seq2seq` (causal networks:
  train and predict on chunks of `chunk` labels after `burn_in` rows, default window - 1),
  `chunks_per_batch`, `predict_batch_size`; `plots` (save writes training.png);
- the loop: every field of `edgelab.train.TrainConfig` but `cost` (epochs, lr, scheduler,
  patience, monitor, seed, device, log_dir, resume, ...);
- fine-tuning (`fine_tune`, used by walk-forward `mode: finetune`): `finetune_epochs`
  (default epochs // 4, at least 1) and `finetune_lr` (default lr / 10).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch import nn

from edgelab.dataset.samples import Samples
from edgelab.errors import ModelError, unknown_name
from edgelab.models.base import Model, class_columns, register_model
from edgelab.models.deep.gru import GRUConfig, GRUNet
from edgelab.models.deep.hybrid import HybridConfig, HybridNet, attention_summary
from edgelab.models.deep.loss_setup import SIGN_OF_NAME as SIGN_OF_NAME  # re-exported
from edgelab.models.deep.loss_setup import class_signs as _class_signs
from edgelab.models.deep.loss_setup import class_weight as _class_weight
from edgelab.models.deep.loss_setup import pos_weight as _pos_weight
from edgelab.models.deep.lstm import LSTMConfig, LSTMNet
from edgelab.models.deep.persistence import restore_state, save_weights, torch_state
from edgelab.models.deep.resnet1d import ResNet1DConfig, ResNet1DNet
from edgelab.models.deep.transformer import TransformerConfig, TransformerNet
from edgelab.train.device import resolve_device
from edgelab.train.losses import Objective
from edgelab.train.trainer import TrainConfig, Trainer
from edgelab.train.windows import (
    BatchSource,
    ChunkSource,
    PanelSource,
    WindowSource,
    panel_channels,
)

WRAPPER_DEFAULTS: dict[str, Any] = {
    "heads": "auto",
    "return_loss": "l1",
    "objective": None,
    "loss_weights": None,
    "class_weight": None,
    "pos_weight": None,
    "cost_bps": 10.0,
    "window": 32,
    "batch_size": 256,
    "seq2seq": False,
    "chunk": 256,
    "burn_in": None,
    "chunks_per_batch": 16,
    "predict_batch_size": 1024,
    "plots": True,
    "finetune_epochs": None,  # None: max(1, epochs // 4)
    "finetune_lr": None,  # None: lr / 10
}
TRAIN_KEYS = [f.name for f in dataclasses.fields(TrainConfig) if f.name != "cost"]
DERIVED = ("n_features", "n_logits", "return_head", "n_assets")  # set from the data


class TorchModel(Model):
    """Base of every deep model; subclasses name their config and network classes."""

    config_class: ClassVar[type]
    net_class: ClassVar[type[nn.Module]]
    task = "both"  # capability: class heads, a return head, or both (see `heads`)
    sequential = True

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        allowed = set(WRAPPER_DEFAULTS) | set(TRAIN_KEYS) | set(self.network_keys())
        for key in params:
            if key not in allowed:
                raise ModelError(
                    unknown_name(f"parameter of model '{self.registry_name}'", key, allowed)
                )
        heads = self.p("heads")
        if heads != "auto":
            self.task = heads  # "auto" stays "both" (either target) until fit sees the Samples
        self.net_: nn.Module | None = None

    @classmethod
    def network_keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls.config_class) if f.name not in DERIVED]

    def p(self, key: str) -> Any:
        """A param's value: given, else the wrapper's or the loop's default."""
        if key in self.params:
            return self.params[key]
        if key in WRAPPER_DEFAULTS:
            return WRAPPER_DEFAULTS[key]
        return getattr(TrainConfig, key, None)

    def input_window(self) -> int:
        """Rows of history each prediction reads: the `window` param (default 32). The
        pipeline builds Samples with at least this window; without a `window` param the
        model reads the whole `Samples.window` it is given (a config's `models[].window`)."""
        window = self.p("window")
        if not isinstance(window, int) or window < 1:
            raise ModelError(
                f"model '{self.registry_name}': window must be an integer >= 1, got {window!r}"
            )
        return window

    def supports(self, target: str) -> bool:
        """A class head needs class Samples; every other head set fits either target."""
        return not (target == "return" and self.p("heads") in ("class", "both"))

    # --- fit ------------------------------------------------------------------------------

    def fit(self, train: Samples, val: Samples | None = None) -> TorchModel:
        self._learn_layout(train)
        config = self._network_config(train)
        seed = int(self.p("seed"))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net_ = self.net_class(config)
        if self.p("seq2seq") and not self.net_.supports_per_step:
            raise ModelError(
                f"model '{self.registry_name}': seq2seq needs a causal network "
                "(lstm without bidirectional, gru, or transformer with causal: true)"
            )
        self.objective_ = self._objective(train)
        loop = {k: self.p(k) for k in TRAIN_KEYS if k in self.params}
        trainer = Trainer(TrainConfig(**loop, cost=self.p("cost_bps") / 1e4))
        train_src = self._source(train, training=True)
        val_src = self._source(val, training=False) if val is not None and len(val) else None
        result = trainer.fit(self.net_, self.objective_, train_src, val_src)
        self.history_, self.best_epoch_ = result.history, result.best_epoch
        return self

    def fine_tune(self, train: Samples, val: Samples | None = None) -> TorchModel:
        """Continue training the fitted network on `train` (e.g. the next walk-forward
        fold's window) from its current weights: same architecture, heads, label map,
        window and return scales as the first fit; a fresh AdamW at `finetune_lr` for
        `finetune_epochs`, early stopping on `val` as in `fit` (the best fine-tuning
        epoch is kept). Class and pos weights are recomputed from `train`. `train` must
        be scaled like the caller scales it for fit (walk-forward refits the scaler on
        each fold's train rows). ModelError before fit or load, or when `train` does
        not fit the network (features, label map, target, window, assets)."""
        if self.net_ is None:
            raise ModelError(
                f"model '{self.registry_name}' is not fitted: fine_tune continues a fitted "
                "network (call fit first or load a bundle)"
            )
        self._check_input(train)
        self._check_same_layout(train)
        if not hasattr(self, "fwd_scale_"):  # a loaded bundle keeps no trading-loss scale
            ret_scale = self.ret_scale_
            self._learn_scales(train)
            self.ret_scale_ = ret_scale  # the return head's units stay those of the first fit
        self.objective_ = self._objective(train)
        epochs, lr = self.p("finetune_epochs"), self.p("finetune_lr")
        loop = {k: self.p(k) for k in TRAIN_KEYS if k in self.params}
        loop.update(
            epochs=max(1, int(self.p("epochs")) // 4) if epochs is None else int(epochs),
            lr=float(self.p("lr")) / 10 if lr is None else float(lr),
            resume=None,  # a resume checkpoint belongs to the first fit, not to this one
        )
        trainer = Trainer(TrainConfig(**loop, cost=self.p("cost_bps") / 1e4))
        train_src = self._source(train, training=True)
        val_src = self._source(val, training=False) if val is not None and len(val) else None
        result = trainer.fit(self.net_, self.objective_, train_src, val_src)
        self.history_, self.best_epoch_ = result.history, result.best_epoch
        self.fine_tunes_ = getattr(self, "fine_tunes_", 0) + 1
        return self

    def _check_same_layout(self, train: Samples) -> None:
        """Fine-tuning keeps the network: the new Samples must give the same shape."""
        if train.target != self.target_:
            raise ModelError(
                f"model '{self.registry_name}' was fitted on {self.target_} targets, "
                f"fine_tune got {train.target} targets"
            )
        if getattr(self.net_class, "panel", False) and list(train.assets) != self.assets_:
            raise ModelError(
                f"panel model '{self.registry_name}' was fitted on assets {self.assets_}, "
                f"fine_tune got {list(train.assets)}"
            )
        want = self._network_config(train)
        for key in DERIVED:
            old, new = getattr(self.net_.config, key, None), getattr(want, key, None)
            if old != new:
                raise ModelError(
                    f"model '{self.registry_name}': fine_tune Samples give {key}={new}, the "
                    f"fitted network has {key}={old}; refit instead"
                )

    def _learn_layout(self, train: Samples) -> None:
        """What the network's shape depends on: heads, classes, features, window, assets."""
        heads = self.p("heads")
        if heads not in ("auto", "class", "return", "both"):
            raise ModelError(unknown_name("heads", str(heads), ("auto", "class", "return", "both")))
        if heads == "auto":
            heads = "class" if train.target == "class" else "return"
        if heads in ("class", "both") and (train.target != "class" or train.n_classes < 2):
            raise ModelError(
                f"model '{self.registry_name}': a class head needs class labels with >= 2 classes"
            )
        self.task = heads
        self.label_map_ = dict(train.label_map)
        self.target_ = train.target
        self.feature_names_ = list(train.feature_names)
        self.assets_ = list(train.assets)
        self.window_ = self.input_window() if "window" in self.params else train.window
        if self.window_ > train.window:
            raise ModelError(
                f"window {self.window_} is longer than the Samples' window {train.window}"
            )
        k = train.n_classes if heads in ("class", "both") else 0
        self.n_logits_ = 1 if k == 2 else k
        self.return_head_ = heads in ("return", "both")
        self.return_target_ = "y" if train.target == "return" else "fwd"
        self.class_sign_ = _class_signs(train) if k else []
        self._learn_scales(train)

    def _learn_scales(self, train: Samples) -> None:
        """Train standard deviations that make the return and trading losses unit-free."""
        objective = self.p("objective")
        if (self.return_head_ and self.return_target_ == "fwd") or objective:
            fwd = train.forward_return
            if fwd is None or not np.isfinite(fwd[train.rows]).all():
                raise ModelError(
                    "a return head or trading objective needs forward_return at every target row"
                )
        self.ret_scale_ = self.fwd_scale_ = 1.0
        if self.return_head_:
            target = train.y if self.return_target_ == "y" else train.forward_return
            self.ret_scale_ = float(np.std(target[train.rows])) or 1.0
        if objective:
            self.fwd_scale_ = float(np.std(train.forward_return[train.rows])) or 1.0

    def _network_config(self, train: Samples):
        derived = {"n_logits": self.n_logits_, "return_head": self.return_head_}
        if getattr(self.net_class, "panel", False):
            n_assets, channels = panel_channels(train)
            derived.update(n_features=channels, n_assets=n_assets)
        else:
            derived["n_features"] = train.n_features
        net_params = {k: self.params[k] for k in self.network_keys() if k in self.params}
        return self.config_class(**derived, **net_params)

    def _objective(self, train: Samples) -> Objective:
        weights = dict(self.p("loss_weights") or {})
        unknown = set(weights) - {"class", "return", "trading"}
        if unknown:
            raise ModelError(
                f"loss_weights keys must be class, return, trading; got {sorted(unknown)}"
            )
        y = train.targets()
        return Objective(
            n_logits=self.n_logits_,
            return_head=self.return_head_,
            return_target=self.return_target_,
            return_loss=self.p("return_loss"),
            trading=self.p("objective"),
            weights=weights,
            class_weight=_class_weight(self.p("class_weight"), y, self.n_logits_, train.n_classes),
            pos_weight=_pos_weight(self.p("pos_weight"), y, self.n_logits_),
            class_sign=torch.tensor(self.class_sign_, dtype=torch.float32)
            if self.class_sign_
            else None,
            ret_scale=self.ret_scale_,
            fwd_scale=self.fwd_scale_,
            cost=self.p("cost_bps") / 1e4,
        )

    def _source(
        self, samples: Samples, training: bool, batch_size: int | None = None
    ) -> BatchSource:
        seed = int(self.p("seed"))
        contiguous = bool(self.p("objective")) and training
        size = batch_size or int(self.p("batch_size"))
        if getattr(self.net_class, "panel", False):
            return PanelSource(
                samples,
                size,
                window=self.window_,
                shuffle=training,
                contiguous=contiguous,
                seed=seed,
            )
        if self.p("seq2seq"):
            burn_in = self.p("burn_in")
            return ChunkSource(
                samples, int(self.p("chunk")), self.window_ - 1 if burn_in is None else int(burn_in),
                int(self.p("chunks_per_batch")), shuffle=training, seed=seed,
            )  # fmt: skip
        return WindowSource(
            samples, size, window=self.window_, shuffle=training, contiguous=contiguous, seed=seed
        )

    # --- predict --------------------------------------------------------------------------

    def outputs(self, samples: Samples) -> dict[str, np.ndarray]:
        """Raw outputs per target row of `samples` (in `samples.rows` order): `proba`
        (n, k), `ret` (n,) in return units, `position` (n,), and `attn` (hybrid)."""
        self._check_input(samples)
        device = resolve_device(self.p("device"))
        net = self.net_.to(device).eval()
        objective = self.objective_.to(device)
        source = self._source(samples, training=False, batch_size=int(self.p("predict_batch_size")))
        parts, attn = [], []
        with torch.inference_mode():
            for batch in source.batches(0):
                batch = batch.to(device)
                out = batch.select(net(batch.x, per_step=True) if batch.per_step else net(batch.x))
                parts.append(objective.collect(out, batch))
                if "attn" in out:
                    attn.append(out["attn"][batch.mask].cpu().numpy())
        got = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}
        order = np.argsort(samples.rows, kind="stable")
        got_rows = got["row"] if got else np.zeros(0, dtype=np.int64)
        found = np.minimum(np.searchsorted(samples.rows[order], got_rows), max(len(order) - 1, 0))
        where = order[found] if len(order) else got_rows
        if len(where) != len(samples.rows) or not np.array_equal(samples.rows[where], got_rows):
            raise ModelError(
                f"model '{self.registry_name}': {len(samples.rows) - len(where)} target rows got no "
                "output (panel models need every asset's window on shared timestamps)"
            )
        result = {}
        for key in ("proba", "ret", "position"):
            if key in got:
                arr = np.empty_like(got[key])
                arr[where] = got[key]
                result[key] = arr
        if attn:
            a = np.concatenate(attn)
            result["attn"] = np.empty_like(a)
            result["attn"][where] = a
        return result

    def predict(self, samples: Samples) -> pd.DataFrame:
        if len(samples) == 0:
            self._check_input(samples)
            names = class_columns(self.label_map_) if self.n_logits_ else []
            names += ["expected_return"] if self.return_head_ else []
            return pd.DataFrame({c: np.zeros(0) for c in names}, index=samples.prediction_index())
        out = self.outputs(samples)
        cols: dict[str, np.ndarray] = {}
        if "proba" in out:
            # float32 softmax rows sum to 1 only within ~1e-7; renormalize in float64 so
            # the columns are probabilities to the precision metrics expect
            proba = out["proba"].astype(np.float64)
            proba /= proba.sum(axis=1, keepdims=True)
            for j, name in enumerate(class_columns(self.label_map_)):
                cols[name] = proba[:, j]
        if "ret" in out:
            cols["expected_return"] = out["ret"].astype(np.float64)
        return pd.DataFrame(cols, index=samples.prediction_index())

    def _check_input(self, samples: Samples) -> None:
        if self.net_ is None:
            raise ModelError(
                f"model '{self.registry_name}' is not fitted (call fit or load a bundle)"
            )
        if list(samples.feature_names) != self.feature_names_:
            raise ModelError(
                f"model '{self.registry_name}' was trained on features {self.feature_names_}, "
                f"got {list(samples.feature_names)}"
            )
        if samples.window < self.window_:
            raise ModelError(
                f"model needs windows of {self.window_} rows, Samples.window is {samples.window}"
            )
        if self.n_logits_ and dict(samples.label_map) != self.label_map_:
            raise ModelError(
                f"label map {samples.label_map} differs from the trained {self.label_map_}"
            )

    # --- persistence ----------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return torch_state(self)

    def save_extra(self, directory: Path) -> None:
        save_weights(self, directory)

    def set_state(self, state: dict[str, Any], directory: Path) -> None:
        restore_state(self, state, directory)


# --- the registered models --------------------------------------------------------------------

_SMOKE = {"window": 4, "epochs": 1, "plots": False}  # tiny and fast: for the contract test


@register_model("lstm")
class LSTMModel(TorchModel):
    config_class, net_class = LSTMConfig, LSTMNet
    smoke_params: ClassVar[dict] = {**_SMOKE, "hidden": 8, "layers": 1}


@register_model("gru")
class GRUModel(TorchModel):
    config_class, net_class = GRUConfig, GRUNet
    smoke_params: ClassVar[dict] = {**_SMOKE, "hidden": 8}


@register_model("transformer")
class TransformerModel(TorchModel):
    config_class, net_class = TransformerConfig, TransformerNet
    smoke_params: ClassVar[dict] = {**_SMOKE, "d_model": 8, "n_heads": 2, "layers": 1, "ff": 16}


@register_model("hybrid")
class HybridModel(TorchModel):
    config_class, net_class = HybridConfig, HybridNet
    smoke_params: ClassVar[dict] = {
        **_SMOKE, "d_model": 8, "n_heads": 2, "ff": 16, "encoder_layers": 1,
        "lstm_hidden": 8, "lstm_layers": 1, "pool_heads": 2,
    }  # fmt: skip

    def attention_summary(self, samples: Samples) -> pd.DataFrame:
        """Mean pooling attention per lag (`t`, `t-1`, ...) over `samples`' target rows."""
        return attention_summary(self.outputs(samples)["attn"])

    def fit(self, train: Samples, val: Samples | None = None) -> HybridModel:
        """Fit, then keep the attention summary on validation (else train) for the bundle."""
        super().fit(train, val)
        self.attention_ = self.attention_summary(val if val is not None and len(val) else train)
        return self

    def fine_tune(self, train: Samples, val: Samples | None = None) -> HybridModel:
        """Fine-tune, then refresh the attention summary like `fit`."""
        super().fine_tune(train, val)
        self.attention_ = self.attention_summary(val if val is not None and len(val) else train)
        return self

    def state(self) -> dict[str, Any]:
        return {**super().state(), "attention": self.attention_.reset_index().to_dict("list")}

    def save_extra(self, directory: Path) -> None:
        """Also `attention.csv`: mean attention per lag (rows) and pooling head (columns)."""
        super().save_extra(directory)
        tmp = directory / ".attention.csv.tmp"
        tmp.write_text(self.attention_.to_csv())
        tmp.replace(directory / "attention.csv")

    def set_state(self, state: dict[str, Any], directory: Path) -> None:
        super().set_state(state, directory)
        self.attention_ = pd.DataFrame(state["attention"]).set_index("lag")


@register_model("resnet1d")
class ResNet1DModel(TorchModel):
    """Panel model over all assets at once (see `edgelab.train.windows.Panel`)."""

    config_class, net_class = ResNet1DConfig, ResNet1DNet
    smoke_params: ClassVar[dict] = {**_SMOKE, "channels": 4, "stages": [1], "hidden": 8}
