"""The trade simulator: bracket and fixed-horizon exits by hand, the barrier-label
equivalence, and agreement with the per-bar engine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import talib
from bt_bars import make_bars, random_bars, series

from edgelab.backtest import Bracket, Costs, backtest, backtest_trades, get_policy, simulate_trades
from edgelab.errors import BacktestError
from edgelab.labels.barriers import HOLD, LONG, SHORT, barrier_labels

ZERO = Costs.zero()
FEE10 = Costs(fee_bps=10, slippage_bps=0, spread_bps=0, use_bid_ask=False)


@pytest.fixture
def bars6() -> pd.DataFrame:
    return make_bars(
        [100.0, 101.0, 100.0, 101.0, 102.0, 103.0],
        open_=[100.0, 100.0, 101.0, 100.0, 101.0, 102.0],
        high=[100.0, 104.0, 106.0, 102.0, 103.0, 104.0],
        low=[100.0, 98.0, 96.0, 99.0, 100.0, 101.0],
    )


def one_trade(bars, direction, bracket, costs=ZERO, at=0):
    signal = series(bars, np.zeros(len(bars)))
    signal.iloc[at] = direction
    trades = simulate_trades(bars, signal, bracket, costs)
    assert len(trades) == 1
    return trades.iloc[0]


def test_when_both_levels_are_touched_in_one_bar_the_stop_counts(bars6):
    # long from 100: take-profit 105, stop 97; bar 2 trades 96..106
    trade = one_trade(bars6, 1, Bracket(5.0, 3.0, max_horizon=5, unit="price"))
    assert (trade.reason, trade.exit_price, trade.bars_held) == ("stop_loss", 97.0, 2)
    assert trade.exit_time == bars6.index[2]
    assert trade.net_return == pytest.approx(-0.03)


def test_take_profit_and_a_short_stopped_out(bars6):
    trade = one_trade(bars6, 1, Bracket(5.0, 10.0, max_horizon=5, unit="price"))
    assert (trade.reason, trade.exit_price) == ("take_profit", 105.0)
    assert trade.gross_return == pytest.approx(0.05)
    # short from 100: take-profit 95, stop 103, touched by bar 1's high of 104
    short = one_trade(bars6, -1, Bracket(5.0, 3.0, max_horizon=5, unit="price"))
    assert (short.reason, short.exit_price, short.direction) == ("stop_loss", 103.0, -1)
    assert short.net_return == pytest.approx(-0.03)


def test_a_gap_through_the_stop_exits_at_the_open():
    bars = make_bars(
        [100.0, 94.0, 95.0], open_=[100.0, 95.0, 94.0], high=[100, 96, 96], low=[100, 93, 93]
    )
    trade = one_trade(bars, 1, Bracket(5.0, 3.0, max_horizon=5, unit="price"))
    assert (trade.reason, trade.exit_price) == ("stop_loss", 95.0)


def test_fixed_horizon_exit_at_the_close(bars6):
    trade = one_trade(bars6, 1, Bracket(None, None, max_horizon=3))
    assert (trade.reason, trade.exit_price, trade.bars_held) == ("horizon", 101.0, 3)
    pct = one_trade(bars6, 1, Bracket(0.10, 0.10, max_horizon=3, unit="pct"))
    assert pct.reason == "horizon"


def test_costs_are_charged_on_entry_and_on_the_exit_notional(bars6):
    trade = one_trade(bars6, 1, Bracket(5.0, 10.0, max_horizon=5, unit="price"), FEE10)
    c = 0.001
    # entry: 1 / (1 + c) invested; exit at 105: sells 1.05 / (1 + c) and pays c of it
    assert trade.net_return == pytest.approx((1.05 - c * 1.05) / (1 + c) - 1, rel=1e-12)
    assert trade.fees == pytest.approx((c + c * 1.05) / (1 + c), rel=1e-12)
    assert trade.entry_price == 100.0 and trade.exit_price == 105.0
    slipped = one_trade(bars6, 1, Bracket(5.0, 10.0, max_horizon=5, unit="price"), Costs(0, 10, 0))
    assert slipped.exit_price == pytest.approx(105.0 * 0.999)
    assert slipped.fees == 0 and slipped.costs == pytest.approx(trade.fees)


def test_sequential_mode_takes_one_trade_at_a_time(bars6):
    signal = series(bars6, [1, 1, 0, 1, 0, 0])
    bracket = Bracket(None, None, max_horizon=3)
    seq = simulate_trades(bars6, signal, bracket, ZERO)
    # bar 1's signal comes while the first trade is open; bar 3's at its exit close
    assert seq["entry_time"].tolist() == [bars6.index[0], bars6.index[3]]
    assert seq["reason"].tolist() == ["horizon", "open"]  # the data ends 2 bars later
    assert seq["exit_price"].iloc[1] == 103.0
    every = simulate_trades(bars6, signal, bracket, ZERO, mode="per_bar")
    assert every["entry_time"].tolist() == [bars6.index[i] for i in (0, 1, 3)]


def test_backtest_trades_marks_equity_at_each_close_and_exits_at_the_level(bars6):
    signal = series(bars6, [1, 0, 0, 0, 0, 0])
    result = backtest_trades(bars6, signal, Bracket(5.0, 10.0, max_horizon=5, unit="price"), ZERO)
    np.testing.assert_allclose(result.equity.to_numpy(), [1, 1.01, 1.05, 1.05, 1.05, 1.05])
    assert result.positions.iloc[:, 0].tolist() == [1, 1, 0, 0, 0, 0]
    assert result.kpis["n_trades"] == 1 and result.kpis["n_orders"] == 2


def test_fixed_horizon_trades_equal_the_engine_holding_the_same_bars():
    bars = random_bars(400, seed=3)
    rng = np.random.default_rng(3)
    signal = pd.Series(0.0, bars.index)
    entries = np.arange(5, 380, 23)
    signal.iloc[entries] = rng.choice([-1.0, 1.0], entries.size)
    costs = Costs(fee_bps=7, slippage_bps=3, spread_bps=4)
    sim = backtest_trades(bars, signal, Bracket(None, None, max_horizon=10), costs)
    predictions = pd.DataFrame({"expected_return": signal.to_numpy()}, index=bars.index)
    held = get_policy("hold", n_bars=10, entry="sign").positions(predictions)
    engine = backtest(bars, held, costs)
    np.testing.assert_allclose(sim.equity.to_numpy(), engine.equity.to_numpy(), rtol=1e-12)
    cols = [
        "direction",
        "entry_time",
        "exit_time",
        "entry_price",
        "exit_price",
        "net_return",
        "fees",
    ]
    pd.testing.assert_frame_equal(sim.trades[cols], engine.trades[cols], rtol=1e-12)
    compounded = np.prod(1 + sim.trades["net_return"])
    assert compounded == pytest.approx(sim.final_equity, rel=1e-12)


@pytest.mark.parametrize("horizon", [5, 24])
def test_every_barrier_label_is_the_outcome_of_the_trade_opened_there(horizon):
    bars = random_bars(1500, seed=horizon)
    labels = barrier_labels(bars, tp_atr=1.5, sl_atr=1.0, max_horizon=horizon).label.to_numpy()
    high, low, close = (bars[k].to_numpy() for k in ("high", "low", "close"))
    ready = np.isfinite(talib.ATR(high, low, close, 14))
    bracket = Bracket(1.5, 1.0, max_horizon=horizon, unit="atr", atr_window=14)
    longs = simulate_trades(bars, series(bars, ready * 1.0), bracket, mode="per_bar")
    shorts = simulate_trades(bars, series(bars, ready * -1.0), bracket, mode="per_bar")
    long_tp = (longs["reason"] == "take_profit").to_numpy()
    short_tp = (shorts["reason"] == "take_profit").to_numpy()
    unknown = ((longs["reason"] == "open") | (shorts["reason"] == "open")).to_numpy()
    outcome = np.where(long_tp, LONG, np.where(short_tp, SHORT, np.where(unknown, np.nan, HOLD)))
    np.testing.assert_array_equal(outcome, labels[ready])
    assert np.isnan(labels[~ready]).all()
    # a meaningful check: every class occurs
    assert {LONG, SHORT, HOLD} <= set(outcome[np.isfinite(outcome)].astype(int))


def test_bad_signals_and_brackets_are_errors(bars6):
    with pytest.raises(BacktestError, match="use \\+1"):
        simulate_trades(bars6, series(bars6, [0.5, 0, 0, 0, 0, 0]), Bracket(unit="price"))
    with pytest.raises(BacktestError, match="warm-up"):
        simulate_trades(bars6, series(bars6, [1, 0, 0, 0, 0, 0]), Bracket(atr_window=3))
    with pytest.raises(BacktestError, match="unit"):
        Bracket(unit="pips")
    with pytest.raises(BacktestError, match="max_horizon"):
        Bracket(max_horizon=0)
    with pytest.raises(BacktestError, match="mode"):
        simulate_trades(bars6, series(bars6, [1, 0, 0, 0, 0, 0]), Bracket(unit="price"), mode="x")
    with pytest.raises(BacktestError, match="one value"):
        simulate_trades(
            bars6, series(bars6, [1, 0, 0, 0, 0, 0]).iloc[[0, 2]], Bracket(unit="price")
        )
