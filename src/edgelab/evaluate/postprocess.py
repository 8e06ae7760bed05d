"""What happens to a model's predictions between `predict` and the policy, fitted on
validation only: calibration, the linear correction of regression outputs, and frozen
decision thresholds.

This module owns the `PostProcess` of one model:

- `fit_postprocess(...)` sees the VALIDATION predictions and targets of one model and
  fits, in this order, the linear correction of `expected_return`
  (`thresholds.LinearCorrection`), the probability calibrator
  (`calibration.make_calibrator`) and the decision threshold(s)
  (`thresholds.search_threshold`, on the calibrated validation scores, with the costs
  of the backtest). It takes no test data, so nothing of the test span can enter.
- `PostProcess.apply(predictions)` applies the correction and the calibrator to any
  predictions (validation, test, live); `PostProcess.decisions(predictions)` turns them
  into what the policy reads: the predictions themselves, or, with searched thresholds,
  a frame whose `expected_return` column is the frozen decision +1 / 0 / -1 per row
  (read by the `sign` policy, or as the entry of `hold` / `bracket`, see
  `decision_policy`).
- `to_dict()` / `postprocess_from_dict()` is the JSON state stored in the model
  bundle's `model.json`, so a loaded bundle predicts exactly as the run did.
- `next_bar_returns(bars, assets, times)`: the simple return from the close of bar t to
  the close of the next bar of the same asset, which the `sharpe` objective needs.

Predictions are DataFrames indexed by timestamp, or by (asset, timestamp) for many
assets (`Samples.prediction_index`), with `p_<class>` and/or `expected_return` columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from edgelab.errors import ConfigError
from edgelab.evaluate.calibration import Calibrator, calibrator_from_dict, make_calibrator
from edgelab.evaluate.thresholds import (
    LinearCorrection,
    ThresholdResult,
    search_threshold,
    signal_score,
)

__all__ = [
    "PostProcess",
    "decision_policy",
    "fit_postprocess",
    "next_bar_returns",
    "postprocess_from_dict",
    "row_assets",
]


def row_assets(predictions: pd.DataFrame, default: str) -> np.ndarray:
    """The asset of every prediction row: the `asset` index level, else `default`."""
    index = predictions.index
    if isinstance(index, pd.MultiIndex) and "asset" in index.names:
        return np.asarray(index.get_level_values("asset")).astype(str)
    return np.full(len(predictions), str(default))


def next_bar_returns(
    bars: dict[str, pd.DataFrame], assets: np.ndarray, times: pd.DatetimeIndex
) -> np.ndarray:
    """close[next bar] / close[t] - 1 for every (asset, time) row; NaN at an asset's
    last bar. Looks one bar ahead on purpose: it is the outcome a position decided at t
    earns, used only to score thresholds on validation rows."""
    out = np.full(len(times), np.nan)
    for name in np.unique(assets):
        close = bars[str(name)]["close"]
        nxt = (close.shift(-1) / close - 1.0).reindex(times[assets == name])
        out[assets == name] = nxt.to_numpy(dtype=np.float64)
    return out


@dataclass
class PostProcess:
    """The validation-fitted steps of one model (each None when not configured)."""

    calibrator: Calibrator | None = None
    correction: LinearCorrection | None = None
    thresholds: ThresholdResult | None = None
    label_map: dict[int, str] = field(default_factory=dict)
    label_sign: dict[int, int] = field(default_factory=dict)
    asset: str = ""  # the asset name of single-asset predictions (no asset level)
    notes: list[str] = field(default_factory=list)

    def apply(self, predictions: pd.DataFrame) -> pd.DataFrame:
        """Corrected and calibrated predictions (a copy; the input is untouched)."""
        out = predictions
        if self.correction is not None and "expected_return" in out.columns:
            out = out.copy()
            out["expected_return"] = self.correction.apply(out["expected_return"].to_numpy())
        if self.calibrator is not None:
            out = self.calibrator.apply(out)
        return out

    def decisions(self, predictions: pd.DataFrame) -> pd.DataFrame:
        """What the policy reads (module doc): the predictions, or the frozen threshold
        decisions as an `expected_return` column of +1 / 0 / -1."""
        if self.thresholds is None:
            return predictions
        score = signal_score(predictions, self.label_map, self.label_sign)
        groups = row_assets(predictions, self.asset) if self.thresholds.per_asset else None
        position = self.thresholds.positions(score, groups)
        return pd.DataFrame({"expected_return": position}, index=predictions.index)

    def to_dict(self) -> dict[str, Any]:
        """JSON state for model.json (`postprocess_from_dict` reverses it)."""
        return {
            "calibrator": None if self.calibrator is None else self.calibrator.to_dict(),
            "correction": None if self.correction is None else self.correction.to_dict(),
            "thresholds": None if self.thresholds is None else self.thresholds.to_dict(),
            "label_map": {str(k): v for k, v in self.label_map.items()},
            "label_sign": {str(k): v for k, v in self.label_sign.items()},
            "asset": self.asset,
            "notes": list(self.notes),
        }


def postprocess_from_dict(state: dict[str, Any] | None) -> PostProcess:
    """Rebuild a `PostProcess` from `PostProcess.to_dict()` (None: nothing fitted)."""
    if not state:
        return PostProcess()
    return PostProcess(
        calibrator=calibrator_from_dict(state["calibrator"]) if state.get("calibrator") else None,
        correction=LinearCorrection.from_dict(state["correction"])
        if state.get("correction")
        else None,
        thresholds=ThresholdResult.from_dict(state["thresholds"])
        if state.get("thresholds")
        else None,
        label_map={int(k): v for k, v in (state.get("label_map") or {}).items()},
        label_sign={int(k): int(v) for k, v in (state.get("label_sign") or {}).items()},
        asset=str(state.get("asset", "")),
        notes=list(state.get("notes", [])),
    )


def _class_columns(label_map: dict[int, str]) -> list[str]:
    return [f"p_{label_map[k]}" for k in sorted(label_map)]


def _fit_calibrator(cfg, pre: PostProcess, pred: pd.DataFrame, y: np.ndarray) -> None:
    columns = _class_columns(pre.label_map)
    if cfg.method == "none" or not set(columns) <= set(pred.columns):
        return
    proba = pred[columns].to_numpy(dtype=np.float64)
    if np.ptp(proba, axis=0).max() == 0:
        pre.notes.append(
            f"calibration {cfg.method}: the validation probabilities are constant, "
            "nothing to calibrate; left as predicted"
        )
        return
    pre.calibrator = make_calibrator(cfg.method).fit(proba, y, columns=columns)


def _threshold_inputs(
    objective: str, y: np.ndarray, pre: PostProcess, next_return, horizon_return
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(labels, returns) the objective scores against, on the validation rows."""
    if objective == "f1":
        if not pre.label_map:
            raise ConfigError(
                "'thresholds.objective' f1 needs class labels; use sharpe or avg_profit "
                "for labels.kind forward_return"
            )
        long_codes = [c for c, s in pre.label_sign.items() if s > 0]
        return np.isin(y, long_codes).astype(np.int64), None
    returns = next_return if objective == "sharpe" else horizon_return
    return None, np.asarray(returns, dtype=np.float64)


def fit_postprocess(
    calibration,
    thresholds,
    *,
    val_pred: pd.DataFrame,
    val_y: np.ndarray,
    label_map: dict[int, str],
    label_sign: dict[int, int],
    asset: str,
    next_return: np.ndarray,
    horizon_return: np.ndarray,
    cost_bps: float,
    periods_per_year: float,
) -> PostProcess:
    """Fit the post-processing of one model on its VALIDATION rows (module doc).

    `calibration`, `thresholds`: the config sections; `val_pred` (n rows) with `val_y`
    (n,) its targets (class codes, or returns for a return target); `next_return` (n,)
    the next bar's return and `horizon_return` (n,) the label-horizon forward return of
    each row; `cost_bps` per unit of turnover; `asset` names single-asset rows.
    """
    pre = PostProcess(label_map=dict(label_map), label_sign=dict(label_sign), asset=asset)
    y = np.asarray(val_y, dtype=np.float64)
    if calibration.linear_correction and "expected_return" in val_pred.columns:
        truth = y if not label_map else np.asarray(horizon_return, dtype=np.float64)
        ok = np.isfinite(truth)
        pre.correction = LinearCorrection().fit(
            val_pred["expected_return"].to_numpy()[ok], truth[ok]
        )
    if label_map:
        _fit_calibrator(calibration, pre, pre.apply(val_pred), y)
    if thresholds.objective == "none":
        return pre
    ready = pre.apply(val_pred)
    score = signal_score(ready, pre.label_map, pre.label_sign)
    labels, returns = _threshold_inputs(thresholds.objective, y, pre, next_return, horizon_return)
    keep = np.isfinite(returns) if returns is not None else np.ones(len(score), dtype=bool)
    if not keep.all():
        pre.notes.append(
            f"thresholds: {int((~keep).sum())} validation rows without a known return were "
            "left out of the search"
        )
    groups = row_assets(val_pred, asset)[keep] if thresholds.per_asset else None
    pre.thresholds = search_threshold(
        score[keep],
        objective=thresholds.objective,
        labels=None if labels is None else labels[keep],
        returns=None if returns is None else returns[keep],
        cost_bps=cost_bps,
        grid=thresholds.grid,
        side=thresholds.side,
        groups=groups,
        min_trades=thresholds.min_trades,
        periods_per_year=periods_per_year,
    )
    pre.notes.extend(pre.thresholds.notes)
    return pre


def decision_policy(policy_kind: str, params: dict[str, Any]):
    """The policy that reads `PostProcess.decisions` frames: `sign` for per-bar
    policies; `hold` / `bracket` keep their holding or bracket and take the frozen
    decision as their entry."""
    from edgelab.backtest.policies import get_policy

    if policy_kind in ("hold", "bracket"):
        rest = {k: v for k, v in params.items() if k not in ("entry", "entry_params")}
        return get_policy(policy_kind, **rest, entry="sign", entry_params={})
    return get_policy("sign", threshold=0.0)
