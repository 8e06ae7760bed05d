"""Causal normalizations of price series: stochastic (rolling min/max) and rolling z-score.

Both use only the current bar and the ones before it. The train-only mean/std scaling of a
whole feature matrix is fitted on the training split and lives with the dataset split
(`edgelab.dataset`), not here.

Stochastic normalization of bar t's OHLC against the last n bars (bar t included):

    lo_t = min(low_{t-n+1} .. low_t),   hi_t = max(high_{t-n+1} .. high_t)
    x_norm_t = (x_t - lo_t) / (hi_t - lo_t)          for x in open, high, low, close

so every normalized value lies in [0, 1]; it is 0.5 when the window is flat (hi == lo). The
first n - 1 rows are NaN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib

from edgelab.features.indicators import (
    Arrays,
    bar_arrays,
    centered_ratio,
    frame,
    position,
    require_rows,
    require_window,
)

PRICES = ("open", "high", "low", "close")


def stochastic_normalize_arrays(
    o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, n: int = 100
) -> Arrays:
    """Stochastic normalization (module docstring) of OHLC arrays: ``open high low close``."""
    n = require_window(n, "stochastic normalization window")
    low_n = talib.MIN(lo, timeperiod=n) if n > 1 else lo.copy()
    high_n = talib.MAX(h, timeperiod=n) if n > 1 else h.copy()
    return {
        name: position(x, low_n, high_n, 0.5) for name, x in zip(PRICES, (o, h, lo, c), strict=True)
    }


def stochastic_normalize(bars: pd.DataFrame, n: int = 100) -> pd.DataFrame:
    """Normalize a frame's ``open high low close`` (Bars, or Heikin-Ashi bars) against the
    rolling low/high of the last `n` bars, current included. Returns the same four columns
    on the same index, in [0, 1]; the first n - 1 rows are NaN. Causal."""
    a = bar_arrays(bars, PRICES, what="stochastic_normalize")
    require_rows(
        len(bars),
        require_window(n, "stochastic normalization window"),
        f"stochastic normalization over {n} bars",
    )
    return frame(
        stochastic_normalize_arrays(a["open"], a["high"], a["low"], a["close"], n), bars.index
    )


def rolling_zscore_array(x: np.ndarray, n: int = 20, *, ddof: int = 0) -> np.ndarray:
    """(x_t - mean) / std over the last `n` values (current included), TA-Lib SMA/STDDEV.

    `ddof` 0 is the population std (TA-Lib's), 1 the sample std (pandas'). 0 where the window
    is constant. The first n - 1 values are NaN (more if `x` starts with NaN).
    """
    n = require_window(n, "z-score window", minimum=ddof + 2)
    x = np.ascontiguousarray(x, dtype=np.float64)
    mean = talib.SMA(x, timeperiod=n)
    std = talib.STDDEV(x, timeperiod=n, nbdev=float(np.sqrt(n / (n - ddof))))
    return centered_ratio(x, mean, std, 0.0, out=std)


def rolling_zscore(
    x: pd.Series | pd.DataFrame, n: int = 20, *, ddof: int = 0
) -> pd.Series | pd.DataFrame:
    """Causal rolling z-score of a Series, or of each column of a DataFrame, same index and
    names (see `rolling_zscore_array`). Raises FeatureError on NaN/inf inside the data."""
    if isinstance(x, pd.Series):
        a = bar_arrays(x.to_frame("x"), ["x"], what=f"rolling z-score of '{x.name}'")["x"]
        require_rows(len(a), n, f"rolling z-score over {n} bars")
        return pd.Series(rolling_zscore_array(a, n, ddof=ddof), index=x.index, name=x.name)
    arrays = bar_arrays(x, list(x.columns), what="rolling z-score")
    require_rows(len(x), n, f"rolling z-score over {n} bars")
    return frame({k: rolling_zscore_array(v, n, ddof=ddof) for k, v in arrays.items()}, x.index)
