"""The cost model's rates and checks, and the PNG plots."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bt_bars import make_bars, random_bars, series

from edgelab.backtest import Costs, backtest, buy_and_hold
from edgelab.backtest.plots import plot_trades, save_plots
from edgelab.errors import BacktestError

PNG = b"\x89PNG\r\n\x1a\n"


def test_defaults_are_explicit_and_non_zero():
    costs = Costs()
    assert costs.to_dict() == {
        "fee_bps": 10.0,
        "slippage_bps": 2.0,
        "spread_bps": 2.0,
        "use_bid_ask": True,
    }
    buy, sell = costs.rates(make_bars([100.0, 101.0]))
    # 10 bps fee + 2 bps slippage + half of a 2 bps spread, per side
    assert buy.tolist() == pytest.approx([0.0013]) and sell.tolist() == pytest.approx([0.0013])


def test_bid_ask_rates_per_side_and_bar():
    bars = make_bars([100.0, 200.0], bid=[100.0, 199.0], ask=[100.2, 200.0])  # close = bid, ask
    buy, sell = Costs(fee_bps=0, slippage_bps=0).rates(bars)
    np.testing.assert_allclose(buy, [0.002, 0.0])
    np.testing.assert_allclose(sell, [0.0, 0.005])
    forced = Costs(fee_bps=0, slippage_bps=0, spread_bps=4, use_bid_ask=False)
    assert forced.source(bars) == "spread_bps" and forced.rates(bars)[0].tolist() == [0.0002]


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"fee_bps": -1}, "fee_bps"), ({"slippage_bps": np.nan}, "slippage")]
)
def test_invalid_costs_are_rejected(kwargs, message):
    with pytest.raises(BacktestError, match=message):
        Costs(**kwargs)


def test_quotes_that_do_not_bracket_the_close_are_an_error_naming_the_row():
    bars = make_bars([100.0, 101.0, 102.0], bid=[99.9, 101.5, 101.9], ask=[100.1, 102.0, 102.1])
    with pytest.raises(BacktestError, match="close 101.0 lies outside bid 101.5 .* at row 1 "):
        backtest(bars, series(bars, [1, 0, 0]))


def test_plots_are_written_as_png(tmp_path):
    bars = random_bars(200, seed=2)
    rng = np.random.default_rng(2)
    result = backtest(bars, series(bars, rng.choice([-1.0, 0.0, 1.0], len(bars))))
    paths = save_plots(result, bars, tmp_path / "plots", benchmark=buy_and_hold(bars))
    assert set(paths) == {"equity", "drawdown", "asset_equity", "trades_RND"}
    for path in paths.values():
        assert path.read_bytes()[:8] == PNG and path.stat().st_size > 5000
    assert not [p for p in (tmp_path / "plots").iterdir() if p.name.startswith(".")]


def test_trades_of_many_assets_need_a_choice(tmp_path):
    a, b = make_bars([1.0, 2.0, 3.0], symbol="A"), make_bars([3.0, 2.0, 1.0], symbol="B")
    pos = pd.DataFrame({"A": [1.0, 0, 0], "B": [-1.0, 0, 0]}, index=a.index)
    result = backtest({"A": a, "B": b}, pos)
    with pytest.raises(BacktestError, match="asset="):
        plot_trades(a, result.trades, tmp_path / "t.png")
    assert plot_trades(a, result.trades, tmp_path / "t.png", asset="A").exists()
