"""Fixtures for the feature tests: small random Bars with bid/ask, flat runs and zero volume."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def random_bars(
    n: int,
    seed: int = 0,
    *,
    bid_ask: bool = True,
    flat_run: int = 0,
    zero_volume_run: int = 0,
    start: str = "2024-01-01",
    freq: str = "1h",
) -> pd.DataFrame:
    """Valid Bars (high >= open, close >= low) from a seeded log random walk.

    `flat_run` bars in the middle repeat one price exactly (every window over them is flat),
    `zero_volume_run` bars have zero volume: both exercise the 0/0 conventions.
    """
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = np.r_[close[0] * (1 + rng.normal(0, 0.002)), close[:-1]] * (1 + rng.normal(0, 0.001, n))
    high = np.maximum(open_, close) * (1 + rng.exponential(0.003, n))
    low = np.minimum(open_, close) * (1 - rng.exponential(0.003, n))
    volume = rng.lognormal(7.0, 0.5, n)
    if flat_run:
        i = n // 2
        for arr in (open_, high, low, close):
            arr[i : i + flat_run] = close[i - 1]
        volume[i : i + flat_run] = 500.0
    if zero_volume_run:
        j = n // 3
        volume[j : j + zero_volume_run] = 0.0
    index = pd.date_range(start, periods=n, freq=freq, tz="UTC", name="timestamp").as_unit("us")
    bars = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index
    )
    if bid_ask:
        # asymmetric half-spreads, so the mid differs from the last price
        for name in ("open", "high", "low", "close"):
            x = bars[name].to_numpy()
            bars[f"bid_{name}"] = x - x * rng.uniform(1e-5, 2e-4, n)
            bars[f"ask_{name}"] = x + x * rng.uniform(1e-5, 2e-4, n)
    bars.attrs = {"symbol": f"T{seed}", "interval": freq, "source": "test"}
    return bars


@pytest.fixture(scope="session")
def make_bars():
    """The `random_bars` factory (session scope, so hypothesis tests can use it)."""
    return random_bars


@pytest.fixture
def bars() -> pd.DataFrame:
    """300 hourly bars with bid/ask."""
    return random_bars(300, seed=1)
