"""Stochastic normalization and rolling z-score against hand values and slow loops."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from edgelab.errors import FeatureError
from edgelab.features import rolling_zscore, stochastic_normalize


def slow_stochastic(bars, n):
    out = {k: np.full(len(bars), np.nan) for k in ("open", "high", "low", "close")}
    for t in range(n - 1, len(bars)):
        lo = min(bars["low"].iloc[t - n + 1 : t + 1])
        hi = max(bars["high"].iloc[t - n + 1 : t + 1])
        for k in out:
            out[k][t] = 0.5 if hi == lo else (bars[k].iloc[t] - lo) / (hi - lo)
    return out


def test_stochastic_by_hand():
    index = pd.date_range("2024-01-01", periods=4, freq="h", tz="UTC")
    bars = pd.DataFrame(
        {
            "open": [9.0, 10, 11, 12],
            "high": [10.0, 12, 11.5, 13],
            "low": [8.0, 9, 10, 11],
            "close": [9.5, 11, 11, 12.5],
        },
        index=index,
    )
    z = stochastic_normalize(bars, n=2)
    # row 1: window low min(8, 9) = 8, high max(10, 12) = 12 -> (x - 8) / 4
    # row 2: low 9, high 12 -> (x - 9) / 3;  row 3: low 10, high 13 -> (x - 10) / 3
    np.testing.assert_allclose(z["open"], [np.nan, 0.5, 2 / 3, 2 / 3])
    np.testing.assert_allclose(z["high"], [np.nan, 1.0, 2.5 / 3, 1.0])
    np.testing.assert_allclose(z["low"], [np.nan, 0.25, 1 / 3, 1 / 3])
    np.testing.assert_allclose(z["close"], [np.nan, 0.75, 2 / 3, 2.5 / 3])


@pytest.mark.parametrize("n", [1, 5, 30])
def test_stochastic_matches_slow_loop(make_bars, n):
    bars = make_bars(150, 2, flat_run=35)
    z = stochastic_normalize(bars, n=n)
    ref = slow_stochastic(bars, n)
    for k, expected in ref.items():
        np.testing.assert_array_equal(z[k].to_numpy(), expected, err_msg=k)
    valid = z.iloc[n - 1 :].to_numpy()
    assert ((valid >= 0) & (valid <= 1)).all()
    assert (z.iloc[n - 1 :]["high"] >= z.iloc[n - 1 :]["low"]).all()


def test_stochastic_too_few_bars(make_bars):
    with pytest.raises(FeatureError, match="needs at least 100 bars, got 99"):
        stochastic_normalize(make_bars(99, 0))


def test_zscore_matches_slow_loop_and_pandas(make_bars):
    x = make_bars(200, 3, zero_volume_run=30)["volume"]
    z = rolling_zscore(x, 10)
    v = x.to_numpy()
    for t in range(len(v)):
        if t < 9:
            assert np.isnan(z.iloc[t])
            continue
        w = v[t - 9 : t + 1]
        expected = 0.0 if w.std() == 0 else (v[t] - w.mean()) / w.std()
        assert z.iloc[t] == pytest.approx(expected, rel=1e-7, abs=1e-9)
    sample = rolling_zscore(x, 10, ddof=1)
    ref = (x - x.rolling(10).mean()) / x.rolling(10).std()
    np.testing.assert_allclose(sample.iloc[9:66], ref.iloc[9:66], rtol=1e-7)
    assert sample.name == x.name and sample.index.equals(x.index)


def test_zscore_frame_and_bad_input(make_bars):
    bars = make_bars(50, 0)
    z = rolling_zscore(bars[["close", "volume"]], 5)
    assert list(z.columns) == ["close", "volume"]
    np.testing.assert_array_equal(z["close"], rolling_zscore(bars["close"], 5))
    bad = bars["close"].copy()
    bad.iloc[12] = np.nan
    with pytest.raises(FeatureError, match="row 12"):
        rolling_zscore(bad, 5)
