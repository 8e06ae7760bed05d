"""Fixtures for the label tests (no files, no network)."""

from __future__ import annotations

import pandas as pd
import pytest
from label_refs import random_bars


@pytest.fixture
def bars_2k() -> pd.DataFrame:
    return random_bars(2000, seed=1)
