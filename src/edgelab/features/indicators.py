"""Technical indicators on Bars, with TA-Lib underneath wherever it has the indicator.

This module owns the standard indicators (returns, volatility, RSI, moving averages, MACD,
stochastic oscillator, ATR, Bollinger bands, ROC/momentum, volume features, position in the
recent range) and the border checks every feature function runs on its input bars.

Two layers:

* ``*_arrays`` kernels take float64 numpy arrays (finite, C-contiguous) and return a
  ``dict`` of column name -> float64 array of the same length. They do no checking; the
  feature sets compose them and build one DataFrame at the end (no intermediate frames).
* the Bars-level functions (``returns``, ``rsi``, ``macd``, ...) check the input once
  (`bar_arrays`: columns present, finite values, positive prices, enough rows) and return a
  DataFrame on the bars' index.

Causality: every value at row t uses bars 0..t only. TA-Lib's exponential indicators (EMA,
MACD, RSI, ATR) are seeded from the first bars of the input, so a value depends on where the
data starts, never on what comes after t. Rows before an indicator's look-back are NaN
(the warm-up); there is no NaN after it.

Conventions for 0/0 cases (flat windows), chosen so that no NaN appears after the warm-up:
Bollinger %b and the range position are 0.5 when the window's range is zero (the price sits
in the middle of a zero-width band), the volume z-score is 0 when the window's volume is
constant, and the relative volume is 1 when the window's volume is all zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import talib
from numba import njit

from edgelab.errors import FeatureError, did_you_mean

Arrays = dict[str, np.ndarray]

OHLCV = ("open", "high", "low", "close", "volume")


# --------------------------------------------------------------------------- input checks


PRICE_COLUMNS = frozenset(
    f"{side}{p}" for side in ("", "bid_", "ask_") for p in ("open", "high", "low", "close")
)


def bar_arrays(bars: pd.DataFrame, columns: Iterable[str], *, what: str = "features") -> Arrays:
    """The named columns of `bars` as float64 C-contiguous arrays (views when possible).

    Raises FeatureError naming the column when one is missing, and the column and the first
    row (position and timestamp) when a value is NaN or infinite, a price (open/high/low/
    close, bid_* or ask_*) is not positive or a volume is negative. Validated bars never
    have them; TA-Lib would silently turn everything after a NaN into NaN, and with
    positive finite prices every feature of this package is finite after its warm-up.
    """
    if not isinstance(bars, pd.DataFrame):
        raise FeatureError(f"{what}: expected a Bars DataFrame, got {type(bars).__name__}")
    out: Arrays = {}
    for name in columns:
        if name not in bars.columns:
            known = [str(c) for c in bars.columns]
            raise FeatureError(
                f"{what}: bars have no column '{name}'{did_you_mean(name, known)}; "
                f"columns: {', '.join(known)}"
            )
        arr = np.ascontiguousarray(bars[name].to_numpy(dtype=np.float64, copy=False))
        _check_values(arr, name, bars.index, what)
        out[name] = arr
    return out


@njit(cache=True)
def _first_invalid(arr: np.ndarray, floor: float, strict: bool) -> int:  # pragma: no cover
    # numba: one vectorized pass with no temporaries on the good path (numpy needs a min and
    # a max per column); the first bad row is searched only when there is one.
    ok = True
    if strict:
        for i in range(arr.shape[0]):
            ok &= (arr[i] > floor) & (arr[i] < np.inf)  # NaN fails every comparison
    else:
        for i in range(arr.shape[0]):
            ok &= (arr[i] >= floor) & (arr[i] < np.inf)
    if ok:
        return -1
    for i in range(arr.shape[0]):
        x = arr[i]
        if not (x < np.inf) or not ((x > floor) if strict else (x >= floor)):
            return i
    return -1


def _check_values(arr: np.ndarray, name: str, index: pd.Index, what: str) -> None:
    if name in PRICE_COLUMNS:
        row = _first_invalid(arr, 0.0, True)
        kind = "a non-positive price"
    elif name == "volume":
        row = _first_invalid(arr, 0.0, False)
        kind = "a negative volume"
    else:
        row = _first_invalid(arr, -np.inf, True)
        kind = "a non-finite value"
    if row < 0:
        return
    if not np.isfinite(arr[row]):
        kind = "a non-finite value"
    raise FeatureError(
        f"{what}: column '{name}' has {kind} ({arr[row]}) at row {row} ({index[row]}); "
        f"validate or repair the bars first (edgelab data validate)"
    )


def require_rows(n_rows: int, needed: int, what: str) -> None:
    """Raise FeatureError unless there are at least `needed` rows for `what`."""
    if n_rows < needed:
        raise FeatureError(
            f"{what} needs at least {needed} bars, got {n_rows}; "
            f"load a longer history or use a shorter window"
        )


def require_window(value: int, name: str, minimum: int = 1) -> int:
    """Check a window/period parameter is an integer >= minimum and return it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise FeatureError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def first_valid_row(arr: np.ndarray) -> int:
    """Index of the first non-NaN value of `arr` (len(arr) when all are NaN).

    Scans only the leading block, which is all a warm-up can be, so it costs microseconds
    on a million rows.
    """
    n = arr.shape[0]
    start, size = 0, 1024
    while start < n:
        hits = np.flatnonzero(~np.isnan(arr[start : start + size]))
        if hits.size:
            return start + int(hits[0])
        start, size = start + size, size * 4
    return n


def frame(arrays: Arrays, index: pd.Index) -> pd.DataFrame:
    """One DataFrame from a dict of equal-length arrays, without copying them."""
    return pd.DataFrame(arrays, index=index, copy=False)


# Elementwise helpers in numba: one pass over memory instead of numpy's three or four
# (subtract, compare, divide, fix the zeros), which is what the set's overhead over TA-Lib
# is made of on a million rows. Every element is read before it is written, so `out` may
# be one of the inputs (a TA-Lib output that is no longer needed: fresh memory costs more
# than the arithmetic). NaN inputs (the warm-up) give NaN. The arithmetic is the plain IEEE
# expression in the docstring, so results equal numpy's bit for bit.


@njit(cache=True)
def _ratio_into(num, den, when_zero, out):  # pragma: no cover - numba
    for i in range(num.shape[0]):
        d = den[i]
        out[i] = when_zero if d == 0.0 else num[i] / d
    return out


@njit(cache=True)
def _centered_ratio_into(x, center, scale, when_zero, out):  # pragma: no cover - numba
    for i in range(x.shape[0]):
        s = scale[i]
        out[i] = when_zero if s == 0.0 else (x[i] - center[i]) / s
    return out


@njit(cache=True)
def _position_into(x, lo, hi, when_flat, out):  # pragma: no cover - numba
    for i in range(x.shape[0]):
        width = hi[i] - lo[i]
        out[i] = when_flat if width == 0.0 else (x[i] - lo[i]) / width
    return out


def _out(like: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    return np.empty_like(like) if out is None else out


def ratio(
    num: np.ndarray, den: np.ndarray, when_zero: float, *, out: np.ndarray | None = None
) -> np.ndarray:
    """num / den, `when_zero` where den == 0."""
    return _ratio_into(num, den, when_zero, _out(num, out))


def centered_ratio(
    x: np.ndarray,
    center: np.ndarray,
    scale: np.ndarray,
    when_zero: float,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """(x - center) / scale, `when_zero` where scale == 0."""
    return _centered_ratio_into(x, center, scale, when_zero, _out(x, out))


def position(
    x: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    when_flat: float,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """(x - lo) / (hi - lo): where x sits between lo and hi; `when_flat` where hi == lo."""
    return _position_into(x, lo, hi, when_flat, _out(x, out))


# --------------------------------------------------------------------------- array kernels


def returns_arrays(
    close: np.ndarray, horizons: Sequence[int] = (1,), *, log: bool = False
) -> Arrays:
    """Returns over each horizon h: ``close_t / close_{t-h} - 1`` (``ret_h``) or its log
    (``log_ret_h``). The first h rows are NaN."""
    out: Arrays = {}
    for h in horizons:
        h = require_window(h, "return horizon")
        if log:
            out[f"log_ret_{h}"] = talib.LN(talib.ROCR(close, timeperiod=h))
        else:
            out[f"ret_{h}"] = talib.ROCP(close, timeperiod=h)
    return out


def volatility_arrays(
    log_ret: np.ndarray, windows: Sequence[int] = (5, 20), *, ddof: int = 1
) -> Arrays:
    """Rolling standard deviation of 1-bar log returns (``vol_w``), not annualized.

    `ddof=1` (default) is the sample standard deviation, as pandas' ``rolling(w).std()``;
    TA-Lib's STDDEV is the population one, so it is scaled by ``sqrt(w / (w - ddof))``.
    With `log_ret` NaN at row 0, the first w rows are NaN.
    """
    out: Arrays = {}
    for w in windows:
        w = require_window(w, "volatility window", minimum=ddof + 1)
        out[f"vol_{w}"] = talib.STDDEV(log_ret, timeperiod=w, nbdev=math.sqrt(w / (w - ddof)))
    return out


def rsi_arrays(close: np.ndarray, period: int = 14, *, mom: int = 1, ma: int = 5) -> Arrays:
    """RSI (Wilder, TA-Lib) ``rsi_p``, its change over `mom` bars ``rsi_p_mom`` and its
    `ma`-bar simple moving average ``rsi_p_ma``. Units: RSI points (0-100)."""
    period = require_window(period, "RSI period", minimum=2)
    rsi = talib.RSI(close, timeperiod=period)
    return {
        f"rsi_{period}": rsi,
        f"rsi_{period}_mom": talib.MOM(rsi, timeperiod=require_window(mom, "RSI momentum")),
        f"rsi_{period}_ma": talib.SMA(rsi, timeperiod=require_window(ma, "RSI moving average", 2)),
    }


def moving_average_arrays(
    close: np.ndarray, *, ema: Sequence[int] = (50,), sma: Sequence[int] = (20,)
) -> Arrays:
    """EMA/SMA of the close (``ema_p``, ``sma_p``, price units), the distance of the close
    from each (``*_dist`` = close / ma - 1) and each average's 1-bar slope (``*_slope`` =
    ma_t / ma_{t-1} - 1)."""
    out: Arrays = {}
    for kind, periods, fn in (("ema", ema, talib.EMA), ("sma", sma, talib.SMA)):
        for p in periods:
            p = require_window(p, f"{kind.upper()} period", minimum=2)
            avg = fn(close, timeperiod=p)
            dist = np.divide(close, avg)
            dist -= 1.0
            out[f"{kind}_{p}"] = avg
            out[f"{kind}_{p}_dist"] = dist
            out[f"{kind}_{p}_slope"] = talib.ROCP(avg, timeperiod=1)
    return out


def macd_arrays(close: np.ndarray, fast: int = 12, slow: int = 26, signal: int = 9) -> Arrays:
    """MACD line, signal and histogram (TA-Lib, price units), the line's 1-bar change
    (``macd_slope``) and the change of that (``macd_accel``)."""
    line, sig, hist = talib.MACD(
        close,
        fastperiod=require_window(fast, "MACD fast period", 2),
        slowperiod=require_window(slow, "MACD slow period", 2),
        signalperiod=require_window(signal, "MACD signal period"),
    )
    slope = talib.MOM(line, timeperiod=1)
    return {
        "macd": line,
        "macd_signal": sig,
        "macd_hist": hist,
        "macd_slope": slope,
        "macd_accel": talib.MOM(slope, timeperiod=1),
    }


def stochastic_arrays(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    k: int = 14,
    slow_k: int = 3,
    slow_d: int = 3,
) -> Arrays:
    """Slow stochastic oscillator (TA-Lib STOCH, simple moving averages): ``stoch_k`` and
    ``stoch_d`` in percent (0-100)."""
    sk, sd = talib.STOCH(
        high,
        low,
        close,
        fastk_period=require_window(k, "stochastic %K period"),
        slowk_period=require_window(slow_k, "stochastic slow %K period"),
        slowk_matype=0,
        slowd_period=require_window(slow_d, "stochastic %D period"),
        slowd_matype=0,
    )
    return {"stoch_k": sk, "stoch_d": sd}


def atr_arrays(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> Arrays:
    """Average true range (Wilder, TA-Lib) ``atr_p`` in price units."""
    period = require_window(period, "ATR period")
    return {f"atr_{period}": talib.ATR(high, low, close, timeperiod=period)}


def bollinger_arrays(close: np.ndarray, period: int = 20, nbdev: float = 2.0) -> Arrays:
    """Bollinger bands (TA-Lib, SMA +/- nbdev population std): ``bb_width`` = (upper -
    lower) / middle and ``bb_pctb`` = (close - lower) / (upper - lower), 0.5 on a flat window."""
    upper, middle, lower = talib.BBANDS(
        close,
        timeperiod=require_window(period, "Bollinger period", 2),
        nbdevup=nbdev,
        nbdevdn=nbdev,
        matype=0,
    )
    # in place on TA-Lib's outputs: upper becomes the width, lower %b, middle width / middle
    width = np.subtract(upper, lower, out=upper)
    pctb = centered_ratio(close, lower, width, 0.5, out=lower)
    return {"bb_width": np.divide(width, middle, out=middle), "bb_pctb": pctb}


def momentum_arrays(
    close: np.ndarray, roc: Sequence[int] = (10,), mom: Sequence[int] = ()
) -> Arrays:
    """Rate of change in percent (``roc_p`` = 100 * (close_t / close_{t-p} - 1)) and
    momentum in price units (``mom_p`` = close_t - close_{t-p})."""
    out: Arrays = {}
    for p in roc:
        out[f"roc_{p}"] = talib.ROC(close, timeperiod=require_window(p, "ROC period"))
    for p in mom:
        out[f"mom_{p}"] = talib.MOM(close, timeperiod=require_window(p, "momentum period"))
    return out


def volume_arrays(volume: np.ndarray, period: int = 20) -> Arrays:
    """Relative volume ``rel_volume_p`` = volume / SMA_p(volume) (1 when the window has no
    volume) and its z-score ``volume_z_p`` = (volume - SMA_p) / STDDEV_p (population std;
    0 when the window's volume is constant)."""
    period = require_window(period, "volume period", 2)
    avg = talib.SMA(volume, timeperiod=period)
    std = talib.STDDEV(volume, timeperiod=period)
    z = centered_ratio(volume, avg, std, 0.0, out=std)  # in place, then avg is free
    rel = ratio(volume, avg, 1.0, out=avg)
    return {f"rel_volume_{period}": rel, f"volume_z_{period}": z}


def range_position_arrays(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 20
) -> Arrays:
    """Position of the close in the range of the last `period` bars (current included):
    ``price_pos_p`` = (close - min low) / (max high - min low), in [0, 1]; 0.5 when flat."""
    period = require_window(period, "range period")
    lo = talib.MIN(low, timeperiod=period)
    hi = talib.MAX(high, timeperiod=period)
    return {f"price_pos_{period}": position(close, lo, hi, 0.5, out=lo)}  # in place


# --------------------------------------------------------------------------- Bars-level API
# Each takes Bars and returns a DataFrame on the bars' index (see the kernels for columns).
# Windows are checked before anything else, so a bad one is reported as such.


def _need(bars: pd.DataFrame, columns: Iterable[str], needed: int, what: str) -> Arrays:
    arrays = bar_arrays(bars, columns, what=what)
    require_rows(len(bars), needed, what)
    return arrays


def _windows(values: Sequence[int], name: str, minimum: int = 1) -> list[int]:
    values = [require_window(v, name, minimum) for v in values]
    if not values:
        raise FeatureError(f"give at least one {name}")
    return values


def returns(bars: pd.DataFrame, horizons: Sequence[int] = (1, 3, 7, 14)) -> pd.DataFrame:
    """Simple returns ``ret_h`` over each horizon h (fractions). Causal; first h rows NaN."""
    horizons = _windows(horizons, "return horizon")
    a = _need(bars, ["close"], max(horizons) + 1, f"returns over {tuple(horizons)} bars")
    return frame(returns_arrays(a["close"], horizons), bars.index)


def log_returns(bars: pd.DataFrame, horizons: Sequence[int] = (1,)) -> pd.DataFrame:
    """Log returns ``log_ret_h`` = log(close_t / close_{t-h}). Causal; first h rows NaN."""
    horizons = _windows(horizons, "return horizon")
    a = _need(bars, ["close"], max(horizons) + 1, f"log returns over {tuple(horizons)} bars")
    return frame(returns_arrays(a["close"], horizons, log=True), bars.index)


def volatility(
    bars: pd.DataFrame, windows: Sequence[int] = (5, 20), *, ddof: int = 1
) -> pd.DataFrame:
    """Rolling std of 1-bar log returns ``vol_w`` (see `volatility_arrays`). First w rows NaN."""
    windows = _windows(windows, "volatility window", ddof + 1)
    a = _need(bars, ["close"], max(windows) + 1, f"volatility over {tuple(windows)} bars")
    log_ret = returns_arrays(a["close"], (1,), log=True)["log_ret_1"]
    return frame(volatility_arrays(log_ret, windows, ddof=ddof), bars.index)


def rsi(bars: pd.DataFrame, period: int = 14, *, mom: int = 1, ma: int = 5) -> pd.DataFrame:
    """RSI with its momentum and moving average (see `rsi_arrays`)."""
    period, mom, ma = (
        require_window(period, "RSI period", 2),
        require_window(mom, "RSI momentum"),
        require_window(ma, "RSI moving average", 2),
    )
    a = _need(bars, ["close"], period + max(mom, ma - 1) + 1, f"RSI {period}")
    return frame(rsi_arrays(a["close"], period, mom=mom, ma=ma), bars.index)


def moving_averages(
    bars: pd.DataFrame, *, ema: Sequence[int] = (12, 26, 50), sma: Sequence[int] = (20, 50)
) -> pd.DataFrame:
    """EMAs and SMAs of the close with distance and slope (see `moving_average_arrays`)."""
    periods = _windows([*ema, *sma], "moving average period", 2)
    a = _need(bars, ["close"], max(periods) + 1, "moving averages")
    return frame(moving_average_arrays(a["close"], ema=ema, sma=sma), bars.index)


def macd(bars: pd.DataFrame, fast: int = 12, slow: int = 26, signal: int = 9) -> pd.DataFrame:
    """MACD line/signal/histogram with slope and acceleration (see `macd_arrays`)."""
    fast, slow, signal = _windows((fast, slow, signal), "MACD period")
    a = _need(bars, ["close"], max(fast, slow) + signal + 1, f"MACD {fast}/{slow}/{signal}")
    return frame(macd_arrays(a["close"], fast, slow, signal), bars.index)


def stochastic(bars: pd.DataFrame, k: int = 14, slow_k: int = 3, slow_d: int = 3) -> pd.DataFrame:
    """Slow stochastic %K/%D (see `stochastic_arrays`)."""
    k, slow_k, slow_d = _windows((k, slow_k, slow_d), "stochastic period")
    a = _need(
        bars, ["high", "low", "close"], k + slow_k + slow_d - 2, f"stochastic {k}/{slow_k}/{slow_d}"
    )
    return frame(stochastic_arrays(a["high"], a["low"], a["close"], k, slow_k, slow_d), bars.index)


def atr(bars: pd.DataFrame, period: int = 14) -> pd.DataFrame:
    """Average true range (see `atr_arrays`)."""
    period = require_window(period, "ATR period")
    a = _need(bars, ["high", "low", "close"], period + 1, f"ATR {period}")
    return frame(atr_arrays(a["high"], a["low"], a["close"], period), bars.index)


def bollinger(bars: pd.DataFrame, period: int = 20, nbdev: float = 2.0) -> pd.DataFrame:
    """Bollinger width and %b (see `bollinger_arrays`)."""
    period = require_window(period, "Bollinger period", 2)
    a = _need(bars, ["close"], period, f"Bollinger {period}")
    return frame(bollinger_arrays(a["close"], period, nbdev), bars.index)


def momentum(
    bars: pd.DataFrame, roc: Sequence[int] = (10,), mom: Sequence[int] = (10,)
) -> pd.DataFrame:
    """Rate of change and momentum (see `momentum_arrays`)."""
    periods = _windows([*roc, *mom], "ROC/momentum period")
    a = _need(bars, ["close"], max(periods) + 1, "ROC/momentum")
    return frame(momentum_arrays(a["close"], roc, mom), bars.index)


def volume_features(bars: pd.DataFrame, period: int = 20) -> pd.DataFrame:
    """Relative volume and volume z-score (see `volume_arrays`)."""
    period = require_window(period, "volume period", 2)
    a = _need(bars, ["volume"], period, f"volume features over {period} bars")
    return frame(volume_arrays(a["volume"], period), bars.index)


def range_position(bars: pd.DataFrame, period: int = 20) -> pd.DataFrame:
    """Position of the close within the last `period` bars' range (see `range_position_arrays`)."""
    period = require_window(period, "range period")
    a = _need(bars, ["high", "low", "close"], period, f"range position over {period} bars")
    return frame(range_position_arrays(a["high"], a["low"], a["close"], period), bars.index)
