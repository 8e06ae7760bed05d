"""Backtest plots as PNG files: equity against buy & hold, drawdown, per-asset equity and
trades on the price chart.

Figures are built with matplotlib's object API on the Agg canvas (no pyplot, no global
backend switch, safe in servers and tests). Each function writes one PNG atomically
(temporary file, then rename) and returns its path.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from edgelab.backtest.engine import BacktestResult
from edgelab.errors import BacktestError
from edgelab.figures import save_png

SIZE = (10, 4)
DPI = 110


def _save(fig: Figure, path: str | Path) -> Path:
    return save_png(fig, path, dpi=DPI, bbox_inches="tight")


def _axes(title: str, ylabel: str):
    fig = Figure(figsize=SIZE)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return fig, ax


def plot_equity(
    result: BacktestResult,
    path: str | Path,
    *,
    benchmark: BacktestResult | None = None,
    label: str = "strategy",
) -> Path:
    """Equity of `result` (net of costs) and, when given, of `benchmark` (buy & hold)."""
    fig, ax = _axes("Equity (net of costs)", "equity (start = 1)")
    ax.plot(result.equity.index, result.equity.to_numpy(), label=label, linewidth=1.2)
    if benchmark is not None:
        ax.plot(
            benchmark.equity.index,
            benchmark.equity.to_numpy(),
            label="buy & hold",
            linewidth=1.0,
            color="grey",
        )
    ax.legend(loc="best")
    return _save(fig, path)


def plot_drawdown(result: BacktestResult, path: str | Path) -> Path:
    """Drawdown from the running peak, in percent."""
    fig, ax = _axes("Drawdown", "% below peak")
    dd = 100.0 * result.drawdown
    ax.fill_between(dd.index, dd.to_numpy(), 0.0, color="tab:red", alpha=0.4, linewidth=0)
    return _save(fig, path)


def plot_asset_equity(result: BacktestResult, path: str | Path) -> Path:
    """One equity line per asset sleeve (each starts at 1)."""
    fig, ax = _axes("Equity per asset", "equity (start = 1)")
    for asset in result.asset_equity.columns:
        series = result.asset_equity[asset].dropna()
        ax.plot(series.index, series.to_numpy(), label=str(asset), linewidth=1.0)
    ax.legend(loc="best", fontsize="small", ncol=2)
    return _save(fig, path)


def plot_trades(
    bars: pd.DataFrame, trades: pd.DataFrame, path: str | Path, *, asset: str | None = None
) -> Path:
    """Close price with entries (triangles: up long, down short) and exits (crosses)."""
    if asset is not None:
        trades = trades[trades["asset"] == asset]
    elif trades["asset"].nunique() > 1:
        raise BacktestError("trades of several assets: pass asset= to plot one of them")
    name = asset or (str(trades["asset"].iloc[0]) if len(trades) else "")
    fig, ax = _axes(f"Trades {name}".strip(), "price")
    close = bars["close"]
    ax.plot(close.index, close.to_numpy(), color="black", linewidth=0.8, label="close")
    for direction, marker, color, text in (
        (1, "^", "tab:green", "long"),
        (-1, "v", "tab:red", "short"),
    ):
        side = trades[trades["direction"] == direction]
        ax.scatter(
            side["entry_time"],
            side["entry_price"],
            marker=marker,
            color=color,
            s=30,
            label=f"{text} entry",
            zorder=3,
        )
    ax.scatter(
        trades["exit_time"],
        trades["exit_price"],
        marker="x",
        color="tab:blue",
        s=25,
        label="exit",
        zorder=3,
    )
    ax.legend(loc="best", fontsize="small")
    return _save(fig, path)


def save_plots(
    result: BacktestResult,
    bars: pd.DataFrame | dict[str, pd.DataFrame],
    out_dir: str | Path,
    *,
    benchmark: BacktestResult | None = None,
    prefix: str = "",
) -> dict[str, Path]:
    """All backtest plots into `out_dir`; returns `{plot name: path}`. Trades are drawn for
    each asset (`trades_<asset>.png`)."""
    out = Path(out_dir)
    paths = {
        "equity": plot_equity(result, out / f"{prefix}equity.png", benchmark=benchmark),
        "drawdown": plot_drawdown(result, out / f"{prefix}drawdown.png"),
        "asset_equity": plot_asset_equity(result, out / f"{prefix}asset_equity.png"),
    }
    frames = bars if isinstance(bars, dict) else {next(iter(result.positions.columns)): bars}
    for asset, frame in frames.items():
        span = frame.loc[result.equity.index[0] : result.equity.index[-1]]
        paths[f"trades_{asset}"] = plot_trades(
            span, result.trades, out / f"{prefix}trades_{asset}.png", asset=str(asset)
        )
    return paths
