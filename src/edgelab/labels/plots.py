"""Pictures of barrier labels: one window of candles with a bar's brackets and its label.

`barrier_figure` draws the bars (or their Heikin-Ashi candles) around one entry bar, the
entry price, the long and short take-profit / stop-loss levels over the horizon, where
each trade exits, and the label as the title. `save_png` writes it atomically. Figures are
built with `matplotlib.figure.Figure` directly (Agg canvas, no pyplot, no global backend
state, no display needed). Candles are drawn with plain matplotlib
(vertical wick lines + body bars) rather than mplfinance: one more dependency for a
single chart is not worth it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import talib
from matplotlib.figure import Figure

from edgelab.errors import LabelError
from edgelab.figures import save_png as _save_png
from edgelab.labels.barriers import REASON_NAMES, barrier_labels, barrier_prices, walk_barrier
from edgelab.labels.base import OHLC

UP_COLOR, DOWN_COLOR = "#26a69a", "#ef5350"
REASON_COLORS = {
    "take_profit": "tab:green",
    "stop_loss": "tab:red",
    "horizon": "0.5",
    "end_of_data": "0.5",
}


@dataclass(frozen=True)
class BracketView:
    """One bracket as drawn: its levels and where the walk left it."""

    side: str
    take_profit: float
    stop_loss: float
    exit_idx: int
    exit_price: float
    reason: str


def bar_position(bars: pd.DataFrame, *, at: str | pd.Timestamp | None, index: int | None) -> int:
    """Row position of the bar at timestamp `at` (exact bar open time) or of row `index`."""
    if (at is None) == (index is None):
        raise LabelError("give exactly one of --at TIMESTAMP or --index I")
    n = len(bars)
    if index is not None:
        if not -n <= index < n:
            raise LabelError(f"--index {index} is outside the bars (0 .. {n - 1})")
        return index % n
    ts = pd.Timestamp(at)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    pos = int(bars.index.searchsorted(ts))
    if pos < n and bars.index[pos] == ts:
        return pos
    near = bars.index[min(pos, n - 1)]
    raise LabelError(f"no bar opens at {ts}; the nearest bar opens at {near} (use --at {near})")


def brackets_at(
    bars: pd.DataFrame,
    pos: int,
    *,
    tp_atr: float,
    sl_atr: float,
    atr_window: int,
    max_horizon: int,
    heikin_ashi: bool,
) -> tuple[pd.DataFrame, float, list[BracketView]]:
    """Prices used, entry price and both brackets of the entry at row `pos` (same rules as the labels)."""
    prices = barrier_prices(bars, heikin_ashi=heikin_ashi)
    o, h, lo, c = (prices[k].to_numpy(dtype=np.float64) for k in OHLC)
    atr = talib.ATR(h, lo, c, timeperiod=atr_window)[pos]
    if not np.isfinite(atr):
        raise LabelError(f"bar {pos} is inside the ATR({atr_window}) warm-up: no barriers there")
    entry = float(c[pos])
    views = []
    for side, d in (("long", 1), ("short", -1)):
        tp, sl = entry + d * tp_atr * atr, entry - d * sl_atr * atr
        e, p, r = walk_barrier(o, h, lo, c, pos, entry, tp, sl, d, max_horizon)
        views.append(BracketView(side, tp, sl, int(e), float(p), REASON_NAMES[int(r)]))
    return prices, entry, views


def _draw_candles(ax, prices: pd.DataFrame, start: int, stop: int) -> None:
    x = np.arange(start, stop)
    o, h, lo, c = (prices[k].to_numpy()[start:stop] for k in OHLC)
    colors = np.where(c >= o, UP_COLOR, DOWN_COLOR)
    ax.vlines(x, lo, h, colors=colors, linewidth=0.8)
    body = np.abs(c - o)
    # a zero-height body would vanish; give it a hairline height
    body = np.where(body > 0, body, (h - lo).max(initial=1.0) * 1e-3)
    ax.bar(x, body, bottom=np.minimum(o, c), width=0.7, color=colors, edgecolor=colors)


def _draw_brackets(ax, pos: int, span_end: int, entry: float, views: list[BracketView]) -> None:
    ax.axvspan(pos + 0.5, span_end + 0.5, color="0.85", alpha=0.4, label="horizon")
    ax.hlines(entry, pos, span_end, colors="black", linewidth=1.2, label=f"entry {entry:.5g}")
    ax.plot([pos], [entry], marker="o", color="black")
    styles = {"long": ("tab:green", "tab:red"), "short": ("tab:olive", "tab:purple")}
    for v in views:
        tp_color, sl_color = styles[v.side]
        tp_label, sl_label = f"{v.side} take-profit", f"{v.side} stop-loss"
        ax.hlines(v.take_profit, pos, span_end, colors=tp_color, linestyles="--",
                  label=f"{tp_label} {v.take_profit:.5g}")  # fmt: skip
        ax.hlines(v.stop_loss, pos, span_end, colors=sl_color, linestyles=":",
                  label=f"{sl_label} {v.stop_loss:.5g}")  # fmt: skip
        ax.plot([v.exit_idx], [v.exit_price], marker="^" if v.side == "long" else "v",
                markersize=10, color=REASON_COLORS[v.reason], markeredgecolor="black",
                linestyle="none", label=f"{v.side} exit: {v.reason}")  # fmt: skip


def barrier_figure(
    bars: pd.DataFrame,
    pos: int,
    *,
    window: int = 60,
    tp_atr: float = 1.5,
    sl_atr: float = 1.0,
    atr_window: int = 14,
    max_horizon: int = 24,
    heikin_ashi: bool = False,
) -> Figure:
    """A figure of `window` bars around row `pos` with its barrier brackets and label."""
    params = {"tp_atr": tp_atr, "sl_atr": sl_atr, "atr_window": atr_window,
              "max_horizon": max_horizon, "heikin_ashi": heikin_ashi}  # fmt: skip
    labels = barrier_labels(bars, **params)
    prices, entry, views = brackets_at(bars, pos, **params)
    n = len(bars)
    window = max(int(window), 2)
    start = max(0, min(pos - (2 * window) // 3, n - window))
    stop = min(n, start + window)
    fig = Figure(figsize=(12, 6), dpi=100)
    ax = fig.subplots()
    _draw_candles(ax, prices, start, stop)
    _draw_brackets(ax, pos, min(pos + max_horizon, n - 1), entry, views)
    code = labels.label.iloc[pos]
    name = "no label (outcome unknown)" if np.isnan(code) else labels.label_map[int(code)]
    ax.set_title(
        f"{bars.attrs.get('symbol', '')} {bars.index[pos]}: label {name}   "
        f"(TP {tp_atr:g}xATR, SL {sl_atr:g}xATR, ATR({atr_window}), horizon {max_horizon}, "
        f"{'Heikin-Ashi' if heikin_ashi else 'candles'})"
    )
    ticks = np.linspace(start, stop - 1, num=min(8, stop - start)).astype(int)
    ax.set_xticks(ticks)
    ax.set_xticklabels([bars.index[t].strftime("%Y-%m-%d %H:%M") for t in ticks], rotation=20)
    ax.set_xlim(start - 1, stop)
    ax.legend(loc="upper left", fontsize=8, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def save_png(fig: Figure, path: str | Path) -> Path:
    """Write `fig` as a PNG to `path` atomically (temp file in the same folder, then rename)."""
    return _save_png(fig, path)
