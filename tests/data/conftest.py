"""Fixtures for the data tests: a builder of small valid Bars."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def build_bars(
    n: int = 48,
    start: str = "2024-01-01",
    freq: str = "1h",
    *,
    tz: str | None = "UTC",
    bid_ask: bool = False,
    seed: int = 0,
) -> pd.DataFrame:
    """n valid bars: closes that never repeat, high/low around open/close, volume > 0."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=n, freq=freq, tz=tz, name="timestamp").as_unit("us")
    close = 100.0 + np.cumsum(rng.uniform(0.01, 1.0, n) * rng.choice([-1.0, 1.0], n))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) + rng.uniform(0.01, 0.5, n)
    low = np.minimum(open_, close) - rng.uniform(0.01, 0.5, n)
    frame = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": rng.uniform(1, 9, n)},
        index=index,
    )
    if bid_ask:
        half = rng.uniform(0.01, 0.02, n)
        for side, sign in (("bid", -1), ("ask", 1)):
            for part in ("open", "high", "low", "close"):
                frame[f"{side}_{part}"] = frame[part] + sign * half
        frame["spread"] = 2 * half
    frame.attrs = {"symbol": "TEST", "source": "test"}
    return frame


@pytest.fixture
def make_bars():
    return build_bars
