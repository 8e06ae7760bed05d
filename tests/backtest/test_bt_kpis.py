"""`compute_kpis` against golden values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from edgelab.backtest import KPI_NAMES, compute_kpis
from edgelab.errors import BacktestError

RETURNS = [0.1, -0.2, 0.05, 0.0]  # equity 1.1, 0.88, 0.924, 0.924
DAYS = 365.25


def test_return_risk_and_drawdown_kpis_match_hand_computation():
    k = compute_kpis(RETURNS, interval="1d", calendar="crypto")
    assert list(k) == list(KPI_NAMES)
    assert k["periods_per_year"] == DAYS and k["n_bars"] == 4
    assert k["total_return"] == pytest.approx(-0.076)
    assert k["cagr"] == pytest.approx(0.924 ** (DAYS / 4) - 1)
    # mean -0.0125; deviations .1125 -.1875 .0625 .0125; squares sum .051875; /3
    std = math.sqrt(0.051875 / 3)
    assert k["volatility"] == pytest.approx(std * math.sqrt(DAYS))
    assert k["sharpe"] == pytest.approx(-0.0125 / std * math.sqrt(DAYS))
    # downside deviation: sqrt((0.2 ** 2) / 4) = 0.1
    assert k["sortino"] == pytest.approx(-0.0125 / 0.1 * math.sqrt(DAYS))
    # peak 1.1 after bar 0; trough 0.88: -20 %; below the peak for bars 1, 2, 3
    assert k["max_drawdown"] == pytest.approx(-0.2)
    assert k["max_drawdown_bars"] == 3 and k["max_drawdown_days"] == pytest.approx(3.0)
    assert k["calmar"] == pytest.approx((0.924 ** (DAYS / 4) - 1) / 0.2)


def test_a_loss_on_the_first_bar_is_a_drawdown_from_the_start():
    k = compute_kpis([-0.1, 0.05, 0.1], interval="1h")
    assert k["max_drawdown"] == pytest.approx(-0.1)
    assert k["max_drawdown_bars"] == 2  # back above 1.0 at bar 2 (0.9 * 1.05 * 1.1)


def test_trade_and_position_kpis():
    trades = pd.DataFrame({"net_return": [0.02, -0.01, 0.03, -0.02]})
    positions = pd.Series([0.0, 1.0, 1.0, -1.0])
    k = compute_kpis(RETURNS, interval="1d", trades=trades, positions=positions)
    assert k["hit_ratio"] == 0.5
    assert k["profit_factor"] == pytest.approx(0.05 / 0.03)
    assert k["average_trade"] == pytest.approx(0.005)
    assert k["n_trades"] == 4
    # |0| + |1 - 0| + 0 + |-1 - 1| = 3 units traded over 4 daily bars
    assert k["turnover"] == pytest.approx(3 / 4 * DAYS)
    assert k["exposure"] == 0.75 and k["time_in_market"] == 0.75
    wide = pd.DataFrame({"A": [0.5, 0.5, 0.0, 0.0], "B": [0.0, -0.5, -0.5, 0.0]})
    k2 = compute_kpis(RETURNS, interval="1d", positions=wide)
    assert k2["turnover"] == pytest.approx((0.5 + 0.5 + 0.5 + 0.5) / 4 * DAYS)
    assert k2["exposure"] == pytest.approx((0.5 + 1.0 + 0.5 + 0) / 4)
    assert k2["time_in_market"] == 0.75


@pytest.mark.parametrize(
    ("interval", "calendar", "per_year"),
    [
        ("1d", "crypto", 365.25),
        ("1h", "crypto", 365.25 * 24),
        ("1d", "equity", 252.0),
        ("1h", "equity", 252.0 * 6.5),
        ("1d", "fx", 260.0),
    ],
)
def test_annualization_follows_interval_and_calendar(interval, calendar, per_year):
    k = compute_kpis(RETURNS, interval=interval, calendar=calendar)
    assert k["periods_per_year"] == pytest.approx(per_year)
    assert k["volatility"] == pytest.approx(math.sqrt(0.051875 / 3 * per_year))
    assert compute_kpis(RETURNS, interval="1d", periods_per_year=12.0)["periods_per_year"] == 12


def test_degenerate_cases_are_zero_or_nan_never_invented():
    flat = compute_kpis(np.zeros(5), interval="1h", trades=pd.DataFrame({"net_return": []}))
    assert flat["total_return"] == 0 and flat["sharpe"] == 0 and flat["sortino"] == 0
    assert flat["max_drawdown"] == 0 and flat["calmar"] == 0
    assert math.isnan(flat["hit_ratio"]) and flat["n_trades"] == 0
    winners = compute_kpis([0.01, 0.02], interval="1h", trades=pd.DataFrame({"net_return": [0.01]}))
    assert math.isnan(winners["profit_factor"])  # no losing trade: undefined, not infinite
    assert math.isnan(winners["calmar"])  # no drawdown
    assert math.isnan(compute_kpis([0.01, 0.01], interval="1h")["sharpe"])  # zero volatility


def test_bad_inputs_raise():
    with pytest.raises(BacktestError, match="finite"):
        compute_kpis([0.1, np.nan], interval="1h")
    with pytest.raises(BacktestError, match="non-empty"):
        compute_kpis([], interval="1h")
    with pytest.raises(BacktestError, match="net_return"):
        compute_kpis([0.1], interval="1h", trades=pd.DataFrame({"pnl": [1.0]}))
