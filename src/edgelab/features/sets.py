"""Named feature sets: the registry `FEATURE_SETS` and `compute_features`.

Each set reproduces the inputs of one seed system (see docs/readme/features.md for the exact
columns). `compute_features(bars, name, **params)` returns a FeatureFrame:

* a DataFrame on the bars' index (for the panel set `multi_asset8`: the timestamps common to
  all assets), one float64 column per feature, in the set's documented order;
* NaN only in the leading warm-up rows; ``attrs["warmup"]`` is their count, i.e. every row
  from ``warmup`` on is complete and finite (guaranteed for finite bars with positive
  prices, which are checked on input);
* causal: row t uses bars up to and including t (proven for every set by a property test).

``attrs`` also carry ``feature_set``, ``params`` and the bars' ``symbol``/``interval``/
``source`` (``assets`` for the panel).

`FEATURE_FUNCTIONS` lists every Bars-level feature function with its default arguments, so
that one causality test covers them all.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import talib

from edgelab.errors import FeatureError, unknown_name
from edgelab.features import indicators as ind
from edgelab.features.calendar import calendar_arrays, calendar_features
from edgelab.features.candles import (
    candle_anatomy,
    candle_anatomy_arrays,
    heikin_ashi,
    heikin_ashi_arrays,
    price_arrays,
)
from edgelab.features.normalize import (
    rolling_zscore,
    stochastic_normalize,
    stochastic_normalize_arrays,
)

FeatureFrame = pd.DataFrame
Arrays = ind.Arrays


@dataclass(frozen=True)
class FeatureSet:
    """A named feature set: how to build it, its columns and what it needs.

    `build(bars, **params)` returns the columns as a dict of float64 arrays (or the bars' own
    float64 Series, which pandas shares copy-on-write), in `columns` order (per asset for a
    panel set); `min_bars(params)` is the shortest input with one complete row (warm-up + 1)
    and checks the parameters.
    """

    name: str
    description: str
    seed: str
    columns: tuple[str, ...]
    build: Callable[..., Arrays]
    min_bars: Callable[[Mapping[str, Any]], int]
    params: Mapping[str, Any] = field(default_factory=dict)
    panel: bool = False


# --------------------------------------------------------------------------- builders


def _core13(bars: pd.DataFrame) -> Arrays:
    close = ind.bar_arrays(bars, ["close"], what="core13")["close"]
    log_ret = ind.returns_arrays(close, (1,), log=True)["log_ret_1"]
    line, signal, hist = talib.MACD(close, fastperiod=12, slowperiod=26, signalperiod=9)
    cal = calendar_arrays(bars.index, ("dow", "dow_sin", "dow_cos"))
    return {
        "log_ret_1": log_ret,
        **ind.volatility_arrays(log_ret, (20,)),
        "rsi_14": talib.RSI(close, timeperiod=14),
        "macd": line,
        "macd_signal": signal,
        "macd_hist": hist,
        **ind.returns_arrays(close, (1, 3, 7, 14)),
        "dow": cal["dow"],
        "dow_sin": cal["dow_sin"],
        "dow_cos": cal["dow_cos"],
    }


def _rich35(bars: pd.DataFrame) -> Arrays:
    a = ind.bar_arrays(bars, ind.OHLCV, what="rich35")
    o, h, lo, c, v = (a[k] for k in ind.OHLCV)
    log_ret = ind.returns_arrays(c, (1,), log=True)["log_ret_1"]
    cal = calendar_arrays(bars.index, ("hour_sin", "hour_cos", "dow_sin", "dow_cos"))
    # OHLCV go in as the bars' own Series: pandas (copy-on-write) shares their memory and
    # copies only if either frame is written to, so the bars stay untouched at no cost.
    return {
        **{k: bars[k] if bars[k].dtype == np.float64 else a[k].copy() for k in ind.OHLCV},
        "log_ret_1": log_ret,
        **ind.volatility_arrays(log_ret, (5, 20)),
        **ind.rsi_arrays(c, 14, mom=1, ma=5),
        **ind.moving_average_arrays(c, ema=(50,), sma=()),
        **ind.macd_arrays(c, 12, 26, 9),
        **ind.stochastic_arrays(h, lo, c, 14, 3, 3),
        **ind.atr_arrays(h, lo, c, 14),
        **ind.bollinger_arrays(c, 20, 2.0),
        **ind.momentum_arrays(c, roc=(10,)),
        **ind.volume_arrays(v, 20),
        **candle_anatomy_arrays(o, h, lo, c, ("body", "upper_shadow", "lower_shadow")),
        **ind.range_position_arrays(h, lo, c, 20),
        **cal,
    }


def _price_change(bars: pd.DataFrame) -> Arrays:
    close = ind.bar_arrays(bars, ["close"], what="price_change")["close"]
    ratio = talib.ROCR(close, timeperiod=1)
    ratio[0] = 1.0  # the seed system's convention: no previous close, no change
    return {"price_change": ratio}


def _multi_asset8(bars: pd.DataFrame) -> Arrays:
    a = ind.bar_arrays(bars, ["high", "low", "close", "volume"], what="multi_asset8")
    c = a["close"]
    log_ret = ind.returns_arrays(c, (1, 5, 15), log=True)
    ma = ind.moving_average_arrays(c, ema=(50,), sma=())
    return {
        **log_ret,
        **ind.volatility_arrays(log_ret["log_ret_1"], (20,)),
        "rsi_14": talib.RSI(c, timeperiod=14),
        "hl_range": np.log(a["high"] / a["low"]),
        "rel_volume_20": ind.volume_arrays(a["volume"], 20)["rel_volume_20"],
        "ema_50_dist": ma["ema_50_dist"],
    }


def _heikin_ashi_stoch(bars: pd.DataFrame, n: int = 100, use_mid: bool | None = None) -> Arrays:
    if use_mid not in (None, True, False):
        raise FeatureError(
            f"heikin_ashi_stoch: use_mid must be true, false or none, got {use_mid!r}"
        )
    prices, _ = price_arrays(bars, use_mid=use_mid, what="heikin_ashi_stoch")
    ha = heikin_ashi_arrays(prices["open"], prices["high"], prices["low"], prices["close"])
    norm = stochastic_normalize_arrays(ha["open"], ha["high"], ha["low"], ha["close"], n)
    return {f"ha_{k}_stoch": norm[k] for k in ("open", "high", "low", "close")}


RICH35_COLUMNS = (
    *ind.OHLCV,
    "log_ret_1", "vol_5", "vol_20",
    "rsi_14", "rsi_14_mom", "rsi_14_ma",
    "ema_50", "ema_50_dist", "ema_50_slope",
    "macd", "macd_signal", "macd_hist", "macd_slope", "macd_accel",
    "stoch_k", "stoch_d", "atr_14", "bb_width", "bb_pctb", "roc_10",
    "rel_volume_20", "volume_z_20",
    "body", "upper_shadow", "lower_shadow", "price_pos_20",
    "hour_sin", "hour_cos", "dow_sin", "dow_cos",
)  # fmt: skip

FEATURE_SETS: dict[str, FeatureSet] = {
    s.name: s
    for s in (
        FeatureSet(
            name="core13",
            description="log return, 20-bar volatility, RSI 14, MACD 12/26/9, returns over 1/3/7/14 bars, day of week with sine/cosine",
            seed="daily_direction",
            columns=(
                "log_ret_1",
                "vol_20",
                "rsi_14",
                "macd",
                "macd_signal",
                "macd_hist",
                "ret_1",
                "ret_3",
                "ret_7",
                "ret_14",
                "dow",
                "dow_sin",
                "dow_cos",
            ),  # fmt: skip
            build=_core13,
            min_bars=lambda p: 34,  # MACD 26/9: 33 warm-up rows
        ),
        FeatureSet(
            name="rich35",
            description="OHLCV plus returns, volatility, RSI, EMA 50, MACD, stochastic, ATR, Bollinger, ROC, volume, candle shape, range position, calendar",
            seed="hybrid_35",
            columns=RICH35_COLUMNS,
            build=_rich35,
            min_bars=lambda p: 51,  # EMA 50 slope: 50 warm-up rows
        ),
        FeatureSet(
            name="price_change",
            description="close / previous close (1 on the first bar)",
            seed="gru_price_change",
            columns=("price_change",),
            build=_price_change,
            min_bars=lambda p: 1,
        ),
        FeatureSet(
            name="multi_asset8",
            description="8 features per asset (log returns 1/5/15, volatility 20, RSI 14, log high/low, relative volume, distance to EMA 50) on the timestamps common to all assets; columns 'ASSET:feature'",
            seed="multi_asset_resnet",
            columns=(
                "log_ret_1",
                "log_ret_5",
                "log_ret_15",
                "vol_20",
                "rsi_14",
                "hl_range",
                "rel_volume_20",
                "ema_50_dist",
            ),  # fmt: skip
            build=_multi_asset8,
            min_bars=lambda p: 50,  # EMA 50: 49 warm-up rows
            panel=True,
        ),
        FeatureSet(
            name="heikin_ashi_stoch",
            description="Heikin-Ashi OHLC (bid/ask mid when present), stochastically normalized over the last n bars",
            seed="bert_heikin_ashi",
            columns=("ha_open_stoch", "ha_high_stoch", "ha_low_stoch", "ha_close_stoch"),
            build=_heikin_ashi_stoch,
            min_bars=lambda p: ind.require_window(p["n"], "heikin_ashi_stoch window n"),
            params={"n": 100, "use_mid": None},
        ),
    )
}


# --------------------------------------------------------------------------- public API


def feature_set_names() -> list[str]:
    """Names of the registered feature sets, sorted."""
    return sorted(FEATURE_SETS)


def get_feature_set(name: str) -> FeatureSet:
    """The registered FeatureSet called `name`; FeatureError with a suggestion otherwise."""
    if name not in FEATURE_SETS:
        raise FeatureError(unknown_name("feature set", name, FEATURE_SETS))
    return FEATURE_SETS[name]


def describe_feature_set(name: str) -> dict[str, Any]:
    """What a set computes: name, description, seed system, input, params (defaults),
    columns (per asset for the panel set), column count and minimum number of bars."""
    spec = get_feature_set(name)
    return {
        "name": spec.name,
        "description": spec.description,
        "seed": spec.seed,
        "input": "dict of Bars (panel: one column per asset and feature)"
        if spec.panel
        else "one Bars",
        "params": dict(spec.params),
        "columns": list(spec.columns),
        "n_columns": len(spec.columns),
        "min_bars": spec.min_bars(spec.params),
    }


def _resolve_params(spec: FeatureSet, params: Mapping[str, Any]) -> dict[str, Any]:
    for key in params:
        if key not in spec.params:
            known = list(spec.params) or ["(none)"]
            raise FeatureError(unknown_name(f"parameter of feature set '{spec.name}'", key, known))
    return {**spec.params, **params}


def _single_bars(data: pd.DataFrame | Mapping[str, pd.DataFrame], spec: FeatureSet) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, Mapping) and len(data) == 1:
        return next(iter(data.values()))
    if isinstance(data, Mapping):
        raise FeatureError(
            f"feature set '{spec.name}' takes one asset, got {len(data)} ({', '.join(map(str, data))}); "
            f"pass one of them, e.g. bars['{next(iter(data), '')}'], or use a panel set (multi_asset8)"
        )
    raise FeatureError(
        f"feature set '{spec.name}': expected Bars or dict of Bars, got {type(data).__name__}"
    )


def _finish(
    arrays: Arrays, index: pd.Index, spec: FeatureSet, attrs: dict[str, Any]
) -> FeatureFrame:
    """Find the warm-up, then wrap the arrays in one DataFrame (no copies).

    No NaN after the warm-up holds by construction: inputs are finite with positive prices
    (checked by `bar_arrays`) and every 0/0 has a defined value; the property tests check
    it on random bars with flat stretches and zero volume. Scanning all values here would
    cost as much as a third of the TA-Lib time on large inputs.
    """
    n = len(index)
    warmup = max((ind.first_valid_row(np.asarray(arr)) for arr in arrays.values()), default=0)
    if warmup >= n:
        raise FeatureError(
            f"feature set '{spec.name}' has no complete row in {n} bars; it needs at least "
            f"{spec.min_bars(attrs['params'])} consecutive bars per asset"
        )
    out = ind.frame(arrays, index)
    out.attrs = {**attrs, "warmup": int(warmup)}
    return out


def _panel(
    spec: FeatureSet, data: pd.DataFrame | Mapping[str, pd.DataFrame], params: dict[str, Any]
) -> FeatureFrame:
    assets = (
        {str(data.attrs.get("symbol", "asset")): data}
        if isinstance(data, pd.DataFrame)
        else dict(data)
    )
    if not assets:
        raise FeatureError(f"feature set '{spec.name}' got no assets")
    need = spec.min_bars(params)
    built = {}
    for sym, bars in assets.items():
        ind.require_rows(len(bars), need, f"feature set '{spec.name}' for asset '{sym}'")
        built[sym] = spec.build(bars, **params)
    index = functools.reduce(lambda a, b: a.intersection(b), (b.index for b in assets.values()))
    if len(index) == 0:
        raise FeatureError(
            f"feature set '{spec.name}': the assets {', '.join(assets)} share no timestamp"
        )
    columns: Arrays = {}
    for sym, arrays in built.items():
        pos = assets[sym].index.get_indexer(index)
        for name in spec.columns:
            columns[f"{sym}:{name}"] = arrays[name][pos]
    first = next(iter(assets.values()))
    attrs = {
        "feature_set": spec.name,
        "params": params,
        "assets": list(assets),
        "interval": first.attrs.get("interval"),
        "source": first.attrs.get("source"),
    }
    return _finish(columns, index, spec, attrs)


def compute_features(
    bars: pd.DataFrame | Mapping[str, pd.DataFrame], set_name: str, **params: Any
) -> FeatureFrame:
    """Compute the named feature set on Bars (or a dict of Bars) and return a FeatureFrame.

    Single-asset sets take one Bars (or a dict holding exactly one); the panel set
    `multi_asset8` takes a dict of Bars and returns ``ASSET:feature`` columns on the
    timestamps common to all assets. Raises FeatureError for an unknown set or parameter,
    missing columns, NaN/inf inside the data (naming the column and first row) and too few
    bars. See the module docstring for the FeatureFrame contract.
    """
    spec = get_feature_set(set_name)
    resolved = _resolve_params(spec, params)
    if spec.panel:
        return _panel(spec, bars, resolved)
    one = _single_bars(bars, spec)
    if not isinstance(one, pd.DataFrame):
        raise FeatureError(f"feature set '{spec.name}': expected Bars, got {type(one).__name__}")
    ind.require_rows(len(one), spec.min_bars(resolved), f"feature set '{spec.name}'")
    arrays = spec.build(one, **resolved)
    attrs = {**one.attrs, "feature_set": spec.name, "params": resolved}
    return _finish(arrays, one.index, spec, attrs)


# Every Bars-level feature function with its default arguments (for the causality test).
FEATURE_FUNCTIONS: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "returns": ind.returns,
    "log_returns": functools.partial(ind.log_returns, horizons=(1, 3, 7, 14)),
    "volatility": ind.volatility,
    "rsi": ind.rsi,
    "moving_averages": ind.moving_averages,
    "macd": ind.macd,
    "stochastic": ind.stochastic,
    "atr": ind.atr,
    "bollinger": ind.bollinger,
    "momentum": ind.momentum,
    "volume_features": ind.volume_features,
    "range_position": ind.range_position,
    "heikin_ashi": heikin_ashi,
    "heikin_ashi_last": functools.partial(heikin_ashi, use_mid=False),
    "candle_anatomy": candle_anatomy,
    "calendar_features": calendar_features,
    "stochastic_normalize": stochastic_normalize,
    "rolling_zscore": lambda bars: rolling_zscore(bars[["close", "volume"]], 20),
}
