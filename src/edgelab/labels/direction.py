"""Direction labels: did the close go up or down over the next h bars (optionally: flat).

Binary (`classes=2`), label map {0: "down", 1: "up"}: up when close[t+h] > close[t]
strictly, otherwise down, so a zero return is **down** ("not up"), the convention of
`close.shift(-h) > close`. With a dead band > 0, binary rows inside the band get no label.

Three classes (`classes=3`), label map {0: "flat", 1: "up", 2: "down"}: up when the move
is above the band, down when below minus the band, flat when inside it, boundaries
included (|move| <= band is flat).

Dead band units: `"fraction"` compares the simple return close[t+h]/close[t] - 1 with
`dead_band`; `"atr"` compares the price change close[t+h] - close[t] with
`dead_band x ATR[t]` (TA-Lib ATR(atr_window), known at bar t); rows without ATR get no label.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib

from edgelab.errors import LabelError, unknown_name
from edgelab.labels.base import (
    OHLC,
    Labels,
    check_bars,
    check_positive_float,
    check_positive_int,
    make_frame,
)
from edgelab.labels.returns import forward_return_values

DOWN_BINARY, UP = 0, 1
FLAT, DOWN = 0, 2
BINARY_LABEL_MAP = {0: "down", 1: "up"}
TERNARY_LABEL_MAP = {0: "flat", 1: "up", 2: "down"}
DEAD_BAND_UNITS = ("fraction", "atr")


def _check_params(classes, dead_band, dead_band_unit) -> float:
    if isinstance(classes, bool) or classes not in (2, 3):
        raise LabelError(f"parameter 'classes' must be 2 or 3, got {classes!r}")
    if dead_band_unit not in DEAD_BAND_UNITS:
        raise LabelError(unknown_name("dead band unit", str(dead_band_unit), DEAD_BAND_UNITS))
    return check_positive_float("dead_band", dead_band, allow_zero=True)


def direction_labels(
    bars: pd.DataFrame,
    horizon: int = 1,
    *,
    classes: int = 2,
    dead_band: float = 0.0,
    dead_band_unit: str = "fraction",
    atr_window: int = 14,
) -> Labels:
    """Up/down (or up/down/flat) of the close from bar t to bar t+horizon; see module doc.

    One row per bar: `label` (class code as float, NaN = unlabeled), `t_end` = timestamp
    of bar t+horizon, `forward_return` = close[t+h]/close[t] - 1. The last `horizon` rows
    are unlabeled, and with `dead_band_unit="atr"` also the ATR warm-up rows. Looks
    forward by design (labels only).
    """
    h = check_positive_int("horizon", horizon)
    band = _check_params(classes, dead_band, dead_band_unit)
    use_atr = dead_band_unit == "atr" and band > 0
    window = check_positive_int("atr_window", atr_window) if use_atr else 0
    min_rows = h + 1 + window
    check_bars(
        bars,
        columns=OHLC if use_atr else ("close",),
        min_rows=min_rows,
        what="direction labels",
        need=f"horizon {h}" + (f" after an ATR({window}) warm-up" if use_atr else ""),
    )
    close = bars["close"].to_numpy(dtype=np.float64)
    n = len(close)
    ret = forward_return_values(close, h, "simple")
    if use_atr:
        atr = talib.ATR(
            bars["high"].to_numpy(np.float64), bars["low"].to_numpy(np.float64), close, window
        )
        move = np.full(n, np.nan)
        move[:-h] = close[h:] - close[:-h]
        threshold = band * atr
    else:
        move = ret
        threshold = np.full(n, band)
    known = np.isfinite(move) & np.isfinite(threshold)
    label = np.full(n, np.nan)
    up = known & (move > threshold)
    down = known & (move < -threshold)
    inside = known & ~up & ~down
    if classes == 3:
        label[up], label[down], label[inside] = UP, DOWN, FLAT
        label_map, sign = dict(TERNARY_LABEL_MAP), {FLAT: 0, UP: 1, DOWN: -1}
    else:
        label[up] = UP
        # zero move with no band: "not up", i.e. down; with a band, inside rows stay unlabeled
        label[down | (inside if band == 0 else np.zeros(n, dtype=bool))] = DOWN_BINARY
        label_map, sign = dict(BINARY_LABEL_MAP), {DOWN_BINARY: -1, UP: 1}
    idx = np.arange(n)
    end_idx = np.where(np.isfinite(label), idx + h, -1)
    return Labels(
        frame=make_frame(bars.index, label, end_idx, forward_return=ret),
        label_map=label_map,
        horizon=h,
        kind="direction",
        params={
            "horizon": h,
            "classes": int(classes),
            "dead_band": band,
            "dead_band_unit": dead_band_unit,
            "atr_window": int(atr_window),
        },
        label_sign=sign,
    )
