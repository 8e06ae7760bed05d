"""The evaluation stages of a run, shared by `edgelab run`, `walkforward`, `canary` and
`ablate`: everything between a model's raw predictions and `metrics.json`.

This module owns:

- the checks of the `calibration`, `thresholds` and `evaluation` config sections
  (`check_evaluation`, before any work);
- the canary's deliberate leak (`add_leak`, only with `features.leak_next_return` and
  `features.allow_leak`) and the warnings that every output of such a run carries;
- `postprocess_models`: calibration, linear correction and threshold search of every
  learned model on its VALIDATION predictions (`edgelab.evaluate.postprocess`), applied
  to all its predictions; rule baselines are left as predicted;
- `model_policies`: which policy reads each model's decisions;
- `model_metrics` + `metrics_payload`: the deterministic content of `metrics.json`
  (scores, calibration, thresholds, KPIs, bootstrap intervals, paired tests against
  the best baseline, leaderboard), from `edgelab.evaluate.scorecard`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from edgelab.config import ExperimentConfig
from edgelab.errors import BacktestError, ConfigError, unknown_name
from edgelab.evaluate.postprocess import (
    PostProcess,
    decision_policy,
    fit_postprocess,
    next_bar_returns,
)
from edgelab.evaluate.scorecard import (
    BASELINE_TYPES,
    RULE_MODELS,
    baseline_comparisons,
    calibration_report,
    intervals,
    json_safe,
    prediction_metrics,
)
from edgelab.pipeline_stages import calendar_of, check_policy, leaderboard

__all__ = [
    "LEAK_COLUMN",
    "add_leak",
    "baseline_names",
    "check_evaluation",
    "leak_warnings",
    "metrics_payload",
    "model_metrics",
    "model_policies",
    "periods_per_year",
    "postprocess_models",
]

#: The column the deliberate leak adds (the next bar's simple return).
LEAK_COLUMN = "leak_next_return"


def check_evaluation(config: ExperimentConfig) -> None:
    """ConfigError naming the field when calibration / thresholds / evaluation cannot
    work with the labels, models or policy of the config (no data needed)."""
    names = [m.name for m in config.models]
    for name in config.evaluation.baselines or []:
        if name not in names:
            raise ConfigError("'evaluation.baselines': " + unknown_name("model", name, names))
    returns = config.labels.kind == "forward_return"
    method = config.calibration.method
    if returns and method != "none":
        raise ConfigError(
            f"'calibration.method' {method} calibrates class probabilities, but labels.kind "
            "forward_return predicts returns; use calibration.linear_correction instead"
        )
    objective = config.thresholds.objective
    if returns and objective == "f1":
        raise ConfigError(
            "'thresholds.objective' f1 needs class labels; use sharpe or avg_profit for "
            "labels.kind forward_return"
        )
    shorts = objective != "none" and config.thresholds.side == "both"
    if shorts and config.policy.params.get("long_only"):
        raise ConfigError(
            "'thresholds.side' both would go short, but policy.params.long_only is true; "
            "set thresholds.side: long"
        )
    if objective != "none":
        try:
            decision_policy(config.policy.kind, config.policy.params)
        except (ConfigError, BacktestError) as exc:
            raise ConfigError(
                f"'thresholds': policy {config.policy.kind} cannot take searched thresholds: {exc}"
            ) from None


def leak_warnings(config: ExperimentConfig) -> list[str]:
    """The loud statement every output of a run with the deliberate leak carries."""
    if not config.features.leak_next_return:
        return []
    return [
        f"DELIBERATE LEAK: features.leak_next_return adds the NEXT bar's return as the feature "
        f"'{LEAK_COLUMN}'. Every score of this run is contaminated by look-ahead; it exists "
        "only to prove that the leakage canary fails."
    ]


def add_leak(
    bars: dict[str, pd.DataFrame], features: dict[str, pd.DataFrame]
) -> dict[str, pd.DataFrame]:
    """Each asset's features plus `LEAK_COLUMN` = close[t+1] / close[t] - 1: the return
    the direction label of row t is made of. DELIBERATELY NOT CAUSAL (module doc)."""
    out = {}
    for name, frame in features.items():
        close = bars[name]["close"].reindex(frame.index)
        leak = (close.shift(-1) / close - 1.0).to_numpy(dtype=np.float64, copy=True)
        leak[-1] = 0.0  # the last bar has no next bar; a finite value keeps the row usable
        fresh = frame.copy()
        fresh[LEAK_COLUMN] = leak
        fresh.attrs = dict(frame.attrs)
        out[name] = fresh
    return out


def periods_per_year(config: ExperimentConfig, bars: dict[str, pd.DataFrame]) -> float:
    """Bars per year of the data's interval on the run's calendar (annualization)."""
    from edgelab.data.intervals import bars_per_year, infer_interval, parse_interval

    first = next(iter(bars.values()))
    text = first.attrs.get("interval")
    step = parse_interval(text) if text else infer_interval(first.index)
    if step is None:
        raise ConfigError("'data': cannot tell the bar interval; set data.interval")
    return float(bars_per_year(step, calendar_of(config, bars)))


def _rule_post(config: ExperimentConfig, dataset) -> PostProcess:
    asked = config.calibration.method != "none" or config.thresholds.objective != "none"
    note = "rule baseline: no calibration or threshold search; its policy as configured"
    return PostProcess(
        label_map=dict(dataset.label_map),
        label_sign=dict(dataset.label_sign),
        asset=dataset.assets[0],
        notes=[note] if asked else [],
    )


def postprocess_models(
    config: ExperimentConfig,
    models: dict[str, str],
    dataset,
    bars: dict[str, pd.DataFrame],
    raw: dict[str, dict[str, pd.DataFrame]],
) -> tuple[dict[str, PostProcess], dict[str, dict[str, pd.DataFrame]]]:
    """Fit calibration / correction / thresholds of every learned model (`models`:
    name -> type) on its validation predictions `raw[name]["val"]` and apply them to
    all its predictions. Returns ({name: PostProcess}, {name: {split: predictions}})."""
    val = dataset["val"]
    rows = val.rows
    assets = np.asarray(val.assets, dtype=object)[val.asset[rows]].astype(str)
    need_next = config.thresholds.objective == "sharpe"
    next_return = (
        next_bar_returns(bars, assets, val.index[rows]) if need_next else np.full(len(rows), np.nan)
    )
    costs = config.backtest.costs
    fixed = {
        "val_y": val.targets(),
        "label_map": dataset.label_map,
        "label_sign": dataset.label_sign,
        "asset": dataset.assets[0],
        "next_return": next_return,
        "horizon_return": val.forward_return[rows],
        "cost_bps": costs.fee_bps + costs.slippage_bps + costs.spread_bps,
        "periods_per_year": periods_per_year(config, bars),
    }
    post, preds = {}, {}
    for name, kind in models.items():
        if kind in RULE_MODELS:
            pre = _rule_post(config, dataset)
        else:
            pre = fit_postprocess(
                config.calibration, config.thresholds, val_pred=raw[name]["val"], **fixed
            )
        post[name] = pre
        preds[name] = {split: pre.apply(frame) for split, frame in raw[name].items()}
    return post, preds


def model_policies(config: ExperimentConfig, post: dict[str, PostProcess]) -> dict[str, Any]:
    """The policy each model's decisions go through: the configured one, or for a model
    with searched thresholds the policy that reads its frozen decisions."""
    pc = config.policy
    configured = check_policy(config)
    return {
        name: decision_policy(pc.kind, pc.params) if pre.thresholds is not None else configured
        for name, pre in post.items()
    }


def model_metrics(
    kind: str,
    window: int,
    splits: dict[str, tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]],
    result,
    post: PostProcess,
    *,
    target: str,
    label_map: dict[int, str],
    config: ExperimentConfig,
) -> dict[str, Any]:
    """One model's entry of metrics.json. `splits`: {"val"/"test": (raw predictions,
    post-processed predictions, targets, forward returns)} on labeled rows; `result`:
    the BacktestResult of its test span (or stitched out-of-sample history)."""
    ev = config.evaluation
    out: dict[str, Any] = {"type": kind, "window": window}
    for name, (_, pred, y, fr) in splits.items():
        out[name] = prediction_metrics(pred, y, fr, target=target, label_map=label_map)
    out["backtest"] = result.kpis
    method = config.calibration.method if post.calibrator is not None else "none"
    cal = calibration_report(
        method, config.calibration.bins, label_map, {s: v[:3] for s, v in splits.items()}
    )
    if cal is not None:
        out["calibration"] = cal
    if post.correction is not None:
        out["correction"] = post.correction.to_dict()
    if post.thresholds is not None:
        out["thresholds"] = post.thresholds.to_dict()
    if post.notes:
        out["notes"] = list(post.notes)
    _, test_pred, test_y, _ = splits["test"]
    out["intervals"] = intervals(
        test_pred, test_y, result.returns.to_numpy(), float(result.kpis["periods_per_year"]),
        label_map=label_map, n_boot=ev.n_boot, level=ev.level, block=ev.block, seed=config.seed,
    )  # fmt: skip
    return out


def baseline_names(config: ExperimentConfig) -> list[str]:
    """The models others are compared against (`evaluation.baselines`, by default every
    model of a baseline type)."""
    if config.evaluation.baselines is not None:
        return list(config.evaluation.baselines)
    return [m.name for m in config.models if m.type in BASELINE_TYPES]


def metrics_payload(
    config: ExperimentConfig,
    models: dict[str, dict[str, Any]],
    results: dict[str, Any],
    benchmark,
    *,
    target: str,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """metrics.json: `models` (from `model_metrics`) plus the paired tests against the
    best baseline, the leaderboard, buy & hold and `extra` (split, counts, ...)."""
    ev = config.evaluation
    returns = {name: r.returns.to_numpy() for name, r in results.items()}
    compared = baseline_comparisons(
        returns, baseline_names(config), n_boot=ev.n_boot, block=ev.block, seed=config.seed
    )
    for name, entry in compared.items():
        models[name]["vs_baseline"] = entry
    return json_safe(
        {
            "name": config.name,
            "seed": config.seed,
            "target": target,
            **extra,
            "warnings": leak_warnings(config),
            "leaderboard": leaderboard(models, target),
            "benchmark": {"buy_and_hold": benchmark.kpis},
            "models": models,
        }
    )
