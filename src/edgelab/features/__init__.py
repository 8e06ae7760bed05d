"""Features: causal functions from Bars to a FeatureFrame.

* `indicators`: returns, volatility, RSI, moving averages, MACD, stochastic, ATR, Bollinger,
  ROC/momentum, volume, range position (TA-Lib underneath);
* `candles`: Heikin-Ashi bars (bid/ask mid when present) and candle anatomy;
* `calendar`: hour and day of week (UTC) with sine/cosine;
* `normalize`: stochastic (rolling min/max) normalization and rolling z-score;
* `sets`: the named feature sets of the seed systems and `compute_features`.

Every value at row t uses bars up to and including t; rows before an indicator's look-back
are NaN (the warm-up), and there is no NaN after it.
"""

from edgelab.features.calendar import calendar_features
from edgelab.features.candles import candle_anatomy, heikin_ashi
from edgelab.features.indicators import (
    atr,
    bollinger,
    log_returns,
    macd,
    momentum,
    moving_averages,
    range_position,
    returns,
    rsi,
    stochastic,
    volatility,
    volume_features,
)
from edgelab.features.normalize import rolling_zscore, stochastic_normalize
from edgelab.features.sets import (
    FEATURE_FUNCTIONS,
    FEATURE_SETS,
    FeatureFrame,
    FeatureSet,
    compute_features,
    describe_feature_set,
    feature_set_names,
    get_feature_set,
)

__all__ = [
    "FEATURE_FUNCTIONS",
    "FEATURE_SETS",
    "FeatureFrame",
    "FeatureSet",
    "atr",
    "bollinger",
    "calendar_features",
    "candle_anatomy",
    "compute_features",
    "describe_feature_set",
    "feature_set_names",
    "get_feature_set",
    "heikin_ashi",
    "log_returns",
    "macd",
    "momentum",
    "moving_averages",
    "range_position",
    "returns",
    "rolling_zscore",
    "rsi",
    "stochastic",
    "stochastic_normalize",
    "volatility",
    "volume_features",
]
