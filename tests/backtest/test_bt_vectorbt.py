"""The engine against vectorbt on a random long/short/flat signal (opt-in: slow, needs the
`bench` extra). vectorbt's `from_signals` with all-in orders is the same account model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bt_bars import random_bars

from edgelab.backtest import Costs, backtest

pytestmark = pytest.mark.slow


def test_equity_and_orders_equal_vectorbt_to_1e9():
    vbt = pytest.importorskip("vectorbt")
    bars = random_bars(20_000, seed=4)
    rng = np.random.default_rng(4)
    change = rng.random(len(bars)) < 0.01
    pos = pd.Series(np.where(change, rng.choice([-1.0, 0.0, 1.0], len(bars)), np.nan), bars.index)
    pos.iloc[0] = 0.0
    pos = pos.ffill()
    result = backtest(bars, pos, Costs(fee_bps=10, slippage_bps=0, spread_bps=0, use_bid_ask=False))
    p = pos.to_numpy()
    prev = np.concatenate(([0.0], p[:-1]))
    pf = vbt.Portfolio.from_signals(
        bars["close"],
        entries=(p == 1) & (prev != 1),
        exits=(p == 0) & (prev == 1),
        short_entries=(p == -1) & (prev != -1),
        short_exits=(p == 0) & (prev == -1),
        fees=0.001,
        init_cash=1.0,
        freq="1h",
    )
    np.testing.assert_allclose(result.equity.to_numpy(), pf.value().to_numpy(), rtol=1e-9)
    assert result.kpis["n_orders"] == pf.orders.count()
    assert result.kpis["n_trades"] == pf.trades.count()
