"""Fixtures for the downloader tests: a fake Binance on 127.0.0.1, a temp store, a fixed
clock (tests/conftest.py guards the loopback interface)."""

from __future__ import annotations

import pytest
from fake_exchange import HOUR, T0, FakeBinance, make_series

from edgelab.data.store import BarStore


@pytest.fixture
def store(tmp_path) -> BarStore:
    return BarStore(tmp_path / "store")


@pytest.fixture
def fake():
    """A fake Binance whose 'now' is half-way through bar 2500 of 1h BTCUSDT and ETHUSDT
    series (it serves no bar opening after its now)."""
    with FakeBinance(now_ms=T0 + 2500 * HOUR + 30 * 60_000) as server:
        server.klines[("BTCUSDT", "1h")] = make_series(
            T0, HOUR, 2600, gaps=[(100, 110), (999, 1003)]
        )
        server.klines[("ETHUSDT", "1h")] = make_series(T0, HOUR, 2600, seed=1, gaps=[(0, 7)])
        yield server
