"""Opt-in checks on real market data in ../shared/data (skipped when it is absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from edgelab.data.sources import load_bars
from edgelab.features import FEATURE_SETS, compute_features

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is not available"),
]


@pytest.mark.parametrize("name", sorted(n for n, s in FEATURE_SETS.items() if not s.panel))
def test_single_asset_sets_on_btc_1h(name):
    bars = load_bars(str(DATA / "binance_BTCUSDT_1h.parquet"))
    (btc,) = bars.values()
    out = compute_features(btc, name)
    w = out.attrs["warmup"]
    assert out.index.equals(btc.index) and len(out) > 70_000
    assert np.isfinite(out.iloc[w:].to_numpy()).all()


def test_multi_asset8_on_the_15m_panel():
    symbols = ("BTC", "ETH", "SOL", "XRP", "BNB", "ADA", "DOGE", "LINK", "AVAX", "LTC", "DOT")
    assets = {}
    for sym in symbols:
        (bars,) = load_bars(str(DATA / f"binance_{sym}USDT_15m.parquet")).values()
        assets[sym] = bars
    out = compute_features(assets, "multi_asset8")
    assert out.shape[1] == 8 * len(symbols)
    assert out.index.min() <= pd.Timestamp("2023-04-01", tz="UTC") and len(out) > 35_000
    assert np.isfinite(out.iloc[out.attrs["warmup"] :].to_numpy()).all()
