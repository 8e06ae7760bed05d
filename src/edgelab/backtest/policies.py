"""Policies: Predictions -> Positions (target exposure in [-1, 1] per bar).

This module owns the policy registry (`POLICIES`, `get_policy`) and `run_policy`, which
backtests a policy's output with the right simulator.

Predictions are DataFrames indexed by bar timestamp (or by (timestamp, asset) with an
index level named `asset` for many assets) with columns `p_<class>` and/or
`expected_return`. Class columns are read by meaning: up = `p_up` or `p_long`, down =
`p_down` or `p_short`, flat = `p_flat`, `p_hold` or `p_sideways`. A position at bar t
is decided from the prediction made at the close of bar t; the engine applies the
one-bar lag, never the policy. NaN predictions are an error, never read as flat.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numba
import numpy as np
import pandas as pd

from edgelab.backtest.costs import Costs
from edgelab.backtest.engine import DEFAULT_COSTS, BacktestResult, backtest
from edgelab.backtest.trades import Bracket, backtest_trades
from edgelab.errors import BacktestError, ConfigError, did_you_mean, unknown_name

UP, DOWN, FLAT = ("p_up", "p_long"), ("p_down", "p_short"), ("p_flat", "p_hold", "p_sideways")


def _column(pred: pd.DataFrame, names: tuple[str, ...], *, required: bool = True) -> str | None:
    found = [c for c in names if c in pred.columns]
    if len(found) > 1:
        raise BacktestError(f"predictions carry both {found}; keep one column per class")
    if not found and required:
        raise BacktestError(
            f"predictions need a column {' or '.join(names)}; got {', '.join(map(str, pred.columns))}"
        )
    return found[0] if found else None


def _values(pred: pd.DataFrame, col: str, *, probability: bool) -> np.ndarray:
    values = pred[col].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if probability:
        bad |= (values < 0) | (values > 1)
    if bad.any():
        row = int(np.argmax(bad))
        raise BacktestError(
            f"predictions column '{col}' is {values[row]} at {pred.index[row]}; "
            + ("probabilities must lie in [0, 1]" if probability else "values must be finite")
            + " (drop the rows without a prediction before the policy)"
        )
    return values


def _per_asset(pred: pd.DataFrame, fn) -> pd.Series | pd.DataFrame:
    """Apply `fn(frame) -> ndarray` per asset: a Series for one asset, a wide DataFrame
    (timestamps x assets) when the index has an `asset` level."""
    if not isinstance(pred, pd.DataFrame) or len(pred) == 0:
        raise BacktestError("predictions must be a non-empty DataFrame")
    if isinstance(pred.index, pd.MultiIndex):
        if "asset" not in pred.index.names:
            raise BacktestError("multi-asset predictions need an index level named 'asset'")
        cols = {}
        for asset, group in pred.groupby(level="asset", sort=False):
            group = group.droplevel("asset").sort_index()
            cols[asset] = pd.Series(fn(group), group.index)
        return pd.DataFrame(cols)
    return pd.Series(fn(pred), pred.index, name="position")


@dataclass(frozen=True)
class Policy:
    """Base: `positions(predictions)` -> target exposure per bar (Series, or DataFrame with
    one column per asset). Subclasses implement `_positions(frame) -> ndarray`."""

    name: ClassVar[str] = ""

    def positions(self, predictions: pd.DataFrame) -> pd.Series | pd.DataFrame:
        return _per_asset(predictions, self._positions)

    def _positions(self, pred: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError


@dataclass(frozen=True)
class Threshold(Policy):
    """Long when p(up) >= `upper`; short when p(up) <= `lower` (default 1 - upper), or
    flat there with `long_only=True`; flat in between."""

    name: ClassVar[str] = "threshold"
    upper: float = 0.55
    lower: float | None = None
    long_only: bool = False

    @property
    def low(self) -> float:
        # rounded: 1 - 0.55 is 0.44999999999999996, and p = 0.45 must count as short
        return round(1.0 - self.upper, 12) if self.lower is None else self.lower

    def __post_init__(self) -> None:
        low = self.low
        if not 0.0 <= low <= self.upper <= 1.0:
            raise ConfigError(
                f"policy 'threshold' needs 0 <= lower <= upper <= 1, got lower={low}, "
                f"upper={self.upper}"
            )

    def _positions(self, pred: pd.DataFrame) -> np.ndarray:
        p_up = _values(pred, _column(pred, UP), probability=True)
        low = self.low
        short = 0.0 if self.long_only else -1.0
        return np.where(p_up >= self.upper, 1.0, np.where(p_up <= low, short, 0.0))


@dataclass(frozen=True)
class MostLikely(Policy):
    """All in on the most likely direction: +1 when up is the most probable class, -1 for
    down, 0 for flat or a tie for the top."""

    name: ClassVar[str] = "most_likely"

    def _positions(self, pred: pd.DataFrame) -> np.ndarray:
        up, down = _column(pred, UP), _column(pred, DOWN)
        cols = [c for c in pred.columns if str(c).startswith("p_")]
        probs = np.column_stack([_values(pred, c, probability=True) for c in cols])
        top = probs.max(axis=1)
        unique = (probs == top[:, None]).sum(axis=1) == 1
        best = np.asarray(cols, dtype=object)[probs.argmax(axis=1)]
        sign = np.where(best == up, 1.0, np.where(best == down, -1.0, 0.0))
        return np.where(unique, sign, 0.0)


@dataclass(frozen=True)
class ProbDiff(Policy):
    """Size = p(up) - p(down), in [-1, 1] (the GRU system's sizing)."""

    name: ClassVar[str] = "prob_diff"

    def _positions(self, pred: pd.DataFrame) -> np.ndarray:
        up = _values(pred, _column(pred, UP), probability=True)
        down = _values(pred, _column(pred, DOWN), probability=True)
        return np.clip(up - down, -1.0, 1.0)


@dataclass(frozen=True)
class Sign(Policy):
    """+1 / -1 by the sign of `expected_return` beyond a dead band `threshold` (>= 0)."""

    name: ClassVar[str] = "sign"
    threshold: float = 0.0

    def __post_init__(self) -> None:
        if not self.threshold >= 0:
            raise ConfigError(f"policy 'sign' needs threshold >= 0, got {self.threshold}")

    def _positions(self, pred: pd.DataFrame) -> np.ndarray:
        r = _values(pred, _column(pred, ("expected_return",)), probability=False)
        return np.where(r > self.threshold, 1.0, np.where(r < -self.threshold, -1.0, 0.0))


@dataclass(frozen=True)
class Scaled(Policy):
    """Exposure = clip(expected_return / `scale`, -1, 1): a predicted return of `scale`
    (default 1 %) or more is a full position."""

    name: ClassVar[str] = "scaled"
    scale: float = 0.01

    def __post_init__(self) -> None:
        if not self.scale > 0:
            raise ConfigError(f"policy 'scaled' needs scale > 0, got {self.scale}")

    def _positions(self, pred: pd.DataFrame) -> np.ndarray:
        r = _values(pred, _column(pred, ("expected_return",)), probability=False)
        return np.clip(r / self.scale, -1.0, 1.0)


@numba.njit(cache=True, nogil=True)
def _hold_kernel(signal, n_bars):  # pragma: no cover - numba
    """Enter on a non-zero signal when flat, keep that position for `n_bars` bars (signals
    meanwhile are ignored), then exit; path-dependent, hence a loop."""
    out = np.zeros(signal.shape[0])
    until, held = -1, 0.0
    for t in range(signal.shape[0]):
        if t >= until and signal[t] != 0.0:
            held, until = signal[t], t + n_bars
        if t < until:
            out[t] = held
    return out


def _policy_from(entry: str, params: dict[str, Any]) -> Policy:
    policy = get_policy(entry, **params)
    if isinstance(policy, Hold | BracketPolicy):
        raise ConfigError(f"an entry policy cannot itself be '{entry}'")
    return policy


@dataclass(frozen=True)
class Hold(Policy):
    """Hold each entry of the `entry` policy for `n_bars` bars, then exit (fixed holding,
    as the multi-asset ResNet system's 15 bars). Decided at close t, the position is held
    over bars t+1 .. t+n_bars and closed at the close of bar t+n_bars; a new entry is
    taken at that close at the earliest."""

    name: ClassVar[str] = "hold"
    n_bars: int = 15
    entry: str = "sign"
    entry_params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.n_bars, bool) or not isinstance(self.n_bars, int) or self.n_bars < 1:
            raise ConfigError(f"policy 'hold' needs n_bars >= 1, got {self.n_bars!r}")
        _policy_from(self.entry, self.entry_params)

    def _positions(self, pred: pd.DataFrame) -> np.ndarray:
        base = _policy_from(self.entry, self.entry_params)._positions(pred)
        return _hold_kernel(np.ascontiguousarray(base, dtype=np.float64), self.n_bars)


@dataclass(frozen=True)
class BracketPolicy(Policy):
    """Enter in the direction of the `entry` policy (its sign) with a take-profit /
    stop-loss bracket and a maximum horizon; exits happen inside bars, so this runs in the
    trade simulator (`run_policy` / `backtest_trades`), one trade at a time."""

    name: ClassVar[str] = "bracket"
    entry: str = "most_likely"
    entry_params: dict[str, Any] = field(default_factory=dict)
    take_profit: float | None = 1.5
    stop_loss: float | None = 1.0
    max_horizon: int = 24
    unit: str = "atr"
    atr_window: int = 14
    size: float = 1.0

    def __post_init__(self) -> None:
        _policy_from(self.entry, self.entry_params)
        try:
            self.bracket  # noqa: B018 - validates the bracket fields now, not at run time
        except BacktestError as exc:
            raise ConfigError(f"policy 'bracket': {exc}") from None

    @property
    def bracket(self) -> Bracket:
        return Bracket(
            self.take_profit, self.stop_loss, self.max_horizon, self.unit, self.atr_window
        )

    def signal(self, predictions: pd.DataFrame) -> pd.Series | pd.DataFrame:
        """Entry direction per bar: +1, -1 or 0 (the sign of the entry policy)."""
        return np.sign(_policy_from(self.entry, self.entry_params).positions(predictions))

    def positions(self, predictions: pd.DataFrame) -> pd.Series | pd.DataFrame:
        raise BacktestError(
            "policy 'bracket' exits inside bars and has no per-bar positions; "
            "run it with run_policy() or backtest_trades()"
        )


POLICIES: dict[str, type[Policy]] = {
    cls.name: cls for cls in (Threshold, MostLikely, ProbDiff, Sign, Scaled, Hold, BracketPolicy)
}


def get_policy(name: str, **params: Any) -> Policy:
    """The policy registered as `name` with `params`; `ConfigError` naming the unknown
    policy or parameter (with a did-you-mean) otherwise."""
    if name not in POLICIES:
        raise ConfigError(unknown_name("policy", name, POLICIES))
    cls = POLICIES[name]
    known = [f.name for f in dataclasses.fields(cls)]
    for key in params:
        if key not in known:
            raise ConfigError(
                f"policy '{name}' has no parameter '{key}'{did_you_mean(key, known)}; "
                f"parameters: {', '.join(known) or 'none'}"
            )
    return cls(**params)


def run_policy(
    bars: pd.DataFrame | dict[str, pd.DataFrame],
    predictions: pd.DataFrame,
    policy: Policy,
    costs: Costs = DEFAULT_COSTS,
    **kwargs: Any,
) -> BacktestResult:
    """Backtest `policy` on `predictions`: per-bar positions through `backtest`, brackets
    through the trade simulator (`backtest_trades`, one asset). `kwargs` go to them
    (weights, calendar, interval)."""
    if isinstance(policy, BracketPolicy):
        if not isinstance(bars, pd.DataFrame):
            raise BacktestError("policy 'bracket' runs on one asset at a time; pass one Bars frame")
        signal = policy.signal(predictions)
        return backtest_trades(bars, signal, policy.bracket, costs, size=policy.size, **kwargs)
    return backtest(bars, policy.positions(predictions), costs, **kwargs)
