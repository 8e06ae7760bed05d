"""The whole experiment, end to end: `run_experiment(config) -> run folder`.

This module owns the orchestration of `edgelab run`, in one direction:

    check -> data -> features -> labels -> split -> dataset (scaling) -> models
          -> predictions -> calibration / thresholds (fitted on validation) -> policy
          -> backtest -> metrics (+ intervals) -> edge (trials, DSR, verdict) -> report

- `check_config` validates everything that can be checked without data (model names and
  params, feature set and params, policy, costs, MLflow availability) and raises a
  `ConfigError` naming the field; `run_experiment` then loads the data and checks what
  needs it (symbols, weights, horizon vs data length, split spans) before computing any
  feature. Nothing is written before all checks pass.
- Models are fitted on the train split only (the `Split` object decides it; the scaler is
  fitted on the same window), early-stopped on validation, and scored on validation and
  test labels. All models see the same target rows (the Samples are built with the
  largest window any model needs).
- Positions come from each model's predictions on every test bar; the backtest runs on
  the test span with costs on, next to buy & hold of the same span.
- Calibration, the linear correction of regression outputs and decision thresholds are
  fitted on the validation predictions only and frozen for test (`pipeline_eval`).
- Same config and seed => byte-identical `metrics.json` (no wall-clock values and no
  run history in it; bootstrap intervals are seeded). What depends on the earlier runs
  on the same data (trials counted, deflated Sharpe, the verdict) goes to `edge.json`.
- `evaluate_experiment` runs the same stages in memory without writing anything (the
  leakage canary, `edgelab.evaluate.canary`, uses it).

Stages and run folder files are described in docs/readme/pipeline.md.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from edgelab.config import ExperimentConfig, ModelConfig
from edgelab.errors import ConfigError, EdgelabError, FeatureError, ModelError, unknown_name
from edgelab.evaluate.scorecard import json_safe
from edgelab.models.base import Model, get_model_class
from edgelab.pipeline_eval import (
    add_leak,
    check_evaluation,
    leak_warnings,
    metrics_payload,
    model_metrics,
    model_policies,
    postprocess_models,
)
from edgelab.pipeline_outputs import write_outputs
from edgelab.pipeline_stages import (
    Outcome,
    Stages,
    backtest_models,
    calendar_of,
    check_policy,
    costs_of,
    load_data,
    print_leaderboard,
)

__all__ = [
    "Plan",
    "PlannedModel",
    "check_config",
    "evaluate_experiment",
    "json_safe",
    "label_params",
    "run_experiment",
    "run_experiment_outcome",
]


@dataclasses.dataclass
class PlannedModel:
    """A model ready to fit: its config entry, the instance, its window and history."""

    index: int
    config: ModelConfig
    model: Model
    window: int
    history: int

    @property
    def name(self) -> str:
        return self.config.name


@dataclasses.dataclass
class Plan:
    """What `check_config` validated; `run_experiment` executes it."""

    config: ExperimentConfig
    models: list[PlannedModel]
    label_params: dict[str, Any]
    mlflow: bool

    @property
    def window(self) -> int:
        return max(m.window for m in self.models)

    @property
    def context(self) -> int:
        return max(max(m.history for m in self.models), self.window - 1)


def label_params(config: ExperimentConfig) -> dict[str, Any]:
    """The labeler's keyword arguments for `config.labels` (by kind)."""
    lab = config.labels
    if lab.kind == "direction":
        return {
            "horizon": lab.horizon,
            "classes": lab.classes,
            "dead_band": lab.dead_band,
            "dead_band_unit": lab.dead_band_unit,
            "atr_window": lab.atr_window,
        }
    if lab.kind == "forward_return":
        return {"horizon": lab.horizon, "kind": lab.return_kind}
    return {
        "tp_atr": lab.tp_atr,
        "sl_atr": lab.sl_atr,
        "atr_window": lab.atr_window,
        "max_horizon": lab.max_horizon,
        "heikin_ashi": lab.heikin_ashi,
    }


def _plan_model(i: int, mc: ModelConfig, config: ExperimentConfig) -> PlannedModel:
    where = f"'models[{i}]' ({mc.name})"
    try:
        cls = get_model_class(mc.type)
    except ModelError as exc:
        raise ConfigError(f"{where}.type: {exc}") from None
    params = dict(mc.params)
    sig = inspect.signature(cls.__init__).parameters
    open_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.values())
    if not open_kwargs:
        known = [n for n in sig if n != "self"]
        for key in params:
            if key not in known:
                raise ConfigError(
                    f"{where}.params: "
                    + unknown_name(f"parameter of model '{mc.type}'", key, known)
                    if known
                    else f"{where}.params: model '{mc.type}' takes no parameters, got '{key}'"
                )
        if "seed" in known and "seed" not in params:
            params["seed"] = config.seed  # the experiment's seed, unless the model sets one
    elif "seed" not in params:
        params["seed"] = config.seed
    try:
        model = cls(**params)
        window = mc.window or model.input_window()
        history = model.history()
    except (ModelError, ValueError, TypeError) as exc:
        raise ConfigError(f"{where}.params: {exc}") from None
    if window < model.input_window():
        raise ConfigError(
            f"{where}.window {window} is shorter than the {model.input_window()} rows the model reads"
        )
    target = "return" if config.labels.kind == "forward_return" else "class"
    if not model.supports(target):
        raise ConfigError(
            f"{where}.type: model '{mc.type}' cannot learn labels.kind '{config.labels.kind}' "
            f"({target} target); pick another model or label kind"
        )
    return PlannedModel(i, mc, model, window, history)


def check_config(config: ExperimentConfig, *, mlflow: bool | None = None) -> Plan:
    """Validate everything that needs no data; ConfigError names the field. No side effects."""
    from edgelab.features.sets import get_feature_set
    from edgelab.labels import labeler_params

    try:
        spec = get_feature_set(config.features.set)
    except FeatureError as exc:
        raise ConfigError(f"'features.set': {exc}") from None
    for key in config.features.params:
        if key not in spec.params:
            raise ConfigError(
                "'features.params': "
                + unknown_name(
                    f"parameter of feature set '{spec.name}'", key, list(spec.params) or ["(none)"]
                )
            )
    params = label_params(config)
    known = labeler_params(config.labels.kind)
    stray = [k for k in params if k not in known]
    if stray:  # a labeler changed its signature: a bug, reported as such
        raise ConfigError(f"'labels': the {config.labels.kind} labeler takes no {stray}")
    models = [_plan_model(i, mc, config) for i, mc in enumerate(config.models)]
    check_policy(config)
    costs_of(config)
    check_evaluation(config)
    use_mlflow = config.tracking.mlflow if mlflow is None else mlflow
    if use_mlflow:
        import importlib.util

        if importlib.util.find_spec("mlflow") is None:
            raise ConfigError(
                "'tracking.mlflow' is true but MLflow is not installed; install it with "
                "pip install 'edgelab[mlflow]' or set tracking.mlflow: false"
            )
    return Plan(config, models, params, bool(use_mlflow))


def check_data(plan: Plan, bars: dict[str, pd.DataFrame]) -> None:
    """Data-dependent checks that need no split: horizon against the data length, a
    bracket policy on one asset, backtest weights naming the assets."""
    config = plan.config
    look = config.labels.lookahead
    for name, frame in bars.items():
        if look >= len(frame):
            field = "labels.max_horizon" if config.labels.kind == "barrier" else "labels.horizon"
            raise ConfigError(
                f"'{field}' {look} is longer than the data: asset '{name}' has {len(frame)} bars; "
                "shorten the horizon or load more data"
            )
    if config.policy.kind == "bracket" and len(bars) > 1:
        raise ConfigError(
            f"'policy.kind' bracket runs in the one-asset trade simulator, but the data has "
            f"{len(bars)} assets; pick one with data.symbols or use a per-bar policy"
        )
    weights = config.backtest.weights
    if weights is not None and sorted(weights) != sorted(bars):
        raise ConfigError(
            f"'backtest.weights' names {sorted(weights)} but the assets are {sorted(bars)}"
        )


def check_warmup(plan: Plan, bars: dict[str, pd.DataFrame], train, fix: str) -> None:
    """The train span `train` (a `Span`) must hold the feature warm-up, the largest model
    window and a minimum of rows for every asset; `fix` says what to change."""
    from edgelab.dataset.splits import MIN_ROWS
    from edgelab.features.sets import get_feature_set

    config = plan.config
    spec = get_feature_set(config.features.set)
    warmup = spec.min_bars({**spec.params, **config.features.params}) - 1
    need = warmup + plan.window - 1 + MIN_ROWS["train"]
    for name, frame in bars.items():
        have = int(train.mask(frame.index).sum())
        if have < need:
            raise ConfigError(
                f"'features.set' {spec.name} needs {warmup} bars of warm-up and the models a "
                f"window of {plan.window}: the train span of asset '{name}' has {have} bars, "
                f"at least {need} are needed; {fix}"
            )


def _check_data(plan: Plan, bars: dict[str, pd.DataFrame]):
    """Data-dependent checks, before any feature is computed; returns the `Split`."""
    from edgelab.dataset.splits import make_split, timeline

    check_data(plan, bars)
    look = plan.config.labels.lookahead
    split = make_split(timeline([b.index for b in bars.values()]), plan.config.split, look)
    check_warmup(plan, bars, split.train, "load more data or move split.test later")
    return split


def compute_all_features(plan: Plan, bars: dict[str, pd.DataFrame], step) -> tuple[dict, dict]:
    """Per-asset FeatureFrames (a panel set is computed once and shared by all assets,
    whose bars are then cut to the panel's common timestamps)."""
    from edgelab.features.sets import compute_features, get_feature_set

    fc = plan.config.features
    if get_feature_set(fc.set).panel:
        panel = compute_features(bars, fc.set, **fc.params)
        bars = {name: frame.loc[panel.index] for name, frame in bars.items()}
        step(len(bars))
        out = {name: panel for name in bars}
    else:
        out = {}
        for name, frame in bars.items():
            out[name] = compute_features(frame, fc.set, **fc.params)
            step()
    if fc.leak_next_return:  # the canary's deliberate leak, refused without allow_leak
        out = add_leak(bars, out)
    return bars, out


def compute_all_labels(plan: Plan, bars: dict[str, pd.DataFrame], step) -> dict:
    """Per-asset Labels of the configured kind."""
    from edgelab.labels import make_labels

    out = {}
    for name, frame in bars.items():
        out[name] = make_labels(frame, plan.config.labels.kind, **plan.label_params)
        step()
    return out


def predict_models(models: list[PlannedModel], dataset, step) -> dict[str, dict[str, pd.DataFrame]]:
    """Fit each model on train (early stopping on val) and predict val, test and trade."""
    preds: dict[str, dict[str, pd.DataFrame]] = {}
    for pm in models:
        views = {k: dataclasses.replace(s, window=pm.window) for k, s in dataset.samples.items()}
        pm.model.fit(views["train"], views["val"])
        preds[pm.name] = {k: pm.model.predict(views[k]) for k in ("val", "test", "trade")}
        step()
    return preds


def _metrics(plan: Plan, out: Outcome) -> dict[str, Any]:
    """metrics.json (see `pipeline_eval.metrics_payload`): deterministic for a config
    and seed, no times and no run history in it."""
    ds, config = out.dataset, plan.config
    models = {}
    for pm in plan.models:
        splits = {
            s: (
                out.raw_preds[pm.name][s],
                out.preds[pm.name][s],
                ds[s].targets(),
                ds[s].forward_return[ds[s].rows],
            )
            for s in ("val", "test")
        }
        models[pm.name] = model_metrics(
            pm.config.type, pm.window, splits, out.results[pm.name], out.post[pm.name],
            target=ds.target, label_map=ds.label_map, config=config,
        )  # fmt: skip
    extra = {
        "label_map": ds.label_map,
        "split": ds.split.to_dict(),
        "dataset": ds.counts,
        "calendar": calendar_of(config, out.bars),
    }
    return metrics_payload(
        config, models, out.results, out.benchmark, target=ds.target, extra=extra
    )


def _compute(plan: Plan, stages: Stages) -> Outcome:
    """Every stage from data to backtest, each under its progress bar."""
    from edgelab.dataset.build import build_dataset

    config = plan.config
    with stages.stage("data") as step:
        bars = load_data(config)
        step()
    split = _check_data(plan, bars)
    with stages.stage("features", len(bars)) as step:
        bars, features = compute_all_features(plan, bars, step)
    with stages.stage("labels", len(bars)) as step:
        labels = compute_all_labels(plan, bars, step)
    with stages.stage("dataset") as step:
        dataset = build_dataset(
            bars, features, labels, split,
            scaling=config.scaling.method, window=plan.window, context=plan.context,
        )  # fmt: skip
        step()
    with stages.stage("models", len(plan.models)) as step:
        raw = predict_models(plan.models, dataset, step)
    with stages.stage("calibrate") as step:
        kinds = {pm.name: pm.config.type for pm in plan.models}
        post, preds = postprocess_models(config, kinds, dataset, bars, raw)
        step()
    with stages.stage("backtest", len(plan.models) + 1) as step:
        decisions = {name: post[name].decisions(preds[name]["trade"]) for name in kinds}
        policies = model_policies(config, post)
        results, benchmark = backtest_models(config, bars, split.test, decisions, step, policies)
    out = Outcome(bars, features, labels, dataset, preds, results, benchmark)
    out.raw_preds, out.post, out.decisions = raw, post, decisions
    return out


def evaluate_experiment(
    config: ExperimentConfig,
    *,
    console: Console | None = None,
    quiet: bool = True,
    metrics: bool = True,
) -> tuple[Plan, Outcome]:
    """Run every stage in memory, writing nothing (the leakage canary uses this), and
    with `metrics` compute metrics.json's content into `out.metrics`."""
    console = console or Console(quiet=quiet)
    plan = check_config(config, mlflow=False)
    with Stages(console, quiet) as stages:
        out = _compute(plan, stages)
        if metrics:
            with stages.stage("evaluate") as step:
                out.metrics = _metrics(plan, out)
                step()
    return plan, out


def run_experiment(
    config: ExperimentConfig,
    *,
    runs_dir: str | Path | None = None,
    mlflow: bool | None = None,
    console: Console | None = None,
    quiet: bool = False,
) -> Path:
    """Run the experiment into a new run folder and return its path (see module doc)."""
    run_dir, _ = run_experiment_outcome(
        config, runs_dir=runs_dir, mlflow=mlflow, console=console, quiet=quiet
    )
    return run_dir


def run_experiment_outcome(
    config: ExperimentConfig,
    *,
    runs_dir: str | Path | None = None,
    mlflow: bool | None = None,
    console: Console | None = None,
    quiet: bool = False,
) -> tuple[Path, Outcome]:
    """`run_experiment`, also returning the in-memory `Outcome` (per-bar returns of
    every backtest, predictions, metrics, edge), e.g. for an ablation's final DSR."""
    console = console or Console(quiet=quiet)
    plan = check_config(config, mlflow=mlflow)
    for line in leak_warnings(config):
        console.print(f"[bold red]{line}[/bold red]")
    with Stages(console, quiet) as stages:
        out = _compute(plan, stages)
        with stages.stage("evaluate") as step:
            out.metrics = _metrics(plan, out)
            step()
        with stages.stage("report") as step:
            run_dir = write_outputs(plan, runs_dir or config.tracking.runs_dir, out)
            step()
    if plan.mlflow:
        from edgelab.track.mlflow_log import log_run

        log_run(run_dir, config, out.metrics)
    if not quiet:
        bench = out.metrics["benchmark"]["buy_and_hold"]
        print_leaderboard(console, out.metrics["leaderboard"], bench, run_dir, out.edge)
    return run_dir, out


def read_metrics(run_dir: str | Path) -> dict[str, Any]:
    """The `metrics.json` of a run folder."""
    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        raise EdgelabError(f"no metrics.json in '{run_dir}'")
    return json.loads(path.read_text())
