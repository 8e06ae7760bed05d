"""Bar builders and slow, obviously-correct pure-Python references for the label tests."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import talib

TP, SL, HORIZON, END = 1, 2, 3, 4
HOLD, LONG, SHORT = 0, 1, 2


def ref_walk(o, h, l, c, entry, tp, sl, direction, horizon):  # noqa: E741
    """One bracket, bar by bar, written for reading rather than speed."""
    n = len(c)
    for j in range(entry + 1, entry + horizon + 1):
        if j >= n:
            return n - 1, float(c[n - 1]), END
        if direction == 1:
            stop_gap, take_gap = o[j] <= sl, o[j] >= tp
            stop_touch, take_touch = l[j] <= sl, h[j] >= tp
        else:
            stop_gap, take_gap = o[j] >= sl, o[j] <= tp
            stop_touch, take_touch = h[j] >= sl, l[j] <= tp
        if stop_gap:
            return j, float(o[j]), SL
        if take_gap:
            return j, float(o[j]), TP
        if stop_touch:  # both touched: the stop counts first
            return j, float(sl), SL
        if take_touch:
            return j, float(tp), TP
    return entry + horizon, float(c[entry + horizon]), HORIZON


def ref_barrier_labels(o, h, l, c, tp_mult, sl_mult, window, horizon):  # noqa: E741
    """(codes, end positions) per bar; NaN / -1 where unlabeled."""
    atr = talib.ATR(h, l, c, timeperiod=window)
    n = len(c)
    codes = [math.nan] * n
    ends = [-1] * n
    for t in range(n):
        a = atr[t]
        if math.isnan(a):
            continue
        price = c[t]
        el, _, rl = ref_walk(o, h, l, c, t, price + tp_mult * a, price - sl_mult * a, 1, horizon)
        es, _, rs = ref_walk(o, h, l, c, t, price - tp_mult * a, price + sl_mult * a, -1, horizon)
        if rl == TP and rs == TP:
            codes[t] = LONG if el < es else SHORT if es < el else HOLD
            ends[t] = min(el, es)
        elif rl == TP:
            codes[t], ends[t] = LONG, el
        elif rs == TP:
            codes[t], ends[t] = SHORT, es
        elif END not in (rl, rs):
            codes[t], ends[t] = HOLD, max(el, es)
    return np.array(codes, dtype=float), np.array(ends)


def ref_direction(c, h, l, horizon, classes, band, unit, window):  # noqa: E741
    """Direction codes per bar (NaN = unlabeled), one row at a time."""
    atr = talib.ATR(h, l, c, timeperiod=window) if unit == "atr" else None
    n = len(c)
    out = [math.nan] * n
    for t in range(n - horizon):
        if unit == "atr" and band > 0:
            if math.isnan(atr[t]):
                continue
            move, thr = c[t + horizon] - c[t], band * atr[t]
        else:
            move, thr = c[t + horizon] / c[t] - 1.0, band
        if classes == 3:
            out[t] = 1 if move > thr else 2 if move < -thr else 0
        elif move > thr:
            out[t] = 1
        elif move < -thr or band == 0:
            out[t] = 0
    return np.array(out, dtype=float)


def make_bars(open_, high, low, close, *, freq: str = "1h") -> pd.DataFrame:
    """A Bars frame from price lists (volume 1), hourly UTC bar-open index."""
    n = len(close)
    idx = pd.date_range("2024-01-01", periods=n, freq=freq, tz="UTC", name="timestamp")
    bars = pd.DataFrame(
        {
            "open": np.asarray(open_, dtype=np.float64),
            "high": np.asarray(high, dtype=np.float64),
            "low": np.asarray(low, dtype=np.float64),
            "close": np.asarray(close, dtype=np.float64),
            "volume": np.ones(n),
        },
        index=idx,
    )
    bars.attrs.update(symbol="TEST", interval="1h", source="test")
    return bars


def random_bars(n: int, seed: int = 0, *, vol: float = 0.01) -> pd.DataFrame:
    """A random-walk market with consistent OHLC (open = previous close, wicks around)."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, vol, n)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + rng.uniform(0, vol, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, vol, n))
    return make_bars(open_, high, low, close)
