"""The trade log of one sleeve, vectorized from its trade bars.

This module owns `TRADE_COLUMNS`, `TRADE_REASONS`, `trade_frame` and `trade_log`: each
run of positions of one sign is a trade, with its prices, returns, costs and fees.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from edgelab.backtest.costs import BPS, Costs
from edgelab.backtest.sleeve import Sleeve

TRADE_COLUMNS = [
    "asset",
    "direction",
    "size",
    "entry_time",
    "entry_price",
    "exit_time",
    "exit_price",
    "bars_held",
    "reason",
    "gross_return",
    "net_return",
    "costs",
    "fees",
]

#: Why a trade ended (the categories of the trade log's `reason`): `signal` (the
#: positions changed), the barrier walk's `take_profit` / `stop_loss` / `horizon`, and
#: `open` (still open when the data ends: marked at the last close, no exit costs).
TRADE_REASONS = ("signal", "take_profit", "stop_loss", "horizon", "open")
OPEN = TRADE_REASONS.index("open")


def trade_frame(asset: str, reason: np.ndarray, columns: dict[str, Any]) -> pd.DataFrame:
    """A trade log with `TRADE_COLUMNS`: `reason` holds codes into `TRADE_REASONS`;
    `asset` and `reason` are categorical (cheap for a million trades)."""
    n = len(reason)
    cols = dict(columns)
    cols["asset"] = pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[asset])
    cols["reason"] = pd.Categorical.from_codes(reason.astype(np.int8), categories=TRADE_REASONS)
    return pd.DataFrame({name: cols[name] for name in TRADE_COLUMNS}, copy=False)


def _fee_share(costs: Costs, rate: np.ndarray) -> np.ndarray:
    """Part of each cost rate that is exchange fee (the rest is slippage and spread)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(rate > 0, costs.fee_bps * BPS / rate, 0.0)


def _segment_products(values: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """prod(values[a:b]) for each pair (a, b), b >= a (1.0 for an empty range), vectorized."""
    if starts.size == 0:
        return np.ones(0)
    padded = np.append(values, 1.0)  # reduceat needs every index < len
    pairs = np.column_stack((starts, stops)).ravel()
    out = np.multiply.reduceat(padded, pairs)[::2]
    return np.where(stops > starts, out, 1.0)


def _trade_growth(sleeve: Sleeve, j_s, j_e, is_open) -> np.ndarray:
    """Price growth of each trade before costs, prod(1 + gross_t) over its bars, from the
    trade bars alone: between two trades the gross factors telescope to the growth of
    that segment, pre-trade equity / post-trade equity of the trade before."""
    pre, m = sleeve.pre_equity, sleeve.pre_equity.size
    post = pre * sleeve.exit_leg * sleeve.entry_leg
    with np.errstate(divide="ignore", invalid="ignore"):
        seg = np.ones(m + 1)  # seg[j]: growth from trade j - 1 to trade j; seg[m]: to the end
        seg[1:m] = np.where(post[:-1] > 0, pre[1:] / post[:-1], 1.0)
        if m:
            seg[m] = sleeve.equity[-1] / post[-1] if post[-1] > 0 else 1.0
    last = np.where(is_open, m, j_e)
    return _segment_products(seg, j_s + 1, last + 1)


def _trade_spans(
    target: np.ndarray, trade_bars: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bars where trades start and end (runs of one non-zero sign) and whether still open.
    Only trade bars can start or end a trade, so this looks at those alone."""
    sgn = np.sign(target[trade_bars])
    before = np.where(trade_bars > 0, target[np.maximum(trade_bars - 1, 0)], 0.0)
    sgn_before = np.sign(before)
    change = sgn != sgn_before
    starts = trade_bars[change & (sgn != 0)]
    ends_all = trade_bars[change & (sgn_before != 0)]
    k = np.searchsorted(ends_all, starts, side="right")
    is_open = k >= ends_all.size
    ends = np.full(starts.size, target.size - 1)
    ends[~is_open] = ends_all[k[~is_open]]
    return starts, ends, is_open


def _leg_costs(sleeve: Sleeve, costs: Costs, j_s, j_e, is_open) -> tuple[np.ndarray, np.ndarray]:
    """Cost and fee of each trade in equity units: its entry leg, the rebalances inside it
    and its exit leg (a flip's cost is split exactly between the two trades)."""
    pre, xl, el = sleeve.pre_equity, sleeve.exit_leg, sleeve.entry_leg
    full = pre * (1.0 - xl * el)
    entry = pre * xl * (1.0 - el)
    exit_ = pre * (1.0 - xl)
    last = np.where(is_open, pre.size, j_e)

    def per_trade(weight: np.ndarray | float) -> np.ndarray:
        csum = np.concatenate(([0.0], np.cumsum(full * weight)))
        inside = csum[last] - csum[np.minimum(j_s + 1, last)]
        closing = np.where(is_open, 0.0, (exit_ * weight)[j_e])
        return (entry * weight)[j_s] + inside + closing

    return per_trade(np.ones(pre.size)), per_trade(_fee_share(costs, sleeve.rate))


def trade_log(
    asset: str, bars: pd.DataFrame, target: np.ndarray, sleeve: Sleeve, costs: Costs
) -> pd.DataFrame:
    """The trades of one sleeve: each run of positions of one sign is a trade (entry at the
    close where it starts, exit at the close where it ends or flips; still open at the end
    of the data: marked at the last close, reason 'open'). Returns are on the sleeve's
    equity at entry, so compounding `net_return` over the trades gives the sleeve's equity."""
    tb = sleeve.trade_bars
    starts, ends, is_open = _trade_spans(target, tb)
    j_s, j_e = np.searchsorted(tb, starts), np.searchsorted(tb, ends)
    j_e = np.where(is_open, 0, j_e)
    pre = np.maximum(sleeve.pre_equity, 0.0)
    base = pre[j_s] * sleeve.exit_leg[j_s]
    end = np.where(is_open, sleeve.equity[-1], pre[j_e] * sleeve.exit_leg[j_e])
    live = base > 0  # trades after a ruin never happened
    gross = _trade_growth(sleeve, j_s, j_e, is_open) - 1.0
    paid, fees = _leg_costs(sleeve, costs, j_s, j_e, is_open)
    direction = np.sign(target[starts]).astype(np.int64)
    buy_in, sell_in = costs.fill_prices(bars.iloc[starts])
    buy_out, sell_out = costs.fill_prices(bars.iloc[ends])
    entry_price = np.where(direction > 0, buy_in, sell_in)
    exit_price = np.where(direction > 0, sell_out, buy_out)
    exit_price = np.where(is_open, bars["close"].iloc[-1], exit_price)
    with np.errstate(divide="ignore", invalid="ignore"):
        net = np.maximum(end, 0.0) / base - 1.0
        columns = {
            "direction": direction,
            "size": np.abs(target[starts]),
            "entry_time": bars.index[starts],
            "entry_price": entry_price,
            "exit_time": bars.index[ends],
            "exit_price": exit_price,
            "bars_held": ends - starts,
            "gross_return": gross,
            "net_return": net,
            "costs": paid / base,
            "fees": fees / base,
        }
    frame = trade_frame(asset, np.where(is_open, OPEN, 0), columns)
    return frame[live].reset_index(drop=True)
