"""Walk-forward evaluation (`edgelab walkforward CONFIG`): retrain through time, stitch
the out-of-sample predictions and backtest them as one history.

This module owns the walk-forward run:

- `plan_folds(times, walkforward, lookahead)`: the folds on the shared timeline of all
  assets (`edgelab.evaluate.cv.walk_forward`: expanding or rolling training windows,
  a new model every `step` bars, `embargo` bars between train, validation and test, at
  least the labels' look-ahead), each as a `Split` so that the dataset, scaler and
  purging rules of `edgelab run` apply unchanged inside a fold. A last test window
  shorter than half a step (or than a labeled row needs) is merged into the previous
  fold (that model is used a little longer) and noted.
- `run_walkforward(config)`: features and labels are computed once on all bars (they
  are causal: row t uses bars up to t, so this equals computing them per fold); per
  fold the scaler is fitted on the fold's train rows, every model is fitted (or, with
  `walkforward.mode: finetune`, continued through its `fine_tune(train, val)` method
  when it has one, else retrained and noted), calibration and thresholds are fitted on
  the fold's validation rows, and the fold's test bars get predictions and decisions.
  The decisions of all folds are stitched (`cv.stitch_predictions`: no bar twice, time
  order) and go through the policy and the backtest as ONE history, next to buy & hold
  of the same span. The run folder has the metrics (stitched test scores with
  intervals, per-fold table), edge.json (trials, deflated Sharpe, verdict), the last
  fold's model bundles, the stitched predictions, and a report with the stitched
  out-of-sample equity.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console

from edgelab.config import ExperimentConfig, WalkForwardConfig
from edgelab.dataset.splits import MIN_ROWS, Span, Split
from edgelab.errors import ConfigError
from edgelab.evaluate.cv import stitch_predictions, walk_forward
from edgelab.models.base import get_model_class

__all__ = ["FoldPlan", "FoldRun", "plan_folds", "run_walkforward"]


@dataclass(frozen=True)
class FoldPlan:
    """One fold: its number and its train / validation / test spans."""

    number: int
    split: Split


@dataclass
class FoldRun:
    """What one fold produced (predictions per model and split, post-processing)."""

    plan: FoldPlan
    dataset: Any
    raw: dict[str, dict[str, pd.DataFrame]]
    preds: dict[str, dict[str, pd.DataFrame]]
    post: dict[str, Any]
    decisions: dict[str, pd.DataFrame]
    models: dict[str, Any]  # the fitted models of this fold
    notes: list[str] = field(default_factory=list)


def _span(times: pd.DatetimeIndex, rows: np.ndarray) -> Span:
    return Span(times[rows[0]], times[rows[-1]], int(rows.size))


def plan_folds(
    times: pd.DatetimeIndex, wf: WalkForwardConfig, lookahead: int
) -> tuple[list[FoldPlan], dict[str, Any]]:
    """The folds on `times` (sorted unique bar times of all assets) and the resolved
    settings; ConfigError naming the `walkforward.*` field when they do not fit."""
    n = len(times)
    embargo = lookahead if wf.embargo is None else wf.embargo
    if embargo < lookahead:
        raise ConfigError(
            f"'walkforward.embargo' {embargo} is shorter than the labels' look-ahead "
            f"({lookahead} bars): labels would reach into the next span; set it >= {lookahead}"
        )
    train_size = wf.train_size or max(int(0.4 * n), MIN_ROWS["train"])
    step = wf.step or max(int(0.1 * n), 1)
    val_size = wf.val_size or max(int(round(0.1 * train_size)), MIN_ROWS["val"])
    folds = list(
        walk_forward(
            n, train_size=train_size, step=step, window=wf.window, embargo=embargo,
            val_size=val_size,
        )
    )  # fmt: skip
    notes = []
    # A last window under half a step (or too short to hold a label) is not worth a
    # model of its own: the previous fold's model trades it.
    short = max(MIN_ROWS["test"] + lookahead, step // 2)
    if len(folds) > 1 and folds[-1].test.size < short:
        last, prev = folds.pop(), folds.pop()
        folds.append(dataclasses.replace(prev, test=np.r_[prev.test, last.test]))
        notes.append(
            f"the last test window had {last.test.size} bars (< {short}); it was added to "
            f"fold {prev.number}, whose model trades it"
        )
    plans = []
    for f in folds:
        if f.train.size < MIN_ROWS["train"]:
            raise ConfigError(
                f"'walkforward.train_size' {train_size}: fold {f.number} keeps {f.train.size} "
                f"bars to fit on after validation ({val_size}) and embargo ({embargo}); "
                "lengthen train_size or shorten val_size"
            )
        spans = {k: _span(times, getattr(f, k)) for k in ("train", "val", "test")}
        plans.append(FoldPlan(f.number, Split(**spans, gap=embargo, lookahead=lookahead)))
    settings = {
        "window": wf.window,
        "mode": wf.mode,
        "train_size": train_size,
        "step": step,
        "val_size": val_size,
        "embargo": embargo,
        "n_folds": len(plans),
        "notes": notes,
    }
    return plans, settings


def _fold_model(pm, previous: dict[str, Any], mode: str):
    """The model to use in a fold: the previous fold's instance when fine-tuning and the
    model can continue (`fine_tune`), else a fresh one with the same parameters."""
    old = previous.get(pm.name)
    if mode == "finetune" and old is not None and callable(getattr(old, "fine_tune", None)):
        return old, True
    return get_model_class(pm.config.type)(**pm.model.get_params()), False


def _run_fold(plan, fold: FoldPlan, bars, features, labels, previous: dict) -> FoldRun:
    from edgelab.dataset.build import build_dataset
    from edgelab.pipeline_eval import postprocess_models

    config = plan.config
    dataset = build_dataset(
        bars, features, labels, fold.split,
        scaling=config.scaling.method, window=plan.window, context=plan.context,
    )  # fmt: skip
    raw, notes, fitted = {}, [], {}
    for pm in plan.models:
        model, tuned = _fold_model(pm, previous, config.walkforward.mode)
        views = {k: dataclasses.replace(s, window=pm.window) for k, s in dataset.samples.items()}
        if tuned:
            model.fine_tune(views["train"], views["val"])
        else:
            model.fit(views["train"], views["val"])
            if config.walkforward.mode == "finetune" and fold.number > 0:
                notes.append(f"{pm.name}: the model has no fine_tune(); retrained from scratch")
        previous[pm.name] = fitted[pm.name] = model
        raw[pm.name] = {k: model.predict(views[k]) for k in ("val", "test", "trade")}
    kinds = {pm.name: pm.config.type for pm in plan.models}
    post, preds = postprocess_models(config, kinds, dataset, bars, raw)
    decisions = {name: post[name].decisions(preds[name]["trade"]) for name in kinds}
    return FoldRun(fold, dataset, raw, preds, post, decisions, fitted, notes)


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(parts) if len(parts) > 1 else parts[0]


def _stitched(folds: list[FoldRun], name: str):
    """Per split: (raw, final, y, forward returns) over all folds, and the decisions."""
    out = {}
    for split in ("val", "test"):
        out[split] = (
            _concat([f.raw[name][split] for f in folds]),
            _concat([f.preds[name][split] for f in folds]),
            np.concatenate([f.dataset[split].targets() for f in folds]),
            np.concatenate([f.dataset[split].forward_return[f.dataset[split].rows] for f in folds]),
        )
    decisions = stitch_predictions([f.decisions[name] for f in folds])
    return out, decisions


def _fold_table(folds: list[FoldRun], results, target: str, label_map) -> list[dict[str, Any]]:
    """One row per fold: spans, test targets, and per model its test AUC (or IC) and the
    Sharpe ratio of its stitched returns inside the fold's test window."""
    from edgelab.evaluate.scorecard import prediction_metrics
    from edgelab.evaluate.significance import sharpe_ratio

    rows = []
    for f in folds:
        sp, test = f.plan.split, f.dataset["test"]
        row: dict[str, Any] = {"fold": f.plan.number}
        for name in ("train", "val", "test"):
            span = sp.span(name)
            row[name] = f"{span.start:%Y-%m-%d %H:%M} → {span.end:%Y-%m-%d %H:%M} ({span.bars})"
        row["test targets"] = len(test)
        y, fr = test.targets(), test.forward_return[test.rows]
        for model, result in results.items():
            m = prediction_metrics(
                f.preds[model]["test"], y, fr, target=target, label_map=label_map
            )
            key = "roc_auc" if target == "class" else "spearman_ic"
            row[f"{model} {'AUC' if target == 'class' else 'IC'}"] = m.get(key)
            r = result.returns.loc[sp.test.start : sp.test.end].to_numpy()
            ppy = float(result.kpis["periods_per_year"])
            row[f"{model} Sharpe"] = sharpe_ratio(r, ppy) if r.size > 1 else None
        rows.append(row)
    return rows


def run_walkforward(
    config: ExperimentConfig,
    *,
    runs_dir: str | Path | None = None,
    console: Console | None = None,
    quiet: bool = False,
) -> Path:
    """Run the walk-forward evaluation into a new run folder and return it (module doc)."""
    from edgelab.dataset.splits import timeline
    from edgelab.evaluate.walkforward_output import write_walkforward
    from edgelab.pipeline import (
        check_config,
        check_data,
        check_warmup,
        compute_all_features,
        compute_all_labels,
    )
    from edgelab.pipeline_eval import leak_warnings
    from edgelab.pipeline_stages import Stages, load_data, print_leaderboard

    console = console or Console(quiet=quiet)
    plan = check_config(config, mlflow=False)
    for line in leak_warnings(config):
        console.print(f"[bold red]{line}[/bold red]")
    with Stages(console, quiet) as stages:
        with stages.stage("data") as step:
            bars = load_data(config)
            step()
        check_data(plan, bars)
        times = timeline([b.index for b in bars.values()])
        folds, settings = plan_folds(times, config.walkforward, config.labels.lookahead)
        fix = "lengthen walkforward.train_size or load more data"
        check_warmup(plan, bars, folds[0].split.train, fix)
        with stages.stage("features", len(bars)) as step:
            bars, features = compute_all_features(plan, bars, step)
        with stages.stage("labels", len(bars)) as step:
            labels = compute_all_labels(plan, bars, step)
        runs: list[FoldRun] = []
        previous: dict[str, Any] = {}
        with stages.stage("folds", len(folds)) as step:
            for fold in folds:
                runs.append(_run_fold(plan, fold, bars, features, labels, previous))
                step()
        out, span, stitched = _evaluate(plan, runs, bars, features, labels, stages)
        settings["notes"] = settings["notes"] + sorted({n for r in runs for n in r.notes})
        with stages.stage("evaluate") as step:
            out.metrics = _metrics(plan, runs, out, span, settings, stitched)
            step()
        with stages.stage("report") as step:
            run_dir = write_walkforward(plan, runs_dir or config.tracking.runs_dir, out, runs, span)
            step()
    if not quiet:
        title = "Leaderboard: stitched out-of-sample history, after costs"
        bench = out.metrics["benchmark"]["buy_and_hold"]
        print_leaderboard(console, out.metrics["leaderboard"], bench, run_dir, out.edge, title)
    return run_dir


def _evaluate(plan, runs: list[FoldRun], bars, features, labels, stages):
    """Stitch every model's decisions and backtest them as one history."""
    from edgelab.pipeline_eval import model_policies
    from edgelab.pipeline_stages import Outcome, backtest_models

    config, last = plan.config, runs[-1]
    names = [pm.name for pm in plan.models]
    stitched = {name: _stitched(runs, name) for name in names}
    first, end = runs[0].plan.split.test, last.plan.split.test
    span = Span(first.start, end.end, sum(r.plan.split.test.bars for r in runs))
    with stages.stage("backtest", len(names) + 1) as step:
        decisions = {name: stitched[name][1] for name in names}
        policies = model_policies(config, last.post)
        results, bench = backtest_models(config, bars, span, decisions, step, policies)
    preds = {n: {s: stitched[n][0][s][1] for s in ("val", "test")} for n in names}
    raw = {n: {s: stitched[n][0][s][0] for s in ("val", "test")} for n in names}
    out = Outcome(bars, features, labels, last.dataset, preds, results, bench)
    out.raw_preds, out.post, out.decisions = raw, last.post, decisions
    return out, span, stitched


def _metrics(plan, runs: list[FoldRun], out, span: Span, settings: dict, stitched) -> dict:
    from edgelab.pipeline_eval import metrics_payload, model_metrics
    from edgelab.pipeline_stages import calendar_of

    config, ds = plan.config, out.dataset
    models = {
        pm.name: model_metrics(
            pm.config.type,
            pm.window,
            stitched[pm.name][0],
            out.results[pm.name],
            out.post[pm.name],
            target=ds.target,
            label_map=ds.label_map,
            config=config,
        )  # fmt: skip
        for pm in plan.models
    }
    extra = {
        "evaluation": "walkforward",
        "label_map": ds.label_map,
        "calendar": calendar_of(config, out.bars),
        "walkforward": {
            **settings,
            "out_of_sample": span.to_dict(),
            "folds": _fold_table(runs, out.results, ds.target, ds.label_map),
        },
    }
    return metrics_payload(
        config, models, out.results, out.benchmark, target=ds.target, extra=extra
    )
