"""Writing figures: the one atomic PNG writer behind every plot edgelab makes.

A crash never leaves half a PNG: the figure is written to a temp file in the target
folder, then renamed over the target.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any


def save_png(fig: Any, path: str | os.PathLike, **savefig_kwargs: Any) -> Path:
    """Write matplotlib figure `fig` as a PNG at `path` atomically and release it.

    `savefig_kwargs` go to `Figure.savefig` (e.g. `dpi`, `bbox_inches`). Works for
    pyplot figures and bare `matplotlib.figure.Figure` objects alike.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", **savefig_kwargs)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
        if "matplotlib.pyplot" in sys.modules:  # free pyplot's reference, if it holds one
            sys.modules["matplotlib.pyplot"].close(fig)
    return path
