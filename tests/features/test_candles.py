"""Heikin-Ashi and candle anatomy against hand-computed bars and a slow Python loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from edgelab.errors import FeatureError
from edgelab.features import candle_anatomy, heikin_ashi


def _bars(rows, columns=("open", "high", "low", "close")):
    index = pd.date_range("2024-01-01", periods=len(rows), freq="h", tz="UTC", name="timestamp")
    out = pd.DataFrame(np.asarray(rows, dtype=float), columns=list(columns), index=index)
    out["volume"] = 1.0
    return out


def slow_heikin_ashi(o, h, lo, c):
    """The textbook definition, one bar at a time."""
    ha_o, ha_h, ha_l, ha_c = [], [], [], []
    for t in range(len(o)):
        close_t = (o[t] + h[t] + lo[t] + c[t]) / 4
        open_t = (o[0] + c[0]) / 2 if t == 0 else (ha_o[t - 1] + ha_c[t - 1]) / 2
        ha_o.append(open_t)
        ha_c.append(close_t)
        ha_h.append(max(h[t], open_t, close_t))
        ha_l.append(min(lo[t], open_t, close_t))
    return ha_o, ha_h, ha_l, ha_c


def test_heikin_ashi_by_hand():
    bars = _bars([[10, 12, 9, 11], [11, 13, 10, 12], [12, 13, 11, 11], [11, 12, 10, 10]])
    ha = heikin_ashi(bars)
    # bar 0: close (10+12+9+11)/4 = 10.5, open (10+11)/2 = 10.5
    # bar 1: close 46/4 = 11.5, open (10.5+10.5)/2 = 10.5, high max(13, ...) = 13
    # bar 2: close 47/4 = 11.75, open (10.5+11.5)/2 = 11, low min(11, 11, 11.75) = 11
    # bar 3: close 43/4 = 10.75, open (11+11.75)/2 = 11.375, high 12, low 10
    np.testing.assert_array_equal(ha["open"], [10.5, 10.5, 11.0, 11.375])
    np.testing.assert_array_equal(ha["close"], [10.5, 11.5, 11.75, 10.75])
    np.testing.assert_array_equal(ha["high"], [12.0, 13.0, 13.0, 12.0])
    np.testing.assert_array_equal(ha["low"], [9.0, 10.0, 11.0, 10.0])
    assert ha.index.equals(bars.index)
    assert ha.attrs["price"] == "last"
    assert list(ha.columns) == ["open", "high", "low", "close", "volume"]


def test_heikin_ashi_high_low_take_ha_values_by_hand():
    # a gap down: HA open (from the previous HA bar) is above the bar's high
    bars = _bars([[20, 21, 19, 20], [10, 11, 9, 10]])
    ha = heikin_ashi(bars)
    assert ha["open"].iloc[1] == 20.0 and ha["high"].iloc[1] == 20.0  # max(11, 20, 10)
    assert ha["low"].iloc[1] == 9.0


def test_heikin_ashi_on_mid_by_hand():
    cols = [f"{side}_{p}" for side in ("bid", "ask") for p in ("open", "high", "low", "close")]
    quotes = pd.DataFrame(
        [
            [9.9, 10.9, 8.9, 9.9, 10.1, 11.1, 9.1, 10.1],
            [10.8, 11.8, 9.8, 10.8, 11.2, 12.2, 10.2, 11.2],
        ],
        columns=cols,
    )
    bars = _bars([[50, 50, 50, 50], [50, 50, 50, 50]])  # last prices that must be ignored
    for col in cols:
        bars[col] = quotes[col].to_numpy()
    ha = heikin_ashi(bars)  # auto: mid, since all eight bid/ask columns are present
    # mids: bar 0 = (10, 11, 9, 10), bar 1 = (11, 12, 10, 11)
    np.testing.assert_allclose(ha["close"], [10.0, 11.0], rtol=1e-15)
    np.testing.assert_allclose(ha["open"], [10.0, 10.0], rtol=1e-15)
    np.testing.assert_allclose(ha["high"], [11.0, 12.0], rtol=1e-15)
    assert ha.attrs["price"] == "mid"
    assert heikin_ashi(bars, use_mid=False)["close"].tolist() == [50.0, 50.0]


@pytest.mark.parametrize("use_mid", [False, True])
def test_heikin_ashi_matches_slow_loop(make_bars, use_mid):
    bars = make_bars(500, 11)
    ha = heikin_ashi(bars, use_mid=use_mid)
    if use_mid:
        o, h, lo, c = (
            (bars[f"bid_{p}"] + bars[f"ask_{p}"]).to_numpy() / 2
            for p in ("open", "high", "low", "close")
        )
    else:
        o, h, lo, c = (bars[p].to_numpy() for p in ("open", "high", "low", "close"))
    expected = slow_heikin_ashi(o, h, lo, c)
    for name, ref in zip(("open", "high", "low", "close"), expected, strict=True):
        np.testing.assert_array_equal(ha[name].to_numpy(), ref, err_msg=name)
    assert (ha["high"] >= ha[["open", "close"]].max(axis=1)).all()
    assert (ha["low"] <= ha[["open", "close"]].min(axis=1)).all()


def test_heikin_ashi_mid_needs_bid_and_ask(make_bars):
    bars = make_bars(10, 0, bid_ask=False)
    assert heikin_ashi(bars).attrs["price"] == "last"
    with pytest.raises(FeatureError, match="no 'bid_open' column"):
        heikin_ashi(bars, use_mid=True)
    partial = make_bars(10, 0).drop(columns=["ask_high"])
    assert heikin_ashi(partial).attrs["price"] == "last"  # auto needs the full bid/ask OHLC
    with pytest.raises(FeatureError, match="'ask_high'"):
        heikin_ashi(partial, use_mid=True)


def test_heikin_ashi_rejects_empty_and_nan(make_bars):
    bars = make_bars(10, 0)
    with pytest.raises(FeatureError, match="at least 1 bars, got 0"):
        heikin_ashi(bars.iloc[:0])
    bars.iloc[4, bars.columns.get_loc("bid_low")] = np.nan
    with pytest.raises(FeatureError, match="'bid_low'.*row 4"):
        heikin_ashi(bars)


def test_candle_anatomy_by_hand():
    bars = _bars([[10, 12, 9, 11], [11, 11.5, 8, 9]])
    a = candle_anatomy(bars)
    np.testing.assert_allclose(a["body"], [1.0, -2.0])
    np.testing.assert_allclose(a["upper_shadow"], [1.0, 0.5])
    np.testing.assert_allclose(a["lower_shadow"], [1.0, 1.0])
    np.testing.assert_allclose(a["range"], [3.0, 3.5])
    np.testing.assert_allclose(a["hl_ratio"], [12 / 9, 11.5 / 8])
    np.testing.assert_allclose(a["co_ratio"], [11 / 10, 9 / 11])
    # the parts add up to the range
    np.testing.assert_allclose(a["body"].abs() + a["upper_shadow"] + a["lower_shadow"], a["range"])


def test_candle_anatomy_rejects_bad_prices(make_bars):
    bars = make_bars(20, 0)
    bars.iloc[5, bars.columns.get_loc("low")] = -1.0
    with pytest.raises(
        FeatureError, match=r"column 'low' has a non-positive price \(-1.0\) at row 5"
    ):
        candle_anatomy(bars)
    quotes = make_bars(20, 0)
    quotes.iloc[9, quotes.columns.get_loc("ask_close")] = 0.0
    with pytest.raises(
        FeatureError, match=r"'ask_close' has a non-positive price \(0.0\) at row 9"
    ):
        heikin_ashi(quotes)
