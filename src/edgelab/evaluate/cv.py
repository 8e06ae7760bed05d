"""Cross-validation in time: walk-forward folds and purged k-fold with an embargo.

This module owns the index generators that decide which rows a model may learn from
when it is scored on other rows. Both yield `Fold`s of integer row positions; they never
see features, labels or predictions, so the fit window is decided in one place.

- `walk_forward(n, ...)`: contiguous test windows of `step` bars (the model is retrained
  every `step` bars), each preceded by a training window that either grows from the
  first bar (`"expanding"`) or keeps a fixed length (`"rolling"`), with `embargo` bars
  left out between the end of training and the start of testing. Test windows do not
  overlap and tile the history after the first training window, so their out-of-sample
  predictions can be stitched into one history (`stitch_predictions`).
- `purged_kfold(times, t_end, n_splits, embargo)`: k contiguous test folds in time
  (López de Prado, *Advances in Financial Machine Learning*, 2018, ch. 7). A training row
  is **purged** when its label interval `[times[i], t_end[i]]` overlaps the test fold's
  label span `[first test time, last test t_end]`, and **embargoed** when it starts within
  the `embargo` timeline bars that follow the last test time.

Rows may hold several assets (stacked, sorted by time, times repeating); folds are cut on
the distinct times, so one timestamp is never split between train and test.

scikit-learn's `TimeSeriesSplit` has a `gap` but neither purging by label end times nor a
rolling/expanding choice with a retrain step; hence these generators.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from edgelab.errors import ConfigError, DataError

__all__ = ["Fold", "purged_kfold", "stitch_predictions", "walk_forward", "walk_forward_predict"]


@dataclass(frozen=True)
class Fold:
    """One split: integer row positions to fit on, to validate on (early stopping,
    calibration, thresholds; empty when not asked for) and to test on (all sorted)."""

    number: int
    train: np.ndarray
    test: np.ndarray
    val: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    def to_dict(self) -> dict[str, int]:
        """Sizes and bounds, for logs and the run folder (positions, not times)."""

        def bounds(name: str, rows: np.ndarray) -> dict[str, int]:
            first, last = (int(rows[0]), int(rows[-1])) if rows.size else (-1, -1)
            return {f"{name}_rows": int(rows.size), f"{name}_first": first, f"{name}_last": last}

        return {
            "fold": self.number,
            **bounds("train", self.train),
            **bounds("val", self.val),
            **bounds("test", self.test),
        }


def _positive(value: int, field: str, minimum: int = 1) -> int:
    if int(value) != value or value < minimum:
        raise ConfigError(f"'{field}' must be an integer >= {minimum}, got {value!r}")
    return int(value)


def walk_forward(
    n: int,
    *,
    train_size: int,
    step: int,
    window: Literal["expanding", "rolling"] = "expanding",
    embargo: int = 0,
    val_size: int = 0,
    label_end: np.ndarray | None = None,
) -> Iterator[Fold]:
    """Walk-forward folds over `n` consecutive bars (positions 0..n-1).

    Fold k tests on positions `[s_k, s_k + step)` with `s_k = train_size + embargo + k*step`
    (the last window is cut at `n`); its training window is `[0, s_k - embargo)`
    (expanding) or the last `train_size` bars of that (rolling). With `val_size` > 0 the
    last `val_size` bars of the window are the fold's validation rows and the model fits
    on the bars before them, another `embargo` earlier. `embargo` >= the labels'
    look-ahead keeps any label from reaching into the next span. `label_end` (optional,
    int per position: the last position the label of that row looks at) additionally
    drops fit rows with `label_end >=` the validation (or test) start and validation rows
    with `label_end >= s_k` — exact purging when horizons vary.
    Causality: fold k fits and validates only on bars strictly before its test window.
    """
    n = _positive(n, "walkforward.n")
    train_size = _positive(train_size, "walkforward.train_size")
    step = _positive(step, "walkforward.step")
    embargo = _positive(embargo, "walkforward.embargo", minimum=0)
    val_size = _positive(val_size, "walkforward.val_size", minimum=0)
    if val_size and val_size + embargo >= train_size:
        raise ConfigError(
            f"'walkforward.val_size' {val_size} + embargo {embargo} leaves no bars to fit on in a "
            f"training window of {train_size}; lengthen train_size or shorten val_size"
        )
    if window not in ("expanding", "rolling"):
        raise ConfigError(f"'walkforward.window' must be 'expanding' or 'rolling', got {window!r}")
    first_test = train_size + embargo
    if first_test >= n:
        raise ConfigError(
            f"walk-forward needs more than train_size + embargo = {first_test} bars, got {n}; "
            "load more data or shorten walkforward.train_size"
        )
    if label_end is not None:
        label_end = np.asarray(label_end, dtype=np.int64)
        if label_end.shape != (n,):
            raise DataError(f"label_end must have one entry per bar ({n}), got {label_end.shape}")
    for k, start in enumerate(range(first_test, n, step)):
        window_end = start - embargo
        window_start = 0 if window == "expanding" else window_end - train_size
        val = np.arange(window_end - val_size, window_end) if val_size else np.arange(0)
        fit_end = window_end - val_size - embargo if val_size else window_end
        train = np.arange(window_start, fit_end)
        if label_end is not None:
            train = train[label_end[train] < (val[0] if val_size else start)]
            val = val[label_end[val] < start]
        yield Fold(k, train, np.arange(start, min(start + step, n)), val)


def _as_sortable(values: Sequence | np.ndarray | pd.Index, name: str) -> np.ndarray:
    """datetime-like -> int64 ns (UTC), numbers -> float64; NaT/NaN refused."""
    if isinstance(values, pd.DatetimeIndex | pd.Series) or np.asarray(values).dtype.kind == "M":
        index = pd.DatetimeIndex(values)
        if index.tz is not None:
            index = index.tz_convert("UTC").tz_localize(None)
        if index.isna().any():
            row = int(np.argmax(np.asarray(index.isna())))
            raise DataError(
                f"{name} is missing at row {row}", fix="drop unlabeled rows before splitting"
            )
        return index.as_unit("ns").asi8
    out = np.asarray(values, dtype=np.float64)
    if not np.isfinite(out).all():
        row = int(np.argmax(~np.isfinite(out)))
        raise DataError(f"{name} is not finite at row {row}", fix="drop unlabeled rows first")
    return out


def purged_kfold(
    times: Sequence | np.ndarray | pd.Index,
    t_end: Sequence | np.ndarray | pd.Index,
    n_splits: int = 5,
    *,
    embargo: int = 0,
) -> Iterator[Fold]:
    """Purged k-fold with embargo over rows sorted by `times`.

    `times`: the time each row's label starts (its bar time; datetime-like or numbers,
    non-decreasing; repeats allowed for several assets). `t_end`: when that label's
    outcome is known (same type, >= times). The distinct times are cut into `n_splits`
    contiguous folds; for each test fold the training rows are all other rows except
    (a) purged rows, whose `[times, t_end]` overlaps `[min test time, max test t_end]`,
    and (b) embargoed rows, whose time lies in the `embargo` distinct times right after
    the last test time. Training rows may lie after the test fold (that is k-fold), which
    is why this is for model selection, not for the final out-of-sample history.
    """
    n_splits = _positive(n_splits, "cv.n_splits", minimum=2)
    embargo = _positive(embargo, "cv.embargo", minimum=0)
    start = _as_sortable(times, "times")
    end = _as_sortable(t_end, "t_end")
    if start.shape != end.shape or start.ndim != 1:
        raise DataError(
            f"times and t_end must be 1-D of equal length, got {start.shape} {end.shape}"
        )
    if np.any(np.diff(start) < 0):
        row = int(np.argmax(np.diff(start) < 0)) + 1
        raise DataError(f"times must be sorted; row {row} is earlier than row {row - 1}")
    if np.any(end < start):
        row = int(np.argmax(end < start))
        raise DataError(f"t_end is before its time at row {row}; labels end after they start")
    distinct = np.unique(start)
    if distinct.size < n_splits:
        raise ConfigError(
            f"'cv.n_splits' {n_splits} is more than the {distinct.size} distinct times; "
            "use fewer folds"
        )
    for k, fold_times in enumerate(np.array_split(distinct, n_splits)):
        lo, hi = fold_times[0], fold_times[-1]
        in_test = (start >= lo) & (start <= hi)
        test_end = end[in_test].max()
        overlaps = (start <= test_end) & (end >= lo)
        after = np.searchsorted(distinct, hi, side="right")
        embargoed = np.zeros_like(in_test)
        if embargo and after < distinct.size:
            last = distinct[min(after + embargo, distinct.size) - 1]
            embargoed = (start > hi) & (start <= last)
        train = np.flatnonzero(~in_test & ~overlaps & ~embargoed)
        yield Fold(k, train, np.flatnonzero(in_test))


def stitch_predictions(folds: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate the out-of-sample predictions of consecutive walk-forward folds.

    Each frame is one fold's test predictions, indexed by time (or (asset, time)). Raises
    DataError when two folds predict the same row (overlapping test windows would count a
    bar twice in the stitched backtest) or when a later fold starts before an earlier one
    ends.
    """
    if not folds:
        raise DataError("no fold predictions to stitch", fix="run at least one walk-forward fold")
    out = pd.concat(list(folds))
    if out.index.has_duplicates:
        dup = out.index[out.index.duplicated()][0]
        raise DataError(
            f"two walk-forward folds predict the same row {dup!r}; folds must not overlap"
        )
    if isinstance(out.index, pd.MultiIndex):  # (asset, time): each asset's rows in time order
        return out.sort_index()
    if not out.index.is_monotonic_increasing:
        raise DataError("walk-forward folds are out of time order; pass them oldest first")
    return out


def walk_forward_predict(
    folds: Iterable[Fold], fit_predict: Callable[[Fold], pd.DataFrame]
) -> pd.DataFrame:
    """Run `fit_predict(fold)` on each fold (it fits a fresh model, or fine-tunes the
    previous one, on `fold.train`/`fold.val` and returns its predictions for `fold.test`,
    indexed by time) and stitch the out-of-sample predictions into one history, oldest
    first; a `fold` column records which fold produced each row."""
    parts = []
    for fold in folds:
        part = fit_predict(fold)
        if not isinstance(part, pd.DataFrame) or len(part) != fold.test.size:
            got = len(part) if isinstance(part, pd.DataFrame) else type(part).__name__
            raise DataError(
                f"walk-forward fold {fold.number}: fit_predict must return one prediction row "
                f"per test row ({fold.test.size}), got {got}"
            )
        parts.append(part.assign(fold=fold.number))
    return stitch_predictions(parts)
