"""The stages `edgelab.pipeline.run_experiment` strings together, one function each.

This module owns the glue between the library stages: loading the configured data,
turning predictions into positions through the configured policy, the backtests of
every model and of buy & hold on the test span (or a walk-forward's stitched
out-of-sample span), the leaderboard with its intervals and verdicts, and the progress
display. Writing the run folder is `edgelab.pipeline_outputs`. Each function takes what
the previous stage produced; none reads global state.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from edgelab.config import ExperimentConfig
from edgelab.errors import BacktestError, ConfigError, DataError, SourceError


@dataclass
class Outcome:
    """What the stages produced, from bars to backtests (and metrics.json's payload)."""

    bars: dict[str, pd.DataFrame]
    features: dict[str, pd.DataFrame]
    labels: dict[str, Any]
    dataset: Any  # edgelab.dataset.build.Dataset
    preds: dict[str, dict[str, pd.DataFrame]]  # model -> split -> predictions
    results: dict[str, Any]  # model -> BacktestResult on the test span
    benchmark: Any  # buy & hold BacktestResult
    metrics: dict[str, Any] = field(default_factory=dict)
    raw_preds: dict[str, dict[str, pd.DataFrame]] = field(default_factory=dict)  # before post
    post: dict[str, Any] = field(default_factory=dict)  # model -> PostProcess
    decisions: dict[str, pd.DataFrame] = field(default_factory=dict)  # what the policy read
    edge: dict[str, Any] = field(default_factory=dict)  # edge.json (history-dependent)

    @property
    def positions(self) -> dict[str, pd.DataFrame]:
        return {name: r.positions for name, r in self.results.items()}


# --- progress ----------------------------------------------------------------------------


class Stages:
    """One rich progress bar per pipeline stage (silent when `quiet`)."""

    def __init__(self, console: Console, quiet: bool = False) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<9}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=quiet,
        )
        self.seconds: dict[str, float] = {}

    def __enter__(self) -> Stages:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    @contextmanager
    def stage(self, name: str, total: int = 1):
        """Show `name` with `total` steps; yields `step(n=1)` to advance."""
        task = self.progress.add_task(name, total=max(total, 1))
        start = time.perf_counter()
        yield lambda n=1: self.progress.advance(task, n)
        self.progress.update(task, completed=max(total, 1))
        self.seconds[name] = time.perf_counter() - start


# --- data ------------------------------------------------------------------------------


def load_data(config: ExperimentConfig) -> dict[str, pd.DataFrame]:
    """The configured bars `{symbol: Bars}`: source, window, symbol subset, resampling."""
    from edgelab.data.sources import load_bars

    dc = config.data
    try:
        bars = load_bars(
            dc.source, data_dir=dc.data_dir, policy=dc.policy, start=dc.start, end=dc.end
        )
    except SourceError as exc:
        raise ConfigError(f"'data.source': {exc}") from None
    if dc.symbols is not None:
        missing = [s for s in dc.symbols if s not in bars]
        if missing:
            from edgelab.errors import unknown_name

            raise ConfigError("'data.symbols': " + unknown_name("symbol", missing[0], bars))
        bars = {s: bars[s] for s in dc.symbols}
    if dc.interval is not None:
        from edgelab.data.resample import resample_bars

        try:
            bars = {s: resample_bars(b, dc.interval) for s, b in bars.items()}
        except DataError as exc:
            raise ConfigError(f"'data.interval': {exc}") from None
    empty = [s for s, b in bars.items() if len(b) == 0]
    if not bars or empty:
        raise ConfigError(
            f"'data': no bars for {empty or 'any asset'} in {dc.source} between {dc.start} and {dc.end}"
        )
    return bars


def calendar_of(config: ExperimentConfig, bars: dict[str, pd.DataFrame]) -> str:
    """The market calendar for annualization: configured, else what the data says."""
    for chosen in (config.backtest.calendar, config.data.calendar):
        if chosen != "auto":
            return chosen
    first = next(iter(bars.values()))
    found = (first.attrs.get("quality") or {}).get("calendar") or first.attrs.get("calendar")
    if found:
        return str(found)
    from edgelab.data.intervals import infer_interval
    from edgelab.data.schema import detect_calendar

    step = infer_interval(first.index)
    found, _ = detect_calendar(first.index, step) if step is not None else (None, "")
    return found or "crypto"


# --- policy and backtest ---------------------------------------------------------------


def costs_of(config: ExperimentConfig):
    from edgelab.backtest.costs import Costs

    c = config.backtest.costs
    try:
        return Costs(c.fee_bps, c.slippage_bps, c.spread_bps, c.use_bid_ask)
    except BacktestError as exc:
        raise ConfigError(f"'backtest.costs': {exc}") from None


def _prediction_columns(config: ExperimentConfig) -> list[str]:
    """The columns the models' predictions will have, known before any data is read."""
    from edgelab.labels.barriers import BARRIER_LABEL_MAP
    from edgelab.labels.direction import BINARY_LABEL_MAP, TERNARY_LABEL_MAP

    lab = config.labels
    if lab.kind == "forward_return":
        return ["expected_return"]
    if lab.kind == "barrier":
        names = BARRIER_LABEL_MAP
    else:
        names = BINARY_LABEL_MAP if lab.classes == 2 else TERNARY_LABEL_MAP
    return [f"p_{names[k]}" for k in sorted(names)]


def check_policy(config: ExperimentConfig):
    """The configured policy; ConfigError naming `policy.*` when its kind or params are
    unknown or it cannot read what the models will predict (a dry run on two rows)."""
    from edgelab.backtest.policies import BracketPolicy, get_policy

    pc = config.policy
    try:
        policy = get_policy(pc.kind, **pc.params)
    except (BacktestError, ConfigError) as exc:
        raise ConfigError(f"'policy': {exc}") from None
    cols = _prediction_columns(config)
    fake = pd.DataFrame(
        {c: [0.5, 0.5] if c.startswith("p_") else [0.0, 0.0] for c in cols},
        index=pd.date_range("2000-01-01", periods=2, freq="h", tz="UTC"),
    )
    if len(cols) > 1:
        fake[:] = 1.0 / len(cols)
    try:
        policy.signal(fake) if isinstance(policy, BracketPolicy) else policy.positions(fake)
    except BacktestError as exc:
        raise ConfigError(
            f"'policy.kind' {pc.kind} cannot use the predictions of labels.kind "
            f"'{config.labels.kind}' (columns {', '.join(cols)}): {exc}"
        ) from None
    return policy


def backtest_models(
    config,
    bars,
    span,
    preds: dict[str, pd.DataFrame],
    step,
    policies: dict[str, Any] | None = None,
):
    """Backtest every model's predictions (or decisions) through its policy, and buy &
    hold, on `span` (a `Span`: the test span, or a walk-forward's out-of-sample span)
    with costs. `policies`: model -> Policy (default: the configured policy for all).
    Returns ({model: BacktestResult}, buy & hold result)."""
    from edgelab.backtest.engine import backtest, buy_and_hold
    from edgelab.backtest.policies import BracketPolicy, run_policy

    configured = check_policy(config)
    costs = costs_of(config)
    calendar = calendar_of(config, bars)
    test_bars = {a: b.loc[span.start : span.end] for a, b in bars.items()}
    weights = config.backtest.weights
    results = {}
    for name, pred in preds.items():
        policy = (policies or {}).get(name, configured)
        if isinstance(policy, BracketPolicy):
            # One asset (checked before any work). The bars before the span go along so
            # the bracket's ATR is warm at the first bar; trades start in the span.
            history = next(iter(bars.values())).loc[: span.end]
            results[name] = run_policy(history, pred, policy, costs, calendar=calendar)
        else:
            pos = policy.positions(pred)
            frame = pos.to_frame(next(iter(test_bars))) if isinstance(pos, pd.Series) else pos
            frame = frame.reindex(columns=list(test_bars)).sort_index()
            results[name] = backtest(test_bars, frame, costs, weights=weights, calendar=calendar)
        step()
    bench = buy_and_hold(test_bars, costs, weights=weights, calendar=calendar)
    step()
    return results, bench


# --- leaderboard -----------------------------------------------------------------------


def leaderboard(metrics: dict[str, dict[str, Any]], target: str) -> list[dict[str, Any]]:
    """One row per model, best test Sharpe first (undefined Sharpe last), with the
    bootstrap intervals of AUC and Sharpe when the metrics carry them."""
    rows = []
    for name, m in metrics.items():
        test, bt = m["test"], m["backtest"]
        ci = m.get("intervals") or {}
        row = {"model": name, "type": m["type"]}
        if target == "class":
            auc = ci.get("auc") or {}
            row.update(
                auc=test.get("roc_auc"),
                auc_low=auc.get("low"),
                auc_high=auc.get("high"),
                accuracy=test.get("accuracy"),
            )
        else:
            row.update(ic=test.get("spearman_ic"), sign_hit_rate=test.get("sign_hit_rate"))
        sharpe = ci.get("sharpe") or {}
        row.update(
            sharpe=bt.get("sharpe"),
            sharpe_low=sharpe.get("low"),
            sharpe_high=sharpe.get("high"),
            total_return=bt.get("total_return"),
            max_drawdown=bt.get("max_drawdown"),
            n_trades=bt.get("n_trades"),
        )
        rows.append(row)

    def key(row):
        s = row["sharpe"]
        return (s is None or not np.isfinite(s), -(s if s is not None and np.isfinite(s) else 0.0))

    return sorted(rows, key=key)


def _num(value: Any, digits: int) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    return f"{value:.{digits}f}"


def _span(row: dict[str, Any], key: str, digits: int) -> str:
    """`estimate [low, high]`, compact for the terminal and the report."""
    text = _num(row.get(key), digits)
    low, high = row.get(f"{key}_low"), row.get(f"{key}_high")
    if low is None or high is None:
        return text
    return f"{text} [{_num(low, digits)}, {_num(high, digits)}]"


def board_rows(board: list[dict[str, Any]], edge: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Display rows of the leaderboard: AUC and Sharpe with their intervals, and from
    `edge` (edge.json) the deflated Sharpe ratio and the verdict."""
    verdicts = (edge or {}).get("models") or {}
    out = []
    for row in board:
        shown: dict[str, Any] = {"model": row["model"]}
        if "auc" in row:
            shown["AUC [CI]"] = _span(row, "auc", 3)
            shown["accuracy"] = row.get("accuracy")
        else:
            shown["IC"] = row.get("ic")
            shown["sign hit"] = row.get("sign_hit_rate")
        shown["Sharpe [CI]"] = _span(row, "sharpe", 2)
        shown["return"] = row.get("total_return")
        shown["max DD"] = row.get("max_drawdown")
        shown["trades"] = row.get("n_trades")
        found = verdicts.get(row["model"])
        if found is not None:
            shown["DSR"] = found.get("dsr")
            shown["edge after costs"] = "yes" if found["verdict"]["edge"] else "not shown"
        out.append(shown)
    return out


FORMAT_KEYS = {"accuracy": "accuracy", "return": "total_return", "max DD": "max_drawdown"}
#: Left out of the terminal table to keep it narrow (they stay in the report).
WIDE_ONLY = ("accuracy", "sign hit", "max DD", "trades")


def print_leaderboard(
    console: Console,
    board,
    benchmark: dict[str, Any],
    run_dir: Path,
    edge: dict[str, Any] | None = None,
    title: str = "Leaderboard: test span, after costs",
) -> None:
    """The leaderboard as a rich table (intervals, DSR, verdict), buy & hold of the same
    span, the trials counted, and where the report is."""
    from edgelab.report.html import fmt

    rows = board_rows(board, edge)
    table = Table(title=title)
    cols = [c for c in rows[0] if c not in WIDE_ONLY]
    for col in cols:
        keep = col in ("model", "edge after costs", "DSR", "return")
        table.add_column(col, justify="left" if col == "model" else "right", no_wrap=keep)
    for row in rows:
        cells = []
        for c in cols:
            text = _num(row[c], 2) if c == "DSR" else fmt(row[c], FORMAT_KEYS.get(c, c))
            if c == "edge after costs":
                text = (
                    f"[bold green]{text}[/bold green]"
                    if text == "yes"
                    else f"[yellow]{text}[/yellow]"
                )
            cells.append(text)
        table.add_row(*cells)
    bench = {"return": benchmark.get("total_return"), "max DD": benchmark.get("max_drawdown")}
    bench["Sharpe [CI]"] = _num(benchmark.get("sharpe"), 2)
    table.add_row(
        "[dim]buy & hold (span)[/dim]",
        *(
            f"[dim]{fmt(bench[c], FORMAT_KEYS.get(c, c))}[/dim]" if c in bench else ""
            for c in cols[1:]
        ),
    )
    console.print(table)
    if edge:
        console.print(trials_note(edge))
    report = run_dir / "report.html"
    console.print(f"[bold]run folder:[/bold] {run_dir}")
    if report.is_file():
        console.print(f"[bold]report:[/bold] {report}")


def trials_note(edge: dict) -> str:
    """One line on how the verdict was reached, for under the leaderboard."""
    level = edge.get("level") or 0.95
    runs = len(edge.get("earlier_runs") or []) + 1
    return (
        f"Intervals: {100 * level:.0f}% block bootstrap. Trials counted on this data: "
        f"{edge.get('n_trials')} models in {runs} run(s) (every run folder on the same data "
        "fingerprint). 'edge after costs: yes' needs the Sharpe interval after costs above 0 "
        "and a deflated Sharpe ratio (DSR) above 0.95."
    )
