"""Every deep model finds a planted AR(1) signal on held-out bars and none where none exists.

The synthetic market (`signal="ar"`): r_t = s * r_{t-1} + eps_t. With s = 0.4 the best
forecast's direction accuracy is 1/2 + arcsin(0.4)/pi = 63%; a model reading the last
return reaches a test AUC near 0.66 (measured: 0.65-0.67 for every network). With s = 0
(a random walk with the same shocks) the test AUC must stay within noise of 0.5: on
~600 test rows its standard error is ~0.024, so the band is 0.5 +- 0.07 (3 sigma).
The GRU runs in the ordinary suite; the others are slower and marked slow.
"""

from __future__ import annotations

import numpy as np
import pytest
from deep_helpers import auc, market_samples

from edgelab.models.base import create_model

CASES = {
    "gru": {"hidden": 16},
    "gru_seq2seq": {"hidden": 16, "seq2seq": True, "chunk": 128, "chunks_per_batch": 8},
    "lstm": {"hidden": 16, "layers": 1},
    "transformer": {"d_model": 16, "n_heads": 2, "layers": 1, "ff": 32},
    "hybrid": {"d_model": 16, "n_heads": 2, "ff": 32, "encoder_layers": 1, "lstm_hidden": 16,
               "lstm_layers": 1, "pool_heads": 2},
    "resnet1d": {"channels": 8, "stages": [1, 1], "hidden": 16},
}  # fmt: skip
FAST = ("gru",)
TRAIN = {"window": 16, "epochs": 6, "lr": 3e-3, "batch_size": 128, "patience": 2,
         "monitor": "auc", "plots": False}  # fmt: skip


@pytest.fixture(scope="module")
def planted():
    return market_samples(strength=0.4, n_bars=3000, window=16, seed=0)


@pytest.fixture(scope="module")
def random_walk():
    return market_samples(strength=0.0, n_bars=3000, window=16, seed=0)


def _fit_auc(case: str, data) -> float:
    name = case.split("_")[0]
    model = create_model(name, **TRAIN, **CASES[case]).fit(data["train"], data["val"])
    return auc(data["test"], model.predict(data["test"]))


def _cases():
    return [pytest.param(c, marks=() if c in FAST else pytest.mark.slow) for c in CASES]


@pytest.mark.parametrize("case", _cases())
def test_finds_the_planted_signal(case, planted):
    assert _fit_auc(case, planted) > 0.6


@pytest.mark.parametrize("case", _cases())
def test_no_edge_on_a_random_walk(case, random_walk):
    assert abs(_fit_auc(case, random_walk) - 0.5) < 0.07


@pytest.mark.slow
def test_resnet_return_head_reaches_a_positive_ic():
    """L1 on the forward return over a 3-asset panel: IC of expected_return on test."""
    from scipy.stats import spearmanr

    data = market_samples(strength=0.4, n_bars=2000, window=16, assets=3, target="return")
    params = {**TRAIN, **CASES["resnet1d"], "monitor": "ic"}
    model = create_model("resnet1d", **params).fit(data["train"], data["val"])
    pred = model.predict(data["test"])["expected_return"].to_numpy()
    ic = spearmanr(pred, data["test"].targets()).statistic
    assert ic > 0.2 and np.isfinite(pred).all()
