"""The one training loop of edgelab: every network is trained by `Trainer.fit`.

Per epoch: one pass over the training batches (AdamW, optional gradient clipping, AMP on
CUDA), a validation pass, the validation metrics (`loss`, `auc`, `pr_auc`, `accuracy`,
`ic`, `sharpe` after costs), the scheduler step (ReduceLROnPlateau on the monitored
metric, or per-step cosine with linear warm-up), and early stopping on the monitored
metric; the best weights are restored at the end. With a `log_dir`, each epoch also
writes `last.safetensors` (weights, optimizer, scheduler, RNG: everything `resume` needs)
and `best.safetensors`, and the end of training writes `history.csv`, `history.json`
and `training.png`. Checkpoints are safetensors + JSON metadata: loading never unpickles.

Determinism: batches are drawn from a per-epoch seeded stream and torch's RNG is seeded
inside a forked RNG scope, so on CPU the same seed and thread count give the same weights,
and a resumed run gives the same weights as an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from edgelab.errors import ModelError, unknown_name
from edgelab.figures import save_png
from edgelab.train.device import amp_dtype, autocast, grad_scaler, resolve_device
from edgelab.train.losses import Objective
from edgelab.train.windows import BatchSource

SCHEDULERS = ("plateau", "cosine", "none")
MONITORS = ("loss", "auc", "pr_auc", "accuracy", "ic", "sharpe")
MAXIMIZE = ("auc", "pr_auc", "accuracy", "ic", "sharpe")


@dataclass
class TrainConfig:
    """Hyper-parameters of the loop (the network's own live in its config dataclass)."""

    epochs: int = 20
    lr: float = 1e-3
    weight_decay: float = 0.01
    scheduler: Literal["plateau", "cosine", "none"] = "plateau"
    warmup_epochs: float = 0.0  # cosine: linear warm-up length in epochs
    min_lr_ratio: float = 0.01  # cosine: final lr / lr
    plateau_factor: float = 0.5
    plateau_patience: int = 2
    grad_clip: float | None = 1.0  # max global gradient norm; None: no clipping
    patience: int | None = 5  # epochs without improvement before stopping; None: never
    monitor: str = "loss"  # validation metric to early-stop and checkpoint on
    seed: int = 0
    device: str = "auto"
    amp: bool | None = None  # None: on for CUDA only
    cost: float = 0.001  # per unit turnover, for the validation Sharpe
    progress: bool | None = None  # None: a live bar when stderr is a terminal
    log_dir: str | None = None
    resume: str | None = None  # a last.safetensors written by an earlier run

    def __post_init__(self) -> None:
        if self.scheduler not in SCHEDULERS:
            raise ModelError(unknown_name("scheduler", self.scheduler, SCHEDULERS))
        if self.monitor not in MONITORS:
            raise ModelError(unknown_name("monitor metric", self.monitor, MONITORS))
        if self.epochs < 1 or self.lr <= 0:
            raise ModelError(f"epochs must be >= 1 and lr > 0, got {self.epochs}, {self.lr}")


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)
    best_epoch: int = -1
    best_score: float = float("nan")
    stopped_early: bool = False
    seconds: float = 0.0


class Trainer:
    """`Trainer(TrainConfig(...)).fit(net, objective, train_source, val_source)`."""

    def __init__(self, config: TrainConfig | None = None, **overrides) -> None:
        self.config = TrainConfig(**{**asdict(config or TrainConfig()), **overrides})

    def fit(
        self,
        net: nn.Module,
        objective: Objective,
        train: BatchSource,
        val: BatchSource | None = None,
    ) -> TrainResult:
        """Train `net` in place; returns the per-epoch history. The best epoch's weights
        (on the monitored validation metric, or the last epoch without validation) are
        loaded into `net` at the end."""
        c = self.config
        if len(train) == 0:
            raise ModelError("no training batch: the training split has no target rows")
        device = resolve_device(c.device)
        dtype = amp_dtype(device, c.amp)
        net.to(device)
        objective.to(device)
        opt = torch.optim.AdamW(net.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        sched = self._scheduler(opt, len(train), val)
        devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(c.seed)
            return self._loop(net, objective, train, val, opt, sched, device, dtype)

    def _loop(self, net, objective, train, val, opt, sched, device, dtype) -> TrainResult:
        c = self.config
        run = _RunState()
        if c.resume:
            run = load_checkpoint(c.resume, net, opt, sched)
        scaler = grad_scaler(device, dtype)
        start = time.perf_counter()
        with _progress(c.progress, c.epochs * len(train), run.epoch * len(train)) as bar:
            for epoch in range(run.epoch, c.epochs):
                t0 = time.perf_counter()
                train_loss = self._train_epoch(
                    net, objective, train, epoch, opt, sched, scaler, device, dtype, bar
                )
                row = {"epoch": epoch, "train_loss": train_loss}
                if val is not None:
                    metrics = self.evaluate(net, objective, val, device, dtype)
                    row.update({f"val_{k}": v for k, v in metrics.items()})
                row["lr"] = opt.param_groups[0]["lr"]
                row["seconds"] = time.perf_counter() - t0
                monitor = self._monitor(val)
                score = row["train_loss"] if val is None else row[f"val_{monitor}"]
                if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    worst = float("-inf") if monitor in MAXIMIZE else float("inf")
                    sched.step(score if math.isfinite(score) else worst)
                run.record(row, score, monitor, net)
                bar.epoch_done(epoch, c.epochs, row)
                self._checkpoint(run, net, opt, sched)
                if c.patience is not None and run.bad_epochs > c.patience:
                    run.stopped_early = True
                    break
        net.load_state_dict(run.best_state)
        result = TrainResult(run.history, run.best_epoch, run.best_score, run.stopped_early)
        result.seconds = time.perf_counter() - start
        if c.log_dir:
            write_history(run.history, Path(c.log_dir))
            plot_history(run.history, Path(c.log_dir) / "training.png")
        return result

    def _train_epoch(
        self, net, objective, source, epoch, opt, sched, scaler, device, dtype, bar
    ) -> float:
        net.train()
        total, count = torch.zeros((), device=device), torch.zeros((), device=device)
        params = [p for p in net.parameters() if p.requires_grad]
        per_step_sched = self.config.scheduler == "cosine"
        for batch in source.batches(epoch):
            batch = batch.to(device)
            with autocast(device, dtype):
                out = batch.select(net(batch.x, per_step=True) if batch.per_step else net(batch.x))
                loss, _ = objective(out, batch)
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(opt)
            else:
                loss.backward()
            if self.config.grad_clip:
                nn.utils.clip_grad_norm_(params, self.config.grad_clip)
            if scaler is not None:
                scaler.step(opt)
                scaler.update()
            else:
                opt.step()
            if per_step_sched:
                sched.step()
            n = batch.mask.sum()  # stays on the device: no sync per step
            total += loss.detach() * n
            count += n
            bar.step(lambda t=total, k=count: float(t) / max(float(k), 1.0))
        return float(total) / max(float(count), 1.0)

    @torch.inference_mode()
    def evaluate(self, net, objective, source, device=None, dtype=None) -> dict[str, float]:
        """Loss and metrics of `net` on every batch of `source` (in order)."""
        device = device or next(net.parameters()).device
        net.eval()
        total, count, parts = 0.0, 0, []
        for batch in source.batches(0):
            batch = batch.to(device)
            with autocast(device, dtype):
                out = batch.select(net(batch.x, per_step=True) if batch.per_step else net(batch.x))
            loss, _ = objective(out, batch)
            n = batch.n_labels
            total, count = total + float(loss) * n, count + n
            parts.append(objective.collect(out, batch))
        got = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}
        return {"loss": total / max(count, 1), **validation_metrics(got, self.config.cost)}

    def _monitor(self, val: BatchSource | None) -> str:
        """The metric early stopping follows: the chosen one, or train loss without val."""
        return self.config.monitor if val is not None else "loss"

    def _scheduler(self, opt, steps_per_epoch: int, val: BatchSource | None):
        c = self.config
        if c.scheduler == "plateau":
            mode = "max" if self._monitor(val) in MAXIMIZE else "min"
            return torch.optim.lr_scheduler.ReduceLROnPlateau(
                opt, mode=mode, factor=c.plateau_factor, patience=c.plateau_patience
            )
        if c.scheduler == "cosine":
            warm = round(c.warmup_epochs * steps_per_epoch)
            total = max(c.epochs * steps_per_epoch, warm + 1)
            return torch.optim.lr_scheduler.LambdaLR(
                opt, _CosineWarmup(warm, total, c.min_lr_ratio)
            )
        return None

    def _checkpoint(self, run, net, opt, sched) -> None:
        if not self.config.log_dir:
            return
        directory = Path(self.config.log_dir)
        directory.mkdir(parents=True, exist_ok=True)
        if run.best_epoch == run.history[-1]["epoch"]:
            _save_atomic(run.best_state, directory / "best.safetensors", {})
        save_checkpoint(directory / "last.safetensors", net, opt, sched, run)


@dataclass
class _CosineWarmup:
    """lr factor at optimizer step s: linear warm-up to 1, then cosine down to min_ratio."""

    warmup: int
    total: int
    min_ratio: float

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        progress = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
        return self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


@dataclass
class _RunState:
    """What early stopping and resuming need to know about the run so far."""

    epoch: int = 0
    history: list[dict] = field(default_factory=list)
    best_score: float = float("nan")
    best_epoch: int = -1
    bad_epochs: int = 0
    stopped_early: bool = False
    best_state: dict[str, torch.Tensor] = field(default_factory=dict)

    def record(self, row: dict, score: float, monitor: str, net: nn.Module) -> None:
        self.history.append(row)
        self.epoch = row["epoch"] + 1
        sign = 1.0 if monitor in MAXIMIZE else -1.0
        improved = math.isfinite(score) and (
            self.best_epoch < 0
            or not math.isfinite(self.best_score)
            or sign * score > sign * self.best_score
        )
        if improved or self.best_epoch < 0:
            self.best_score, self.best_epoch, self.bad_epochs = score, row["epoch"], 0
            self.best_state = {
                k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()
            }
        else:
            self.bad_epochs += 1


# --- checkpoints (safetensors + JSON metadata, never pickle) ----------------------------


def _save_atomic(tensors: dict[str, torch.Tensor], path: Path, meta: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(
        {k: v.contiguous() for k, v in tensors.items()},
        str(tmp),
        metadata={"edgelab": json.dumps(meta)},
    )
    tmp.replace(path)


def save_checkpoint(path: Path, net: nn.Module, opt, sched, run: _RunState) -> None:
    """Weights, optimizer moments, scheduler, torch RNG and the run state, in one file."""
    tensors = {f"model.{k}": v.detach().cpu() for k, v in net.state_dict().items()}
    tensors.update({f"best.{k}": v for k, v in run.best_state.items()})
    opt_state = opt.state_dict()
    scalars: dict[str, dict] = {}
    for idx, state in opt_state["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{idx}.{key}"] = value.detach().cpu()
            else:
                scalars.setdefault(str(idx), {})[key] = value
    tensors["rng.torch"] = torch.get_rng_state()
    meta = {
        "param_groups": opt_state["param_groups"],
        "optim_scalars": scalars,
        "scheduler": sched.state_dict() if sched is not None else None,
        "run": {k: v for k, v in asdict(run).items() if k != "best_state"},
    }
    _save_atomic(tensors, Path(path), meta)


def load_checkpoint(path: str | Path, net: nn.Module, opt, sched) -> _RunState:
    """Restore what `save_checkpoint` wrote into `net`, `opt`, `sched`; returns the run state."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"resume: no checkpoint at '{path}'")
    with safe_open(str(path), framework="pt") as fh:
        meta = json.loads(fh.metadata()["edgelab"])
    tensors = load_file(str(path))
    net.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    for idx, extra in meta["optim_scalars"].items():
        state.setdefault(int(idx), {}).update(extra)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    if sched is not None and meta["scheduler"] is not None:
        sched.load_state_dict(meta["scheduler"])
    torch.set_rng_state(tensors["rng.torch"])
    run = _RunState(**meta["run"])
    run.best_state = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
    return run


# --- validation metrics ---------------------------------------------------------------------


def validation_metrics(got: dict[str, np.ndarray], cost: float) -> dict[str, float]:
    """Metrics of collected outputs (`Objective.collect`), NaN where undefined.

    auc / pr_auc: ROC-AUC and average precision of class 1 (binary) or their one-vs-rest
    macro averages (3+ classes); accuracy: of the arg-max class; ic: Spearman correlation
    of the return head with its target; sharpe: per-bar mean / std of the PnL of the
    position's sign, net of `cost` per unit turnover, per asset in time order (a ranking
    score for early stopping, not annualized; overlapping when the horizon is > 1 bar).
    """
    from scipy.stats import spearmanr
    from sklearn.metrics import average_precision_score, roc_auc_score

    out = dict.fromkeys(("auc", "pr_auc", "accuracy", "ic", "sharpe"), float("nan"))
    if not got or len(got["y"]) == 0:
        return out
    if "proba" in got:
        y, proba = got["y"].astype(int), got["proba"]
        out["accuracy"] = float(np.mean(proba.argmax(1) == y))
        present = np.unique(y)
        if len(present) >= 2:
            if proba.shape[1] == 2:
                out["auc"] = float(roc_auc_score(y, proba[:, 1]))
                out["pr_auc"] = float(average_precision_score(y, proba[:, 1]))
            else:
                onehot = (y[:, None] == present[None, :]).astype(int)
                out["auc"] = float(roc_auc_score(onehot, proba[:, present], average="macro"))
                out["pr_auc"] = float(
                    average_precision_score(onehot, proba[:, present], average="macro")
                )
    if "ret" in got and np.std(got["ret"]) > 0 and np.std(got["ret_true"]) > 0:
        out["ic"] = float(spearmanr(got["ret"], got["ret_true"]).statistic)
    order = np.argsort(got["row"], kind="stable")  # stacked rows: per asset, in time order
    pos, fwd, asset = np.sign(got["position"][order]), got["fwd"][order], got["asset"][order]
    turnover = np.abs(np.diff(pos, prepend=0.0))
    first = np.r_[True, asset[1:] != asset[:-1]]
    turnover[first] = np.abs(pos[first])  # each asset starts flat: entering costs too
    pnl = pos * fwd - cost * turnover
    if len(pnl) > 1 and np.std(pnl) > 0:
        out["sharpe"] = float(np.mean(pnl) / np.std(pnl))
    return out


# --- history files and plots ------------------------------------------------------------------


def write_history(history: list[dict], directory: Path) -> None:
    """`history.csv` and `history.json` (one row per epoch), written atomically."""
    import pandas as pd

    directory.mkdir(parents=True, exist_ok=True)
    for name, text in (
        ("history.csv", pd.DataFrame(history).to_csv(index=False)),
        ("history.json", json.dumps(history, indent=1)),
    ):
        tmp = directory / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(directory / name)


def plot_history(history: list[dict], path: Path) -> None:
    """PNG with three panels: train/val loss, validation metrics, learning rate per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] + 1 for h in history]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for key in ("train_loss", "val_loss"):
        if key in history[0]:
            axes[0].plot(epochs, [h[key] for h in history], marker="o", label=key)
    for key in ("val_auc", "val_pr_auc", "val_ic", "val_sharpe"):
        values = [h.get(key, float("nan")) for h in history]
        if any(math.isfinite(v) for v in values):
            axes[1].plot(epochs, values, marker="o", label=key[4:])
    axes[2].plot(epochs, [h["lr"] for h in history], marker="o")
    axes[2].set_yscale("log")
    for ax, title in zip(axes, ("loss", "validation metrics", "learning rate"), strict=True):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.tight_layout()
    save_png(fig, path, dpi=80)


# --- progress ------------------------------------------------------------------------------


class _progress:
    """A rich progress bar with live metrics (a no-op when disabled or not a terminal)."""

    def __init__(self, enabled: bool | None, total: int, done: int) -> None:
        import sys

        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.total, self.done, self.last, self.text = total, done, 0.0, ""

    def __enter__(self) -> _progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.bar = Progress(
                TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                TextColumn("{task.fields[metrics]}"), console=Console(stderr=True),
                transient=True,  # gone when the fit ends: no clutter under a pipeline display
            )  # fmt: skip
            self.bar.__enter__()
            self.task = self.bar.add_task(
                "train", total=self.total, completed=self.done, metrics=""
            )
        return self

    def step(self, running_loss) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self.last > 0.25:  # refreshing costs a sync: at most 4 times a second
            self.last = now
            self.bar.update(self.task, advance=0, metrics=f"loss {running_loss():.4f}{self.text}")
        self.bar.advance(self.task)

    def epoch_done(self, epoch: int, epochs: int, row: dict) -> None:
        if not self.enabled:
            return
        shown = [
            f"{k[4:]} {v:.4f}" for k, v in row.items() if k.startswith("val_") and math.isfinite(v)
        ]
        self.text = f" | epoch {epoch + 1}/{epochs} val " + " ".join(shown) if shown else ""
        self.bar.update(self.task, metrics=f"loss {row['train_loss']:.4f}{self.text}")

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self.bar.__exit__(*exc)
