"""Backtest KPIs: one pure function of per-bar returns, trades and positions.

`compute_kpis` is the only place statistics are defined; the engine, the trade simulator,
the report and the leaderboard all read its dict. Undefined ratios (zero volatility with a
non-zero mean, no trades, no losing trades) are NaN, never a made-up number; a ratio whose
numerator and denominator are both zero (a strategy that never trades) is 0.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pandas as pd

from edgelab.data.intervals import bars_per_year, parse_interval
from edgelab.errors import BacktestError

#: KPI names in display order (the keys of `compute_kpis`'s dict).
KPI_NAMES = (
    "total_return",
    "cagr",
    "volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "max_drawdown_bars",
    "max_drawdown_days",
    "calmar",
    "turnover",
    "exposure",
    "time_in_market",
    "hit_ratio",
    "profit_factor",
    "average_trade",
    "n_trades",
    "n_bars",
    "periods_per_year",
)


def _ratio(num: float, den: float) -> float:
    """num / den; 0 when both are 0, NaN when only the denominator is 0."""
    if den == 0.0:
        return 0.0 if num == 0.0 else math.nan
    return num / den


@numba.njit(cache=True, nogil=True)
def _drawdown_kernel(equity):  # pragma: no cover - numba
    """Drawdown per bar and the longest run of bars below the peak, in one pass (numpy
    needs five: running max, division, mask, run starts and stops)."""
    n = equity.shape[0]
    dd = np.empty(n)
    peak, run, longest = 1.0, 0, 0
    for t in range(n):
        e = equity[t]
        if e > peak:
            peak = e
        dd[t] = e / peak - 1.0
        if dd[t] < 0.0:
            run += 1
            if run > longest:
                longest = run
        else:
            run = 0
    return dd, longest


@numba.njit(cache=True, nogil=True)
def _return_stats(r, equity, dd_out):  # pragma: no cover - numba
    """Max drawdown, its longest run, mean, sample std and downside deviation in two passes
    (numpy needs about a dozen for the same numbers); the drawdown of each bar goes to
    `dd_out`."""
    n = r.shape[0]
    peak, run, longest, max_dd, total, down = 1.0, 0, 0, 0.0, 0.0, 0.0
    for t in range(n):
        e = equity[t]
        if e > peak:
            peak = e
        dd = e / peak - 1.0
        dd_out[t] = dd
        if dd < 0.0:
            run += 1
            longest = max(longest, run)
            max_dd = min(max_dd, dd)
        else:
            run = 0
        total += r[t]
        if r[t] < 0.0:
            down += r[t] * r[t]
    mean = total / n
    squares = 0.0
    for t in range(n):
        squares += (r[t] - mean) ** 2
    std = np.sqrt(squares / (n - 1)) if n > 1 else 0.0
    return max_dd, longest, mean, std, np.sqrt(down / n)


@numba.njit(cache=True, nogil=True)
def _position_stats(pos):  # pragma: no cover - numba
    """Traded units (sum of |change|, from flat), summed gross exposure and bars with any
    position, over a (bars, assets) array in one pass."""
    traded, gross_sum, held = 0.0, 0.0, 0
    for t in range(pos.shape[0]):
        gross = 0.0
        for a in range(pos.shape[1]):
            before = pos[t - 1, a] if t > 0 else 0.0
            traded += abs(pos[t, a] - before)
            gross += abs(pos[t, a])
        gross_sum += gross
        if gross > 0.0:
            held += 1
    return traded, gross_sum, held


def drawdown(equity: np.ndarray) -> np.ndarray:
    """Drawdown per bar, `equity / running peak - 1` (<= 0), the peak including the start (1.0)."""
    return _drawdown_kernel(np.ascontiguousarray(equity, dtype=np.float64))[0]


def _trade_kpis(trades: pd.DataFrame | None) -> dict[str, float]:
    if trades is None or len(trades) == 0:
        nan = math.nan
        return {"hit_ratio": nan, "profit_factor": nan, "average_trade": nan, "n_trades": 0}
    if "net_return" not in trades.columns:
        raise BacktestError(
            "compute_kpis: the trades frame has no 'net_return' column; pass the trade log "
            "of a BacktestResult (columns: " + ", ".join(map(str, trades.columns)) + ")"
        )
    net = trades["net_return"].to_numpy(dtype=np.float64)
    wins, losses = net[net > 0].sum(), -net[net < 0].sum()
    return {
        "hit_ratio": float((net > 0).mean()),
        "profit_factor": float(wins / losses) if losses > 0 else math.nan,
        "average_trade": float(net.mean()),
        "n_trades": int(net.size),
    }


def _position_kpis(positions: pd.Series | pd.DataFrame | np.ndarray | None, ppy: float) -> dict:
    if positions is None:
        return {"turnover": math.nan, "exposure": math.nan, "time_in_market": math.nan}
    pos = np.asarray(positions, dtype=np.float64)
    pos = np.ascontiguousarray(pos.reshape(len(pos), -1))
    traded, gross_sum, held = _position_stats(pos)
    n = max(len(pos), 1)
    return {"turnover": traded / n * ppy, "exposure": gross_sum / n, "time_in_market": held / n}


def cagr_from_growth(final: float, n_bars: int, periods_per_year: float) -> float:
    """CAGR of a growth factor `final` (equity end / start) over `n_bars` bars:
    final^(ppy / n) - 1; -1 when wiped out; inf when a huge gain over a few bars
    annualizes beyond float range (never an OverflowError)."""
    if final <= 0:
        return -1.0
    with np.errstate(over="ignore"):
        return float(np.expm1(np.log(final) * periods_per_year / n_bars))


def compute_kpis(
    returns: pd.Series | np.ndarray,
    *,
    interval: str | pd.Timedelta,
    calendar: str = "crypto",
    trades: pd.DataFrame | None = None,
    positions: pd.Series | pd.DataFrame | None = None,
    periods_per_year: float | None = None,
) -> dict[str, float]:
    """KPIs of a backtest from its per-bar net returns.

    `returns`: net return of each bar (fractions, bar t = equity_t / equity_{t-1} - 1,
    starting equity 1). `interval` (bar length, e.g. "1h") and `calendar` ("crypto" 24/7,
    "equity" 252 days, "fx") give the bars per year through
    `edgelab.data.intervals.bars_per_year`; `periods_per_year` overrides that.
    `trades`: trade log with a `net_return` column (hit ratio, profit factor, average
    trade, number of trades). `positions`: target exposure per bar (one column per asset,
    already scaled by the portfolio weights) for turnover and exposure.

    Definitions (risk-free rate 0, sample std with ddof=1):
    total_return = prod(1 + r) - 1; cagr = (1 + total)^(ppy / n) - 1;
    volatility = std(r) sqrt(ppy); sharpe = mean(r) / std(r) sqrt(ppy);
    sortino = mean(r) / sqrt(mean(min(r, 0)^2)) sqrt(ppy);
    max_drawdown = min(equity / running peak - 1) (<= 0, the start counts as a peak);
    max_drawdown_bars = longest run of bars below the running peak (and in days);
    calmar = cagr / |max_drawdown|; turnover = sum |delta position| / n * ppy (traded
    notional per year in multiples of equity); exposure = mean gross |position|;
    time_in_market = share of bars with a position; hit_ratio = share of trades with
    net_return > 0; profit_factor = sum of winning / |sum of losing| trade returns;
    average_trade = mean trade net_return.
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1 or r.size == 0:
        raise BacktestError(f"compute_kpis: expected a non-empty 1-D return series, got {r.shape}")
    if not np.isfinite(r).all():
        row = int(np.argmax(~np.isfinite(r)))
        raise BacktestError(
            f"compute_kpis: return at row {row} is {r[row]}; returns must be finite"
        )
    delta = parse_interval(interval) if isinstance(interval, str) else pd.Timedelta(interval)
    ppy = float(periods_per_year) if periods_per_year else float(bars_per_year(delta, calendar))
    return kpis_from_equity(r, np.cumprod(1.0 + r), delta, ppy, trades, positions)


def kpis_from_equity(
    r: np.ndarray,
    equity: np.ndarray,
    delta: pd.Timedelta,
    ppy: float,
    trades: pd.DataFrame | None,
    positions: pd.Series | pd.DataFrame | np.ndarray | None,
    drawdown_out: np.ndarray | None = None,
) -> dict[str, float]:
    """`compute_kpis` on already checked returns and their equity (`cumprod(1 + r)`, or
    the engine's exact equity), for callers that have both; `drawdown_out` (float64,
    length n), when given, receives the drawdown of each bar from the same pass."""
    n = r.size
    dd = np.empty(n) if drawdown_out is None else drawdown_out
    r, equity = (np.ascontiguousarray(a, dtype=np.float64) for a in (r, equity))
    stats = _return_stats(r, equity, dd)
    max_dd, dd_bars, mean, std, downside = (float(x) for x in stats)
    dd_bars = int(dd_bars)
    final = float(equity[-1])
    cagr = cagr_from_growth(final, n, ppy)
    out: dict[str, float] = {
        "total_return": final - 1.0,
        "cagr": float(cagr),
        "volatility": std * math.sqrt(ppy),
        "sharpe": _ratio(mean, std) * math.sqrt(ppy),
        "sortino": _ratio(mean, downside) * math.sqrt(ppy),
        "max_drawdown": max_dd,
        "max_drawdown_bars": dd_bars,
        "max_drawdown_days": dd_bars * delta / pd.Timedelta(days=1),
        "calmar": _ratio(float(cagr), abs(max_dd)),
    }
    out.update(_position_kpis(positions, ppy))
    out.update(_trade_kpis(trades))
    out["n_bars"] = n
    out["periods_per_year"] = ppy
    return {name: out[name] for name in KPI_NAMES}
