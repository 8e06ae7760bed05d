"""Model selection by purged k-fold with an embargo (`edgelab cv CONFIG`).

This module owns the cross-validated comparison of the configured models on the
**train + validation span only** of the experiment's split:

- The split is the one `edgelab run` makes (`make_split`); the bars are cut before the
  test span starts, so no test bar is ever loaded into features, labels, the scaler or a
  model, and a label whose outcome (`t_end`) reaches the test span is unknown (NaN) and
  dropped. The pool of candidate rows is every labeled row from the train start to the
  validation end (the gap between them included) with a full window of the largest model.
- The pool is cut into `folds` contiguous folds in time by `edgelab.evaluate.cv.purged_kfold`:
  a training row whose label interval `[time, t_end]` overlaps the held-out fold is
  purged, and the `embargo` timeline bars after the fold (default: the labels'
  look-ahead) are left out, because their features were computed from bars that are the
  held-out labels' outcomes.
- Per fold the scaler (`scaling.method`) is fitted on the fold's training rows only and
  every model is fitted afresh (same parameters as in the config, without early-stopping
  rows: the held-out fold is never shown to `fit`) and scored on the held-out rows by
  one metric (`auc`, `log_loss`, `accuracy`: class labels; `ic`: Spearman correlation of
  `expected_return` with the label's return). Scores are of raw model outputs:
  calibration and thresholds are fitted on validation in `edgelab run` and are not part
  of this comparison.
- The selected model has the best mean over folds (highest; lowest for `log_loss`);
  models without a score in every fold cannot be selected.

`run_cv` writes a run folder `<runs>/<UTC time>-<name>-cv/` with `cv.json` (settings,
folds, scores, selection), `cv.csv` (one row per model), `config.yaml` (with provenance)
and `summary.json`, the marker that makes the trial counter (`evaluate.trials`) pass
over the folder: a CV run never looks at the test span, so it is not a trial of the
deflated Sharpe ratio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console

from edgelab.config import ExperimentConfig
from edgelab.errors import ConfigError, ModelError, unknown_name

__all__ = [
    "METRICS",
    "CVResult",
    "check_metric",
    "cross_validate",
    "print_cv",
    "run_cv",
    "write_cv",
]

#: metric name -> (target it needs or None for both, higher is better)
METRICS: dict[str, tuple[str | None, bool]] = {
    "auc": ("class", True),
    "log_loss": ("class", False),
    "accuracy": ("class", True),
    "ic": (None, True),
}


@dataclass
class CVResult:
    """Per model and fold the held-out score, the fold layout and the selection."""

    metric: str
    higher_is_better: bool
    folds: list[dict[str, Any]]
    scores: dict[str, list[float | None]]  # model name -> one score per fold
    types: dict[str, str]
    settings: dict[str, Any]
    selected: str | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self, name: str) -> tuple[float | None, float | None]:
        """(mean, sample std) over folds; None when a fold has no score."""
        values = self.scores[name]
        if not values or any(v is None for v in values):
            return None, None
        arr = np.asarray(values, dtype=np.float64)
        return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0

    def table(self) -> pd.DataFrame:
        """One row per model: model, type, mean, std, selected, fold_0 .. fold_{k-1}."""
        rows = []
        for name, values in self.scores.items():
            mean, std = self.summary(name)
            row = {"model": name, "type": self.types[name], "metric": self.metric,
                   "mean": mean, "std": std, "selected": name == self.selected}  # fmt: skip
            row.update({f"fold_{k}": v for k, v in enumerate(values)})
            rows.append(row)
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        models = {}
        for name, values in self.scores.items():
            mean, std = self.summary(name)
            models[name] = {"type": self.types[name], "mean": mean, "std": std, "folds": values}
        return {
            "evaluation": "purged_kfold",
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "selected": self.selected,
            "settings": self.settings,
            "folds": self.folds,
            "models": models,
            "notes": list(self.notes),
        }


def check_metric(metric: str, target: str | None = None) -> tuple[str | None, bool]:
    """The metric's (needed target, higher is better); ConfigError with a did-you-mean."""
    if metric not in METRICS:
        raise ConfigError("'--metric': " + unknown_name("metric", metric, METRICS))
    need, higher = METRICS[metric]
    if target is not None and need is not None and need != target:
        raise ConfigError(
            f"'--metric' {metric} scores class probabilities but the labels are returns "
            f"(labels.kind forward_return); use --metric ic"
        )
    return need, higher


def _score(pred: pd.DataFrame, samples, metric: str) -> float | None:
    from edgelab.evaluate.scorecard import prediction_metrics

    y, fr = samples.targets(), samples.forward_return[samples.rows]
    m = prediction_metrics(pred, y, fr, target=samples.target, label_map=samples.label_map)
    key = {"auc": "roc_auc", "log_loss": "log_loss", "accuracy": "accuracy"}.get(metric)
    if key is None:
        key = "spearman_ic" if samples.target == "return" else "return_spearman_ic"
    value = m.get(key)
    return None if value is None or not math.isfinite(value) else float(value)


def _pool(plan, bars: dict[str, pd.DataFrame]):
    """(split, stacked rows, candidate rows sorted by time, what every Samples shares)."""
    from edgelab.dataset.build import code_map, stack_rows
    from edgelab.dataset.samples import valid_window_rows
    from edgelab.dataset.splits import make_split, timeline
    from edgelab.pipeline import (
        check_data,
        check_warmup,
        compute_all_features,
        compute_all_labels,
    )

    config = plan.config
    check_data(plan, bars)
    split = make_split(timeline([b.index for b in bars.values()]), config.split,
                       config.labels.lookahead)  # fmt: skip
    check_warmup(plan, bars, split.train, "load more data or move split.test later")
    cut = {}
    for name, frame in bars.items():  # the test span is never loaded past this line
        part = frame[frame.index < split.test.start]
        part.attrs = dict(frame.attrs)
        cut[name] = part
    cut, features = compute_all_features(plan, cut, lambda n=1: None)
    labels = compute_all_labels(plan, cut, lambda n=1: None)
    first = labels[next(iter(labels))]
    label_map, remap = code_map(first.label_map)
    st = stack_rows(cut, features, labels, remap)
    end = np.datetime64(split.test.start.tz_convert("UTC").tz_localize(None), "ns")
    inside = np.asarray((st.index >= split.train.start) & (st.index <= split.val.end))
    known = ~np.isnat(st.t_end)
    known[known] = st.t_end[known] < end
    rows = valid_window_rows(st.asset, inside & known & np.isfinite(st.y), plan.window)
    rows = rows[np.argsort(st.index.asi8[rows], kind="stable")]  # time order, assets stacked
    base = {
        "names": list(features[next(iter(features))].columns),
        "assets": list(cut),
        "label_map": label_map,
        "label_sign": {remap[k]: v for k, v in first.label_sign.items() if k in remap},
        "target": "class" if label_map else "return",
        "horizon": first.horizon,
    }
    return split, st, rows, base


def _fold_samples(st, X, rows, base: dict[str, Any], window: int, name: str):
    from edgelab.dataset.samples import Samples

    rows = np.sort(rows)
    y = np.full(len(st.y), np.nan)
    y[rows] = st.y[rows]  # only this fold's targets are visible
    meta = {"close": st.close, "label_sign": base["label_sign"], "split": name,
            "horizon": base["horizon"]}  # fmt: skip
    return Samples(
        X=X, y=y, index=st.index, asset=st.asset, rows=rows, feature_names=base["names"],
        assets=base["assets"], label_map=base["label_map"], target=base["target"],
        window=window, forward_return=st.forward_return, t_end=st.t_end, meta=meta,
    )  # fmt: skip


def _run_fold(plan, st, fold, rows, base, metric: str) -> dict[str, float | None]:
    from edgelab.dataset.scaling import Scaler
    from edgelab.models.base import create_model

    train, test = rows[fold.train], rows[fold.test]
    scaler = Scaler(plan.config.scaling.method).fit(st.X[train], base["names"])
    X = scaler.transform(st.X)
    out = {}
    for pm in plan.models:
        fit_on = _fold_samples(st, X, train, base, pm.window, "train")
        held = _fold_samples(st, X, test, base, pm.window, "test")
        model = create_model(pm.config.type, **pm.model.get_params())
        try:
            model.fit(fit_on)  # no val: early stopping on the held-out fold would leak
        except ModelError as exc:
            raise ModelError(f"cv fold {fold.number}, model '{pm.name}': {exc}") from None
        out[pm.name] = _score(model.predict(held), held, metric)
    return out


def _fold_info(fold, rows, st) -> dict[str, Any]:
    times = st.index[rows[fold.test]]
    n_out = len(rows) - fold.train.size - fold.test.size
    return {
        "fold": fold.number,
        "test_start": times.min().isoformat(),
        "test_end": times.max().isoformat(),
        "train_rows": int(fold.train.size),
        "test_rows": int(fold.test.size),
        "purged_or_embargoed": int(n_out),
    }


def cross_validate(
    config: ExperimentConfig,
    *,
    folds: int = 5,
    embargo: int | None = None,
    metric: str = "auc",
    bars: dict[str, pd.DataFrame] | None = None,
) -> CVResult:
    """Purged k-fold scores of every configured model on the train + validation span
    (module doc). `bars`: the loaded data (default: `load_data(config)`). Writes nothing."""
    from edgelab.evaluate.cv import purged_kfold
    from edgelab.pipeline import check_config
    from edgelab.pipeline_stages import load_data

    target = "return" if config.labels.kind == "forward_return" else "class"
    _, higher = check_metric(metric, target)
    look = config.labels.lookahead
    embargo = look if embargo is None else embargo
    if embargo < 0:
        raise ConfigError(f"'--embargo' must be >= 0, got {embargo}")
    plan = check_config(config, mlflow=False)
    bars = load_data(config) if bars is None else bars
    split, st, rows, base = _pool(plan, bars)
    plan_folds = list(purged_kfold(st.index[rows], st.t_end[rows], folds, embargo=embargo))
    scores: dict[str, list[float | None]] = {pm.name: [] for pm in plan.models}
    for fold in plan_folds:
        for name, value in _run_fold(plan, st, fold, rows, base, metric).items():
            scores[name].append(value)
    notes = []
    if embargo < look:
        notes.append(f"embargo {embargo} is shorter than the labels' look-ahead ({look} bars)")
    settings = {
        "folds": folds, "embargo": embargo, "lookahead": look, "scaling": config.scaling.method,
        "span": {"start": split.train.start.isoformat(), "end": split.val.end.isoformat()},
        "test_span_excluded": split.test.to_dict(), "rows": int(len(rows)),
    }  # fmt: skip
    result = CVResult(metric, higher, [_fold_info(f, rows, st) for f in plan_folds], scores,
                      {pm.name: pm.config.type for pm in plan.models}, settings, notes=notes)  # fmt: skip
    result.selected = _select(result)
    if result.selected is None:
        result.notes.append(f"no model has a {metric} score in every fold; nothing selected")
    return result


def _select(result: CVResult) -> str | None:
    best, best_value = None, None
    for name in result.scores:  # config order breaks ties
        mean, _ = result.summary(name)
        if mean is None:
            continue
        better = best_value is None or (
            mean > best_value if result.higher_is_better else mean < best_value
        )
        if better:
            best, best_value = name, mean
    return best


def write_cv(config: ExperimentConfig, bars, result: CVResult, runs_dir: str | Path) -> Path:
    """Write the CV folder (module doc) and return it. Writes are atomic."""
    from edgelab.evaluate.scorecard import json_safe
    from edgelab.evaluate.trials import SUMMARY_FILE
    from edgelab.track.runs import (
        create_run_dir,
        provenance,
        write_config,
        write_json_atomic,
        write_text_atomic,
    )

    folder = create_run_dir(runs_dir, f"{config.name}-cv")
    write_config(folder, config, provenance(config, bars))
    write_json_atomic(folder / "cv.json", json_safe(result.to_dict()))
    write_text_atomic(folder / "cv.csv", result.table().to_csv(index=False))
    marker = {
        "kind": "cv",
        "about": "model selection by purged k-fold on the train + validation span; the "
        "test span was never used, so this folder is not a trial",
        "selected": result.selected,
        "metric": result.metric,
    }
    write_json_atomic(folder / SUMMARY_FILE, marker)
    return folder


def run_cv(
    config: ExperimentConfig,
    *,
    folds: int = 5,
    embargo: int | None = None,
    metric: str = "auc",
    runs_dir: str | Path | None = None,
) -> tuple[Path, CVResult]:
    """`cross_validate` and `write_cv` into `runs_dir` (default `tracking.runs_dir`)."""
    from edgelab.pipeline_stages import load_data

    check_metric(metric)  # before any data is loaded
    bars = load_data(config)
    result = cross_validate(config, folds=folds, embargo=embargo, metric=metric, bars=bars)
    folder = write_cv(config, bars, result, runs_dir or config.tracking.runs_dir)
    return folder, result


def print_cv(console: Console, result: CVResult, folder: Path | None = None) -> None:
    """The comparison as a rich table: mean ± std and per-fold scores, best marked."""
    from rich.table import Table

    s = result.settings
    arrow = "higher" if result.higher_is_better else "lower"
    title = (f"Purged {s['folds']}-fold CV on train+val ({result.metric}, {arrow} is better, "
             f"embargo {s['embargo']})")  # fmt: skip
    table = Table(title=title)
    for col in ["model", "type", "mean ± std"] + [f"fold {f['fold']}" for f in result.folds]:
        table.add_column(col, justify="left" if col in ("model", "type") else "right")
    fmt = lambda v: "–" if v is None else f"{v:.4f}"  # noqa: E731
    for name, values in result.scores.items():
        mean, std = result.summary(name)
        cell = "–" if mean is None else f"{mean:.4f} ± {std:.4f}"
        label = f"[bold]{name} *[/bold]" if name == result.selected else name
        table.add_row(label, result.types[name], cell, *[fmt(v) for v in values])
    console.print(table)
    console.print(f"selected: {result.selected or 'none'}" + (f"  ({folder})" if folder else ""))
    for note in result.notes:
        console.print(f"[yellow]note: {note}[/yellow]")
