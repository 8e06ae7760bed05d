"""Token model tests: torch on one thread (the machine is shared; results stay exact).

Module scope, so the module-scoped fixtures that fit models run on one thread too (an
autouse fixture comes before the other fixtures of its scope)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
