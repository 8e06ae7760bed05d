"""Forward-return labels: the simple or log return of the close over the next h bars."""

from __future__ import annotations

import numpy as np
import pandas as pd

from edgelab.errors import LabelError, unknown_name
from edgelab.labels.base import Labels, check_bars, check_positive_int, make_frame

RETURN_KINDS = ("simple", "log")


def forward_return_values(close: np.ndarray, horizon: int, kind: str = "simple") -> np.ndarray:
    """float64[n]: close[t+h]/close[t] - 1 (simple) or log(close[t+h]/close[t]) (log); NaN in the last h rows."""
    out = np.full(close.shape[0], np.nan)
    ratio = close[horizon:] / close[:-horizon]
    out[:-horizon] = np.log(ratio) if kind == "log" else ratio - 1.0
    return out


def forward_returns(bars: pd.DataFrame, horizon: int = 1, kind: str = "simple") -> Labels:
    """Regression target: the return of the close from bar t to bar t+horizon.

    Row t holds `close[t+h]/close[t] - 1` (`kind="simple"`) or `log(close[t+h]/close[t])`
    (`kind="log"`), also in the `forward_return` column; `t_end` = timestamp of bar t+h.
    The last `horizon` rows have no label (NaN). Looks forward by design (labels only).
    """
    if kind not in RETURN_KINDS:
        raise LabelError(unknown_name("forward return kind", str(kind), RETURN_KINDS))
    h = check_positive_int("horizon", horizon)
    check_bars(
        bars, columns=("close",), min_rows=h + 1, what="forward returns",
        need=f"a close {h} bar(s) after the first",
    )  # fmt: skip
    close = bars["close"].to_numpy(dtype=np.float64)
    values = forward_return_values(close, h, kind)
    n = len(close)
    end_idx = np.where(np.arange(n) + h < n, np.arange(n) + h, -1)
    return Labels(
        frame=make_frame(bars.index, values, end_idx, forward_return=values),
        label_map={},
        horizon=h,
        kind="forward_return",
        params={"horizon": h, "kind": kind},
    )
