"""The run folder of `edgelab walkforward`: `runs/<UTC time>-<name>-walkforward/`.

Files (atomic writes, as `edgelab run`): `config.yaml` (resolved, with the
`walkforward` block and the data fingerprints), `data.json` (the data, the folds),
`models/<name>/` (the LAST fold's bundles: the models you would trade next),
`predictions.parquet` (every fold's validation and out-of-sample test predictions with
their `fold`, the stitched decision and position), `metrics.json` (deterministic:
stitched test scores and intervals, per-fold table), `trades/`, `edge.json` (trials,
deflated Sharpe, verdict) and `report.html` with the stitched out-of-sample equity.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["write_walkforward"]


def _predictions(runs, out) -> pd.DataFrame:
    from edgelab.pipeline_outputs import predictions_table

    parts = []
    for run in runs:
        table = predictions_table(run.preds, out.positions, run.dataset, run.raw, run.decisions)
        parts.append(table.assign(fold=run.plan.number))
    return pd.concat(parts, ignore_index=True)


def _folds_html(metrics: dict) -> str:
    from edgelab.report.html import _esc, table

    wf = metrics["walkforward"]
    rows = wf["folds"]
    text = (
        f"<p class='muted'>{_esc(wf['window'])} training window of {wf['train_size']} bars "
        f"(the last {wf['val_size']} validate: early stopping, calibration, thresholds), a new "
        f"model every {wf['step']} bars ({_esc(wf['mode'])}), embargo {wf['embargo']} bars "
        f"between spans. Out-of-sample: {_esc(wf['out_of_sample']['start'])} → "
        f"{_esc(wf['out_of_sample']['end'])} ({wf['out_of_sample']['bars']} bars), backtested as "
        "one history.</p>"
    )
    notes = "".join(f"<p class='muted'>{_esc(n)}</p>" for n in wf.get("notes") or [])
    return text + table(rows) + notes


def write_walkforward(plan, runs_dir: str | Path, out, runs, span) -> Path:
    """Create the walk-forward run folder and write every file into it (module doc)."""
    from edgelab.config import dump_config
    from edgelab.pipeline_eval import leak_warnings
    from edgelab.pipeline_outputs import bundle_meta, edge_of, model_sections, report_summary
    from edgelab.pipeline_stages import board_rows, trials_note
    from edgelab.report.figures import stitched_equity_png
    from edgelab.report.html import ReportData, write_report
    from edgelab.track.runs import (
        create_run_dir,
        data_summary,
        provenance,
        write_config,
        write_json_atomic,
        write_parquet_atomic,
    )

    config, last = plan.config, runs[-1]
    run_dir = create_run_dir(runs_dir, f"{config.name}-walkforward")
    prov = provenance(config, out.bars)
    write_config(run_dir, config, prov)
    info = data_summary(config, out.bars, out.features, out.labels, last.dataset)
    info["split"] = {"walkforward": out.metrics["walkforward"]}
    info["samples"] = {str(r.plan.number): r.dataset.counts for r in runs}
    info["scaler"] = {
        "note": "fitted per fold on its train rows; the last fold's is in the bundles"
    }
    write_json_atomic(run_dir / "data.json", info)
    for pm in plan.models:
        meta = bundle_meta(config, last.dataset, pm.name, pm.window, last.post[pm.name])
        meta["walkforward_fold"] = last.plan.number
        last.models[pm.name].save(run_dir / "models" / pm.name, extra_meta=meta)
    write_parquet_atomic(run_dir / "predictions.parquet", _predictions(runs, out))
    write_json_atomic(run_dir / "metrics.json", out.metrics)
    for name, result in out.results.items():
        if len(result.trades):
            write_parquet_atomic(run_dir / "trades" / f"{name}.parquet", result.trades)
    out.edge = edge_of(config, out, prov, run_dir)
    write_json_atomic(run_dir / "edge.json", out.edge)
    if not config.report.html:
        return run_dir
    boundaries = [r.plan.split.test.start for r in runs]
    equity = stitched_equity_png(
        {name: r.equity for name, r in out.results.items()},
        out.benchmark.equity,
        boundaries,
        run_dir / "plots" / "stitched_equity.png",
        title="stitched out-of-sample equity (one model per fold, net of costs)",
    )
    y = np.concatenate([r.dataset["test"].targets() for r in runs])
    tests = {name: (out.raw_preds[name]["test"], out.preds[name]["test"], y) for name in out.preds}
    kinds = {pm.name: pm.config.type for pm in plan.models}
    bench = out.metrics["benchmark"]["buy_and_hold"]
    targets = f"{sum(len(r.dataset['test']) for r in runs)} out-of-sample in {len(runs)} folds"
    report = ReportData(
        title=f"edgelab walk-forward: {config.name}",
        run_dir=str(run_dir),
        summary={
            "assets": ", ".join(last.dataset.assets),
            **report_summary(config, targets, prov),
        },
        leaderboard=board_rows(out.metrics["leaderboard"], out.edge),
        data=info,
        split={"out-of-sample": span.to_dict(), "gap": out.metrics["walkforward"]["embargo"]},
        config_yaml=dump_config(config),
        models=model_sections(config, run_dir, kinds, out, span, tests, last.dataset.label_map),
        benchmark={k: bench.get(k) for k in ("total_return", "sharpe", "max_drawdown")},
        plots=[("stitched out-of-sample equity against buy & hold", equity)],
        trade_rows=config.report.trade_rows,
        warnings=leak_warnings(config),
        notes=[trials_note(out.edge)],
        sections=[("Walk-forward folds", _folds_html(out.metrics))],
    )
    write_report(run_dir / "report.html", report)
    return run_dir
