"""The per-bar engine on hand-computed cases of 3-10 bars: lag, fees, slippage, spread
(configured and bid/ask), shorts, flips, many assets, and the errors it raises."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bt_bars import make_bars, series

from edgelab.backtest import Costs, backtest, buy_and_hold
from edgelab.errors import BacktestError

ZERO = Costs.zero()
FEE10 = Costs(fee_bps=10, slippage_bps=0, spread_bps=0, use_bid_ask=False)


def equity(result) -> list[float]:
    return result.equity.to_numpy().tolist()


def test_the_engine_applies_the_one_bar_lag():
    bars = make_bars([100.0, 110.0, 121.0, 133.1])
    # decided at the close of bar 0: earns bar 1 and bar 2, exits at the close of bar 2
    np.testing.assert_allclose(
        equity(backtest(bars, series(bars, [1, 1, 0, 0]), ZERO)), [1, 1.1, 1.21, 1.21]
    )
    # decided at the close of bar 1: bar 1's own +10 % is not earned
    np.testing.assert_allclose(
        equity(backtest(bars, series(bars, [0, 1, 0, 0]), ZERO)), [1, 1, 1.1, 1.1]
    )
    # a position decided at the last close earns nothing
    assert equity(backtest(bars, series(bars, [0, 0, 0, 1]), ZERO)) == [1, 1, 1, 1]


def test_fees_are_paid_on_entry_and_exit_notional():
    bars = make_bars([100.0, 110.0, 99.0])
    result = backtest(bars, series(bars, [1, 1, 0]), FEE10)
    c = 0.001
    # entry: all equity buys the asset and pays 10 bps: 1 / (1 + c) of equity is invested
    # exit: the position (worth 0.99 of the entry) is sold and pays 10 bps of it
    expected = [1 / (1 + c), 1.1 / (1 + c), 0.99 * (1 - c) / (1 + c)]
    np.testing.assert_allclose(equity(result), expected, rtol=1e-15)
    # costs as a fraction of the previous bar's equity: the exit sells a position that
    # fell 10 % over the bar, so it pays 10 bps of 0.9
    np.testing.assert_allclose(result.costs.to_numpy(), [c / (1 + c), 0, 0.9 * c], rtol=1e-12)
    # a round trip costs about 2 x 10 bps
    flat = backtest(bars, series(bars, [1, 1, 0]), ZERO).final_equity
    assert flat * (1 - 0.0020) == pytest.approx(result.final_equity, rel=1e-5)
    assert result.kpis["n_orders"] == 2


def test_slippage_and_configured_spread_cost_like_fees():
    bars = make_bars([100.0, 110.0, 99.0])
    pos = series(bars, [1, 1, 0])
    fee = backtest(bars, pos, FEE10).final_equity
    slip = backtest(bars, pos, Costs(fee_bps=0, slippage_bps=10, spread_bps=0)).final_equity
    # a 20 bps spread is 10 bps per side (the close is the mid)
    spread = backtest(bars, pos, Costs(fee_bps=0, slippage_bps=0, spread_bps=20)).final_equity
    mixed = backtest(bars, pos, Costs(fee_bps=6, slippage_bps=2, spread_bps=4)).final_equity
    assert fee == pytest.approx(0.99 * 0.999 / 1.001, rel=1e-15)
    assert slip == pytest.approx(fee, rel=1e-15)
    assert spread == pytest.approx(fee, rel=1e-15)
    assert mixed == pytest.approx(fee, rel=1e-15)


def test_bid_ask_buys_at_the_ask_and_sells_at_the_bid():
    bars = make_bars([100.0, 110.0, 99.0], bid=[99.9, 109.9, 98.9], ask=[100.1, 110.1, 99.1])
    costs = Costs(fee_bps=0, slippage_bps=0, spread_bps=50)  # bid/ask wins over spread_bps
    result = backtest(bars, series(bars, [1, 1, 0]), costs)
    # 1 unit of cash buys 1/100.1 of the asset, sold at 98.9
    assert result.final_equity == pytest.approx(98.9 / 100.1, rel=1e-14)
    assert result.cost_source == {"TEST": "bid_ask"}
    trade = result.trades.iloc[0]
    assert (trade.entry_price, trade.exit_price) == pytest.approx((100.1, 98.9))
    # a short sells 1/100.1 units at the bid 99.9 and buys them back at the ask 99.1
    short = backtest(bars, series(bars, [-1, -1, 0]), costs)
    assert short.final_equity == pytest.approx(1 + (99.9 - 99.1) / 100.1, rel=1e-14)


def test_a_spread_column_without_quotes_pays_half_per_side():
    bars = make_bars([100.0, 110.0, 99.0])
    bars["spread"] = [0.2, 0.22, 0.198]  # 20 bps of each close
    result = backtest(bars, series(bars, [1, 1, 0]), Costs(fee_bps=0, slippage_bps=0))
    assert result.cost_source == {"TEST": "spread_column"}
    assert result.final_equity == pytest.approx(0.99 * 0.999 / 1.001, rel=1e-12)


def test_a_short_gains_when_the_price_falls_and_its_exposure_drifts():
    bars = make_bars([100.0, 90.0, 80.0])
    result = backtest(bars, series(bars, [-1, -1, 0]), ZERO)
    # short 1 unit of equity at 100: +10 at 90, +20 at 80 (cash 2, debt 1 unit of asset)
    np.testing.assert_allclose(equity(result), [1.0, 1.1, 1.2], rtol=1e-15)
    np.testing.assert_allclose(result.gross_returns.to_numpy(), [0.0, 0.1, 0.1 / 1.1])
    # the second bar earns 0.1 / 1.1, not the -(-11.1 %) of a rebalanced short
    assert result.returns.iloc[2] == pytest.approx(0.1 / 1.1)
    assert result.exposure["TEST"].iloc[1] == pytest.approx(-0.9 / 1.1)
    assert result.trades["direction"].tolist() == [-1]
    assert result.trades["net_return"].iloc[0] == pytest.approx(0.2)


def test_a_flip_from_long_to_short_pays_two_units_of_turnover():
    bars = make_bars([100.0, 100.0, 100.0, 100.0])
    result = backtest(bars, series(bars, [1, -1, -1, -1]), FEE10)
    c = 0.001
    # bar 0: buy 1 unit; bar 1: sell 2 units (close the long, open the short)
    np.testing.assert_allclose(
        equity(result),
        [1 / (1 + c), (1 - c) / (1 + c) ** 2, (1 - c) / (1 + c) ** 2, (1 - c) / (1 + c) ** 2],
    )
    assert result.costs.iloc[1] == pytest.approx(2 * c / (1 + c))  # ~2 x 10 bps
    assert result.kpis["n_orders"] == 2
    assert result.kpis["turnover"] == pytest.approx(3 / 4 * result.kpis["periods_per_year"])
    # the flip's cost splits exactly between the trade it ends and the trade it opens
    trades = result.trades
    assert trades["reason"].tolist() == ["signal", "open"]
    assert trades["net_return"].tolist() == pytest.approx([(1 - c) / (1 + c) - 1, 1 / (1 + c) - 1])
    assert np.prod(1 + trades["net_return"]) == pytest.approx(result.final_equity, rel=1e-14)
    # trade 1 pays its entry and its half of the flip, trade 2 the other half
    assert trades["fees"].tolist() == pytest.approx([2 * c / (1 + c), c / (1 + c)], rel=1e-12)
    assert trades["costs"].tolist() == trades["fees"].tolist()


def test_partial_positions_scale_gains_and_costs():
    bars = make_bars([100.0, 120.0, 120.0])
    result = backtest(bars, series(bars, [0.5, 0.5, 0]), FEE10)
    c = 0.001
    e0 = 1 / (1 + 0.5 * c)  # half of the (post-cost) equity is bought
    e1 = e0 * (1 + 0.5 * 0.2)
    x = 0.5 * 1.2 / 1.1  # drifted exposure at the exit
    np.testing.assert_allclose(equity(result), [e0, e1, e1 * (1 - c * x)], rtol=1e-14)


def test_two_assets_return_the_weighted_sum_of_their_sleeves():
    a = make_bars([100.0, 110.0, 121.0], symbol="A")
    b = make_bars([50.0, 40.0, 40.0], symbol="B")
    pos = pd.DataFrame({"A": [1.0, 1.0, 0.0], "B": [-1.0, 0.0, 0.0]}, index=a.index)
    result = backtest({"A": a, "B": b}, pos, ZERO)
    np.testing.assert_allclose(result.returns.to_numpy(), [0, 0.5 * 0.1 + 0.5 * 0.2, 0.5 * 0.1])
    np.testing.assert_allclose(result.equity.to_numpy(), [1, 1.15, 1.15 * 1.05])
    weighted = backtest({"A": a, "B": b}, pos, ZERO, weights={"A": 0.75, "B": 0.25})
    assert weighted.returns.iloc[1] == pytest.approx(0.75 * 0.1 + 0.25 * 0.2)
    assert set(result.trades["asset"]) == {"A", "B"}


def test_an_asset_without_a_bar_earns_nothing_there():
    a = make_bars([100.0, 110.0, 121.0, 133.1], symbol="A")
    b = make_bars([10.0, 20.0, 40.0, 80.0], symbol="B").iloc[[0, 1, 3]]  # no bar 2
    pos = pd.DataFrame({"A": [0.0] * 4, "B": [1.0, 1.0, np.nan, 1.0]}, index=a.index)
    result = backtest({"A": a, "B": b}, pos, ZERO)
    # B's move from 20 to 80 lands on its next bar
    np.testing.assert_allclose(result.returns.to_numpy(), [0, 0.5, 0, 0.5 * 3])


def test_buy_and_hold_pays_the_entry_once():
    bars = make_bars([100.0, 110.0, 99.0])
    result = buy_and_hold(bars, FEE10)
    np.testing.assert_allclose(equity(result), [1 / 1.001, 1.1 / 1.001, 0.99 / 1.001])
    assert result.trades["reason"].tolist() == ["open"]


def test_a_short_that_loses_everything_stays_ruined():
    bars = make_bars([100.0, 150.0, 250.0, 100.0, 90.0])
    result = backtest(bars, series(bars, [-1, -1, -1, 1, 0]), Costs())
    assert result.equity.iloc[1] < 0.5 and (result.equity.iloc[2:] == 0.0).all()
    assert result.returns.iloc[2] == -1.0 and (result.returns.iloc[3:] == 0.0).all()
    # the trade that was wiped out is logged at -100 %; none is opened after the ruin
    assert result.trades["net_return"].tolist() == [-1.0]


@pytest.mark.parametrize(
    ("values", "message"),
    [([1, np.nan, 0], "every bar of the span"), ([1, 1.5, 0], r"in \[-1, 1\]")],
)
def test_bad_positions_are_errors_naming_the_bar(values, message):
    bars = make_bars([100.0, 101.0, 102.0])
    with pytest.raises(BacktestError, match=message) as info:
        backtest(bars, series(bars, values), ZERO)
    assert "2024-01-01 01:00:00" in str(info.value)


def test_positions_must_sit_on_bars_of_the_same_time_zone():
    bars = make_bars([100.0, 101.0, 102.0])
    stray = pd.Series([1.0, 0.0], index=bars.index[:2] + pd.Timedelta("30min"))
    with pytest.raises(BacktestError, match="no position|no bar"):
        backtest(bars, stray, ZERO)
    naive = pd.Series([1.0, 0.0, 0.0], index=bars.index.tz_localize(None))
    with pytest.raises(BacktestError, match="time zone"):
        backtest(bars, naive, ZERO)
    gappy = series(bars, [1, 1, 0]).iloc[[0, 2]]
    with pytest.raises(BacktestError, match="no position for 'TEST' at 2024-01-01 01:00"):
        backtest(bars, gappy, ZERO)


def test_weights_and_asset_names_are_checked():
    a, b = make_bars([1.0, 2.0], symbol="A"), make_bars([1.0, 2.0], symbol="B")
    pos = pd.DataFrame({"A": [1.0, 0.0], "B": [0.0, 0.0]}, index=a.index)
    with pytest.raises(BacktestError, match="sum to 1"):
        backtest({"A": a, "B": b}, pos, ZERO, weights={"A": 0.7, "B": 0.7})
    with pytest.raises(BacktestError, match="missing"):
        backtest({"A": a, "B": b, "C": b}, pos, ZERO)


def test_a_subset_span_backtests_only_those_bars(bars5):
    test_span = series(bars5, [0, 1, 1, 0, 0]).iloc[1:4]
    result = backtest(bars5, test_span, ZERO)
    assert len(result.equity) == 3
    np.testing.assert_allclose(equity(result), [1.0, 0.9, 0.9])


def test_annualization_follows_the_bars_calendar_unless_given():
    bars = make_bars([100.0, 101.0, 102.0], interval="1D")
    bars.attrs.update(interval="1d", calendar="equity")
    pos = series(bars, [1, 1, 0])
    assert backtest(bars, pos).kpis["periods_per_year"] == 252.0
    assert backtest(bars, pos, calendar="crypto").kpis["periods_per_year"] == 365.25
