"""Fixtures for the backtest tests (no files, no network)."""

from __future__ import annotations

import pandas as pd
import pytest
from bt_bars import make_bars


@pytest.fixture
def bars5() -> pd.DataFrame:
    return make_bars([100.0, 110.0, 99.0, 99.0, 120.0])
