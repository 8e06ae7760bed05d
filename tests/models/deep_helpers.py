"""Samples from the synthetic market for the deep-model tests (no pipeline needed).

Features per bar t (causal): the bar's log return and its square, both divided by the
train span's standard deviation of returns. Target: the direction of bar t+1 (binary
{0: down, 1: up}, or three classes with a dead band), `forward_return` its simple return.
The data is split 60/20/20 in time; val and test keep `window - 1` context rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from edgelab.data.sources.synthetic import synthetic_market
from edgelab.dataset.samples import Samples, valid_window_rows

BINARY = {0: "down", 1: "up"}
THREE = {0: "flat", 1: "up", 2: "down"}


def market_samples(
    strength: float = 0.4,
    n_bars: int = 3000,
    window: int = 16,
    seed: int = 0,
    assets: int = 1,
    classes: int = 2,
    target: str = "class",
) -> dict[str, Samples]:
    bars = synthetic_market(n_bars=n_bars, assets=assets, signal="ar", strength=strength, seed=seed)
    cut_train, cut_val = int(0.6 * (n_bars - 1)), int(0.8 * (n_bars - 1))
    rets = {k: np.diff(np.log(b["close"].to_numpy())) for k, b in bars.items()}
    scale = np.std(np.concatenate([r[:cut_train] for r in rets.values()]))
    spans = {"train": (0, cut_train), "val": (cut_train, cut_val), "test": (cut_val, n_bars - 2)}
    out = {}
    for split, (a, b) in spans.items():
        lo = max(0, a - (window - 1))
        parts = {k: [] for k in ("X", "y", "fwd", "idx", "asset", "target")}
        for aid, (name, r) in enumerate(rets.items()):
            x = r[lo:b] / scale
            nxt = r[lo + 1 : b + 1]
            parts["X"].append(np.stack([x, x * x], 1))
            parts["fwd"].append(np.expm1(nxt))
            if target == "return":
                parts["y"].append(np.expm1(nxt))
            elif classes == 2:
                parts["y"].append((nxt > 0).astype(float))
            else:
                band = 0.4 * scale
                parts["y"].append(np.where(nxt > band, 1.0, np.where(nxt < -band, 2.0, 0.0)))
            parts["idx"].append(bars[name].index[1 + lo : 1 + b])
            parts["asset"].append(np.full(b - lo, aid, dtype=np.int32))
            parts["target"].append(np.arange(lo, b) >= a)
        asset = np.concatenate(parts["asset"])
        labeled = np.concatenate(parts["target"])
        y = np.concatenate(parts["y"])
        y[~labeled] = np.nan
        out[split] = Samples(
            X=np.concatenate(parts["X"]).astype(np.float32),
            y=y,
            index=parts["idx"][0].append(parts["idx"][1:]),
            asset=asset,
            rows=valid_window_rows(asset, labeled, window),
            feature_names=["r", "r2"],
            assets=list(rets),
            label_map={} if target == "return" else (BINARY if classes == 2 else THREE),
            target=target,
            window=window,
            forward_return=np.concatenate(parts["fwd"]),
            meta={"label_sign": {0: -1, 1: 1} if classes == 2 else {0: 0, 1: 1, 2: -1}},
        )
    return out


def auc(samples: Samples, pred: pd.DataFrame) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(samples.targets() == 1, pred["p_up"]))
