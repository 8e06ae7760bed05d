"""The vectorized per-bar backtest: Positions + Bars + Costs -> BacktestResult.

This module owns `backtest`, `buy_and_hold` and `BacktestResult`; the per-asset account
is `edgelab.backtest.sleeve`, the trade log `edgelab.backtest.tradelog` (their public
names stay importable from here).

Accounting (one account per asset, a "sleeve"; one compiled pass over the bars per asset,
then vectorized numpy for the trade log and KPIs; no Python loop over bars):

- `positions[t]` is the target exposure (fraction of the sleeve's equity, in [-1, 1])
  decided at the close of bar t. **The one-bar lag is applied here**: it earns the
  return from close t to close t+1; the caller never shifts anything.
- A trade happens at the close of bar t when the target changes (`positions[t] !=
  positions[t-1]`, the start counts as flat). The account then holds units: between
  trades the exposure drifts with the price (a short that loses grows), as in a real
  account; nothing is rebalanced for free.
- At a trade the target is reached on the equity left after costs: trading from the
  drifted exposure x to the target f costs `rate * traded notional`, so the equity is
  multiplied by `(1 + d*rate*x) / (1 + d*rate*f)` with `d = sign(f - x)` (buy rate when
  d > 0, sell rate when d < 0; see `Costs.rates`; notional is valued at the close).
  This is what an exchange account does and what vectorbt's `from_signals(size=inf)`
  does, to float precision.
- A flip (long -> short) is one trade that pays both legs (about 2 units of turnover);
  its cost splits exactly into the exit leg `1 + d*rate*x` and the entry leg
  `1 / (1 + d*rate*f)`, which is how the trade log attributes it.
- Equity that reaches 0 (a short wiped out) stays 0: the sleeve is ruined (on that bar
  the net return is -100 % while the gross return can be lower).
- Many assets: each asset is a sleeve; the portfolio return of a bar is the weighted sum
  of the sleeve returns (weights equal by default), i.e. sleeves are re-weighted every
  bar at no cost. A sleeve earns 0 on timestamps where its asset has no bar.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from edgelab.backtest.costs import Costs
from edgelab.backtest.kpis import kpis_from_equity
from edgelab.backtest.sleeve import InvalidInput, Sleeve, run_sleeve
from edgelab.backtest.tradelog import (
    OPEN,
    TRADE_COLUMNS,
    TRADE_REASONS,
    trade_frame,
    trade_log,
)
from edgelab.data.intervals import bars_per_year, infer_interval, parse_interval
from edgelab.errors import BacktestError

DEFAULT_COSTS = Costs()

# moved to sleeve / tradelog; re-exported so `from edgelab.backtest.engine import X` works
__all__ = [
    "DEFAULT_COSTS",
    "OPEN",
    "TRADE_COLUMNS",
    "TRADE_REASONS",
    "BacktestResult",
    "InvalidInput",
    "Sleeve",
    "backtest",
    "buy_and_hold",
    "run_sleeve",
    "trade_frame",
    "trade_log",
]


@dataclass
class BacktestResult:
    """Everything a backtest produced, indexed by bar timestamp (bar open time, UTC).

    Per-bar series are portfolio values: `returns` (net of costs, fraction of the
    previous bar's equity), `gross_returns` (before costs), `costs` (paid at the bar,
    same unit), `equity` (1.0 before the first bar), `drawdown` (<= 0). Per asset:
    `positions` (the targets as given), `exposure` (held after the trade at each
    close; drifts with the price between trades), `asset_equity`. `trades`: one row
    per trade (`TRADE_COLUMNS`; returns are fractions of the sleeve's equity at entry).
    `kpis`: `compute_kpis` on the portfolio returns, plus `n_orders` (bars at which an
    asset's target changed, i.e. orders sent). `cost_source`: per asset, where the
    spread came from (`Costs.source`).
    """

    returns: pd.Series
    gross_returns: pd.Series
    costs: pd.Series
    equity: pd.Series
    drawdown: pd.Series
    positions: pd.DataFrame
    exposure: pd.DataFrame
    asset_equity: pd.DataFrame
    trades: pd.DataFrame
    kpis: dict[str, float]
    interval: pd.Timedelta
    calendar: str
    cost_model: Costs
    weights: dict[str, float] = field(default_factory=dict)
    cost_source: dict[str, str] = field(default_factory=dict)

    @property
    def final_equity(self) -> float:
        return float(self.equity.iloc[-1])


def _asset_name(bars: pd.DataFrame) -> str:
    return str(bars.attrs.get("symbol") or "asset")


def _as_frames(
    bars: pd.DataFrame | dict[str, pd.DataFrame], positions: pd.Series | pd.DataFrame
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Normalize to `{asset: bars}` and a positions frame with one column per asset."""
    if isinstance(bars, pd.DataFrame):
        name = _asset_name(bars)
        if isinstance(positions, pd.DataFrame):
            if positions.shape[1] != 1:
                raise BacktestError(
                    f"one asset of bars but {positions.shape[1]} position columns; pass a "
                    "Series, or a dict of bars keyed by the position columns"
                )
            positions = positions.iloc[:, 0]
        return {name: bars}, positions.to_frame(name)
    if not isinstance(bars, dict) or not bars:
        raise BacktestError(f"bars must be a Bars DataFrame or a dict of them, got {type(bars)}")
    if not isinstance(positions, pd.DataFrame):
        raise BacktestError(
            f"{len(bars)} assets of bars need a positions DataFrame with one column per asset "
            f"({', '.join(bars)}), got {type(positions).__name__}"
        )
    missing = [a for a in bars if a not in positions.columns]
    extra = [c for c in positions.columns if c not in bars]
    if missing or extra:
        raise BacktestError(
            f"position columns {list(positions.columns)} do not match the assets {list(bars)}"
            + (f": missing {missing}" if missing else "")
            + (f": no bars for {extra}" if extra else "")
        )
    return dict(bars), positions[list(bars)]


def _invalid(asset: str, index: pd.DatetimeIndex, close, target, err: InvalidInput):
    """The BacktestError for a bad close or target found by `_scan`, naming the bar."""
    if err.close >= 0:
        row = err.close
        return BacktestError(
            f"close of '{asset}' is {close[row]} at {index[row]}; prices must be finite and "
            "> 0 (validate the bars with edgelab.data)"
        )
    row = err.target
    return BacktestError(
        f"positions of '{asset}' at {index[row]} is {target[row]}: every bar of the span "
        "needs a finite target exposure in [-1, 1] (0 = flat); fill the gaps explicitly"
    )


def _match(index: pd.DatetimeIndex, sub: pd.DatetimeIndex) -> tuple[Any, np.ndarray]:
    """Row of each `sub` timestamp in the sorted `index` (a slice when they are equal) and
    whether it is there at all."""
    if len(index) == len(sub) and index.equals(sub):
        return slice(None), np.ones(len(sub), dtype=bool)
    i8, s8 = index.as_unit("ns").asi8, sub.as_unit("ns").asi8
    loc = np.minimum(np.searchsorted(i8, s8), len(i8) - 1)
    return loc, i8[loc] == s8


def _check_index(what: str, index: Any, tz: Any) -> None:
    if not isinstance(index, pd.DatetimeIndex) or len(index) == 0:
        raise BacktestError(f"{what} need a non-empty DatetimeIndex of bar open times")
    if not index.is_monotonic_increasing or not index.is_unique:
        raise BacktestError(f"{what}' index must be strictly increasing and unique")
    if str(index.tz) != str(tz):
        raise BacktestError(
            f"time zones differ: {what} in {index.tz}, positions in {tz}; "
            "index positions by the bars' own (UTC) timestamps"
        )


def _align(asset: str, bars: pd.DataFrame, positions: pd.DataFrame):
    """The asset's bars inside the positions' span, the target at each, and their rows."""
    _check_index(f"bars of '{asset}'", bars.index, positions.index.tz)
    span = positions.index
    sliced = bars.loc[span[0] : span[-1]]
    if len(sliced) == 0:
        raise BacktestError(f"no bars of '{asset}' between {span[0]} and {span[-1]}")
    close = sliced["close"].to_numpy(dtype=np.float64)
    loc, found = _match(span, sliced.index)
    if not found.all():
        row = int(np.argmax(~found))
        raise BacktestError(
            f"no position for '{asset}' at {sliced.index[row]}: every bar of the span needs a "
            "target (0 = flat); reindex the positions on the bars and fill gaps explicitly"
        )
    target = positions[asset].to_numpy(dtype=np.float64)[loc]
    return sliced, close, target, loc


def _weights(assets: list[str], weights: Any) -> dict[str, float]:
    if weights is None:
        return {a: 1.0 / len(assets) for a in assets}
    w = {str(k): float(v) for k, v in dict(weights).items()}
    if sorted(w) != sorted(assets):
        raise BacktestError(f"weights name {sorted(w)} but the assets are {sorted(assets)}")
    values = np.array(list(w.values()))
    if not np.isfinite(values).all() or (values < 0).any() or abs(values.sum() - 1.0) > 1e-9:
        raise BacktestError(f"weights must be finite, >= 0 and sum to 1, got {w}; normalize them")
    return w


def _interval(bars: dict[str, pd.DataFrame], interval: Any) -> pd.Timedelta:
    if interval is not None:
        return parse_interval(interval) if isinstance(interval, str) else pd.Timedelta(interval)
    first = next(iter(bars.values()))
    if first.attrs.get("interval"):
        return parse_interval(first.attrs["interval"])
    found = infer_interval(first.index)
    if found is None:
        raise BacktestError("cannot tell the bar interval: set bars.attrs['interval'] or interval=")
    return found


def _calendar(bars: dict[str, pd.DataFrame], calendar: str | None) -> str:
    """The calendar asked for, else the bars' own (`attrs['calendar']`), else crypto (24/7)."""
    if calendar is not None:
        return calendar
    return str(next(iter(bars.values())).attrs.get("calendar") or "crypto")


def _combine(index: pd.DatetimeIndex, runs: list, weights: list[float]):
    """Portfolio per-bar arrays (net, gross, cost, equity) and per-asset (bars x assets)
    arrays of equity, exposure and target from the sleeves `(loc, target, sleeve)`."""
    n = len(index)
    if len(runs) == 1 and isinstance(runs[0][0], slice):  # one asset on every bar: as is
        _, target, s = runs[0]
        per_asset = {"equity": s.equity, "exposure": s.exposure, "target": target}
        per_asset = {k: v.reshape(n, 1) for k, v in per_asset.items()}
        return s.returns, s.gross, s.cost, s.equity, per_asset
    net, gross, paid = np.zeros(n), np.zeros(n), np.zeros(n)
    per_asset = {k: np.full((n, len(runs)), np.nan) for k in ("equity", "exposure", "target")}
    covered = np.zeros(n, dtype=bool)
    for col, ((loc, target, s), w) in enumerate(zip(runs, weights, strict=True)):
        covered[loc] = True
        net[loc] += w * s.returns
        gross[loc] += w * s.gross
        paid[loc] += w * s.cost
        for key, values in (("equity", s.equity), ("exposure", s.exposure), ("target", target)):
            per_asset[key][loc, col] = values
    if not covered.all():
        row = int(np.argmax(~covered))
        raise BacktestError(
            f"positions at {index[row]}, a timestamp with no bar of any asset; positions "
            "must be indexed by the bars' open times"
        )
    # many assets: the weighted sum of the sleeve returns, compounded
    return net, gross, paid, np.cumprod(1.0 + net), per_asset


def backtest(
    bars: pd.DataFrame | dict[str, pd.DataFrame],
    positions: pd.Series | pd.DataFrame,
    costs: Costs = DEFAULT_COSTS,
    *,
    weights: dict[str, float] | pd.Series | None = None,
    calendar: str | None = None,
    interval: str | pd.Timedelta | None = None,
) -> BacktestResult:
    """Backtest target positions on bars with costs; see the module docstring for the rules.

    `bars`: one Bars frame (then `positions` is a Series) or `{asset: Bars}` (then a
    DataFrame with one column per asset). `positions` index: bar timestamps; the
    backtest spans its first to its last timestamp and needs a finite target in [-1, 1]
    on every bar of that span (NaN is an error, never read as flat). The target at t is
    decided at the close of t and earns close t -> close t+1 (the engine applies the lag;
    the last target earns nothing). `weights`: `{asset: weight}` summing to 1, equal by
    default. `calendar` ("crypto", "equity", "fx"; default `bars.attrs['calendar']`, else
    crypto) and `interval` (default `bars.attrs['interval']`, else inferred) set the
    annualization of the KPIs. Causal: the account at t uses prices <= t.
    """
    frames, pos = _as_frames(bars, positions)
    _check_index("positions", pos.index, getattr(pos.index, "tz", None))
    w = _weights(list(frames), weights)
    delta = _interval(frames, interval)
    calendar = _calendar(frames, calendar)
    index, assets = pos.index, list(frames)
    runs, logs, sources = [], [], {}
    for asset in assets:
        sliced, close, target, loc = _align(asset, frames[asset], pos)
        try:
            sleeve = run_sleeve(close, target, *costs.rates(sliced))
        except InvalidInput as err:
            raise _invalid(asset, sliced.index, close, target, err) from None
        runs.append((loc, target, sleeve))
        logs.append(trade_log(asset, sliced, target, sleeve, costs))
        sources[asset] = costs.source(sliced)
    net, gross, paid, equity, per_asset = _combine(index, runs, [w[a] for a in assets])
    trades = pd.concat(logs, ignore_index=True)
    trades["asset"] = trades["asset"].astype(pd.CategoricalDtype(assets))
    weighted = per_asset["target"]
    if len(assets) > 1:  # a sleeve without a bar at t holds nothing there
        weighted = np.nan_to_num(weighted) * np.array([w[a] for a in assets])
    ppy = float(bars_per_year(delta, calendar))
    dd = np.empty(len(index))
    kpis = kpis_from_equity(net, equity, delta, ppy, trades, weighted, drawdown_out=dd)
    kpis["n_orders"] = sum(run[2].trade_bars.size for run in runs)
    frame = {
        k: pd.DataFrame(v, index=index, columns=assets, copy=False) for k, v in per_asset.items()
    }
    return BacktestResult(
        returns=pd.Series(net, index, name="returns", copy=False),
        gross_returns=pd.Series(gross, index, name="gross_returns", copy=False),
        costs=pd.Series(paid, index, name="costs", copy=False),
        equity=pd.Series(equity, index, name="equity", copy=False),
        drawdown=pd.Series(dd, index, name="drawdown", copy=False),
        positions=frame["target"],
        exposure=frame["exposure"],
        asset_equity=frame["equity"],
        trades=trades,
        kpis=kpis,
        interval=delta,
        calendar=calendar,
        cost_model=costs,
        weights=w,
        cost_source=sources,
    )


def buy_and_hold(
    bars: pd.DataFrame | dict[str, pd.DataFrame],
    costs: Costs = DEFAULT_COSTS,
    *,
    start: Any = None,
    end: Any = None,
    weights: dict[str, float] | None = None,
    calendar: str | None = None,
) -> BacktestResult:
    """The benchmark: fully long every asset from the close of the first bar in [start, end]
    (entry costs paid once), held to the last bar."""
    frames = {_asset_name(bars): bars} if isinstance(bars, pd.DataFrame) else dict(bars)
    spans = [b.loc[start:end].index for b in frames.values()]
    index = spans[0]
    for other in spans[1:]:
        index = index.union(other)
    positions = pd.DataFrame(1.0, index=index, columns=list(frames))
    if isinstance(bars, pd.DataFrame):
        return backtest(bars, positions.iloc[:, 0], costs, calendar=calendar)
    return backtest(frames, positions, costs, weights=weights, calendar=calendar)
