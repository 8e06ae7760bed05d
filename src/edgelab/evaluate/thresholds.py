"""Decision thresholds searched on validation and frozen for test, and a linear
post-correction of regression outputs.

This module owns how a model's score becomes a trade decision:

- `signal_score(predictions, label_map, label_sign)`: one number per row, centred on 0:
  the probabilities weighted by the position each class stands for (binary up/down:
  p_up - p_down; long/short/hold: p_long - p_short), or `expected_return`.
- `search_threshold(scores, objective=..., ...)` tries every threshold of a grid on the
  VALIDATION rows and keeps the best; it takes no test data at all, so a test score can
  not leak into the choice. The result (`ThresholdResult`) is frozen: `positions(...)`
  applies the stored threshold to test scores, `to_dict()` stores it as JSON.
  Rule at threshold t: `side="long"`: long when score > t, else flat; `side="both"`:
  long when score > t, short when score < -t, else flat.
  Objectives:
  - `f1`: F1 of "score > t" against the binary truth `labels` (1 = the positive class).
  - `sharpe`: rows are consecutive bars (per asset); `returns[i]` is the return of the
    bar after row i, the position is held one bar, costs `cost_bps` per unit of
    position change: pnl_i = pos_i * r_i - cost * |pos_i - pos_{i-1}|; the metric is
    mean / std (ddof=1) * sqrt(periods_per_year) (per bar when not given).
  - `avg_profit`: every row with a signal is one trade held for the label horizon;
    `returns[i]` is the forward return over that horizon; trade return = pos_i * r_i -
    2 * cost (a round trip); the metric is the mean trade return (the multi-asset seed
    system's threshold-vs-average-profit curve).
  Thresholds with fewer than `min_trades` trades are not eligible (one lucky trade is
  no evidence). Ties go to the lower threshold (more trades). `groups` (one asset id
  per row) searches one threshold per asset; an asset with no eligible threshold gets
  `None` = never trade it, stated in `notes`.
- `LinearCorrection`: y' = slope * prediction + intercept, fitted on validation by
  least squares (scikit-learn), to undo a scale/offset bias of regression outputs.
- `threshold_png(result, path)`: the metric against the threshold, chosen one marked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression
from sklearn.metrics import f1_score

from edgelab.errors import ConfigError, ModelError, unknown_name
from edgelab.figures import save_png

__all__ = [
    "OBJECTIVES",
    "LinearCorrection",
    "ThresholdResult",
    "search_threshold",
    "signal_score",
    "threshold_png",
]

OBJECTIVES = ("f1", "sharpe", "avg_profit")
GLOBAL = "__all__"


def signal_score(
    predictions: pd.DataFrame, label_map: dict[int, str], label_sign: dict[int, int]
) -> np.ndarray:
    """Centred score per row: sum_c sign(c) * p_c over the `p_<class>` columns, or the
    `expected_return` column for regression predictions (empty `label_map`)."""
    if not label_map:
        if "expected_return" not in predictions.columns:
            raise ModelError("regression predictions need an 'expected_return' column")
        return predictions["expected_return"].to_numpy(dtype=np.float64)
    score = np.zeros(len(predictions))
    for code, name in label_map.items():
        column = f"p_{name}"
        if column not in predictions.columns:
            raise ModelError(
                f"predictions lack column '{column}'; present: {', '.join(map(str, predictions.columns))}"
            )
        if code not in label_sign:
            raise ModelError(f"label_sign has no entry for class {code} ('{name}')")
        score += label_sign[code] * predictions[column].to_numpy(dtype=np.float64)
    return score


def _positions(scores: np.ndarray, grid: np.ndarray, side: str) -> np.ndarray:
    """(G, n) positions for every threshold of the grid."""
    pos = (scores[None, :] > grid[:, None]).astype(np.float64)
    if side == "both":
        pos -= scores[None, :] < -grid[:, None]
    return pos


def _evaluate(
    objective: str,
    pos: np.ndarray,
    labels: np.ndarray | None,
    returns: np.ndarray | None,
    cost: float,
    ppy: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Metric and number of trades per grid row (positions (G, n) of one asset)."""
    if objective == "f1":
        trades = (pos > 0).sum(axis=1)
        metric = np.array([f1_score(labels, row > 0, zero_division=0) for row in pos])
        return metric, trades
    if objective == "avg_profit":
        trades = (pos != 0).sum(axis=1)
        gain = (pos * returns[None, :]).sum(axis=1) - 2 * cost * trades
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(trades > 0, gain / np.maximum(trades, 1), np.nan), trades
    change = np.abs(np.diff(pos, axis=1, prepend=0.0))
    pnl = pos * returns[None, :] - cost * change
    trades = ((change > 0) & (pos != 0)).sum(axis=1)
    mean = pnl.mean(axis=1)
    std = pnl.std(axis=1, ddof=1) if pnl.shape[1] > 1 else np.zeros(len(pnl))
    with np.errstate(invalid="ignore", divide="ignore"):
        sharpe = np.where(std > 0, mean / std, np.where(mean == 0, 0.0, np.nan))
    return sharpe * math.sqrt(ppy), trades


@dataclass(frozen=True)
class ThresholdResult:
    """A threshold (or one per asset) chosen on validation, frozen for test.

    `thresholds`: asset -> threshold (None: no eligible threshold, never trade); a global
    search stores one entry under `"__all__"`. `scores`: the validation metric at the
    chosen threshold. `curve`: one row per (asset, threshold) with `metric`, `n_trades`,
    `eligible`.
    """

    objective: str
    side: str
    thresholds: dict[str, float | None]
    scores: dict[str, float | None]
    curve: pd.DataFrame
    cost_bps: float
    min_trades: int
    notes: list[str] = field(default_factory=list)

    @property
    def per_asset(self) -> bool:
        return GLOBAL not in self.thresholds

    @property
    def threshold(self) -> float | None:
        """The global threshold (ModelError for a per-asset result)."""
        if self.per_asset:
            raise ModelError("this result holds one threshold per asset; use thresholds[asset]")
        return self.thresholds[GLOBAL]

    def positions(self, scores: Any, groups: Any | None = None) -> np.ndarray:
        """Positions (+1 / 0 / -1 per row) of new (test) scores under the frozen
        threshold(s); `groups` names each row's asset for a per-asset result."""
        scores = np.asarray(scores, dtype=np.float64)
        if not self.per_asset:
            t = self.thresholds[GLOBAL]
            return (
                np.zeros_like(scores)
                if t is None
                else _positions(scores, np.array([t]), self.side)[0]
            )
        if groups is None:
            raise ModelError("a per-asset threshold needs `groups` (the asset of each row)")
        groups = np.asarray(groups).astype(str)
        out = np.zeros_like(scores)
        for asset in np.unique(groups):
            if asset not in self.thresholds:
                raise ModelError(
                    f"no threshold was searched for asset '{asset}' (known: "
                    f"{', '.join(self.thresholds)}); search on validation rows of every asset"
                )
            t, rows = self.thresholds[asset], groups == asset
            if t is not None:
                out[rows] = _positions(scores[rows], np.array([t]), self.side)[0]
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON state (without the curve): what a bundle needs to apply the thresholds."""
        return {
            "objective": self.objective,
            "side": self.side,
            "thresholds": dict(self.thresholds),
            "scores": dict(self.scores),
            "cost_bps": self.cost_bps,
            "min_trades": self.min_trades,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> ThresholdResult:
        return cls(
            objective=state["objective"],
            side=state["side"],
            thresholds=dict(state["thresholds"]),
            scores=dict(state["scores"]),
            curve=pd.DataFrame(columns=["asset", "threshold", "metric", "n_trades", "eligible"]),
            cost_bps=float(state["cost_bps"]),
            min_trades=int(state["min_trades"]),
            notes=list(state.get("notes", [])),
        )


def _default_grid(scores: np.ndarray, side: str, n: int = 41) -> np.ndarray:
    """Quantiles of the validation scores (|score| for side="both"), 0..97.5 %, so each
    threshold keeps at least 2.5 % of rows trading."""
    base = np.abs(scores) if side == "both" else scores
    return np.unique(np.quantile(base, np.linspace(0.0, 0.975, n)))


def _check_inputs(
    scores: np.ndarray, objective: str, side: str, labels, returns, cost_bps, groups
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray]:
    if objective not in OBJECTIVES:
        raise ConfigError(unknown_name("threshold objective", objective, OBJECTIVES))
    if side not in ("long", "both"):
        raise ConfigError(f"'thresholds.side' must be 'long' or 'both', got {side!r}")
    n = scores.size
    if scores.ndim != 1 or n == 0 or not np.isfinite(scores).all():
        raise ModelError(f"scores must be a non-empty finite 1-D array, got shape {scores.shape}")
    if objective == "f1":
        if side != "long":
            raise ConfigError("objective 'f1' scores one positive class; use side='long'")
        if labels is None:
            raise ConfigError("objective 'f1' needs `labels` (1 = positive class, 0 = other)")
        labels = np.asarray(labels)
        if labels.shape != (n,) or not np.isin(labels, (0, 1)).all():
            raise ModelError(f"f1 labels must be 0/1 with shape ({n},)")
    else:
        if returns is None:
            raise ConfigError(f"objective '{objective}' needs the validation forward `returns`")
        if cost_bps is None:
            raise ConfigError(
                f"objective '{objective}' needs an explicit `cost_bps` (costs are never "
                "assumed zero); pass the backtest's fee + slippage + spread in bps"
            )
        returns = np.asarray(returns, dtype=np.float64)
        if returns.shape != (n,) or not np.isfinite(returns).all():
            raise ModelError(f"returns must be finite with shape ({n},); drop unlabeled rows")
    group = np.full(n, GLOBAL) if groups is None else np.asarray(groups).astype(str)
    if group.shape != (n,):
        raise ModelError(f"groups must have one asset id per row ({n}), got {group.shape}")
    return labels, returns, group


def search_threshold(
    scores: Any,
    *,
    objective: Literal["f1", "sharpe", "avg_profit"],
    labels: Any | None = None,
    returns: Any | None = None,
    cost_bps: float | None = None,
    grid: Any | None = None,
    side: Literal["long", "both"] = "long",
    groups: Any | None = None,
    min_trades: int = 10,
    periods_per_year: float | None = None,
) -> ThresholdResult:
    """Choose the threshold(s) maximizing `objective` on validation rows (module doc).

    `scores` (n,): validation scores (`signal_score`); `labels` (n,) 0/1 for `f1`;
    `returns` (n,) forward returns (fractions) for `sharpe` / `avg_profit`; `cost_bps`
    per unit of turnover; `grid`: thresholds to try (default: validation quantiles);
    `groups`: asset per row for per-asset thresholds (rows of an asset in time order).
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels, returns, group = _check_inputs(
        scores, objective, side, labels, returns, cost_bps, groups
    )
    cost = 0.0 if cost_bps is None else float(cost_bps) / 1e4
    ppy = 1.0 if periods_per_year is None else float(periods_per_year)
    curves, thresholds, best, notes = [], {}, {}, []
    for asset in pd.unique(group):
        rows = group == asset
        s = scores[rows]
        g = (
            np.sort(np.asarray(grid, dtype=np.float64))
            if grid is not None
            else _default_grid(s, side)
        )
        pos = _positions(s, g, side)
        metric, trades = _evaluate(
            objective,
            pos,
            None if labels is None else labels[rows],
            None if returns is None else returns[rows],
            cost,
            ppy,
        )
        eligible = (trades >= min_trades) & np.isfinite(metric)
        curves.append(
            pd.DataFrame(
                {
                    "asset": asset,
                    "threshold": g,
                    "metric": metric,
                    "n_trades": trades,
                    "eligible": eligible,
                }
            )
        )
        if not eligible.any():
            thresholds[asset], best[asset] = None, None
            notes.append(f"{asset}: no threshold reaches {min_trades} trades; it is not traded")
            continue
        # Ties (equal up to float rounding) go to the lowest threshold: more trades.
        valid = np.where(eligible, metric, -np.inf)
        top = valid.max()
        i = int(np.argmax(valid >= top - 1e-12 * max(1.0, abs(top))))
        thresholds[asset], best[asset] = float(g[i]), float(metric[i])
    return ThresholdResult(
        objective=objective,
        side=side,
        thresholds=thresholds,
        scores=best,
        curve=pd.concat(curves, ignore_index=True),
        cost_bps=float(cost_bps or 0.0),
        min_trades=int(min_trades),
        notes=notes,
    )


def threshold_png(result: ThresholdResult, path: str | Path, title: str = "") -> Path:
    """Write the validation metric against the threshold (one line per asset), the chosen
    threshold(s) marked; atomic write."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.0, 3.2), dpi=100)
    for asset, part in result.curve.groupby("asset", sort=False):
        label = "all assets" if asset == GLOBAL else str(asset)
        (line,) = ax.plot(part["threshold"], part["metric"], lw=1.2, label=label)
        chosen = result.thresholds.get(asset)
        if chosen is not None:
            ax.axvline(chosen, color=line.get_color(), ls=":", lw=1)
    ax.axhline(0.0, color="0.7", lw=0.8)
    ax.set(xlabel="threshold (validation)", ylabel=result.objective, title=title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_png(fig, path)


@dataclass
class LinearCorrection:
    """y' = slope * prediction + intercept, fitted on validation only."""

    slope: float = 1.0
    intercept: float = 0.0
    fitted: bool = False

    def fit(self, predictions: Any, targets: Any) -> LinearCorrection:
        """Least squares of validation `targets` (n,) on `predictions` (n,); returns self."""
        x = np.asarray(predictions, dtype=np.float64)
        y = np.asarray(targets, dtype=np.float64)
        if x.shape != y.shape or x.ndim != 1 or x.size < 2:
            raise ModelError(
                f"linear correction needs two equal 1-D arrays (n >= 2), got {x.shape} {y.shape}"
            )
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise ModelError("linear correction needs finite predictions and targets")
        if np.ptp(x) == 0:
            raise ModelError(
                "linear correction: validation predictions are constant; nothing to fit"
            )
        reg = LinearRegression().fit(x[:, None], y)
        self.slope, self.intercept, self.fitted = float(reg.coef_[0]), float(reg.intercept_), True
        return self

    def apply(self, predictions: Any) -> np.ndarray:
        if not self.fitted:
            raise ModelError("linear correction used before fit (fit it on validation)")
        return self.slope * np.asarray(predictions, dtype=np.float64) + self.intercept

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "linear", "slope": self.slope, "intercept": self.intercept}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> LinearCorrection:
        return cls(float(state["slope"]), float(state["intercept"]), True)
