"""Causality, proven for every registered feature function and feature set.

Two angles on "row t uses bars up to and including t, never later":
1. computing on bars[:k] gives the same values as computing on all bars, for every row < k;
2. replacing every bar after row k by different bars leaves rows <= k unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgelab.errors import FeatureError
from edgelab.features import FEATURE_FUNCTIONS, FEATURE_SETS, compute_features

SETTINGS = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _assert_same_rows(a: pd.DataFrame, b: pd.DataFrame, rows: int, what: str) -> None:
    assert list(a.columns) == list(b.columns), what
    assert a.index[:rows].equals(b.index[:rows]), what
    np.testing.assert_allclose(
        a.iloc[:rows].to_numpy(),
        b.iloc[:rows].to_numpy(),
        rtol=1e-13,
        atol=0,
        equal_nan=True,
        err_msg=what,
    )


def _all_features(bars):
    """Every feature function and single-asset set on `bars` (None where too few bars)."""
    out = {}
    for name, fn in FEATURE_FUNCTIONS.items():
        out[name] = _or_none(lambda fn=fn: fn(bars))
    for name, spec in FEATURE_SETS.items():
        data = {"A": bars} if spec.panel else bars
        out[f"set:{name}"] = _or_none(lambda data=data, name=name: compute_features(data, name))
    out["set:heikin_ashi_stoch:n=7:last"] = _or_none(
        lambda: compute_features(bars, "heikin_ashi_stoch", n=7, use_mid=False)
    )
    return out


def _or_none(compute):
    try:
        return compute()
    except FeatureError as exc:
        assert "at least" in str(exc), str(exc)  # only "too few bars" is acceptable here
        return None


def test_registry_is_covered():
    # The property tests below run over these; a new function must be added to the registry.
    import edgelab.features as features

    public = {
        name for name in features.__all__ if callable(getattr(features, name)) and name.islower()
    }
    helpers = {
        "compute_features",
        "describe_feature_set",
        "feature_set_names",
        "get_feature_set",
        "log_returns",
    }
    missing = public - helpers - set(FEATURE_FUNCTIONS)
    assert not missing, f"feature functions missing from FEATURE_FUNCTIONS: {missing}"
    assert "log_returns" in FEATURE_FUNCTIONS


@SETTINGS
@given(seed=st.integers(0, 10_000), n=st.integers(110, 220), data=st.data())
def test_prefix_gives_same_rows(make_bars, seed, n, data):
    flat = data.draw(st.sampled_from([0, 25]), label="flat_run")
    bars = make_bars(n, seed, flat_run=flat, zero_volume_run=data.draw(st.sampled_from([0, 25])))
    k = data.draw(st.integers(1, n), label="k")
    full, prefix = _all_features(bars), _all_features(bars.iloc[:k])
    for name, frame in full.items():
        assert frame is not None, f"{name} failed on {n} bars"
        if prefix[name] is None:
            assert k < 101, f"{name} refused {k} bars"
            continue
        _assert_same_rows(prefix[name], frame, k, f"{name}: bars[:{k}] vs all {n} bars")
        assert len(prefix[name]) == k
        if name.startswith("set:"):
            assert prefix[name].attrs["warmup"] == frame.attrs["warmup"]


@SETTINGS
@given(seed=st.integers(0, 10_000), n=st.integers(110, 220), data=st.data())
def test_future_bars_do_not_change_past_rows(make_bars, seed, n, data):
    bars = make_bars(n, seed)
    k = data.draw(st.integers(0, n - 2), label="k")
    other = make_bars(n, seed + 1)
    changed = pd.concat([bars.iloc[: k + 1], other.iloc[k + 1 :]])
    changed.attrs = bars.attrs
    before, after = _all_features(bars), _all_features(changed)
    for name, frame in before.items():
        _assert_same_rows(frame, after[name], k + 1, f"{name}: bars after row {k} replaced")
        # the future did change (the test is not vacuous): the last row differs somewhere
        assert not np.allclose(
            frame.iloc[-1].to_numpy(), after[name].iloc[-1].to_numpy(), equal_nan=True
        ) or (name.startswith("calendar")), name


@SETTINGS
@given(seed=st.integers(0, 10_000), data=st.data())
def test_panel_prefix_gives_same_rows(make_bars, seed, data):
    # Assets with different starts and a missing bar: the panel is the inner join.
    a = make_bars(180, seed)
    b = make_bars(170, seed + 1, start="2024-01-01 05:00").drop(
        index=pd.Timestamp("2024-01-03 00:00", tz="UTC")
    )
    c = make_bars(175, seed + 2)
    assets = {"A": a, "B": b, "C": c}
    full = compute_features(assets, "multi_asset8")
    k = data.draw(st.integers(60, len(full)), label="k")
    cut = full.index[k - 1]
    prefix = compute_features({s: x[x.index <= cut] for s, x in assets.items()}, "multi_asset8")
    assert len(prefix) == k
    _assert_same_rows(prefix, full, k, f"multi_asset8 up to {cut}")


@pytest.mark.parametrize("name", sorted(FEATURE_SETS))
def test_sets_have_no_nan_after_warmup(make_bars, name):
    # flat prices and zero volume runs long enough to fill every window
    bars = make_bars(400, 3, flat_run=120, zero_volume_run=40)
    data = {"A": bars, "B": make_bars(400, 4)} if FEATURE_SETS[name].panel else bars
    out = compute_features(data, name)
    w = out.attrs["warmup"]
    assert np.isfinite(out.iloc[w:].to_numpy()).all()
    assert out.iloc[:w].isna().any(axis=1).all(), "every warm-up row has a NaN"


def test_the_checks_catch_look_ahead(make_bars):
    # The comparisons above are not vacuous: a feature that peeks one bar ahead, or a
    # centered window, fails both of them.
    bars = make_bars(150, 0)
    other = make_bars(150, 1)
    changed = pd.concat([bars.iloc[:101], other.iloc[101:]])
    for leaky in (
        lambda b: b[["close"]].shift(-1),
        lambda b: b[["close"]].rolling(5, center=True).mean(),
    ):
        with pytest.raises(AssertionError):
            _assert_same_rows(leaky(bars.iloc[:100]), leaky(bars), 100, "prefix")
        with pytest.raises(AssertionError):
            _assert_same_rows(leaky(bars), leaky(changed), 101, "future replaced")
