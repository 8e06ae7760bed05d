"""The numbers of one run's `metrics.json`: prediction scores, calibration scores,
seeded bootstrap intervals and paired tests against the best baseline.

This module owns what `edgelab run`, `edgelab walkforward` and `edgelab ablate` say
about each model that does NOT depend on the run history (those go to `edge.json`, see
`edgelab.evaluate.edge`), so that the same config and seed give byte-identical
`metrics.json`:

- `prediction_metrics(pred, y, ...)`: the classification / regression scores of
  `edgelab.evaluate.metrics` on labeled rows.
- `calibration_report(...)`: ECE, MCE and Brier of the raw and of the calibrated
  probabilities on validation and test.
- `intervals(...)`: block-bootstrap intervals (seeded) of the test AUC and accuracy
  (classifiers) and of the backtest's Sharpe ratio and CAGR after costs.
- `baseline_comparisons(returns, baselines)`: every model against the best baseline
  other than itself (highest Sharpe): Diebold–Mariano and a paired block bootstrap of
  the Sharpe difference (`edge.compare_to_baseline`).

Everything returned is JSON-safe after `json_safe`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from edgelab.evaluate.edge import compare_to_baseline, json_safe, prediction_intervals
from edgelab.evaluate.significance import cagr_interval, sharpe_interval

__all__ = [
    "BASELINE_TYPES",
    "RULE_MODELS",
    "baseline_comparisons",
    "calibration_report",
    "class_columns",
    "intervals",
    "json_safe",
    "prediction_metrics",
]

#: Rule baselines: nothing is fitted, so nothing is calibrated or thresholded.
RULE_MODELS = ("buy_hold", "sma_cross")
#: Model types that are baselines by default (`evaluation.baselines` overrides).
BASELINE_TYPES = ("buy_hold", "sma_cross", "logistic", "lightgbm")


def class_columns(label_map: Mapping[int, str]) -> list[str]:
    return [f"p_{label_map[k]}" for k in sorted(label_map)]


def prediction_metrics(
    pred: pd.DataFrame,
    y: np.ndarray,
    forward_return: np.ndarray,
    *,
    target: str,
    label_map: Mapping[int, str],
) -> dict[str, Any]:
    """Scores of predictions `pred` (n rows) against targets `y` (n,); `forward_return`
    (n,) scores an `expected_return` column of a classifier."""
    from edgelab.evaluate.metrics import classification_metrics, regression_metrics

    out: dict[str, Any] = {}
    cols = [c for c in class_columns(label_map) if c in pred.columns]
    if target == "class" and cols:
        out.update(classification_metrics(y, pred[cols].to_numpy(), dict(label_map)))
    if "expected_return" in pred.columns:
        truth = y if target == "return" else forward_return
        ok = np.isfinite(truth)
        reg = regression_metrics(truth[ok], pred["expected_return"].to_numpy()[ok])
        out.update(reg if target == "return" else {f"return_{k}": v for k, v in reg.items()})
    return out


def calibration_report(
    method: str,
    bins: int,
    label_map: Mapping[int, str],
    splits: Mapping[str, tuple[pd.DataFrame, pd.DataFrame, np.ndarray]],
) -> dict[str, Any] | None:
    """{"method", "bins", split: {"raw": scores, "calibrated": scores}} for each split of
    `splits` = {name: (raw predictions, calibrated predictions, y)}; None for models
    without class probabilities. "calibrated" is left out when nothing was calibrated."""
    from edgelab.evaluate.calibration import calibration_scores

    cols = class_columns(label_map)
    out: dict[str, Any] = {"method": method, "bins": bins}
    for name, (raw, done, y) in splits.items():
        if not cols or not set(cols) <= set(raw.columns):
            return None
        entry = {"raw": calibration_scores(y, raw[cols].to_numpy(), bins)}
        if method != "none":
            entry["calibrated"] = calibration_scores(y, done[cols].to_numpy(), bins)
        out[name] = entry
    return out


def intervals(
    pred: pd.DataFrame | None,
    y: np.ndarray | None,
    returns: np.ndarray,
    periods_per_year: float,
    *,
    label_map: Mapping[int, str],
    n_boot: int,
    level: float,
    block: float | None,
    seed: int,
) -> dict[str, Any]:
    """Bootstrap intervals: `auc`, `accuracy` (class probabilities against codes `y`,
    rows in time order) and `sharpe`, `cagr` of the per-bar net `returns`."""
    kw = {"n_boot": n_boot, "level": level, "block": block, "seed": seed}
    out: dict[str, Any] = {}
    cols = class_columns(label_map)
    usable = pred is not None and cols and set(cols) <= set(pred.columns) and len(y) >= 3
    if usable and len(np.unique(y)) >= 2:  # AUC needs both classes
        out.update(prediction_intervals(y, pred[cols].to_numpy(), **kw))
    r = np.asarray(returns, dtype=np.float64)
    out["sharpe"] = sharpe_interval(r, periods_per_year, **kw).to_dict()
    out["cagr"] = cagr_interval(r, periods_per_year, **kw).to_dict()
    return out


def baseline_comparisons(
    returns: Mapping[str, np.ndarray],
    baselines: Sequence[str],
    *,
    n_boot: int,
    block: float | None,
    seed: int,
) -> dict[str, Any]:
    """Each model against the best baseline other than itself (by Sharpe) on the same
    bars; models with no other baseline get no entry. p-values test "the model is
    better" (see `edge.compare_to_baseline`)."""
    out: dict[str, Any] = {}
    for name, r in returns.items():
        others = [b for b in baselines if b != name and b in returns]
        if not others:
            continue
        pool = {b: returns[b] for b in others}
        pool[name] = r
        found = compare_to_baseline(pool, others, n_boot=n_boot, block=block, seed=seed)
        out[name] = found[name]
    return out
