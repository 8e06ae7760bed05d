"""The synthetic market: seeded multi-asset bars with a planted signal of known strength.

This module owns `synthetic_market`, the source behind `synthetic:` specs. Later stages use
it to prove that a model finds an edge where one was planted and none where none exists.

The generator, per bar t and asset i (all returns are log returns):

    z_t        ~ N(0, R)            R: constant correlation matrix (Cholesky factor)
    h_t        = omega + alpha * h_{t-1} * mean_i(z_{t-1,i}^2) + beta * h_{t-1}   (GARCH(1,1))
    m_t        = regime volatility multiplier (two-state Markov chain, calm / stressed)
    sigma_t    = sigma_bar * m_t * sqrt(h_t)     sigma_bar = annual_vol / sqrt(bars per year)
    eps_{t,i}  = sigma_t * z_{t,i}               (innovation: i.i.d. given the volatility)
    r_{t,i}    = eps_{t,i}                                     signal="none"
    r_{t,i}    = strength * r_{t-1,i} + eps_{t,i}              signal="ar"
    r_{t,i}    = strength * r_{t-lag,0} + eps_{t,i} (i >= 1)   signal="lead_lag"

Volatility is common to all assets (one market-wide GARCH variance and regime), so the
correlation of the innovations is exactly `correlation`. Regimes move volatility only, never
the drift: a regime-dependent drift would be a persistent mean, i.e. a second, unplanned
signal, and strength 0 would no longer be a random walk.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

from edgelab.data.intervals import bars_per_year, format_interval, parse_interval
from edgelab.errors import SourceError, unknown_name

SIGNALS = ("none", "ar", "lead_lag")
CALENDARS = ("crypto", "fx", "equity")
DEFAULT_GARCH = (0.05, 0.05, 0.90)

# Regimes: mean durations in bars and the stressed/calm volatility ratio. The multipliers are
# normalized so that the long-run variance equals sigma_bar**2 (see _regime_multipliers).
_CALM_BARS, _STRESS_BARS, _STRESS_RATIO = 1000.0, 200.0, 2.0
_BASE_VOLUME = 1000.0


def synthetic_market(
    n_bars: int = 5000,
    assets: int = 1,
    interval: str = "1h",
    start: str = "2020-01-01",
    seed: int = 0,
    signal: str = "none",
    strength: float = 0.0,
    lag: int = 1,
    correlation: float = 0.3,
    garch: tuple[float, float, float] | None = DEFAULT_GARCH,
    regimes: bool = True,
    spread_bps: float = 2.0,
    calendar: str = "crypto",
    annual_vol: float = 0.6,
    start_price: float = 100.0,
) -> dict[str, pd.DataFrame]:
    """Simulate `assets` aligned Bars frames of `n_bars` bars each, keyed `SYN0`, `SYN1`, ...

    Shapes and units: each frame has `n_bars` rows on a UTC DatetimeIndex `timestamp` (bar open
    time) laid on `calendar` ("crypto" 24/7; "fx" Sun 22:00 to Fri 22:00 UTC; "equity" weekdays,
    14:30-21:00 UTC intraday; no holidays, no daylight saving), float64 columns `open high low
    close volume`, `bid_*`/`ask_*` OHLC and `spread` (ask_close - bid_close, in price units).
    OHLC are mid prices. `open` is exactly the previous `close` (a continuous market, also
    across calendar closures), so `log(close/open)` is the bar's return. `high`/`low` are drawn
    from the exact marginal law of the maximum/minimum of a Brownian bridge from open to close
    with the bar's volatility, so high >= max(open, close) and low <= min(open, close) always.
    The half spread is `spread_bps/2` bps scaled by the current volatility relative to its
    long-run level; volume is log-normal noise times (0.5 + |return| / sigma_bar), so it
    rises with |return|. Volatility parameters are per bar: `garch=(omega, alpha, beta)` in
    units of sigma_bar**2 (the default has long-run variance 1, i.e. sigma_bar**2); `None`
    means constant volatility. Regimes last 1000 (calm) and 200 (stressed) bars on average.

    Planted signal and what it is worth (Gaussian approximation; GARCH tails move accuracy by
    a point or less, see tests/data/test_synthetic.py):
    - `"none"` (or strength 0): a pure random walk; returns are i.i.d. given volatility, so no
      model can beat 50% direction accuracy out of sample.
    - `"ar"`: each asset's return follows AR(1) with coefficient `strength` (|strength| < 1).
      The OLS slope of r_t on r_{t-1} estimates `strength`; the best forecast
      `strength * r_{t-1}` has IC (Pearson correlation with r_t) = strength and direction
      accuracy 1/2 + arcsin(strength)/pi (0.1 -> 53.2%, 0.3 -> 59.7%).
    - `"lead_lag"`: every asset i >= 1 gets `strength * r_{t-lag}` of asset 0 (the leader).
      The slope of r_{t,i} on r_{t-lag,0} estimates `strength`; with equal volatilities the
      IC is strength / sqrt(1 + strength^2) and the accuracy 1/2 + arcsin(IC)/pi.
    The same seed draws the same shocks whatever the signal, so runs with and without a
    signal are paired. Same arguments give identical frames; another seed, different ones.
    """
    n_bars, assets, lag = int(n_bars), int(assets), int(lag)
    _check_arguments(n_bars, assets, signal, strength, lag, correlation, garch, calendar)
    if annual_vol <= 0 or start_price <= 0 or spread_bps < 0:
        raise SourceError(
            "synthetic: annual_vol and start_price must be > 0 and spread_bps >= 0, got "
            f"annual_vol={annual_vol}, start_price={start_price}, spread_bps={spread_bps}"
        )
    step = parse_interval(interval)
    index = _calendar_index(n_bars, step, start, calendar)
    sigma_bar = annual_vol / np.sqrt(bars_per_year(step, calendar))
    rng = np.random.default_rng(seed)

    multiplier = _regime_multipliers(rng, n_bars) if regimes else np.ones(n_bars)
    z = rng.standard_normal((n_bars, assets)) @ _cholesky(assets, correlation).T
    omega, alpha, beta = garch if garch is not None else (1.0, 0.0, 0.0)
    h = _garch_variance(np.mean(z * z, axis=1), float(omega), float(alpha), float(beta))
    sigma = sigma_bar * multiplier * np.sqrt(h)  # (n,) common to all assets
    returns = _plant_signal(sigma[:, None] * z, signal, float(strength), lag)

    uniforms = 1.0 - rng.random((n_bars, assets, 2))  # in (0, 1]: log() stays finite
    volume_noise = rng.standard_normal((n_bars, assets))
    half_spread = 0.5e-4 * spread_bps * sigma / (sigma_bar * np.sqrt(omega / (1 - alpha - beta)))

    frames = {}
    for i in range(assets):
        frame = _bars_from_returns(
            returns[:, i],
            sigma,
            uniforms[:, i],
            volume_noise[:, i],
            half_spread,
            sigma_bar,
            start_price * (1.0 + 0.5 * i),
            index,
        )
        symbol = f"SYN{i}"
        frame.attrs.update(
            symbol=symbol,
            interval=format_interval(step),
            source="synthetic",
            calendar=calendar,
            synthetic={
                "seed": int(seed),
                "signal": signal,
                "strength": float(strength),
                "lag": lag,
                "correlation": float(correlation),
                "assets": assets,
            },
        )
        frames[symbol] = frame
    return frames


def _check_arguments(n_bars, assets, signal, strength, lag, correlation, garch, calendar):
    """Raise SourceError naming the bad parameter and its valid range."""
    if signal not in SIGNALS:
        raise SourceError(unknown_name("synthetic signal", signal, SIGNALS))
    if calendar not in CALENDARS:
        raise SourceError(unknown_name("synthetic calendar", calendar, CALENDARS))
    if n_bars < 2 or assets < 1:
        raise SourceError(
            f"synthetic: need n >= 2 and assets >= 1, got n={n_bars}, assets={assets}"
        )
    if signal == "ar" and not -1.0 < strength < 1.0:
        raise SourceError(f"synthetic: signal=ar needs -1 < strength < 1, got {strength}")
    if signal == "lead_lag":
        if assets < 2:
            raise SourceError("synthetic: signal=lead_lag needs assets >= 2 (asset 0 leads)")
        if not 1 <= lag < n_bars:
            raise SourceError(f"synthetic: lag must be in 1..n-1, got {lag}")
    if assets > 1 and not -1.0 / (assets - 1) < correlation < 1.0:
        raise SourceError(
            f"synthetic: correlation {correlation} is not a valid constant correlation for "
            f"{assets} assets (needs {-1.0 / (assets - 1):.3g} < correlation < 1)"
        )
    if garch is not None:
        omega, alpha, beta = garch
        if omega <= 0 or alpha < 0 or beta < 0 or alpha + beta >= 1:
            raise SourceError(
                f"synthetic: garch={tuple(garch)} is not stationary "
                "(needs omega > 0, alpha >= 0, beta >= 0, alpha + beta < 1)"
            )


def _cholesky(assets: int, correlation: float) -> np.ndarray:
    """Lower Cholesky factor of the constant-correlation matrix (ones on the diagonal)."""
    matrix = np.full((assets, assets), float(correlation))
    np.fill_diagonal(matrix, 1.0)
    return np.linalg.cholesky(matrix)


def _regime_multipliers(rng: np.random.Generator, n_bars: int) -> np.ndarray:
    """Two-state Markov chain of volatility multipliers, (n,), long-run mean square 1.

    Durations are geometric (the law of a Markov chain's sojourn), drawn in one batch and
    laid end to end: vectorized, no per-bar loop. The first state comes from the stationary law.
    """
    p_stress = _STRESS_BARS / (_CALM_BARS + _STRESS_BARS)
    calm = 1.0 / np.sqrt(1.0 - p_stress + p_stress * _STRESS_RATIO**2)
    levels = np.array([calm, calm * _STRESS_RATIO])
    first = int(rng.random() < p_stress)
    n_spells = 2 * int(np.ceil(n_bars / (_CALM_BARS + _STRESS_BARS))) + 4  # even: alternates
    block = (first + np.arange(n_spells)) % 2
    means = np.where(block == 1, _STRESS_BARS, _CALM_BARS)
    states, durations = block, rng.geometric(1.0 / means)
    while durations.sum() < n_bars:  # rare: a run of short spells; extend, keep the phase
        states = np.concatenate([states, block])
        durations = np.concatenate([durations, rng.geometric(1.0 / means)])
    return np.repeat(levels[states], durations)[:n_bars]


@njit(cache=True)
def _garch_variance(shock2: np.ndarray, omega: float, alpha: float, beta: float) -> np.ndarray:
    """GARCH(1,1) variance path in units of sigma_bar**2; h_t uses shocks up to t-1 only.

    A numba loop because the recursion is path-dependent (numpy cannot vectorize it).
    """
    n = shock2.shape[0]
    h = np.empty(n)
    h[0] = omega / (1.0 - alpha - beta)
    for t in range(1, n):
        h[t] = omega + (alpha * shock2[t - 1] + beta) * h[t - 1]
    return h


@njit(cache=True)
def _ar_filter(eps: np.ndarray, strength: float) -> np.ndarray:
    """r_t = strength * r_{t-1} + eps_t along axis 0 of (n, k), r_0 = eps_0.

    numba rather than scipy.signal.lfilter: importing scipy.signal costs ~2 s of CLI start-up.
    """
    out = np.empty_like(eps)
    out[0] = eps[0]
    for t in range(1, eps.shape[0]):
        out[t] = strength * out[t - 1] + eps[t]
    return out


def _plant_signal(eps: np.ndarray, signal: str, strength: float, lag: int) -> np.ndarray:
    """Turn innovations (n, k) into returns (n, k) carrying the planted signal."""
    if signal == "ar" and strength != 0.0:
        return _ar_filter(eps, strength)
    returns = eps.copy()
    if signal == "lead_lag" and strength != 0.0:
        returns[lag:, 1:] += strength * eps[:-lag, :1]
    return returns


def _bars_from_returns(
    r, sigma, uniforms, volume_noise, half_spread, sigma_bar, price0, index
) -> pd.DataFrame:
    """OHLC, bid/ask, spread and volume for one asset from its log returns (n,)."""
    log_close = np.log(price0) + np.cumsum(r)
    log_open = np.concatenate([[np.log(price0)], log_close[:-1]])
    # Brownian bridge from 0 to r with variance sigma^2: P(max >= m) = exp(-2m(m-r)/sigma^2),
    # inverted at a uniform draw (and mirrored for the minimum).
    root_high = np.sqrt(r * r - 2.0 * sigma * sigma * np.log(uniforms[:, 0]))
    root_low = np.sqrt(r * r - 2.0 * sigma * sigma * np.log(uniforms[:, 1]))
    open_, close = np.exp(log_open), np.exp(log_close)
    high = np.maximum(np.exp(log_open + 0.5 * (r + root_high)), np.maximum(open_, close))
    low = np.minimum(np.exp(log_open + 0.5 * (r - root_low)), np.minimum(open_, close))
    volume = _BASE_VOLUME * np.exp(0.3 * volume_noise) * (0.5 + np.abs(r) / sigma_bar)
    columns = {"open": open_, "high": high, "low": low, "close": close, "volume": volume}
    for side, sign in (("bid", -1.0), ("ask", 1.0)):
        for name in ("open", "high", "low", "close"):
            columns[f"{side}_{name}"] = columns[name] * (1.0 + sign * half_spread)
    columns["spread"] = columns["ask_close"] - columns["bid_close"]
    return pd.DataFrame(columns, index=index)


def _calendar_index(n_bars: int, step: pd.Timedelta, start, calendar: str) -> pd.DatetimeIndex:
    """The first `n_bars` bar open times from `start` (UTC) that fall in `calendar`'s sessions."""
    try:
        origin = pd.Timestamp(start)
    except ValueError as exc:
        raise SourceError(f"synthetic: start '{start}' is not a date ({exc})") from exc
    origin = origin.tz_localize("UTC") if origin.tzinfo is None else origin.tz_convert("UTC")
    # Candidates per kept bar: fx trades 5 of 7 days, equity intraday 6.5 h on 5 of 7 days.
    density = {"crypto": 1.0, "fx": 1.45, "equity": 1.45 if step >= pd.Timedelta(days=1) else 6.0}
    periods = int(n_bars * density[calendar]) + 64
    while True:
        stamps = pd.date_range(origin, periods=periods, freq=step, name="timestamp")
        kept = stamps[_in_session(stamps, step, calendar)]
        if len(kept) >= n_bars:
            return kept[:n_bars]
        periods *= 2


def _in_session(stamps: pd.DatetimeIndex, step: pd.Timedelta, calendar: str) -> np.ndarray:
    """Boolean mask of bar open times inside the calendar's trading sessions."""
    if calendar == "crypto" or step >= pd.Timedelta(days=7):
        return np.ones(len(stamps), dtype=bool)
    weekday = np.asarray(stamps.day_of_week)
    if step >= pd.Timedelta(days=1):
        return weekday < 5
    minute = np.asarray(stamps.hour) * 60 + np.asarray(stamps.minute)
    if calendar == "fx":  # open Sunday 22:00 to Friday 22:00 UTC
        closed = (weekday == 5) | ((weekday == 4) & (minute >= 22 * 60))
        closed |= (weekday == 6) & (minute < 22 * 60)
        return ~closed
    return (weekday < 5) & (minute >= 14 * 60 + 30) & (minute < 21 * 60)
