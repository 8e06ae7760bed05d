"""Hand-made bars, features and labels for the pipeline unit tests (no other stage needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from edgelab.labels import make_labels


def make_bars(
    n: int = 300, seed: int = 0, start: str = "2024-01-01", freq: str = "h"
) -> pd.DataFrame:
    """A random-walk Bars frame of `n` hourly bars (UTC, bar open time)."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[close[0], close[:-1]]
    spread = np.abs(rng.normal(0, 0.003, n)) * close
    index = pd.date_range(start, periods=n, freq=freq, tz="UTC", name="timestamp")
    bars = pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": rng.uniform(1, 10, n),
        },
        index=index,
    )
    bars.attrs = {"symbol": f"A{seed}", "interval": "1h", "source": "test"}
    return bars


def make_features(bars: pd.DataFrame, warmup: int = 3) -> pd.DataFrame:
    """Two causal features (1-bar and 3-bar log returns) with `warmup` NaN rows."""
    logc = np.log(bars["close"])
    feats = pd.DataFrame({"r1": logc.diff(1), "r3": logc.diff(3)}, index=bars.index)
    feats.iloc[:warmup] = np.nan
    feats.attrs = {"warmup": warmup}
    return feats


def make_direction(bars: pd.DataFrame, horizon: int = 1, classes: int = 2):
    return make_labels(bars, "direction", horizon=horizon, classes=classes)
