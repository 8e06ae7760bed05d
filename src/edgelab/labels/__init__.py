"""edgelab.labels: what a model learns to predict; the only stage that looks forward.

Labelers take Bars and return `Labels` aligned to the bars' index (see `base.Labels`):
a class code or target per bar, NaN where there is none, and `t_end`, the time each
label's outcome is known, which the dataset splits purge and embargo by.

Registry (`LABELERS`, `make_labels(bars, kind, **params)`):

- `direction`: up/down, or up/down/flat with a dead band (`direction.direction_labels`).
- `forward_return`: simple or log return over h bars (`returns.forward_returns`).
- `barrier`: long/short/hold from ATR take-profit / stop-loss barriers
  (`barriers.barrier_labels`); its bar walk `barriers.walk_barrier` is shared with the
  backtest's trade simulator.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pandas as pd

from edgelab.errors import LabelError, unknown_name
from edgelab.labels.barriers import (
    BARRIER_LABEL_MAP,
    REASON_END,
    REASON_HORIZON,
    REASON_NAMES,
    REASON_SL,
    REASON_TP,
    barrier_labels,
    walk_barrier,
    walk_barriers_batch,
)
from edgelab.labels.base import Labels
from edgelab.labels.direction import direction_labels
from edgelab.labels.returns import forward_returns

LABELERS: dict[str, Callable[..., Labels]] = {
    "direction": direction_labels,
    "forward_return": forward_returns,
    "barrier": barrier_labels,
}


def labeler_params(kind: str) -> dict[str, Any]:
    """The parameters of a labeler and their defaults (`inspect.Parameter.empty` if none)."""
    fn = _labeler(kind)
    sig = inspect.signature(fn)
    return {name: p.default for name, p in list(sig.parameters.items())[1:]}


def _labeler(kind: str) -> Callable[..., Labels]:
    if kind not in LABELERS:
        raise LabelError(unknown_name("label kind", str(kind), LABELERS))
    return LABELERS[kind]


def make_labels(bars: pd.DataFrame, kind: str, /, **params: Any) -> Labels:
    """Compute labels of registry `kind` on `bars`; unknown kinds or parameters raise `LabelError`."""
    fn = _labeler(kind)
    known = labeler_params(kind)
    for name in params:
        if name not in known:
            raise LabelError(f"label kind '{kind}': " + unknown_name("parameter", name, known))
    return fn(bars, **params)


__all__ = [
    "BARRIER_LABEL_MAP",
    "LABELERS",
    "REASON_END",
    "REASON_HORIZON",
    "REASON_NAMES",
    "REASON_SL",
    "REASON_TP",
    "Labels",
    "barrier_labels",
    "direction_labels",
    "forward_returns",
    "labeler_params",
    "make_labels",
    "walk_barrier",
    "walk_barriers_batch",
]
