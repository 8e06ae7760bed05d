"""Small shared fixtures for the token tests: normalized synthetic bars, a Markov token
language, and a tiny `bert_tokens` parameter set."""

from __future__ import annotations

import numpy as np

from edgelab.data.sources.synthetic import synthetic_market
from edgelab.features.candles import heikin_ashi
from edgelab.features.normalize import stochastic_normalize


def normalized_bars(n_bars: int = 2600, seed: int = 1, window: int = 50) -> np.ndarray:
    """Mid-price Heikin-Ashi OHLC of one synthetic asset, stochastically normalized over
    `window` bars, warm-up dropped: (n_bars - window + 1, 4) float32 in [0, 1]."""
    bars = synthetic_market(n_bars, seed=seed)["SYN0"]
    frame = stochastic_normalize(heikin_ashi(bars, use_mid=True), window).dropna()
    return frame.to_numpy(np.float32)


def markov_tokens(n: int, vocab: int, seed: int, table_seed: int = 0) -> np.ndarray:
    """A token language with structure: each token has exactly two successors (two random
    permutations), chosen with equal odds; every token has two predecessors too, so the
    stationary law is uniform and the most-frequent-token baseline is ~1/vocab."""
    table = np.random.default_rng(table_seed)
    succ = np.stack([table.permutation(vocab), table.permutation(vocab)], 1)
    coin = np.random.default_rng(seed).integers(0, 2, n)
    out = np.empty(n, dtype=np.int64)
    out[0] = 0
    for i in range(1, n):
        out[i] = succ[out[i - 1], coin[i]]
    return out


TINY = {
    "tokenizer": {"codebook_size": 32, "hidden": 16, "code_dim": 4, "epochs": 2, "batch_size": 128},
    "bert": {"context": 12, "d_model": 16, "n_heads": 2, "layers": 1, "ff": 32},
    "pretrain": {"epochs": 1, "stride": 4},
    "finetune": {"epochs": 1, "stride": 2},
}
