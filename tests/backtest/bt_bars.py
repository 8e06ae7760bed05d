"""Tiny hand-made bars for the backtest tests (imported as `bt_bars`: basenames must be unique
across the test tree)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def make_bars(
    close,
    *,
    open_=None,
    high=None,
    low=None,
    bid=None,
    ask=None,
    interval: str = "1h",
    symbol: str = "TEST",
    start: str = "2024-01-01",
) -> pd.DataFrame:
    """Bars from explicit closes (open = previous close, high/low = max/min of them
    unless given); optional bid_close / ask_close."""
    close = np.asarray(close, dtype=np.float64)
    if open_ is None:
        open_ = np.concatenate(([close[0]], close[:-1]))
    open_ = np.asarray(open_, dtype=np.float64)
    high = np.maximum(open_, close) if high is None else np.asarray(high, dtype=np.float64)
    low = np.minimum(open_, close) if low is None else np.asarray(low, dtype=np.float64)
    index = pd.date_range(start, periods=close.size, freq=interval, tz="UTC", name="timestamp")
    frame = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": 1.0}, index=index
    )
    if bid is not None:
        frame["bid_close"] = np.asarray(bid, dtype=np.float64)
        frame["ask_close"] = np.asarray(ask, dtype=np.float64)
    frame.attrs.update(symbol=symbol, interval=interval, source="test")
    return frame


def random_bars(n: int, *, seed: int, vol: float = 0.01, symbol: str = "RND") -> pd.DataFrame:
    """A random walk with intrabar ranges (high/low beyond open/close)."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) * (1.0 + rng.random(n) * vol)
    low = np.minimum(open_, close) * (1.0 - rng.random(n) * vol)
    return make_bars(close, open_=open_, high=high, low=low, symbol=symbol)


def series(bars: pd.DataFrame, values) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=np.float64), index=bars.index)
