"""Writing a run folder: bundles, predictions, metrics.json, edge.json, plots, report.

This module owns what `edgelab run` (and, through the shared pieces, `walkforward`)
writes, in this order: `config.yaml` (with provenance), `data.json`, the model bundles
(`model.json` with the scaler, label map and the validation-fitted post-processing:
calibrator, correction, thresholds), `predictions.parquet`, `metrics.json`, the trade
logs, then `edge.json` (trials counted from the run history on the same data
fingerprint, PSR, deflated Sharpe, the verdict) and the report with its plots. Every
file is written atomically (`edgelab.track.runs`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from edgelab.config import ExperimentConfig
from edgelab.pipeline_eval import leak_warnings
from edgelab.pipeline_stages import Outcome, board_rows, trials_note

__all__ = [
    "PLOT_TITLES",
    "backtest_plots",
    "bundle_meta",
    "edge_of",
    "evaluation_plots",
    "model_sections",
    "predictions_table",
    "report_summary",
    "write_outputs",
]


def predictions_table(preds, positions, dataset, raw_preds=None, decisions=None) -> pd.DataFrame:
    """Long table of every model's validation and test predictions (test: every bar,
    labeled or not, with the position the policy took). Calibrated models also carry
    their raw probabilities (`raw_<column>`), thresholded models their `decision`."""
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
            raw = (raw_preds or {}).get(model, {}).get(key)
            if raw is not None and raw is not pred:
                for col in raw.columns:
                    frame[f"raw_{col}"] = raw[col].to_numpy()
            if split == "test":
                dec = (decisions or {}).get(model)
                if dec is not None and dec is not pred:
                    frame["decision"] = dec["expected_return"].to_numpy()
                pos = positions[model].stack()  # (timestamp, asset) -> target exposure
                keys = pd.MultiIndex.from_arrays([frame["timestamp"], frame["asset"]])
                frame["position"] = pos.reindex(keys).to_numpy()
            parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def bundle_meta(config: ExperimentConfig, dataset, name: str, window: int, post) -> dict:
    """model.json's description of a bundle: features, scaler, labels, window, horizon,
    the validation-fitted post-processing and the policy it feeds, git revision."""
    from edgelab.track.runs import git_revision

    return {
        "name": name,
        "features": {
            "set": config.features.set,
            "params": config.features.params,
            "leak_next_return": config.features.leak_next_return,
        },
        "feature_names": dataset.feature_names,
        "scaler": dataset.scaler.to_dict(),
        "labels": config.labels.model_dump(mode="json"),
        "label_map": {str(k): v for k, v in dataset.label_map.items()},
        "label_sign": {str(k): v for k, v in dataset.label_sign.items()},
        "target": dataset.target,
        "window": window,
        "horizon": dataset.horizon,
        "assets": dataset.assets,
        "postprocess": post.to_dict(),
        "policy": config.policy.model_dump(mode="json"),
        "git": git_revision(),
    }


PLOT_TITLES = {
    "equity": "equity against buy & hold (net of costs)",
    "drawdown": "drawdown",
    "asset_equity": "equity per asset",
}


def backtest_plots(run_dir: Path, name: str, result, bench, bars, span) -> list[tuple[str, Path]]:
    """The backtest plots of one model, as (title, PNG path): equity against buy & hold,
    drawdown, equity per asset (several assets only) and trades on each price chart."""
    from edgelab.backtest import plots

    out = run_dir / "plots"
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


def evaluation_plots(
    run_dir: Path, name: str, metrics: dict, test, post, label_map, bins: int
) -> list[tuple[str, Path]]:
    """Confusion matrix, reliability diagram (raw and calibrated test probabilities)
    and the validation threshold curve of one model. `test`: (raw, final, y)."""
    from edgelab.evaluate.calibration import reliability_png
    from edgelab.evaluate.metrics import confusion_png
    from edgelab.evaluate.scorecard import class_columns
    from edgelab.evaluate.thresholds import threshold_png

    out, figs = run_dir / "plots", []
    m = metrics["test"]
    if m.get("confusion"):
        png = confusion_png(m["confusion"], m["class_names"], out / f"{name}-confusion.png", name)
        figs.append(("confusion matrix (test)", png))
    raw, final, y = test
    cols = class_columns(label_map)
    varies = (
        cols and set(cols) <= set(raw.columns) and np.ptp(raw[cols].to_numpy(), axis=0).max() > 0
    )
    if varies and len(y):
        curves = {"raw": raw[cols].to_numpy()}
        if post.calibrator is not None:
            curves[post.calibrator.kind] = final[cols].to_numpy()
        png = reliability_png(
            out / f"{name}-reliability.png", y, curves, n_bins=bins, title=f"{name}: test"
        )
        figs.append(("reliability diagram (test; calibrator fitted on validation)", png))
    if post.thresholds is not None and len(post.thresholds.curve):
        png = threshold_png(
            post.thresholds, out / f"{name}-thresholds.png", title=f"{name}: validation"
        )
        figs.append((f"{post.thresholds.objective} against the threshold (validation)", png))
    return figs


def report_summary(config: ExperimentConfig, targets: str, prov: dict[str, Any]) -> dict:
    costs = config.backtest.costs
    thr = config.thresholds
    return {
        "source": config.data.source,
        "features": config.features.set,
        "labels": f"{config.labels.kind}, look-ahead {config.labels.lookahead}",
        "target rows": targets,
        "calibration": config.calibration.method,
        "thresholds": thr.objective
        if thr.objective == "none"
        else f"{thr.objective}{' per asset' if thr.per_asset else ''}, side {thr.side}",
        "policy": f"{config.policy.kind} {config.policy.params or ''}".strip(),
        "costs (bps) fee / slippage / spread": f"{costs.fee_bps:g} / {costs.slippage_bps:g} / {costs.spread_bps:g}",
        "seed": config.seed,
        "git": (prov["git"] or {}).get("commit") or "not a git checkout / no commit",
    }


def model_sections(
    config: ExperimentConfig,
    run_dir: Path,
    models: dict[str, str],
    out: Outcome,
    span,
    tests: dict[str, tuple],
    label_map,
) -> list:
    """One report section per model (`models`: name -> type): verdict box from
    `out.edge`, metrics from `out.metrics`, plots, trades. `tests`: name -> (raw test
    predictions, final ones, y) for the reliability diagram."""
    from edgelab.report.html import ModelSection

    sections = []
    verdicts = (out.edge or {}).get("models") or {}
    for name, kind in models.items():
        m = out.metrics["models"][name]
        figs: list[tuple[str, Path]] = []
        if config.report.plots:
            (run_dir / "plots").mkdir(exist_ok=True)
            figs += evaluation_plots(
                run_dir, name, m, tests[name], out.post[name], label_map, config.calibration.bins
            )
            figs += backtest_plots(run_dir, name, out.results[name], out.benchmark, out.bars, span)
        found = verdicts.get(name) or {}
        sections.append(
            ModelSection(
                name,
                kind,
                m,
                figs,
                out.results[name].trades,
                verdict=list(found.get("lines") or []),
                edge=bool((found.get("verdict") or {}).get("edge")),
            )  # fmt: skip
        )
    return sections


def edge_of(config: ExperimentConfig, out: Outcome, prov: dict, run_dir: Path) -> dict:
    """edge.json of a run already on disk (its metrics.json written): trials counted
    from every run on the same data fingerprint under the runs folder, this one once."""
    from edgelab.evaluate.edge import edge_summary

    ev = config.evaluation
    returns = {name: r.returns.to_numpy() for name, r in out.results.items()}
    ppy = {name: float(r.kpis["periods_per_year"]) for name, r in out.results.items()}
    return edge_summary(
        returns, ppy, fingerprints=prov["fingerprints"], runs_dir=run_dir.parent,
        exclude_run=run_dir.name, n_boot=ev.n_boot, block=ev.block, level=ev.level,
        seed=config.seed,
    )  # fmt: skip


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
        meta = bundle_meta(config, dataset, pm.name, pm.window, out.post[pm.name])
        pm.model.save(run_dir / "models" / pm.name, extra_meta=meta)
    table = predictions_table(out.preds, out.positions, dataset, out.raw_preds, out.decisions)
    write_parquet_atomic(run_dir / "predictions.parquet", table)
    write_json_atomic(run_dir / "metrics.json", out.metrics)
    for name, result in out.results.items():
        if len(result.trades):
            write_parquet_atomic(run_dir / "trades" / f"{name}.parquet", result.trades)
    out.edge = edge_of(config, out, prov, run_dir)
    write_json_atomic(run_dir / "edge.json", out.edge)
    if not config.report.html:
        return run_dir
    test = dataset["test"]
    tests = {
        pm.name: (out.raw_preds[pm.name]["test"], out.preds[pm.name]["test"], test.targets())
        for pm in plan.models
    }
    kinds = {pm.name: pm.config.type for pm in plan.models}
    bench = out.metrics["benchmark"]["buy_and_hold"]
    targets = " / ".join(str(dataset.counts[s]["targets"]) for s in ("train", "val", "test"))
    report = ReportData(
        title=f"edgelab run: {config.name}",
        run_dir=str(run_dir),
        summary={"assets": ", ".join(dataset.assets), **report_summary(config, targets, prov)},
        leaderboard=board_rows(out.metrics["leaderboard"], out.edge),
        data=data_info,
        split=out.metrics["split"],
        config_yaml=dump_config(config),
        models=model_sections(
            config, run_dir, kinds, out, dataset.split.test, tests, dataset.label_map
        ),
        benchmark={k: bench.get(k) for k in ("total_return", "sharpe", "max_drawdown")},
        trade_rows=config.report.trade_rows,
        warnings=leak_warnings(config),
        notes=[trials_note(out.edge)],
    )
    write_report(run_dir / "report.html", report)
    return run_dir
