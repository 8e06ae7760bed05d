"""Probability calibration, fitted on validation predictions only, and its scores.

This module owns how a model's class probabilities are re-mapped so that "70 %" means
70 % of the time, and how that is measured:

- Calibrators (`make_calibrator(kind)`, fitted with `fit(proba, y)` on the VALIDATION
  split, never on train or test):
  - `platt`: p' = sigmoid(a * logit(p) + b), two parameters fitted by maximum likelihood
    with Platt's (1999) smoothed targets. Binary: on the second class, p'_0 = 1 - p'_1;
    more classes: one-vs-rest, then rows renormalized.
  - `isotonic`: scikit-learn's `IsotonicRegression` (monotone, clipped outside the
    fitted range); binary on the second class, more classes one-vs-rest + renormalized.
  - `temperature`: p' = softmax(log(p) / T) with one T > 0 minimizing the validation
    negative log-likelihood (Guo et al. 2017); any number of classes, keeps the arg-max.
- State: `to_dict()` / `calibrator_from_dict(d)` is plain JSON (Platt: a, b; isotonic:
  its threshold arrays; temperature: T) for the model bundle's `model.json`; no pickle.
- `apply(predictions)` rewrites the `p_<class>` columns of a Predictions DataFrame at
  prediction time; other columns and the index are kept.
- Scores: `calibration_scores(y, proba)` -> ECE, MCE (equal-width confidence bins,
  `n_bins` configurable), Brier; `reliability_png(...)` draws the reliability diagram.

Inputs: `proba` (n, k) rows summing to 1 in class-code order (the `p_` columns in
`class_columns(label_map)` order), `y` (n,) class codes 0..k-1 without NaN.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy.optimize import minimize, minimize_scalar
from scipy.special import expit, log_softmax, logit, softmax
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import brier_score_loss

from edgelab.errors import ConfigError, ModelError, unknown_name
from edgelab.figures import save_png

__all__ = [
    "CALIBRATORS",
    "Calibrator",
    "IsotonicCalibrator",
    "PlattCalibrator",
    "TemperatureCalibrator",
    "calibration_bins",
    "calibration_scores",
    "calibrator_from_dict",
    "make_calibrator",
    "reliability_png",
]

# Probabilities are clipped away from 0 and 1 before logs: a model that says exactly 0
# would otherwise make logit/log infinite and the fit undefined.
EPS = 1e-12


def _check(proba: Any, y: Any | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2 or p.shape[0] == 0:
        raise ModelError(f"probabilities must have shape (n >= 1, k >= 2), got {p.shape}")
    if not np.isfinite(p).all():
        row = int(np.argmax(~np.isfinite(p).all(axis=1)))
        raise ModelError(f"probability row {row} is not finite; drop or fix that prediction")
    if y is None:
        return p, None
    y = np.asarray(y, dtype=np.float64)
    if y.shape != (p.shape[0],):
        raise ModelError(f"labels must have shape ({p.shape[0]},), got {y.shape}")
    bad = ~np.isfinite(y) | (y < 0) | (y >= p.shape[1]) | (y != np.round(y))
    if bad.any():
        row = int(np.argmax(bad))
        raise ModelError(
            f"label at row {row} is {y[row]}, not a class code 0..{p.shape[1] - 1}; "
            "calibrate on labeled validation rows only"
        )
    return p, y.astype(np.int64)


def _prob_columns(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ModelError(
            f"predictions lack column(s) {', '.join(missing)} the calibrator was fitted on; "
            f"columns present: {', '.join(map(str, frame.columns))}"
        )
    return columns


class Calibrator(ABC):
    """Maps (n, k) probabilities to calibrated ones; fitted once, on validation."""

    kind: ClassVar[str] = ""

    def __init__(self) -> None:
        self.n_classes_: int | None = None
        self.columns_: list[str] = []

    # --- contract --------------------------------------------------------------------

    def fit(self, proba: Any, y: Any, columns: list[str] | None = None) -> Calibrator:
        """Fit on validation probabilities (n, k) and class codes (n,); returns self.
        `columns`: the `p_<class>` names the probabilities came from (for `apply`)."""
        p, codes = _check(proba, y)
        self.n_classes_ = p.shape[1]
        self.columns_ = list(columns) if columns is not None else []
        self._fit(p, codes)
        return self

    def transform(self, proba: Any) -> np.ndarray:
        """Calibrated probabilities (n, k), rows summing to 1."""
        if self.n_classes_ is None:
            raise ModelError(f"{self.kind} calibrator used before fit (fit it on validation)")
        p, _ = _check(proba)
        if p.shape[1] != self.n_classes_:
            raise ModelError(
                f"{self.kind} calibrator was fitted on {self.n_classes_} classes, got {p.shape[1]}"
            )
        return self._transform(p)

    def apply(self, predictions: pd.DataFrame) -> pd.DataFrame:
        """A copy of a Predictions frame with its `p_<class>` columns calibrated."""
        columns = self.columns_ or [c for c in predictions.columns if str(c).startswith("p_")]
        columns = _prob_columns(predictions, columns)
        out = predictions.copy()
        out[columns] = self.transform(predictions[columns].to_numpy())
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON state: kind, classes, columns and the fitted parameters."""
        if self.n_classes_ is None:
            raise ModelError(f"{self.kind} calibrator has no state before fit")
        return {
            "kind": self.kind,
            "n_classes": self.n_classes_,
            "columns": self.columns_,
            **self._state(),
        }

    @abstractmethod
    def _fit(self, p: np.ndarray, y: np.ndarray) -> None: ...

    @abstractmethod
    def _transform(self, p: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def _state(self) -> dict[str, Any]: ...

    @abstractmethod
    def _set_state(self, state: dict[str, Any]) -> None: ...


class _OneVsRest(Calibrator):
    """Binary: calibrate p(class 1), p(class 0) = 1 - that. k > 2: calibrate each class
    against the rest and renormalize the rows; a row whose calibrated scores are all 0
    becomes uniform (scikit-learn's `CalibratedClassifierCV` rule)."""

    def _targets(self, p: np.ndarray) -> list[int]:
        return [1] if p.shape[1] == 2 else list(range(p.shape[1]))

    def _fit(self, p: np.ndarray, y: np.ndarray) -> None:
        self.maps_ = [self._fit_one(p[:, c], (y == c).astype(np.float64)) for c in self._targets(p)]

    def _transform(self, p: np.ndarray) -> np.ndarray:
        cols = [
            self._apply_one(m, p[:, c]) for m, c in zip(self.maps_, self._targets(p), strict=True)
        ]
        if p.shape[1] == 2:
            return np.column_stack([1.0 - cols[0], cols[0]])
        out = np.column_stack(cols)
        total = out.sum(axis=1, keepdims=True)
        zero = total[:, 0] <= 0
        out[zero] = 1.0 / p.shape[1]
        total[zero] = 1.0
        return out / total

    @abstractmethod
    def _fit_one(self, score: np.ndarray, hit: np.ndarray) -> Any: ...

    @abstractmethod
    def _apply_one(self, params: Any, score: np.ndarray) -> np.ndarray: ...


class PlattCalibrator(_OneVsRest):
    """p' = sigmoid(a * logit(p) + b) per calibrated class (Platt 1999)."""

    kind = "platt"

    def _fit_one(self, score: np.ndarray, hit: np.ndarray) -> tuple[float, float]:
        # A direct two-parameter fit rather than LogisticRegression: Platt's smoothed
        # targets (n+ + 1)/(n+ + 2) and 1/(n- + 2) keep the slope finite when validation
        # is separable, and LogisticRegression only accepts hard 0/1 labels.
        f = logit(np.clip(score, EPS, 1 - EPS))
        n_pos, n_neg = hit.sum(), (1 - hit).sum()
        t = np.where(hit > 0, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))

        def nll(ab: np.ndarray) -> tuple[float, np.ndarray]:
            z = ab[0] * f + ab[1]
            # log(1 + e^z) - t z, stable for large |z|
            loss = np.logaddexp(0.0, z) - t * z
            g = expit(z) - t
            return float(loss.sum()), np.array([np.dot(g, f), g.sum()])

        res = minimize(nll, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
        return float(res.x[0]), float(res.x[1])

    def _apply_one(self, params: tuple[float, float], score: np.ndarray) -> np.ndarray:
        a, b = params
        return expit(a * logit(np.clip(score, EPS, 1 - EPS)) + b)

    def _state(self) -> dict[str, Any]:
        return {"a": [m[0] for m in self.maps_], "b": [m[1] for m in self.maps_]}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.maps_ = [(float(a), float(b)) for a, b in zip(state["a"], state["b"], strict=True)]


class IsotonicCalibrator(_OneVsRest):
    """scikit-learn's isotonic regression per calibrated class; state = its thresholds."""

    kind = "isotonic"

    def _fit_one(self, score: np.ndarray, hit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(score, hit)
        return np.asarray(iso.X_thresholds_, float), np.asarray(iso.y_thresholds_, float)

    def _apply_one(self, params: tuple[np.ndarray, np.ndarray], score: np.ndarray) -> np.ndarray:
        # Same map as IsotonicRegression.predict with out_of_bounds="clip": linear between
        # thresholds, constant beyond them; evaluated from the JSON state without sklearn.
        x, y = params
        return np.interp(score, x, y)

    def _state(self) -> dict[str, Any]:
        return {
            "x_thresholds": [m[0].tolist() for m in self.maps_],
            "y_thresholds": [m[1].tolist() for m in self.maps_],
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self.maps_ = [
            (np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
            for x, y in zip(state["x_thresholds"], state["y_thresholds"], strict=True)
        ]


class TemperatureCalibrator(Calibrator):
    """p' = softmax(log p / T): one temperature for all classes (Guo et al. 2017)."""

    kind = "temperature"

    def _fit(self, p: np.ndarray, y: np.ndarray) -> None:
        logp = np.log(np.clip(p, EPS, 1.0))
        rows = np.arange(len(y))

        def nll(log_t: float) -> float:
            return float(-log_softmax(logp / math.exp(log_t), axis=1)[rows, y].mean())

        # Search log T in [ln 0.01, ln 100]: a temperature outside means the model is
        # degenerate, and the bound keeps the 1-D search well posed.
        res = minimize_scalar(nll, bounds=(math.log(0.01), math.log(100.0)), method="bounded")
        self.temperature_ = float(math.exp(res.x))

    def _transform(self, p: np.ndarray) -> np.ndarray:
        return softmax(np.log(np.clip(p, EPS, 1.0)) / self.temperature_, axis=1)

    def _state(self) -> dict[str, Any]:
        return {"temperature": self.temperature_}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.temperature_ = float(state["temperature"])


CALIBRATORS: dict[str, type[Calibrator]] = {
    c.kind: c for c in (PlattCalibrator, IsotonicCalibrator, TemperatureCalibrator)
}


def make_calibrator(kind: str) -> Calibrator:
    """An unfitted calibrator by name: `platt`, `isotonic` or `temperature`."""
    if kind not in CALIBRATORS:
        raise ConfigError(unknown_name("calibration method", kind, CALIBRATORS))
    return CALIBRATORS[kind]()


def calibrator_from_dict(state: dict[str, Any]) -> Calibrator:
    """Rebuild a fitted calibrator from `Calibrator.to_dict()` (e.g. from model.json)."""
    try:
        cal = make_calibrator(state["kind"])
        cal.n_classes_ = int(state["n_classes"])
        cal.columns_ = list(state.get("columns", []))
        cal._set_state(state)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(
            f"calibrator state is incomplete or malformed ({exc!r}); re-run the fit"
        ) from None
    return cal


# --- scores ----------------------------------------------------------------------------


def calibration_bins(y: Any, proba: Any, n_bins: int = 10) -> pd.DataFrame:
    """Top-label reliability table over `n_bins` equal-width confidence bins on [0, 1].

    Confidence = the largest class probability of a row, hit = its arg-max equals the
    label. Columns: `lower`, `upper`, `count`, `confidence` (mean), `accuracy` (mean hit),
    NaN for empty bins. Hand-binned: scikit-learn's `calibration_curve` drops empty bins
    and returns no counts, which ECE's weights need.
    """
    p, codes = _check(proba, y)
    if int(n_bins) != n_bins or n_bins < 1:
        raise ConfigError(f"'calibration.n_bins' must be an integer >= 1, got {n_bins!r}")
    conf = p.max(axis=1)
    hit = (p.argmax(axis=1) == codes).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Right-closed bins (lower, upper], the first one closed on 0: a confidence of 1.0
    # falls in the last bin.
    which = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, conf, minlength=n_bins) / count
        mean_hit = np.bincount(which, hit, minlength=n_bins) / count
    return pd.DataFrame(
        {
            "lower": edges[:-1],
            "upper": edges[1:],
            "count": count.astype(np.int64),
            "confidence": mean_conf,
            "accuracy": mean_hit,
        }
    )


def calibration_scores(y: Any, proba: Any, n_bins: int = 10) -> dict[str, float]:
    """ECE, MCE and Brier score of probabilities (n, k) against codes (n,).

    ECE = sum_b (n_b / n) |accuracy_b - confidence_b| over the top-label bins of
    `calibration_bins`; MCE = the largest such gap over non-empty bins; Brier is
    scikit-learn's (binary: mean squared error of p(class 1); k > 2: summed over classes),
    the same definition as `edgelab.evaluate.metrics`.
    """
    p, codes = _check(proba, y)
    bins = calibration_bins(codes, p, n_bins)
    full = bins[bins["count"] > 0]
    gap = (full["accuracy"] - full["confidence"]).abs()
    k = p.shape[1]
    brier = brier_score_loss(codes, p[:, 1] if k == 2 else p, labels=list(range(k)))
    return {
        "ece": float((gap * full["count"]).sum() / len(codes)),
        "mce": float(gap.max()),
        "brier": float(brier),
        "n_bins": int(n_bins),
    }


def reliability_png(
    path: str | Path,
    y: Any,
    curves: dict[str, Any],
    *,
    n_bins: int = 10,
    title: str = "",
) -> Path:
    """Write a reliability diagram: accuracy against confidence per bin, one line per
    entry of `curves` (name -> probabilities (n, k), e.g. {"raw": p, "isotonic": q}),
    the diagonal, and the share of rows per bin below. Atomic write (temp + rename)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, hist) = plt.subplots(
        2, 1, figsize=(4.2, 4.6), dpi=100, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="perfect")
    width = 1.0 / n_bins / max(len(curves), 1)
    for i, (name, proba) in enumerate(curves.items()):
        bins = calibration_bins(y, proba, n_bins)
        ece = calibration_scores(y, proba, n_bins)["ece"]
        full = bins[bins["count"] > 0]
        ax.plot(
            full["confidence"], full["accuracy"], marker="o", ms=3, label=f"{name} (ECE {ece:.3f})"
        )
        hist.bar(
            bins["lower"] + i * width,
            bins["count"] / bins["count"].sum(),
            width=width,
            align="edge",
        )
    ax.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy (top label)", title=title)
    ax.legend(fontsize=7, loc="upper left")
    hist.set(xlabel="confidence (largest class probability)", ylabel="share")
    fig.tight_layout()
    return save_png(fig, path)
