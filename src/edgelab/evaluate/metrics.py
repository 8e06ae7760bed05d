"""Prediction metrics: classification (2 or 3 classes) and return regression.

This module owns the scores that go into `metrics.json` and the report, all computed by
scikit-learn / scipy so that they mean what those libraries document:

- `classification_metrics(y, proba, label_map)`: accuracy, balanced accuracy, per-class
  and macro precision / recall / F1 (zero_division=0), ROC-AUC (binary: of the second
  class; 3 classes: one-vs-rest macro), PR-AUC (average precision; 3 classes: macro over
  one-vs-rest), Brier score (binary: mean squared error of p(class 1); 3 classes: the
  multi-class sum over classes, scikit-learn's definition), log loss, the confusion
  matrix and the class counts. Scores that are undefined on the data (e.g. AUC when the
  truth holds one class) are `None`, never a made-up number.
- `regression_metrics(y, pred)`: MAE, RMSE, Spearman information coefficient and the
  hit rate of the predicted sign.
- `confusion_png(matrix, names, path)`: the confusion matrix as a PNG.

Inputs are plain arrays; `y` holds class codes 0..k-1 (float or int), `proba` is (n, k)
with rows summing to 1.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr
from sklearn import metrics as skm

from edgelab.errors import ModelError
from edgelab.figures import save_png


def _num(value: Any) -> float | None:
    """A JSON-safe float: None for NaN/inf (undefined scores)."""
    value = float(value)
    return value if math.isfinite(value) else None


def _checked(y: np.ndarray, proba: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape != (len(y), k):
        raise ModelError(f"probabilities must have shape ({len(y)}, {k}), got {proba.shape}")
    if not np.isfinite(y).all() or not np.isfinite(proba).all():
        raise ModelError("metrics need finite labels and probabilities (drop unlabeled rows first)")
    if len(y) == 0:
        raise ModelError("metrics need at least one labeled row")
    return y.astype(np.int64), proba


def _auc_scores(y: np.ndarray, proba: np.ndarray, k: int) -> dict[str, float | None]:
    present = np.unique(y)
    if len(present) < 2:
        return {"roc_auc": None, "pr_auc": None}
    if k == 2:
        return {
            "roc_auc": _num(skm.roc_auc_score(y, proba[:, 1])),
            "pr_auc": _num(skm.average_precision_score(y, proba[:, 1])),
        }
    # One-vs-rest per class present in the truth; absent classes have no defined AUC.
    rocs, prs = [], []
    for c in range(k):
        truth = (y == c).astype(int)
        if 0 < truth.sum() < len(truth):
            rocs.append(skm.roc_auc_score(truth, proba[:, c]))
            prs.append(skm.average_precision_score(truth, proba[:, c]))
    return {"roc_auc": _num(np.mean(rocs)), "pr_auc": _num(np.mean(prs))}


def classification_metrics(
    y: np.ndarray, proba: np.ndarray, label_map: dict[int, str]
) -> dict[str, Any]:
    """Scores of class probabilities `proba` (n, k) against codes `y` (n,); see module doc."""
    k = len(label_map)
    y, proba = _checked(y, proba, k)
    labels = list(range(k))
    names = [label_map[c] for c in labels]
    pred = proba.argmax(axis=1)
    p, r, f, support = skm.precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    clipped = np.clip(proba, 1e-15, 1.0)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    out: dict[str, Any] = {
        "n": len(y),
        "accuracy": _num(skm.accuracy_score(y, pred)),
        "balanced_accuracy": _num(skm.balanced_accuracy_score(y, pred))
        if len(np.unique(y)) > 1
        else None,
        **_auc_scores(y, proba, k),
        "brier": _num(skm.brier_score_loss(y, proba[:, 1] if k == 2 else proba, labels=labels)),
        "log_loss": _num(skm.log_loss(y, clipped, labels=labels)),
        "precision_macro": _num(np.mean(p)),
        "recall_macro": _num(np.mean(r)),
        "f1_macro": _num(np.mean(f)),
        "per_class": {
            names[c]: {
                "precision": _num(p[c]),
                "recall": _num(r[c]),
                "f1": _num(f[c]),
                "support": int(support[c]),
            }
            for c in labels
        },
        "confusion": skm.confusion_matrix(y, pred, labels=labels).tolist(),
        "class_names": names,
    }
    return out


def classification_report_text(y: np.ndarray, proba: np.ndarray, label_map: dict[int, str]) -> str:
    """scikit-learn's text classification report of the arg-max class."""
    k = len(label_map)
    y, proba = _checked(y, proba, k)
    return skm.classification_report(
        y,
        proba.argmax(axis=1),
        labels=list(range(k)),
        target_names=[label_map[c] for c in range(k)],
        zero_division=0,
        digits=4,
    )


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """MAE, RMSE, Spearman IC and sign hit rate of predicted returns `pred` vs `y` (n,)."""
    y = np.asarray(y, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    if y.shape != pred.shape or len(y) == 0:
        raise ModelError(
            f"regression metrics need equal non-empty shapes, got {y.shape} {pred.shape}"
        )
    if not np.isfinite(y).all() or not np.isfinite(pred).all():
        raise ModelError("regression metrics need finite targets and predictions")
    constant = np.ptp(y) == 0 or np.ptp(pred) == 0
    ic = None if constant else _num(spearmanr(y, pred).statistic)
    return {
        "n": len(y),
        "mae": _num(skm.mean_absolute_error(y, pred)),
        "rmse": _num(math.sqrt(skm.mean_squared_error(y, pred))),
        "spearman_ic": ic,
        "sign_hit_rate": _num(np.mean(np.sign(pred) == np.sign(y))),
    }


def confusion_png(matrix: list[list[int]], names: list[str], path: Path, title: str = "") -> Path:
    """Write a confusion-matrix PNG (rows: truth, columns: prediction) to `path`, atomically.

    Built on a bare `Figure` with the Agg canvas: no pyplot state, no backend switch."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.6, 3.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    disp = skm.ConfusionMatrixDisplay(np.asarray(matrix), display_labels=names)
    disp.plot(ax=ax, colorbar=False, cmap="Blues", values_format="d")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_png(fig, path)
