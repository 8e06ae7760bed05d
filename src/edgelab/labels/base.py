"""The `Labels` container and the input checks every labeler shares.

`Labels` is the type that crosses from `edgelab.labels` to the dataset and backtest
stages: one row per bar (same index as the Bars), the class code or target value in
`label` (float, NaN = no label), `t_end` (the time at which that label's outcome is
known; splits purge and embargo by it), optional `forward_return`, and the label map.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from edgelab.errors import LabelError

OHLC = ("open", "high", "low", "close")


@dataclass(frozen=True)
class Labels:
    """Labels aligned to a Bars index.

    `frame`: DataFrame on the bars' index with columns `label` (float64; a class code
    from `label_map`, or the target value for regression; NaN = unlabeled), `t_end`
    (datetime, same tz as the index; NaT where unlabeled) and optionally `forward_return`.
    `label_map`: code -> class name (empty for a regression target).
    `label_sign`: code -> +1 / 0 / -1, the position each class stands for.
    `horizon`: the most bars any label looks ahead (`t_end` <= index + horizon bars).
    """

    frame: pd.DataFrame
    label_map: dict[int, str]
    horizon: int
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    label_sign: dict[int, int] = field(default_factory=dict)

    @property
    def label(self) -> pd.Series:
        return self.frame["label"]

    @property
    def t_end(self) -> pd.Series:
        return self.frame["t_end"]

    @property
    def index(self) -> pd.DatetimeIndex:
        return self.frame.index

    @property
    def is_classification(self) -> bool:
        return bool(self.label_map)

    @property
    def valid(self) -> np.ndarray:
        """Boolean mask of rows that carry a label."""
        return self.frame["label"].notna().to_numpy()

    def counts(self) -> dict[str, int]:
        """Number of rows per class name (`labelled` for a regression target), plus `unlabeled`."""
        lab = self.frame["label"]
        out = {name: int((lab == code).sum()) for code, name in self.label_map.items()}
        if not self.label_map:
            out["labelled"] = int(lab.notna().sum())
        out["unlabeled"] = int(lab.isna().sum())
        return out

    def dropna(self) -> Labels:
        """The labelled rows only (same metadata)."""
        return Labels(
            self.frame[self.valid],
            self.label_map,
            self.horizon,
            self.kind,
            self.params,
            self.label_sign,
        )

    def __len__(self) -> int:
        return len(self.frame)


def check_bars(
    bars: Any, *, columns: Sequence[str], min_rows: int, what: str, need: str = ""
) -> None:
    """Raise `LabelError` unless `bars` is a Bars frame usable by a labeler.

    Checks: a DataFrame with a strictly increasing DatetimeIndex, the `columns` present,
    no NaN or inf in them (named by column and first row), and at least `min_rows` rows
    (`need` says why that many).
    """
    if not isinstance(bars, pd.DataFrame):
        raise LabelError(f"{what}: expected a Bars DataFrame, got {type(bars).__name__}")
    if not isinstance(bars.index, pd.DatetimeIndex):
        raise LabelError(
            f"{what}: the bars' index must be a DatetimeIndex (bar open times), "
            f"got {type(bars.index).__name__}; load bars through edgelab.data"
        )
    if not bars.index.is_monotonic_increasing or not bars.index.is_unique:
        raise LabelError(
            f"{what}: the bars' index must be strictly increasing and unique; "
            "sort and de-duplicate the bars (edgelab data validate shows where)"
        )
    missing = [c for c in columns if c not in bars.columns]
    if missing:
        raise LabelError(
            f"{what}: the bars lack column(s) {', '.join(repr(c) for c in missing)}; "
            f"columns present: {', '.join(map(str, bars.columns))}"
        )
    if len(bars) < min_rows:
        raise LabelError(
            f"{what}: too few bars: {len(bars)} given, at least {min_rows} needed"
            + (f" ({need})" if need else "")
            + "; load a longer span or shorten the window/horizon"
        )
    for col in columns:
        values = bars[col].to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.argmax(bad))
            raise LabelError(
                f"{what}: column '{col}' has {int(bad.sum())} NaN/inf value(s), first at row "
                f"{row} ({bars.index[row]}); labels never fill gaps silently: drop or repair "
                "those bars first (edgelab data validate)"
            )


def check_positive_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """Return `value` as int, or raise `LabelError` naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise LabelError(f"parameter '{name}' must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_positive_float(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """Return `value` as float, or raise `LabelError` naming the parameter."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise LabelError(f"parameter '{name}' must be a number, got {value!r}") from None
    if not np.isfinite(out) or out < 0 or (out == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise LabelError(f"parameter '{name}' must be a finite number {bound}, got {value!r}")
    return out


def end_times(index: pd.DatetimeIndex, end_idx: np.ndarray) -> pd.DatetimeIndex:
    """Timestamps `index[end_idx]`, NaT where `end_idx` < 0."""
    valid = end_idx >= 0
    out = index.take(np.where(valid, end_idx, 0))
    return out.where(valid)


def make_frame(
    index: pd.DatetimeIndex,
    label: np.ndarray,
    end_idx: np.ndarray,
    forward_return: np.ndarray | None = None,
) -> pd.DataFrame:
    """Assemble the `Labels.frame`; `end_idx` -1 marks unlabeled rows (label must be NaN)."""
    cols: dict[str, Any] = {
        "label": np.asarray(label, dtype=np.float64),
        "t_end": end_times(index, end_idx),
    }
    if forward_return is not None:
        cols["forward_return"] = np.asarray(forward_return, dtype=np.float64)
    frame = pd.DataFrame(cols, index=index)
    frame.index.name = index.name
    return frame
