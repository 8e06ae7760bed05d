"""Training objectives: class and return losses, weighted dual-head sums, trading losses.

Shapes: network outputs and batch targets share the batch's target shape S ((B,),
(B, chunk) or (B, assets), see `edgelab.train.windows`); `logits` has a trailing class
axis K (K = 1: binary, one logit for the class with code 1; K >= 3: one per class).

- `class_loss`: BCE-with-logits (optional `pos_weight`) or cross-entropy (optional class
  weights), on the labeled entries.
- `return_loss`: L1, Huber or MSE between the return head and the target divided by
  `ret_scale` (the train standard deviation), so the loss is unit-free.
- Trading objectives on a position in [-1, 1] per bar: `pnl_series` is the bar PnL
  `position_t * forward_return_t - cost * |position_t - position_{t-1}|` along consecutive
  bars (turnover is not charged across a sequence start or an asset change);
  `mean_pnl_loss` is minus its mean, `sharpe_loss` minus mean / std (per bar). `Objective`
  measures PnL in units of `fwd_scale` (the train standard deviation of the forward
  return), so a trading loss weighs about as much as a head loss in a weighted sum.
- `Objective` sums `weights[head] * loss` over the heads in use and turns outputs into
  positions: `p_long - p_short` for classifiers (= tanh(logit / 2) for binary), and
  `tanh(return / ret_scale)` for return-only networks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from edgelab.errors import ModelError
from edgelab.train.windows import Batch

RETURN_LOSSES = ("l1", "huber", "mse")
TRADING_LOSSES = ("pnl", "sharpe")


def class_loss(
    logits: torch.Tensor,
    y: torch.Tensor,
    class_weight: torch.Tensor | None = None,
    pos_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean BCE (K = 1) or cross-entropy (K >= 2) of logits (N, K) against codes y (N,)."""
    if logits.shape[-1] == 1:
        return F.binary_cross_entropy_with_logits(logits[:, 0], y.float(), pos_weight=pos_weight)
    return F.cross_entropy(logits, y.long(), weight=class_weight)


def return_loss(
    pred: torch.Tensor, target: torch.Tensor, kind: str = "l1", delta: float = 1.0
) -> torch.Tensor:
    """Mean L1, Huber (`delta`) or squared error between pred (N,) and target (N,)."""
    if kind == "l1":
        return F.l1_loss(pred, target)
    if kind == "huber":
        return F.huber_loss(pred, target, delta=delta)
    if kind == "mse":
        return F.mse_loss(pred, target)
    raise ModelError(f"unknown return loss '{kind}'; known: {', '.join(RETURN_LOSSES)}")


def pnl_series(
    position: torch.Tensor,
    fwd: torch.Tensor,
    cost: float,
    mask: torch.Tensor,
    same: torch.Tensor | None = None,
) -> torch.Tensor:
    """Bar PnL net of turnover costs, (S, T) with T consecutive bars per row.

    position, fwd: (S, T); cost: fraction per unit of turnover (10 bps = 0.001); mask: bool
    (S, T), unlabeled bars earn nothing; same: bool (S, T - 1), whether bar t continues
    bar t-1's series (default: all). Returns (S, T), zero where masked.
    """
    m = mask.to(position.dtype)
    gross = position * fwd * m
    link = mask[:, 1:] & mask[:, :-1]
    if same is not None:
        link = link & same
    turnover = (position[:, 1:] - position[:, :-1]).abs() * link.to(position.dtype)
    return gross - cost * F.pad(turnover, (1, 0))


def mean_pnl_loss(pnl: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Minus the mean bar PnL over labeled bars."""
    return -pnl.sum() / mask.sum().clamp(min=1)


def sharpe_loss(pnl: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Minus the per-bar Sharpe ratio (mean / std of PnL over labeled bars)."""
    m = mask.to(pnl.dtype)
    n = m.sum().clamp(min=1)
    mean = pnl.sum() / n
    var = ((pnl - mean) ** 2 * m).sum() / n
    return -mean / torch.sqrt(var + eps)


def _series(t: torch.Tensor, time_dim: int) -> torch.Tensor:
    """(S...) with time along `time_dim` -> (series, T)."""
    t = t.movedim(time_dim, -1)
    return t.reshape(-1, t.shape[-1])


@dataclass
class Objective:
    """The training loss of a network with a class head and/or a return head.

    n_logits: 0 (no class head), 1 (binary) or K; class_sign: +1/0/-1 per class code (the
    position a class stands for); return_target: "y" (regression Samples) or "fwd" (the
    forward return beside class labels); weights: per head ("class", "return", "trading");
    cost: trading cost per unit turnover (fraction); ret_scale, fwd_scale: the train
    standard deviations of the return target and of the forward return (loss units).
    """

    n_logits: int = 0
    return_head: bool = False
    return_target: str = "fwd"
    return_loss: str = "l1"
    trading: str | None = None
    weights: dict[str, float] = field(default_factory=dict)
    class_weight: torch.Tensor | None = None
    pos_weight: torch.Tensor | None = None
    class_sign: torch.Tensor | None = None
    ret_scale: float = 1.0
    fwd_scale: float = 1.0
    cost: float = 0.001
    huber_delta: float = 1.0

    def __post_init__(self) -> None:
        if self.return_loss not in RETURN_LOSSES:
            raise ModelError(
                f"unknown return loss '{self.return_loss}'; known: {', '.join(RETURN_LOSSES)}"
            )
        if self.trading not in (None, *TRADING_LOSSES):
            raise ModelError(f"unknown trading objective '{self.trading}'; known: pnl, sharpe")
        if not self.n_logits and not self.return_head:
            raise ModelError("a network needs a class head, a return head or both")
        self.weights = {"class": 1.0, "return": 1.0, "trading": 1.0, **self.weights}
        w = self.weights
        if not (
            (self.n_logits and w["class"]) or (self.return_head and w["return"])
            or (self.trading and w["trading"])
        ):  # fmt: skip
            raise ModelError("every loss in use has weight 0: nothing to train (see loss_weights)")

    def to(self, device: torch.device) -> Objective:
        for name in ("class_weight", "pos_weight", "class_sign"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, value.to(device))
        return self

    def position(self, out: dict[str, torch.Tensor]) -> torch.Tensor:
        """Position in [-1, 1] per output entry (target shape S), differentiable."""
        if self.n_logits:
            logits = out["logits"].float()
            if self.n_logits == 1:
                sign = self.class_sign  # sign of code 1 and code 0: p1 * s1 + (1 - p1) * s0
                p = torch.sigmoid(logits[..., 0])
                return p * sign[1] + (1 - p) * sign[0]
            return torch.softmax(logits, -1) @ self.class_sign
        return torch.tanh(out["ret"].float())

    def __call__(self, out: dict[str, torch.Tensor], batch: Batch) -> tuple[torch.Tensor, dict]:
        """(total loss, {part name: detached value}) over the labeled entries of `batch`."""
        m = batch.mask
        parts: dict[str, torch.Tensor] = {}
        w = self.weights
        if self.n_logits and w["class"]:
            logits = out["logits"][m].float()
            parts["class"] = class_loss(logits, batch.y[m], self.class_weight, self.pos_weight)
        if self.return_head and w["return"]:
            target = (batch.y if self.return_target == "y" else batch.fwd)[m] / self.ret_scale
            parts["return"] = return_loss(
                out["ret"][m].float(), target, self.return_loss, self.huber_delta
            )
        if self.trading and w["trading"]:
            parts["trading"] = self.trading_loss(out, batch)
        total = sum(w[k] * v for k, v in parts.items())
        return total, {k: v.detach() for k, v in parts.items()}

    def trading_loss(self, out: dict[str, torch.Tensor], batch: Batch) -> torch.Tensor:
        if batch.time_dim is None:
            raise ModelError("trading objectives need time-ordered batches (contiguous=True)")
        td = batch.time_dim
        pos = _series(self.position(out), td)
        mask = _series(batch.mask, td)
        asset = _series(batch.asset, td)
        fwd = _series(batch.fwd, td) / self.fwd_scale
        same = asset[:, 1:] == asset[:, :-1]
        pnl = pnl_series(pos, fwd, self.cost / self.fwd_scale, mask, same)
        return mean_pnl_loss(pnl, mask) if self.trading == "pnl" else sharpe_loss(pnl, mask)

    def collect(self, out: dict[str, torch.Tensor], batch: Batch) -> dict[str, np.ndarray]:
        """Labeled entries as flat numpy arrays: probabilities, return (target units),
        return target, position, y, fwd, row, asset. For validation metrics and predictions."""
        m = batch.mask
        got: dict[str, np.ndarray] = {}
        if self.n_logits:
            logits = out["logits"][m].double()  # float64: rows sum to 1 to 1e-15
            if self.n_logits == 1:
                p1 = torch.sigmoid(logits[:, 0])
                proba = torch.stack([1 - p1, p1], 1)
            else:
                proba = torch.softmax(logits, -1)
            got["proba"] = proba.cpu().numpy()
        if self.return_head:
            got["ret"] = (out["ret"][m].float() * self.ret_scale).cpu().numpy()
            got["ret_true"] = (batch.y if self.return_target == "y" else batch.fwd)[m].cpu().numpy()
        got["position"] = self.position(out)[m].detach().cpu().numpy()
        for name in ("y", "fwd", "row", "asset"):
            got[name] = getattr(batch, name)[m].cpu().numpy()
        return got
