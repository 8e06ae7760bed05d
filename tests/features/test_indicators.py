"""Indicators agree with direct TA-Lib calls, pandas references and hand-computed values;
bad input gets a clear FeatureError."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import talib

from edgelab.errors import FeatureError
from edgelab.features import indicators as ind


def _eq(actual, expected):
    np.testing.assert_array_equal(
        np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    )


def _close(actual, expected, rtol=1e-9):
    np.testing.assert_allclose(
        np.asarray(actual, dtype=float), np.asarray(expected, dtype=float), rtol=rtol, atol=1e-12
    )


def _hand_bars(close, high=None, low=None, volume=None):
    close = np.asarray(close, dtype=float)
    index = pd.date_range("2024-01-01", periods=len(close), freq="D", tz="UTC", name="timestamp")
    return pd.DataFrame(
        {
            "open": close,
            "high": close if high is None else high,
            "low": close if low is None else low,
            "close": close,
            "volume": np.ones(len(close)) if volume is None else volume,
        },
        index=index,
    )


def test_returns_by_hand():
    bars = _hand_bars([100.0, 110.0, 99.0, 99.0])
    r = ind.returns(bars, horizons=(1, 2))
    _close(r["ret_1"], [np.nan, 0.1, -0.1, 0.0])
    _close(r["ret_2"], [np.nan, np.nan, -0.01, -0.1])
    lr = ind.log_returns(bars, horizons=(1,))
    _close(lr["log_ret_1"], [np.nan, math.log(1.1), math.log(0.9), 0.0])
    assert r.index.equals(bars.index)


def test_kernels_match_direct_talib(bars):
    a = ind.bar_arrays(bars, ind.OHLCV)
    h, lo, c, v = a["high"], a["low"], a["close"], a["volume"]
    rsi = talib.RSI(c, 14)
    got = ind.rsi(bars, 14, mom=2, ma=5)
    _eq(got["rsi_14"], rsi)
    _eq(got["rsi_14_mom"], talib.MOM(rsi, 2))
    _close(got["rsi_14_ma"], pd.Series(rsi).rolling(5).mean())
    m = ind.macd(bars)
    line, sig, hist = talib.MACD(c, 12, 26, 9)
    _eq(m["macd"], line)
    _eq(m["macd_signal"], sig)
    _eq(m["macd_hist"], hist)
    _eq(m["macd_slope"], np.r_[np.nan, np.diff(line)])
    _eq(m["macd_accel"], np.r_[np.nan, np.nan, np.diff(line, 2)])
    sk, sd = talib.STOCH(h, lo, c, 14, 3, 0, 3, 0)
    st = ind.stochastic(bars)
    _eq(st["stoch_k"], sk)
    _eq(st["stoch_d"], sd)
    _eq(ind.atr(bars)["atr_14"], talib.ATR(h, lo, c, 14))
    _eq(ind.momentum(bars, roc=(10,), mom=(5,))["roc_10"], talib.ROC(c, 10))
    _eq(ind.momentum(bars, roc=(10,), mom=(5,))["mom_5"], talib.MOM(c, 5))
    up, mid, dn = talib.BBANDS(c, 20, 2, 2, 0)
    bb = ind.bollinger(bars)
    _eq(bb["bb_width"], (up - dn) / mid)
    _eq(bb["bb_pctb"], (c - dn) / (up - dn))
    _eq(ind.volume_features(bars)["volume_z_20"], (v - talib.SMA(v, 20)) / talib.STDDEV(v, 20))


def test_moving_averages_and_pandas_reference(bars):
    c = bars["close"]
    ma = ind.moving_averages(bars, ema=(12, 50), sma=(20,))
    _eq(ma["ema_50"], talib.EMA(c.to_numpy(), 50))
    _close(ma["sma_20"], c.rolling(20).mean())
    _close(ma["ema_50_dist"], c / ma["ema_50"] - 1)
    _close(ma["sma_20_slope"], ma["sma_20"] / ma["sma_20"].shift(1) - 1)
    # TA-Lib seeds its EMA with an SMA; pandas' recursive EMA catches up after the warm-up
    _close(ma["ema_12"].iloc[200:], c.ewm(span=12, adjust=False).mean().iloc[200:], rtol=1e-10)


def test_volatility_is_sample_std_of_log_returns(bars):
    vol = ind.volatility(bars, windows=(5, 20))
    log_ret = np.log(bars["close"]).diff()
    _close(vol["vol_5"], log_ret.rolling(5).std(), rtol=1e-8)
    _close(vol["vol_20"], log_ret.rolling(20).std(), rtol=1e-8)
    assert vol["vol_20"].isna().sum() == 20
    pop = ind.volatility(bars, windows=(20,), ddof=0)["vol_20"]
    _close(pop, log_ret.rolling(20).std(ddof=0), rtol=1e-8)


def test_volume_features_against_pandas_and_zero_cases():
    volume = np.r_[np.arange(1.0, 26.0), np.full(5, 7.0), np.zeros(5)]
    bars = _hand_bars(np.linspace(10, 20, len(volume)), volume=volume)
    vf = ind.volume_features(bars, period=5)
    s = pd.Series(volume, index=bars.index)
    _close(vf["rel_volume_5"].iloc[4:25], (s / s.rolling(5).mean()).iloc[4:25])
    _close(
        vf["volume_z_5"].iloc[4:25],
        ((s - s.rolling(5).mean()) / s.rolling(5).std(ddof=0)).iloc[4:25],
    )
    assert vf["volume_z_5"].iloc[29] == 0.0  # five equal volumes: z-score 0, not NaN
    assert vf["rel_volume_5"].iloc[-1] == 1.0  # no volume in the window: relative volume 1
    assert vf.iloc[4:].notna().all().all()


def test_range_position_by_hand_and_against_loop(make_bars):
    high = np.array([10.0, 12.0, 11.0, 13.0])
    low = np.array([8.0, 9.0, 10.0, 9.5])
    close = np.array([9.0, 11.0, 10.5, 12.0])
    rp = ind.range_position(_hand_bars(close, high, low), period=3)["price_pos_3"]
    # row 2: window lows 8, 9, 10 -> 8; highs 10, 12, 11 -> 12; (10.5 - 8) / 4
    # row 3: lows 9, 10, 9.5 -> 9; highs 12, 11, 13 -> 13; (12 - 9) / 4
    _eq(rp, [np.nan, np.nan, 0.625, 0.75])
    bars = make_bars(120, 5, flat_run=30)
    got = ind.range_position(bars, 10)["price_pos_10"].to_numpy()
    h, lo, c = (bars[k].to_numpy() for k in ("high", "low", "close"))
    for t in range(9, len(bars)):
        lo_t, hi_t = lo[t - 9 : t + 1].min(), h[t - 9 : t + 1].max()
        expected = 0.5 if hi_t == lo_t else (c[t] - lo_t) / (hi_t - lo_t)
        assert got[t] == expected


def test_bollinger_flat_window_is_half():
    bars = _hand_bars(np.r_[np.linspace(1, 2, 10), np.full(25, 2.0)])
    bb = ind.bollinger(bars, period=20)
    assert bb["bb_pctb"].iloc[-1] == 0.5
    assert bb["bb_width"].iloc[-1] == 0.0


def test_nan_inside_data_names_column_and_row(bars):
    bad = bars.copy()
    bad.iloc[7, bad.columns.get_loc("close")] = np.nan
    with pytest.raises(FeatureError, match=r"column 'close'.*row 7 \(2024-01-01 07:00:00\+00:00\)"):
        ind.rsi(bad)
    bad.iloc[3, bad.columns.get_loc("high")] = np.inf
    with pytest.raises(FeatureError, match=r"'high'.*row 3"):
        ind.atr(bad)


def test_missing_column_suggests_the_right_one(bars):
    with pytest.raises(FeatureError, match=r"no column 'close'.*did you mean 'Close'"):
        ind.macd(bars.rename(columns={"close": "Close"}))
    with pytest.raises(FeatureError, match="expected a Bars DataFrame"):
        ind.macd(bars["close"])


@pytest.mark.parametrize(
    ("fn", "needed"),
    [
        (lambda b: ind.macd(b), 36),
        (lambda b: ind.rsi(b), 19),
        (lambda b: ind.volatility(b, (20,)), 21),
        (lambda b: ind.bollinger(b, 20), 20),
        (lambda b: ind.stochastic(b), 18),
        (lambda b: ind.atr(b, 14), 15),
    ],
)
def test_too_few_bars(bars, fn, needed):
    with pytest.raises(FeatureError, match=f"needs at least {needed} bars, got {needed - 1}"):
        fn(bars.iloc[: needed - 1])
    out = fn(bars.iloc[:needed])  # exactly enough: the last row is complete
    assert out.iloc[-1].notna().all()
    assert out.iloc[:-1].isna().any(axis=1).all()


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "14"])
def test_bad_window(bars, bad):
    with pytest.raises(FeatureError, match="must be an integer"):
        ind.atr(bars, period=bad)


def test_negative_volume_is_rejected(bars):
    bad = bars.copy()
    bad.iloc[11, bad.columns.get_loc("volume")] = -5.0
    with pytest.raises(
        FeatureError, match=r"column 'volume' has a negative volume \(-5.0\) at row 11"
    ):
        ind.volume_features(bad)
