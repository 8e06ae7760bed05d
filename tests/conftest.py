"""Suite-wide guard: no test reaches beyond this machine."""

from __future__ import annotations

import socket

import pytest

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@pytest.fixture(autouse=True)
def no_internet(monkeypatch):
    """Refuse every IP connection that is not to the loopback address (local fake servers
    on 127.0.0.1 are how network code is tested); Unix sockets are unaffected."""
    real_connect = socket.socket.connect

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in LOOPBACK:
            raise AssertionError(f"test tried to reach {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
