"""Invariants of the engine on random prices and positions (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from bt_bars import make_bars
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgelab.backtest import Costs, backtest

LEVELS = [-1.0, -0.5, -0.25, 0.0, 0.3, 1.0]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def market(draw, min_bars: int = 3, max_bars: int = 40):
    """Closes from bounded log-returns (a short can lose at most ~60 % per bar) and
    positions drawn from a few levels, flips included."""
    n = draw(st.integers(min_bars, max_bars))
    steps = draw(st.lists(st.floats(-0.4, 0.4), min_size=n, max_size=n))
    close = 100.0 * np.exp(np.cumsum(steps))
    pos = draw(st.lists(st.sampled_from(LEVELS), min_size=n, max_size=n))
    return make_bars(close), np.array(pos)


costs_st = st.builds(
    Costs,
    fee_bps=st.floats(0.0, 50.0),
    slippage_bps=st.floats(0.0, 20.0),
    spread_bps=st.floats(0.0, 30.0),
    use_bid_ask=st.just(False),
)


@SETTINGS
@given(market(), costs_st)
def test_a_flat_position_earns_exactly_zero(data, costs):
    bars, _ = data
    result = backtest(bars, pd.Series(0.0, bars.index), costs)
    assert (result.equity.to_numpy() == 1.0).all()
    assert (result.returns.to_numpy() == 0.0).all()
    assert (result.costs.to_numpy() == 0.0).all()
    assert len(result.trades) == 0 and result.kpis["n_orders"] == 0


@SETTINGS
@given(market(), costs_st)
def test_costs_never_increase_equity(data, costs):
    bars, pos = data
    positions = pd.Series(pos, bars.index)
    free = backtest(bars, positions, Costs.zero()).equity.to_numpy()
    paid = backtest(bars, positions, costs).equity.to_numpy()
    # the drifted exposure does not depend on costs, so costs only ever multiply equity
    # by factors <= 1: every bar, not just the last
    assert (paid <= free * (1 + 1e-12)).all()
    double = Costs(2 * costs.fee_bps, 2 * costs.slippage_bps, 2 * costs.spread_bps, False)
    assert backtest(bars, positions, double).final_equity <= paid[-1] * (1 + 1e-12)


@SETTINGS
@given(market(), costs_st)
def test_compounding_the_trade_log_gives_the_engine_equity(data, costs):
    bars, pos = data
    result = backtest(bars, pd.Series(pos, bars.index), costs)
    trades = result.trades
    compounded = float(np.prod(1.0 + trades["net_return"].to_numpy()))
    assert np.isclose(compounded, result.final_equity, rtol=1e-10, atol=1e-14)
    # per bar: net = gross - costs (costs as a fraction of the previous equity), except
    # on the bar a short is wiped out, where the account cannot lose more than it has
    alive = result.equity.to_numpy() > 0
    net, gross, paid = (
        s.to_numpy()[alive] for s in (result.returns, result.gross_returns, result.costs)
    )
    np.testing.assert_allclose(net, gross - paid, rtol=1e-9, atol=1e-12)
    # every trade bar belongs to a trade: entries and exits are where the sign changes
    assert (trades["exit_time"] >= trades["entry_time"]).all()
    assert (trades["costs"] >= trades["fees"] - 1e-15).all()
    assert (trades["fees"] >= 0).all()


@SETTINGS
@given(market(min_bars=4), st.data())
def test_a_decision_at_t_never_changes_the_past(data, draw):
    bars, pos = data
    t = draw.draw(st.integers(1, len(pos) - 1))
    other = pos.copy()
    other[t:] = draw.draw(
        st.lists(st.sampled_from(LEVELS), min_size=len(pos) - t, max_size=len(pos) - t)
    )
    costs = Costs()
    first = backtest(bars, pd.Series(pos, bars.index), costs).equity.to_numpy()
    second = backtest(bars, pd.Series(other, bars.index), costs).equity.to_numpy()
    # bars before t are identical; bar t differs only by the cost of the new decision
    np.testing.assert_array_equal(first[:t], second[:t])
