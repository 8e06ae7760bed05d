"""edgelab.backtest: positions and bars in, a cost-aware simulation out.

Predictions -> policy (`get_policy`) -> Positions -> `backtest` (vectorized per-bar
engine, the one-bar lag applied inside) or `backtest_trades` / `simulate_trades`
(take-profit / stop-loss and fixed-horizon trades, sharing the barrier walk of the
labels) -> `BacktestResult` (equity, trades, `compute_kpis`) -> plots.
"""

from edgelab.backtest.costs import Costs
from edgelab.backtest.engine import (
    DEFAULT_COSTS,
    TRADE_COLUMNS,
    BacktestResult,
    backtest,
    buy_and_hold,
)
from edgelab.backtest.kpis import KPI_NAMES, compute_kpis
from edgelab.backtest.policies import POLICIES, Policy, get_policy, run_policy
from edgelab.backtest.trades import Bracket, backtest_trades, simulate_trades

__all__ = [
    "DEFAULT_COSTS",
    "KPI_NAMES",
    "POLICIES",
    "TRADE_COLUMNS",
    "BacktestResult",
    "Bracket",
    "Costs",
    "Policy",
    "backtest",
    "backtest_trades",
    "buy_and_hold",
    "compute_kpis",
    "get_policy",
    "run_policy",
    "simulate_trades",
]
