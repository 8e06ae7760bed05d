"""Run folders, fingerprints, MLflow logging (against a fake module) and the HTML report."""

from __future__ import annotations

import base64
import sys
import types
from datetime import UTC, datetime

import pandas as pd
import pytest
import yaml
from pipe_helpers import make_bars

from edgelab.config import ExperimentConfig, load_config
from edgelab.evaluate.metrics import confusion_png
from edgelab.report.html import ModelSection, ReportData, render_report
from edgelab.track import mlflow_log
from edgelab.track.runs import create_run_dir, fingerprint, provenance, write_config

NOW = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


def test_run_dir_never_overwrites(tmp_path):
    first = create_run_dir(tmp_path, "my run/1", now=NOW)
    second = create_run_dir(tmp_path, "my run/1", now=NOW)
    assert first.name == "20250304T050607Z-my-run-1"
    assert second.name == "20250304T050607Z-my-run-1-2"
    assert first.is_dir() and second.is_dir()


def test_fingerprint_changes_with_any_value():
    bars = make_bars(50)
    base = fingerprint(bars)
    assert fingerprint(bars.copy()) == base
    changed = bars.copy()
    changed.iloc[10, 3] += 1e-12
    assert fingerprint(changed) != base
    shifted = bars.copy()
    shifted.index = shifted.index + pd.Timedelta(hours=1)
    assert fingerprint(shifted) != base


def test_config_yaml_carries_provenance_and_reruns(tmp_path):
    cfg = ExperimentConfig(name="p")
    prov = provenance(cfg, {"A": make_bars(30)})
    path = write_config(tmp_path, cfg, prov)
    data = yaml.safe_load(path.read_text())
    assert data["provenance"]["fingerprints"]["A"] == fingerprint(make_bars(30))
    assert data["provenance"]["packages"]["numpy"] and data["provenance"]["seed"] == 42
    assert "commit" in data["provenance"]["git"]
    assert load_config(path) == cfg  # the provenance block is ignored on load


def test_mlflow_flatten_and_metrics():
    flat = mlflow_log.flatten({"a": {"b": 1}, "models": [{"name": "x", "params": {"lags": 3}}]})
    assert flat == {"a.b": 1, "models.0.name": "x", "models.0.params.lags": 3}
    metrics = {
        "models": {
            "lgb": {
                "test": {"roc_auc": 0.6, "confusion": [[1]], "brier": None},
                "backtest": {"sharpe": float("nan"), "n_trades": 4},
            }
        },
        "benchmark": {"buy_and_hold": {"total_return": 0.1}},
    }
    assert mlflow_log.run_metrics(metrics) == {
        "lgb.test.roc_auc": 0.6,
        "lgb.backtest.n_trades": 4.0,
        "buy_and_hold.total_return": 0.1,
    }


def test_log_run_calls_mlflow_with_local_sqlite(tmp_path, monkeypatch):
    calls: dict = {}
    fake = types.ModuleType("mlflow")

    class _Run:
        info = types.SimpleNamespace(run_id="r1")

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    fake.set_tracking_uri = lambda uri: calls.__setitem__("uri", uri)
    fake.get_experiment_by_name = lambda name: None
    fake.create_experiment = lambda name, artifact_location: (
        calls.__setitem__("exp", (name, artifact_location)) or "7"
    )
    fake.start_run = lambda experiment_id, run_name: (
        calls.__setitem__("run", (experiment_id, run_name)) or _Run()
    )
    fake.log_params = lambda p: calls.__setitem__("params", p)
    fake.log_metrics = lambda m: calls.__setitem__("metrics", m)
    fake.set_tags = lambda t: calls.__setitem__("tags", t)
    fake.log_artifacts = lambda d: calls.__setitem__("artifacts", d)
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    run_dir = tmp_path / "runs" / "20250101T000000Z-x"
    run_dir.mkdir(parents=True)
    rid = mlflow_log.log_run(
        run_dir, ExperimentConfig(name="x"), {"models": {"m": {"test": {"accuracy": 0.5}}}}
    )
    assert rid == "r1"
    assert calls["uri"] == f"sqlite:///{(tmp_path / 'runs' / 'mlflow.db').resolve()}"
    assert calls["exp"][0] == "x" and calls["exp"][1].endswith("/runs/mlartifacts")
    assert calls["run"] == ("7", run_dir.name)
    assert calls["params"]["labels.horizon"] == "1" and calls["metrics"] == {"m.test.accuracy": 0.5}
    assert calls["artifacts"] == str(run_dir)


@pytest.mark.skipif(
    "mlflow" in sys.modules or __import__("importlib").util.find_spec("mlflow") is None,
    reason="MLflow is not installed (optional extra edgelab[mlflow])",
)
def test_log_run_real_mlflow(tmp_path):  # pragma: no cover - runs only where MLflow exists
    import mlflow

    run_dir = tmp_path / "runs" / "r"
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.json").write_text("{}")
    rid = mlflow_log.log_run(
        run_dir, ExperimentConfig(name="real"), {"models": {"m": {"test": {"accuracy": 0.5}}}}
    )
    assert mlflow.get_run(rid).data.metrics["m.test.accuracy"] == 0.5


def test_report_is_self_contained_and_escaped(tmp_path):
    png = confusion_png([[1, 2], [3, 4]], ["down", "up"], tmp_path / "cm.png")
    trades = pd.DataFrame({"asset": ["A"], "net_return": [-0.01]})
    report = ReportData(
        title="run <x>",
        run_dir=str(tmp_path),
        summary={"seed": 42},
        leaderboard=[{"model": "lgb", "auc": 0.61, "sharpe": 1.2, "total_return": 0.05}],
        data={
            "assets": {"A": {"bars": 10, "quality": {"findings": [{"check": "gaps", "count": 2}]}}}
        },
        split={"train": {"start": "a", "end": "b", "bars": 5}, "gap": 1, "lookahead": 1},
        config_yaml="name: <script>alert(1)</script>",
        models=[
            ModelSection(
                "lgb",
                "lightgbm",
                {"test": {"accuracy": 0.5}, "backtest": {"sharpe": 1.0}},
                [("cm", png)],
                trades,
            )
        ],
    )
    text = render_report(report)
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "http://" not in text and "https://" not in text  # nothing fetched from a CDN
    b64 = base64.b64encode(png.read_bytes()).decode()
    assert f"data:image/png;base64,{b64}" in text
    assert "5.00%" in text and "-1.00%" in text and "gaps" in text
