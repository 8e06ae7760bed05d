"""Log a finished run folder to MLflow: params, metrics and the folder as artifacts.

Imported only when `tracking.mlflow: true` or `edgelab run --mlflow` (MLflow is an
optional extra: `pip install 'edgelab[mlflow]'`). The default store is local: a SQLite
database `<runs_dir>/mlflow.db` with artifacts under `<runs_dir>/mlartifacts`, so nothing
leaves the machine; `tracking.mlflow_uri` points elsewhere. The run folder stays the
source of truth; MLflow is an index over run folders.

Logged: every config value as a flattened param (`models.0.params.lags`), every finite
number of metrics.json as a metric (`lightgbm.test.roc_auc`, `lightgbm.backtest.sharpe`),
tags for the run folder and git revision, and the whole folder as artifacts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from edgelab.config import ExperimentConfig

MAX_PARAM = 500  # MLflow rejects longer param values; long lists are cut, not dropped


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts/lists -> {"a.b.0.c": value} (leaves only)."""
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        items = data.items()
    elif isinstance(data, list) and data and all(isinstance(v, dict) for v in data):
        items = enumerate(data)
    else:
        return {prefix: data}
    for key, value in items:
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _metric_name(name: str) -> str:
    # MLflow allows alphanumerics, underscores, dashes, periods, spaces and slashes.
    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", name)


def run_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The numeric leaves of metrics.json worth tracking: per model val/test/backtest
    scores and the buy & hold benchmark."""
    out: dict[str, float] = {}
    for model, m in (metrics.get("models") or {}).items():
        for section in ("val", "test", "backtest"):
            for key, value in (m.get(section) or {}).items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    out[_metric_name(f"{model}.{section}.{key}")] = float(value)
    for key, value in ((metrics.get("benchmark") or {}).get("buy_and_hold") or {}).items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[_metric_name(f"buy_and_hold.{key}")] = float(value)
    return {k: v for k, v in out.items() if v == v and abs(v) != float("inf")}


def default_uri(run_dir: Path) -> str:
    return f"sqlite:///{(run_dir.parent / 'mlflow.db').resolve()}"


def log_run(run_dir: str | Path, config: ExperimentConfig, metrics: dict[str, Any]) -> str:
    """Log the run folder to MLflow; returns the MLflow run id."""
    import mlflow

    run_dir = Path(run_dir)
    mlflow.set_tracking_uri(config.tracking.mlflow_uri or default_uri(run_dir))
    experiment = mlflow.get_experiment_by_name(config.name)
    if experiment is None:
        location = (run_dir.parent / "mlartifacts").resolve().as_uri()
        experiment_id = mlflow.create_experiment(config.name, artifact_location=location)
    else:
        experiment_id = experiment.experiment_id
    params = {k: str(v)[:MAX_PARAM] for k, v in flatten(config.model_dump(mode="json")).items()}
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_dir.name) as run:
        mlflow.log_params(params)
        mlflow.log_metrics(run_metrics(metrics))
        mlflow.set_tags(
            {"edgelab.run_dir": str(run_dir.resolve()), "edgelab.seed": str(config.seed)}
        )
        mlflow.log_artifacts(str(run_dir))
        return run.info.run_id
