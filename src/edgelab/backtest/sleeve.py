"""The account of one asset ("sleeve"): one compiled pass over its bars.

This module owns `Sleeve`, `run_sleeve` and its numba kernels; the accounting rules are
those of `edgelab.backtest.engine` (see its module docstring).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np


@dataclass
class Sleeve:
    """One asset's account over its bars: plain arrays (the hot path's output)."""

    equity: np.ndarray
    returns: np.ndarray
    gross: np.ndarray
    cost: np.ndarray
    exposure: np.ndarray
    trade_bars: np.ndarray
    pre_equity: np.ndarray
    exit_leg: np.ndarray
    entry_leg: np.ndarray
    rate: np.ndarray


@numba.njit(cache=True, nogil=True)
def _scan(close, target):  # pragma: no cover - numba
    """First row with a close not finite and > 0, first row with a target outside
    [-1, 1] (NaN fails both tests; -1 when none), and the number of trades."""
    m, last = 0, 0.0
    for t in range(close.shape[0]):
        if not (0.0 < close[t] < np.inf):
            return t, -1, 0
        if not (abs(target[t]) <= 1.0):
            return -1, t, 0
        if target[t] != last:
            m += 1
            last = target[t]
    return -1, -1, m


@numba.njit(cache=True, nogil=True)
def _sleeve_kernel(close, target, buy_rate, sell_rate, m):  # pragma: no cover - numba
    """One pass over the bars of one asset (see `run_sleeve`). Hand-written because the
    account is a recurrence (drifted exposure -> trade cost -> next equity); numpy can
    express it (segment cumprods) but needs ~20 passes over the data, this needs one."""
    n = close.shape[0]
    trade_bars = np.empty(m, dtype=np.int64)
    pre_equity, exit_leg, entry_leg, rate = np.empty(m), np.empty(m), np.empty(m), np.empty(m)
    equity, gross, cost, exposure = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    returns = np.empty(n)
    per_bar = buy_rate.shape[0] > 1  # rates per bar (bid/ask) or one rate for all bars
    base, anchor, held, x_prev, e_prev, j = 1.0, close[0], 0.0, 0.0, 1.0, 0
    for t in range(n):
        c = close[t]
        growth = 1.0 + held * (c / anchor - 1.0)  # equity since the last trade (post-trade = 1)
        gross[t] = x_prev * (c / close[t - 1] - 1.0) if t > 0 else 0.0
        e = base * growth
        x = held * (c / anchor) / growth if held != 0.0 and e > 0.0 else 0.0
        cost[t] = 0.0
        f = target[t]
        if f != held:  # the same test as `_scan`'s count: exactly m trades
            d = 1.0 if f > x else (-1.0 if f < x else 0.0)
            i = t if per_bar else 0
            r = buy_rate[i] if d > 0 else sell_rate[i]
            xl = 1.0 + d * r * x
            el = 1.0 / (1.0 + d * r * f)
            trade_bars[j], pre_equity[j], exit_leg[j], entry_leg[j], rate[j] = t, e, xl, el, r
            j += 1
            if e_prev > 0.0:
                cost[t] = (1.0 + gross[t]) * (1.0 - xl * el)
            e = e * xl * el
            base, anchor, held, x = e, c, f, f
        if e <= 0.0:  # ruined: equity stays 0 (base 0), targets still recorded as trades
            e, x, base = 0.0, 0.0, 0.0
        equity[t] = e
        exposure[t] = x
        returns[t] = e / e_prev - 1.0 if e_prev > 0.0 else 0.0
        x_prev, e_prev = x, e
    per_trade = (trade_bars, pre_equity, exit_leg, entry_leg, rate)
    return (equity, returns, gross, cost, exposure), per_trade


class InvalidInput(ValueError):
    """A close that is not finite and > 0, or a target outside [-1, 1], at row `close` /
    `target` (-1 for the other); `backtest` turns it into a BacktestError naming the bar."""

    def __init__(self, close: int, target: int):
        super().__init__(f"invalid close at row {close} / target at row {target}")
        self.close, self.target = close, target


def run_sleeve(
    close: np.ndarray, target: np.ndarray, buy_rate: np.ndarray, sell_rate: np.ndarray
) -> Sleeve:
    """The account of one asset. Arrays float64 of one length n.

    `target[t]`: exposure decided at close t, in [-1, 1] (else `InvalidInput`, as for a
    close that is not finite and > 0); `buy_rate` / `sell_rate`: cost rates at each
    close (`Costs.rates`; length n, or 1 for the same rate on every bar). Returns per-bar
    equity (after the trade at each close, starting from 1), net return, gross return
    (exposure held over the bar x the bar's price return), cost (fraction of the previous
    bar's equity), exposure after each close, and for each trade bar: the equity just
    before it, the exit- and entry-leg factors and the rate. With `held` the target of the last trade, `anchor` its close and `base` the equity
    after it: equity_t = base * (1 + held * (close_t / anchor - 1)).
    """
    close, target, buy_rate, sell_rate = (
        np.ascontiguousarray(a, dtype=np.float64) for a in (close, target, buy_rate, sell_rate)
    )
    bad_close, bad_target, m = _scan(close, target)
    if bad_close >= 0 or bad_target >= 0:
        raise InvalidInput(bad_close, bad_target)
    per_bar, per_trade = _sleeve_kernel(close, target, buy_rate, sell_rate, m)
    return Sleeve(*per_bar, *per_trade)
