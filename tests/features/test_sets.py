"""Named feature sets: exact columns, values equal to their parts, the FeatureFrame
contract (index, dtype, warm-up) and clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import talib

from edgelab.errors import FeatureError
from edgelab.features import (
    FEATURE_SETS,
    compute_features,
    describe_feature_set,
    feature_set_names,
    heikin_ashi,
    stochastic_normalize,
)


def test_names_and_descriptions():
    assert feature_set_names() == [
        "core13",
        "heikin_ashi_stoch",
        "multi_asset8",
        "price_change",
        "rich35",
    ]
    for name in feature_set_names():
        d = describe_feature_set(name)
        assert d["name"] == name and d["n_columns"] == len(d["columns"]) == len(set(d["columns"]))
    assert describe_feature_set("core13")["n_columns"] == 13
    assert describe_feature_set("rich35")["n_columns"] == 35
    assert describe_feature_set("multi_asset8")["n_columns"] == 8


@pytest.mark.parametrize("name", ["core13", "rich35", "price_change", "heikin_ashi_stoch"])
def test_frame_contract(bars, name):
    out = compute_features(bars, name)
    spec = FEATURE_SETS[name]
    assert list(out.columns) == list(spec.columns)
    assert out.index.equals(bars.index)
    assert (out.dtypes == np.float64).all()
    w = out.attrs["warmup"]
    assert w == spec.min_bars(spec.params) - 1  # the declared minimum is exact
    assert out.iloc[w].notna().all() and out.iloc[w - 1].isna().any() if w else True
    assert out.attrs["feature_set"] == name and out.attrs["symbol"] == bars.attrs["symbol"]
    # one bar fewer than the minimum: a clear error
    with pytest.raises(FeatureError, match=f"needs at least {w + 1} bars, got {w}"):
        compute_features(bars.iloc[:w], name) if w else compute_features(bars.iloc[:0], name)


def test_core13_values(bars):
    out = compute_features(bars, "core13")
    c = bars["close"].to_numpy()
    log_ret = np.log(bars["close"] / bars["close"].shift(1))
    np.testing.assert_allclose(out["log_ret_1"], log_ret, rtol=1e-14)
    np.testing.assert_allclose(out["vol_20"], log_ret.rolling(20).std(), rtol=1e-8)
    np.testing.assert_array_equal(out["rsi_14"], talib.RSI(c, 14))
    for col, ref in zip(
        ("macd", "macd_signal", "macd_hist"), talib.MACD(c, 12, 26, 9), strict=True
    ):
        np.testing.assert_array_equal(out[col], ref)
    for h in (1, 3, 7, 14):
        np.testing.assert_allclose(
            out[f"ret_{h}"],
            (c - np.r_[np.full(h, np.nan), c[:-h]]) / np.r_[np.full(h, np.nan), c[:-h]],
            rtol=1e-15,
        )
    np.testing.assert_array_equal(out["dow"], bars.index.day_of_week)
    np.testing.assert_allclose(
        out["dow_cos"], np.cos(2 * np.pi * bars.index.day_of_week / 7), atol=1e-15
    )


def test_rich35_values(bars):
    out = compute_features(bars, "rich35")
    h, lo, c, v = (bars[k].to_numpy() for k in ("high", "low", "close", "volume"))
    pd.testing.assert_frame_equal(
        out[["open", "high", "low", "close", "volume"]],
        bars[["open", "high", "low", "close", "volume"]],
        check_freq=False,
    )
    np.testing.assert_array_equal(out["stoch_k"], talib.STOCH(h, lo, c, 14, 3, 0, 3, 0)[0])
    np.testing.assert_array_equal(out["atr_14"], talib.ATR(h, lo, c, 14))
    np.testing.assert_array_equal(out["ema_50"], talib.EMA(c, 50))
    np.testing.assert_array_equal(out["roc_10"], talib.ROC(c, 10))
    np.testing.assert_allclose(out["rel_volume_20"], v / talib.SMA(v, 20), rtol=1e-15)
    np.testing.assert_allclose(out["upper_shadow"], h - np.maximum(bars["open"], c), rtol=1e-15)
    np.testing.assert_allclose(
        out["hour_sin"], np.sin(2 * np.pi * bars.index.hour / 24), atol=1e-15
    )
    # the feature frame owns its memory: writing into it leaves the bars alone
    before = bars["close"].copy()
    out.loc[out.index[0], "close"] = -1.0
    pd.testing.assert_series_equal(bars["close"], before)


def test_price_change_by_hand():
    index = pd.date_range("2024-01-01", periods=4, freq="30min", tz="UTC", name="timestamp")
    bars = pd.DataFrame({"close": [100.0, 110.0, 99.0, 99.0]}, index=index)
    out = compute_features(bars, "price_change")
    np.testing.assert_allclose(out["price_change"], [1.0, 1.1, 0.9, 1.0], rtol=1e-15)
    assert out.attrs["warmup"] == 0


def test_heikin_ashi_stoch_is_its_parts(make_bars):
    bars = make_bars(200, 8)
    out = compute_features(bars, "heikin_ashi_stoch", n=30)
    ref = stochastic_normalize(heikin_ashi(bars), 30)  # auto: mid prices
    for p in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(out[f"ha_{p}_stoch"], ref[p])
    last = compute_features(bars, "heikin_ashi_stoch", n=30, use_mid=False)
    assert not np.allclose(last.iloc[40:], out.iloc[40:])
    assert out.attrs["params"] == {"n": 30, "use_mid": None} and out.attrs["warmup"] == 29


def test_multi_asset8_inner_join(make_bars):
    a = make_bars(200, 1)
    b = make_bars(190, 2, start="2024-01-01 10:00").drop(
        index=pd.Timestamp("2024-01-05 00:00", tz="UTC")
    )
    out = compute_features({"BTC": a, "ETH": b}, "multi_asset8")
    common = a.index.intersection(b.index)
    assert out.index.equals(common)
    assert out.columns[:8].tolist() == [f"BTC:{c}" for c in FEATURE_SETS["multi_asset8"].columns]
    assert out.shape == (len(common), 16) and out.attrs["assets"] == ["BTC", "ETH"]
    # each asset's features are computed on its own full history, then aligned
    for sym, bars in (("BTC", a), ("ETH", b)):
        close = bars["close"]
        ref = pd.DataFrame(
            {
                "log_ret_15": np.log(close / close.shift(15)),
                "rsi_14": talib.RSI(close.to_numpy(), 14),
                "hl_range": np.log(bars["high"] / bars["low"]),
                "ema_50_dist": close / talib.EMA(close.to_numpy(), 50) - 1,
            },
            index=bars.index,
        ).loc[common]
        for col in ref:
            np.testing.assert_allclose(out[f"{sym}:{col}"], ref[col], rtol=1e-12, err_msg=col)
    # a single Bars is a one-asset panel named by its symbol
    one = compute_features(a, "multi_asset8")
    assert one.columns[0] == f"{a.attrs['symbol']}:log_ret_1"


def test_multi_asset8_errors(make_bars):
    a = make_bars(100, 1)
    later = make_bars(100, 2, start="2025-01-01")
    with pytest.raises(FeatureError, match="share no timestamp"):
        compute_features({"A": a, "B": later}, "multi_asset8")
    with pytest.raises(FeatureError, match="asset 'B' needs at least 50 bars, got 49"):
        compute_features({"A": a, "B": later.iloc[:49]}, "multi_asset8")
    with pytest.raises(FeatureError, match="no complete row"):  # overlap shorter than the warm-up
        compute_features({"A": a, "B": make_bars(100, 2, start="2024-01-04 00:00")}, "multi_asset8")


def test_errors(bars, make_bars):
    with pytest.raises(
        FeatureError, match=r"unknown feature set 'rich53' \(did you mean 'rich35'\?\)"
    ):
        compute_features(bars, "rich53")
    with pytest.raises(
        FeatureError,
        match=r"unknown parameter of feature set 'heikin_ashi_stoch' 'use_mi' \(did you mean 'use_mid'\?\); known: n, use_mid",
    ):
        compute_features(bars, "heikin_ashi_stoch", use_mi=True)
    with pytest.raises(FeatureError, match="unknown parameter of feature set 'core13'"):
        compute_features(bars, "core13", n=5)
    with pytest.raises(FeatureError, match="takes one asset, got 2"):
        compute_features({"A": bars, "B": make_bars(300, 2)}, "core13")
    assert compute_features({"A": bars}, "price_change").shape == (300, 1)
    bad = bars.copy()
    bad.iloc[150, bad.columns.get_loc("volume")] = np.nan
    with pytest.raises(
        FeatureError, match=r"rich35: column 'volume' has a non-finite value \(nan\) at row 150"
    ):
        compute_features(bad, "rich35")
    zero = bars.copy()
    zero.iloc[200, zero.columns.get_loc("close")] = 0.0  # invalid bars that slipped through
    with pytest.raises(
        FeatureError, match=r"column 'close' has a non-positive price \(0.0\) at row 200"
    ):
        compute_features(zero, "rich35")
