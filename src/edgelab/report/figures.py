"""Report figures that span several models: the stitched out-of-sample equity of a
walk-forward and the comparison chart of an ablation.

Each function writes one PNG atomically (temp file + rename) with matplotlib's Agg
backend and returns its path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from edgelab.figures import save_png

__all__ = ["stitched_equity_png"]


def stitched_equity_png(
    equity: Mapping[str, pd.Series],
    benchmark: pd.Series,
    boundaries: Sequence[pd.Timestamp],
    path: str | Path,
    title: str = "",
) -> Path:
    """Equity curves (net of costs, 1.0 at the start) of every model over the stitched
    out-of-sample history, buy & hold dashed, a dotted vertical line where each fold's
    test window (a retrained model) begins."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9.0, 4.0), dpi=100)
    for name, curve in equity.items():
        ax.plot(curve.index, curve.to_numpy(), lw=1.1, label=str(name))
    ax.plot(
        benchmark.index, benchmark.to_numpy(), lw=1.0, ls="--", color="0.35", label="buy & hold"
    )
    for stamp in boundaries[1:]:
        ax.axvline(stamp, color="0.8", lw=0.7, ls=":")
    ax.axhline(1.0, color="0.7", lw=0.6)
    ax.set(ylabel="equity (net of costs)", title=title)
    ax.legend(fontsize=7, loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    return save_png(fig, path)
