"""Walk-forward: fold planning on a hand-made timeline, and end-to-end runs whose
stitched out-of-sample history is causal, complete and deterministic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from edgelab.config import WalkForwardConfig, load_config, parse_config
from edgelab.data.sources.synthetic import synthetic_market
from edgelab.errors import ConfigError
from edgelab.evaluate.walkforward import plan_folds, run_walkforward
from edgelab.models.base import MODEL_REGISTRY, register_model
from edgelab.models.baselines import Logistic

TIMES = pd.date_range("2024-01-01", periods=100, freq="h", tz="UTC", name="timestamp")


def _bounds(span):
    return TIMES.get_loc(span.start), TIMES.get_loc(span.end), span.bars


def test_expanding_folds_hand_computed():
    wf = WalkForwardConfig(train_size=40, step=20, val_size=10, embargo=2)
    folds, settings = plan_folds(TIMES, wf, lookahead=1)
    assert [f.number for f in folds] == [0, 1, 2] and settings["embargo"] == 2
    s0 = folds[0].split
    # train [0, 28), embargo 2, val [30, 40), embargo 2, test [42, 62)
    assert (_bounds(s0.train), _bounds(s0.val), _bounds(s0.test)) == (
        (0, 27, 28), (30, 39, 10), (42, 61, 20),
    )  # fmt: skip
    s2 = folds[2].split
    assert _bounds(s2.train) == (0, 67, 68) and _bounds(s2.test) == (82, 99, 18)
    tests = np.concatenate([np.arange(*_bounds(f.split.test)[:2]) for f in folds])
    assert len(set(tests)) == len(tests)  # no bar tested twice


def test_rolling_folds_and_a_short_last_window_is_merged():
    wf = WalkForwardConfig(window="rolling", train_size=40, step=20, val_size=10, embargo=2)
    folds, _ = plan_folds(TIMES, wf, lookahead=1)
    assert _bounds(folds[2].split.train) == (40, 67, 28)  # the last 40 bars before the embargo
    folds, settings = plan_folds(TIMES[:86], wf, lookahead=1)  # last window: 4 bars
    assert len(folds) == 2 and _bounds(folds[1].split.test) == (62, 85, 24)
    assert "added to fold 1" in settings["notes"][0]


def test_embargo_shorter_than_the_labels_is_refused():
    with pytest.raises(ConfigError, match=r"'walkforward.embargo' 1 is shorter than the labels"):
        plan_folds(TIMES, WalkForwardConfig(train_size=40, step=20, embargo=1), lookahead=3)
    with pytest.raises(ConfigError, match="walk-forward needs more than"):
        plan_folds(TIMES, WalkForwardConfig(train_size=99, step=20), lookahead=1)


BASE = {
    "name": "wf",
    "seed": 5,
    "features": {"set": "core13"},
    "labels": {"kind": "direction", "horizon": 1},
    "models": [
        {"name": "bh", "type": "buy_hold"},
        {"name": "lr", "type": "logistic", "params": {"lags": 2}},
        {"name": "gbm", "type": "lightgbm", "params": {"lags": 2, "n_estimators": 15,
                                                       "min_child_samples": 20}},
    ],
    "calibration": {"method": "platt"},
    "thresholds": {"objective": "sharpe", "min_trades": 5},
    "backtest": {"costs": {"fee_bps": 1.0, "slippage_bps": 0.5, "spread_bps": 1.0}},
    "walkforward": {"train_size": 300, "step": 150, "val_size": 60},
    "evaluation": {"n_boot": 200},
    "report": {"plots": False},
}  # fmt: skip


def _cfg(source: str, **changes):
    data = json.loads(json.dumps(BASE))
    data["data"] = {"source": source}
    data.update(changes)
    return parse_config(data)


def _bars_file(tmp_path: Path, name: str, change_from: int | None = None) -> str:
    bars = synthetic_market(n_bars=900, seed=12, signal="ar", strength=0.3)["SYN0"]
    if change_from is not None:  # a different future: every bar from `change_from` on
        other = synthetic_market(n_bars=900, seed=77)["SYN0"]
        prices = [c for c in bars.columns if c not in ("volume", "spread")]
        scale = bars["close"].iloc[change_from - 1] / other["open"].iloc[change_from]
        cols = [bars.columns.get_loc(c) for c in prices]
        bars.iloc[change_from:, cols] = other[prices].iloc[change_from:].to_numpy() * scale
        bars["spread"] = bars["ask_close"] - bars["bid_close"]
    path = tmp_path / f"{name}.parquet"
    bars.to_parquet(path)
    return str(path)


def test_walkforward_run_is_stitched_causal_and_deterministic(tmp_path):
    source = _bars_file(tmp_path, "a")
    first = run_walkforward(_cfg(source), runs_dir=tmp_path / "runs", quiet=True)
    second = run_walkforward(_cfg(source), runs_dir=tmp_path / "runs", quiet=True)
    assert (first / "metrics.json").read_bytes() == (second / "metrics.json").read_bytes()
    for name in ("config.yaml", "data.json", "metrics.json", "edge.json", "predictions.parquet",
                 "report.html", "plots/stitched_equity.png", "models/lr/model.json"):  # fmt: skip
        assert (first / name).is_file(), name

    metrics = json.loads((first / "metrics.json").read_text())
    wf = metrics["walkforward"]
    assert metrics["evaluation"] == "walkforward" and wf["n_folds"] == 4
    oos = wf["out_of_sample"]
    table = pd.read_parquet(first / "predictions.parquet")
    test = table[(table.split == "test") & (table.model == "lr")]
    assert not test.duplicated(["asset", "timestamp"]).any()  # every bar once
    assert test.timestamp.is_monotonic_increasing and test.fold.is_monotonic_increasing
    assert test.timestamp.iloc[0] == pd.Timestamp(oos["start"])
    assert len(test) == oos["bars"] == metrics["models"]["lr"]["backtest"]["n_bars"]
    assert test.position.notna().all()
    # the policy read frozen per-fold decisions, the backtest is one history
    assert set(np.unique(test.decision)) <= {-1.0, 0.0, 1.0}
    assert metrics["models"]["lr"]["test"]["n"] == int(test.label.notna().sum())
    edge = json.loads((first / "edge.json").read_text())
    assert edge["n_trials"] == 3 and edge["earlier_runs"] == []
    assert "stitched out-of-sample equity" in (first / "report.html").read_text()
    assert json.loads((first / "models" / "lr" / "model.json").read_text())["walkforward_fold"] == 3
    _bundle_is_the_last_folds_model(source, first, test)

    # causality: a different future leaves every earlier fold's predictions unchanged
    changed = _bars_file(tmp_path, "b", change_from=750)
    third = run_walkforward(_cfg(changed), runs_dir=tmp_path / "other", quiet=True)
    other = pd.read_parquet(third / "predictions.parquet")
    mine = other[(other.split == "test") & (other.model == "lr")]
    early = test.timestamp < pd.Timestamp("2020-01-01", tz="UTC") + pd.Timedelta(hours=750)
    cols = ["timestamp", "fold", "p_down", "p_up", "raw_p_up", "decision", "position"]
    before = test.loc[early & (test.fold < 3), cols].reset_index(drop=True)
    pd.testing.assert_frame_equal(  # (labels of the last bars differ: they read the future)
        before, mine.loc[mine.timestamp.isin(before.timestamp), cols].reset_index(drop=True)
    )
    assert len(before) > 300
    assert not np.allclose(test.p_up.iloc[-100:], mine.p_up.iloc[-100:])


def _bundle_is_the_last_folds_model(source: str, run: Path, test: pd.DataFrame) -> None:
    """Rebuild the last fold's dataset by hand: the saved bundle must predict its test
    bars exactly as the stitched history has them."""
    from edgelab.dataset.build import build_dataset
    from edgelab.dataset.splits import timeline
    from edgelab.features.sets import compute_features
    from edgelab.labels import make_labels
    from edgelab.pipeline import check_config
    from edgelab.pipeline_stages import load_data
    from edgelab.track.bundle import load_bundle

    cfg = _cfg(source)
    plan = check_config(cfg)
    bars = load_data(cfg)
    folds, _ = plan_folds(timeline([b.index for b in bars.values()]), cfg.walkforward, 1)
    features = {a: compute_features(b, "core13") for a, b in bars.items()}
    labels = {a: make_labels(b, "direction", horizon=1) for a, b in bars.items()}
    ds = build_dataset(bars, features, labels, folds[-1].split, window=plan.window,
                       context=plan.context)  # fmt: skip
    pred = load_bundle(run / "models" / "lr").predict(ds["trade"])
    last = test[test.fold == folds[-1].number]
    np.testing.assert_allclose(pred["p_up"].to_numpy(), last.p_up.to_numpy())


def test_finetune_continues_models_that_can(tmp_path):
    calls = []

    @register_model("ft_logistic_test")
    class FineTuned(Logistic):
        def fine_tune(self, train, val=None):
            calls.append(len(train))
            return self.fit(train, val)

    try:
        cfg = _cfg(
            _bars_file(tmp_path, "a"),
            models=[
                {"name": "ft", "type": "ft_logistic_test", "params": {"lags": 2}},
                {"name": "lr", "type": "logistic", "params": {"lags": 2}},
            ],  # fmt: skip
            walkforward={"train_size": 300, "step": 200, "val_size": 60, "mode": "finetune"},
        )
        run = run_walkforward(cfg, runs_dir=tmp_path, quiet=True)
    finally:
        MODEL_REGISTRY.pop("ft_logistic_test", None)
    metrics = json.loads((run / "metrics.json").read_text())
    n_folds = metrics["walkforward"]["n_folds"]
    assert len(calls) == n_folds - 1  # fold 0 fits, every later fold continues
    assert calls == sorted(calls)  # expanding windows: more rows each time
    notes = metrics["walkforward"]["notes"]
    assert notes == ["lr: the model has no fine_tune(); retrained from scratch"]


@pytest.mark.slow
def test_walkforward_daily_recipe_on_the_bundled_sp500(tmp_path):
    path = Path(__file__).parents[2] / "configs" / "walkforward_daily.yaml"
    cfg = load_config(path, ["walkforward.step=500"])  # half the folds of the recipe: CI time
    run = run_walkforward(cfg, runs_dir=tmp_path, quiet=True)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["walkforward"]["n_folds"] == 7
    assert metrics["walkforward"]["out_of_sample"]["start"].startswith("2004-12-22")
    assert (run / "plots" / "stitched_equity.png").stat().st_size > 10_000


def test_cli_names_the_bad_field_and_writes_nothing(tmp_path, capsys):
    import yaml

    from edgelab.cli import main

    path = tmp_path / "wf.yaml"
    path.write_text(yaml.safe_dump({**BASE, "data": {"source": "synthetic:n=900,seed=1"}}))
    with pytest.raises(SystemExit) as exc:
        main(["walkforward", str(path), "--embargo", "0", "--runs-dir", str(tmp_path / "r")])
    assert exc.value.code == 2
    assert (
        "'walkforward.embargo' 0 is shorter than the labels' look-ahead" in capsys.readouterr().err
    )
    assert not (tmp_path / "r").exists()
