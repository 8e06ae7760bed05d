"""Samples: what models train and predict on, for one split.

A `Samples` holds one contiguous feature matrix per split (float32, already scaled) with
the rows before the split's first target kept as context, so that a sequence window at
the start of validation or test may look at earlier (causal) features without any label
crossing the boundary. `rows` lists the rows that are targets. Sequence windows are
strided views built on demand (`windows`), never copied per sample.

Many assets are stacked row-wise; `asset` gives each row's asset id, and a window never
spans two assets (`rows` only holds positions whose whole window lies in one asset run).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from edgelab.errors import ModelError


@dataclass
class Samples:
    """One split's inputs and targets.

    X:              float32 (n_rows, n_features), C-contiguous, scaled with train-only state.
    y:              float64 (n_rows,), class code or regression target; NaN where unlabeled.
    index:          DatetimeIndex (n_rows,), bar open time of each row (UTC).
    asset:          int32 (n_rows,), asset id per row; names in `assets`.
    rows:           int64 (n_samples,), positions in X of the target rows (labeled, full window).
    forward_return: float64 (n_rows,), the simple return over the label horizon (for trading
                    losses and metrics); NaN where unknown.
    t_end:          datetime64[ns] (n_rows,), when each label's outcome is known.
    """

    X: np.ndarray
    y: np.ndarray
    index: pd.DatetimeIndex
    asset: np.ndarray
    rows: np.ndarray
    feature_names: list[str]
    assets: list[str]
    label_map: dict[int, str]
    target: Literal["class", "return"] = "class"
    window: int = 1
    forward_return: np.ndarray | None = None
    t_end: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.X)
        if self.X.dtype != np.float32 or self.X.ndim != 2:
            raise ModelError(
                f"Samples.X must be a 2-D float32 array, got {self.X.dtype} {self.X.shape}"
            )
        for name in ("y", "index", "asset"):
            if len(getattr(self, name)) != n:
                raise ModelError(f"Samples.{name} has {len(getattr(self, name))} rows, X has {n}")
        if self.window < 1:
            raise ModelError(f"Samples.window must be >= 1, got {self.window}")
        if len(self.rows) and (self.rows.min() < self.window - 1 or self.rows.max() >= n):
            raise ModelError("Samples.rows point outside X or before a full window")

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def n_features(self) -> int:
        return self.X.shape[1]

    @property
    def n_classes(self) -> int:
        return len(self.label_map)

    def targets(self) -> np.ndarray:
        """y at the target rows, (n_samples,)."""
        return self.y[self.rows]

    def features(self) -> np.ndarray:
        """The last bar's features of every target row, (n_samples, n_features) (a copy)."""
        return self.X[self.rows]

    def windows(self, positions: np.ndarray | None = None) -> np.ndarray:
        """Sequence windows ending at the given target positions (default: all rows).

        Returns (len(positions), window, n_features). A strided view over X when
        `positions` is None or a slice-like range; fancy indexing copies only the batch.
        """
        view = sliding_window_view(self.X, self.window, axis=0)  # (n - w + 1, f, w)
        view = view.transpose(0, 2, 1)  # (n - w + 1, w, f), still a view
        rows = self.rows if positions is None else self.rows[positions]
        return view[rows - (self.window - 1)]

    def prediction_index(self) -> pd.MultiIndex | pd.DatetimeIndex:
        """Index for Predictions: timestamps, with the asset as an outer level if several."""
        times = self.index[self.rows]
        if len(self.assets) == 1:
            return times
        names = np.asarray(self.assets, dtype=object)[self.asset[self.rows]]
        return pd.MultiIndex.from_arrays([names, times], names=["asset", "timestamp"])


def valid_window_rows(asset: np.ndarray, labeled: np.ndarray, window: int) -> np.ndarray:
    """Positions whose window of `window` rows lies inside one asset run and that are labeled."""
    n = len(asset)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    # run_start[i] = first row of the asset run containing i
    change = np.r_[True, asset[1:] != asset[:-1]]
    run_start = np.maximum.accumulate(np.where(change, np.arange(n), 0))
    ok = (np.arange(n) - run_start >= window - 1) & labeled
    return np.flatnonzero(ok).astype(np.int64)
