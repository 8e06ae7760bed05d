"""Candles: Heikin-Ashi bars (on the bid/ask mid price when available) and candle anatomy.

Heikin-Ashi, bar by bar (t = 0, 1, ...), on the chosen price (last trade or bid/ask mid):

    ha_close_t = (open_t + high_t + low_t + close_t) / 4
    ha_open_0  = (open_0 + close_0) / 2                      (seed)
    ha_open_t  = (ha_open_{t-1} + ha_close_{t-1}) / 2
    ha_high_t  = max(high_t, ha_open_t, ha_close_t)
    ha_low_t   = min(low_t, ha_open_t, ha_close_t)

`ha_open` is a recursion over the whole history, so it depends on where the data starts
(like an EMA) but never on later bars: causal. Its weight on a bar k steps back is 2**-k, so
two series that start at different rows agree to machine precision after ~55 bars.

Mid prices: ``mid_x = (bid_x + ask_x) / 2`` for each of open/high/low/close. The mid high is
the mean of the two highs, which can differ from the highest mid actually quoted (the bid and
ask highs may occur at different ticks); it is the usual convention for bid/ask candles.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from numba import njit

from edgelab.errors import FeatureError, unknown_name
from edgelab.features.indicators import Arrays, bar_arrays, frame, require_rows

PRICES = ("open", "high", "low", "close")
BID_ASK = tuple(f"{side}_{p}" for side in ("bid", "ask") for p in PRICES)


@njit(cache=True)
def _ha_open(ha_close: np.ndarray, seed: float) -> np.ndarray:  # pragma: no cover - numba
    # A first-order recursion: numpy cannot vectorize it, and a closed form (a sum of 2**-k
    # weighted closes) would change the rounding; numba runs the plain loop at C speed.
    n = ha_close.shape[0]
    out = np.empty(n)
    if n == 0:
        return out
    out[0] = seed
    for t in range(1, n):
        out[t] = 0.5 * (out[t - 1] + ha_close[t - 1])
    return out


def heikin_ashi_arrays(o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray) -> Arrays:
    """Heikin-Ashi ``open high low close`` arrays from OHLC arrays (finite float64, len >= 1)."""
    ha_close = (o + h + lo + c) / 4.0
    ha_open = _ha_open(ha_close, (o[0] + c[0]) / 2.0)
    ha_high = np.maximum(h, np.maximum(ha_open, ha_close))
    ha_low = np.minimum(lo, np.minimum(ha_open, ha_close))
    return {"open": ha_open, "high": ha_high, "low": ha_low, "close": ha_close}


def has_bid_ask(bars: pd.DataFrame) -> bool:
    """True when `bars` carry the full bid and ask OHLC (``bid_open`` ... ``ask_close``)."""
    return all(col in bars.columns for col in BID_ASK)


def price_arrays(
    bars: pd.DataFrame, *, use_mid: bool | None = None, what: str = "prices"
) -> tuple[Arrays, str]:
    """OHLC arrays of the last-trade price or the bid/ask mid, and which one (``"last"``/``"mid"``).

    `use_mid`: True requires the full bid/ask OHLC, False uses ``open high low close``, None
    picks the mid when the bars carry the full bid/ask OHLC and the last price otherwise.
    """
    if use_mid is None:
        use_mid = has_bid_ask(bars)
    if not use_mid:
        return bar_arrays(bars, PRICES, what=what), "last"
    missing = [col for col in BID_ASK if col not in bars.columns]
    if missing:
        raise FeatureError(
            f"{what}: mid prices need bid and ask OHLC, but the bars have no '{missing[0]}' "
            f"column; pass use_mid=False to use open/high/low/close"
        )
    quotes = bar_arrays(bars, BID_ASK, what=what)
    return {p: (quotes[f"bid_{p}"] + quotes[f"ask_{p}"]) / 2.0 for p in PRICES}, "mid"


def heikin_ashi(bars: pd.DataFrame, *, use_mid: bool | None = None) -> pd.DataFrame:
    """Heikin-Ashi bars of `bars` (see the module docstring for the formulas).

    Input: Bars (``open high low close``; for the mid price also ``bid_*``/``ask_*`` OHLC).
    `use_mid`: None (default) uses the bid/ask mid when the bars carry the full bid and ask
    OHLC, else the last price; True/False force it.
    Output: a Bars-like DataFrame on the same index with float64 ``open high low close``
    (Heikin-Ashi) and, when present, the bars' ``volume``; ``attrs`` are the bars' plus
    ``price`` = ``"mid"`` or ``"last"``. Causal: row t uses bars 0..t.
    """
    prices, kind = price_arrays(bars, use_mid=use_mid, what="heikin_ashi")
    require_rows(len(bars), 1, "heikin_ashi")
    arrays = heikin_ashi_arrays(prices["open"], prices["high"], prices["low"], prices["close"])
    if "volume" in bars.columns:
        arrays["volume"] = bars["volume"].to_numpy(dtype=np.float64, copy=True)  # own, writable
    out = frame(arrays, bars.index)
    out.attrs = {**bars.attrs, "price": kind}
    return out


@njit(cache=True)
def _body_shadows(o, h, lo, c):  # pragma: no cover - numba
    # One pass instead of five numpy temporaries: this runs inside rich35 on every bar.
    n = o.shape[0]
    body, upper, lower = np.empty(n), np.empty(n), np.empty(n)
    for t in range(n):
        top, bottom = max(o[t], c[t]), min(o[t], c[t])
        body[t] = c[t] - o[t]
        upper[t] = h[t] - top
        lower[t] = bottom - lo[t]
    return body, upper, lower


ANATOMY_COLUMNS = ("body", "upper_shadow", "lower_shadow", "range", "hl_ratio", "co_ratio")


def candle_anatomy_arrays(
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    columns: Iterable[str] = ANATOMY_COLUMNS,
) -> Arrays:
    """Candle shape per bar, the requested `columns` of: ``body`` = close - open (signed),
    ``upper_shadow`` = high - max(open, close), ``lower_shadow`` = min(open, close) - low,
    ``range`` = high - low (all price units), ``hl_ratio`` = high / low and ``co_ratio`` =
    close / open."""
    columns = list(columns)
    for name in columns:
        if name not in ANATOMY_COLUMNS:
            raise FeatureError(unknown_name("candle anatomy column", name, ANATOMY_COLUMNS))
    body, upper, lower = _body_shadows(o, h, lo, c)
    parts = {"body": body, "upper_shadow": upper, "lower_shadow": lower}
    extra = {"range": lambda: h - lo, "hl_ratio": lambda: h / lo, "co_ratio": lambda: c / o}
    return {name: parts[name] if name in parts else extra[name]() for name in columns}


def candle_anatomy(bars: pd.DataFrame) -> pd.DataFrame:
    """Candle anatomy of each bar (see `candle_anatomy_arrays`); uses bar t only, no warm-up."""
    a = bar_arrays(bars, PRICES, what="candle_anatomy")
    require_rows(len(bars), 1, "candle_anatomy")
    return frame(candle_anatomy_arrays(a["open"], a["high"], a["low"], a["close"]), bars.index)
