"""Path-dependent trade simulator: take-profit / stop-loss brackets and fixed-horizon exits.

This module owns `Bracket` (exit levels as ATR multiples, fractions of the entry price or
price distances, plus a maximum horizon), `simulate_trades` (the trade log, one trade at a
time or one per signal bar) and `backtest_trades` (the same trades as a `BacktestResult`
with per-bar equity).

Exits are found by `edgelab.labels.barriers.walk_barrier`, the very kernel the ATR-barrier
labels use, so a label and the trade it describes cannot disagree: bars after the entry
are walked in order on their high and low, a bar that opens beyond a level exits at its
open, and **when both levels are touched in one bar the stop counts first**.

Accounting is the engine's (see `edgelab.backtest.engine`): a trade of size s (fraction
of equity) in direction d enters at the close of its signal bar paying the entry side's
cost rate c_in on s, is marked at each close, and exits at the level (or the horizon
bar's close) paying the exit side's rate c_out on its drifted notional; with
rel = exit / entry close and g = 1 + d s (rel - 1), equity is multiplied by
(g - c_out s rel) / (1 + c_in s). An intrabar exit pays the exit bar's close spread
(the quotes at the touch are unknown). A trade still open when the data ends is marked
at the last close without exit costs (reason 'open').
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd
import talib

from edgelab.backtest.costs import BPS, Costs
from edgelab.backtest.engine import (
    DEFAULT_COSTS,
    TRADE_REASONS,
    BacktestResult,
    _calendar,
    _interval,
    _match,
    trade_frame,
)
from edgelab.backtest.kpis import drawdown, kpis_from_equity
from edgelab.data.intervals import bars_per_year
from edgelab.errors import BacktestError
from edgelab.labels.barriers import REASON_END, REASON_NAMES, walk_barrier, walk_barriers_batch

BRACKET_UNITS = ("atr", "pct", "price")
MODES = ("sequential", "per_bar")


@dataclass(frozen=True)
class Bracket:
    """Exit rules of a trade opened at the close of its signal bar.

    `take_profit` / `stop_loss`: distances from the entry close in `unit`: "atr"
    (multiples of TA-Lib `ATR(high, low, close, atr_window)` at the entry bar, as the
    barrier labels), "pct" (fractions of the entry close, 0.02 = 2 %) or "price"
    (absolute). None disables that level. `max_horizon`: exit at the close of bar
    entry + max_horizon when no level was touched (a fixed-horizon trade when both
    levels are None).
    """

    take_profit: float | None = 1.5
    stop_loss: float | None = 1.0
    max_horizon: int = 24
    unit: str = "atr"
    atr_window: int = 14

    def __post_init__(self) -> None:
        if self.unit not in BRACKET_UNITS:
            raise BacktestError(
                f"Bracket.unit '{self.unit}' is unknown; use one of {', '.join(BRACKET_UNITS)}"
            )
        for name in ("take_profit", "stop_loss"):
            value = getattr(self, name)
            if value is not None and not (np.isfinite(value) and value > 0):
                raise BacktestError(f"Bracket.{name} must be > 0 or None (disabled), got {value}")
        for name in ("max_horizon", "atr_window"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise BacktestError(f"Bracket.{name} must be an integer >= 1, got {value!r}")

    def distances(self, bars: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Take-profit and stop-loss distance (price units, >= 0) for an entry at each bar;
        inf where disabled, NaN in the ATR warm-up. Uses bars up to and including t."""
        close = bars["close"].to_numpy(dtype=np.float64)
        if self.unit == "atr":
            high, low = (bars[k].to_numpy(dtype=np.float64) for k in ("high", "low"))
            scale = talib.ATR(high, low, close, timeperiod=self.atr_window)
        elif self.unit == "pct":
            scale = close
        else:
            scale = np.ones_like(close)
        out = []
        for mult in (self.take_profit, self.stop_loss):
            out.append(np.full_like(close, np.inf) if mult is None else mult * scale)
        return out[0], out[1]


@numba.njit(cache=True, nogil=True)
def _sequential_walk(
    open_, high, low, close, cand, direction, tp, sl, max_horizon
):  # pragma: no cover
    """One trade at a time: a signal is taken only when no trade is open (an exit at bar e
    frees the close of e for the next entry). Returns the taken candidates' positions in
    `cand` and their exits (index, price, reason)."""
    m = cand.shape[0]
    taken = np.empty(m, dtype=np.int64)
    exit_idx = np.empty(m, dtype=np.int64)
    exit_price = np.empty(m)
    reason = np.empty(m, dtype=np.int64)
    k, free_from = 0, -1
    for i in range(m):
        t = cand[i]
        if t < free_from:
            continue
        e, p, r = walk_barrier(
            open_, high, low, close, t, close[t], tp[i], sl[i], direction[i], max_horizon
        )
        taken[k], exit_idx[k], exit_price[k], reason[k] = i, e, p, r
        k += 1
        free_from = e
    return taken[:k], exit_idx[:k], exit_price[:k], reason[:k]


def _signal_span(bars: pd.DataFrame, signal: pd.Series) -> tuple[pd.DataFrame, np.ndarray]:
    """The bars inside the signal's span and the signal (+1 / -1 / 0) at each of them."""
    if not isinstance(signal, pd.Series) or not isinstance(signal.index, pd.DatetimeIndex):
        raise BacktestError("the entry signal must be a Series indexed by bar timestamps")
    if len(signal) == 0 or not signal.index.is_monotonic_increasing:
        raise BacktestError("the entry signal must be non-empty and sorted by time")
    sliced = bars.loc[signal.index[0] : signal.index[-1]]
    loc, found = _match(signal.index, sliced.index)
    if not found.all() or len(sliced) != len(signal):
        where = sliced.index[int(np.argmax(~found))] if not found.all() else "a non-bar time"
        raise BacktestError(
            f"entry signal has no value at {where}: give one value (+1, -1 or 0) per bar "
            "of the span, indexed by the bars' timestamps"
        )
    values = signal.to_numpy(dtype=np.float64)[loc]
    bad = ~np.isin(values, (-1.0, 0.0, 1.0))
    if bad.any():
        row = int(np.argmax(bad))
        raise BacktestError(
            f"entry signal at {sliced.index[row]} is {values[row]}; use +1 (long), -1 (short) "
            "or 0 (no entry)"
        )
    return sliced, values


def _walk(bars, signal, bracket, mode):
    """Entries and exits of the simulated trades, as positions in the span's bars."""
    if mode not in MODES:
        raise BacktestError(f"unknown trade mode '{mode}'; use one of {', '.join(MODES)}")
    sliced, values = _signal_span(bars, signal)
    tp_all, sl_all = bracket.distances(bars)
    first = bars.index.get_loc(sliced.index[0])
    tp_dist, sl_dist = tp_all[first : first + len(sliced)], sl_all[first : first + len(sliced)]
    cand = np.flatnonzero(values)
    bad = np.isnan(tp_dist[cand]) | np.isnan(sl_dist[cand])
    if bad.any():
        t = sliced.index[cand[int(np.argmax(bad))]]
        raise BacktestError(
            f"entry at {t} falls in the ATR({bracket.atr_window}) warm-up; start the signal "
            f"at least {bracket.atr_window} bars after the first bar"
        )
    ohlc = [np.ascontiguousarray(sliced[k], dtype=np.float64) for k in ("open", "high", "low")]
    close = np.ascontiguousarray(sliced["close"], dtype=np.float64)
    direction = values[cand].astype(np.int64)
    entry = close[cand]
    # the same float expressions as the barrier labels: entry + d * distance
    tp, sl = entry + direction * tp_dist[cand], entry - direction * sl_dist[cand]
    if mode == "per_bar":
        ex, px, why = walk_barriers_batch(
            *ohlc, close, cand, entry, tp, sl, direction, bracket.max_horizon
        )
        return sliced, cand, direction, ex, px, why
    taken, ex, px, why = _sequential_walk(
        *ohlc, close, cand, direction, tp, sl, bracket.max_horizon
    )
    return sliced, cand[taken], direction[taken], ex, px, why


def _trade_pnl(sliced, costs, starts, direction, exits, exit_price, reason, size):
    """Per-trade return factors and cost amounts (fractions of equity before the entry)."""
    buy, sell = costs.rates(sliced)
    per_bar = buy.size > 1
    s_in, s_out = (starts, exits) if per_bar else (0, 0)
    long = direction > 0
    c_in = np.where(long, buy[s_in], sell[s_in])
    c_out = np.where(long, sell[s_out], buy[s_out])
    c_out = np.where(reason == REASON_END, 0.0, c_out)  # still open: marked, not sold
    close = sliced["close"].to_numpy(dtype=np.float64)
    rel = exit_price / close[starts]
    growth = 1.0 + direction * size * (rel - 1.0)
    factor = np.maximum(growth - c_out * size * rel, 0.0) / (1.0 + c_in * size)
    cost_in = c_in * size / (1.0 + c_in * size)
    cost_out = c_out * size * rel / (1.0 + c_in * size)
    fee = costs.fee_bps * BPS
    fee_in = np.where(c_in > 0, cost_in * fee / np.where(c_in > 0, c_in, 1.0), 0.0)
    fee_out = np.where(c_out > 0, cost_out * fee / np.where(c_out > 0, c_out, 1.0), 0.0)
    return rel, growth, factor, cost_in, cost_out, fee_in + fee_out


def _fill_prices(sliced, costs, starts, direction, exits, exit_price):
    """Entry fill at the close and exit fill at the exit price, each moved against the
    trade by the side's half spread and the slippage (the fee is reported apart)."""
    half_buy, half_sell = costs.half_spreads(sliced)
    slip = costs.slippage_bps * BPS

    def at(half, rows):
        return half[0] if half.size == 1 else half[rows]

    long = direction > 0
    close = sliced["close"].to_numpy(dtype=np.float64)
    into = np.where(long, at(half_buy, starts) + slip, -(at(half_sell, starts) + slip))
    out = np.where(long, -(at(half_sell, exits) + slip), at(half_buy, exits) + slip)
    return close[starts] * (1.0 + into), exit_price * (1.0 + out)


#: walk reason code (REASON_TP = 1 ...) -> code in TRADE_REASONS
_REASON_CODES = np.zeros(max(REASON_NAMES) + 1, dtype=np.int8)
for _code, _name in REASON_NAMES.items():
    _REASON_CODES[_code] = TRADE_REASONS.index(_name if _code != REASON_END else "open")


def _log(asset, sliced, costs, walk, size) -> tuple[pd.DataFrame, tuple]:
    _, starts, direction, exits, exit_price, reason = walk
    pnl = _trade_pnl(sliced, costs, starts, direction, exits, exit_price, reason, size)
    _, growth, factor, cost_in, cost_out, fees = pnl
    is_open = reason == REASON_END
    entry_fill, exit_fill = _fill_prices(sliced, costs, starts, direction, exits, exit_price)
    columns = {
        "direction": direction,
        "size": np.full(starts.size, float(size)),
        "entry_time": sliced.index[starts],
        "entry_price": entry_fill,
        "exit_time": sliced.index[exits],
        "exit_price": np.where(is_open, exit_price, exit_fill),
        "bars_held": exits - starts,
        "gross_return": growth - 1.0,
        "net_return": factor - 1.0,
        "costs": cost_in + cost_out,
        "fees": fees,
    }
    return trade_frame(asset, _REASON_CODES[reason], columns), pnl


def _check_size(size: float) -> float:
    if not (np.isfinite(size) and 0 < size <= 1):
        raise BacktestError(f"trade size must be in (0, 1] (fraction of equity), got {size}")
    return float(size)


def simulate_trades(
    bars: pd.DataFrame,
    signal: pd.Series,
    bracket: Bracket,
    costs: Costs = DEFAULT_COSTS,
    *,
    mode: str = "sequential",
    size: float = 1.0,
) -> pd.DataFrame:
    """Trade log of bracket / fixed-horizon trades opened where `signal` is +1 or -1.

    `signal`: Series on the bars' timestamps, one value per bar of its span (+1 long,
    -1 short, 0 none), decided at the close of that bar; the trade enters at that close.
    Only bars inside the signal's span are walked (a trade still open at its end is
    marked there, reason 'open'). `mode`: "sequential" (one trade at a time, the next
    entry at or after the previous exit: realistic PnL) or "per_bar" (a trade for every
    signal bar, overlapping: what the barrier labels describe). Returns `TRADE_COLUMNS`,
    returns as fractions of the equity before each entry (`size` of it traded).
    """
    size = _check_size(size)
    walk = _walk(bars, signal, bracket, mode)
    frame, _ = _log(str(bars.attrs.get("symbol") or "asset"), walk[0], costs, walk, size)
    return frame


@numba.njit(cache=True, nogil=True)
def _equity_kernel(close, starts, exits, held, base, after):  # pragma: no cover - numba
    """Per-bar equity and exposure of non-overlapping trades: marked at each close from
    the entry bar to the bar before the exit, the trade's final value from the exit on.
    A loop because the bars of a trade are a run: one pass instead of two binary searches
    per bar."""
    n = close.shape[0]
    equity, exposure = np.empty(n), np.zeros(n)
    level, k, m = 1.0, 0, starts.shape[0]
    for t in range(n):
        while k < m and exits[k] <= t and starts[k] <= t:
            level = after[k]  # trade k is over by the close of t
            k += 1
        if k < m and starts[k] <= t:
            rel = close[t] / close[starts[k]]
            mark = 1.0 + held[k] * (rel - 1.0)
            equity[t] = base[k] * mark
            exposure[t] = held[k] * rel / mark if mark > 0.0 else 0.0
        else:
            equity[t] = level
    return equity, exposure


def _equity(close, starts, direction, exits, pnl, size):
    """Per-bar equity, exposure, target and cost amount of non-overlapping trades."""
    n = close.size
    _, _, factor, cost_in, cost_out, _ = pnl
    after = np.cumprod(factor)  # equity after each trade
    start_eq = np.concatenate(([1.0], after[:-1]))
    base = start_eq * (1.0 - cost_in)  # equity right after the entry cost
    held_k = direction * size
    equity, exposure = _equity_kernel(close, starts, exits, held_k, base, after)
    ruined = equity <= 0
    if ruined.any():  # a wiped-out account stays at 0
        first = int(np.argmax(ruined))
        equity[first:], exposure[first:] = 0.0, 0.0
    held = np.zeros(n)
    if starts.size:  # the target on the bars a trade is held after: entry .. exit - 1
        change = np.zeros(n + 1)
        np.add.at(change, starts, held_k)
        np.add.at(change, exits, -held_k)
        held = np.cumsum(change[:n])
    amount = np.zeros(n)
    np.add.at(amount, starts, start_eq * cost_in)
    np.add.at(amount, exits, start_eq * cost_out)
    return equity, exposure, held, amount


def backtest_trades(
    bars: pd.DataFrame,
    signal: pd.Series,
    bracket: Bracket,
    costs: Costs = DEFAULT_COSTS,
    *,
    size: float = 1.0,
    calendar: str | None = None,
    interval: str | pd.Timedelta | None = None,
) -> BacktestResult:
    """Sequential bracket trades (see `simulate_trades`) as a `BacktestResult`: per-bar
    equity marked at each close inside a trade, the exit at the level itself, costs at
    the entry and exit bars, KPIs on the per-bar returns. `positions` holds the trade's
    exposure on the bars it is open after (entry bar .. exit bar - 1)."""
    size = _check_size(size)
    walk = _walk(bars, signal, bracket, "sequential")
    sliced, starts, direction, exits = walk[:4]
    asset = str(bars.attrs.get("symbol") or "asset")
    trades, pnl = _log(asset, sliced, costs, walk, size)
    close = sliced["close"].to_numpy(dtype=np.float64)
    equity, exposure, held, amount = _equity(close, starts, direction, exits, pnl, size)
    prev = np.concatenate(([1.0], equity[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        net = np.where(prev > 0, equity / prev - 1.0, 0.0)
        paid = np.where(prev > 0, amount / prev, 0.0)
    delta = _interval({asset: bars}, interval)
    calendar = _calendar({asset: bars}, calendar)
    ppy = float(bars_per_year(delta, calendar))
    kpis = kpis_from_equity(net, equity, delta, ppy, trades, held)
    kpis["n_orders"] = int(2 * len(trades) - (trades["reason"] == "open").sum())
    index = sliced.index
    return BacktestResult(
        returns=pd.Series(net, index, name="returns"),
        gross_returns=pd.Series(net + paid, index, name="gross_returns"),
        costs=pd.Series(paid, index, name="costs"),
        equity=pd.Series(equity, index, name="equity"),
        drawdown=pd.Series(drawdown(equity), index, name="drawdown"),
        positions=pd.DataFrame({asset: held}, index=index),
        exposure=pd.DataFrame({asset: exposure}, index=index),
        asset_equity=pd.DataFrame({asset: equity}, index=index),
        trades=trades,
        kpis=kpis,
        interval=delta,
        calendar=calendar,
        cost_model=costs,
        weights={asset: 1.0},
        cost_source={asset: costs.source(sliced)},
    )
