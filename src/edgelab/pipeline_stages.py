"""The stages `edgelab.pipeline.run_experiment` strings together, one function each.

This module owns the glue between the library stages and the run folder: loading the
configured data, turning predictions into positions through the configured policy,
the backtests of every model and of buy & hold on the test span, the leaderboard, the
progress display, and writing every output file (bundles, predictions, metrics, plots,
report). Each function takes what the previous stage produced; none reads global state.
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


def backtest_models(config, bars, split, preds: dict[str, pd.DataFrame], step):
    """Backtest every model's test predictions through the policy, and buy & hold, on the
    test span with costs. Returns ({model: BacktestResult}, buy & hold result)."""
    from edgelab.backtest.engine import backtest, buy_and_hold
    from edgelab.backtest.policies import BracketPolicy, run_policy

    policy = check_policy(config)
    costs = costs_of(config)
    calendar = calendar_of(config, bars)
    span = split.test
    test_bars = {a: b.loc[span.start : span.end] for a, b in bars.items()}
    weights = config.backtest.weights
    results = {}
    for name, pred in preds.items():
        if isinstance(policy, BracketPolicy):
            # One asset (checked before any work). The bars before the test span go along
            # so the bracket's ATR is warm at the first test bar; trades start in the span.
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
    """One row per model, best test Sharpe first (undefined Sharpe last)."""
    rows = []
    for name, m in metrics.items():
        test, bt = m["test"], m["backtest"]
        row = {"model": name, "type": m["type"]}
        if target == "class":
            row.update(auc=test.get("roc_auc"), accuracy=test.get("accuracy"))
        else:
            row.update(ic=test.get("spearman_ic"), sign_hit_rate=test.get("sign_hit_rate"))
        row.update(
            sharpe=bt.get("sharpe"),
            total_return=bt.get("total_return"),
            max_drawdown=bt.get("max_drawdown"),
            n_trades=bt.get("n_trades"),
        )
        rows.append(row)

    def key(row):
        s = row["sharpe"]
        return (s is None or not np.isfinite(s), -(s if s is not None and np.isfinite(s) else 0.0))

    return sorted(rows, key=key)


HEADERS = {
    "model": "model",
    "auc": "AUC",
    "accuracy": "accuracy",
    "ic": "IC",
    "sign_hit_rate": "sign hit",
    "sharpe": "Sharpe",
    "total_return": "return",
    "max_drawdown": "max DD",
    "n_trades": "trades",
}


def print_leaderboard(console: Console, board, benchmark: dict[str, Any], run_dir: Path) -> None:
    """The leaderboard as a rich table, buy & hold of the same span, and where the report is."""
    from edgelab.report.html import fmt

    table = Table(title="Leaderboard: test span, after costs")
    cols = [c for c in board[0] if c in HEADERS]
    for col in cols:
        table.add_column(HEADERS[col], justify="left" if col == "model" else "right", no_wrap=True)
    for row in board:
        table.add_row(*(fmt(row[c], c) for c in cols))
    table.add_row(
        "[dim]buy & hold (span)[/dim]",
        *(f"[dim]{fmt(benchmark.get(c), c)}[/dim]" if c in benchmark else "" for c in cols[1:]),
    )
    console.print(table)
    report = run_dir / "report.html"
    console.print(f"[bold]run folder:[/bold] {run_dir}")
    if report.is_file():
        console.print(f"[bold]report:[/bold] {report}")


# --- outputs ---------------------------------------------------------------------------


def predictions_table(preds, positions, dataset) -> pd.DataFrame:
    """Long table of every model's validation and test predictions (test: every bar,
    labeled or not, with the position the policy took)."""
    parts = []
    for model, by_split in preds.items():
        for split, key in (("val", "val"), ("test", "trade")):
            samples, pred = dataset[key], by_split[key]
            rows = samples.rows
            frame = pd.DataFrame(
                {
                    "model": model,
                    "split": split,
                    "asset": np.asarray(samples.assets, dtype=object)[samples.asset[rows]],
                    "timestamp": samples.index[rows],
                    "label": samples.y[rows],  # NaN: no label (the last bars)
                    "forward_return": samples.forward_return[rows],
                }
            )
            for col in pred.columns:
                frame[col] = pred[col].to_numpy()
            if split == "test":
                pos = positions[model].stack()  # (timestamp, asset) -> target exposure
                keys = pd.MultiIndex.from_arrays([frame["timestamp"], frame["asset"]])
                frame["position"] = pos.reindex(keys).to_numpy()
            parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def _bundle_meta(plan, dataset, pm) -> dict[str, Any]:
    from edgelab.track.runs import git_revision

    config = plan.config
    return {
        "name": pm.name,
        "features": {"set": config.features.set, "params": config.features.params},
        "feature_names": dataset.feature_names,
        "scaler": dataset.scaler.to_dict(),
        "labels": config.labels.model_dump(mode="json"),
        "label_map": {str(k): v for k, v in dataset.label_map.items()},
        "label_sign": {str(k): v for k, v in dataset.label_sign.items()},
        "target": dataset.target,
        "window": pm.window,
        "horizon": dataset.horizon,
        "assets": dataset.assets,
        "git": git_revision(),
    }


PLOT_TITLES = {
    "equity": "equity against buy & hold (test span, net of costs)",
    "drawdown": "drawdown",
    "asset_equity": "equity per asset",
}


def _plots(run_dir: Path, name: str, result, bench, bars, split) -> list[tuple[str, Path]]:
    """The backtest plots of one model, as (title, PNG path): equity against buy & hold,
    drawdown, equity per asset (several assets only) and trades on each price chart."""
    from edgelab.backtest import plots

    out = run_dir / "plots"
    span = split.test
    figs = [
        (
            PLOT_TITLES["equity"],
            plots.plot_equity(result, out / f"{name}-equity.png", benchmark=bench, label=name),
        ),
        (PLOT_TITLES["drawdown"], plots.plot_drawdown(result, out / f"{name}-drawdown.png")),
    ]
    if len(bars) > 1:
        figs.append(
            (
                PLOT_TITLES["asset_equity"],
                plots.plot_asset_equity(result, out / f"{name}-asset_equity.png"),
            )
        )
    for asset, frame in bars.items():
        path = out / f"{name}-trades_{asset}.png"
        chart = plots.plot_trades(
            frame.loc[span.start : span.end], result.trades, path, asset=str(asset)
        )
        figs.append((f"trades on the price chart: {asset}", chart))
    return figs


def _report_summary(config: ExperimentConfig, dataset, prov: dict[str, Any]) -> dict[str, Any]:
    costs = config.backtest.costs
    targets = " / ".join(str(dataset.counts[s]["targets"]) for s in ("train", "val", "test"))
    return {
        "source": config.data.source,
        "assets": ", ".join(dataset.assets),
        "features": f"{config.features.set} ({len(dataset.feature_names)} columns)",
        "labels": f"{config.labels.kind}, horizon {dataset.horizon}",
        "target rows train / val / test": targets,
        "policy": f"{config.policy.kind} {config.policy.params or ''}".strip(),
        "costs (bps) fee / slippage / spread": f"{costs.fee_bps:g} / {costs.slippage_bps:g} / {costs.spread_bps:g}",
        "seed": config.seed,
        "git": (prov["git"] or {}).get("commit") or "not a git checkout / no commit",
    }


def _model_sections(plan, run_dir: Path, out: Outcome) -> list:
    from edgelab.evaluate.metrics import confusion_png
    from edgelab.report.html import ModelSection

    config, sections = plan.config, []
    for pm in plan.models:
        m = out.metrics["models"][pm.name]
        figs: list[tuple[str, Path]] = []
        if config.report.plots:
            (run_dir / "plots").mkdir(exist_ok=True)
            if m["test"].get("confusion"):
                png = run_dir / "plots" / f"{pm.name}-confusion.png"
                confusion_png(
                    m["test"]["confusion"], m["test"]["class_names"], png, f"{pm.name}: test"
                )
                figs.append(("confusion matrix (test)", png))
            result = out.results[pm.name]
            figs += _plots(run_dir, pm.name, result, out.benchmark, out.bars, out.dataset.split)
        sections.append(ModelSection(pm.name, pm.config.type, m, figs, out.results[pm.name].trades))
    return sections


def write_outputs(plan, runs_dir: str | Path, out: Outcome) -> Path:
    """Create the run folder and write every file into it; returns the folder."""
    from edgelab.config import dump_config
    from edgelab.report.html import ReportData, write_report
    from edgelab.track.runs import (
        create_run_dir,
        data_summary,
        provenance,
        write_config,
        write_json_atomic,
        write_parquet_atomic,
    )

    config, dataset = plan.config, out.dataset
    run_dir = create_run_dir(runs_dir, config.name)
    prov = provenance(config, out.bars)
    write_config(run_dir, config, prov)
    data_info = data_summary(config, out.bars, out.features, out.labels, dataset)
    write_json_atomic(run_dir / "data.json", data_info)
    for pm in plan.models:
        pm.model.save(run_dir / "models" / pm.name, extra_meta=_bundle_meta(plan, dataset, pm))
    table = predictions_table(out.preds, out.positions, dataset)
    write_parquet_atomic(run_dir / "predictions.parquet", table)
    write_json_atomic(run_dir / "metrics.json", out.metrics)
    for name, result in out.results.items():
        if len(result.trades):
            write_parquet_atomic(run_dir / "trades" / f"{name}.parquet", result.trades)
    if not config.report.html:
        return run_dir
    bench = out.metrics["benchmark"]["buy_and_hold"]
    report = ReportData(
        title=f"edgelab run: {config.name}",
        run_dir=str(run_dir),
        summary=_report_summary(config, dataset, prov),
        leaderboard=out.metrics["leaderboard"],
        data=data_info,
        split=out.metrics["split"],
        config_yaml=dump_config(config),
        models=_model_sections(plan, run_dir, out),
        benchmark={k: bench.get(k) for k in ("total_return", "sharpe", "max_drawdown")},
        trade_rows=config.report.trade_rows,
    )
    write_report(run_dir / "report.html", report)
    return run_dir
