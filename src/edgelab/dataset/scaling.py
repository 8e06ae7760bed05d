"""Feature scaling fitted on the training window only, with its state as JSON.

`Scaler(method).fit(X_train)` learns one centre and one scale per column with
scikit-learn's `StandardScaler` (mean / standard deviation) or `RobustScaler` (median /
inter-quartile range); `transform` applies `(X - centre) / scale` to any split. A column
that is constant on train gets scale 1 (scikit-learn's rule), so it is centred but never
divided by zero. The state (`to_json` / `from_json`) goes into every model bundle, so a
bundle scales new bars exactly as in training.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from sklearn.preprocessing import RobustScaler, StandardScaler

from edgelab.errors import ConfigError, FeatureError

METHODS = ("standard", "robust", "none")


class Scaler:
    """Per-column affine scaling; `centre_` and `scale_` are learned by `fit`."""

    def __init__(self, method: str = "standard") -> None:
        if method not in METHODS:
            raise ConfigError(
                f"'scaling.method' must be one of {', '.join(METHODS)}, got {method!r}"
            )
        self.method = method
        self.centre_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self.feature_names_: list[str] | None = None

    def fit(self, X: np.ndarray, feature_names: list[str] | None = None) -> Scaler:
        """Learn centre and scale from `X` (n_rows, n_features), the training rows only."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or len(X) == 0:
            raise FeatureError(f"scaler needs a non-empty 2-D training matrix, got shape {X.shape}")
        bad = ~np.isfinite(X)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            name = feature_names[col] if feature_names else f"#{col}"
            raise FeatureError(
                f"scaler: feature '{name}' is NaN/inf at training row {row}; features must be "
                "finite after their warm-up (check the feature set on these bars)"
            )
        n_features = X.shape[1]
        if self.method == "standard":
            est = StandardScaler().fit(X)
            centre, scale = est.mean_, est.scale_
        elif self.method == "robust":
            est = RobustScaler().fit(X)
            centre, scale = est.center_, est.scale_
        else:
            centre, scale = np.zeros(n_features), np.ones(n_features)
        self.centre_ = np.asarray(centre, dtype=np.float64)
        self.scale_ = np.asarray(scale, dtype=np.float64)
        self.feature_names_ = list(feature_names) if feature_names is not None else None
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """`(X - centre) / scale` as float32, shape of `X`."""
        if self.centre_ is None or self.scale_ is None:
            raise FeatureError("scaler used before fit")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.centre_):
            raise FeatureError(
                f"scaler was fitted on {len(self.centre_)} features, got shape {X.shape}"
            )
        return ((X - self.centre_) / self.scale_).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        if self.centre_ is None or self.scale_ is None:
            raise FeatureError("scaler state requested before fit")
        return {
            "method": self.method,
            "centre": self.centre_.tolist(),
            "scale": self.scale_.tolist(),
            "feature_names": self.feature_names_,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Scaler:
        out = cls(state["method"])
        out.centre_ = np.asarray(state["centre"], dtype=np.float64)
        out.scale_ = np.asarray(state["scale"], dtype=np.float64)
        out.feature_names_ = state.get("feature_names")
        return out

    @classmethod
    def from_json(cls, text: str) -> Scaler:
        return cls.from_dict(json.loads(text))
