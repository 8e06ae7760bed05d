"""Fixtures for the downloader tests: a fake Binance on 127.0.0.1, a temp store, a fixed
clock, and a guard that fails any test trying to reach beyond the loopback interface."""

from __future__ import annotations

import socket

import pytest
from fake_exchange import HOUR, T0, FakeBinance, make_series

from edgelab.data.store import BarStore


@pytest.fixture(autouse=True)
def no_internet(monkeypatch):
    """Refuse every socket connection that is not to 127.0.0.1."""
    real_connect = socket.socket.connect

    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise AssertionError(f"test tried to reach {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


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
